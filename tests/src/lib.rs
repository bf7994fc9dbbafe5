//! Shared helpers for the cross-crate tests: starting and always stopping real servers, reading
//! recordings, comparing pixels.
