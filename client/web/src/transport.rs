//! The WebSocket to the relay: binary frames (`binaryType = "arraybuffer"`, subprotocol
//! `binary` as websockify expects), and the handlers the session gives it.
//!
//! The console page (`www/index.html`) opens its socket itself with `autoconnect`, before the
//! wasm has arrived, so the TCP, TLS and WebSocket handshakes and the relay's connection to the
//! VNC server overlap the download. It leaves `{ ws, events }` in [`EARLY_SOCKET_GLOBAL`]; the
//! first [`Transport::open`] takes the socket over when its URL is the one it would open
//! (and closes it otherwise), then hands the events that came meanwhile to its handlers.

use js_sys::{Array, ArrayBuffer, Reflect};
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

/// The page global holding a socket the page opened before the console started.
pub const EARLY_SOCKET_GLOBAL: &str = "oxvncEarlySocket";

/// Takes the page's early socket out of [`EARLY_SOCKET_GLOBAL`] (it is offered once): the socket
/// and the events it has had.
fn take_early() -> Option<(WebSocket, Option<Array>)> {
    let window = web_sys::window()?;
    let key = JsValue::from_str(EARLY_SOCKET_GLOBAL);
    let early = Reflect::get(&window, &key).ok().filter(JsValue::is_object)?;
    let _ = Reflect::delete_property(window.as_ref(), &key);
    let ws: WebSocket = Reflect::get(&early, &"ws".into()).ok()?.dyn_into().ok()?;
    let events = Reflect::get(&early, &"events".into()).ok().and_then(|e| e.dyn_into().ok());
    Some((ws, events))
}

/// The page's early socket and its events when it was opened to `url`; otherwise it is closed
/// and `None`.
fn take_early_socket(url: &str) -> Option<(WebSocket, Array)> {
    let (ws, events) = take_early()?;
    // The browser keeps a socket's URL as its URL parser wrote it; compare like with like.
    let wanted = web_sys::Url::new(url).map(|u| u.href()).ok();
    match events {
        Some(events) if wanted.as_deref() == Some(ws.url().as_str()) => {
            crate::session::mark("oxvnc:early-websocket-taken");
            Some((ws, events))
        }
        _ => {
            close_quietly(&ws);
            None
        }
    }
}

/// Closes the page's early socket if no console has taken it (the console is not going to
/// connect at once after all).
pub fn discard_early_socket() {
    if let Some((ws, _)) = take_early() {
        close_quietly(&ws);
    }
}

/// Detaches the handlers and closes the socket (nothing more will be reported).
fn close_quietly(ws: &WebSocket) {
    ws.set_onopen(None);
    ws.set_onmessage(None);
    ws.set_onclose(None);
    let _ = ws.close_with_code(1000);
}

/// Hands an early socket's events, in order, to the handlers now installed on it. Run as a
/// microtask, so the session that opened the transport is fully set up, and before any event
/// the socket fires later (those are tasks). A handler removed meanwhile (the transport was
/// closed) gets nothing.
fn replay_early_events(ws: WebSocket, events: Array) {
    wasm_bindgen_futures::spawn_local(async move {
        for e in events.iter() {
            let handler = match Reflect::get(&e, &"type".into()).ok().and_then(|t| t.as_string()).as_deref() {
                Some("open") => ws.onopen(),
                Some("message") => ws.onmessage(),
                Some("close") => ws.onclose(),
                _ => None,
            };
            if let Some(h) = handler {
                let _ = h.call1(&ws, &e);
            }
        }
    });
}

impl Transport {
    /// Starts connecting to `url` (or takes over the page's early socket to it). An `Err` is the
    /// browser's refusal (a malformed URL, a port it blocks, ws:// from an https page), as text.
    pub fn open(url: &str, handlers: Handlers) -> Result<Transport, String> {
        let (ws, early_events) = match take_early_socket(url) {
            Some((ws, events)) => (ws, Some(events)),
            None => (WebSocket::new_with_str(url, "binary").map_err(js_error_text)?, None),
        };
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
        if let Some(events) = early_events {
            replay_early_events(ws.clone(), events);
        }
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
        close_quietly(&self.ws);
    }

    /// Bytes queued in the browser but not yet sent.
    pub fn buffered_amount(&self) -> u32 {
        self.ws.buffered_amount()
    }

    /// The browser's socket (for [`crate::fatal::watch`]).
    pub fn socket(&self) -> &WebSocket {
        &self.ws
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
