//! The WebSocket to the relay: binary frames (`binaryType = "arraybuffer"`, subprotocol
//! `binary` as websockify expects), and the handlers the session gives it.

use js_sys::ArrayBuffer;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

/// What the transport reports. Handlers run inside WebSocket event callbacks.
pub struct Handlers {
    pub on_open: Box<dyn FnMut()>,
    /// One binary message; the `ArrayBuffer` is still JS memory (the caller copies it once).
    pub on_message: Box<dyn FnMut(ArrayBuffer)>,
    /// The socket closed: code, reason, and whether the closing handshake completed.
    pub on_close: Box<dyn FnMut(u16, String, bool)>,
}

/// An open (or opening) WebSocket. Dropping it detaches the handlers and closes the socket.
pub struct Transport {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(JsValue)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Transport {
    /// Starts connecting to `url`. An `Err` is the browser's refusal (a malformed URL, a port it
    /// blocks, ws:// from an https page), as text.
    pub fn open(url: &str, handlers: Handlers) -> Result<Transport, String> {
        let ws = WebSocket::new_with_str(url, "binary").map_err(js_error_text)?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let Handlers { mut on_open, mut on_message, mut on_close } = handlers;
        let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_| on_open());
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            // Text frames are not RFB; the engine would only choke on them.
            if let Ok(buf) = e.data().dyn_into::<ArrayBuffer>() {
                on_message(buf);
            }
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            on_close(e.code(), e.reason(), e.was_clean());
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Transport { ws, _on_open: on_open, _on_message: on_message, _on_close: on_close })
    }

    /// Sends one binary message. Bytes given before the socket opened or after it closed are
    /// dropped (the engine only produces output after the server has spoken).
    pub fn send(&self, data: &[u8]) {
        if !data.is_empty() && self.ws.ready_state() == WebSocket::OPEN {
            // A failure here means the socket is closing; its close event reports why.
            let _ = self.ws.send_with_u8_array(data);
        }
    }

    /// Detaches the handlers and closes the socket (nothing more will be reported).
    pub fn close(&self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close_with_code(1000);
    }

    /// Bytes queued in the browser but not yet sent.
    pub fn buffered_amount(&self) -> u32 {
        self.ws.buffered_amount()
    }

    pub fn url(&self) -> String {
        self.ws.url()
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.close();
    }
}

/// A thrown JS value as text.
pub fn js_error_text(v: JsValue) -> String {
    if let Some(e) = v.dyn_ref::<js_sys::Error>() {
        String::from(e.message())
    } else {
        v.as_string().unwrap_or_else(|| format!("{v:?}"))
    }
}
