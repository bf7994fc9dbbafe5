//! The embedding API in headless Chromium: `www/embed.html` with two consoles side by side — the
//! left one the `<oxvnc-console>` custom element, the right one `new Console(element, url,
//! options)` — each on its own TigerVNC Xvnc behind one `oxvnc serve --token-file`:
//!
//! - both canvases equal the `xwd` captures of their X screens pixel for pixel (lossless), as
//!   does the Yew component `VncConsole` (mounted with `mountVncConsole`), and the left one
//!   equals what the full console page (`index.html`) shows of the same server;
//! - each console's events come in order: `connect`, then `desktopname` and `resize`, and after
//!   `disconnect()` a `disconnect` with `clean: true`;
//! - keys reach only the console that has the focus, `sendKey` and `sendCtrlAltDel` reach the
//!   server (seen by `xev` on the X root window, Ctrl and Alt held while Delete goes down);
//! - a view-only console sends nothing: typed keys, `sendKey` and `sendCtrlAltDel` never arrive.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use image::RgbaImage;
use oxvnc_tests::browser::{self, Browser};
use oxvnc_tests::compat::{Relay, XvncDesktop};
use oxvnc_tests::pixels;
use oxvnc_tests::servers::{self, Server};
use oxvnc_tests::x11::XDisplay;
use serde_json::{Value, json};

const ARTIFACTS: &str = "embed";
/// Hang guards (not timing checks).
const LIMIT: Duration = Duration::from_secs(60);
const SIZE: (u32, u32) = (800, 600);

const KEY_F12: u32 = 0xffc9;
const KEY_CONTROL_L: u32 = 0xffe3;
const KEY_ALT_L: u32 = 0xffe9;
const KEY_DELETE: u32 = 0xffff;

fn path_str(p: &Path) -> &str {
    p.to_str().expect("artifact paths are UTF-8")
}

/// The console page and `www/`'s other files with the freshly built wasm client (see
/// [`oxvnc_tests::browser::web_root`]), checked for what embedding needs.
fn web_root() -> &'static Path {
    static CHECKED: OnceLock<&'static Path> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let root = oxvnc_tests::browser::web_root(ARTIFACTS);
        let dts = std::fs::read_to_string(root.join("pkg/oxvnc_client.d.ts")).expect("the TypeScript definitions");
        assert!(dts.contains("export class Console"), "oxvnc_client.d.ts has no Console class");
        assert!(root.join("embed.html").is_file(), "www/embed.html is missing");
        root
    })
}

// ---------------------------------------------------------------------------------------------
// xev on the root window: which keys the X server got.

/// `xev -root -event keyboard` on `display`, line-buffered into a file.
struct KeyWatcher {
    _xev: Server,
    out: PathBuf,
}

/// One KeyPress: its keysym and modifier state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Press {
    keysym: u32,
    state: u32,
}

impl KeyWatcher {
    fn start(display: &XDisplay, tag: &str) -> KeyWatcher {
        let out = servers::artifacts_dir(ARTIFACTS).join(servers::unique_name(&format!("xev-{tag}")));
        let mut cmd = display.command("sh");
        cmd.arg("-c").arg("exec stdbuf -oL xev -root -event keyboard > \"$1\"").arg("sh").arg(&out);
        let xev = Server::spawn("xev", cmd);
        let watcher = KeyWatcher { _xev: xev, out };
        // xev listens once an F12 typed through XTEST shows up.
        watcher.barrier(display).unwrap_or_else(|e| panic!("{e}"));
        watcher
    }

    fn presses(&self) -> Vec<Press> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let mut out = Vec::new();
        let mut in_press = false;
        let mut state = 0;
        for line in text.lines() {
            if line.starts_with("KeyPress event") {
                in_press = true;
            } else if line.starts_with("KeyRelease event") {
                in_press = false;
            }
            if !in_press {
                continue;
            }
            if let Some(s) = line.split("state 0x").nth(1) {
                state = u32::from_str_radix(s.split(',').next().unwrap_or("").trim(), 16).unwrap_or(0);
            }
            if let Some(k) = line.split("(keysym 0x").nth(1) {
                if let Ok(keysym) = u32::from_str_radix(k.split(',').next().unwrap_or("").trim(), 16) {
                    out.push(Press { keysym, state });
                    in_press = false;
                }
            }
        }
        out
    }

    fn keysyms(&self) -> Vec<u32> {
        self.presses().iter().map(|p| p.keysym).collect()
    }

    /// Types F12 with xdotool (XTEST) and waits until xev reports it: every key the X server
    /// took before is in the file by then.
    fn barrier(&self, display: &XDisplay) -> Result<(), String> {
        let before = self.keysyms().iter().filter(|&&k| k == KEY_F12).count();
        let deadline = Instant::now() + LIMIT;
        loop {
            let mut cmd = display.command("xdotool");
            cmd.args(["key", "F12"]);
            let done = servers::run_with_limit(cmd, LIMIT);
            if !done.status.success() {
                return Err(format!("xdotool key F12 failed: {}", done.stderr));
            }
            let poll_until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < poll_until {
                if self.keysyms().iter().filter(|&&k| k == KEY_F12).count() > before {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if Instant::now() >= deadline {
                return Err(format!("xev did not report F12 within {LIMIT:?}: {:?}", self.keysyms()));
            }
        }
    }

    /// Waits until a press of `keysym` shows up (sent in band after the keys under test, so
    /// everything the console sent before it is in by then).
    async fn wait_for(&self, keysym: u32, from: usize, what: &str) -> Result<(), String> {
        let deadline = Instant::now() + LIMIT;
        while !self.keysyms().get(from..).unwrap_or_default().contains(&keysym) {
            if Instant::now() >= deadline {
                return Err(format!("{what}: xev saw no key {keysym:#x} within {LIMIT:?}: {:?}", self.keysyms()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The page.

/// `arguments[0]` is a CSS selector of a canvas: its size and all its pixels as base64 RGBA.
const CANVAS_SCRIPT: &str = r#"
const canvas = document.querySelector(arguments[0]);
if (!canvas || canvas.width === 0 || canvas.height === 0) { return null; }
return { width: canvas.width, height: canvas.height, rgba: rgbaBase64(canvas, 0, 0, canvas.width, canvas.height) };
"#;

async fn canvas(client: &Client, selector: &str) -> Result<Option<RgbaImage>, String> {
    let v = client
        .execute(&browser::with_rgba(CANVAS_SCRIPT), vec![json!(selector)])
        .await
        .map_err(|e| format!("reading {selector}: {e}"))?;
    match browser::canvas_size(&v)? {
        Some((w, h)) => browser::rgba_field(&v, w, h),
        None => Ok(None),
    }
}

/// Reads the canvas at `selector` until it equals `want`.
async fn wait_canvas(client: &Client, selector: &str, want: &RgbaImage, name: &str) -> Result<RgbaImage, String> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let shown = canvas(client, selector).await?;
        if let Some(img) = &shown {
            if pixels::diff(want, img).is_none() {
                return Ok(img.clone());
            }
        }
        if Instant::now() >= deadline {
            if let Some(img) = &shown {
                let _ = pixels::check_same(ARTIFACTS, name, want, img);
            }
            let log = event_log(client).await.unwrap_or_default();
            return Err(format!(
                "{selector} did not show its server within {LIMIT:?} (size {:?}); events: {log:?}",
                shown.map(|i| i.dimensions())
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The page's event log: (console, type, detail).
async fn event_log(client: &Client) -> Result<Vec<(String, String, Value)>, String> {
    let v = client
        .execute("return window.oxvncEmbedLog || [];", vec![])
        .await
        .map_err(|e| format!("reading the event log: {e}"))?;
    Ok(v.as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["console"].as_str().unwrap_or_default().to_string(),
                        e["type"].as_str().unwrap_or_default().to_string(),
                        e["detail"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// One console's events, in order.
async fn events_of(client: &Client, console: &str) -> Result<Vec<(String, Value)>, String> {
    Ok(event_log(client).await?.into_iter().filter(|(c, _, _)| c == console).map(|(_, t, d)| (t, d)).collect())
}

/// Waits until `console` has raised `count` events of `kind`.
async fn wait_event(client: &Client, console: &str, kind: &str, count: usize) -> Result<Vec<(String, Value)>, String> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let events = events_of(client, console).await?;
        if events.iter().filter(|(t, _)| t == kind).count() >= count {
            return Ok(events);
        }
        if Instant::now() >= deadline {
            return Err(format!("{console}: no {kind} event #{count} within {LIMIT:?}; events: {events:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `console`'s events are one connection's: connect, desktopname, resize (of `SIZE`), and
/// nothing that says it failed.
fn check_connected_events(console: &str, events: &[(String, Value)]) -> Result<(), String> {
    let kinds: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    if kinds.len() < 3 || kinds[..3] != ["connect", "desktopname", "resize"] {
        return Err(format!("{console}: events out of order: {events:?}"));
    }
    if events[1].1["name"] != json!("oxvnc-interop") {
        return Err(format!("{console}: desktop name {:?}", events[1].1));
    }
    if events[2].1 != json!({ "width": SIZE.0, "height": SIZE.1 }) {
        return Err(format!("{console}: resize {:?}", events[2].1));
    }
    if let Some(bad) = kinds.iter().find(|k| ["disconnect", "securityfailure", "credentialsrequired"].contains(k)) {
        return Err(format!("{console}: unexpected {bad} event: {events:?}"));
    }
    Ok(())
}

async fn js(client: &Client, script: &str) -> Result<Value, String> {
    client.execute(script, vec![]).await.map_err(|e| format!("running {script:?}: {e}"))
}

async fn type_into(client: &Client, selector: &str, text: &str) -> Result<(), String> {
    client
        .find(Locator::Css(selector))
        .await
        .map_err(|e| format!("finding {selector}: {e}"))?
        .send_keys(text)
        .await
        .map_err(|e| format!("typing into {selector}: {e}"))
}

/// How many connections Xvnc has logged as closed (it reads everything a client sent first).
fn xvnc_closed(x: &XDisplay) -> usize {
    std::fs::read_to_string(x.server.log_path()).unwrap_or_default().matches("closed:").count()
}

async fn wait_xvnc_closed(x: &XDisplay, count: usize) -> Result<(), String> {
    let deadline = Instant::now() + LIMIT;
    while xvnc_closed(x) < count {
        if Instant::now() >= deadline {
            return Err(format!("Xvnc {} logged no closed connection #{count} within {LIMIT:?}", x.name()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[test]
fn embed_page_runs_two_independent_consoles() {
    let mut left_desktop = XvncDesktop::start(SIZE, "embed-left");
    let mut right_desktop = XvncDesktop::start(SIZE, "embed-right");
    let web = web_root();
    let dir = servers::artifacts_dir(ARTIFACTS).join(servers::unique_name("tokens"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, format!("left: {}\nright: {}\n", left_desktop.vnc_addr(), right_desktop.vnc_addr()))
        .expect("write the token file");
    let relay = Relay::start(&["--web", path_str(web), "--token-file", path_str(&tokens)]);
    let browser = Browser::start((1600, 1000), ARTIFACTS);
    let ws = |token: &str| relay.ws_url(&format!("websockify?token={token}"));
    let url = format!(
        "http://127.0.0.1:{}/embed.html?left={}&right={}&lossless=1&resize=scale",
        relay.port(),
        encode(&ws("left")),
        encode(&ws("right"))
    );
    let page_url = format!(
        "http://127.0.0.1:{}/?autoconnect=1&view_only=1&path={}",
        relay.port(),
        encode("websockify?token=left")
    );
    let left_keys = KeyWatcher::start(&left_desktop.x, "left");
    let right_keys = KeyWatcher::start(&right_desktop.x, "right");
    let left_x = &left_desktop.x;
    let (left_screen, right_screen) = (left_desktop.screen.clone(), right_desktop.screen.clone());

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let result: Result<(), String> = rt.block_on(async {
        let client = browser.session().await;
        let result = async {
            client.goto(&url).await.map_err(|e| format!("opening {url}: {e}"))?;
            // Both consoles draw their own server, pixel for pixel.
            let left_canvas = wait_canvas(&client, "#left canvas", &left_screen, "left-canvas").await?;
            wait_canvas(&client, "#right canvas", &right_screen, "right-canvas").await?;
            check_connected_events("left", &events_of(&client, "left").await?)?;
            check_connected_events("right", &events_of(&client, "right").await?)?;
            let state = js(&client, "return [oxvncConsoles.left.connected, oxvncConsoles.right.connected, oxvncConsoles.right.viewOnly];").await?;
            if state != json!([true, true, false]) {
                return Err(format!("connected/viewOnly getters: {state}"));
            }

            // Keys go to the focused console only; the API's keys go to their console.
            let (l0, r0) = (left_keys.keysyms().len(), right_keys.keysyms().len());
            type_into(&client, "#left canvas", "l").await?;
            type_into(&client, "#right canvas", "r").await?;
            js(&client, "oxvncConsoles.right.sendKey(0x61); oxvncConsoles.right.sendCtrlAltDel();").await?;
            // In-band barriers: F12 through each console, after everything above.
            js(&client, "oxvncConsoles.left.sendKey(0xffc9, 'F12'); oxvncConsoles.right.sendKey(0xffc9, 'F12');").await?;
            left_keys.wait_for(KEY_F12, l0, "left barrier").await?;
            right_keys.wait_for(KEY_F12, r0, "right barrier").await?;
            let left_got: Vec<u32> = left_keys.keysyms()[l0..].to_vec();
            let right_presses = right_keys.presses()[r0..].to_vec();
            let right_got: Vec<u32> = right_presses.iter().map(|p| p.keysym).collect();
            if left_got != [u32::from('l'), KEY_F12] {
                return Err(format!("the left console's server got {left_got:x?}, not l and F12"));
            }
            if right_got != [u32::from('r'), u32::from('a'), KEY_CONTROL_L, KEY_ALT_L, KEY_DELETE, KEY_F12] {
                return Err(format!("the right console's server got {right_got:x?}, not r, a, Ctrl-Alt-Del and F12"));
            }
            // X state bits: Control 0x4, Mod1 (Alt) 0x8.
            let delete = right_presses[4];
            if delete.state & 0xc != 0xc {
                return Err(format!("Delete went down without Ctrl and Alt held: {delete:?}"));
            }

            // The custom element turned view-only changes its running console (no reconnect);
            // then nothing it is asked to send reaches the server.
            js(&client, "oxvncConsoles.left.setAttribute('view-only', '');").await?;
            let view_only = js(&client, "return oxvncConsoles.left.console.viewOnly;").await?;
            if view_only != json!(true) {
                return Err(format!("left.console.viewOnly is {view_only}"));
            }
            let events = events_of(&client, "left").await?;
            if events.iter().any(|(t, _)| t == "disconnect") || events.iter().filter(|(t, _)| t == "connect").count() != 1 {
                return Err(format!("left: view-only reconnected instead of changing the session: {events:?}"));
            }
            wait_canvas(&client, "#left canvas", &left_screen, "left-canvas-view-only").await?;
            let l1 = left_keys.keysyms().len();
            type_into(&client, "#left canvas", "v").await?;
            js(&client, "oxvncConsoles.left.sendKey(0x76); oxvncConsoles.left.sendCtrlAltDel(); oxvncConsoles.left.clipboardPaste('x');").await?;
            // Whatever the console sent is in before Xvnc logs the connection closed.
            let closed = xvnc_closed(left_x);
            js(&client, "oxvncConsoles.left.disconnect();").await?;
            let events = wait_event(&client, "left", "disconnect", 1).await?;
            wait_xvnc_closed(left_x, closed + 1).await?;
            left_keys.barrier(left_x)?;
            let after: Vec<u32> = left_keys.keysyms()[l1..].to_vec();
            if after != [KEY_F12] {
                return Err(format!("the view-only console's server got keys {after:x?}"));
            }
            let (last, detail) = events.last().cloned().unwrap_or_default();
            if last != "disconnect" || detail["clean"] != json!(true) {
                return Err(format!("left: the last event is not a clean disconnect: {events:?}"));
            }

            // The JS API's disconnect: a clean disconnect event, last.
            js(&client, "oxvncConsoles.right.disconnect();").await?;
            let events = wait_event(&client, "right", "disconnect", 1).await?;
            let (last, detail) = events.last().cloned().unwrap_or_default();
            if last != "disconnect" || detail != json!({ "clean": true, "reason": "" }) {
                return Err(format!("right: the last event is not a clean disconnect: {events:?}"));
            }

            // The Yew component (mounted from JavaScript) shows the right server too.
            js(
                &client,
                &format!(
                    "const d = document.createElement('div'); d.id = 'yew'; \
                     d.style.width = '800px'; d.style.height = '600px'; document.body.append(d); \
                     for (const type of ['connect', 'disconnect', 'desktopname', 'resize', 'securityfailure', 'credentialsrequired']) {{ \
                         d.addEventListener(type, (e) => window.oxvncEmbedLog.push({{ console: 'yew', type, detail: e.detail }})); \
                     }} \
                     window.oxvncMountComponent(d, {}, {{ lossless: true, viewOnly: true, resize: 'scale' }});",
                    json!(ws("right"))
                ),
            )
            .await?;
            wait_canvas(&client, "#yew canvas", &right_screen, "yew-canvas").await?;
            check_connected_events("yew", &events_of(&client, "yew").await?)?;

            // The full console page shows the same screen as the custom element did.
            client.goto(&page_url).await.map_err(|e| format!("opening {page_url}: {e}"))?;
            wait_canvas(&client, "canvas.oxvnc-canvas", &left_canvas, "page-vs-element").await?;
            Ok(())
        }
        .await;
        let _ = client.close().await;
        result
    });
    result.unwrap_or_else(|e| panic!("{e}\n{}\n{}", relay.server.diagnostics(), browser.diagnostics()));
    left_desktop.check_unchanged().unwrap_or_else(|e| panic!("left: {e}"));
    right_desktop.check_unchanged().unwrap_or_else(|e| panic!("right: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
}
