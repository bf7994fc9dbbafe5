//! Installing what the build and the tests need, idempotently: each check is cheap and each
//! installer runs only when its check fails, printing one line saying what it installs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::util::{self, run, stdout_of};

/// The rustup target the browser client is compiled to.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Debian packages the tests need: real VNC servers, a headless browser and its driver, an X
/// server and X clients to draw with, fonts, and ImageMagick to inspect screenshots.
/// Extend this list when a test needs another package.
pub const APT_PACKAGES: &[&str] = &[
    "chromium",
    "chromium-driver",
    "tigervnc-standalone-server",
    "tigervnc-tools",
    "x11vnc",
    "xvfb",
    "xterm",
    "imagemagick",
    "x11-apps",
    "x11-utils",
    "x11-xserver-utils",
    "xfonts-base",
    "tightvncserver",
    "qemu-system-x86",
    "xclip",
    "xdotool",
    "clang",
    "redis-server",
    "openssl",
    // systemd-socket-activate: the relay started with sockets from a service manager
    "systemd",
];

/// npm packages the tests need, as `name` or `name@version`, installed into
/// `target/tools/node_modules` (never globally): noVNC, the reference client the compatibility
/// tests and the client benchmark run beside oxvnc; binaryen's wasm-opt and terser, which shrink
/// the console's wasm and its JavaScript glue in `cargo xtask build`.
pub const NPM_PACKAGES: &[&str] = &["@novnc/novnc@1.7.0", "binaryen@132.0.0", "terser@5.51.4"];

/// PyPI requirements the tests need (pip syntax, e.g. `websockify==0.12.0`), installed into the
/// venv `target/tools/venv`: websockify (with numpy, as deployments run it), the reference relay
/// for compatibility tests and the relay benchmark, and jwcrypto, which its JWTTokenApi plugin
/// needs.
pub const PIP_PACKAGES: &[&str] = &["websockify==0.13.0", "numpy", "jwcrypto==1.6.1"];

/// Everything `cargo xtask test` needs.
pub fn ensure_all() -> Result<()> {
    ensure_apt_packages()?;
    ensure_wasm_toolchain()?;
    ensure_npm_packages()?;
    ensure_pip_packages()?;
    Ok(())
}

/// The wasm target and the pinned wasm-bindgen-cli: what building the browser client needs.
pub fn ensure_wasm_toolchain() -> Result<()> {
    ensure_wasm_target()?;
    ensure_wasm_bindgen_cli()?;
    Ok(())
}

/// The wasm-pack version the in-browser tests run with.
pub const WASM_PACK_VERSION: &str = "0.15.1";

/// wasm-pack, which runs the client's in-browser tests (`wasm-pack test --headless --chrome`).
pub fn ensure_wasm_pack() -> Result<()> {
    let have = stdout_of(Command::new("wasm-pack").arg("--version"))
        .and_then(|out| out.split_whitespace().nth(1).map(str::to_owned));
    if have.as_deref() == Some(WASM_PACK_VERSION) {
        return Ok(());
    }
    println!("xtask: installing wasm-pack {WASM_PACK_VERSION}");
    run(util::cargo().args(["install", "wasm-pack", "--locked", "--version", WASM_PACK_VERSION]))
}

// ---------------------------------------------------------------------------------------------
// rustup target

fn ensure_wasm_target() -> Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = stdout_of(Command::new(&rustc).args(["--print", "sysroot"]))
        .context("could not run `rustc --print sysroot`; is Rust installed?")?;
    if Path::new(sysroot.trim()).join("lib/rustlib").join(WASM_TARGET).is_dir() {
        return Ok(());
    }
    println!("xtask: installing rustup target {WASM_TARGET}");
    run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
        .context("installing the wasm target needs rustup (https://rustup.rs)")
}

// ---------------------------------------------------------------------------------------------
// wasm-bindgen-cli

fn ensure_wasm_bindgen_cli() -> Result<()> {
    let manifest_path = util::workspace_root().join("Cargo.toml");
    let manifest =
        std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let want = pinned_wasm_bindgen_version(&manifest).with_context(|| format!("in {}", manifest_path.display()))?;
    let have = stdout_of(Command::new("wasm-bindgen").arg("--version"))
        .and_then(|out| out.split_whitespace().nth(1).map(str::to_owned));
    if have.as_deref() == Some(want.as_str()) {
        return Ok(());
    }
    match &have {
        Some(v) => println!("xtask: installing wasm-bindgen-cli {want} (found {v})"),
        None => println!("xtask: installing wasm-bindgen-cli {want}"),
    }
    // No --locked: the CLI's own lockfile does not build with current toolchains here.
    run(util::cargo().args(["install", "wasm-bindgen-cli", "--version", &want]))
}

/// The exact version `wasm-bindgen` is pinned to in `[workspace.dependencies]`
/// (`wasm-bindgen = "=X"`, `{ version = "=X", ... }` or a `[workspace.dependencies.wasm-bindgen]`
/// table). The CLI must match the library exactly, so anything but `=X` is an error.
pub fn pinned_wasm_bindgen_version(manifest: &str) -> Result<String> {
    let mut section = String::new();
    for line in manifest.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            section = header.trim_end_matches(']').trim().replace(' ', "");
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        let key = key.trim().trim_matches('"');
        let value = value.trim();
        let req = match (section.as_str(), key) {
            ("workspace.dependencies", "wasm-bindgen") if value.starts_with('"') => first_quoted(value),
            ("workspace.dependencies", "wasm-bindgen") => inline_table_version(value),
            ("workspace.dependencies.wasm-bindgen", "version") => first_quoted(value),
            _ => continue,
        };
        let Some(req) = req else {
            bail!("could not read the version of wasm-bindgen from `{line}`");
        };
        let Some(exact) = req.strip_prefix('=') else {
            bail!(
                "wasm-bindgen is required as \"{req}\"; pin it exactly (\"=X.Y.Z\") so that it matches wasm-bindgen-cli"
            );
        };
        let exact = exact.trim();
        if exact.split('.').count() != 3 || !exact.chars().all(|c| c.is_ascii_digit() || c == '.') {
            bail!("wasm-bindgen is pinned to \"{req}\"; expected \"=MAJOR.MINOR.PATCH\"");
        }
        return Ok(exact.to_owned());
    }
    bail!("no `wasm-bindgen = \"=X.Y.Z\"` in [workspace.dependencies]; add it so the CLI version is known")
}

fn first_quoted(s: &str) -> Option<String> {
    let rest = s.split_once('"')?.1;
    Some(rest.split_once('"')?.0.to_owned())
}

fn inline_table_version(s: &str) -> Option<String> {
    let body = s.strip_prefix('{')?;
    let mut rest = body;
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim();
        let after = after.trim_start();
        if key.rsplit([',', ' ']).next() == Some("version") {
            return first_quoted(after);
        }
        // skip this value: a quoted string, an array or a bare word
        rest = if let Some(q) = after.strip_prefix('"') {
            q.split_once('"')?.1
        } else if let Some(a) = after.strip_prefix('[') {
            a.split_once(']')?.1
        } else {
            after.split_once(',').map_or("", |(_, r)| r)
        };
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Debian packages

/// The apt packages to check: [`APT_PACKAGES`], plus what the npm and PyPI installers need when
/// it is not already there in some other form (e.g. a Node.js that bundles npm).
fn apt_packages() -> Vec<&'static str> {
    let mut pkgs = APT_PACKAGES.to_vec();
    if !NPM_PACKAGES.is_empty() && stdout_of(Command::new("npm").arg("--version")).is_none() {
        pkgs.push("npm");
    }
    if !PIP_PACKAGES.is_empty() && stdout_of(Command::new("python3").args(["-c", "import venv, ensurepip"])).is_none() {
        pkgs.push("python3-venv");
    }
    pkgs
}

fn ensure_apt_packages() -> Result<()> {
    let wanted = apt_packages();
    // One dpkg-query for all packages; unknown or absent ones print nothing (and make it exit 1).
    let Ok(out) = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${Status}\\n"])
        .args(&wanted)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        println!("xtask: warning: no dpkg-query (not Debian?); make sure these are installed: {}", wanted.join(" "));
        return Ok(());
    };
    let listing = String::from_utf8_lossy(&out.stdout);
    let missing: Vec<&str> = wanted.into_iter().filter(|p| !dpkg_says_installed(&listing, p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let args = ["install", "-y", "--no-install-recommends"];
    if !is_root() {
        bail!(
            "missing Debian packages: {}\nInstall them with:\n  sudo apt-get {} {}",
            missing.join(" "),
            args.join(" "),
            missing.join(" ")
        );
    }
    println!("xtask: installing Debian packages: {}", missing.join(" "));
    let apt = |extra: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            // wait for another apt/dpkg run to finish instead of failing on its lock
            .args(["-o", "DPkg::Lock::Timeout=600", "-q"])
            .args(extra);
        cmd
    };
    run(&mut apt(&["update"]))?;
    run(apt(&args).args(&missing))
}

fn dpkg_says_installed(listing: &str, package: &str) -> bool {
    listing.lines().any(|line| {
        let mut parts = line.splitn(2, ' ');
        let name = parts.next().unwrap_or("");
        let status = parts.next().unwrap_or("");
        // multi-arch packages may be listed as name:arch
        (name == package || name.split(':').next() == Some(package)) && status.trim() == "install ok installed"
    })
}

fn is_root() -> bool {
    stdout_of(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0")
}

// ---------------------------------------------------------------------------------------------
// npm packages, project-local

/// Splits `name@version` (names may be scoped: `@scope/name@1.2.3`).
fn npm_name_version(spec: &str) -> (&str, Option<&str>) {
    match spec.rfind('@') {
        Some(i) if i > 0 => (&spec[..i], Some(&spec[i + 1..])),
        _ => (spec, None),
    }
}

fn npm_installed(node_modules: &Path, spec: &str) -> bool {
    let (name, version) = npm_name_version(spec);
    let Ok(package_json) = std::fs::read_to_string(node_modules.join(name).join("package.json")) else {
        return false;
    };
    match version {
        None => true,
        Some(v) => json_string_field(&package_json, "version").as_deref() == Some(v),
    }
}

/// The first `"key": "value"` string field in a JSON text (enough for package.json's version).
fn json_string_field(json: &str, key: &str) -> Option<String> {
    let after_key = json.split_once(&format!("\"{key}\""))?.1.trim_start();
    let after_colon = after_key.strip_prefix(':')?.trim_start();
    first_quoted(after_colon).filter(|_| after_colon.starts_with('"'))
}

/// `wasm-opt` from the npm package binaryen (Debian's is too old for what rustc emits), installed
/// under `target/tools` when npm is there; `None` when it cannot be had.
pub fn wasm_opt() -> Option<PathBuf> {
    npm_tool("wasm-opt")
}

/// `terser` (npm), the JavaScript minifier, installed like [`wasm_opt`].
pub fn terser() -> Option<PathBuf> {
    npm_tool("terser")
}

fn npm_tool(name: &str) -> Option<PathBuf> {
    let bin = util::tools_dir().join("node_modules").join(".bin").join(name);
    if !bin.is_file()
        && stdout_of(Command::new("npm").arg("--version")).is_some()
        && let Err(e) = ensure_npm_packages()
    {
        println!("xtask: could not install the npm packages that provide {name}: {e:#}");
    }
    bin.is_file().then_some(bin)
}

fn ensure_npm_packages() -> Result<()> {
    if NPM_PACKAGES.is_empty() {
        return Ok(());
    }
    let prefix = util::tools_dir();
    let node_modules = prefix.join("node_modules");
    let missing: Vec<&str> = NPM_PACKAGES.iter().copied().filter(|s| !npm_installed(&node_modules, s)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("xtask: installing npm packages into {}: {}", node_modules.display(), missing.join(" "));
    std::fs::create_dir_all(&prefix).with_context(|| format!("creating {}", prefix.display()))?;
    // Saved into target/tools/package.json so that later installs keep the earlier packages.
    run(Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .args(&missing)
        .stdin(Stdio::null()))
}

// ---------------------------------------------------------------------------------------------
// PyPI packages, in a project-local venv

const PIP_STAMP: &str = "oxvnc-requirements.txt";

fn ensure_pip_packages() -> Result<()> {
    if PIP_PACKAGES.is_empty() {
        return Ok(());
    }
    let venv = util::tools_dir().join("venv");
    let python = venv.join("bin/python");
    let stamp = venv.join(PIP_STAMP);
    let wanted = PIP_PACKAGES.join("\n") + "\n";
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(());
    }
    if !python.exists() {
        println!("xtask: creating Python venv {}", venv.display());
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    println!("xtask: installing PyPI packages into {}: {}", venv.display(), PIP_PACKAGES.join(" "));
    run(Command::new(&python).args(["-m", "pip", "install", "--quiet"]).args(PIP_PACKAGES).stdin(Stdio::null()))?;
    std::fs::write(&stamp, wanted).with_context(|| format!("writing {}", stamp.display()))
}

/// Folders with installed tool executables, to put in front of PATH for the tests.
pub fn tool_bin_dirs() -> Vec<std::path::PathBuf> {
    let tools = util::tools_dir();
    [tools.join("venv/bin"), tools.join("node_modules/.bin")].into_iter().filter(|d| d.is_dir()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_pin_from_this_workspace() {
        let manifest = std::fs::read_to_string(util::workspace_root().join("Cargo.toml")).unwrap();
        let v = pinned_wasm_bindgen_version(&manifest).unwrap();
        assert_eq!(v.split('.').count(), 3, "{v}");
    }

    #[test]
    fn reads_all_three_manifest_forms() {
        let plain = "[workspace.dependencies]\nanyhow = \"1\"\nwasm-bindgen = \"=0.2.130\" # pinned\n";
        assert_eq!(pinned_wasm_bindgen_version(plain).unwrap(), "0.2.130");
        let inline = "[workspace.dependencies]\nwasm-bindgen = { default-features = false, features = [\"a\", \"b\"], version = \"=0.2.99\" }\n";
        assert_eq!(pinned_wasm_bindgen_version(inline).unwrap(), "0.2.99");
        let table = "[workspace.dependencies.wasm-bindgen]\nfeatures = [\"x\"]\nversion = \"=1.2.3\"\n";
        assert_eq!(pinned_wasm_bindgen_version(table).unwrap(), "1.2.3");
    }

    #[test]
    fn rejects_a_loose_or_missing_pin() {
        let loose = "[workspace.dependencies]\nwasm-bindgen = \"0.2.130\"\n";
        assert!(pinned_wasm_bindgen_version(loose).unwrap_err().to_string().contains("pin it exactly"));
        let elsewhere = "[dependencies]\nwasm-bindgen = \"=0.2.130\"\n";
        assert!(pinned_wasm_bindgen_version(elsewhere).is_err());
        let partial = "[workspace.dependencies]\nwasm-bindgen = \"=0.2\"\n";
        assert!(pinned_wasm_bindgen_version(partial).is_err());
    }

    #[test]
    fn dpkg_listing_needs_the_full_installed_status() {
        let listing = "xterm install ok installed\nxvfb deinstall ok config-files\nlibfoo:amd64 install ok installed\n";
        assert!(dpkg_says_installed(listing, "xterm"));
        assert!(!dpkg_says_installed(listing, "xvfb"));
        assert!(dpkg_says_installed(listing, "libfoo"));
        assert!(!dpkg_says_installed(listing, "chromium"));
    }

    #[test]
    fn npm_specs_split_scoped_names() {
        assert_eq!(npm_name_version("@novnc/novnc@1.5.0"), ("@novnc/novnc", Some("1.5.0")));
        assert_eq!(npm_name_version("@novnc/novnc"), ("@novnc/novnc", None));
        assert_eq!(npm_name_version("ws@8"), ("ws", Some("8")));
        assert_eq!(
            json_string_field("{\n  \"name\": \"x\",\n  \"version\" : \"1.5.0\"\n}", "version").as_deref(),
            Some("1.5.0")
        );
        assert_eq!(json_string_field("{\"version\": 3}", "version"), None);
    }
}
