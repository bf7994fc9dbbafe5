//! `VncConsole`: the console as a Yew function component, for Yew apps. Props are the options of
//! [`crate::api::Console`], callbacks its events:
//!
//! ```ignore
//! use oxvnc_client::component::{ConsoleHandle, VncConsole};
//! html! {
//!     <VncConsole url="ws://relay:6080/websockify?token=vm1" resize={ResizeMode::Scale}
//!         on_connect={Callback::from(|_| log("connected"))}
//!         on_ready={Callback::from(move |h: ConsoleHandle| handle.set(Some(h)))}
//!         style="width: 800px; height: 600px"/>
//! }
//! ```
//!
//! The component renders one `<div>`; the console's canvas lives inside it and never passes
//! through the virtual DOM. Changing `url` or an option reconnects (so does a new `key`), except
//! `view_only` and `resize`, which change on the running session; unmounting disconnects. The console page ([`crate::ui`]) is built from this component;
//! `examples/yew_app.rs` is the example of docs/embedding.md.

use std::cell::RefCell;
use std::ops::Deref;
use std::rc::Rc;

use oxvnc_rfb::Credentials;
use wasm_bindgen::prelude::*;
use web_sys::Element;
use yew::prelude::*;

use crate::api::{ConsoleEvent, ConsoleOptions, EmbeddedConsole, options_from_js};
use crate::settings::ResizeMode;

/// A running console, handed out by `on_ready`: its methods are the JS API's (`disconnect`,
/// `send_credentials`, `send_key`, `send_ctrl_alt_del`, `clipboard_paste`, `focus`, `blur`,
/// `power`, `canvas` for `toBlob`/`toDataURL`).
#[derive(Clone)]
pub struct ConsoleHandle(Rc<EmbeddedConsole>);

impl Deref for ConsoleHandle {
    type Target = EmbeddedConsole;

    fn deref(&self) -> &EmbeddedConsole {
        &self.0
    }
}

impl PartialEq for ConsoleHandle {
    fn eq(&self, other: &ConsoleHandle) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// Why a session ended: `clean` when the page asked for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Disconnect {
    pub clean: bool,
    pub reason: String,
}

#[derive(Properties, PartialEq, Clone)]
pub struct VncConsoleProps {
    /// The relay's WebSocket URL (`ws://`, `wss://`, or a path on the page's host).
    pub url: AttrValue,
    #[prop_or_default]
    pub credentials: Option<Credentials>,
    /// Share the desktop with other clients (the default).
    #[prop_or_default]
    pub shared: Option<bool>,
    #[prop_or_default]
    pub view_only: bool,
    #[prop_or_default]
    pub resize: ResizeMode,
    #[prop_or_default]
    pub quality: Option<u8>,
    #[prop_or_default]
    pub compression: Option<u8>,
    #[prop_or_default]
    pub lossless: bool,
    #[prop_or_default]
    pub show_dot_cursor: bool,
    /// The CA certificate(s), PEM, the VNC server's TLS certificate must be signed by.
    #[prop_or_default]
    pub tls_ca: Option<String>,
    /// The expected SHA-256 fingerprint of the VNC server's certificate (hex, colons optional).
    #[prop_or_default]
    pub tls_fingerprint: Option<String>,
    #[prop_or_default]
    pub class: Classes,
    #[prop_or_default]
    pub style: Option<AttrValue>,

    #[prop_or_default]
    pub on_ready: Callback<ConsoleHandle>,
    /// The WebSocket to the relay is open; the VNC handshake runs (no DOM event of its own).
    #[prop_or_default]
    pub on_open: Callback<()>,
    #[prop_or_default]
    pub on_connect: Callback<()>,
    #[prop_or_default]
    pub on_disconnect: Callback<Disconnect>,
    /// The kinds of credentials asked for: `["password"]` or `["username", "password"]`.
    #[prop_or_default]
    pub on_credentials_required: Callback<Vec<&'static str>>,
    /// (status, reason)
    #[prop_or_default]
    pub on_security_failure: Callback<(u32, String)>,
    /// The SHA-256 fingerprint of a TLS certificate that cannot be checked; answer with
    /// [`EmbeddedConsole::trust_certificate`].
    #[prop_or_default]
    pub on_server_verification: Callback<String>,
    #[prop_or_default]
    pub on_clipboard: Callback<String>,
    #[prop_or_default]
    pub on_bell: Callback<()>,
    #[prop_or_default]
    pub on_desktop_name: Callback<String>,
    /// (width, height)
    #[prop_or_default]
    pub on_resize: Callback<(u16, u16)>,
    /// Whether the server takes power actions.
    #[prop_or_default]
    pub on_capabilities: Callback<bool>,
    #[prop_or_default]
    pub on_notice: Callback<String>,
    /// Every event, as it happens (after the callback of its own kind).
    #[prop_or_default]
    pub on_event: Callback<ConsoleEvent>,
}

impl VncConsoleProps {
    pub fn options(&self) -> ConsoleOptions {
        ConsoleOptions {
            credentials: self.credentials.clone(),
            shared: self.shared,
            view_only: self.view_only,
            resize: self.resize,
            quality: self.quality,
            compression: self.compression,
            lossless: self.lossless,
            show_dot_cursor: self.show_dot_cursor,
            tls_ca: self.tls_ca.clone(),
            tls_fingerprint: self.tls_fingerprint.clone(),
        }
    }

    fn deliver(&self, e: ConsoleEvent) {
        match &e {
            ConsoleEvent::Opened => self.on_open.emit(()),
            ConsoleEvent::Connect => self.on_connect.emit(()),
            ConsoleEvent::Disconnect { clean, reason } => {
                self.on_disconnect.emit(Disconnect { clean: *clean, reason: reason.clone() })
            }
            ConsoleEvent::CredentialsRequired { types } => self.on_credentials_required.emit(types.clone()),
            ConsoleEvent::SecurityFailure { status, reason } => {
                self.on_security_failure.emit((*status, reason.clone()))
            }
            ConsoleEvent::ServerVerification { fingerprint } => self.on_server_verification.emit(fingerprint.clone()),
            ConsoleEvent::Clipboard(text) => self.on_clipboard.emit(text.clone()),
            ConsoleEvent::Bell => self.on_bell.emit(()),
            ConsoleEvent::DesktopName(name) => self.on_desktop_name.emit(name.clone()),
            ConsoleEvent::Resize { width, height } => self.on_resize.emit((*width, *height)),
            ConsoleEvent::Capabilities { power } => self.on_capabilities.emit(*power),
            ConsoleEvent::Notice(text) => self.on_notice.emit(text.clone()),
        }
        self.on_event.emit(e);
    }
}

/// The console as a Yew component (see the module documentation).
#[function_component(VncConsole)]
pub fn vnc_console(props: &VncConsoleProps) -> Html {
    let node = use_node_ref();
    // The callbacks of the latest render: events go to them even though the session started
    // with older props.
    let latest = use_mut_ref(|| props.clone());
    *latest.borrow_mut() = props.clone();
    let running = use_mut_ref(|| None::<ConsoleHandle>);
    {
        let node = node.clone();
        let latest = latest.clone();
        let running = running.clone();
        // View-only and the view mode are not part of what reconnects: they change live, below.
        let mut options = props.options();
        (options.view_only, options.resize) = (false, ResizeMode::Off);
        use_effect_with((props.url.clone(), options), move |(url, _)| {
            let options = latest.borrow().options();
            let console = start(&node, url, &options, &latest);
            *running.borrow_mut() = console.clone();
            move || {
                running.borrow_mut().take();
                if let Some(c) = console {
                    c.disconnect();
                }
            }
        });
    }
    use_effect_with((props.view_only, props.resize), move |&(view_only, resize)| {
        if let Some(c) = running.borrow().as_ref() {
            c.set_view_only(view_only);
            c.set_resize(resize);
        }
    });
    html! { <div ref={node} class={classes!("oxvnc-console", props.class.clone())} style={props.style.clone()}/> }
}

fn start(
    node: &NodeRef,
    url: &str,
    options: &ConsoleOptions,
    latest: &Rc<RefCell<VncConsoleProps>>,
) -> Option<ConsoleHandle> {
    let element = node.cast::<Element>()?;
    let props = Rc::clone(latest);
    let on_event: Rc<dyn Fn(ConsoleEvent)> = Rc::new(move |e| {
        // A callback may re-render the parent, which updates `latest`: no borrow is held.
        let p = props.borrow().clone();
        p.deliver(e);
    });
    match EmbeddedConsole::start(element, url, options.clone(), on_event) {
        Ok(c) => {
            let handle = ConsoleHandle(Rc::new(c));
            let ready = latest.borrow().on_ready.clone();
            ready.emit(handle.clone());
            Some(handle)
        }
        Err(reason) => {
            let on_disconnect = latest.borrow().on_disconnect.clone();
            on_disconnect.emit(Disconnect { clean: false, reason });
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// From JavaScript, so that pages (and tests) can show the component itself.

#[derive(Properties, PartialEq)]
struct HostProps {
    props: VncConsoleProps,
}

#[function_component(Host)]
fn host(p: &HostProps) -> Html {
    let props = p.props.clone();
    html! { <VncConsole ..props/> }
}

/// Renders the [`VncConsole`] component into `root` (Yew owns `root`'s content from then on):
/// `options` as for `new Console`; events are `CustomEvent`s on `root`, as with `Console`.
#[wasm_bindgen(js_name = mountVncConsole)]
pub fn mount_vnc_console(root: Element, url: String, options: JsValue) -> Result<(), JsError> {
    crate::fatal::install();
    let o = options_from_js(&options).map_err(|e| JsError::new(&e))?;
    let target = root.clone();
    let props = VncConsoleProps {
        url: url.into(),
        credentials: o.credentials,
        shared: o.shared,
        view_only: o.view_only,
        resize: o.resize,
        quality: o.quality,
        compression: o.compression,
        lossless: o.lossless,
        show_dot_cursor: o.show_dot_cursor,
        tls_ca: o.tls_ca,
        tls_fingerprint: o.tls_fingerprint,
        class: Classes::new(),
        style: Some("width: 100%; height: 100%".into()),
        on_ready: Callback::noop(),
        on_open: Callback::noop(),
        on_connect: Callback::noop(),
        on_disconnect: Callback::noop(),
        on_credentials_required: Callback::noop(),
        on_security_failure: Callback::noop(),
        on_server_verification: Callback::noop(),
        on_clipboard: Callback::noop(),
        on_bell: Callback::noop(),
        on_desktop_name: Callback::noop(),
        on_resize: Callback::noop(),
        on_capabilities: Callback::noop(),
        on_notice: Callback::noop(),
        on_event: Callback::from(move |e: ConsoleEvent| crate::api::dispatch(&target, &e)),
    };
    yew::Renderer::<Host>::with_root_and_props(root, HostProps { props }).render();
    Ok(())
}
