//! The console page: Yew function components around the [`VncConsole`] component, which shows
//! the remote screen; the page drives it through its props (the options), its callbacks (the
//! events) and the [`ConsoleHandle`] it hands over when it starts. Yew renders only the chrome
//! (forms, toolbar, status, clipboard); the canvas belongs to the console, so pixels never pass
//! through the virtual DOM. Every connect (and reconnect) mounts a new console (a new `key`).

mod forms;
mod toolbar;

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use oxvnc_rfb::Credentials;
use wasm_bindgen::prelude::*;
use yew::prelude::*;

use crate::api::{ConsoleEvent, ConsoleOptions};
use crate::clipboard;
use crate::component::{ConsoleHandle, Disconnect, VncConsole};
use crate::settings::{MAX_CA_BYTES, PageLocation, ResizeMode, Settings, check_ca_pem, reconnect_backoff};
use forms::{CertificateForm, ConnectForm, CredentialsForm};
use toolbar::{ClipboardPanel, Toolbar};

/// Where the console is.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    Idle,
    /// Fetching the VNC server's CA certificate (`ca=`) before connecting.
    FetchingCa {
        url: String,
    },
    Connecting {
        url: String,
    },
    Handshake,
    Credentials {
        username: bool,
    },
    Certificate {
        fingerprint: String,
    },
    Connected,
    Disconnected,
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::FetchingCa { .. } => "fetching",
            Phase::Connecting { .. } => "connecting",
            Phase::Handshake => "handshake",
            Phase::Credentials { .. } => "credentials",
            Phase::Certificate { .. } => "certificate",
            Phase::Connected => "connected",
            Phase::Disconnected => "disconnected",
        }
    }
}

/// The console the page shows: the [`VncConsole`]'s `key`, `url` and options.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsoleSpec {
    /// The connect this console is for (its `key`: a new one mounts a new console).
    pub generation: u64,
    /// The relay's WebSocket URL.
    pub url: String,
    pub options: ConsoleOptions,
}

impl ConsoleSpec {
    /// The console for `settings` (the page's URL or its connect form); `Err` is a sentence for
    /// the page (no host, a bad port, a bad fingerprint or CA).
    pub fn new(generation: u64, settings: &Settings) -> Result<ConsoleSpec, String> {
        let url = settings.websocket_url()?;
        settings.tls_config()?;
        let options = ConsoleOptions {
            credentials: settings.password.clone().map(|password| Credentials { username: None, password }),
            shared: Some(settings.shared),
            view_only: settings.view_only,
            resize: settings.resize,
            quality: settings.quality,
            compression: settings.compression,
            lossless: settings.lossless,
            show_dot_cursor: settings.show_dot,
            tls_ca: settings.tls_ca.clone(),
            tls_fingerprint: settings.tls_fingerprint.clone(),
        };
        Ok(ConsoleSpec { generation, url, options })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct UiState {
    pub phase: Phase,
    pub error: Option<String>,
    /// Whether an automatic reconnect may follow the error.
    pub retry: bool,
    pub name: String,
    pub size: (u16, u16),
    /// The clipboard panel's text: the server's last clipboard, or what the user typed.
    pub clipboard: String,
    pub clipboard_open: bool,
    /// Counts disconnects, so the reconnect effect runs once per disconnect.
    pub disconnects: u32,
    /// A reconnect is scheduled (the Cancel button stops it).
    pub reconnecting: bool,
    /// Reconnects scheduled since the desktop was last on screen: each one waits twice as long.
    pub attempt: u32,
    /// The pause before the scheduled reconnect.
    pub reconnect_delay_ms: u32,
    /// The server accepts power actions: the toolbar shows its power menu.
    pub power: bool,
    /// Something that did not work while the session goes on.
    pub notice: Option<String>,
    /// The console on screen (also after it disconnected: its last picture stays).
    pub console: Option<ConsoleSpec>,
    /// The console started (`on_ready`); a disconnect before that is a failure to start.
    pub ready: bool,
    /// The console reported a security failure: reconnecting cannot help.
    pub refused: bool,
}

impl Default for UiState {
    fn default() -> UiState {
        UiState {
            phase: Phase::Idle,
            error: None,
            retry: false,
            name: String::new(),
            size: (0, 0),
            clipboard: String::new(),
            clipboard_open: false,
            disconnects: 0,
            reconnecting: false,
            attempt: 0,
            reconnect_delay_ms: 0,
            power: false,
            notice: None,
            console: None,
            ready: false,
            refused: false,
        }
    }
}

pub enum Action {
    /// A new console (for a connect or a reconnect) replaces the last one.
    Start(ConsoleSpec),
    /// The current console started and handed over its [`ConsoleHandle`].
    Ready,
    /// What the current console raised.
    Console(ConsoleEvent),
    /// The console could not even start.
    Failed(String),
    /// The CA certificate is being fetched from this URL.
    FetchingCa(String),
    UserDisconnect,
    CredentialsSent,
    CertificateAnswered,
    ToggleClipboard,
    ClipboardEdited(String),
    /// View-only or the view mode changed from the toolbar: the running console changes with
    /// them (the component applies both live), and so do later reconnects.
    View {
        view_only: bool,
        resize: ResizeMode,
    },
    /// A reconnect was scheduled after this pause.
    ReconnectScheduled {
        delay_ms: u32,
    },
}

impl Reducible for UiState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::View { view_only, resize } => {
                if let Some(spec) = &mut s.console {
                    (spec.options.view_only, spec.options.resize) = (view_only, resize);
                }
            }
            Action::Start(spec) => {
                s.phase = Phase::Connecting { url: spec.url.clone() };
                s.error = None;
                s.reconnecting = false;
                s.power = false;
                s.notice = None;
                s.ready = false;
                s.refused = false;
                s.console = Some(spec);
            }
            Action::Ready => s.ready = true,
            Action::Console(e) => match e {
                ConsoleEvent::Opened => s.phase = Phase::Handshake,
                ConsoleEvent::CredentialsRequired { types } => {
                    s.phase = Phase::Credentials { username: types.contains(&"username") }
                }
                ConsoleEvent::ServerVerification { fingerprint } => s.phase = Phase::Certificate { fingerprint },
                ConsoleEvent::Connect => {
                    s.phase = Phase::Connected;
                    s.attempt = 0;
                }
                ConsoleEvent::Resize { width, height } => s.size = (width, height),
                ConsoleEvent::DesktopName(name) => s.name = name,
                ConsoleEvent::Clipboard(text) => s.clipboard = text,
                ConsoleEvent::Capabilities { power } => s.power = power,
                ConsoleEvent::Notice(text) => s.notice = Some(text),
                ConsoleEvent::Bell => {}
                // A refused password, no common security type, an untrusted certificate.
                ConsoleEvent::SecurityFailure { .. } => s.refused = true,
                // The page closes its consoles only after it moved on to the next generation.
                ConsoleEvent::Disconnect { clean: true, .. } => {
                    s.phase = Phase::Idle;
                    s.error = None;
                    s.retry = false;
                    s.reconnecting = false;
                }
                ConsoleEvent::Disconnect { clean: false, reason } => {
                    s.phase = Phase::Disconnected;
                    s.error = Some(reason);
                    if s.ready {
                        s.retry = !s.refused;
                        s.disconnects += 1;
                    } else {
                        // It never started (the browser refused the WebSocket, …).
                        s.retry = false;
                        s.reconnecting = false;
                    }
                }
            },
            Action::FetchingCa(url) => {
                s.phase = Phase::FetchingCa { url };
                s.error = None;
                s.reconnecting = false;
                s.power = false;
                s.notice = None;
            }
            Action::Failed(message) => {
                s.phase = Phase::Disconnected;
                s.error = Some(message);
                s.retry = false;
                s.reconnecting = false;
            }
            Action::UserDisconnect => {
                s.phase = Phase::Idle;
                s.error = None;
                s.retry = false;
                s.reconnecting = false;
                s.attempt = 0;
            }
            Action::CredentialsSent | Action::CertificateAnswered => s.phase = Phase::Handshake,
            Action::ToggleClipboard => s.clipboard_open = !s.clipboard_open,
            Action::ClipboardEdited(text) => s.clipboard = text,
            Action::ReconnectScheduled { delay_ms } => {
                s.reconnecting = true;
                s.reconnect_delay_ms = delay_ms;
                s.attempt = s.attempt.saturating_add(1);
            }
        }
        Rc::new(s)
    }
}

/// Settings from the page URL: its location, then the query, then the fragment (noVNC reads
/// both; the fragment keeps a password out of server logs).
pub fn page_settings() -> Settings {
    let Some(window) = web_sys::window() else {
        return Settings::defaults(&PageLocation::default());
    };
    let loc = window.location();
    let page = PageLocation {
        protocol: loc.protocol().unwrap_or_default(),
        hostname: loc.hostname().unwrap_or_default(),
        port: loc.port().unwrap_or_default(),
    };
    let mut pairs = Vec::new();
    if crate::settings::autoconnects_by_name(&loc.pathname().unwrap_or_default()) {
        // First, so that the query's own `autoconnect` still decides.
        pairs.push(("autoconnect".to_owned(), "1".to_owned()));
    }
    pairs.extend(query_pairs(&loc.search().unwrap_or_default()));
    pairs.extend(query_pairs(&loc.hash().unwrap_or_default()));
    Settings::from_query(&page, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// `?a=1&b=2` (or `#a=1`) as decoded pairs.
fn query_pairs(s: &str) -> Vec<(String, String)> {
    let s = s.trim_start_matches(['?', '#']);
    let Ok(params) = web_sys::UrlSearchParams::new_with_str(s) else { return Vec::new() };
    let Ok(Some(iter)) = js_sys::try_iter(&params) else { return Vec::new() };
    iter.filter_map(Result::ok)
        .filter_map(|entry| {
            let entry = js_sys::Array::from(&entry);
            Some((entry.get(0).as_string()?, entry.get(1).as_string()?))
        })
        .collect()
}

#[wasm_bindgen(inline_js = r#"
export async function oxvnc_fetch_text(url, limit) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", cache: "no-cache" });
  } catch (e) {
    throw `the browser could not fetch it (${e && e.message ? e.message : e}); a file on another site must allow this page (CORS)`;
  }
  if (!response.ok) {
    throw `the web server answered ${response.status} ${response.statusText}`.trim();
  }
  const length = Number(response.headers.get("content-length"));
  if (length > limit) {
    throw `it is ${length} bytes, more than the ${limit} a CA certificate file may have`;
  }
  const text = await response.text();
  if (text.length > limit) {
    throw `it is more than the ${limit} bytes a CA certificate file may have`;
  }
  return text;
}
export function oxvnc_resolve_url(url) {
  try { return new URL(url, document.baseURI).href; } catch (e) { return url; }
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    async fn oxvnc_fetch_text(url: &str, limit: f64) -> Result<JsValue, JsValue>;
    fn oxvnc_resolve_url(url: &str) -> String;
}

/// The CA certificate PEM at `url` (the `ca=` parameter); `Err` is a sentence for the page.
async fn fetch_ca(url: &str) -> Result<String, String> {
    let shown = oxvnc_resolve_url(url);
    let failed = |why: &str| {
        format!(
            "Could not get the VNC server's CA certificate from {shown}: {}. Check the ca= parameter of the \
             page's address.",
            why.trim_end_matches('.')
        )
    };
    let text = match oxvnc_fetch_text(url, MAX_CA_BYTES as f64).await {
        Ok(text) => text.as_string().ok_or_else(|| failed("it is not text"))?,
        Err(e) => return Err(failed(&e.as_string().unwrap_or_else(|| format!("{e:?}")))),
    };
    check_ca_pem(&text).map_err(|e| failed(&e))?;
    Ok(text)
}

/// Whether events of the console of `generation` still matter (no newer connect or disconnect).
fn is_current(counter: &Rc<RefCell<u64>>, generation: u64) -> bool {
    *counter.borrow() == generation
}

#[function_component(App)]
pub fn app() -> Html {
    let initial = use_memo((), |_| page_settings());
    let ui = use_reducer(UiState::default);
    // The console on screen, from its `on_ready`: the toolbar, prompts and clipboard use it.
    let handle = use_mut_ref(|| None::<ConsoleHandle>);
    let last_settings = use_mut_ref(|| (*initial).clone());
    let reconnect_timer = use_mut_ref(|| None::<Timeout>);
    // Counts connects and disconnects: events of an older console, and a CA fetch that finishes
    // after another connect or a disconnect, are dropped.
    let generation = use_mut_ref(|| 0u64);
    // The clipboard text last sent to the server (the panel sends on change and on its button;
    // the same text twice in a row is sent once). Forgotten when the server's clipboard changes.
    let clipboard_sent = use_mut_ref(|| None::<String>);

    // Stops a scheduled reconnect, closes the console (its picture stays) and starts a new
    // generation, whose number it returns.
    let next_generation = {
        let (handle, generation, reconnect_timer) = (handle.clone(), generation.clone(), reconnect_timer.clone());
        Rc::new(move || -> u64 {
            reconnect_timer.borrow_mut().take();
            let this = {
                let mut g = generation.borrow_mut();
                *g += 1;
                *g
            };
            let old = handle.borrow_mut().take();
            if let Some(old) = old {
                old.disconnect();
            }
            this
        })
    };

    let connect = {
        let dispatcher = ui.dispatcher();
        let last_settings = last_settings.clone();
        let generation = generation.clone();
        let next_generation = next_generation.clone();
        let start = {
            let dispatcher = dispatcher.clone();
            let clipboard_sent = clipboard_sent.clone();
            Rc::new(move |this: u64, settings: Settings| {
                clipboard_sent.borrow_mut().take();
                match ConsoleSpec::new(this, &settings) {
                    Ok(spec) => dispatcher.dispatch(Action::Start(spec)),
                    Err(message) => {
                        crate::transport::discard_early_socket();
                        dispatcher.dispatch(Action::Failed(message))
                    }
                }
            })
        };
        Callback::from(move |settings: Settings| {
            // The old console closes before the new one opens.
            let this = next_generation();
            *last_settings.borrow_mut() = settings.clone();
            if !settings.needs_ca_fetch() {
                start(this, settings);
                return;
            }
            // ca=: fetch the CA first; it is kept in the settings, so reconnects reuse it.
            let url = settings.ca_url.clone().unwrap_or_default();
            dispatcher.dispatch(Action::FetchingCa(oxvnc_resolve_url(&url)));
            let (start, generation, last_settings, dispatcher) =
                (start.clone(), generation.clone(), last_settings.clone(), dispatcher.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let fetched = fetch_ca(&url).await;
                if !is_current(&generation, this) {
                    return;
                }
                match fetched {
                    Ok(pem) => {
                        let mut settings = settings;
                        settings.tls_ca = Some(pem);
                        *last_settings.borrow_mut() = settings.clone();
                        start(this, settings);
                    }
                    Err(message) => {
                        crate::transport::discard_early_socket();
                        dispatcher.dispatch(Action::Failed(message))
                    }
                }
            });
        })
    };

    // ?autoconnect=1: connect once, right after the first render.
    {
        let connect = connect.clone();
        let initial = initial.clone();
        use_effect_with((), move |_| {
            if initial.autoconnect {
                connect.emit((*initial).clone());
            } else {
                crate::transport::discard_early_socket();
            }
        });
    }

    // Connected: take the keyboard focus and fit the canvas to the now final layout.
    {
        let handle = handle.clone();
        use_effect_with((ui.phase.clone(), ui.clipboard_open), move |(phase, _)| {
            let console = handle.borrow().clone();
            if let Some(c) = console {
                c.refit();
                if *phase == Phase::Connected {
                    c.focus();
                }
            }
        });
    }

    // ?reconnect=1: after a disconnect that may heal, try again after reconnect_delay, doubled
    // for every attempt that failed since the desktop was last on screen.
    {
        let connect = connect.clone();
        let last_settings = last_settings.clone();
        let reconnect_timer = reconnect_timer.clone();
        let dispatcher = ui.dispatcher();
        let wanted = ui.phase == Phase::Disconnected && ui.retry && last_settings.borrow().reconnect;
        let attempt = ui.attempt;
        use_effect_with((ui.disconnects, wanted), move |&(_, wanted)| {
            if wanted {
                let settings = last_settings.borrow().clone();
                let delay_ms = reconnect_backoff(settings.reconnect_delay_ms, attempt);
                dispatcher.dispatch(Action::ReconnectScheduled { delay_ms });
                *reconnect_timer.borrow_mut() = Some(Timeout::new(delay_ms, move || connect.emit(settings)));
            }
        });
    }

    // Calls `f` with the console on screen, if there is one.
    let with_console = {
        let handle = handle.clone();
        move |f: &dyn Fn(&ConsoleHandle)| {
            let console = handle.borrow().clone();
            if let Some(c) = console {
                f(&c);
            }
        }
    };

    let on_connect = {
        let connect = connect.clone();
        let initial = initial.clone();
        Callback::from(move |form: forms::FormValues| connect.emit(form.apply(&initial)))
    };
    let on_disconnect = {
        let dispatcher = ui.dispatcher();
        let next_generation = next_generation.clone();
        Callback::from(move |_: ()| {
            next_generation();
            dispatcher.dispatch(Action::UserDisconnect);
        })
    };
    let on_credentials = {
        let with_console = with_console.clone();
        let dispatcher = ui.dispatcher();
        Callback::from(move |c: Credentials| {
            with_console(&|h| {
                dispatcher.dispatch(Action::CredentialsSent);
                h.send_credentials(c.clone());
            })
        })
    };
    let on_trust = {
        let with_console = with_console.clone();
        let dispatcher = ui.dispatcher();
        Callback::from(move |trust: bool| {
            with_console(&|h| {
                dispatcher.dispatch(Action::CertificateAnswered);
                h.trust_certificate(trust);
            })
        })
    };
    let on_keys = {
        let with_console = with_console.clone();
        Callback::from(move |keys: Vec<(u32, bool)>| {
            with_console(&|h| {
                h.send_keys(&keys);
                h.focus();
            })
        })
    };
    let on_clipboard_send = {
        let with_console = with_console.clone();
        let clipboard_sent = clipboard_sent.clone();
        Callback::from(move |text: String| {
            if clipboard_sent.borrow().as_deref() == Some(text.as_str()) {
                return;
            }
            with_console(&|h| {
                h.clipboard_paste(&text);
                *clipboard_sent.borrow_mut() = Some(text.clone());
            })
        })
    };
    let on_clipboard_edit = {
        let dispatcher = ui.dispatcher();
        Callback::from(move |text: String| dispatcher.dispatch(Action::ClipboardEdited(text)))
    };
    let on_toggle_clipboard = {
        let dispatcher = ui.dispatcher();
        Callback::from(move |_| dispatcher.dispatch(Action::ToggleClipboard))
    };
    let on_fullscreen = Callback::from(|_| toggle_fullscreen());
    let on_view = {
        let (dispatcher, last_settings) = (ui.dispatcher(), last_settings.clone());
        Callback::from(move |(view_only, resize): (bool, ResizeMode)| {
            {
                let mut s = last_settings.borrow_mut();
                (s.view_only, s.resize) = (view_only, resize);
            }
            dispatcher.dispatch(Action::View { view_only, resize });
        })
    };
    let on_power = {
        let with_console = with_console.clone();
        Callback::from(move |action: oxvnc_rfb::XvpAction| {
            with_console(&|h| {
                h.power(action);
            })
        })
    };
    let on_keyboard = {
        let with_console = with_console.clone();
        Callback::from(move |_: ()| with_console(&|h| h.focus()))
    };

    // The screen: the console of the latest connect, its events tagged with its generation so
    // that a console being replaced says nothing to the page.
    let screen = ui.console.as_ref().map(|spec| {
        let this = spec.generation;
        let on_ready = {
            let (handle, generation, dispatcher) = (handle.clone(), generation.clone(), ui.dispatcher());
            Callback::from(move |h: ConsoleHandle| {
                if is_current(&generation, this) {
                    *handle.borrow_mut() = Some(h);
                    dispatcher.dispatch(Action::Ready);
                } else {
                    h.disconnect();
                }
            })
        };
        let on_event = {
            let (generation, dispatcher, clipboard_sent) = (generation.clone(), ui.dispatcher(), clipboard_sent.clone());
            Callback::from(move |e: ConsoleEvent| {
                if !is_current(&generation, this) {
                    return;
                }
                match &e {
                    // From `on_disconnect`, which also hears a console that failed to start.
                    ConsoleEvent::Disconnect { .. } => return,
                    ConsoleEvent::Clipboard(text) => {
                        clipboard_sent.borrow_mut().take();
                        clipboard::write_system(text);
                    }
                    _ => {}
                }
                dispatcher.dispatch(Action::Console(e));
            })
        };
        let on_console_disconnect = {
            let (generation, dispatcher) = (generation.clone(), ui.dispatcher());
            Callback::from(move |d: Disconnect| {
                if is_current(&generation, this) {
                    dispatcher.dispatch(Action::Console(ConsoleEvent::Disconnect { clean: d.clean, reason: d.reason }));
                }
            })
        };
        let o = &spec.options;
        html! {
            <VncConsole key={this.to_string()} url={spec.url.clone()}
                credentials={o.credentials.clone()} shared={o.shared} view_only={o.view_only} resize={o.resize}
                quality={o.quality} compression={o.compression} lossless={o.lossless}
                show_dot_cursor={o.show_dot_cursor} tls_ca={o.tls_ca.clone()} tls_fingerprint={o.tls_fingerprint.clone()}
                style="position: absolute; inset: 0"
                on_ready={on_ready} on_event={on_event} on_disconnect={on_console_disconnect}/>
        }
    });

    let status = status_text(&ui, &last_settings.borrow());
    let connected = ui.phase == Phase::Connected;
    let view_only = last_settings.borrow().view_only;
    let resize = last_settings.borrow().resize;
    let scale = resize.fits();
    let show_form = matches!(ui.phase, Phase::Idle | Phase::Disconnected) && !ui.reconnecting;

    html! {
        <div class="oxvnc" data-state={ui.phase.name()}>
            <header class="oxvnc-bar">
                <span class="oxvnc-brand">{ "oxvnc" }</span>
                if connected {
                    <Toolbar
                        view_only={view_only}
                        resize={resize}
                        on_view={on_view}
                        clipboard_open={ui.clipboard_open}
                        on_keys={on_keys}
                        on_toggle_clipboard={on_toggle_clipboard}
                        on_fullscreen={on_fullscreen}
                        on_keyboard={on_keyboard}
                        power={ui.power}
                        on_power={on_power}
                        on_disconnect={on_disconnect.clone()}
                    />
                } else if !show_form {
                    <button type="button" data-tool="cancel" class="oxvnc-danger"
                        title={if ui.reconnecting { "Stop reconnecting" } else { "Stop connecting" }}
                        onclick={on_disconnect.reform(|_: MouseEvent| ())}>
                        { if ui.reconnecting { "Cancel reconnect" } else { "Cancel" } }
                    </button>
                }
                <span class="oxvnc-status" role="status" aria-live="polite">{ status }</span>
            </header>
            <div class="oxvnc-body">
                <main class={classes!("oxvnc-screen", scale.then_some("scaled"))}>
                    { for screen }
                    if show_form {
                        <ConnectForm initial={(*last_settings.borrow()).clone()} error={ui.error.clone()} on_connect={on_connect}/>
                    }
                    if let Phase::Credentials { username } = ui.phase {
                        <CredentialsForm username={username} on_submit={on_credentials}/>
                    }
                    if let Phase::Certificate { fingerprint } = &ui.phase {
                        <CertificateForm fingerprint={fingerprint.clone()} on_answer={on_trust}/>
                    }
                </main>
                if connected && ui.clipboard_open {
                    <ClipboardPanel
                        text={ui.clipboard.clone()}
                        view_only={view_only}
                        on_edit={on_clipboard_edit}
                        on_send={on_clipboard_send}
                    />
                }
            </div>
        </div>
    }
}

fn status_text(ui: &UiState, settings: &Settings) -> String {
    match &ui.phase {
        Phase::Idle => "Not connected.".into(),
        Phase::FetchingCa { url } => format!("Fetching the VNC server's CA certificate from {url}…"),
        Phase::Connecting { url } => format!("Connecting to {url}…"),
        Phase::Handshake => "Connected to the relay; starting the VNC session…".into(),
        Phase::Credentials { .. } => "The server asks for a password.".into(),
        Phase::Certificate { .. } => "The VNC server's certificate cannot be checked.".into(),
        Phase::Connected => {
            let name = if ui.name.is_empty() { "the remote desktop" } else { ui.name.as_str() };
            let mode = if settings.view_only { " (view only)" } else { "" };
            let notice = ui.notice.as_ref().map(|n| format!(" {n}")).unwrap_or_default();
            format!("Connected to {name}, {}×{}{mode}.{notice}", ui.size.0, ui.size.1)
        }
        Phase::Disconnected if ui.reconnecting => format!(
            "{} Reconnecting in {} s…",
            ui.error.clone().unwrap_or_default(),
            ui.reconnect_delay_ms.div_ceil(1000)
        ),
        Phase::Disconnected => "Disconnected.".into(),
    }
}

fn toggle_fullscreen() {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    if doc.fullscreen_element().is_some() {
        doc.exit_fullscreen();
    } else if let Some(root) = doc.document_element() {
        let _ = root.request_fullscreen();
    }
}

/// Mounts the console into `root`.
pub fn mount(root: web_sys::Element) {
    yew::Renderer::<App>::with_root(root).render();
}
