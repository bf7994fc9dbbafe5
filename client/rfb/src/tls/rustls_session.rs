//! The built-in TLS session (feature `rustls`): rustls with ring, driven over in-memory buffers,
//! so the same code runs natively and in the browser (wasm32-unknown-unknown).
//!
//! The server certificate is checked against, in this order: a pinned SHA-256 fingerprint, a CA
//! given by the user, or nobody (trust on first use: the certificate is accepted for the
//! handshake — its key must still sign the handshake — and the connection then asks the caller,
//! showing the fingerprint, before anything secret is sent).

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{TlsConfig, TlsSession, format_fingerprint};
use crate::error::Error;

/// SHA-256 of a DER certificate.
pub fn certificate_sha256(der: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    d.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    pinned: Option<[u8; 32]>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
    /// Fingerprint of the certificate the server presented (for messages and trust on first use).
    seen: Mutex<Option<[u8; 32]>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = certificate_sha256(end_entity);
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(fp);
        if let Some(pin) = self.pinned {
            return if pin == fp {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
            };
        }
        let Some(webpki) = &self.webpki else {
            // Trust on first use: the connection asks the caller once the handshake is done.
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            // webpki checks the name last, so the chain is good: no name was asked for.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The clock for certificate validity: the browser's `Date.now()` on wasm32-unknown-unknown
/// (where `SystemTime::now()` panics), the system clock elsewhere.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
#[derive(Debug)]
struct Clock;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
impl rustls::time_provider::TimeProvider for Clock {
    fn current_time(&self) -> Option<UnixTime> {
        let ms = js_sys::Date::now();
        (ms.is_finite() && ms >= 0.0).then(|| UnixTime::since_unix_epoch(std::time::Duration::from_millis(ms as u64)))
    }
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn clock() -> Arc<dyn rustls::time_provider::TimeProvider> {
    Arc::new(Clock)
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
fn clock() -> Arc<dyn rustls::time_provider::TimeProvider> {
    Arc::new(rustls::time_provider::DefaultTimeProvider)
}

/// One TLS session to the VNC server.
pub struct RustlsSession {
    conn: ClientConnection,
    verifier: Arc<Verifier>,
    /// The sub-type is anonymous TLS (VeNCrypt TLS*): a refused handshake is explained so.
    anonymous: bool,
    server_name: Option<String>,
}

impl RustlsSession {
    /// Starts a TLS client; its ClientHello is ready in [`TlsSession::write_tls_into`].
    /// `anonymous`: the VeNCrypt sub-type is anonymous TLS (TLS*), so a refused handshake is
    /// explained as such.
    pub fn start(config: &TlsConfig, anonymous: bool) -> Result<RustlsSession, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let webpki = match &config.ca_pem {
            None => None,
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| Error::TlsConfig(format!("the CA PEM: {e}")))?;
                    roots.add(cert).map_err(|e| Error::TlsConfig(format!("a CA certificate: {e}")))?;
                }
                if roots.is_empty() {
                    return Err(Error::TlsConfig(
                        "the CA PEM holds no certificate (expected -----BEGIN CERTIFICATE-----)".into(),
                    ));
                }
                let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| Error::TlsConfig(format!("the CA certificates: {e}")))?;
                Some(v)
            }
        };
        let name: ServerName<'static> = match &config.server_name {
            Some(n) => ServerName::try_from(n.clone())
                .map_err(|_| Error::TlsConfig(format!("{n:?} is not a valid DNS name or IP address")))?,
            // Not checked; an IP address sends no SNI.
            None => ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
        };
        let verifier = Arc::new(Verifier {
            webpki,
            pinned: config.pinned_sha256,
            check_name: config.server_name.is_some(),
            provider: Arc::clone(&provider),
            seen: Mutex::new(None),
        });
        let tls = ClientConfig::builder_with_details(provider, clock())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::TlsConfig(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        let mut conn = ClientConnection::new(Arc::new(tls), name).map_err(|e| Error::TlsConfig(e.to_string()))?;
        // Output is drained by take_output; the caller bounds what it queues.
        conn.set_buffer_limit(None);
        Ok(RustlsSession { conn, verifier, anonymous, server_name: config.server_name.clone() })
    }

    /// Turns a rustls failure into an error that says what went wrong.
    fn explain(&self, e: rustls::Error) -> Error {
        let fingerprint = self.fingerprint().map(|fp| format_fingerprint(&fp)).unwrap_or_default();
        match e {
            rustls::Error::InvalidCertificate(ce) => match ce {
                CertificateError::UnknownIssuer
                | CertificateError::BadSignature
                | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
                | CertificateError::InvalidPurpose
                | CertificateError::InvalidPurposeContext { .. } => Error::CertificateUnknown { fingerprint },
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    Error::CertificateNameMismatch { name: self.server_name.clone().unwrap_or_default(), fingerprint }
                }
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => Error::CertificateExpired { fingerprint },
                CertificateError::ApplicationVerificationFailure if self.verifier.pinned.is_some() => {
                    Error::CertificatePinMismatch {
                        expected: format_fingerprint(&self.verifier.pinned.unwrap_or_default()),
                        fingerprint,
                    }
                }
                other => Error::Tls(format!("the server's certificate is invalid: {other}")),
            },
            // Anonymous-TLS servers end a handshake without anonymous cipher suites in their
            // own ways (GnuTLS in Xvnc sends close_notify; others handshake_failure).
            rustls::Error::AlertReceived(_) | rustls::Error::PeerIncompatible(_) | rustls::Error::PeerMisbehaved(_)
                if self.anonymous && self.conn.is_handshaking() =>
            {
                Error::AnonymousTlsUnsupported
            }
            e => Error::Tls(e.to_string()),
        }
    }
}

impl TlsSession for RustlsSession {
    /// Feeds TLS records from the server; appends the plaintext they carry to `plain`.
    fn receive(&mut self, mut data: &[u8], plain: &mut Vec<u8>) -> Result<(), Error> {
        while !data.is_empty() {
            let n = self.conn.read_tls(&mut data).map_err(|e| Error::Tls(format!("reading TLS records: {e}")))?;
            let state = self.conn.process_new_packets().map_err(|e| self.explain(e))?;
            let avail = state.plaintext_bytes_to_read();
            if avail > 0 {
                let start = plain.len();
                plain.resize(start + avail, 0);
                self.conn
                    .reader()
                    .read_exact(&mut plain[start..])
                    .map_err(|e| Error::Tls(format!("reading TLS plaintext: {e}")))?;
            }
            if n == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Queues plaintext for the server (sent as records once the handshake is done).
    fn write(&mut self, plain: &[u8]) {
        // Unlimited buffers: writing to memory cannot fail or stop short.
        let _ = self.conn.writer().write_all(plain);
    }

    /// Appends the TLS records to send to `out`.
    fn write_tls_into(&mut self, out: &mut Vec<u8>) {
        while self.conn.wants_write() {
            match self.conn.write_tls(out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The SHA-256 of the certificate the server presented, once it has.
    fn fingerprint(&self) -> Option<[u8; 32]> {
        *self.verifier.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn verified(&self) -> bool {
        self.verifier.pinned.is_some() || self.verifier.webpki.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ca_pem_is_a_config_error() {
        let cfg = TlsConfig { ca_pem: Some(b"not a certificate".to_vec()), ..TlsConfig::default() };
        assert!(matches!(RustlsSession::start(&cfg, false), Err(Error::TlsConfig(_))));
        let cfg = TlsConfig { server_name: Some("bad name!".into()), ..TlsConfig::default() };
        assert!(matches!(RustlsSession::start(&cfg, false), Err(Error::TlsConfig(_))));
    }

    #[test]
    fn starts_with_a_client_hello() {
        let mut tls = RustlsSession::start(&TlsConfig::default(), false).unwrap();
        let mut out = Vec::new();
        tls.write_tls_into(&mut out);
        // A handshake record (22) carrying a ClientHello (1).
        assert_eq!(out[0], 22);
        assert_eq!(out[5], 1);
        // Garbage instead of a ServerHello is an error, not a panic.
        let mut plain = Vec::new();
        assert!(matches!(tls.receive(b"RFB 003.008\n garbage", &mut plain), Err(Error::Tls(_))));
    }
}
