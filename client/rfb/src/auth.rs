//! VNC authentication.
