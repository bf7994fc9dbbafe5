//! One console session: the WebSocket, the RFB engine, the canvas and the input listeners, wired
//! together. Independent of Yew: the UI gets [`UiEvent`]s through a plain callback.
//!
//! Hot path: `onmessage` → the `ArrayBuffer` copied once into a reused buffer in wasm memory →
//! [`Connection::receive`] (decoders write into the framebuffer) → output flushed, events handled
//! → at most one `requestAnimationFrame` pending → one `putImageData` of the damage bounds.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_events::{EventListener, EventListenerOptions};
use js_sys::{ArrayBuffer, Uint8Array};
use oxvnc_rfb::{Config, Connection, Credentials, Event as RfbEvent, State};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlCanvasElement, KeyboardEvent, PointerEvent, WheelEvent};

use crate::display::Display;
use crate::keys::{keysym_for_event, HeldKeys};
use crate::messages::{close_message, engine_error, Progress};
use crate::pointer::{mask_from_buttons, to_framebuffer, WheelAccumulator};
use crate::settings::{ResizeMode, Settings};
use crate::transport::{Handlers, Transport};

/// What the session tells the UI.
#[derive(Clone, Debug, PartialEq)]
pub enum UiEvent {
    /// The WebSocket is opening.
    Connecting { url: String },
    /// The WebSocket is open; the VNC handshake runs.
    Opened,
    /// The server wants a password (and a user name when `username`).
    CredentialsRequired { username: bool },
    Connected { name: String, width: u16, height: u16 },
    Resized { width: u16, height: u16 },
    DesktopName(String),
    /// Text the server put on its clipboard.
    Clipboard(String),
    /// The session is over. `retry` is false when trying again cannot help (wrong password).
    Disconnected { message: String, retry: bool },
}

/// Receive buffers above this size are not kept between messages.
const MAX_KEPT_RX: usize = 8 << 20;

/// A running session. Dropping it closes the WebSocket and removes every listener.
pub struct Session {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    conn: Connection,
    transport: Option<Transport>,
    display: Display,
    settings: Settings,
    url: String,
    progress: Progress,
    ended: bool,
    held: HeldKeys,
    buttons: u8,
    position: (u16, u16),
    wheel: WheelAccumulator,
    /// Reused receive buffer: each WebSocket message is copied here once.
    rx: Vec<u8>,
    raf_id: Option<i32>,
    raf_cb: Option<Closure<dyn FnMut(f64)>>,
    listeners: Vec<EventListener>,
    ui: Rc<dyn Fn(UiEvent)>,
    /// UI events raised while the session was borrowed; emitted after the borrow ends.
    pending_ui: Vec<UiEvent>,
}

impl Session {
    /// Opens the WebSocket for `settings` and starts drawing into `canvas`.
    pub fn start(settings: Settings, canvas: HtmlCanvasElement, ui: Rc<dyn Fn(UiEvent)>) -> Result<Session, String> {
        let url = settings.websocket_url()?;
        let mut display = Display::new(canvas.clone())?;
        display.set_mode(settings.resize);
        display.reset_cursor();
        let config = Config {
            shared: settings.shared,
            credentials: settings.password.clone().map(|password| Credentials { username: None, password }),
            ..Config::default()
        };
        let inner = Rc::new(RefCell::new(Inner {
            conn: Connection::new(config),
            transport: None,
            display,
            settings,
            url: url.clone(),
            progress: Progress::NotOpened,
            ended: false,
            held: HeldKeys::default(),
            buttons: 0,
            position: (0, 0),
            wheel: WheelAccumulator::default(),
            rx: Vec::new(),
            raf_id: None,
            raf_cb: None,
            listeners: Vec::new(),
            ui,
            pending_ui: Vec::new(),
        }));
        let weak = Rc::downgrade(&inner);

        let frame = {
            let weak = weak.clone();
            Closure::<dyn FnMut(f64)>::new(move |_: f64| with_inner(&weak, Inner::frame))
        };
        let handlers = {
            let (w1, w2, w3) = (weak.clone(), weak.clone(), weak.clone());
            Handlers {
                on_open: Box::new(move || with_inner(&w1, Inner::opened)),
                on_message: Box::new(move |buf| with_inner(&w2, |i| i.received(&buf))),
                on_close: Box::new(move |code, reason, _clean| with_inner(&w3, |i| i.closed(code, &reason))),
            }
        };
        let transport = Transport::open(&url, handlers)
            .map_err(|e| format!("The browser refused to open {url}: {e}."))?;
        let listeners = listeners(&canvas, &weak);
        {
            let mut i = inner.borrow_mut();
            i.raf_cb = Some(frame);
            i.transport = Some(transport);
            i.listeners = listeners;
            i.pending_ui.push(UiEvent::Connecting { url });
        }
        let session = Session { inner };
        session.emit_pending();
        Ok(session)
    }

    fn emit_pending(&self) {
        let (events, ui) = {
            let mut i = self.inner.borrow_mut();
            (std::mem::take(&mut i.pending_ui), Rc::clone(&i.ui))
        };
        for e in events {
            ui(e);
        }
    }

    fn run(&self, f: impl FnOnce(&mut Inner)) {
        with_inner(&Rc::downgrade(&self.inner), f);
    }

    /// Answers [`UiEvent::CredentialsRequired`].
    pub fn send_credentials(&self, credentials: Credentials) {
        self.run(|i| {
            // An error here is also raised as RfbEvent::Disconnected, handled by pump.
            let _ = i.conn.send_credentials(credentials);
            i.pump();
        });
    }

    /// Sends key presses and releases (keysyms), e.g. Ctrl-Alt-Del from the toolbar.
    pub fn send_keys(&self, keys: &[(u32, bool)]) {
        self.run(|i| {
            if i.settings.view_only {
                return;
            }
            for &(k, down) in keys {
                i.conn.key(k, down);
            }
            i.flush();
        });
    }

    /// Puts text on the server's clipboard.
    pub fn send_clipboard(&self, text: &str) {
        self.run(|i| {
            if i.settings.view_only {
                return;
            }
            i.conn.clipboard(text);
            i.flush();
        });
    }

    pub fn set_resize(&self, mode: ResizeMode) {
        self.run(|i| {
            i.settings.resize = mode;
            i.display.set_mode(mode);
        });
    }

    /// Recomputes the canvas's CSS size (after the page layout changed).
    pub fn refit(&self) {
        self.run(|i| i.display.fit());
    }

    /// Gives the canvas the keyboard focus.
    pub fn focus(&self) {
        let canvas = self.inner.borrow().display.canvas().clone();
        let _ = canvas.focus();
    }

    pub fn is_connected(&self) -> bool {
        self.inner.borrow().conn.state() == State::Connected
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Listeners and the socket go with Inner; the pending frame is cancelled here.
        if let Ok(mut i) = self.inner.try_borrow_mut() {
            i.cancel_frame();
        }
    }
}

/// Runs `f` on the session if it still exists, then hands the UI events it raised to the UI
/// (outside the borrow, so the UI may call back into the session).
fn with_inner(weak: &Weak<RefCell<Inner>>, f: impl FnOnce(&mut Inner)) {
    let Some(rc) = weak.upgrade() else { return };
    let (events, ui) = {
        // A DOM event fired synchronously by something the session itself is doing finds it
        // borrowed; such events (focus changes) need no handling.
        let Ok(mut i) = rc.try_borrow_mut() else { return };
        f(&mut i);
        (std::mem::take(&mut i.pending_ui), Rc::clone(&i.ui))
    };
    for e in events {
        ui(e);
    }
}

impl Inner {
    fn emit(&mut self, e: UiEvent) {
        self.pending_ui.push(e);
    }

    fn opened(&mut self) {
        if !self.ended {
            self.progress = Progress::Handshake;
            self.emit(UiEvent::Opened);
        }
    }

    /// One WebSocket message: copied once into wasm memory, then handed to the engine.
    fn received(&mut self, buf: &ArrayBuffer) {
        if self.ended {
            return;
        }
        let src = Uint8Array::new(buf);
        let n = src.length() as usize;
        if self.rx.len() < n {
            self.rx.resize(n, 0);
        }
        src.copy_to(&mut self.rx[..n]);
        // An error is also raised as RfbEvent::Disconnected, which pump turns into a message.
        let _ = self.conn.receive(&self.rx[..n]);
        if self.rx.len() > MAX_KEPT_RX {
            self.rx = Vec::new();
        }
        self.pump();
    }

    fn closed(&mut self, code: u16, reason: &str) {
        if self.ended {
            return;
        }
        let (message, retry) = match self.conn.error() {
            Some(e) => (engine_error(e), retryable(e)),
            None => (close_message(code, reason, self.progress, &self.url), true),
        };
        self.end(message, retry);
    }

    fn end(&mut self, message: String, retry: bool) {
        if self.ended {
            return;
        }
        self.ended = true;
        // Close the socket now; the Transport itself (and its callbacks) lives until the session
        // is dropped.
        if let Some(t) = &self.transport {
            t.close();
        }
        self.held.release_all();
        self.buttons = 0;
        self.wheel.reset();
        self.emit(UiEvent::Disconnected { message, retry });
    }

    /// Sends what the engine wants sent, handles its events, and asks for a frame if anything
    /// was drawn.
    fn pump(&mut self) {
        self.flush();
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                RfbEvent::CredentialsRequired { username } => self.emit(UiEvent::CredentialsRequired { username }),
                RfbEvent::Connected { width, height, name } => {
                    self.progress = Progress::Connected;
                    self.display.resize(width, height);
                    self.emit(UiEvent::Connected { name, width, height });
                }
                RfbEvent::Resized { width, height } => {
                    self.display.resize(width, height);
                    self.emit(UiEvent::Resized { width, height });
                }
                RfbEvent::UpdateComplete | RfbEvent::Bell => {}
                RfbEvent::Clipboard(text) => self.emit(UiEvent::Clipboard(text)),
                RfbEvent::Cursor(c) => self.display.set_cursor(&c, self.settings.show_dot),
                RfbEvent::DesktopName(name) => self.emit(UiEvent::DesktopName(name)),
                RfbEvent::Disconnected(e) => {
                    let retry = retryable(&e);
                    self.end(engine_error(&e), retry);
                }
            }
        }
        self.flush();
        if self.conn.framebuffer().damage_bounds().is_some() {
            self.schedule_frame();
        }
    }

    fn flush(&mut self) {
        if self.conn.has_output() {
            let out = self.conn.take_output();
            if let Some(t) = &self.transport {
                t.send(&out);
            }
        }
    }

    fn schedule_frame(&mut self) {
        if self.raf_id.is_some() {
            return;
        }
        let (Some(cb), Some(window)) = (&self.raf_cb, web_sys::window()) else { return };
        self.raf_id = window.request_animation_frame(cb.as_ref().unchecked_ref()).ok();
    }

    fn cancel_frame(&mut self) {
        if let (Some(id), Some(window)) = (self.raf_id.take(), web_sys::window()) {
            let _ = window.cancel_animation_frame(id);
        }
    }

    /// The animation frame: one blit of everything damaged since the last one.
    fn frame(&mut self) {
        self.raf_id = None;
        if let Some(r) = self.conn.framebuffer().damage_bounds() {
            if let Err(e) = self.display.blit(self.conn.framebuffer(), r) {
                web_sys::console::error_1(&format!("oxvnc: drawing failed: {e}").into());
            }
            self.conn.framebuffer_mut().clear_damage();
        }
    }

    fn input_allowed(&self) -> bool {
        !self.settings.view_only && !self.ended && self.conn.state() == State::Connected
    }

    fn key(&mut self, e: &KeyboardEvent, down: bool) {
        if !self.input_allowed() {
            return;
        }
        let id = HeldKeys::id(&e.key(), &e.code());
        if down {
            let Some(keysym) = keysym_for_event(e) else { return };
            e.prevent_default();
            for (k, d) in self.held.press(id, keysym) {
                self.conn.key(k, d);
            }
        } else {
            // Only keys this console pressed are released.
            let Some(keysym) = self.held.release(&id) else { return };
            e.prevent_default();
            self.conn.key(keysym, false);
        }
        self.flush();
    }

    /// `keypress` only reaches us for keys whose `keydown` we left alone: some synthetic or
    /// virtual keyboards give `keydown` no `key` at all ("" or "Unidentified") and carry the
    /// character only in `keypress`. Its release comes with the `keyup` of the same key.
    fn key_press_char(&mut self, e: &KeyboardEvent) {
        if !self.input_allowed() {
            return;
        }
        let Some(c) = char::from_u32(e.char_code()).filter(|c| !c.is_control()) else { return };
        e.prevent_default();
        let id = HeldKeys::id(&e.key(), &e.code());
        for (k, d) in self.held.press(id, crate::keys::keysym_for_char(c)) {
            self.conn.key(k, d);
        }
        self.flush();
    }

    fn release_keys(&mut self) {
        let keys = self.held.release_all();
        if self.input_allowed() {
            for k in keys {
                self.conn.key(k, false);
            }
            self.flush();
        }
    }

    /// Framebuffer coordinates of a mouse event on the canvas.
    fn position_of(&self, client_x: i32, client_y: i32) -> (u16, u16) {
        let canvas = self.display.canvas();
        let rect = canvas.get_bounding_client_rect();
        let (w, h) = (self.conn.framebuffer().width(), self.conn.framebuffer().height());
        to_framebuffer(
            f64::from(client_x) - rect.left(),
            f64::from(client_y) - rect.top(),
            rect.width(),
            rect.height(),
            w,
            h,
        )
    }

    fn pointer(&mut self, e: &PointerEvent) {
        if !self.input_allowed() {
            return;
        }
        let pos = self.position_of(e.client_x(), e.client_y());
        let buttons = mask_from_buttons(e.buttons());
        if (pos, buttons) == (self.position, self.buttons) {
            return;
        }
        self.position = pos;
        self.buttons = buttons;
        self.conn.pointer(pos.0, pos.1, buttons);
        self.flush();
    }

    fn wheel(&mut self, e: &WheelEvent) {
        if !self.input_allowed() {
            return;
        }
        e.prevent_default();
        let pos = self.position_of(e.client_x(), e.client_y());
        self.position = pos;
        for bit in self.wheel.add(e.delta_x(), e.delta_y(), e.delta_mode()) {
            self.conn.pointer(pos.0, pos.1, self.buttons | bit);
            self.conn.pointer(pos.0, pos.1, self.buttons);
        }
        self.flush();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.cancel_frame();
    }
}

/// Whether connecting again may help after `e`.
fn retryable(e: &oxvnc_rfb::Error) -> bool {
    !matches!(
        e,
        oxvnc_rfb::Error::AuthenticationFailed(_)
            | oxvnc_rfb::Error::TooManyAttempts
            | oxvnc_rfb::Error::NoSupportedSecurity(_)
            | oxvnc_rfb::Error::UnsupportedSecurity(_)
            | oxvnc_rfb::Error::UnsupportedVersion(..)
    )
}

/// Keyboard, pointer, wheel and context-menu listeners on the canvas, and the window resize
/// listener for fitting.
fn listeners(canvas: &HtmlCanvasElement, weak: &Weak<RefCell<Inner>>) -> Vec<EventListener> {
    let active = EventListenerOptions::enable_prevent_default();
    let mut out = Vec::new();
    for (name, down) in [("keydown", true), ("keyup", false)] {
        let weak = weak.clone();
        out.push(EventListener::new_with_options(canvas, name, active, move |e| {
            if let Some(e) = e.dyn_ref::<KeyboardEvent>() {
                with_inner(&weak, |i| i.key(e, down));
            }
        }));
    }
    {
        let weak = weak.clone();
        out.push(EventListener::new_with_options(canvas, "keypress", active, move |e| {
            if let Some(e) = e.dyn_ref::<KeyboardEvent>() {
                with_inner(&weak, |i| i.key_press_char(e));
            }
        }));
    }
    {
        let weak = weak.clone();
        out.push(EventListener::new(canvas, "blur", move |_| with_inner(&weak, Inner::release_keys)));
    }
    for name in ["pointerdown", "pointermove", "pointerup", "pointercancel"] {
        let weak = weak.clone();
        let target = canvas.clone();
        out.push(EventListener::new_with_options(canvas, name, active, move |e| {
            let Some(e) = e.dyn_ref::<PointerEvent>() else { return };
            if e.type_() == "pointerdown" {
                // Keep receiving moves and the release when the pointer leaves the canvas, and
                // take the keyboard focus (outside the session borrow: focus fires events).
                let _ = target.set_pointer_capture(e.pointer_id());
                let _ = target.focus();
                e.prevent_default();
            }
            with_inner(&weak, |i| i.pointer(e));
        }));
    }
    {
        let weak = weak.clone();
        out.push(EventListener::new_with_options(canvas, "wheel", active, move |e| {
            if let Some(e) = e.dyn_ref::<WheelEvent>() {
                with_inner(&weak, |i| i.wheel(e));
            }
        }));
    }
    out.push(EventListener::new_with_options(canvas, "contextmenu", active, |e| e.prevent_default()));
    if let Some(window) = web_sys::window() {
        let weak = weak.clone();
        out.push(EventListener::new(&window, "resize", move |_| with_inner(&weak, |i| i.display.fit())));
    }
    out
}
