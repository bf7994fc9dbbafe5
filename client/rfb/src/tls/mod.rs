//! TLS for VeNCrypt, sans-IO: ciphertext from the server goes in with [`TlsSession::receive`],
//! which hands back the plaintext; plaintext to the server goes in with [`TlsSession::write`] and
//! leaves as TLS records through [`TlsSession::write_tls_into`].
//!
//! The session is a trait so that the engine does not have to carry a TLS stack: with the
//! `rustls` feature it starts its own ([`RustlsSession`]); without it, or with
//! [`crate::Config::external_tls`], it raises [`crate::Event::TlsRequired`] and the caller hands
//! one over with [`crate::Connection::start_tls`]. The browser console does that with a second
//! WebAssembly module that it loads only when a server asks for TLS.

use crate::error::Error;

#[cfg(feature = "rustls")]
mod rustls_session;
#[cfg(feature = "rustls")]
pub use rustls_session::{RustlsSession, certificate_sha256};

/// `Send` where threads exist, so a [`crate::Connection`] can move between threads natively;
/// nothing in the browser, where a session may hold JavaScript objects.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub trait MaybeSend: Send {}
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
impl<T: Send> MaybeSend for T {}
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub trait MaybeSend {}
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
impl<T> MaybeSend for T {}

/// One TLS client session to the VNC server, driven over in-memory buffers.
pub trait TlsSession: MaybeSend {
    /// Feeds TLS records from the server; appends the plaintext they carry to `plain`. Errors
    /// say what went wrong ([`Error::CertificateUnknown`], [`Error::CertificatePinMismatch`], …).
    fn receive(&mut self, data: &[u8], plain: &mut Vec<u8>) -> Result<(), Error>;
    /// Queues plaintext for the server (sent as records once the handshake is done).
    fn write(&mut self, plain: &[u8]);
    /// Appends the TLS records to send to `out`.
    fn write_tls_into(&mut self, out: &mut Vec<u8>);
    /// Whether records are waiting to be sent.
    fn wants_write(&self) -> bool;
    fn is_handshaking(&self) -> bool;
    /// The SHA-256 of the certificate the server presented, once it has.
    fn fingerprint(&self) -> Option<[u8; 32]>;
    /// Whether the certificate was checked (by the CA or the pinned fingerprint) rather than
    /// accepted for the caller to decide on.
    fn verified(&self) -> bool;
}

/// How the server's TLS certificate is checked (VeNCrypt X509* and TLS* sub-types).
///
/// With neither `ca_pem` nor `pinned_sha256` the certificate is trusted on first use: the
/// connection raises [`crate::Event::CertificateUnknown`] with its fingerprint and waits for
/// [`crate::Connection::trust_certificate`] or [`crate::Connection::reject_certificate`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM with one or more CA certificates; the server's certificate must chain to one of them.
    pub ca_pem: Option<Vec<u8>>,
    /// The DNS name or IP address the certificate must be issued for (usually the host the
    /// caller connected to). `None`: the name is not checked (the CA or pin still must match).
    pub server_name: Option<String>,
    /// SHA-256 of the server certificate (DER) to accept, and no other: a certificate the user
    /// trusted before. A match is enough on its own, without a CA (self-signed certificates).
    pub pinned_sha256: Option<[u8; 32]>,
    /// Choose VeNCrypt over VNC authentication and None when the server offers both (implied by
    /// `ca_pem` or `pinned_sha256`). Off by default because servers' default VeNCrypt sub-types
    /// are often anonymous TLS, which rustls cannot speak, while their VNC authentication works.
    pub prefer_tls: bool,
}

impl TlsConfig {
    /// Whether VeNCrypt is preferred over the clear security types.
    pub fn prefers_tls(&self) -> bool {
        self.prefer_tls || self.ca_pem.is_some() || self.pinned_sha256.is_some()
    }
}

/// A SHA-256 fingerprint as colon-separated upper-case hex ("AB:CD:…"), as `openssl x509
/// -fingerprint -sha256` prints it.
pub fn format_fingerprint(fp: &[u8; 32]) -> String {
    fp.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Parses a SHA-256 fingerprint: 64 hex digits, optionally separated by ':' or spaces, either
/// case, optionally prefixed by "sha256:" / "SHA256=" (as tools print them).
pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    let t = t
        .strip_prefix("sha256")
        .or_else(|| t.strip_prefix("SHA256"))
        .map(|r| r.trim_start_matches([':', '=', ' ']))
        .unwrap_or(t);
    let digits: Vec<u8> = t.bytes().filter(|b| !matches!(b, b':' | b' ')).collect();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// How a connection's certificate was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trust {
    /// By the CA or the pinned fingerprint.
    Verified,
    /// Nothing to check it against: the caller must decide (fingerprint attached).
    Ask([u8; 32]),
}

/// How a session's certificate was accepted (once the handshake is done).
pub(crate) fn trust(session: &dyn TlsSession) -> Trust {
    if session.verified() { Trust::Verified } else { Trust::Ask(session.fingerprint().unwrap_or([0; 32])) }
}

/// Largest plaintext kept while the caller decides whether to trust the certificate.
pub(crate) const MAX_HELD: usize = 1 << 20;

/// A TLS error as strings, to cross from a TLS session in another WebAssembly module (or
/// process) to the engine: `[kind, fields…]`; [`tls_error_from_parts`] rebuilds it.
pub fn tls_error_parts(e: &Error) -> Vec<String> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
    match e {
        Error::TlsConfig(m) => s(&["config", m]),
        Error::Tls(m) => s(&["tls", m]),
        Error::CertificateUnknown { fingerprint } => s(&["unknown", fingerprint]),
        Error::CertificateNameMismatch { name, fingerprint } => s(&["name", name, fingerprint]),
        Error::CertificateExpired { fingerprint } => s(&["expired", fingerprint]),
        Error::CertificatePinMismatch { expected, fingerprint } => s(&["pin", expected, fingerprint]),
        Error::AnonymousTlsUnsupported => s(&["anonymous"]),
        other => s(&["tls", &other.to_string()]),
    }
}

/// The error [`tls_error_parts`] took apart; anything unrecognised is an [`Error::Tls`].
pub fn tls_error_from_parts(parts: &[String]) -> Error {
    let f = |i: usize| parts.get(i).cloned().unwrap_or_default();
    match parts.first().map(String::as_str) {
        Some("config") => Error::TlsConfig(f(1)),
        Some("unknown") => Error::CertificateUnknown { fingerprint: f(1) },
        Some("name") => Error::CertificateNameMismatch { name: f(1), fingerprint: f(2) },
        Some("expired") => Error::CertificateExpired { fingerprint: f(1) },
        Some("pin") => Error::CertificatePinMismatch { expected: f(1), fingerprint: f(2) },
        Some("anonymous") => Error::AnonymousTlsUnsupported,
        Some("tls") => Error::Tls(f(1)),
        _ => Error::Tls(format!("the TLS module failed: {}", parts.join(": "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_round_trip() {
        let fp: [u8; 32] = core::array::from_fn(|i| (i * 7) as u8);
        let s = format_fingerprint(&fp);
        assert_eq!(s.len(), 32 * 3 - 1);
        assert!(s.starts_with("00:07:0E:15"));
        assert_eq!(parse_fingerprint(&s), Some(fp));
        assert_eq!(parse_fingerprint(&s.replace(':', "").to_lowercase()), Some(fp));
        assert_eq!(parse_fingerprint(&format!("sha256:{s}")), Some(fp));
        assert_eq!(parse_fingerprint(&format!("SHA256={s}")), Some(fp));
        assert_eq!(parse_fingerprint(&s[3..]), None);
        assert_eq!(parse_fingerprint(&s.replace("0E", "0G")), None);
    }

    #[test]
    fn errors_cross_as_strings() {
        let all = [
            Error::TlsConfig("bad".into()),
            Error::Tls("alert".into()),
            Error::CertificateUnknown { fingerprint: "AB".into() },
            Error::CertificateNameMismatch { name: "host".into(), fingerprint: "AB".into() },
            Error::CertificateExpired { fingerprint: "AB".into() },
            Error::CertificatePinMismatch { expected: "CD".into(), fingerprint: "AB".into() },
            Error::AnonymousTlsUnsupported,
        ];
        for e in all {
            assert_eq!(tls_error_from_parts(&tls_error_parts(&e)), e);
        }
        assert!(matches!(tls_error_from_parts(&[]), Error::Tls(_)));
        assert!(matches!(tls_error_from_parts(&["weird".into(), "x".into()]), Error::Tls(m) if m.contains("weird: x")));
    }
}
