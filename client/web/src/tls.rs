//! TLS to the VNC server from a second WebAssembly module (`oxvnc_tls`, crate `client/tls`),
//! imported the first time a server starts VeNCrypt TLS: rustls and ring are about as large as
//! the rest of the console, and most consoles never need them. The module sits beside this one
//! (`pkg/oxvnc_tls.js`); the engine gets it as a [`TlsSession`].

use js_sys::{Array, Promise};
use oxvnc_rfb::Error;
use oxvnc_rfb::tls::{TlsConfig, TlsSession, tls_error_from_parts};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(inline_js = r#"
let loading = null;
function tlsModule() {
  if (!loading) {
    // wasm-bindgen puts this snippet two folders below the package: pkg/snippets/<crate>/.
    const url = new URL("../../oxvnc_tls.js", import.meta.url).href;
    loading = import(url).then(async (m) => { await m.default(); return m; });
    loading.catch(() => { loading = null; });
  }
  return loading;
}
export async function oxvnc_tls_client(ca, name, pin, anonymous) {
  const m = await tlsModule();
  return new m.TlsClient(ca, name, pin, anonymous);
}
"#)]
extern "C" {
    fn oxvnc_tls_client(ca: Option<Vec<u8>>, name: Option<String>, pin: Option<Vec<u8>>, anonymous: bool) -> Promise;

    type TlsClient;
    #[wasm_bindgen(method, catch)]
    fn receive(this: &TlsClient, data: &[u8]) -> Result<Vec<u8>, JsValue>;
    #[wasm_bindgen(method)]
    fn write(this: &TlsClient, plain: &[u8]);
    #[wasm_bindgen(method, js_name = takeRecords)]
    fn take_records(this: &TlsClient) -> Vec<u8>;
    #[wasm_bindgen(method, js_name = wantsWrite)]
    fn wants_write(this: &TlsClient) -> bool;
    #[wasm_bindgen(method, js_name = isHandshaking)]
    fn is_handshaking(this: &TlsClient) -> bool;
    #[wasm_bindgen(method)]
    fn fingerprint(this: &TlsClient) -> Option<Vec<u8>>;
    #[wasm_bindgen(method)]
    fn verified(this: &TlsClient) -> bool;
    #[wasm_bindgen(method)]
    fn free(this: &TlsClient);
}

/// An error thrown by the TLS module: the engine's own error when it is one.
fn error(e: JsValue) -> Error {
    if Array::is_array(&e) {
        let parts: Vec<String> = Array::from(&e).iter().map(|p| p.as_string().unwrap_or_default()).collect();
        return tls_error_from_parts(&parts);
    }
    let text = e.as_string().or_else(|| e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())));
    Error::Tls(format!("the TLS module failed: {}", text.unwrap_or_else(|| format!("{e:?}"))))
}

/// Loads the TLS module (once per page) and starts a session for `config`.
pub async fn start(config: &TlsConfig, anonymous: bool) -> Result<Box<dyn TlsSession>, Error> {
    let promise = oxvnc_tls_client(
        config.ca_pem.clone(),
        config.server_name.clone(),
        config.pinned_sha256.map(|p| p.to_vec()),
        anonymous,
    );
    match JsFuture::from(promise).await {
        Ok(client) => Ok(Box::new(ModuleSession(client.unchecked_into()))),
        // The constructor's own errors (a bad CA PEM) are engine errors; anything else means
        // the module could not be fetched or instantiated.
        Err(e) if Array::is_array(&e) => Err(error(e)),
        Err(e) => Err(Error::Tls(format!(
            "the console's TLS module (oxvnc_tls.js beside oxvnc_client.js) could not be loaded: {}",
            e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).unwrap_or_else(|| format!("{e:?}"))
        ))),
    }
}

struct ModuleSession(TlsClient);

impl TlsSession for ModuleSession {
    fn receive(&mut self, data: &[u8], plain: &mut Vec<u8>) -> Result<(), Error> {
        let got = self.0.receive(data).map_err(error)?;
        plain.extend_from_slice(&got);
        Ok(())
    }

    fn write(&mut self, plain: &[u8]) {
        self.0.write(plain);
    }

    fn write_tls_into(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.take_records());
    }

    fn wants_write(&self) -> bool {
        self.0.wants_write()
    }

    fn is_handshaking(&self) -> bool {
        self.0.is_handshaking()
    }

    fn fingerprint(&self) -> Option<[u8; 32]> {
        self.0.fingerprint().and_then(|f| f.try_into().ok())
    }

    fn verified(&self) -> bool {
        self.0.verified()
    }
}

impl Drop for ModuleSession {
    fn drop(&mut self) {
        // The session lives in the TLS module's memory, not in this one's.
        self.0.free();
    }
}
