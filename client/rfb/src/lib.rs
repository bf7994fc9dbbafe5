//! `oxvnc-rfb`: a sans-IO RFB (VNC, RFC 6143) client engine.
//!
//! Bytes in ([`Connection::receive`]), bytes out ([`Connection::take_output`]) and events out
//! ([`Connection::poll_event`]); the RGBA [`Framebuffer`] is owned by the connection and read by
//! whoever displays it. No sockets, no async, no browser APIs: the same code runs in the browser,
//! in the native CLI, in tests and under a fuzzer.

mod auth;
pub mod connection;
pub mod decode;
pub mod encoding;
pub mod error;
mod extclip;
pub mod extension;
pub mod framebuffer;
pub mod keysym;
// The browser build's `memcmp` (see the module: a JPEG hot spot); natively only its tests.
#[cfg(any(test, all(target_arch = "wasm32", target_os = "unknown")))]
mod memcmp;
pub mod pixel;
pub mod replay;
pub mod scancode;
pub mod tight_security;
pub mod tls;
pub mod vencrypt;

pub use connection::{Config, Connection, Credentials, Event, PixelFormatChoice, State};
pub use encoding::Encoding;
pub use error::Error;
pub use extension::{Screen, XvpAction};
pub use framebuffer::{Framebuffer, MAX_DIMENSION, Rect};
pub use pixel::{PixelFormat, PixelTranslator};
pub use tls::{TlsConfig, format_fingerprint, parse_fingerprint};
