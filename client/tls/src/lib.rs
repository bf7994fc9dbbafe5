//! `oxvnc-tls`: the console's TLS module. The page loads `oxvnc_client` alone; only when a VNC
//! server starts VeNCrypt TLS does the console import this second module (rustls and ring, about
//! as large as the rest of the console), so pages for servers without TLS never download it.
//!
//! It wraps [`oxvnc_rfb::tls::RustlsSession`] — the same session the engine starts natively — in a
//! class the console drives over byte arrays; errors cross as arrays of strings
//! ([`oxvnc_rfb::tls::tls_error_parts`]) so the console shows the same sentences either way.

use oxvnc_rfb::tls::{RustlsSession, TlsConfig, TlsSession, tls_error_parts};
use wasm_bindgen::prelude::*;

fn to_js(e: &oxvnc_rfb::Error) -> JsValue {
    tls_error_parts(e).into_iter().map(JsValue::from).collect::<js_sys::Array>().into()
}

/// One TLS client session (see [`oxvnc_rfb::tls::TlsSession`]).
#[wasm_bindgen]
pub struct TlsClient {
    session: RustlsSession,
}

#[wasm_bindgen]
impl TlsClient {
    /// `ca_pem`: CA certificates (PEM) the server's certificate must chain to; `server_name`:
    /// the name it must be issued for; `pinned_sha256`: the one certificate to accept (32
    /// bytes); none of them: trust on first use. `anonymous`: VeNCrypt TLS* sub-type.
    #[wasm_bindgen(constructor)]
    pub fn new(
        ca_pem: Option<Vec<u8>>,
        server_name: Option<String>,
        pinned_sha256: Option<Vec<u8>>,
        anonymous: bool,
    ) -> Result<TlsClient, JsValue> {
        let pinned_sha256 = match pinned_sha256 {
            None => None,
            Some(p) => Some(<[u8; 32]>::try_from(p.as_slice()).map_err(|_| {
                to_js(&oxvnc_rfb::Error::TlsConfig(format!("a SHA-256 fingerprint is 32 bytes, not {}", p.len())))
            })?),
        };
        let config = TlsConfig { ca_pem, server_name, pinned_sha256, prefer_tls: true };
        let session = RustlsSession::start(&config, anonymous).map_err(|e| to_js(&e))?;
        Ok(TlsClient { session })
    }

    /// TLS records from the server in, the plaintext they carry out.
    pub fn receive(&mut self, data: &[u8]) -> Result<Vec<u8>, JsValue> {
        let mut plain = Vec::new();
        self.session.receive(data, &mut plain).map_err(|e| to_js(&e))?;
        Ok(plain)
    }

    /// Plaintext for the server.
    pub fn write(&mut self, plain: &[u8]) {
        self.session.write(plain);
    }

    /// The TLS records to send now.
    #[wasm_bindgen(js_name = takeRecords)]
    pub fn take_records(&mut self) -> Vec<u8> {
        let mut records = Vec::new();
        self.session.write_tls_into(&mut records);
        records
    }

    #[wasm_bindgen(js_name = wantsWrite)]
    pub fn wants_write(&self) -> bool {
        self.session.wants_write()
    }

    #[wasm_bindgen(js_name = isHandshaking)]
    pub fn is_handshaking(&self) -> bool {
        self.session.is_handshaking()
    }

    /// SHA-256 of the server's certificate (32 bytes), once it has shown one.
    pub fn fingerprint(&self) -> Option<Vec<u8>> {
        self.session.fingerprint().map(|f| f.to_vec())
    }

    /// Whether the certificate was checked by the CA or the pin.
    pub fn verified(&self) -> bool {
        self.session.verified()
    }
}
