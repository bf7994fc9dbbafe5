//! `oxvnc serve` (placeholder; being written).
