//! Headless Chromium with a chromedriver attached, for the tests that drive a real browser
//! (our console and noVNC): both processes stopped by PID when the guard drops.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::json;

use crate::servers::{self, Server};

/// How long Chromium and chromedriver may take to start.
pub const BROWSER_LIMIT: Duration = Duration::from_secs(60);

/// Headless Chromium with remote debugging, and a chromedriver attached to it; each is stopped by
/// PID on drop (driver first), then the throw-away profile and temporary files are removed.
pub struct Browser {
    driver: Option<Server>,
    chromium: Option<Server>,
    driver_port: u16,
    debug_port: u16,
    profile: PathBuf,
    /// Chromium's TMPDIR.
    tmp: PathBuf,
}

impl Browser {
    /// Starts Chromium with a `window` of that size (CSS pixels), its throw-away profile under
    /// `target/test-artifacts/<artifacts>/`.
    pub fn start(window: (u32, u32), artifacts: &str) -> Browser {
        Browser::start_with(window, artifacts, &[])
    }

    /// [`Browser::start`] with more Chromium switches (e.g. `--force-device-scale-factor=2`).
    pub fn start_with(window: (u32, u32), artifacts: &str, extra: &[&str]) -> Browser {
        let profile = servers::artifacts_dir(artifacts).join(servers::unique_name("chromium-profile"));
        std::fs::create_dir_all(&profile).unwrap_or_else(|e| panic!("create {}: {e}", profile.display()));
        // Chromium's own temporary files (a directory per instance, left behind when it is
        // stopped) go in a directory of their own, removed with the profile. (Not inside the
        // profile: a Unix socket's path must stay under 108 bytes.)
        let tmp = std::env::temp_dir().join(servers::unique_name("oxvnc-chromium"));
        std::fs::create_dir_all(&tmp).unwrap_or_else(|e| panic!("create {}: {e}", tmp.display()));
        let mut cmd = Command::new("/usr/bin/chromium");
        cmd.env("TMPDIR", &tmp)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
                "--force-color-profile=srgb",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--window-size={},{}", window.0, window.1))
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg("about:blank");
        let mut browser = Browser { driver: None, chromium: None, driver_port: 0, debug_port: 0, profile, tmp };
        let chromium = browser.chromium.insert(Server::spawn("chromium", cmd));
        // Chromium picks its debugging port and writes it as the first line of this file.
        let port_file = browser.profile.join("DevToolsActivePort");
        let deadline = Instant::now() + BROWSER_LIMIT;
        browser.debug_port = loop {
            let text = std::fs::read_to_string(&port_file).unwrap_or_default();
            if let Some(port) = text.lines().next().and_then(|l| l.trim().parse::<u16>().ok()) {
                break port;
            }
            chromium.assert_running();
            assert!(
                Instant::now() < deadline,
                "chromium wrote no {} within {BROWSER_LIMIT:?}\n{}",
                port_file.display(),
                chromium.diagnostics()
            );
            thread::sleep(Duration::from_millis(50));
        };
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = servers::free_port();
            let mut cmd = Command::new("/usr/bin/chromedriver");
            cmd.arg(format!("--port={port}"));
            let mut driver = Server::spawn("chromedriver", cmd);
            match driver.wait_for_port(port, BROWSER_LIMIT) {
                Ok(()) => {
                    browser.driver = Some(driver);
                    browser.driver_port = port;
                    return browser;
                }
                Err(e) => last_error = e,
            }
        }
        panic!("chromedriver did not start in 3 attempts; last error:\n{last_error}");
    }

    /// A WebDriver session on the running Chromium.
    pub async fn session(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "debuggerAddress": format!("127.0.0.1:{}", self.debug_port) }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.driver_port))
            .await
            .unwrap_or_else(|e| panic!("WebDriver session: {e}\n{}", self.diagnostics()))
    }

    /// Waits until Chromium has finished starting: its processes together used less than a tenth
    /// of a CPU over the last `QUIET` (a fresh Chromium starts its renderers, V8 and caches for
    /// a second or so after its window exists). Returns how long that took, or `Err` with the
    /// last window's CPU share when it is still busy after `limit`; measurements made then
    /// should say so.
    pub fn wait_idle(&self, limit: Duration) -> Result<Duration, f64> {
        const QUIET: Duration = Duration::from_millis(250);
        let Some(root) = self.chromium.as_ref().map(Server::pid).filter(|&p| p != 0) else {
            return Ok(Duration::ZERO);
        };
        let start = Instant::now();
        let mut last = (Instant::now(), tree_cpu_ns(root));
        loop {
            thread::sleep(QUIET);
            let now = (Instant::now(), tree_cpu_ns(root));
            let share = now.1.saturating_sub(last.1) as f64 / (now.0 - last.0).as_nanos().max(1) as f64;
            if share < 0.1 {
                return Ok(start.elapsed());
            }
            if start.elapsed() >= limit {
                return Err(share);
            }
            last = now;
        }
    }

    /// What Chromium and chromedriver logged, for failure messages.
    pub fn diagnostics(&self) -> String {
        [&self.chromium, &self.driver]
            .iter()
            .filter_map(|s| s.as_ref().map(Server::diagnostics))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// CPU time (ns) used so far by the live threads of `root` and all its descendants
/// (`/proc/PID/task/TID/schedstat`, exact to the nanosecond, unlike the 10 ms ticks of `stat`).
fn tree_cpu_ns(root: u32) -> u64 {
    let mut ns = 0;
    for pid in servers::process_tree(root) {
        for t in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
            let path = t.path().join("schedstat");
            let first =
                std::fs::read_to_string(path).ok().and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
            ns += first.unwrap_or(0);
        }
    }
    ns
}

impl Drop for Browser {
    fn drop(&mut self) {
        drop(self.driver.take());
        drop(self.chromium.take());
        let _ = std::fs::remove_dir_all(&self.profile);
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// A JavaScript function `rgbaBase64(canvas, x, y, w, h)`: that region of a canvas as base64
/// RGBA, for scripts that read pixels back (see [`with_rgba`]).
pub const RGBA_BASE64_JS: &str = r#"
const rgbaBase64 = (canvas, x, y, w, h) => {
    const data = canvas.getContext('2d').getImageData(x, y, w, h).data;
    let bin = '';
    for (let i = 0; i < data.length; i += 0x8000) {
        bin += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
    }
    return btoa(bin);
};
"#;

/// `script` with [`RGBA_BASE64_JS`] in front, for `Client::execute`.
pub fn with_rgba(script: &str) -> String {
    format!("{RGBA_BASE64_JS}{script}")
}

/// The `width` and `height` fields of what a read script returned (a canvas's size); `None`
/// when it sent none.
pub fn canvas_size(v: &serde_json::Value) -> Result<Option<(u32, u32)>, String> {
    let field = |k: &str| v.get(k).and_then(serde_json::Value::as_u64);
    match (field("width"), field("height")) {
        (Some(w), Some(h)) => {
            let side = |n: u64| u32::try_from(n).map_err(|_| format!("a canvas side of {n} pixels"));
            Ok(Some((side(w)?, side(h)?)))
        }
        _ => Ok(None),
    }
}

/// The `rgba` field of what such a script returned (base64 from `rgbaBase64`) as a `w`×`h`
/// image; `None` when the script sent no pixels.
pub fn rgba_field(v: &serde_json::Value, w: u32, h: u32) -> Result<Option<image::RgbaImage>, String> {
    use base64::Engine as _;
    let Some(b64) = v.get("rgba").and_then(serde_json::Value::as_str) else { return Ok(None) };
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| format!("canvas data: {e}"))?;
    let len = raw.len();
    image::RgbaImage::from_raw(w, h, raw).map(Some).ok_or_else(|| format!("{w}x{h} pixels but {len} bytes of them"))
}

/// How long building the wasm client may take (a cold release build on a busy machine).
const BUILD_LIMIT: Duration = Duration::from_secs(1500);

/// Builds the wasm client (release) once per test process and puts it, as `pkg/`, beside a copy
/// of `www/`'s files in `<artifacts>/web-<pid>/` (web roots of test processes that are gone are
/// removed). The first caller's `artifacts` names the folder.
///
/// `OXVNC_WEB=DIR` uses a page built already instead, e.g. `www` after `cargo xtask build`
/// (wasm-opt'ed, as shipped): what `console_first_frame_time_and_page_size` should measure for
/// figures that are quoted.
pub fn web_root(artifacts: &str) -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        if let Some(dir) = std::env::var_os("OXVNC_WEB") {
            let dir = PathBuf::from(dir);
            for want in ["index.html", "pkg/oxvnc_client.js", "pkg/oxvnc_client_bg.wasm", "pkg/oxvnc_tls.js"] {
                assert!(dir.join(want).is_file(), "OXVNC_WEB={}: {want} is missing", dir.display());
            }
            return dir;
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = servers::artifacts_dir(artifacts);
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("web-").and_then(|p| p.parse::<u32>().ok())
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let root = dir.join(format!("web-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("create {}: {e}", root.display()));
        // The console and the TLS module it imports when a server starts TLS, built one at a
        // time: built together, Cargo would unify oxvnc-rfb's features and put TLS in both.
        for package in ["oxvnc-client", "oxvnc-tls"] {
            build_wasm(&workspace, package, &root.join("pkg"));
        }
        for entry in std::fs::read_dir(workspace.join("www")).expect("read www/") {
            let entry = entry.expect("www/ entry");
            if entry.file_type().expect("file type").is_file() {
                std::fs::copy(entry.path(), root.join(entry.file_name())).expect("copy www/ file");
            }
        }
        assert!(root.join("index.html").is_file(), "www/index.html is missing");
        root
    })
}

/// Builds `package` for wasm32 in release and runs wasm-bindgen on it into `out`.
fn build_wasm(workspace: &Path, package: &str, out: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(workspace)
        .args(["build", "--quiet", "--release", "--target", "wasm32-unknown-unknown", "-p", package])
        .env("CARGO_TARGET_DIR", servers::target_dir());
    let built = servers::run_with_limit(build, BUILD_LIMIT);
    assert!(
        built.status.success(),
        "building {package} for wasm failed ({}); `cargo xtask install` sets up the wasm32 target:\n{}",
        built.status,
        built.stderr
    );
    let wasm = servers::target_dir().join(format!("wasm32-unknown-unknown/release/{}.wasm", package.replace('-', "_")));
    let mut bindgen = Command::new("wasm-bindgen");
    bindgen.args(["--target", "web", "--out-dir"]).arg(out).arg(&wasm);
    let generated = servers::run_with_limit(bindgen, BUILD_LIMIT);
    assert!(
        generated.status.success(),
        "wasm-bindgen failed ({}); `cargo xtask install` installs wasm-bindgen-cli:\n{}",
        generated.status,
        generated.stderr
    );
}
