//! What a person sees when the client itself fails.
//!
//! Hostile or broken server bytes are engine errors with a sentence of their own
//! ([`crate::messages`]); a Rust panic is a bug in oxvnc. In wasm a panic aborts the instance:
//! nothing of the session runs again, so without this module the screen would freeze with its
//! socket still open and nothing said. The panic hook ([`install`]) logs the panic to the browser
//! console as before and then, for every live session ([`watch`]): detaches and closes its
//! WebSocket (the relay and the VNC server see the session end at once), puts a message over its
//! screen, and fires a `disconnect` event (`{clean: false, reason}`, bubbling and composed, like
//! [`crate::api`]'s) so that an embedding dashboard learns of it. The hook touches only the DOM
//! and this module's own registry, never a session's state, which the panic may have left
//! borrowed.

use std::cell::RefCell;
use std::sync::Once;

use wasm_bindgen::JsValue;
use web_sys::{CustomEvent, CustomEventInit, Element, WebSocket};

/// The class of the message element put over a failed session's screen.
pub const MESSAGE_CLASS: &str = "oxvnc-fatal";

/// Close code sent to the relay when the client fails: the application range (4000–4999), as a
/// browser may send nothing else but 1000.
pub const CLOSE_CODE: u16 = 4000;

struct Watched {
    screen: Element,
    socket: WebSocket,
}

thread_local! {
    static WATCHED: RefCell<Vec<Watched>> = const { RefCell::new(Vec::new()) };
}

/// Installs the panic hook (once; every entry point calls it).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            console_error_panic_hook::hook(info);
            let what = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            stopped(&format!("{what}{at}"));
        }));
    });
}

/// Registers a session: `screen` is the element its desktop is drawn in (the message goes in
/// its parent, next to it), `socket` its WebSocket. Sessions that have ended (socket closed) or
/// whose screen left the page are dropped here, so the registry holds live sessions only.
pub fn watch(screen: &Element, socket: &WebSocket) {
    WATCHED.with(|w| {
        if let Ok(mut w) = w.try_borrow_mut() {
            w.retain(|s| s.socket.ready_state() != WebSocket::CLOSED && s.screen.is_connected());
            w.push(Watched { screen: screen.clone(), socket: socket.clone() });
        }
    });
}

/// The text shown and given as the `disconnect` reason when oxvnc fails with `detail`.
pub fn message(detail: &str) -> String {
    format!(
        "The console stopped because of an error in oxvnc itself, not in the server or the \
         network ({detail}). Reload the page to connect again."
    )
}

/// Ends every watched session after a failure described by `detail` (the panic hook calls this;
/// it is public so the in-browser tests can check what it does without aborting their instance).
/// Calling it again adds no second message.
pub fn stopped(detail: &str) {
    let watched = WATCHED.with(|w| w.try_borrow_mut().map(|mut w| std::mem::take(&mut *w)).unwrap_or_default());
    let text = message(detail);
    for Watched { screen, socket } in watched {
        socket.set_onopen(None);
        socket.set_onmessage(None);
        socket.set_onclose(None);
        socket.set_onerror(None);
        if socket.ready_state() != WebSocket::CLOSED {
            let _ = socket.close_with_code_and_reason(CLOSE_CODE, "oxvnc client error");
        }
        show(&screen, &text);
        let init = CustomEventInit::new();
        init.set_bubbles(true);
        init.set_composed(true);
        let detail = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&detail, &"clean".into(), &JsValue::FALSE);
        let _ = js_sys::Reflect::set(&detail, &"reason".into(), &JsValue::from_str(&text));
        init.set_detail(&detail);
        if let Ok(ev) = CustomEvent::new_with_event_init_dict("disconnect", &init) {
            let _ = screen.dispatch_event(&ev);
        }
    }
}

/// Puts `text` over `screen`: an element of its own with inline style, so it shows in any page
/// that embeds a console, not only in ours.
fn show(screen: &Element, text: &str) {
    let Some(parent) = screen.parent_element() else { return };
    if let Ok(Some(_)) = parent.query_selector(&format!(":scope > .{MESSAGE_CLASS}")) {
        return;
    }
    let Some(doc) = screen.owner_document() else { return };
    let Ok(el) = doc.create_element("div") else { return };
    el.set_class_name(MESSAGE_CLASS);
    let _ = el.set_attribute("role", "alert");
    let _ = el.set_attribute(
        "style",
        "position:absolute;inset:0;display:flex;align-items:center;justify-content:center;\
         padding:1em;text-align:center;background:rgba(0,0,0,.8);color:#fff;\
         font:16px/1.4 system-ui,sans-serif;z-index:10",
    );
    el.set_text_content(Some(text));
    let is_static = web_sys::window()
        .and_then(|w| w.get_computed_style(&parent).ok().flatten())
        .and_then(|s| s.get_property_value("position").ok())
        .is_some_and(|p| p == "static");
    if is_static {
        // The message covers the screen's container; in a static container it would cover the
        // closest positioned ancestor instead.
        let style = parent.get_attribute("style").unwrap_or_default();
        let _ = parent.set_attribute("style", &format!("{style};position:relative"));
    }
    let _ = parent.append_child(&el);
}
