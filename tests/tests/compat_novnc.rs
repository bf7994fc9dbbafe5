//! The real noVNC client (1.7, the npm package) in headless Chromium, driven over WebDriver,
//! draws a TigerVNC `Xvnc` screen relayed by `oxvnc serve`: its canvas must equal the `xwd`
//! capture of the X screen pixel for pixel whenever the server's encoding is lossless.
//!
//! The npm package ships noVNC's library (`core/`, `vendor/`) but not its `vnc.html` /
//! `vnc_lite.html` pages, so the test serves a minimal page of its own that embeds the library the
//! way noVNC documents for applications (`new RFB(element, url)`), next to a link to the package,
//! with `oxvnc serve --web`: the page and the WebSocket share one origin, as in a deployment.
//! noVNC draws the framebuffer 1:1 into its canvas (no scaling, no clipping; the cursor is a CSS
//! cursor, not canvas pixels), so the canvas is compared whole.
//!
//! What decides exactness is the encoding TigerVNC picks, not noVNC or the relay: noVNC always
//! sends a JPEG quality level, so as shipped it gets Tight JPEG for many-colour areas (and a
//! "lossless" refresh that is JPEG at quality 9). The page therefore narrows noVNC's offer per
//! run (lossless Tight, ZRLE, Hextile, RRE, Raw: each must be exact, and Xvnc's own per-session
//! statistics must name that encoder), and the shipped default is checked for exact size,
//! desktop name and solid colour bars, with the JPEG areas within a small rounding tolerance.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use fantoccini::Client;
use image::RgbaImage;
use oxvnc_tests::browser::Browser;
use oxvnc_tests::compat::{self, Relay, XvncDesktop};
use oxvnc_tests::pixels;
use oxvnc_tests::servers;
use serde_json::Value;

const SIZE: (u32, u32) = (800, 600);
const ARTIFACTS: &str = "compat-novnc";
/// Hang guards (not timing checks): the browser coming up, noVNC connecting, the canvas
/// settling on the server's picture.
const CONNECT_LIMIT: Duration = Duration::from_secs(60);
const DRAW_LIMIT: Duration = Duration::from_secs(60);
/// The `-desktop` name `x11::start_xvnc` gives Xvnc.
const DESKTOP_NAME: &str = "oxvnc-interop";

/// The page: noVNC's RFB object on a `<div>`, view-only, 1:1, its progress in `window.oxvncCompat`.
const PAGE: &str = r#"<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>oxvnc compatibility: noVNC</title>
<style>html, body { margin: 0; padding: 0; background: #000; } #screen { width: 100vw; height: 100vh; }</style>
</head>
<body>
<div id="screen"></div>
<script type="module">
const status = { state: 'loading', error: null, name: null, offered: null };
window.oxvncCompat = status;
try {
    const { default: RFB } = await import('./novnc/core/rfb.js');
    const query = new URLSearchParams(location.search);
    // Optionally narrow what noVNC offers (it has no setting for that) at the one place it sends
    // the list, the exported RFB.messages.clientEncodings: `encodings` keeps only the named
    // encodings, `lossless` drops the JPEG quality levels (without them TigerVNC never uses JPEG).
    const numbers = { raw: 0, copyrect: 1, rre: 2, hextile: 5, zlib: 6, tight: 7, zrle: 16, jpeg: 21, h264: 50, tightpng: -260 };
    const keep = query.get('encodings')?.split(',').map((n) => numbers[n]);
    const lossless = query.get('lossless') === '1';
    const send = RFB.messages.clientEncodings;
    RFB.messages.clientEncodings = (sock, list) => {
        const real = (e) => e >= 0 || e === numbers.tightpng;
        const kept = list.filter((e) => (real(e) ? !keep || keep.includes(e) : !(lossless && e >= -32 && e <= -23)));
        status.offered = kept;
        return send.call(RFB.messages, sock, kept);
    };
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = `${scheme}://${location.host}/${query.get('path') ?? 'websockify'}`;
    const rfb = new RFB(document.getElementById('screen'), url, { shared: true });
    rfb.viewOnly = true;
    rfb.scaleViewport = false;
    rfb.clipViewport = false;
    rfb.resizeSession = false;
    rfb.addEventListener('connect', () => { status.state = 'connected'; });
    rfb.addEventListener('disconnect', (e) => { status.state = e.detail.clean ? 'disconnected' : 'failed'; });
    rfb.addEventListener('securityfailure', (e) => { status.error = `security failure: ${e.detail.reason}`; });
    rfb.addEventListener('desktopname', (e) => { status.name = e.detail.name; });
    window.oxvncRfb = rfb;
    status.state = 'connecting';
} catch (e) {
    status.state = 'failed';
    status.error = String((e && e.stack) || e);
}
</script>
</body>
</html>
"#;

/// Reads the page's status and, when `arguments[0]` is true and noVNC is connected, its canvas
/// as base64 RGBA.
const READ_SCRIPT: &str = r#"
const status = window.oxvncCompat;
if (!status) { return { state: 'no page' }; }
const out = { state: status.state, error: status.error, name: status.name, offered: status.offered };
const canvas = document.querySelector('#screen canvas');
if (!canvas || status.state !== 'connected') { return out; }
out.width = canvas.width;
out.height = canvas.height;
if (arguments[0]) {
    out.rgba = rgbaBase64(canvas, 0, 0, canvas.width, canvas.height);
}
return out;
"#;

/// A web root with the test page and a link to the noVNC package.
fn web_root() -> PathBuf {
    let root = servers::artifacts_dir(ARTIFACTS).join(servers::unique_name("web"));
    std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("create {}: {e}", root.display()));
    std::fs::write(root.join("compat-novnc.html"), PAGE).expect("write the test page");
    std::os::unix::fs::symlink(compat::novnc_dir(), root.join("novnc")).expect("link the noVNC package");
    root
}

/// What `READ_SCRIPT` returned.
struct PageState {
    state: String,
    error: Option<String>,
    name: Option<String>,
    /// The encodings noVNC sent in SetEncodings (after the page's filter).
    offered: Option<Vec<i64>>,
    canvas: Option<RgbaImage>,
}

async fn read_page(client: &Client, with_pixels: bool) -> Result<PageState, String> {
    let v = client
        .execute(&oxvnc_tests::browser::with_rgba(READ_SCRIPT), vec![Value::Bool(with_pixels)])
        .await
        .map_err(|e| format!("executing the read script: {e}"))?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let canvas = match oxvnc_tests::browser::canvas_size(&v)? {
        Some((w, h)) => oxvnc_tests::browser::rgba_field(&v, w, h)?,
        None => None,
    };
    let offered = v.get("offered").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_i64).collect());
    Ok(PageState {
        state: text("state").unwrap_or_default(),
        error: text("error"),
        name: text("name"),
        offered,
        canvas,
    })
}

/// One way of running noVNC against the same screen.
struct Variant {
    tag: &'static str,
    /// Query parameters for the page (see `PAGE`): which encodings noVNC offers.
    query: &'static str,
    /// Whether every encoding TigerVNC may pick from this offer is lossless.
    lossless: bool,
    /// The encoder Xvnc must report having used for the session's full-colour areas (its
    /// per-connection statistics), so each variant is known to exercise that noVNC decoder.
    xvnc_encoder: &'static str,
}

const VARIANTS: [Variant; 6] = [
    // All of noVNC's encodings, Tight preferred, without the JPEG quality levels: TigerVNC sends
    // lossless Tight (solid, palette and zlib-compressed full-colour rectangles).
    Variant {
        tag: "tight",
        query: "encodings=copyrect,tight,zrle,hextile,rre,raw&lossless=1",
        lossless: true,
        xvnc_encoder: "Tight",
    },
    Variant { tag: "zrle", query: "encodings=copyrect,zrle,raw", lossless: true, xvnc_encoder: "ZRLE" },
    Variant { tag: "hextile", query: "encodings=copyrect,hextile,raw", lossless: true, xvnc_encoder: "Hextile" },
    Variant { tag: "rre", query: "encodings=copyrect,rre,raw", lossless: true, xvnc_encoder: "RRE" },
    Variant { tag: "raw", query: "encodings=raw", lossless: true, xvnc_encoder: "Raw" },
    // noVNC as shipped: it always sends a JPEG quality level (6 by default), so TigerVNC sends
    // many-colour areas as Tight JPEG, and its "lossless" refresh of them is JPEG at quality 9,
    // which TigerVNC counts as lossless but is not bit-exact. (Should Xvnc report no JPEG for
    // this session, the canvas must be exact after all.)
    Variant { tag: "default", query: "", lossless: false, xvnc_encoder: "Tight" },
];

/// Largest difference of any channel of any pixel (the images have the same size).
fn max_channel_error(a: &RgbaImage, b: &RgbaImage) -> u8 {
    a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0)
}

/// The largest per-channel error allowed where TigerVNC may use JPEG at noVNC's default
/// quality: enough for JPEG's rounding, far too little for a wrong or shifted picture (the test
/// picture's neighbouring pixels differ by far more in its noisy bands).
const JPEG_TOLERANCE: u8 = 16;

/// The rows of the test picture drawn as solid colour bars (its first band): TigerVNC sends
/// solid rectangles losslessly whatever the encoding.
fn bars(img: &RgbaImage) -> RgbaImage {
    image::imageops::crop_imm(img, 0, 0, img.width(), img.height().div_ceil(6)).to_image()
}

/// Whether `canvas` is what `variant` must end up showing.
fn settled(variant: &Variant, screen: &RgbaImage, canvas: &RgbaImage) -> bool {
    if variant.lossless {
        return pixels::diff(screen, canvas).is_none();
    }
    canvas.dimensions() == screen.dimensions()
        && pixels::diff(&bars(screen), &bars(canvas)).is_none()
        && max_channel_error(screen, canvas) <= JPEG_TOLERANCE
}

/// Opens the page for `variant`, waits for noVNC to connect, then reads the canvas until it has
/// settled (or `DRAW_LIMIT` passes). Returns the last state read, with its canvas.
async fn run_variant(client: &Client, base: &str, variant: &Variant, screen: &RgbaImage) -> Result<PageState, String> {
    let url = format!("{base}&{}", variant.query);
    client.goto(&url).await.map_err(|e| format!("opening {url}: {e}"))?;
    let deadline = Instant::now() + CONNECT_LIMIT;
    loop {
        let page = read_page(client, false).await?;
        match page.state.as_str() {
            "connected" => break,
            "failed" | "disconnected" => {
                return Err(format!("noVNC {}: {}", page.state, page.error.unwrap_or_default()));
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "noVNC did not connect within {CONNECT_LIMIT:?} (state {:?}, error {:?})",
                page.state, page.error
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + DRAW_LIMIT;
    loop {
        let page = read_page(client, true).await?;
        if page.state != "connected" {
            return Err(format!("noVNC left the connected state: {} {}", page.state, page.error.unwrap_or_default()));
        }
        let canvas = page.canvas.as_ref().ok_or("noVNC is connected but has no canvas")?;
        if settled(variant, screen, canvas) || Instant::now() >= deadline {
            // Close this session before the next variant opens its own, so Xvnc's statistics of
            // the sessions come in variant order.
            client
                .execute("window.oxvncRfb.disconnect();", vec![])
                .await
                .map_err(|e| format!("disconnecting noVNC: {e}"))?;
            return Ok(page);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What is wrong with what `variant` showed, if anything.
fn check_variant(variant: &Variant, session: &XvncSession, screen: &RgbaImage, page: &PageState) -> Result<(), String> {
    let canvas = page.canvas.as_ref().expect("run_variant returns a canvas");
    let name = format!("novnc-{}", variant.tag);
    if canvas.dimensions() != screen.dimensions() {
        return Err(format!("canvas is {:?}, the server's screen {:?}", canvas.dimensions(), screen.dimensions()));
    }
    if page.name.as_deref() != Some(DESKTOP_NAME) {
        return Err(format!("desktop name {:?}, expected {DESKTOP_NAME:?}", page.name));
    }
    if !session.encoders.iter().any(|e| e == variant.xvnc_encoder) {
        return Err(format!("Xvnc used {:?}, not {}", session.encoders, variant.xvnc_encoder));
    }
    let jpeg = session.encoders.iter().any(|e| e.contains("JPEG"));
    if variant.lossless && jpeg {
        return Err(format!("Xvnc used JPEG ({:?}) although noVNC offered no quality level", session.encoders));
    }
    // The colour bars first, so a failure says whether even the simplest part differs.
    pixels::check_same(ARTIFACTS, &format!("{name}-bars"), &bars(screen), &bars(canvas))
        .map_err(|m| format!("colour bars differ: {m}"))?;
    if !jpeg {
        return pixels::check_same(ARTIFACTS, &name, screen, canvas).map_err(|m| format!("canvas differs: {m}"));
    }
    let err = max_channel_error(screen, canvas);
    if err > JPEG_TOLERANCE {
        let m = pixels::check_same(ARTIFACTS, &name, screen, canvas).unwrap_err();
        return Err(format!("canvas differs by up to {err} per channel (allowed {JPEG_TOLERANCE}): {m}"));
    }
    let differing = pixels::diff(screen, canvas).map_or(0, |m| m.count);
    eprintln!("noVNC {}: {differing} pixel(s) differ by at most {err} per channel (JPEG)", variant.tag);
    Ok(())
}

#[test]
fn novnc_in_chromium_draws_xvnc_through_oxvnc_serve() {
    let mut desktop = XvncDesktop::start(SIZE, "compat-novnc");
    let web = web_root();
    let mut relay = Relay::start(&["--web", path_str(&web), "--vnc", &desktop.vnc_addr()]);
    let browser = Browser::start((1024, 768), ARTIFACTS);
    let base = format!("http://{}/compat-novnc.html?path=websockify", relay.addr);

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let sessions_before = xvnc_sessions(desktop.x.server.log_path()).len();
    let pages: Vec<Result<PageState, String>> = rt.block_on(async {
        let client = browser.session().await;
        let mut pages = Vec::new();
        for variant in &VARIANTS {
            pages.push(run_variant(&client, &base, variant, &desktop.screen).await);
        }
        let _ = client.close().await;
        pages
    });
    drop(browser);
    relay.server.assert_running();

    // Every variant that connected has closed its session by now; Xvnc writes the statistics
    // of a session when it ends, in the order the sessions ended.
    let connected = pages.iter().filter(|p| p.is_ok()).count();
    let sessions = wait_xvnc_sessions(&mut desktop, sessions_before + connected);
    let mut sessions = sessions[sessions_before..].iter();
    let mut failures = Vec::new();
    for (variant, page) in VARIANTS.iter().zip(&pages) {
        let outcome = page.as_ref().map_err(Clone::clone).and_then(|page| {
            let session = sessions.next().expect("one session per connected variant");
            check_variant(variant, session, &desktop.screen, page)
                .map_err(|e| format!("{e} (noVNC offered {:?})", page.offered))
        });
        if let Err(e) = outcome {
            failures.push(format!("{} ({}): {e}", variant.tag, variant.query));
        }
    }
    if let Err(e) = desktop.check_unchanged() {
        failures.push(e);
    }
    assert!(
        failures.is_empty(),
        "noVNC through oxvnc serve:\n{}\n{}\nXvnc log: {}",
        failures.join("\n"),
        relay.server.diagnostics(),
        desktop.x.server.log_path().display()
    );
}

/// One ended Xvnc session, from its statistics in Xvnc's log.
#[derive(Debug)]
struct XvncSession {
    /// The encoders it used, as Xvnc names them ("Tight", "Tight (JPEG)", "ZRLE", ...).
    encoders: Vec<String>,
}

/// The sessions that sent framebuffer updates, from the statistics TigerVNC logs when a session
/// ends: a "closing ADDR" line, "EncodeManager:   NAME:" per encoder, "Connections: closed".
fn xvnc_sessions(log: &Path) -> Vec<XvncSession> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut sessions = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("VNCSConnST:") && line.contains("closing ") {
            current = Some(Vec::new());
        } else if let Some(encoders) = current.as_mut() {
            if let Some(rest) = line.strip_prefix("EncodeManager:   ") {
                // Encoder lines have three spaces of indent; per-class lines more.
                if !rest.starts_with(' ') {
                    if let Some(name) = rest.strip_suffix(':') {
                        if name != "Total" {
                            encoders.push(name.to_string());
                        }
                    }
                }
            } else if line.starts_with("Connections: closed") {
                let encoders = current.take().unwrap_or_default();
                if !encoders.is_empty() {
                    sessions.push(XvncSession { encoders });
                }
            }
        }
    }
    sessions
}

/// Waits (a hang guard) until Xvnc's log has statistics of `n` sessions.
fn wait_xvnc_sessions(desktop: &mut XvncDesktop, n: usize) -> Vec<XvncSession> {
    let deadline = Instant::now() + CONNECT_LIMIT;
    loop {
        let sessions = xvnc_sessions(desktop.x.server.log_path());
        if sessions.len() >= n {
            return sessions;
        }
        desktop.x.server.assert_running();
        assert!(
            Instant::now() < deadline,
            "Xvnc logged {} ended session(s), expected {n}: {}",
            sessions.len(),
            desktop.x.server.log_path().display()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("artifact paths are UTF-8")
}

#[test]
fn xvnc_session_statistics_are_read_per_session() {
    let log = "\
 Connections: accepted: 127.0.0.1::46050
 Connections: closed: 127.0.0.1::46050
 VNCSConnST:  closing 127.0.0.1::60472: Clean disconnection
 EncodeManager: Framebuffer updates: 18
 EncodeManager:   Tight:
 EncodeManager:     Solid: 9 rects, 97.928 kpixels
 EncodeManager:   Tight (JPEG):
 EncodeManager:     Full Colour: 27 rects, 636.144 kpixels
 EncodeManager:   Total: 37 rects, 798.072 kpixels
 Connections: closed: 127.0.0.1::60472
 VNCSConnST:  closing 127.0.0.1::60470: Clean disconnection
 EncodeManager: Framebuffer updates: 1
 EncodeManager:   Raw:
 EncodeManager:     Full Colour: 7 rects, 318.072 kpixels
 EncodeManager:   Total: 17 rects, 480 kpixels
 Connections: closed: 127.0.0.1::60470
";
    let path = servers::artifacts_dir(ARTIFACTS).join(format!("{}.log", servers::unique_name("xvnc-stats")));
    std::fs::write(&path, log).unwrap();
    let sessions = xvnc_sessions(&path);
    let encoders: Vec<_> = sessions.iter().map(|s| s.encoders.join("+")).collect();
    assert_eq!(encoders, ["Tight+Tight (JPEG)", "Raw"]);
}
