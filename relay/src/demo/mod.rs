//! The built-in demo VNC server (placeholder; being written).
