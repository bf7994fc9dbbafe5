//! In-browser tests of the WebSocket transport against a real `oxvnc serve --demo`, whose URL
//! `cargo xtask test` gives as `OXVNC_DEMO_WS` when it builds these tests. The oxvnc-rfb engine
//! drives each session to ServerInit, so bytes go both ways through the transport.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, ArrayBuffer, Object, Reflect, Uint8Array};
use oxvnc_client::transport::{EARLY_SOCKET_GLOBAL, Handlers, Transport};
use oxvnc_rfb::{Config, Connection, Event};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;
use web_sys::{BinaryType, WebSocket};

wasm_bindgen_test_configure!(run_in_browser);

fn demo_url() -> &'static str {
    option_env!("OXVNC_DEMO_WS")
        .expect("OXVNC_DEMO_WS is not set: run these through `cargo xtask test`, which starts `oxvnc serve --demo`")
}

/// Resolves after `ms` milliseconds.
async fn sleep(ms: i32) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window().unwrap().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms).unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(p).await.unwrap();
}

/// Waits until `done()` (a hang guard of 10 s, not a timing check; the test runner gives up at 20 s).
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        sleep(10).await;
    }
    panic!("timed out waiting for {what}");
}

/// What a session saw: the transport's reports in order, and the engine's ServerInit.
#[derive(Default)]
struct Seen {
    log: Vec<String>,
    first_bytes: Vec<u8>,
    connected: Option<(u16, u16)>,
    error: Option<String>,
}

/// Opens a transport to `url` with an engine behind it: every message goes to the engine, its
/// output back through the transport.
fn session(url: &str) -> (Rc<RefCell<Option<Transport>>>, Rc<RefCell<Seen>>) {
    let seen = Rc::new(RefCell::new(Seen::default()));
    let transport = Rc::new(RefCell::new(None::<Transport>));
    let conn = Rc::new(RefCell::new(Connection::new(Config::default())));
    let handlers = Handlers {
        on_open: Box::new({
            let seen = seen.clone();
            move || seen.borrow_mut().log.push("open".into())
        }),
        on_message: Box::new({
            let (seen, transport, conn) = (seen.clone(), transport.clone(), conn.clone());
            move |buf: ArrayBuffer| {
                let bytes = Uint8Array::new(&buf).to_vec();
                let mut seen = seen.borrow_mut();
                seen.log.push(format!("message {}", bytes.len()));
                if seen.first_bytes.is_empty() {
                    seen.first_bytes = bytes.clone();
                }
                let mut conn = conn.borrow_mut();
                if let Err(e) = conn.receive(&bytes) {
                    seen.error = Some(e.to_string());
                }
                if conn.has_output()
                    && let Some(t) = transport.borrow().as_ref()
                {
                    t.send(&conn.take_output());
                }
                while let Some(ev) = conn.poll_event() {
                    if let Event::Connected { width, height, .. } = ev {
                        seen.connected = Some((width, height));
                    }
                }
            }
        }),
        on_close: Box::new({
            let seen = seen.clone();
            move |code, reason, _| seen.borrow_mut().log.push(format!("close {code} {reason}"))
        }),
    };
    *transport.borrow_mut() = Some(Transport::open(url, handlers).expect("opening the transport"));
    (transport, seen)
}

/// A socket opened the way `www/index.html` opens one early, left in the page global.
fn early_socket(url: &str) -> (WebSocket, Array) {
    let ws = WebSocket::new_with_str(url, "binary").unwrap();
    ws.set_binary_type(BinaryType::Arraybuffer);
    let events = Array::new();
    let push = Closure::<dyn FnMut(JsValue)>::new({
        let events = events.clone();
        move |e: JsValue| {
            events.push(&e);
        }
    });
    ws.set_onopen(Some(push.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(push.as_ref().unchecked_ref()));
    ws.set_onclose(Some(push.as_ref().unchecked_ref()));
    push.forget();
    let early = Object::new();
    Reflect::set(&early, &"ws".into(), &ws).unwrap();
    Reflect::set(&early, &"events".into(), &events).unwrap();
    Reflect::set(&web_sys::window().unwrap(), &EARLY_SOCKET_GLOBAL.into(), &early).unwrap();
    (ws, events)
}

fn early_global_is_gone() -> bool {
    Reflect::get(&web_sys::window().unwrap(), &EARLY_SOCKET_GLOBAL.into()).unwrap().is_undefined()
}

#[wasm_bindgen_test]
async fn transport_carries_an_rfb_handshake_with_the_demo_server() {
    let (transport, seen) = session(demo_url());
    until("ServerInit from the demo server", || seen.borrow().connected.is_some() || seen.borrow().error.is_some())
        .await;
    let s = seen.borrow();
    assert_eq!(s.error, None);
    assert_eq!(s.log.first().map(String::as_str), Some("open"), "{:?}", s.log);
    assert_eq!(s.first_bytes, b"RFB 003.008\n");
    assert_eq!(s.connected, Some((1280, 720)), "the demo desktop's default size");
    drop(s);
    transport.borrow_mut().take();
}

#[wasm_bindgen_test]
async fn an_early_socket_is_taken_over_with_the_events_it_had() {
    let (ws, events) = early_socket(demo_url());
    // Open, and the server's ProtocolVersion: the console would have missed both.
    until("the early socket's first message", || events.length() >= 2).await;
    let (transport, seen) = session(demo_url());
    assert!(early_global_is_gone(), "the early socket is offered once");
    until("ServerInit through the taken-over socket", || {
        seen.borrow().connected.is_some() || seen.borrow().error.is_some()
    })
    .await;
    let s = seen.borrow();
    assert_eq!(s.error, None);
    assert_eq!(s.log.first().map(String::as_str), Some("open"), "{:?}", s.log);
    assert_eq!(s.first_bytes, b"RFB 003.008\n", "the replayed first message");
    assert_eq!(s.connected, Some((1280, 720)));
    assert_eq!(ws.ready_state(), WebSocket::OPEN, "it is the same socket, still open");
    assert_eq!(transport.borrow().as_ref().map(Transport::url), Some(ws.url()));
    drop(s);
    transport.borrow_mut().take();
    assert!(matches!(ws.ready_state(), WebSocket::CLOSING | WebSocket::CLOSED), "closing the transport closes it");
}

#[wasm_bindgen_test]
async fn an_early_socket_to_another_url_is_closed_and_a_new_one_opened() {
    let other = format!("{}?early=other", demo_url());
    let (ws, events) = early_socket(&other);
    until("the early socket to open", || events.length() >= 1).await;
    let (transport, seen) = session(demo_url());
    assert!(early_global_is_gone());
    assert!(matches!(ws.ready_state(), WebSocket::CLOSING | WebSocket::CLOSED), "the unused early socket is closed");
    until("ServerInit through a socket of its own", || {
        seen.borrow().connected.is_some() || seen.borrow().error.is_some()
    })
    .await;
    assert_eq!(seen.borrow().error, None);
    assert_eq!(seen.borrow().connected, Some((1280, 720)));
    transport.borrow_mut().take();
}

/// When oxvnc itself fails (a panic aborts the wasm instance), what the panic hook does for each
/// live session: its socket detached from the dead instance and closed, a message over its screen
/// that fills the screen's container, and a `disconnect` event `{clean: false}` bubbling from it.
/// `fatal::stopped` is called directly: a real panic would abort this test's instance too.
#[wasm_bindgen_test]
async fn a_client_failure_closes_the_socket_and_says_so() {
    use oxvnc_client::fatal;
    let doc = web_sys::window().unwrap().document().unwrap();
    let host = doc.create_element("div").unwrap();
    host.set_attribute("style", "width:400px;height:300px").unwrap();
    doc.body().unwrap().append_child(&host).unwrap();
    let canvas = doc.create_element("canvas").unwrap();
    host.append_child(&canvas).unwrap();
    let events = Rc::new(RefCell::new(Vec::<(Option<bool>, String)>::new()));
    let on_disconnect = Closure::<dyn FnMut(web_sys::CustomEvent)>::new({
        let events = events.clone();
        move |e: web_sys::CustomEvent| {
            let d = e.detail();
            let clean = Reflect::get(&d, &"clean".into()).unwrap().as_bool();
            let reason = Reflect::get(&d, &"reason".into()).unwrap().as_string().unwrap_or_default();
            events.borrow_mut().push((clean, reason));
        }
    });
    host.add_event_listener_with_callback("disconnect", on_disconnect.as_ref().unchecked_ref()).unwrap();

    let ws = WebSocket::new_with_str(demo_url(), "binary").unwrap();
    let noop = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {});
    ws.set_onmessage(Some(noop.as_ref().unchecked_ref()));
    until("the socket to open", || ws.ready_state() == WebSocket::OPEN).await;
    fatal::watch(&canvas, &ws);
    fatal::stopped("index out of bounds at client/rfb/src/x.rs:1");
    fatal::stopped("a second panic while the first one's events run");

    assert!(ws.onmessage().is_none(), "no handler is left that would call into the dead instance");
    until("the socket to close", || ws.ready_state() == WebSocket::CLOSED).await;
    let shown = host.query_selector_all(&format!(".{}", fatal::MESSAGE_CLASS)).unwrap();
    assert_eq!(shown.length(), 1, "one message, however many panics follow");
    let msg: web_sys::Element = shown.get(0).unwrap().dyn_into().unwrap();
    let text = msg.text_content().unwrap_or_default();
    assert!(text.contains("index out of bounds at client/rfb/src/x.rs:1"), "{text}");
    assert!(text.contains("Reload the page"), "{text}");
    assert_eq!(msg.get_attribute("role").as_deref(), Some("alert"));
    let (m, h) = (msg.get_bounding_client_rect(), host.get_bounding_client_rect());
    assert_eq!((m.x(), m.y(), m.width(), m.height()), (h.x(), h.y(), h.width(), h.height()), "it covers the screen");
    assert_eq!(
        *events.borrow(),
        vec![(Some(false), fatal::message("index out of bounds at client/rfb/src/x.rs:1"))],
        "one disconnect event, not clean, with the message as its reason"
    );
    host.remove();
}
