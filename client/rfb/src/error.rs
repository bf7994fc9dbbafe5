//! Everything that ends a connection, as a typed error that says what happened.

use crate::framebuffer::Rect;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("the peer is not a VNC server (greeting {0:?}); check the host and port")]
    NotRfb(String),
    #[error("the server speaks RFB {0}.{1}, which this client does not support")]
    UnsupportedVersion(u32, u32),
    #[error("the server refused the connection: {0}")]
    ConnectionRefused(String),
    #[error("the server offers no security type this client supports (offered: {0:?})")]
    NoSupportedSecurity(Vec<u8>),
    #[error("the server chose security type {0}, which this client does not support")]
    UnsupportedSecurity(u32),
    #[error("authentication failed: the password was rejected{}", .0.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    AuthenticationFailed(Option<String>),
    #[error("authentication failed: too many attempts; wait before trying again")]
    TooManyAttempts,
    #[error("the server sent an unsupported pixel format: {0}")]
    UnsupportedPixelFormat(String),
    #[error("the server's desktop size {width}x{height} exceeds the 16384x16384 limit")]
    DesktopTooLarge { width: u16, height: u16 },
    /// What could not be made room for, e.g. "the server's 16384x16384 desktop".
    #[error("there is not enough memory for {0}")]
    OutOfMemory(String),
    #[error("the server sent a rectangle {rect:?} outside the {width}x{height} framebuffer")]
    RectOutOfBounds { rect: Rect, width: u16, height: u16 },
    #[error("the server sent unknown message type {0}")]
    UnknownMessage(u8),
    #[error("the server sent a rectangle in encoding {0}, which was not requested")]
    UnexpectedEncoding(i32),
    #[error("the server sent a {what} of {len} bytes, more than the {limit}-byte limit")]
    TooLong { what: &'static str, len: u64, limit: u64 },
    #[error("corrupt compressed data from the server: {0}")]
    Zlib(String),
    #[error("invalid {encoding} data from the server: {detail}")]
    InvalidData { encoding: &'static str, detail: String },
    #[error("the connection is closed")]
    Closed,
    #[error("the TLS settings are unusable: {0}")]
    TlsConfig(String),
    #[error("TLS with the server failed: {0}")]
    Tls(String),
    #[error(
        "the server's certificate is unknown: it is not signed by the given CA (SHA-256 fingerprint {fingerprint})"
    )]
    CertificateUnknown { fingerprint: String },
    #[error(
        "the server's certificate is not valid for the name {name:?} (SHA-256 fingerprint {fingerprint}); connect by the name the certificate was issued for"
    )]
    CertificateNameMismatch { name: String, fingerprint: String },
    #[error(
        "the server's certificate has expired or is not valid yet (SHA-256 fingerprint {fingerprint}); check the server's certificate and this computer's clock"
    )]
    CertificateExpired { fingerprint: String },
    #[error("the server's certificate is not the pinned one (expected SHA-256 {expected}, got {fingerprint})")]
    CertificatePinMismatch { expected: String, fingerprint: String },
    #[error("the server's certificate was not trusted (SHA-256 fingerprint {fingerprint})")]
    CertificateRejected { fingerprint: String },
    #[error(
        "the server only offers anonymous TLS (VeNCrypt TLSNone/TLSVnc/TLSPlain with anonymous Diffie-Hellman), which this client's TLS (rustls) does not implement; give the server a certificate and enable X509None/X509Vnc/X509Plain"
    )]
    AnonymousTlsUnsupported,
    #[error("the server speaks VeNCrypt {0}.{1}; this client needs 0.2")]
    UnsupportedVeNCryptVersion(u8, u8),
    #[error(
        "the server offers no VeNCrypt sub-type this client supports (offered: {offered:?}; supported: Plain 256, TLSNone/TLSVnc/TLSPlain 257-259, X509None/X509Vnc/X509Plain 260-262)"
    )]
    NoCommonSubType { offered: Vec<u32> },
    #[error("the server requires a Tight security tunnel ({0:?}); only NOTUNNEL is supported")]
    TightTunnelUnsupported(Vec<String>),
    #[error(
        "the server offers no Tight security authentication this client supports (offered: {0:?}; supported: None, VncAuth)"
    )]
    NoSupportedTightAuth(Vec<String>),
}

impl Error {
    /// Shorthand for [`Error::InvalidData`].
    pub fn invalid(encoding: &'static str, detail: impl Into<String>) -> Error {
        Error::InvalidData { encoding, detail: detail.into() }
    }
}
