//! One console session: the WebSocket, the RFB engine, the canvas and the input listeners, wired
//! together. Independent of Yew: the UI gets [`UiEvent`]s through a plain callback.
//!
//! Hot path: `onmessage` → the `ArrayBuffer` copied once into a reused buffer in wasm memory →
//! [`Connection::receive`] (decoders write into the framebuffer) → output flushed, events handled
//! → at most one `requestAnimationFrame` pending → one `putImageData` of the damage bounds.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_events::{EventListener, EventListenerOptions};
use gloo_timers::callback::Timeout;
use js_sys::{ArrayBuffer, Uint8Array};
use oxvnc_rfb::{Config, Connection, Credentials, Event as RfbEvent, State, XvpAction};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{
    ClipboardEvent, CompositionEvent, HtmlCanvasElement, HtmlElement, HtmlTextAreaElement, InputEvent, KeyboardEvent,
    PointerEvent, WheelEvent,
};

use crate::display::Display;
use crate::keys::{IME_KEY_CODE, KeyEvent, Keyboard, is_apple_platform};
use crate::messages::{Progress, close_message, engine_error};
use crate::pointer::{WheelAccumulator, ext_mask_from_buttons, to_framebuffer};
use crate::settings::{ResizeMode, Settings, remote_size};
use crate::text_input::TextInput;
use crate::touch::{PointerState, TouchGestures};
use crate::transport::{Handlers, Transport};

/// What the session tells the UI.
#[derive(Clone, Debug, PartialEq)]
pub enum UiEvent {
    /// The WebSocket is opening.
    Connecting {
        url: String,
    },
    /// The WebSocket is open; the VNC handshake runs.
    Opened,
    /// The server wants a password (and a user name when `username`).
    CredentialsRequired {
        username: bool,
    },
    /// The VNC server's TLS certificate cannot be checked: the person decides whether to trust
    /// it (answer with [`Session::trust_certificate`]).
    CertificateUnknown {
        fingerprint: String,
    },
    Connected {
        name: String,
        width: u16,
        height: u16,
    },
    Resized {
        width: u16,
        height: u16,
    },
    DesktopName(String),
    /// Text the server put on its clipboard.
    Clipboard(String),
    /// The server accepts power actions (shutdown, reboot, reset).
    PowerAvailable,
    /// Something did not work but the session goes on, as a sentence.
    Notice(String),
    /// The server rang the bell.
    Bell,
    /// The session is over. `retry` is false when trying again cannot help (wrong password).
    Disconnected {
        message: String,
        retry: bool,
    },
}

/// resize=remote: how long the window must keep its size before the server is asked to match.
const REMOTE_RESIZE_DEBOUNCE_MS: u32 = 250;

/// Receive buffers above this size are not kept between messages.
const MAX_KEPT_RX: usize = 8 << 20;

/// Where the first complete frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FirstFrame {
    Waiting,
    Arrived,
    Drawn,
}

/// The page global that receives `performance.now()` at the first blit after the whole screen
/// arrived, once per page: navigation to first complete frame, for tests and benchmarks.
pub const FIRST_FRAME_GLOBAL: &str = "oxvncFirstFrameMs";

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
    keyboard: Keyboard,
    /// The hidden text area that holds the keyboard focus, so IMEs and virtual keyboards work.
    text_area: HtmlTextAreaElement,
    text: TextInput,
    touch: TouchGestures,
    /// Pixels of framebuffer updates since connecting, until the whole screen was covered once.
    covered: u64,
    /// The whole screen has arrived; the next blit is the first complete frame.
    first_frame: FirstFrame,
    /// resize=remote: the size last asked of the server, and the pending debounce after a
    /// window resize.
    remote_requested: Option<(u16, u16)>,
    remote_checked: bool,
    resize_timer: Option<Timeout>,
    /// This session, for timer callbacks.
    this: Weak<RefCell<Inner>>,
    /// Buttons held, as an extended mask (bit 8 is forward).
    buttons: u16,
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
    /// Opens the WebSocket for `settings` and starts drawing into `canvas`; keyboard input comes
    /// from `canvas` and from `text_area` (a hidden text area that takes the focus, so that IME
    /// composition and virtual keyboards have somewhere to type).
    pub fn start(
        settings: Settings,
        canvas: HtmlCanvasElement,
        text_area: HtmlTextAreaElement,
        ui: Rc<dyn Fn(UiEvent)>,
    ) -> Result<Session, String> {
        mark("oxvnc:session-start");
        // Embedders that use the Yew component directly have not been through an entry point.
        crate::fatal::install();
        let url = settings.websocket_url()?;
        let tls = settings.tls_config()?;
        if settings.needs_ca_fetch() {
            // The page fetches `ca=` before it starts a session; connecting without it would
            // fall back to asking about the certificate.
            return Err("The server CA certificate has not been fetched from its URL yet; connect again.".into());
        }
        let mut display = Display::new(canvas.clone())?;
        display.set_mode(settings.resize);
        display.reset_cursor();
        let config = Config {
            shared: settings.shared,
            credentials: settings.password.clone().map(|password| Credentials { username: None, password }),
            quality: settings.quality,
            compression: settings.compression,
            lossless: settings.lossless,
            tls,
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
            keyboard: Keyboard::new(apple_platform()),
            text_area: text_area.clone(),
            text: TextInput::default(),
            touch: TouchGestures::default(),
            covered: 0,
            first_frame: FirstFrame::Waiting,
            remote_requested: None,
            remote_checked: false,
            resize_timer: None,
            this: Weak::new(),
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
        let transport =
            Transport::open(&url, handlers).map_err(|e| format!("The browser refused to open {url}: {e}."))?;
        crate::fatal::watch(&canvas, transport.socket());
        let listeners = listeners(&canvas, &text_area, &weak);
        {
            let mut i = inner.borrow_mut();
            i.raf_cb = Some(frame);
            i.this = weak.clone();
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

    /// Answers [`UiEvent::CertificateUnknown`]: go on with the server's certificate, or close.
    pub fn trust_certificate(&self, trust: bool) {
        self.run(|i| {
            if trust {
                // An error here is also raised as RfbEvent::Disconnected, handled by pump.
                let _ = i.conn.trust_certificate();
            } else {
                i.conn.reject_certificate();
            }
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

    /// Sends one key press or release with its physical key (`KeyboardEvent.code`, may be
    /// empty), as the embedding API's `sendKey` does.
    pub fn send_key_code(&self, keysym: u32, code: &str, down: bool) {
        self.run(|i| {
            if i.input_allowed() {
                i.conn.key_with_code(keysym, code, down);
                i.flush();
            }
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

    /// Switches view-only on or off during the session. Keys and buttons held when it goes on
    /// are released at the server first, so nothing stays pressed there.
    pub fn set_view_only(&self, view_only: bool) {
        self.run(|i| {
            if view_only && !i.settings.view_only {
                i.release_keys();
                if i.buttons != 0 && i.input_allowed() {
                    i.buttons = 0;
                    i.conn.pointer_ext(i.position.0, i.position.1, 0);
                    i.flush();
                }
                i.wheel.reset();
                i.touch.reset();
            }
            i.settings.view_only = view_only;
        });
    }

    pub fn set_resize(&self, mode: ResizeMode) {
        self.run(|i| {
            i.settings.resize = mode;
            i.display.set_mode(mode);
            i.request_remote_size();
        });
    }

    /// Asks the server to shut down, reboot or reset the machine (XVP).
    pub fn power(&self, action: XvpAction) {
        self.run(|i| {
            if i.input_allowed() && i.conn.xvp(action) {
                i.flush();
            }
        });
    }

    /// Recomputes the canvas's CSS size (after the page layout changed).
    pub fn refit(&self) {
        self.run(|i| i.display.fit());
    }

    /// Gives the console the keyboard focus (its hidden text area; on touch screens this brings
    /// up the on-screen keyboard).
    pub fn focus(&self) {
        let text_area = self.inner.borrow().text_area.clone();
        focus_without_scrolling(&text_area);
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
            mark("oxvnc:websocket-open");
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
        if self.conn.error().is_none() && code == 1006 && self.progress == Progress::NotOpened {
            // The browser does not say why the handshake failed; oxvnc serve does, when asked.
            let (weak, url) = (self.this.clone(), self.url.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let refused = relay_refusal(&url).await;
                with_inner(&weak, |i| match refused {
                    Some((message, retry)) => i.end(message, retry),
                    None => i.end(message, retry),
                });
            });
            return;
        }
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
        self.keyboard.release_all();
        self.buttons = 0;
        self.wheel.reset();
        self.touch.reset();
        self.emit(UiEvent::Disconnected { message, retry });
    }

    /// Sends what the engine wants sent, handles its events, and asks for a frame if anything
    /// was drawn.
    fn pump(&mut self) {
        self.flush();
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                RfbEvent::CredentialsRequired { username } => self.emit(UiEvent::CredentialsRequired { username }),
                RfbEvent::CertificateUnknown { fingerprint_sha256 } => {
                    self.emit(UiEvent::CertificateUnknown { fingerprint: fingerprint_sha256 })
                }
                RfbEvent::TlsRequired { config, anonymous } => self.start_tls(config, anonymous),
                RfbEvent::Connected { width, height, name } => {
                    self.progress = Progress::Connected;
                    mark("oxvnc:server-init");
                    self.display.resize(width, height);
                    self.emit(UiEvent::Connected { name, width, height });
                }
                RfbEvent::Resized { width, height } => {
                    self.display.resize(width, height);
                    self.emit(UiEvent::Resized { width, height });
                }
                RfbEvent::UpdateComplete => {
                    // The server says whether it can resize in its first update.
                    if !self.remote_checked && self.conn.supports_set_desktop_size() {
                        self.remote_checked = true;
                        self.request_remote_size();
                    }
                    if self.first_frame == FirstFrame::Waiting {
                        let fb = self.conn.framebuffer();
                        let screen = u64::from(fb.width()) * u64::from(fb.height());
                        self.covered = self.covered.saturating_add(self.conn.last_update_area());
                        if screen > 0 && self.covered >= screen {
                            mark("oxvnc:first-update-decoded");
                            self.first_frame = FirstFrame::Arrived;
                        }
                    }
                }
                RfbEvent::Bell => self.emit(UiEvent::Bell),
                RfbEvent::LedState { .. } => {}
                RfbEvent::ResizeRefused { reason, .. } => {
                    let why = if reason.trim().is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", reason.trim().trim_end_matches('.'))
                    };
                    self.emit(UiEvent::Notice(format!(
                        "The server did not change its desktop size to fit the window{why}; it is scaled instead."
                    )));
                }
                RfbEvent::PowerControlAvailable => self.emit(UiEvent::PowerAvailable),
                RfbEvent::PowerActionFailed => {
                    self.emit(UiEvent::Notice("The server could not carry out the power action.".into()))
                }
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

    /// VeNCrypt starts TLS: the TLS module is loaded (the first time) and the session handed to
    /// the engine, which sends nothing meanwhile.
    fn start_tls(&mut self, config: oxvnc_rfb::TlsConfig, anonymous: bool) {
        let weak = self.this.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let session = crate::tls::start(&config, anonymous).await;
            with_inner(&weak, |i| {
                if i.ended {
                    return;
                }
                match session {
                    // An error is raised as RfbEvent::Disconnected, which pump handles.
                    Ok(s) => drop(i.conn.start_tls(s)),
                    Err(e) => i.conn.fail_tls(e),
                }
                i.pump();
            });
        });
    }

    /// resize=remote: asks the server for the screen area's size in device pixels, unless that
    /// is its size already or was asked for last. Servers without SetDesktopSize stay scaled.
    fn request_remote_size(&mut self) {
        if self.settings.resize != ResizeMode::Remote || !self.conn.supports_set_desktop_size() {
            return;
        }
        let Some(window) = web_sys::window() else { return };
        let Some(area) = self.display.canvas().parent_element() else { return };
        let dpr = window.device_pixel_ratio();
        let css = (f64::from(area.client_width()), f64::from(area.client_height()));
        let Some(size) = remote_size(css.0, css.1, dpr, oxvnc_rfb::MAX_DIMENSION) else { return };
        let fb = self.conn.framebuffer();
        if size == (fb.width(), fb.height()) || Some(size) == self.remote_requested {
            return;
        }
        if self.conn.set_desktop_size(size.0, size.1) {
            self.remote_requested = Some(size);
            self.flush();
        }
    }

    /// The window was resized: fit now, ask the server for the new size once resizing stops.
    fn window_resized(&mut self) {
        self.display.fit();
        if self.settings.resize == ResizeMode::Remote {
            let weak = self.this.clone();
            self.resize_timer =
                Some(Timeout::new(REMOTE_RESIZE_DEBOUNCE_MS, move || with_inner(&weak, Inner::request_remote_size)));
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
            if self.first_frame == FirstFrame::Arrived {
                self.first_frame = FirstFrame::Drawn;
                record_first_frame();
            }
        }
    }

    fn input_allowed(&self) -> bool {
        !self.settings.view_only && !self.ended && self.conn.state() == State::Connected
    }

    fn send_keys_now(&mut self, keys: &[(u32, bool)]) {
        for &(k, d) in keys {
            self.conn.key(k, d);
        }
        if !keys.is_empty() {
            self.flush();
        }
    }

    /// Key events with their physical keys: servers that take scancodes (QEMU) get them.
    fn send_key_events(&mut self, keys: &[KeyEvent]) {
        for k in keys {
            self.conn.key_with_code(k.keysym, &k.code, k.down);
        }
        if !keys.is_empty() {
            self.flush();
        }
    }

    fn key(&mut self, e: &KeyboardEvent, down: bool) {
        if !self.input_allowed() {
            return;
        }
        // The IME or the virtual keyboard has this key; its text comes with composition and
        // input events.
        if down && (e.is_composing() || e.key_code() == IME_KEY_CODE) {
            return;
        }
        let action = if down {
            self.keyboard.down(&e.key(), &e.code(), e.meta_key())
        } else {
            self.keyboard.up(&e.key(), &e.code())
        };
        if action.prevent_default {
            e.prevent_default();
        }
        if down && !action.send.is_empty() {
            self.text.key_down();
        }
        self.send_key_events(&action.send);
    }

    /// `keypress` only reaches us for keys whose `keydown` we left alone: some synthetic or
    /// virtual keyboards give `keydown` no `key` at all ("" or "Unidentified") and carry the
    /// character only in `keypress`. Its release comes with the `keyup` of the same key.
    fn key_press_char(&mut self, e: &KeyboardEvent) {
        if !self.input_allowed() || self.text.composing() {
            return;
        }
        let Some(c) = char::from_u32(e.char_code()).filter(|c| !c.is_control()) else { return };
        e.prevent_default();
        self.text.key_down();
        let keys = self.keyboard.press_char(&e.key(), &e.code(), crate::keys::keysym_for_char(c));
        self.send_key_events(&keys);
    }

    fn release_keys(&mut self) {
        let keys = self.keyboard.release_all();
        if self.input_allowed() {
            self.send_key_events(&keys);
        }
    }

    fn composition_start(&mut self) {
        self.text.composition_start();
    }

    fn composition_end(&mut self, e: &CompositionEvent) {
        let keys = self.text.composition_end_event(e);
        self.text_area.set_value("");
        if self.input_allowed() {
            self.send_keys_now(&keys);
        }
    }

    /// Text typed into the hidden text area (virtual keyboards, and what an IME commits in
    /// browsers that report it here).
    fn input(&mut self, e: &InputEvent) {
        let keys = self.text.input_event(e);
        if !self.text.composing() {
            self.text_area.set_value("");
        }
        if self.input_allowed() {
            self.send_keys_now(&keys);
        }
    }

    /// A paste into the console (Cmd+V on a Mac, the browser's Paste menu): the text goes to the
    /// remote clipboard.
    fn paste(&mut self, e: &ClipboardEvent) {
        if !self.input_allowed() {
            return;
        }
        let Some(text) = e.clipboard_data().and_then(|d| d.get_data("text/plain").ok()) else { return };
        e.prevent_default();
        if !text.is_empty() {
            self.conn.clipboard(&text);
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
        if e.pointer_type() == "touch" {
            return self.touch_pointer(e);
        }
        let pos = self.position_of(e.client_x(), e.client_y());
        let buttons = ext_mask_from_buttons(e.buttons());
        if (pos, buttons) == (self.position, self.buttons) {
            return;
        }
        self.position = pos;
        self.buttons = buttons;
        self.conn.pointer_ext(pos.0, pos.1, buttons);
        self.flush();
    }

    /// A touch pointer event, through the gesture recogniser.
    fn touch_pointer(&mut self, e: &PointerEvent) {
        let rect = self.display.canvas().get_bounding_client_rect();
        let (x, y) = (f64::from(e.client_x()) - rect.left(), f64::from(e.client_y()) - rect.top());
        let id = e.pointer_id();
        let states = match e.type_().as_str() {
            "pointerdown" => self.touch.down(id, x, y),
            "pointermove" => self.touch.moved(id, x, y),
            "pointerup" => self.touch.up(id, x, y),
            _ => self.touch.cancel(id),
        };
        let (w, h) = (self.conn.framebuffer().width(), self.conn.framebuffer().height());
        for PointerState { x, y, buttons } in states {
            let pos = to_framebuffer(x, y, rect.width(), rect.height(), w, h);
            self.position = pos;
            self.buttons = u16::from(buttons);
            self.conn.pointer_ext(pos.0, pos.1, self.buttons);
        }
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
            self.conn.pointer_ext(pos.0, pos.1, self.buttons | u16::from(bit));
            self.conn.pointer_ext(pos.0, pos.1, self.buttons);
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
            | oxvnc_rfb::Error::CertificateUnknown { .. }
            | oxvnc_rfb::Error::CertificateNameMismatch { .. }
            | oxvnc_rfb::Error::CertificateExpired { .. }
            | oxvnc_rfb::Error::CertificatePinMismatch { .. }
            | oxvnc_rfb::Error::CertificateRejected { .. }
            | oxvnc_rfb::Error::AnonymousTlsUnsupported
    )
}

/// Whether the browser runs on macOS or iOS.
fn apple_platform() -> bool {
    web_sys::window().and_then(|w| w.navigator().platform().ok()).is_some_and(|p| is_apple_platform(&p))
}

/// Focuses `el` without scrolling the page or the screen area to it.
fn focus_without_scrolling(el: &HtmlElement) {
    let options = web_sys::FocusOptions::new();
    options.set_prevent_scroll(true);
    let _ = el.focus_with_options(&options);
}

/// Asks the relay behind the WebSocket URL `url` why it refused the handshake: the same URL over
/// HTTP with the `X-Oxvnc-Check` header (carrying the page's origin, which browsers leave out of
/// a same-origin GET). `None` when the answer explains nothing or there is none (another relay,
/// an unreachable host, a cross-origin relay without CORS).
async fn relay_refusal(url: &str) -> Option<(String, bool)> {
    let http = if let Some(rest) = url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else {
        format!("http://{}", url.strip_prefix("ws://")?)
    };
    let window = web_sys::window()?;
    let origin = window.location().origin().ok()?;
    let headers = js_sys::Object::new();
    js_sys::Reflect::set(&headers, &"X-Oxvnc-Check".into(), &origin.into()).ok()?;
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_headers(&headers);
    // With the page's cookies, as the handshake had them (a `token` cookie may be what was
    // refused). A relay lets only origins it admits send them; from any other origin that
    // request fails, and the check is asked again without them ("origin not allowed").
    init.set_credentials(web_sys::RequestCredentials::Include);
    let response = match wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init(&http, &init)).await {
        Ok(r) => r,
        Err(_) => {
            init.set_credentials(web_sys::RequestCredentials::Omit);
            wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init(&http, &init)).await.ok()?
        }
    };
    let response: web_sys::Response = response.dyn_into().ok()?;
    let status = response.status();
    let text = wasm_bindgen_futures::JsFuture::from(response.text().ok()?).await.ok()?.as_string()?;
    crate::messages::refusal_message(status, &text)
}

/// A `performance.mark()` on the page's timeline, so the time to the first frame can be taken
/// apart (the first-frame test prints them; DevTools shows them).
pub(crate) fn mark(name: &str) {
    if let Some(perf) = web_sys::window().and_then(|w| w.performance()) {
        let _ = perf.mark(name);
    }
}

/// Sets [`FIRST_FRAME_GLOBAL`] to `performance.now()` unless a session of this page already did.
fn record_first_frame() {
    let Some(window) = web_sys::window() else { return };
    let key = JsValue::from_str(FIRST_FRAME_GLOBAL);
    if js_sys::Reflect::has(&window, &key).unwrap_or(true) {
        return;
    }
    if let Some(perf) = window.performance() {
        let _ = js_sys::Reflect::set(&window, &key, &JsValue::from_f64(perf.now()));
    }
}

/// Keyboard listeners on the canvas and the hidden text area (composition, input and paste on
/// both), pointer, wheel and context-menu listeners on the canvas, and the window resize
/// listener for fitting.
fn listeners(
    canvas: &HtmlCanvasElement,
    text_area: &HtmlTextAreaElement,
    weak: &Weak<RefCell<Inner>>,
) -> Vec<EventListener> {
    let active = EventListenerOptions::enable_prevent_default();
    let mut out = Vec::new();
    let keyboard_targets: [&web_sys::EventTarget; 2] = [canvas, text_area];
    for target in keyboard_targets {
        for (name, down) in [("keydown", true), ("keyup", false)] {
            let weak = weak.clone();
            out.push(EventListener::new_with_options(target, name, active, move |e| {
                if let Some(e) = e.dyn_ref::<KeyboardEvent>() {
                    with_inner(&weak, |i| i.key(e, down));
                }
            }));
        }
        {
            let weak = weak.clone();
            out.push(EventListener::new_with_options(target, "keypress", active, move |e| {
                if let Some(e) = e.dyn_ref::<KeyboardEvent>() {
                    with_inner(&weak, |i| i.key_press_char(e));
                }
            }));
        }
        {
            let weak = weak.clone();
            out.push(EventListener::new(target, "blur", move |_| with_inner(&weak, Inner::release_keys)));
        }
        {
            let weak = weak.clone();
            out.push(EventListener::new_with_options(target, "paste", active, move |e| {
                if let Some(e) = e.dyn_ref::<ClipboardEvent>() {
                    with_inner(&weak, |i| i.paste(e));
                }
            }));
        }
    }
    {
        let weak = weak.clone();
        out.push(EventListener::new(text_area, "compositionstart", move |_| {
            with_inner(&weak, Inner::composition_start)
        }));
    }
    {
        let weak = weak.clone();
        out.push(EventListener::new(text_area, "compositionend", move |e| {
            if let Some(e) = e.dyn_ref::<CompositionEvent>() {
                with_inner(&weak, |i| i.composition_end(e));
            }
        }));
    }
    {
        let weak = weak.clone();
        out.push(EventListener::new(text_area, "input", move |e| {
            if let Some(e) = e.dyn_ref::<InputEvent>() {
                with_inner(&weak, |i| i.input(e));
            }
        }));
    }
    for name in ["pointerdown", "pointermove", "pointerup", "pointercancel"] {
        let weak = weak.clone();
        let target = canvas.clone();
        let text_area = text_area.clone();
        out.push(EventListener::new_with_options(canvas, name, active, move |e| {
            let Some(e) = e.dyn_ref::<PointerEvent>() else { return };
            if e.type_() == "pointerdown" {
                // Keep receiving moves and the release when the pointer leaves the canvas, and
                // take the keyboard focus (outside the session borrow: focus fires events). A
                // touch does not: it would pop up the on-screen keyboard at every tap (the
                // toolbar's Keyboard button does that).
                let _ = target.set_pointer_capture(e.pointer_id());
                if e.pointer_type() != "touch" {
                    focus_without_scrolling(&text_area);
                }
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
        out.push(EventListener::new(&window, "resize", move |_| with_inner(&weak, Inner::window_resized)));
    }
    out
}
