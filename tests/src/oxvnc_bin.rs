//! The `oxvnc` binary (crate `oxvnc-relay`) as the tests use it: built once per test process,
//! then run as a subprocess with a hang guard.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::servers::{self, Finished};

/// Path of an `oxvnc` binary built from this workspace.
///
/// `OXVNC_BIN` overrides it. Otherwise `cargo build -p oxvnc-relay --bin oxvnc` runs once per
/// test process (same profile directory as the running test executable; cargo's own lock
/// serialises concurrent builds) and the binary is taken from `<target>/<profile>/oxvnc`.
pub fn oxvnc_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os("OXVNC_BIN") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "OXVNC_BIN={} is not a file", p.display());
            return p;
        }
        build_oxvnc()
    })
}

fn build_oxvnc() -> PathBuf {
    let profile_dir = servers::profile_dir().unwrap_or_else(|| servers::target_dir().join("debug"));
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args(["build", "--quiet", "-p", "oxvnc-relay", "--bin", "oxvnc"])
        .env("CARGO_TARGET_DIR", servers::target_dir());
    if release {
        cmd.arg("--release");
    }
    // Generous: a cold build of the relay with its dependencies on a small machine.
    let built = servers::run_with_limit(cmd, Duration::from_secs(1200));
    assert!(built.status.success(), "building oxvnc failed ({}):\n{}", built.status, built.stderr);
    let exe = profile_dir.join(format!("oxvnc{}", std::env::consts::EXE_SUFFIX));
    assert!(exe.is_file(), "cargo built oxvnc but {} does not exist", exe.display());
    exe
}

/// Runs `oxvnc ARGS...` to completion; panics if it is still running after `limit`.
pub fn run_oxvnc<I, S>(args: I, limit: Duration) -> Finished
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(oxvnc_path());
    cmd.args(args);
    // Keep settings from the developer's shell (OXVNC_* options, log filters) out of the runs
    // the tests look at.
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("OXVNC_") {
            cmd.env_remove(var);
        }
    }
    cmd.env_remove("RUST_LOG");
    servers::run_with_limit(cmd, limit)
}

/// `oxvnc snapshot TARGET OUT.png [--encodings LIST] EXTRA...` with the PNG written under
/// `target/test-artifacts/<dir>/<name>.png`. Returns what the command printed and the PNG path.
pub fn snapshot(target: &str, encodings: Option<&str>, extra: &[&OsStr], dir: &str, name: &str) -> (Finished, PathBuf) {
    let out = servers::artifacts_dir(dir).join(format!("{name}.png"));
    let _ = std::fs::remove_file(&out);
    let mut args: Vec<&OsStr> = vec![OsStr::new("snapshot"), OsStr::new(target), out.as_os_str()];
    if let Some(list) = encodings {
        args.push(OsStr::new("--encodings"));
        args.push(OsStr::new(list));
    }
    args.extend_from_slice(extra);
    (run_oxvnc(args, SNAPSHOT_LIMIT), out)
}

/// Hang guard for one `oxvnc snapshot` run (each test also passes its own `--timeout`).
pub const SNAPSHOT_LIMIT: Duration = Duration::from_secs(120);
