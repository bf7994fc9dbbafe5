//! `cargo xtask bench client [--recordings DIR] [-- ARGS]`: oxvnc against noVNC 1.7 replaying the
//! recorded sessions in one headless Chromium run (see docs/benchmarks.md).
//!
//! Builds `client/bench` (crate `oxvnc-bench`: the engine and the console's canvas display) for
//! wasm32 as the console is built (`wasm` profile, then wasm-bindgen and wasm-opt) into
//! `<target>/bench/pkg`, builds the driver `client_bench` (package `oxvnc-tests`; it only serves
//! files and drives the browser, so a debug build is enough) and runs it. Writes
//! `<target>/bench/client.json` and `client.svg`, and copies the chart to
//! `docs/client-bench.svg`.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::prereqs;
use crate::util::{self, cargo, run, workspace_root};

const BENCH_PACKAGE: &str = "oxvnc-bench";
const TESTS_PACKAGE: &str = "oxvnc-tests";
const DRIVER_BIN: &str = "client_bench";

/// What `cargo xtask bench client` was given.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientBenchArgs {
    /// `--recordings DIR` (default `../shared/recordings` next to the workspace).
    pub recordings: Option<PathBuf>,
    /// Everything else, handed to the driver (`-- --help` lists its options).
    pub driver: Vec<String>,
}

/// Splits `[--recordings DIR] [--] [DRIVER ARGS]`.
pub fn parse_args(args: &[String]) -> Result<ClientBenchArgs> {
    let mut recordings = None;
    let mut driver = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            driver.extend(it.by_ref().cloned());
        } else if a == "--recordings" {
            let dir = it.next().context("--recordings needs a folder")?;
            recordings = Some(PathBuf::from(dir));
        } else if let Some(dir) = a.strip_prefix("--recordings=") {
            recordings = Some(PathBuf::from(dir));
        } else {
            driver.push(a.clone());
        }
    }
    Ok(ClientBenchArgs { recordings, driver })
}

pub fn bench_client(args: &[String]) -> Result<ExitCode> {
    let args = parse_args(args)?;
    let root = workspace_root();
    let recordings = match args.recordings {
        Some(dir) => dir,
        None => root.join("../shared/recordings"),
    };
    if !recordings.is_dir() {
        bail!("the recordings folder {} does not exist (pass --recordings DIR)", recordings.display());
    }
    let recordings = recordings.canonicalize().with_context(|| format!("resolving {}", recordings.display()))?;
    // noVNC (npm) under target/tools, the wasm target and wasm-bindgen-cli.
    prereqs::ensure_all()?;

    // Built as the console's wasm is (the `wasm` profile, SIMD, then wasm-opt -Oz), so the
    // figures are those of the code the console ships.
    let (wasm, stem) = crate::build_wasm_crate(BENCH_PACKAGE)?;
    let out = util::target_dir().join("bench");
    let pkg = out.join("pkg");
    run(Command::new("wasm-bindgen").args(["--target", "web", "--out-dir"]).arg(&pkg).arg(&wasm).current_dir(&root))?;
    crate::optimise_wasm(&pkg.join(format!("{stem}_bg.wasm")), BENCH_PACKAGE)?;

    run(cargo().args(["build", "-p", TESTS_PACKAGE, "--bin", DRIVER_BIN]))?;
    let mut cmd = Command::new(util::target_dir().join("debug").join(DRIVER_BIN));
    cmd.arg("--recordings")
        .arg(&recordings)
        .arg("--pkg")
        .arg(&pkg)
        .arg("--novnc")
        .arg(novnc_dir())
        .arg("--out")
        .arg(out.join("client.json"))
        .arg("--svg-copy")
        .arg(root.join("docs").join("client-bench.svg"))
        .args(&args.driver)
        .current_dir(&root);
    Ok(util::exit_code(util::status(&mut cmd)?))
}

/// The noVNC package `cargo xtask install` put under the tools folder (`OXVNC_TOOLS` wins, as in
/// the tests).
fn novnc_dir() -> PathBuf {
    let tools = std::env::var_os("OXVNC_TOOLS").map(PathBuf::from).unwrap_or_else(util::tools_dir);
    tools.join("node_modules").join("@novnc").join("novnc")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn recordings_folder_and_driver_args_are_split() {
        let a = parse_args(&strings(&["--recordings", "/r", "--iterations", "5"])).unwrap();
        assert_eq!(a, ClientBenchArgs { recordings: Some("/r".into()), driver: strings(&["--iterations", "5"]) });
        let a = parse_args(&strings(&["--recordings=/x", "--", "--only", "raw-text", "--recordings", "y"])).unwrap();
        assert_eq!(a.recordings, Some("/x".into()));
        // After `--` everything is the driver's.
        assert_eq!(a.driver, strings(&["--only", "raw-text", "--recordings", "y"]));
        assert_eq!(parse_args(&[]).unwrap(), ClientBenchArgs { recordings: None, driver: vec![] });
        assert!(parse_args(&strings(&["--recordings"])).is_err());
    }
}
