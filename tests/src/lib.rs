//! Shared helpers for the cross-crate tests: starting and always stopping real servers, reading
//! recordings, comparing pixels.

pub mod browser;
pub mod compat;
pub mod oxvnc_bin;
pub mod pixels;
pub mod pki;
pub mod qemu;
pub mod security_servers;
pub mod servers;
pub mod x11;
pub mod xwd;
