//! Embedding the console in any page: [`EmbeddedConsole`] (Rust, used by the Yew
//! [`crate::component::VncConsole`]) and its JavaScript face [`Console`]:
//!
//! ```js
//! import init, { Console } from "./pkg/oxvnc_client.js";
//! await init();
//! const el = document.getElementById("screen");
//! el.addEventListener("connect", () => console.log("connected"));
//! el.addEventListener("disconnect", (e) => console.log(e.detail.clean, e.detail.reason));
//! const rfb = new Console(el, "ws://relay:6080/websockify?token=vm1", { resize: "scale" });
//! ```
//!
//! Each console draws into its own canvas inside the element and takes keyboard input only
//! while it has the focus (a click on its screen, or [`Console::focus`]), so several consoles on
//! one page are independent. Events are `CustomEvent`s dispatched on the element (they bubble):
//! `connect`, `disconnect` {clean, reason}, `credentialsrequired` {types}, `securityfailure`
//! {status, reason}, `serververification` {type, fingerprint}, `clipboard` {text}, `bell`,
//! `desktopname` {name}, `resize` {width, height}, `capabilities` {power}, `notice` {message}.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use oxvnc_rfb::{Credentials, XvpAction, keysym};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{CustomEvent, CustomEventInit, Element, HtmlCanvasElement, HtmlElement, HtmlTextAreaElement};

use crate::session::{Session, UiEvent};
use crate::settings::{PageLocation, ResizeMode, Settings};

/// How a console connects and behaves; the options of [`Console`]'s constructor.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ConsoleOptions {
    /// Sent when the server asks for them (once; a second request raises
    /// [`ConsoleEvent::CredentialsRequired`]).
    pub credentials: Option<Credentials>,
    /// Share the desktop with other clients (default true).
    pub shared: Option<bool>,
    /// Show the screen only: no keys, pointer or clipboard go to the server.
    pub view_only: bool,
    pub resize: ResizeMode,
    /// JPEG quality 0–9 offered to the server (lossy); `None` keeps the picture lossless.
    pub quality: Option<u8>,
    /// Compression level 0–9 offered to the server.
    pub compression: Option<u8>,
    /// Never accept lossy (JPEG) pictures, whatever `quality` says.
    pub lossless: bool,
    /// Show a small dot when the server hides its cursor.
    pub show_dot_cursor: bool,
    /// The CA certificate(s), PEM, that the VNC server's TLS certificate must be signed by.
    pub tls_ca: Option<String>,
    /// The SHA-256 fingerprint of the VNC server's certificate (hex, colons optional): that
    /// certificate is accepted without asking, any other refused.
    pub tls_fingerprint: Option<String>,
}

/// What a console tells its page.
#[derive(Clone, Debug, PartialEq)]
pub enum ConsoleEvent {
    /// The WebSocket to the relay is open and the VNC handshake runs. Not a DOM event (the
    /// JavaScript API has no `open` event); the console page shows it in its status line.
    Opened,
    /// The desktop is on screen and takes input.
    Connect,
    /// The session ended; `clean` when the page asked for it ([`EmbeddedConsole::disconnect`]).
    Disconnect {
        clean: bool,
        reason: String,
    },
    /// The server asks for credentials: `["password"]` or `["username", "password"]`.
    CredentialsRequired {
        types: Vec<&'static str>,
    },
    /// Authentication or the security handshake failed (wrong password, no common security
    /// type, an untrusted certificate); a `Disconnect` follows.
    SecurityFailure {
        status: u32,
        reason: String,
    },
    /// The VNC server's TLS certificate cannot be checked; answer with
    /// [`EmbeddedConsole::trust_certificate`].
    ServerVerification {
        fingerprint: String,
    },
    Clipboard(String),
    Bell,
    DesktopName(String),
    Resize {
        width: u16,
        height: u16,
    },
    /// What the server supports beyond the basics: `power` (shutdown, reboot, reset).
    Capabilities {
        power: bool,
    },
    /// Something did not work but the session goes on, as a sentence.
    Notice(String),
}

impl ConsoleEvent {
    /// Whether [`dispatch`] raises this event on the element (all but [`ConsoleEvent::Opened`]).
    pub fn is_dom_event(&self) -> bool {
        !matches!(self, ConsoleEvent::Opened)
    }

    /// The DOM event type.
    pub fn name(&self) -> &'static str {
        match self {
            ConsoleEvent::Opened => "open",
            ConsoleEvent::Connect => "connect",
            ConsoleEvent::Disconnect { .. } => "disconnect",
            ConsoleEvent::CredentialsRequired { .. } => "credentialsrequired",
            ConsoleEvent::SecurityFailure { .. } => "securityfailure",
            ConsoleEvent::ServerVerification { .. } => "serververification",
            ConsoleEvent::Clipboard(_) => "clipboard",
            ConsoleEvent::Bell => "bell",
            ConsoleEvent::DesktopName(_) => "desktopname",
            ConsoleEvent::Resize { .. } => "resize",
            ConsoleEvent::Capabilities { .. } => "capabilities",
            ConsoleEvent::Notice(_) => "notice",
        }
    }
}

/// The console's part of the page: a box filling the element, the canvas, and the hidden text
/// area that holds the keyboard focus.
struct Parts {
    host: Element,
    wrapper: HtmlElement,
    canvas: HtmlCanvasElement,
    text_area: HtmlTextAreaElement,
}

struct Core {
    parts: Parts,
    session: RefCell<Option<Session>>,
    on_event: Rc<dyn Fn(ConsoleEvent)>,
    credentials: RefCell<Option<Credentials>>,
    connected: Cell<bool>,
    ended: Cell<bool>,
    power: Cell<bool>,
    view_only: Cell<bool>,
    resize: Cell<ResizeMode>,
    _resize_observer: Option<Observer>,
}

/// A `ResizeObserver` on the console's box and its callback (refits the canvas).
type Observer = (web_sys::ResizeObserver, Closure<dyn FnMut(JsValue)>);

/// A console embedded in an element of the page (the Rust API behind [`Console`]).
pub struct EmbeddedConsole {
    core: Rc<Core>,
}

/// Settings for `url` (`ws://`, `wss://`, `http(s)://` or a path, resolved against the page).
pub fn settings_for(url: &str, options: &ConsoleOptions) -> Result<Settings, String> {
    let window = web_sys::window().ok_or("no window")?;
    let base = window.location().href().unwrap_or_default();
    let parsed = web_sys::Url::new_with_base(url, &base).map_err(|_| format!("\"{url}\" is not a URL."))?;
    let protocol = parsed.protocol();
    let encrypt = match protocol.as_str() {
        "ws:" | "http:" => false,
        "wss:" | "https:" => true,
        other => return Err(format!("\"{url}\" is not a WebSocket URL ({other} is not ws:, wss:, http: or https:).")),
    };
    let page = PageLocation {
        protocol: if encrypt { "https:".into() } else { "http:".into() },
        hostname: parsed.hostname(),
        port: parsed.port(),
    };
    let mut s = Settings::defaults(&page);
    s.path = format!("{}{}", parsed.pathname(), parsed.search()).trim_start_matches('/').to_string();
    s.encrypt = encrypt;
    s.autoconnect = true;
    s.view_only = options.view_only;
    s.resize = options.resize;
    if let Some(shared) = options.shared {
        s.shared = shared;
    }
    s.show_dot = options.show_dot_cursor;
    s.lossless = options.lossless;
    s.quality = options.quality.map(|q| q.min(9));
    s.compression = options.compression.map(|c| c.min(9));
    s.tls_ca = options.tls_ca.clone().filter(|c| !c.trim().is_empty());
    s.tls_fingerprint = options.tls_fingerprint.clone().filter(|f| !f.trim().is_empty());
    // Bad TLS options are the caller's mistake: say so now rather than at the first TLS server.
    s.tls_config()?;
    Ok(s)
}

fn create<T: JsCast>(doc: &web_sys::Document, tag: &str) -> Result<T, String> {
    doc.create_element(tag)
        .map_err(|_| format!("cannot create a <{tag}>"))?
        .dyn_into::<T>()
        .map_err(|_| format!("<{tag}> has an unexpected type"))
}

fn set_styles(el: &HtmlElement, styles: &[(&str, &str)]) {
    let style = el.style();
    for (k, v) in styles {
        let _ = style.set_property(k, v);
    }
}

/// The console box's overflow and alignment for a view mode: scrollbars at 1:1, centred when
/// the canvas is fitted.
fn wrapper_layout(resize: ResizeMode) -> [(&'static str, &'static str); 3] {
    let fits = resize.fits();
    [
        ("overflow", if fits { "hidden" } else { "auto" }),
        ("align-items", if fits { "center" } else { "flex-start" }),
        ("justify-content", if fits { "center" } else { "flex-start" }),
    ]
}

impl Parts {
    fn new(host: Element, resize: ResizeMode) -> Result<Parts, String> {
        let doc = host.owner_document().ok_or("the element is not in a document")?;
        let wrapper: HtmlElement = create(&doc, "div")?;
        wrapper.set_class_name("oxvnc-embed");
        set_styles(&wrapper, &[("position", "relative"), ("width", "100%"), ("height", "100%"), ("display", "flex")]);
        set_styles(&wrapper, &wrapper_layout(resize));
        let canvas: HtmlCanvasElement = create(&doc, "canvas")?;
        canvas.set_class_name("oxvnc-canvas");
        canvas.set_tab_index(0);
        let _ = canvas.set_attribute("aria-label", "Remote desktop");
        set_styles(&canvas, &[("outline", "none"), ("flex", "none")]);
        let text_area: HtmlTextAreaElement = create(&doc, "textarea")?;
        text_area.set_class_name("oxvnc-keyboard");
        text_area.set_tab_index(-1);
        for (k, v) in [
            ("aria-label", "Keyboard input for the remote desktop"),
            ("autocomplete", "off"),
            ("autocorrect", "off"),
            ("autocapitalize", "off"),
            ("spellcheck", "false"),
        ] {
            let _ = text_area.set_attribute(k, v);
        }
        // Out of sight but focusable, so IMEs and on-screen keyboards have somewhere to type.
        set_styles(
            &text_area,
            &[
                ("position", "absolute"),
                ("left", "0"),
                ("top", "0"),
                ("width", "1px"),
                ("height", "1px"),
                ("opacity", "0"),
                ("border", "0"),
                ("padding", "0"),
                ("resize", "none"),
                ("overflow", "hidden"),
                ("pointer-events", "none"),
            ],
        );
        wrapper.append_child(&canvas).map_err(|_| "cannot add the canvas")?;
        wrapper.append_child(&text_area).map_err(|_| "cannot add the keyboard input")?;
        host.append_child(&wrapper).map_err(|_| "cannot add the console to the element")?;
        Ok(Parts { host, wrapper, canvas, text_area })
    }
}

impl Drop for Parts {
    fn drop(&mut self) {
        if self.wrapper.parent_node().is_some_and(|p| p.is_same_node(Some(&self.host))) {
            let _ = self.host.remove_child(&self.wrapper);
        }
    }
}

impl EmbeddedConsole {
    /// Connects to `url` and shows the desktop inside `element` (which it fills); `on_event` hears
    /// what happens.
    pub fn start(
        element: Element,
        url: &str,
        options: ConsoleOptions,
        on_event: Rc<dyn Fn(ConsoleEvent)>,
    ) -> Result<EmbeddedConsole, String> {
        let settings = settings_for(url, &options)?;
        let parts = Parts::new(element, options.resize)?;
        let canvas = parts.canvas.clone();
        let text_area = parts.text_area.clone();
        let core = Rc::new_cyclic(|weak: &Weak<Core>| {
            let observer = resize_observer(weak.clone(), &parts.wrapper);
            Core {
                parts,
                session: RefCell::new(None),
                on_event,
                credentials: RefCell::new(options.credentials.clone()),
                connected: Cell::new(false),
                ended: Cell::new(false),
                power: Cell::new(false),
                view_only: Cell::new(options.view_only),
                resize: Cell::new(options.resize),
                _resize_observer: observer,
            }
        });
        let weak = Rc::downgrade(&core);
        let ui: Rc<dyn Fn(UiEvent)> = Rc::new(move |e| {
            if let Some(core) = weak.upgrade() {
                core.session_event(e);
            }
        });
        let session = Session::start(settings, canvas, text_area, ui)?;
        *core.session.borrow_mut() = Some(session);
        Ok(EmbeddedConsole { core })
    }

    /// Closes the session; a `Disconnect { clean: true }` follows (unless it had ended already).
    pub fn disconnect(&self) {
        self.core.disconnect();
    }

    /// Answers `CredentialsRequired`.
    pub fn send_credentials(&self, credentials: Credentials) {
        self.core.with_session(|s| s.send_credentials(credentials));
    }

    /// Sends one key press (`down`) or release, as a keysym. `code` is the physical key
    /// (`KeyboardEvent.code`, may be empty); without `down` the key is pressed and released.
    pub fn send_key(&self, keysym: u32, code: &str, down: Option<bool>) {
        if self.core.view_only.get() || !self.core.connected.get() {
            return;
        }
        let presses = match down {
            Some(d) => vec![d],
            None => vec![true, false],
        };
        for d in presses {
            self.core.with_session(|s| s.send_key_code(keysym, code, d));
        }
    }

    /// Answers `ServerVerification`: go on with the server's certificate, or close.
    pub fn trust_certificate(&self, trust: bool) {
        self.core.with_session(|s| s.trust_certificate(trust));
    }

    /// Sends key presses and releases (keysyms) in order, e.g. a chord from a toolbar; nothing
    /// unless connected and not view-only.
    pub fn send_keys(&self, keys: &[(u32, bool)]) {
        self.core.send_keys(keys);
    }

    pub fn send_ctrl_alt_del(&self) {
        let down = [keysym::CONTROL_L, keysym::ALT_L, keysym::DELETE];
        let keys: Vec<(u32, bool)> =
            down.iter().map(|&k| (k, true)).chain(down.iter().rev().map(|&k| (k, false))).collect();
        self.core.send_keys(&keys);
    }

    /// Puts `text` on the server's clipboard.
    pub fn clipboard_paste(&self, text: &str) {
        if !self.core.view_only.get() {
            self.core.with_session(|s| s.send_clipboard(text));
        }
    }

    /// Gives this console the keyboard focus.
    pub fn focus(&self) {
        match self.core.session.try_borrow().ok().as_ref().and_then(|s| s.as_ref()) {
            Some(s) => s.focus(),
            None => {
                let _ = self.core.parts.text_area.focus();
            }
        }
    }

    /// Takes the keyboard focus away from this console.
    pub fn blur(&self) {
        let _ = self.core.parts.text_area.blur();
        let _ = self.core.parts.canvas.blur();
    }

    /// Asks the server to shut down, reboot or reset the machine; `false` when it has not said
    /// it can (see `Capabilities`).
    pub fn power(&self, action: XvpAction) -> bool {
        if !self.core.power.get() || self.core.view_only.get() || !self.core.connected.get() {
            return false;
        }
        self.core.with_session(|s| s.power(action));
        true
    }

    pub fn canvas(&self) -> &HtmlCanvasElement {
        &self.core.parts.canvas
    }

    pub fn is_connected(&self) -> bool {
        self.core.connected.get()
    }

    pub fn has_power(&self) -> bool {
        self.core.power.get()
    }

    pub fn view_only(&self) -> bool {
        self.core.view_only.get()
    }

    /// Switches view-only on or off without reconnecting (what is held is released first).
    pub fn set_view_only(&self, view_only: bool) {
        if self.core.view_only.replace(view_only) == view_only {
            return;
        }
        self.core.with_session(|s| s.set_view_only(view_only));
    }

    pub fn resize_mode(&self) -> ResizeMode {
        self.core.resize.get()
    }

    /// Changes the view mode without reconnecting (`remote` asks the server for the element's
    /// size at once).
    pub fn set_resize(&self, mode: ResizeMode) {
        if self.core.resize.replace(mode) == mode {
            return;
        }
        set_styles(&self.core.parts.wrapper, &wrapper_layout(mode));
        // Session::set_resize fits the canvas again, in the layout just set.
        self.core.with_session(|s| s.set_resize(mode));
    }

    /// Recomputes the canvas's size (after the element's size changed; a `ResizeObserver` does
    /// this already where the browser has one).
    pub fn refit(&self) {
        self.core.with_session(Session::refit);
    }
}

impl Drop for EmbeddedConsole {
    fn drop(&mut self) {
        // The session (socket and listeners) goes now; the events it could still raise have no
        // one to go to.
        let session = self.core.session.borrow_mut().take();
        self.core.ended.set(true);
        drop(session);
    }
}

fn resize_observer(core: Weak<Core>, target: &HtmlElement) -> Option<Observer> {
    let cb = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        if let Some(core) = core.upgrade() {
            core.with_session(Session::refit);
        }
    });
    let observer = web_sys::ResizeObserver::new(cb.as_ref().unchecked_ref()).ok()?;
    observer.observe(target);
    Some((observer, cb))
}

impl Drop for Core {
    fn drop(&mut self) {
        if let Some((observer, _)) = &self._resize_observer {
            observer.disconnect();
        }
    }
}

impl Core {
    fn with_session(&self, f: impl FnOnce(&Session)) {
        if let Ok(s) = self.session.try_borrow() {
            if let Some(s) = s.as_ref() {
                f(s);
            }
        }
    }

    fn emit(&self, e: ConsoleEvent) {
        (self.on_event)(e);
    }

    fn send_keys(&self, keys: &[(u32, bool)]) {
        if !self.view_only.get() && self.connected.get() {
            self.with_session(|s| s.send_keys(keys));
        }
    }

    fn disconnect(&self) {
        let session = match self.session.try_borrow_mut() {
            Ok(mut s) => s.take(),
            Err(_) => return,
        };
        if session.is_none() {
            return;
        }
        drop(session);
        self.connected.set(false);
        if !self.ended.replace(true) {
            self.emit(ConsoleEvent::Disconnect { clean: true, reason: String::new() });
        }
    }

    fn session_event(&self, e: UiEvent) {
        if self.ended.get() {
            return;
        }
        match e {
            UiEvent::CredentialsRequired { username } => {
                // The credentials given in the options are sent once; after that the page is asked.
                let stored = self.credentials.borrow_mut().take();
                match stored {
                    Some(c) if !username || c.username.is_some() => self.with_session(|s| s.send_credentials(c)),
                    _ => {
                        let types = if username { vec!["username", "password"] } else { vec!["password"] };
                        self.emit(ConsoleEvent::CredentialsRequired { types });
                    }
                }
            }
            UiEvent::Connected { name, width, height } => {
                self.connected.set(true);
                self.emit(ConsoleEvent::Connect);
                self.emit(ConsoleEvent::DesktopName(name));
                self.emit(ConsoleEvent::Resize { width, height });
            }
            UiEvent::Resized { width, height } => self.emit(ConsoleEvent::Resize { width, height }),
            UiEvent::DesktopName(name) => self.emit(ConsoleEvent::DesktopName(name)),
            UiEvent::Clipboard(text) => self.emit(ConsoleEvent::Clipboard(text)),
            UiEvent::PowerAvailable => {
                self.power.set(true);
                self.emit(ConsoleEvent::Capabilities { power: true });
            }
            UiEvent::Notice(message) => self.emit(ConsoleEvent::Notice(message)),
            UiEvent::Disconnected { message, retry } => {
                self.ended.set(true);
                self.connected.set(false);
                // Only security failures (a refused password, no common security type, an
                // untrusted certificate) cannot be helped by trying again.
                if !retry {
                    self.emit(ConsoleEvent::SecurityFailure { status: 1, reason: message.clone() });
                }
                self.emit(ConsoleEvent::Disconnect { clean: false, reason: message });
            }
            UiEvent::Bell => self.emit(ConsoleEvent::Bell),
            UiEvent::Opened => self.emit(ConsoleEvent::Opened),
            UiEvent::CertificateUnknown { fingerprint } => self.emit(ConsoleEvent::ServerVerification { fingerprint }),
            // Connecting: whoever started the console knows.
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JavaScript

fn prop(obj: &JsValue, key: &str) -> JsValue {
    if obj.is_object() {
        js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

fn level(v: JsValue, what: &str) -> Result<Option<u8>, String> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if (0.0..=9.0).contains(&n) && n.fract() == 0.0 => Ok(Some(n as u8)),
        _ => Err(format!("{what} must be a whole number from 0 to 9.")),
    }
}

/// An optional string option: absent, `null` or `""` is `None`; anything but a string an error.
fn string_option(v: &JsValue, key: &str) -> Result<Option<String>, String> {
    let value = prop(v, key);
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    let text = value.as_string().ok_or_else(|| format!("{key} must be a string."))?;
    Ok(Some(text).filter(|t| !t.trim().is_empty()))
}

fn credentials_from_js(v: &JsValue) -> Option<Credentials> {
    if let Some(password) = v.as_string() {
        return Some(Credentials { username: None, password });
    }
    let password = prop(v, "password").as_string()?;
    let username = prop(v, "username").as_string().filter(|u| !u.is_empty());
    Some(Credentials { username, password })
}

/// The `resize` option or property: `off`, `scale` or `remote`; anything else is a sentence.
fn parse_resize(s: &str) -> Result<ResizeMode, String> {
    ResizeMode::parse(s).ok_or_else(|| format!("resize must be off, scale or remote, not \"{s}\"."))
}

/// The constructor's options object (`undefined` or `null` for the defaults).
pub fn options_from_js(v: &JsValue) -> Result<ConsoleOptions, String> {
    let bool_of = |key: &str| prop(v, key).as_bool();
    let resize = match prop(v, "resize").as_string() {
        Some(s) => parse_resize(&s)?,
        None => ResizeMode::Off,
    };
    Ok(ConsoleOptions {
        credentials: credentials_from_js(&prop(v, "credentials")),
        shared: bool_of("shared"),
        view_only: bool_of("viewOnly").unwrap_or(false),
        resize,
        quality: level(prop(v, "quality"), "quality")?,
        compression: level(prop(v, "compression"), "compression")?,
        lossless: bool_of("lossless").unwrap_or(false),
        show_dot_cursor: bool_of("showDotCursor").unwrap_or(false),
        tls_ca: string_option(v, "tlsCa")?,
        tls_fingerprint: string_option(v, "tlsFingerprint")?,
    })
}

fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = js_sys::Object::new();
    for (k, v) in pairs {
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o.into()
}

/// The `detail` of the DOM event for `e`.
fn detail(e: &ConsoleEvent) -> JsValue {
    match e {
        ConsoleEvent::Opened | ConsoleEvent::Connect | ConsoleEvent::Bell => object(&[]),
        ConsoleEvent::Disconnect { clean, reason } => {
            object(&[("clean", JsValue::from_bool(*clean)), ("reason", JsValue::from_str(reason))])
        }
        ConsoleEvent::CredentialsRequired { types } => {
            let a: js_sys::Array = types.iter().map(|t| JsValue::from_str(t)).collect();
            object(&[("types", a.into())])
        }
        ConsoleEvent::SecurityFailure { status, reason } => {
            object(&[("status", JsValue::from(*status)), ("reason", JsValue::from_str(reason))])
        }
        ConsoleEvent::ServerVerification { fingerprint } => {
            object(&[("type", JsValue::from_str("certificate")), ("fingerprint", JsValue::from_str(fingerprint))])
        }
        ConsoleEvent::Clipboard(text) => object(&[("text", JsValue::from_str(text))]),
        ConsoleEvent::DesktopName(name) => object(&[("name", JsValue::from_str(name))]),
        ConsoleEvent::Resize { width, height } => {
            object(&[("width", JsValue::from(*width)), ("height", JsValue::from(*height))])
        }
        ConsoleEvent::Capabilities { power } => object(&[("power", JsValue::from_bool(*power))]),
        ConsoleEvent::Notice(message) => object(&[("message", JsValue::from_str(message))]),
    }
}

/// Dispatches `e` on `target` as a bubbling `CustomEvent`.
pub fn dispatch(target: &Element, e: &ConsoleEvent) {
    if !e.is_dom_event() {
        return;
    }
    let init = CustomEventInit::new();
    init.set_bubbles(true);
    init.set_composed(true);
    init.set_detail(&detail(e));
    if let Ok(ev) = CustomEvent::new_with_event_init_dict(e.name(), &init) {
        let _ = target.dispatch_event(&ev);
    }
}

/// A VNC console in an element of the page. Events are `CustomEvent`s on the element.
#[wasm_bindgen]
pub struct Console {
    console: EmbeddedConsole,
}

#[wasm_bindgen]
impl Console {
    /// Connects to `url` (the relay's WebSocket URL) and shows the desktop inside `element`.
    /// `options`: `{credentials: {username?, password}, shared, viewOnly, resize:
    /// "off"|"scale"|"remote", quality: 0-9, compression: 0-9, lossless, showDotCursor,
    /// tlsCa: "-----BEGIN CERTIFICATE-----…", tlsFingerprint: "AB:CD:…"}`.
    #[wasm_bindgen(constructor)]
    pub fn new(element: Element, url: &str, options: JsValue) -> Result<Console, JsError> {
        crate::fatal::install();
        let options = options_from_js(&options).map_err(|e| JsError::new(&e))?;
        let target = element.clone();
        let on_event: Rc<dyn Fn(ConsoleEvent)> = Rc::new(move |e| dispatch(&target, &e));
        let console = EmbeddedConsole::start(element, url, options, on_event).map_err(|e| JsError::new(&e))?;
        Ok(Console { console })
    }

    /// Closes the session; a `disconnect` event with `clean: true` follows.
    pub fn disconnect(&self) {
        self.console.disconnect();
    }

    /// Answers `credentialsrequired`: `{username?, password}` (or the password as a string).
    #[wasm_bindgen(js_name = sendCredentials)]
    pub fn send_credentials(&self, credentials: JsValue) -> Result<(), JsError> {
        let c = credentials_from_js(&credentials).ok_or_else(|| JsError::new("credentials need a password."))?;
        self.console.send_credentials(c);
        Ok(())
    }

    /// Answers `serververification`: trust the server's certificate and go on, or close.
    #[wasm_bindgen(js_name = approveServer)]
    pub fn approve_server(&self, trust: bool) {
        self.console.trust_certificate(trust);
    }

    /// Sends a key as an X keysym; `code` is the physical key (`KeyboardEvent.code`, may be
    /// empty). Without `down` the key is pressed and released.
    #[wasm_bindgen(js_name = sendKey)]
    pub fn send_key(&self, keysym: u32, code: Option<String>, down: Option<bool>) {
        self.console.send_key(keysym, code.as_deref().unwrap_or(""), down);
    }

    #[wasm_bindgen(js_name = sendCtrlAltDel)]
    pub fn send_ctrl_alt_del(&self) {
        self.console.send_ctrl_alt_del();
    }

    /// Puts `text` on the server's clipboard.
    #[wasm_bindgen(js_name = clipboardPaste)]
    pub fn clipboard_paste(&self, text: &str) {
        self.console.clipboard_paste(text);
    }

    pub fn focus(&self) {
        self.console.focus();
    }

    pub fn blur(&self) {
        self.console.blur();
    }

    /// The screen as a PNG (or `type`, e.g. `image/jpeg`) `Blob`, resolved by the promise.
    #[wasm_bindgen(js_name = toBlob)]
    pub fn to_blob(&self, mime: Option<String>, quality: Option<f64>) -> js_sys::Promise {
        let canvas = self.console.canvas().clone();
        js_sys::Promise::new(&mut |resolve, reject| {
            let cb = Closure::once_into_js(move |blob: JsValue| {
                let _ = resolve.call1(&JsValue::NULL, &blob);
            });
            let mime = mime.clone().unwrap_or_else(|| "image/png".into());
            let q = quality.map_or(JsValue::UNDEFINED, JsValue::from_f64);
            if let Err(e) = canvas.to_blob_with_type_and_encoder_options(cb.unchecked_ref(), &mime, &q) {
                let _ = reject.call1(&JsValue::NULL, &e);
            }
        })
    }

    /// The screen as a `data:` URL (PNG unless `type` says otherwise).
    #[wasm_bindgen(js_name = toDataURL)]
    pub fn to_data_url(&self, mime: Option<String>, quality: Option<f64>) -> Result<String, JsValue> {
        let canvas = self.console.canvas();
        match (mime, quality) {
            (Some(m), Some(q)) => canvas.to_data_url_with_type_and_encoder_options(&m, &JsValue::from_f64(q)),
            (Some(m), None) => canvas.to_data_url_with_type(&m),
            _ => canvas.to_data_url(),
        }
    }

    /// Asks the server to shut the machine down cleanly; `false` unless the server offered power
    /// actions (`capabilities.power`).
    #[wasm_bindgen(js_name = machineShutdown)]
    pub fn machine_shutdown(&self) -> bool {
        self.console.power(XvpAction::Shutdown)
    }

    #[wasm_bindgen(js_name = machineReboot)]
    pub fn machine_reboot(&self) -> bool {
        self.console.power(XvpAction::Reboot)
    }

    #[wasm_bindgen(js_name = machineReset)]
    pub fn machine_reset(&self) -> bool {
        self.console.power(XvpAction::Reset)
    }

    /// The desktop is on screen.
    #[wasm_bindgen(getter)]
    pub fn connected(&self) -> bool {
        self.console.is_connected()
    }

    #[wasm_bindgen(getter, js_name = viewOnly)]
    pub fn view_only(&self) -> bool {
        self.console.view_only()
    }

    /// Switches view-only on or off without reconnecting.
    #[wasm_bindgen(setter, js_name = viewOnly)]
    pub fn set_view_only(&self, view_only: bool) {
        self.console.set_view_only(view_only);
    }

    /// The view mode: `off`, `scale` or `remote`.
    #[wasm_bindgen(getter)]
    pub fn resize(&self) -> String {
        self.console.resize_mode().as_str().to_string()
    }

    /// Changes the view mode without reconnecting; anything but `off`, `scale` or `remote`
    /// throws.
    #[wasm_bindgen(setter)]
    pub fn set_resize(&self, mode: &str) -> Result<(), JsError> {
        self.console.set_resize(parse_resize(mode).map_err(|e| JsError::new(&e))?);
        Ok(())
    }

    /// `{power}`: what the server supports beyond the basics.
    #[wasm_bindgen(getter)]
    pub fn capabilities(&self) -> JsValue {
        object(&[("power", JsValue::from_bool(self.console.has_power()))])
    }

    /// The canvas the desktop is drawn on.
    #[wasm_bindgen(getter)]
    pub fn canvas(&self) -> HtmlCanvasElement {
        self.console.canvas().clone()
    }
}
