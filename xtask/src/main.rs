//! `cargo xtask`: build, test and demo orchestration for oxvnc, including installing missing
//! prerequisites. Plain std + anyhow so that it compiles in seconds.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

mod bench_client;
mod prereqs;
mod util;

use util::{cargo, run, workspace_root};

const USAGE: &str = "\
usage: cargo xtask <command> [-- <args>]

commands:
  test  [-- <cargo test args>]   install what the tests need (wasm target, wasm-bindgen-cli,
                                 Debian packages, project-local npm/PyPI tools), build the wasm
                                 client if it exists, then run `cargo test --workspace`
  demo  [-- <oxvnc serve args>]  build in release and run `oxvnc serve --demo --web www`
                                 on http://127.0.0.1:6080/
  build                          release build of the `oxvnc` binary (and of the wasm client
                                 into www/pkg once client/web exists)
  bench [rfb] [-- <args>]        run the RFB engine benchmarks (`cargo bench -p oxvnc-rfb`)
  bench relay [-- <args>]        oxvnc serve vs websockify vs direct TCP in one run (release
                                 builds; `-- --help` for options); writes target/bench/relay.json
  bench client [--recordings DIR] [-- <args>]
                                 oxvnc vs noVNC replaying the recorded sessions (default
                                 ../shared/recordings) in one headless Chromium run; writes
                                 target/bench/client.json and client.svg (`-- --help`: options)
  install                        only install the prerequisites of `test`";

/// The relay package and its binary.
const RELAY_PACKAGE: &str = "oxvnc-relay";
const RELAY_BIN: &str = "oxvnc";
/// The browser client crate; `build_wasm_client` builds it once it exists.
const CLIENT_DIR: &str = "client/web";
const CLIENT_PACKAGE: &str = "oxvnc-client";
/// The console TLS module (`client/tls`), which the page loads only for TLS servers.
const TLS_PACKAGE: &str = "oxvnc-tls";
/// Where wasm-bindgen writes the client's JS glue and wasm (git-ignored).
const CLIENT_OUT_DIR: &str = "www/pkg";
/// The address `oxvnc serve` listens on by default.
const DEMO_URL: &str = "http://127.0.0.1:6080/";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<ExitCode> {
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => {
            eprintln!("{USAGE}");
            return Ok(ExitCode::from(2));
        }
    };
    match command {
        "test" => test(passthrough(rest)),
        "demo" => demo(passthrough(rest)),
        "build" => {
            build()?;
            Ok(ExitCode::SUCCESS)
        }
        "bench" => bench(rest),
        "install" => {
            prereqs::ensure_all()?;
            println!("xtask: all prerequisites are installed");
            Ok(ExitCode::SUCCESS)
        }
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprintln!("xtask: unknown command `{other}`\n\n{USAGE}");
            Ok(ExitCode::from(2))
        }
    }
}

/// Arguments to hand on: everything after the command, without a leading `--`.
fn passthrough(rest: &[String]) -> &[String] {
    match rest.split_first() {
        Some((first, tail)) if first == "--" => tail,
        _ => rest,
    }
}

// ---------------------------------------------------------------------------------------------
// test

fn test(extra: &[String]) -> Result<ExitCode> {
    prereqs::ensure_all()?;
    build_wasm_client()?;

    let mut cmd = cargo();
    cmd.arg("test");
    // `cargo xtask test -- -p oxvnc-rfb` narrows the run instead of conflicting with --workspace.
    if !extra.iter().any(|a| a == "-p" || a.starts_with("--package")) {
        cmd.arg("--workspace");
    }
    // Run every test binary even when one fails, so one run reports every failure.
    cmd.arg("--no-fail-fast");
    cmd.args(extra);
    for (key, value) in test_env()? {
        println!("xtask: export {key}={}", value.to_string_lossy());
        cmd.env(key, value);
    }
    let status = util::status(&mut cmd)?;
    if !status.success() {
        eprintln!("xtask: tests failed ({status})");
    }
    // The browser client's own tests run inside headless Chromium; only on a whole-workspace run.
    let narrowed = !extra.is_empty();
    if narrowed || !workspace_root().join(CLIENT_DIR).join("Cargo.toml").is_file() {
        return Ok(util::exit_code(status));
    }
    // The engine as the console builds it (no TightPNG, TLS from outside): the workspace run
    // above unifies its features, so this configuration is tested on its own.
    let mut lean = cargo();
    lean.args(["test", "-p", "oxvnc-rfb", "--no-default-features"]);
    for (key, value) in test_env()? {
        lean.env(key, value);
    }
    let lean_status = util::status(&mut lean)?;
    if !lean_status.success() {
        eprintln!("xtask: oxvnc-rfb without default features failed ({lean_status})");
    }
    prereqs::ensure_wasm_pack()?;
    // The transport tests talk to a real relay with its demo desktop.
    let demo = DemoRelay::start()?;
    let mut wasm_tests = Command::new("wasm-pack");
    // Built like the console (SIMD), so its SIMD paths are the ones tested.
    wasm_rustflags(&mut wasm_tests)
        .args(["test", "--headless", "--chrome", "--chromedriver", "/usr/bin/chromedriver"])
        .arg(CLIENT_DIR)
        .env(DEMO_URL_VAR, demo.websocket_url())
        .current_dir(workspace_root());
    // The Chromium that chromedriver starts leaves its temporary directories behind when it is
    // stopped: they go in one of ours, removed afterwards (short: it holds a Unix socket).
    let browser_tmp = std::env::temp_dir().join(format!("oxvnc-wasm-pack-{}", std::process::id()));
    std::fs::create_dir_all(&browser_tmp).with_context(|| format!("creating {}", browser_tmp.display()))?;
    wasm_tests.env("TMPDIR", &browser_tmp);
    println!("xtask: export {DEMO_URL_VAR}={}", demo.websocket_url());
    let wasm_status = util::status(&mut wasm_tests);
    drop(demo);
    let _ = std::fs::remove_dir_all(&browser_tmp);
    let wasm_status = wasm_status?;
    if !wasm_status.success() {
        eprintln!("xtask: in-browser tests of {CLIENT_DIR} failed ({wasm_status})");
        return Ok(util::exit_code(wasm_status));
    }
    if status.success() && !lean_status.success() {
        return Ok(util::exit_code(lean_status));
    }
    Ok(util::exit_code(status))
}

/// The variable that gives the client's in-browser tests the WebSocket URL of `oxvnc serve
/// --demo` (read when they are compiled: `option_env!` in client/web/tests/browser.rs).
const DEMO_URL_VAR: &str = "OXVNC_DEMO_WS";

/// `oxvnc serve --demo` on a loopback port the system picks, for the client's in-browser tests;
/// stopped (by its PID) when dropped, whatever the tests did.
struct DemoRelay {
    child: std::process::Child,
    addr: String,
}

impl DemoRelay {
    fn start() -> Result<DemoRelay> {
        run(cargo().args(["build", "--quiet", "-p", "oxvnc-relay", "--bin", "oxvnc"]))?;
        let bin = util::target_dir().join("debug").join("oxvnc");
        let log_path = util::target_dir().join("xtask-demo-relay.log");
        let log = std::fs::File::create(&log_path).context("creating the demo relay's log")?;
        let child = Command::new(&bin)
            .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} serve --demo", bin.display()))?;
        let mut relay = DemoRelay { child, addr: String::new() };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            // "listening on http://127.0.0.1:PORT (relaying to the demo desktop)"
            let said = text.lines().find_map(|l| l.split("listening on ").nth(1)?.split_once("://"));
            if let Some((_, rest)) = said {
                relay.addr = rest.split_whitespace().next().unwrap_or_default().to_string();
                return Ok(relay);
            }
            if let Some(status) = relay.child.try_wait()? {
                anyhow::bail!("oxvnc serve --demo exited ({status}) before listening:\n{text}");
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("oxvnc serve --demo did not say where it listens within 30 s:\n{text}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn websocket_url(&self) -> String {
        format!("ws://{}/websockify", self.addr)
    }
}

impl Drop for DemoRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Environment for the tests.
///
/// - `OXVNC_RECORDINGS`: the recorded VNC sessions, `../shared/recordings` next to the workspace
///   (unless already set).
/// - `OXVNC_TOOLS`: `target/tools`, where project-local npm packages (`node_modules/`) and the
///   Python venv (`venv/`) live.
/// - `PATH`: with the venv's and node_modules' executables first, when they exist.
fn test_env() -> Result<Vec<(&'static str, std::ffi::OsString)>> {
    let mut env = Vec::new();
    if std::env::var_os("OXVNC_RECORDINGS").is_none() {
        let recordings = workspace_root().join("../shared/recordings");
        if recordings.is_dir() {
            let recordings = recordings.canonicalize().context("resolving ../shared/recordings")?;
            env.push(("OXVNC_RECORDINGS", recordings.into_os_string()));
        }
    }
    env.push(("OXVNC_TOOLS", util::tools_dir().into_os_string()));
    let bins = prereqs::tool_bin_dirs();
    if !bins.is_empty() {
        let old = std::env::var_os("PATH").unwrap_or_default();
        let path =
            std::env::join_paths(bins.into_iter().chain(std::env::split_paths(&old))).context("building PATH")?;
        env.push(("PATH", path));
    }
    Ok(env)
}

// ---------------------------------------------------------------------------------------------
// build and demo

/// Release build of the `oxvnc` binary and, once it exists, of the wasm client.
fn build() -> Result<PathBuf> {
    run(cargo().args(["build", "--release", "-p", RELAY_PACKAGE, "--bin", RELAY_BIN]))?;
    build_wasm_client()?;
    Ok(util::target_dir().join("release").join(RELAY_BIN))
}

/// Builds the browser client (`client/web`, crate `oxvnc-client`) and its TLS module
/// (`client/tls`, crate `oxvnc-tls`, imported only when a VNC server starts TLS) for wasm32 in
/// release, and runs the pinned wasm-bindgen and wasm-opt on them into `www/pkg`
/// (`oxvnc_client.js` + `oxvnc_client_bg.wasm`, `oxvnc_tls.js` + `oxvnc_tls_bg.wasm`).
/// Until `client/web` exists this says so and does nothing.
fn build_wasm_client() -> Result<()> {
    let root = workspace_root();
    if !root.join(CLIENT_DIR).join("Cargo.toml").is_file() {
        println!("xtask: {CLIENT_DIR} does not exist yet; skipping the wasm client build");
        return Ok(());
    }
    prereqs::ensure_wasm_toolchain()?;
    let out = root.join(CLIENT_OUT_DIR);
    // wasm-bindgen adds a folder of snippets per build hash; old ones would count as loaded.
    let _ = std::fs::remove_dir_all(out.join("snippets"));
    // One cargo run each: built together, Cargo would unify oxvnc-rfb's features and put the
    // TLS stack into the console as well.
    for package in [CLIENT_PACKAGE, TLS_PACKAGE] {
        build_wasm_module(&root, package, &out)?;
    }
    // The npm package description of www/pkg (the embedding API).
    let manifest = root.join("www").join("pkg-package.json");
    if manifest.is_file() {
        std::fs::copy(&manifest, out.join("package.json")).context("copying www/pkg-package.json")?;
    }
    report_page_size(&root)
}

/// Builds one wasm crate with the `wasm` profile (release, optimised for size, whole-program
/// LTO: Cargo.toml), then wasm-bindgen (`--target web`), wasm-opt -Oz and terser into `out`.
fn build_wasm_module(root: &std::path::Path, package: &str, out: &std::path::Path) -> Result<()> {
    let (wasm, stem) = build_wasm_crate(package)?;
    run(Command::new("wasm-bindgen")
        .args(["--target", "web", "--remove-name-section", "--remove-producers-section", "--out-dir"])
        .arg(out)
        .arg(&wasm)
        .current_dir(root))?;
    optimise_wasm(&out.join(format!("{stem}_bg.wasm")), package)?;
    // The glue is a third of the page's JavaScript in doc comments and long names: minified, it
    // is about 30% smaller gzipped. The TypeScript definitions stay in the .d.ts beside it.
    let js = out.join(format!("{stem}.js"));
    match prereqs::terser() {
        Some(terser) => run(Command::new(terser)
            .arg(&js)
            .args(["--module", "--compress", "--mangle", "--comments", "/@ts-self-types/", "-o"])
            .arg(&js))?,
        None => println!("xtask: terser (npm) is not available; {stem}.js is left as wasm-bindgen wrote it"),
    }
    Ok(())
}

/// Builds `package` for wasm32 as the console is built (the `wasm` profile, SIMD); returns the
/// `.wasm` file and its stem (the crate name with underscores, which wasm-bindgen's outputs take).
pub(crate) fn build_wasm_crate(package: &str) -> Result<(std::path::PathBuf, String)> {
    run(wasm_rustflags(cargo().args(["build", "--profile", "wasm", "--target", prereqs::WASM_TARGET, "-p", package])))?;
    let stem = package.replace('-', "_");
    let wasm = util::target_dir().join(prereqs::WASM_TARGET).join("wasm").join(format!("{stem}.wasm"));
    Ok((wasm, stem))
}

/// The console's binaryen pass on a wasm-bindgen output, in place: `wasm-opt -Oz`, debug and
/// producer sections stripped (nothing, with a note, when npm's binaryen is not installed).
pub(crate) fn optimise_wasm(bg: &std::path::Path, package: &str) -> Result<()> {
    match prereqs::wasm_opt() {
        Some(wasm_opt) => run(Command::new(wasm_opt)
            .args(["-Oz", "--strip-debug", "--strip-producers"])
            .args(WASM_FEATURES)
            .arg(bg)
            .arg("-o")
            .arg(bg)),
        None => {
            println!("xtask: wasm-opt (npm binaryen) is not available; {package} is left unoptimised");
            Ok(())
        }
    }
}

/// Code generation for every wasm32 build (the console, its TLS module, the client benchmark):
/// 128-bit SIMD, which zlib-rs's inflate uses for its copies and LLVM for pixel loops; JPEG
/// decoding got ~15% faster with it (docs/benchmarks.md). Browsers run it since Chrome/Edge 91,
/// Firefox 89 and Safari 16.4. Set through Cargo's per-target variable so host builds are
/// untouched; a `RUSTFLAGS` in the environment takes precedence over it.
pub(crate) fn wasm_rustflags(cmd: &mut Command) -> &mut Command {
    cmd.env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS", "-C target-feature=+simd128")
}

/// The WebAssembly features rustc uses for wasm32 (its defaults and the SIMD of
/// [`wasm_rustflags`]), which wasm-opt must accept.
const WASM_FEATURES: &[&str] = &[
    "--enable-simd",
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// Prints what the console page loads, raw and gzipped (the size budget is gzipped), and
/// what it loads on top when a VNC server starts TLS.
fn report_page_size(root: &std::path::Path) -> Result<()> {
    let mut page: Vec<String> =
        ["www/index.html", "www/style.css", "www/pkg/oxvnc_client.js", "www/pkg/oxvnc_client_bg.wasm"]
            .map(String::from)
            .to_vec();
    // wasm-bindgen's snippets (inline JS), which oxvnc_client.js imports.
    for path in files_under(&root.join("www/pkg/snippets"))? {
        page.push(path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned());
    }
    let (raw, gz) = sizes(root, &page)?;
    println!("xtask: the console page loads {raw} bytes, {gz} gzipped ({:.0} KB)", gz as f64 / 1000.0);
    let tls = ["www/pkg/oxvnc_tls.js", "www/pkg/oxvnc_tls_bg.wasm"].map(String::from);
    let (raw, gz) = sizes(root, &tls)?;
    println!(
        "xtask: a VNC server with TLS (VeNCrypt) makes it load the TLS module too: {raw} bytes, {gz} gzipped ({:.0} KB)",
        gz as f64 / 1000.0
    );
    Ok(())
}

/// Raw and gzipped (best) sizes of `files` (relative to `root`), each printed.
fn sizes(root: &std::path::Path, files: &[String]) -> Result<(usize, usize)> {
    let (mut raw, mut gz) = (0usize, 0usize);
    for f in files {
        let data = std::fs::read(root.join(f)).with_context(|| format!("reading {f}"))?;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut enc, &data)?;
        let z = enc.finish()?.len();
        println!("xtask: {f}: {} bytes, {z} gzipped", data.len());
        raw += data.len();
        gz += z;
    }
    Ok((raw, gz))
}

/// Every file below `dir` (none if it does not exist).
fn files_under(dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(out) };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(files_under(&path)?);
        } else {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn demo(extra: &[String]) -> Result<ExitCode> {
    let bin = build()?;
    let mut cmd = Command::new(&bin);
    cmd.args(["serve", "--demo", "--web", "www"]).args(extra).current_dir(workspace_root());
    println!("xtask: oxvnc demo console: {DEMO_URL}");
    println!("xtask: $ {}", util::display(&cmd));
    #[cfg(unix)]
    {
        // Replace this process, so Ctrl-C and exit codes belong to the server alone.
        use std::os::unix::process::CommandExt;
        let err = cmd.exec();
        Err(err).with_context(|| format!("could not start {}", bin.display()))
    }
    #[cfg(not(unix))]
    {
        let status = cmd.status().with_context(|| format!("could not start {}", bin.display()))?;
        Ok(util::exit_code(status))
    }
}

// ---------------------------------------------------------------------------------------------
// bench

fn bench(rest: &[String]) -> Result<ExitCode> {
    let (suite, rest) = match rest.split_first() {
        Some((s, tail)) if !s.starts_with('-') => (s.as_str(), tail),
        _ => ("rfb", rest),
    };
    match suite {
        "rfb" => {
            let status = util::status(cargo().args(["bench", "-p", "oxvnc-rfb"]).args(passthrough(rest)))?;
            Ok(util::exit_code(status))
        }
        "relay" => bench_relay(passthrough(rest)),
        "client" => bench_client::bench_client(rest),
        other => {
            eprintln!("xtask: unknown benchmark suite `{other}` (known: rfb, relay, client)");
            Ok(ExitCode::from(2))
        }
    }
}

/// The relay benchmark's load generator (package and binary).
const TESTS_PACKAGE: &str = "oxvnc-tests";
const RELAY_BENCH_BIN: &str = "relay_bench";

/// `cargo xtask bench relay [-- ARGS]`: `oxvnc serve` against websockify (from the tools venv)
/// and direct TCP, all in one run; both binaries in release. ARGS go to `relay_bench`
/// (`-- --help` lists them). Writes target/bench/relay.json and relay.md.
fn bench_relay(extra: &[String]) -> Result<ExitCode> {
    // websockify + numpy in target/tools/venv, the reference relay.
    prereqs::ensure_all()?;
    run(cargo().args(["build", "--release", "-p", RELAY_PACKAGE, "--bin", RELAY_BIN]))?;
    run(cargo().args(["build", "--release", "-p", TESTS_PACKAGE, "--bin", RELAY_BENCH_BIN]))?;
    let release = util::target_dir().join("release");
    let mut cmd = Command::new(release.join(RELAY_BENCH_BIN));
    cmd.arg("--oxvnc")
        .arg(release.join(RELAY_BIN))
        .arg("--websockify")
        .arg(util::tools_dir().join("venv").join("bin").join("websockify"))
        .arg("--out")
        .arg(util::target_dir().join("bench").join("relay.json"))
        .args(extra)
        .current_dir(workspace_root());
    Ok(util::exit_code(util::status(&mut cmd)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn passthrough_drops_one_leading_double_dash() {
        assert_eq!(
            passthrough(&strings(&["--", "filter", "--", "--nocapture"])),
            strings(&["filter", "--", "--nocapture"])
        );
        assert_eq!(passthrough(&strings(&["filter"])), strings(&["filter"]));
        assert!(passthrough(&[]).is_empty());
    }
}
