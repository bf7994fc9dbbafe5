//! VeNCrypt TLS end to end inside the browser tab: TigerVNC's Xvnc with `-SecurityTypes X509Vnc`
//! and a test CA made here, `oxvnc serve --vnc` in front (it only forwards bytes), the console
//! page (`www/` + the freshly built wasm client and its lazily loaded TLS module) in headless
//! Chromium:
//!
//! - `ca=` pointing at the test CA (a file served next to the page) and `password=`: the
//!   certificate is verified without asking, the canvas equals Xvnc's own capture pixel for
//!   pixel, and the TLS module (`oxvnc_tls_bg.wasm`) was fetched only for that connection;
//! - no CA: the prompt shows the certificate's real SHA-256 fingerprint (computed here by
//!   `openssl`), trusting it connects; `fingerprint=` with that fingerprint connects without the
//!   prompt, with another fingerprint fails with a sentence saying so;
//! - `ca=` of another CA, or of a file that is not there: a sentence naming the problem;
//! - the JavaScript API's `tlsCa` / `tlsFingerprint` options do the same, and bad values make
//!   the constructor throw.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use image::RgbaImage;
use oxvnc_tests::browser::{self, Browser};
use oxvnc_tests::compat::Relay;
use oxvnc_tests::pixels;
use oxvnc_tests::pki::{self, TestPki};
use oxvnc_tests::servers;
use oxvnc_tests::x11::{self, XDisplay};
use serde_json::{Value, json};

const ARTIFACTS: &str = "browser-tls";
const SIZE: (u32, u32) = (640, 480);
const PASSWORD: &str = "tls-pw1!";
/// Hang guards (not timing checks).
const CONNECT_LIMIT: Duration = Duration::from_secs(90);
const DRAW_LIMIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The servers.

/// Xvnc with X509Vnc (the test PKI's certificate, VNC password inside TLS) showing the test
/// picture, `oxvnc serve` in front of it serving the page, and files put next to the page.
/// Everything is stopped and removed when it drops (Xvnc and the relay by their guards).
struct Setup {
    pki: TestPki,
    /// Another CA and a certificate it signed: not the server's.
    other: TestPki,
    x: XDisplay,
    relay: Relay,
    /// Files added to the web root (removed on drop).
    served: Vec<PathBuf>,
    /// Xvnc's screen when the test started: what the canvas must show.
    screen: RgbaImage,
}

impl Setup {
    fn start(tag: &str) -> Setup {
        let pki = pki::make_pki(ARTIFACTS, tag, false);
        let other = pki::make_pki(ARTIFACTS, &format!("{tag}-other"), false);
        let passwd = servers::artifacts_dir(ARTIFACTS).join(format!("{}.passwd", servers::unique_name(tag)));
        x11::write_vnc_password_file(PASSWORD, &passwd);
        let passwd = passwd.to_str().expect("utf-8 path").to_string();
        let (mut x, port) =
            pki::start_tls_xvnc(SIZE, "X509Vnc", &pki, &["-PasswordFile", &passwd, "-UseBlacklist=0"], ARTIFACTS);
        let screen = x.capture();
        let web = browser::web_root(ARTIFACTS);
        let relay = Relay::start(&["--web", path_str(web), "--vnc", &format!("127.0.0.1:{port}")]);
        Setup { pki, other, x, relay, served: Vec::new(), screen }
    }

    /// Copies `file` into the web root; returns its path on the relay (`/NAME`).
    fn serve(&mut self, file: &str) -> String {
        let name = Path::new(file).file_name().expect("file name").to_owned();
        let dest = browser::web_root(ARTIFACTS).join(&name);
        std::fs::copy(file, &dest).unwrap_or_else(|e| panic!("copy {file} to {}: {e}", dest.display()));
        self.served.push(dest);
        format!("/{}", name.to_str().expect("utf-8 name"))
    }

    /// The console page with these query parameters (autoconnect, lossless, the password).
    fn page(&self, params: &str) -> String {
        format!(
            "http://127.0.0.1:{}/?autoconnect=1&lossless=1&view_only=1&password={}&{params}",
            self.relay.port(),
            encode(PASSWORD)
        )
    }

    fn diagnostics(&self, browser: &Browser) -> String {
        format!("{}\n{}\n{}", self.x.server.diagnostics(), self.relay.server.diagnostics(), browser.diagnostics())
    }

    /// Fails if Xvnc's screen changed (which would void the comparisons) or Xvnc died.
    fn check_unchanged(&mut self) {
        let now = self.x.capture();
        if let Some(m) = pixels::diff(&self.screen, &now) {
            panic!("the X screen changed during the test ({m}); comparisons are void");
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for f in &self.served {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("artifact paths are UTF-8")
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// The certificate's SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` prints it
/// ("AB:CD:…"): computed by another implementation than the console's.
fn openssl_fingerprint(cert: &str) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["x509", "-noout", "-fingerprint", "-sha256", "-in", cert]);
    let done = servers::run_with_limit(cmd, Duration::from_secs(30));
    assert!(done.status.success(), "openssl x509 -fingerprint failed: {}", done.stderr);
    let out = done.stdout_text();
    let fp = out.trim().rsplit('=').next().unwrap_or_default().trim().to_ascii_uppercase();
    assert_eq!(fp.len(), 32 * 3 - 1, "unexpected openssl output: {out:?}");
    fp
}

// ---------------------------------------------------------------------------------------------
// Reading the page.

/// The console's state, status and error texts, the fingerprint the certificate prompt shows,
/// the canvas size and (when asked for) all its pixels as base64 RGBA, and the resources the
/// page loaded.
const READ_SCRIPT: &str = r#"
const root = document.querySelector('.oxvnc');
const canvas = document.querySelector('canvas.oxvnc-canvas');
const text = (sel) => { const e = document.querySelector(sel); return e ? e.textContent : null; };
const out = {
    state: root ? root.dataset.state : 'no app',
    status: text('.oxvnc-status'),
    error: text('.oxvnc-error'),
    fingerprint: text('.oxvnc-fingerprint code'),
    resources: performance.getEntriesByType('resource').map((e) => e.name),
};
if (canvas && canvas.width > 0 && canvas.height > 0) {
    out.width = canvas.width;
    out.height = canvas.height;
    if (arguments[0]) {
        out.rgba = rgbaBase64(canvas, 0, 0, canvas.width, canvas.height);
    }
}
return out;
"#;

#[derive(Debug)]
struct Page {
    state: String,
    status: String,
    error: Option<String>,
    fingerprint: Option<String>,
    resources: Vec<String>,
    size: Option<(u32, u32)>,
    canvas: Option<RgbaImage>,
}

impl Page {
    /// Whether the page fetched a resource whose URL ends in `file`.
    fn loaded(&self, file: &str) -> bool {
        self.resources.iter().any(|r| r.split(['?', '#']).next().unwrap_or_default().ends_with(file))
    }
}

async fn read_page(client: &Client, pixels: bool) -> Result<Page, String> {
    let v = client
        .execute(&oxvnc_tests::browser::with_rgba(READ_SCRIPT), vec![json!(pixels)])
        .await
        .map_err(|e| format!("executing the read script: {e}"))?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let size = browser::canvas_size(&v)?;
    let canvas = match size {
        Some((w, h)) => browser::rgba_field(&v, w, h)?,
        None => None,
    };
    let resources = v
        .get("resources")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(Page {
        state: text("state").unwrap_or_default(),
        status: text("status").unwrap_or_default(),
        error: text("error"),
        fingerprint: text("fingerprint"),
        resources,
        size,
        canvas,
    })
}

/// Reads the page until `done` holds; `Err` when `limit` passes first (with the last state).
async fn wait_page(
    client: &Client,
    pixels: bool,
    limit: Duration,
    what: &str,
    mut done: impl FnMut(&Page) -> bool,
) -> Result<Page, String> {
    let deadline = Instant::now() + limit;
    loop {
        let page = read_page(client, pixels).await?;
        if done(&page) {
            return Ok(page);
        }
        if Instant::now() >= deadline {
            let page = Page { canvas: None, ..page };
            return Err(format!("{what} did not happen within {limit:?}; last page state: {page:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the console settles: connected, at the certificate prompt, or disconnected.
async fn settled(client: &Client, what: &str) -> Result<Page, String> {
    wait_page(client, false, CONNECT_LIMIT, what, |p| {
        matches!(p.state.as_str(), "connected" | "certificate" | "disconnected")
    })
    .await
}

/// Waits, once connected, until the canvas equals `screen`; `Err` with the last canvas saved
/// as artifacts when it does not.
async fn canvas_equals(client: &Client, screen: &RgbaImage, name: &str) -> Result<Page, String> {
    let result = wait_page(client, true, DRAW_LIMIT, "the canvas to equal the X screen", |p| {
        p.state == "connected" && p.canvas.as_ref().is_some_and(|c| pixels::diff(screen, c).is_none())
    })
    .await;
    if result.is_err()
        && let Ok(Page { canvas: Some(canvas), .. }) = read_page(client, true).await
    {
        let _ = pixels::check_same(ARTIFACTS, name, screen, &canvas);
    }
    result
}

/// Runs `f` with a WebDriver session on `browser`, closing the session afterwards.
fn drive<T>(browser: &Browser, f: impl AsyncFnOnce(&Client) -> Result<T, String>) -> Result<T, String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async {
        let client = browser.session().await;
        let result = f(&client).await;
        let _ = client.close().await;
        result
    })
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn ca_parameter_verifies_the_certificate_and_the_canvas_is_exact() {
    let mut setup = Setup::start("with-ca");
    let ca = setup.serve(&setup.pki.ca.clone());
    let idle = format!("http://127.0.0.1:{}/", setup.relay.port());
    let url = setup.page(&format!("ca={}", encode(&ca)));
    let browser = Browser::start((1400, 900), ARTIFACTS);

    let result = drive(&browser, async |client| {
        // The page alone does not load the TLS module.
        client.goto(&idle).await.map_err(|e| format!("opening {idle}: {e}"))?;
        let before = wait_page(client, false, CONNECT_LIMIT, "the connect form", |p| p.state == "idle").await?;
        client.goto(&url).await.map_err(|e| format!("opening {url}: {e}"))?;
        let page = settled(client, "connecting with the CA").await?;
        if page.state != "connected" {
            return Err(format!("with the right CA the console did not connect: {page:?}"));
        }
        let page = canvas_equals(client, &setup.screen, "with-ca-canvas").await?;
        Ok((before, page))
    });
    let (before, page) = result.unwrap_or_else(|e| panic!("{e}\n{}", setup.diagnostics(&browser)));
    assert!(before.loaded("oxvnc_client_bg.wasm"), "the console itself was not loaded: {:?}", before.resources);
    assert!(
        !before.loaded("oxvnc_tls_bg.wasm") && !before.loaded("oxvnc_tls.js"),
        "the TLS module was loaded before any server asked for TLS: {:?}",
        before.resources
    );
    assert!(
        page.loaded("oxvnc_tls.js") && page.loaded("oxvnc_tls_bg.wasm"),
        "the TLS connection did not load the TLS module: {:?}",
        page.resources
    );
    assert!(page.loaded(&ca), "the page did not fetch the CA at {ca}: {:?}", page.resources);
    assert_eq!(page.size, Some(SIZE));
    assert!(page.status.contains("640×480"), "status line: {:?}", page.status);
    pixels::assert_same(ARTIFACTS, "with-ca-canvas", &setup.screen, page.canvas.as_ref().expect("checked"));
    setup.check_unchanged();
}

#[test]
fn unknown_certificate_shows_its_fingerprint_and_can_be_pinned() {
    let mut setup = Setup::start("no-ca");
    let fingerprint = openssl_fingerprint(&setup.pki.cert);
    assert_eq!(fingerprint, setup.pki.fingerprint, "openssl and the test PKI disagree on the fingerprint");
    let prompt_url = setup.page("");
    let pinned_url = setup.page(&format!("fingerprint={}", encode(&fingerprint)));
    // Without colons and in lower case, as some tools print it.
    let other_fp = setup.other.fingerprint.replace(':', "").to_ascii_lowercase();
    let wrong_pin_url = setup.page(&format!("fingerprint={other_fp}"));
    let browser = Browser::start((1400, 900), ARTIFACTS);

    let result = drive(&browser, async |client| {
        // No CA: the prompt, with the certificate's fingerprint; trusting it connects.
        client.goto(&prompt_url).await.map_err(|e| format!("opening {prompt_url}: {e}"))?;
        let prompt = settled(client, "the certificate prompt").await?;
        if prompt.state != "certificate" {
            return Err(format!("without a CA the console did not ask about the certificate: {prompt:?}"));
        }
        client
            .find(Locator::Css("[data-answer=trust]"))
            .await
            .map_err(|e| format!("finding the Trust button: {e}"))?
            .click()
            .await
            .map_err(|e| format!("clicking Trust: {e}"))?;
        let trusted = canvas_equals(client, &setup.screen, "trusted-canvas").await?;

        // The fingerprint pinned in the address: no prompt.
        client.goto(&pinned_url).await.map_err(|e| format!("opening {pinned_url}: {e}"))?;
        let pinned = settled(client, "connecting with the pinned fingerprint").await?;
        if pinned.state != "connected" {
            return Err(format!("with the right fingerprint the console did not connect: {pinned:?}"));
        }
        let pinned = canvas_equals(client, &setup.screen, "pinned-canvas").await?;

        // Another fingerprint: refused, with a sentence.
        client.goto(&wrong_pin_url).await.map_err(|e| format!("opening {wrong_pin_url}: {e}"))?;
        let wrong = settled(client, "refusing the certificate").await?;
        Ok((prompt, trusted, pinned, wrong))
    });
    let (prompt, trusted, pinned, wrong) = result.unwrap_or_else(|e| panic!("{e}\n{}", setup.diagnostics(&browser)));
    assert_eq!(prompt.fingerprint.as_deref(), Some(fingerprint.as_str()), "the prompt's fingerprint");
    assert!(prompt.loaded("oxvnc_tls_bg.wasm"), "the TLS module was not loaded: {:?}", prompt.resources);
    pixels::assert_same(ARTIFACTS, "trusted-canvas", &setup.screen, trusted.canvas.as_ref().expect("checked"));
    pixels::assert_same(ARTIFACTS, "pinned-canvas", &setup.screen, pinned.canvas.as_ref().expect("checked"));
    assert_eq!(wrong.state, "disconnected", "with another fingerprint: {wrong:?}");
    let error = wrong.error.unwrap_or_default();
    eprintln!("with another fingerprint: {error}");
    assert!(error.contains("certificate is not the pinned one"), "error shown: {error:?}");
    assert!(error.contains(&fingerprint), "the error does not name the server's fingerprint: {error:?}");
    assert!(error.contains(&setup.other.fingerprint), "the error does not name the expected fingerprint: {error:?}");
    setup.check_unchanged();
}

#[test]
fn wrong_ca_or_missing_ca_file_is_explained() {
    let mut setup = Setup::start("wrong-ca");
    let other_ca = setup.serve(&setup.other.ca.clone());
    let wrong_ca_url = setup.page(&format!("ca={}", encode(&other_ca)));
    let missing = format!("/{}.pem", servers::unique_name("missing-ca"));
    let missing_url = setup.page(&format!("ca={}", encode(&missing)));
    let browser = Browser::start((1400, 900), ARTIFACTS);

    let result = drive(&browser, async |client| {
        client.goto(&wrong_ca_url).await.map_err(|e| format!("opening {wrong_ca_url}: {e}"))?;
        let wrong = settled(client, "refusing the certificate").await?;
        client.goto(&missing_url).await.map_err(|e| format!("opening {missing_url}: {e}"))?;
        let missing = settled(client, "the fetch of the CA failing").await?;
        Ok((wrong, missing))
    });
    let (wrong, missing_page) = result.unwrap_or_else(|e| panic!("{e}\n{}", setup.diagnostics(&browser)));

    assert_eq!(wrong.state, "disconnected", "with another CA: {wrong:?}");
    let error = wrong.error.unwrap_or_default();
    eprintln!("with another CA: {error}");
    assert!(error.starts_with("The secure (TLS) connection to the VNC server failed"), "error shown: {error:?}");
    assert!(error.contains("certificate is unknown: it is not signed by the given CA"), "error shown: {error:?}");
    assert!(error.contains(&setup.pki.fingerprint), "the error does not name the certificate: {error:?}");

    assert_eq!(missing_page.state, "disconnected", "with a CA file that is not there: {missing_page:?}");
    let error = missing_page.error.clone().unwrap_or_default();
    eprintln!("with a CA file that is not there: {error}");
    let full = format!("http://127.0.0.1:{}{missing}", setup.relay.port());
    assert!(
        error.starts_with(&format!("Could not get the VNC server's CA certificate from {full}: ")),
        "error shown: {error:?}"
    );
    assert!(error.contains("404"), "the error does not give the web server's answer: {error:?}");
    assert!(error.ends_with("Check the ca= parameter of the page's address."), "error shown: {error:?}");
    // Nothing reached the VNC server: no TLS module, no canvas drawn.
    assert!(!missing_page.loaded("oxvnc_tls_bg.wasm"), "resources: {:?}", missing_page.resources);
    setup.check_unchanged();
}

/// Starts a `Console` of the JavaScript API in a new element of the page, with `options`;
/// `window.oxvncTls` collects its events (or what the constructor threw).
const START_CONSOLE: &str = r#"
const [wsUrl, options] = arguments;
window.oxvncTls = { events: [], thrown: null, started: false };
(async () => {
    const m = await import('/pkg/oxvnc_client.js');
    await m.default();
    const el = document.createElement('div');
    el.style.cssText = 'width: 700px; height: 520px';
    document.body.appendChild(el);
    for (const t of ['connect', 'disconnect', 'securityfailure', 'serververification', 'credentialsrequired']) {
        el.addEventListener(t, (e) => window.oxvncTls.events.push({ type: t, detail: e.detail || {} }));
    }
    try {
        window.oxvncTlsConsole = new m.Console(el, wsUrl, options);
    } catch (e) {
        window.oxvncTls.thrown = String(e && e.message ? e.message : e);
    }
    window.oxvncTls.started = true;
})().catch((e) => { window.oxvncTls.thrown = 'the script failed: ' + e; window.oxvncTls.started = true; });
"#;

/// What the console started by [`START_CONSOLE`] did: (event types, the reason of the first
/// `disconnect` or `securityfailure`, what the constructor threw), once it connected,
/// disconnected, asked about the certificate or threw; then it is closed.
async fn embedded_console(
    client: &Client,
    ws_url: &str,
    options: Value,
) -> Result<(Vec<String>, String, String), String> {
    client
        .execute(START_CONSOLE, vec![json!(ws_url), options])
        .await
        .map_err(|e| format!("starting a Console: {e}"))?;
    let deadline = Instant::now() + CONNECT_LIMIT;
    loop {
        let state = client
            .execute("return window.oxvncTls;", vec![])
            .await
            .map_err(|e| format!("reading the Console's events: {e}"))?;
        let thrown = state.get("thrown").and_then(Value::as_str).unwrap_or_default().to_string();
        let events: Vec<(String, Value)> = state
            .get("events")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|e| {
                        let t = e.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
                        (t, e.get("detail").cloned().unwrap_or(Value::Null))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let types: Vec<String> = events.iter().map(|(t, _)| t.clone()).collect();
        let started = state.get("started").and_then(Value::as_bool).unwrap_or(false);
        let finished = types.iter().any(|t| matches!(t.as_str(), "connect" | "disconnect" | "serververification"));
        if (started && !thrown.is_empty()) || finished {
            let reason = events
                .iter()
                .find_map(|(_, d)| d.get("reason").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
            let _ = client
                .execute("const c = window.oxvncTlsConsole; if (c) { c.disconnect(); c.free(); window.oxvncTlsConsole = null; }", vec![])
                .await;
            return Ok((types, reason, thrown));
        }
        if Instant::now() >= deadline {
            return Err(format!("the Console did nothing within {CONNECT_LIMIT:?}: {state}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn javascript_api_takes_the_ca_and_the_fingerprint() {
    let setup = Setup::start("api");
    let ca_pem = std::fs::read_to_string(&setup.pki.ca).expect("read the CA");
    let page = format!("http://127.0.0.1:{}/", setup.relay.port());
    let ws = setup.relay.ws_url("websockify");
    let credentials = json!({ "password": PASSWORD });
    let browser = Browser::start((1400, 900), ARTIFACTS);

    let result = drive(&browser, async |client| {
        client.goto(&page).await.map_err(|e| format!("opening {page}: {e}"))?;
        wait_page(client, false, CONNECT_LIMIT, "the console page", |p| p.state == "idle").await?;
        let with_ca =
            embedded_console(client, &ws, json!({ "tlsCa": ca_pem, "credentials": credentials, "lossless": true }))
                .await?;
        let pinned = embedded_console(
            client,
            &ws,
            json!({ "tlsFingerprint": setup.pki.fingerprint, "credentials": credentials, "lossless": true }),
        )
        .await?;
        let wrong_pin = embedded_console(
            client,
            &ws,
            json!({ "tlsFingerprint": setup.other.fingerprint, "credentials": credentials }),
        )
        .await?;
        let wrong_ca =
            embedded_console(client, &ws, json!({ "tlsCa": std::fs::read_to_string(&setup.other.ca).unwrap_or_default(), "credentials": credentials }))
                .await?;
        let bad_pin = embedded_console(client, &ws, json!({ "tlsFingerprint": "12:34" })).await?;
        let bad_ca = embedded_console(client, &ws, json!({ "tlsCa": "not a certificate" })).await?;
        Ok((with_ca, pinned, wrong_pin, wrong_ca, bad_pin, bad_ca))
    });
    let (with_ca, pinned, wrong_pin, wrong_ca, bad_pin, bad_ca) =
        result.unwrap_or_else(|e| panic!("{e}\n{}", setup.diagnostics(&browser)));
    eprintln!("tlsCa: {with_ca:?}\ntlsFingerprint: {pinned:?}\nanother fingerprint: {wrong_pin:?}");
    eprintln!("another CA: {wrong_ca:?}\nbad fingerprint: {bad_pin:?}\nbad CA: {bad_ca:?}");
    assert_eq!(with_ca.0, ["connect"], "with tlsCa: {with_ca:?}");
    assert_eq!(pinned.0, ["connect"], "with tlsFingerprint: {pinned:?}");
    assert_eq!(wrong_pin.0, ["securityfailure", "disconnect"], "with another tlsFingerprint: {wrong_pin:?}");
    assert!(wrong_pin.1.contains("certificate is not the pinned one"), "{wrong_pin:?}");
    assert_eq!(wrong_ca.0, ["securityfailure", "disconnect"], "with another tlsCa: {wrong_ca:?}");
    assert!(wrong_ca.1.contains("not signed by the given CA"), "{wrong_ca:?}");
    assert!(bad_pin.0.is_empty() && bad_pin.2.contains("is not a SHA-256 certificate fingerprint"), "{bad_pin:?}");
    assert!(bad_ca.0.is_empty() && bad_ca.2.contains("is not a PEM certificate"), "{bad_ca:?}");
}
