//! `client_bench`: oxvnc against noVNC 1.7 in one headless Chromium run, on recorded VNC
//! sessions. `cargo xtask bench client` builds the wasm side (`client/bench`, release) and this
//! driver, then runs it; see docs/benchmarks.md.
//!
//! This process serves the benchmark page (`www/bench/`), the wasm-bindgen output of
//! `client/bench`, the noVNC npm package and the recordings from a small loopback HTTP server,
//! starts Chromium (tests/src/browser.rs) and calls `window.oxvncBench.start(plan)` in the page,
//! which replays every recording through both clients in alternating runs and reports the times
//! and how the final canvases compare (with each other and with the recording's `.final.png`).
//! The driver itself measures nothing: a debug build of it is as good as a release one.
//!
//! Benchmarks are not tests: nothing here judges timings except the report's PASS/MISS column.
//! The exit status is non-zero when something broke: a client failed, or the two clients' final
//! canvases differ on a lossless recording (a faster wrong answer does not count).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use oxvnc_rfb::Encoding;
use oxvnc_rfb::replay;
use oxvnc_tests::browser::Browser;
use oxvnc_tests::compat;
use serde_json::{Value, json};

/// The speed-up oxvnc should reach on every recording (docs/benchmarks.md).
const TARGET_RATIO: f64 = 3.0;
/// Hang guard for the whole page run (not a timing check).
const RUN_LIMIT: Duration = Duration::from_secs(60 * 60);
/// How long the page may take to load the wasm and noVNC.
const LOAD_LIMIT: Duration = Duration::from_secs(60);
/// How long the run waits for Chromium to settle after loading the page.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);
/// 1 MB = 10^6 bytes.
const MB: f64 = 1e6;

#[derive(Parser, Debug)]
#[command(about = "Client benchmark: oxvnc vs noVNC replaying recorded sessions in headless Chromium")]
struct Args {
    /// The recordings (`NAME.rfbrec`, `NAME.final.png`)
    #[arg(long, value_name = "DIR", default_value = "../shared/recordings")]
    recordings: PathBuf,
    /// wasm-bindgen's output for client/bench (`oxvnc_bench.js`, `oxvnc_bench_bg.wasm`)
    #[arg(long, value_name = "DIR")]
    pkg: PathBuf,
    /// The benchmark page (default: www/bench of this workspace)
    #[arg(long, value_name = "DIR")]
    www: Option<PathBuf>,
    /// The noVNC npm package (default: $OXVNC_TOOLS/node_modules/@novnc/novnc)
    #[arg(long, value_name = "DIR")]
    novnc: Option<PathBuf>,
    /// Counted runs of each client per recording (after one warm-up run each)
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=1000))]
    iterations: u32,
    /// How chunks reach the clients: `tasks` (each in a task of its own, as a browser delivers
    /// WebSocket messages) or `loop` (all back to back in one task: no task switches, but
    /// Chromium then rasterises nothing until the end, which costs noVNC's many small canvas
    /// calls dearly)
    #[arg(long, default_value = "tasks", value_parser = ["tasks", "loop"])]
    delivery: String,
    /// When oxvnc draws: `frame` (once per animation frame, everything damaged since the last
    /// one, as the console does) or `update` (at the end of every complete FramebufferUpdate, as
    /// noVNC flips its canvas: more blits than the console ever makes)
    #[arg(long, default_value = "frame", value_parser = ["frame", "update"])]
    blits: String,
    /// Whether each run's clock includes the handshake and Chromium's one-time work on the new
    /// canvas: `untimed` (each client gets the handshake, its canvas is painted once and a few
    /// animation frames pass before its clock starts) or `timed` (the clock starts at the first
    /// chunk)
    #[arg(long, default_value = "untimed", value_parser = ["untimed", "timed"])]
    setup: String,
    /// Only these recordings (names without `.rfbrec`, comma-separated)
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where to write the JSON report (the SVG chart goes next to it, `.svg`)
    #[arg(long, value_name = "PATH", default_value = "target/bench/client.json")]
    out: PathBuf,
    /// Also copy the SVG chart here (e.g. docs/client-bench.svg)
    #[arg(long, value_name = "PATH")]
    svg_copy: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("client_bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One recording to replay.
#[derive(Debug, Clone)]
struct Recording {
    name: String,
    /// The client offered no JPEG quality level, so the server sent only lossless encodings.
    lossless: bool,
}

fn recordings(dir: &Path, only: &[String]) -> Result<Vec<Recording>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading the recordings folder {} (set it with --recordings DIR)", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".rfbrec")) else {
            continue;
        };
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let records = replay::parse(&bytes).with_context(|| format!("{}", path.display()))?;
        let config = replay::client_config(&records).with_context(|| format!("{}", path.display()))?;
        let lossless = !config.encodings.iter().any(|e| matches!(e, Encoding::QualityLevel(_) | Encoding::Jpeg));
        out.push(Recording { name: name.to_owned(), lossless });
    }
    ensure!(!out.is_empty(), "no .rfbrec recordings in {}", dir.display());
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn run(args: &Args) -> Result<bool> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let www = args.www.clone().unwrap_or_else(|| workspace.join("www").join("bench"));
    let novnc = args.novnc.clone().unwrap_or_else(|| compat::tools_dir().join("node_modules/@novnc/novnc"));
    ensure!(www.join("index.html").is_file(), "the benchmark page {} is missing", www.join("index.html").display());
    ensure!(
        args.pkg.join("oxvnc_bench.js").is_file(),
        "{} is missing: build client/bench for wasm32 and run wasm-bindgen (cargo xtask bench client does)",
        args.pkg.join("oxvnc_bench.js").display()
    );
    ensure!(
        novnc.join("core/rfb.js").is_file(),
        "noVNC is missing at {} (cargo xtask install puts it under target/tools; or pass --novnc)",
        novnc.display()
    );
    let recs = recordings(&args.recordings, &args.only)?;

    let server = StaticServer::start(vec![
        ("/bench/pkg/".into(), args.pkg.clone()),
        ("/bench/".into(), www),
        ("/novnc/".into(), novnc),
        ("/recordings/".into(), args.recordings.clone()),
    ])?;
    let url = format!("http://{}/bench/index.html", server.addr);
    println!(
        "client_bench: {} recordings, {} counted runs each per client (+1 warm-up), chunks delivered in {}, oxvnc blitting {}, page {url}",
        recs.len(),
        args.iterations,
        if args.delivery == "tasks" { "a task each" } else { "one loop" },
        if args.blits == "frame" { "once per animation frame" } else { "after every update" },
    );
    if args.setup == "timed" {
        println!("client_bench: the handshake and each new canvas's first frames are timed");
    }

    // The machine may be shared (other builds): its load says how far to trust absolute figures.
    let load_before = load_average();
    let browser = Browser::start((1280, 800), "client-bench");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let results = rt.block_on(drive(&browser, &url, &recs, args))?;
    drop(browser);
    println!("client_bench: load average (1, 5, 15 min) before the run {load_before}, after {}", load_average());

    let rows: Vec<Row> = results.iter().map(Row::from_page).collect::<Result<_>>()?;
    println!();
    print!("{}", table(&rows));
    let report = Value::Array(rows.iter().map(Row::json).collect());
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    let svg_path = args.out.with_extension("svg");
    let chart = svg(&rows);
    std::fs::write(&svg_path, &chart).with_context(|| format!("writing {}", svg_path.display()))?;
    if let Some(copy) = &args.svg_copy {
        std::fs::write(copy, &chart).with_context(|| format!("writing {}", copy.display()))?;
    }
    // Everything the page reported, runs and comparisons included, for a closer look.
    let raw = args.out.with_extension("raw.json");
    std::fs::write(&raw, serde_json::to_string_pretty(&Value::Array(results))? + "\n")
        .with_context(|| format!("writing {}", raw.display()))?;
    println!("client_bench: wrote {}, {} and {}", args.out.display(), svg_path.display(), raw.display());

    let mut ok = true;
    for r in &rows {
        if let Some(e) = &r.error {
            eprintln!("client_bench: {}: {e}", r.recording);
            ok = false;
        } else if r.lossless && !r.identical {
            eprintln!("client_bench: {}: the final canvases of oxvnc and noVNC differ", r.recording);
            ok = false;
        }
    }
    Ok(ok)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Loads the page, starts the run and collects the per-recording results as they come.
async fn drive(browser: &Browser, url: &str, recs: &[Recording], args: &Args) -> Result<Vec<Value>> {
    let client = browser.session().await;
    let outcome = async {
        client.goto(url).await.context("loading the benchmark page")?;
        let deadline = Instant::now() + LOAD_LIMIT;
        loop {
            let v = client
                .execute("const b = window.oxvncBench; return b ? { ready: b.ready, error: b.error } : null;", vec![])
                .await?;
            if let Some(e) = v.get("error").and_then(Value::as_str) {
                bail!("the benchmark page: {e}");
            }
            if v.get("ready").and_then(Value::as_bool) == Some(true) {
                break;
            }
            ensure!(Instant::now() < deadline, "the benchmark page did not load within {LOAD_LIMIT:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The run starts once Chromium has finished starting and compiling the page (a fresh
        // Chromium keeps both CPUs busy for a while), so the first recording's runs are not
        // measured against the browser's own start-up.
        if let Err(share) = browser.wait_idle(SETTLE_LIMIT) {
            eprintln!(
                "client_bench: Chromium still used {:.0} % of a CPU after {SETTLE_LIMIT:?}; starting anyway",
                share * 100.0
            );
        }
        let plan = json!({
            "iterations": args.iterations,
            "delivery": args.delivery,
            "blits": args.blits,
            "setup": args.setup,
            "recordings": recs.iter().map(|r| json!({ "name": r.name, "lossless": r.lossless })).collect::<Vec<_>>(),
        });
        client.execute("window.oxvncBench.start(arguments[0]); return null;", vec![plan]).await?;
        let deadline = Instant::now() + RUN_LIMIT;
        let mut results: Vec<Value> = Vec::new();
        loop {
            let v = client
                .execute(
                    "const b = window.oxvncBench; return { done: b.done, error: b.error, results: b.results.slice(arguments[0]) };",
                    vec![json!(results.len())],
                )
                .await?;
            for r in v.get("results").and_then(Value::as_array).into_iter().flatten() {
                println!("{}", progress_line(r));
                results.push(r.clone());
            }
            if let Some(e) = v.get("error").and_then(Value::as_str) {
                bail!("the benchmark page: {e}");
            }
            if v.get("done").and_then(Value::as_bool) == Some(true) {
                break;
            }
            ensure!(Instant::now() < deadline, "the run did not finish within {RUN_LIMIT:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(results)
    }
    .await;
    let _ = client.close().await;
    outcome
}

fn progress_line(r: &Value) -> String {
    let name = r.get("recording").and_then(Value::as_str).unwrap_or("?");
    if let Some(e) = r.get("error").and_then(Value::as_str) {
        return format!("  {name}: FAILED: {e}");
    }
    let f = |k: &str| r.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    format!("  {name}: oxvnc {:.1} ms, noVNC {:.1} ms", f("oxvnc_ms"), f("novnc_ms"))
}

// ---------------------------------------------------------------------------------------------
// Report

/// One recording's line of the report.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    recording: String,
    lossless: bool,
    bytes: u64,
    oxvnc_ms: f64,
    novnc_ms: f64,
    /// The two final canvases are equal pixel for pixel.
    identical: bool,
    /// PSNR between the two final canvases (dB; None when identical).
    psnr: Option<f64>,
    /// Pixels of oxvnc's / noVNC's final canvas (worst run) that differ from `.final.png`.
    oxvnc_vs_png: Option<u64>,
    novnc_vs_png: Option<u64>,
    error: Option<String>,
}

impl Row {
    fn from_page(v: &Value) -> Result<Row> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let f = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
        let differing = |k: &str| v.get(k).and_then(|c| c.get("differing")).and_then(Value::as_u64);
        Ok(Row {
            recording: s("recording").context("a result without a recording name")?,
            lossless: v.get("lossless").and_then(Value::as_bool).unwrap_or(false),
            bytes: v.get("bytes").and_then(Value::as_u64).unwrap_or(0),
            oxvnc_ms: f("oxvnc_ms"),
            novnc_ms: f("novnc_ms"),
            identical: v.get("identical").and_then(Value::as_bool).unwrap_or(false),
            psnr: v.get("between").and_then(|b| b.get("psnr")).and_then(Value::as_f64),
            oxvnc_vs_png: differing("oxvnc_vs_reference"),
            novnc_vs_png: differing("novnc_vs_reference"),
            error: s("error"),
        })
    }

    /// noVNC's time over oxvnc's: how many times faster oxvnc is.
    fn ratio(&self) -> f64 {
        self.novnc_ms / self.oxvnc_ms
    }

    fn mb_per_s(&self, ms: f64) -> f64 {
        self.bytes as f64 / MB / (ms / 1000.0)
    }

    fn json(&self) -> Value {
        let num = |x: f64| if x.is_finite() { json!(round(x, 2)) } else { Value::Null };
        let mut v = json!({
            "recording": self.recording,
            "oxvnc_ms": num(self.oxvnc_ms),
            "novnc_ms": num(self.novnc_ms),
            "ratio": num(self.ratio()),
            "identical": self.identical,
            "lossless": self.lossless,
            "bytes": self.bytes,
            "oxvnc_mb_s": num(self.mb_per_s(self.oxvnc_ms)),
            "novnc_mb_s": num(self.mb_per_s(self.novnc_ms)),
            "psnr_db": self.psnr.map(|p| round(p, 2)),
            "oxvnc_pixels_differing_from_png": self.oxvnc_vs_png,
            "novnc_pixels_differing_from_png": self.novnc_vs_png,
        });
        if let Some(e) = &self.error {
            v["error"] = json!(e);
        }
        v
    }

    /// What the last column says about the canvases.
    fn verdict(&self) -> String {
        if self.error.is_some() {
            "FAILED".into()
        } else if self.identical {
            match (self.oxvnc_vs_png, self.novnc_vs_png) {
                (Some(0), Some(0)) => "identical, = png".into(),
                (Some(a), Some(b)) => format!("identical, png: {a}/{b} px differ"),
                _ => "identical".into(),
            }
        } else if self.lossless {
            "DIFFERENT".into()
        } else {
            match self.psnr {
                Some(p) => format!("JPEG: PSNR {p:.1} dB"),
                None => "different".into(),
            }
        }
    }
}

fn round(x: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (x * m).round() / m
}

/// The text table printed at the end (also the Markdown table of docs/benchmarks.md).
fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str("| recording | oxvnc ms | noVNC ms | ratio | oxvnc MB/s | noVNC MB/s | ≥3× | canvases |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|:---:|---|\n");
    for r in rows {
        let pass = if r.error.is_none() && r.ratio() >= TARGET_RATIO { "PASS" } else { "MISS" };
        let _ = writeln!(
            s,
            "| {} | {:.1} | {:.1} | {:.2}× | {:.1} | {:.1} | {pass} | {} |",
            r.recording,
            r.oxvnc_ms,
            r.novnc_ms,
            r.ratio(),
            r.mb_per_s(r.oxvnc_ms),
            r.mb_per_s(r.novnc_ms),
            r.verdict()
        );
    }
    s
}

/// XML text escaping for names in the chart.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A horizontal bar chart: per recording, oxvnc's and noVNC's median time on one logarithmic
/// scale (the times span three decades) and the speed-up.
fn svg(rows: &[Row]) -> String {
    const LABEL_W: f64 = 190.0;
    const PLOT_W: f64 = 520.0;
    const RIGHT_W: f64 = 120.0;
    const BAR_H: f64 = 13.0;
    const GROUP_H: f64 = 36.0;
    const TOP: f64 = 58.0;
    let rows: Vec<&Row> =
        rows.iter().filter(|r| r.oxvnc_ms > 0.0 && r.novnc_ms > 0.0 && r.ratio().is_finite()).collect();
    let min = rows.iter().map(|r| r.oxvnc_ms.min(r.novnc_ms)).fold(f64::INFINITY, f64::min);
    let max = rows.iter().map(|r| r.oxvnc_ms.max(r.novnc_ms)).fold(0.0, f64::max);
    // Whole decades around the data.
    let (lo, hi) = if rows.is_empty() { (0, 1) } else { (min.log10().floor() as i32, max.log10().ceil() as i32) };
    let hi = hi.max(lo + 1);
    let width = LABEL_W + PLOT_W + RIGHT_W;
    let height = TOP + GROUP_H * rows.len() as f64 + 40.0;
    let x = |ms: f64| LABEL_W + PLOT_W * (ms.log10() - f64::from(lo)) / f64::from(hi - lo);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="10" y="20" font-size="14" font-weight="bold">Replaying recorded VNC sessions in Chromium: median ms, log scale (shorter is better)</text>"##
    );
    let _ = writeln!(
        s,
        r##"<rect x="{LABEL_W}" y="30" width="12" height="12" fill="#d9480f"/><text x="{}" y="40">oxvnc (wasm)</text><rect x="{}" y="30" width="12" height="12" fill="#868e96"/><text x="{}" y="40">noVNC 1.7.0</text><text x="{}" y="40" text-anchor="end">speed-up</text>"##,
        LABEL_W + 16.0,
        LABEL_W + 120.0,
        LABEL_W + 136.0,
        width - 10.0
    );
    for decade in lo..=hi {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(decade);
            if decade == hi && m > 1.0 {
                break;
            }
            let tx = x(v);
            let (stroke, label) = if m == 1.0 { ("#adb5bd", format!("{v}")) } else { ("#e9ecef", String::new()) };
            let _ = writeln!(
                s,
                r##"<line x1="{tx:.1}" y1="{TOP}" x2="{tx:.1}" y2="{:.1}" stroke="{stroke}"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#495057">{label}</text>"##,
                height - 34.0,
                height - 20.0,
            );
        }
    }
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#495057">ms</text>"##,
        LABEL_W + PLOT_W / 2.0,
        height - 6.0
    );
    for (i, r) in rows.iter().enumerate() {
        let y = TOP + GROUP_H * i as f64 + 4.0;
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LABEL_W - 8.0,
            y + BAR_H + 3.0,
            esc(&r.recording)
        );
        for (j, (ms, colour)) in [(r.oxvnc_ms, "#d9480f"), (r.novnc_ms, "#868e96")].into_iter().enumerate() {
            let by = y + j as f64 * (BAR_H + 1.0);
            let _ = writeln!(
                s,
                r##"<rect x="{LABEL_W}" y="{by:.1}" width="{:.1}" height="{BAR_H}" fill="{colour}"/><text x="{:.1}" y="{:.1}" font-size="10">{:.1}</text>"##,
                (x(ms) - LABEL_W).max(0.5),
                x(ms) + 3.0,
                by + BAR_H - 3.0,
                ms
            );
        }
        let colour = if r.ratio() >= TARGET_RATIO { "#2b8a3e" } else { "#c92a2a" };
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" font-weight="bold" fill="{colour}">{:.1}×</text>"##,
            width - 10.0,
            y + BAR_H + 3.0,
            r.ratio()
        );
    }
    s.push_str("</svg>\n");
    s
}

// ---------------------------------------------------------------------------------------------
// A static file server for the page, noVNC and the recordings (GET only, loopback only).

struct StaticServer {
    addr: std::net::SocketAddr,
}

impl StaticServer {
    /// Serves each `(prefix, dir)`: the first prefix a path starts with wins. The listening
    /// thread lives as long as this process.
    fn start(routes: Vec<(String, PathBuf)>) -> Result<StaticServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a loopback port")?;
        let addr = listener.local_addr()?;
        let routes = std::sync::Arc::new(routes);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let routes = std::sync::Arc::clone(&routes);
                std::thread::spawn(move || {
                    let _ = serve(stream, &routes);
                });
            }
        });
        Ok(StaticServer { addr })
    }
}

fn serve(stream: TcpStream, routes: &[(String, PathBuf)]) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.by_ref().take(8192).read_line(&mut line)? == 0 {
            return Ok(());
        }
        // The rest of the head (headers are not needed).
        let mut head_bytes = line.len();
        loop {
            let mut h = String::new();
            let n = reader.by_ref().take(8192).read_line(&mut h)?;
            head_bytes += n;
            if n == 0 || h == "\r\n" || h == "\n" || head_bytes > 64 * 1024 {
                break;
            }
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (status, body, mime) = if method != "GET" {
            ("405 Method Not Allowed", b"GET only\n".to_vec(), "text/plain")
        } else {
            match resolve(routes, target).map(|p| (std::fs::read(&p), p)) {
                Some((Ok(body), p)) => ("200 OK", body, mime_type(&p)),
                _ => ("404 Not Found", b"not found\n".to_vec(), "text/plain"),
            }
        };
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\r\n",
            body.len()
        )?;
        stream.write_all(&body)?;
        stream.flush()?;
    }
}

/// The file a request target names, if it is under one of the routes.
fn resolve(routes: &[(String, PathBuf)], target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let (prefix, dir) = routes.iter().find(|(p, _)| path.starts_with(p.as_str()))?;
    let rest = percent_decode(&path[prefix.len()..])?;
    let rel = Path::new(&rest);
    // Only plain names below the folder: no `..`, no absolute paths.
    if rest.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(dir.join(rel))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn mime_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("css") => "text/css",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, ox: f64, nv: f64, identical: bool) -> Row {
        Row {
            recording: name.into(),
            lossless: true,
            bytes: 10_000_000,
            oxvnc_ms: ox,
            novnc_ms: nv,
            identical,
            psnr: None,
            oxvnc_vs_png: Some(0),
            novnc_vs_png: Some(0),
            error: None,
        }
    }

    #[test]
    fn report_rows_come_from_the_page_and_go_to_json() {
        let page = json!({
            "recording": "raw-text", "lossless": true, "bytes": 15_000_000u64,
            "oxvnc_ms": 20.0, "novnc_ms": 80.0, "identical": true,
            "between": { "differing": 0, "max_diff": 0, "psnr": null },
            "oxvnc_vs_reference": { "differing": 0 }, "novnc_vs_reference": { "differing": 3 },
        });
        let r = Row::from_page(&page).unwrap();
        assert_eq!(r.ratio(), 4.0);
        assert_eq!(r.mb_per_s(r.oxvnc_ms), 750.0);
        let j = r.json();
        assert_eq!(j["recording"], "raw-text");
        assert_eq!(j["oxvnc_ms"], 20.0);
        assert_eq!(j["novnc_ms"], 80.0);
        assert_eq!(j["ratio"], 4.0);
        assert_eq!(j["identical"], true);
        assert_eq!(j["novnc_pixels_differing_from_png"], 3);
        assert_eq!(r.verdict(), "identical, png: 0/3 px differ");
        let failed = Row::from_page(&json!({ "recording": "x", "error": "boom" })).unwrap();
        assert_eq!(failed.verdict(), "FAILED");
        assert!(failed.json()["oxvnc_ms"].is_null());
        assert!(Row::from_page(&json!({})).is_err());
    }

    #[test]
    fn table_marks_the_target_and_wrong_answers() {
        let t = table(&[row("a", 10.0, 40.0, true), row("b", 10.0, 20.0, false)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[2].starts_with("| a | 10.0 | 40.0 | 4.00× |") && lines[2].contains("PASS"), "{}", lines[2]);
        assert!(lines[3].contains("MISS") && lines[3].contains("DIFFERENT"), "{}", lines[3]);
    }

    #[test]
    fn svg_has_two_bars_and_a_ratio_per_recording() {
        let s = svg(&[row("a<b", 10.0, 40.0, true), row("c", 50.0, 60.0, true)]);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        // Bars are 13 high (the legend's squares 12).
        assert_eq!(s.matches(r##"height="13" fill="#d9480f""##).count(), 2);
        assert_eq!(s.matches(r##"height="13" fill="#868e96""##).count(), 2);
        assert!(s.contains("a&lt;b") && !s.contains("a<b"));
        assert!(s.contains(">4.0×<") && s.contains(">1.2×<"));
        // Decades from below the shortest bar to above the longest.
        assert!(s.contains(">10<") && s.contains(">100<") && !s.contains(">1000<"), "{s}");
        assert!(svg(&[]).contains("</svg>"));
    }

    #[test]
    fn requests_resolve_only_below_their_folder() {
        let routes = vec![("/a/pkg/".to_string(), PathBuf::from("/p")), ("/a/".to_string(), PathBuf::from("/w"))];
        assert_eq!(resolve(&routes, "/a/pkg/x.js?v=1"), Some(PathBuf::from("/p/x.js")));
        assert_eq!(resolve(&routes, "/a/copyrect%2Bzrle.rfbrec"), Some(PathBuf::from("/w/copyrect+zrle.rfbrec")));
        assert_eq!(resolve(&routes, "/a/sub/y.png"), Some(PathBuf::from("/w/sub/y.png")));
        assert_eq!(resolve(&routes, "/a/../etc/passwd"), None);
        assert_eq!(resolve(&routes, "/a/%2e%2e/etc"), None);
        assert_eq!(resolve(&routes, "/a/"), None);
        assert_eq!(resolve(&routes, "/b/x"), None);
        assert_eq!(resolve(&routes, "/a/%zz"), None);
        assert_eq!(mime_type(Path::new("x.wasm")), "application/wasm");
        assert_eq!(mime_type(Path::new("x.js")), "text/javascript; charset=utf-8");
    }
}
