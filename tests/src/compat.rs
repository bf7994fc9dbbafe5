//! The reference peers of the compatibility tests (noVNC, websockify, installed by
//! `cargo xtask install` under `target/tools`), `oxvnc serve` and `websockify` as guarded
//! processes, and a settled Xvnc desktop (test picture plus xterm) with its `xwd` capture.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use image::RgbaImage;

use crate::oxvnc_bin::oxvnc_path;
use crate::pixels;
use crate::servers::{self, Server};
use crate::x11::{self, XDisplay};

/// How long a relay gets to start listening.
const START_LIMIT: Duration = Duration::from_secs(30);
/// Attempts at starting a server on a fresh port when the chosen one was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// `target/tools`, where `cargo xtask install` puts noVNC and websockify: `OXVNC_TOOLS` (which
/// xtask exports) or `<workspace>/target/tools`.
pub fn tools_dir() -> PathBuf {
    match std::env::var_os("OXVNC_TOOLS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("tools"),
    }
}

fn require(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what} is missing: {} does not exist. Run `cargo xtask install` (or `cargo xtask test`, \
         which installs it) to put the reference peers under target/tools, or set OXVNC_TOOLS.",
        path.display()
    );
    path
}

/// The noVNC 1.7 package (`core/rfb.js` and friends, ES modules).
pub fn novnc_dir() -> PathBuf {
    let dir = tools_dir().join("node_modules").join("@novnc").join("novnc");
    require(dir.join("core").join("rfb.js"), "noVNC (npm @novnc/novnc)");
    dir
}

/// The `websockify` script of the tools venv.
pub fn websockify_bin() -> PathBuf {
    require(tools_dir().join("venv").join("bin").join("websockify"), "websockify (PyPI, tools venv)")
}

/// A command with the developer's `OXVNC_*` settings and log filters removed.
fn clean_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("OXVNC_") {
            cmd.env_remove(var);
        }
    }
    cmd.env_remove("RUST_LOG");
    cmd
}

/// A running `oxvnc serve` and the loopback address it listens on.
pub struct Relay {
    pub server: Server,
    pub addr: SocketAddr,
}

impl Relay {
    /// Starts `oxvnc serve --listen 127.0.0.1:0 ARGS...` and waits for its "listening on" log
    /// line, which names the port the system picked (so parallel tests cannot collide).
    pub fn start(args: &[&str]) -> Relay {
        let mut cmd = clean_command(oxvnc_path());
        cmd.args(["serve", "--listen", "127.0.0.1:0"]).args(args);
        let mut server = Server::spawn("oxvnc-serve", cmd);
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let log = std::fs::read_to_string(server.log_path()).unwrap_or_default();
            if let Some(addr) = listening_addr(&log) {
                return Relay { server, addr };
            }
            if let Some(status) = server.exited() {
                panic!("oxvnc serve {args:?} exited ({status}) before listening\n{}", server.diagnostics());
            }
            assert!(
                Instant::now() < deadline,
                "oxvnc serve {args:?} did not listen within {START_LIMIT:?}\n{}",
                server.diagnostics()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `ws://127.0.0.1:PORT/PATH`
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}/{}", self.addr, path.trim_start_matches('/'))
    }
}

/// The address in the first `listening on SCHEME://ADDR` line of a relay log.
fn listening_addr(log: &str) -> Option<SocketAddr> {
    log.lines().find_map(|line| {
        let rest = line.split("listening on ").nth(1)?;
        let url = rest.split_whitespace().next()?;
        url.split("://").nth(1)?.parse().ok()
    })
}

/// Starts websockify (the Python reference relay) on a fresh loopback port, relaying to
/// `target` (`HOST:PORT`). Returns the server and its port once it accepts connections.
pub fn start_websockify(target: &str) -> (Server, u16) {
    start_websockify_as(&websockify_bin(), &[target])
}

/// Starts `program` with websockify's command line: the options and arguments of `args`
/// after `127.0.0.1:PORT` on a fresh port. `program` is websockify itself, or oxvnc run under
/// that name. Returns the server and its port once it accepts connections.
pub fn start_websockify_as(program: &Path, args: &[&str]) -> (Server, u16) {
    let mut last_error = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = servers::free_port();
        let mut cmd = clean_command(program);
        cmd.arg(format!("127.0.0.1:{port}")).args(args);
        let mut server = Server::spawn("websockify", cmd);
        match server.wait_for_port(port, START_LIMIT) {
            Ok(()) => return (server, port),
            Err(e) => last_error = e,
        }
    }
    panic!("{} did not start in {PORT_ATTEMPTS} attempts; last error:\n{last_error}", program.display());
}

/// Starts `program` with websockify's command line `args`, which name `socket` with
/// `--unix-listen`, and returns once that socket accepts connections.
pub fn start_websockify_on_unix(program: &Path, socket: &Path, args: &[&str]) -> Server {
    let mut cmd = clean_command(program);
    cmd.args(args);
    let mut server = Server::spawn("websockify", cmd);
    if let Err(e) = server.wait_for_unix_socket(socket, START_LIMIT) {
        panic!("{}: {e}", program.display());
    }
    server
}

/// Xvnc showing the deterministic test picture with an xterm on top, settled.
/// Fields drop in order: the xterm goes before its X server.
pub struct XvncDesktop {
    pub xterm: Server,
    pub x: XDisplay,
    /// The RFB port (loopback).
    pub port: u16,
    /// The settled screen as `xwd` captured it: what every client must show.
    pub screen: RgbaImage,
}

impl XvncDesktop {
    /// Starts Xvnc (no authentication) of `size`, shows the picture and the xterm, and waits
    /// until the screen is stable.
    pub fn start(size: (u32, u32), tag: &str) -> XvncDesktop {
        let (mut x, port) = x11::start_xvnc(size, &["-SecurityTypes", "None"]);
        let picture = x11::test_picture(size.0, size.1);
        x11::show_on_root(&mut x, &picture, &format!("{tag}-picture"));
        let mut xterm = x11::start_xterm(&x);
        let screen = x11::wait_stable_root(&mut x, &picture, &mut xterm);
        XvncDesktop { xterm, x, port, screen }
    }

    /// `127.0.0.1:PORT`
    pub fn vnc_addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `Err` if the X screen no longer equals the capture the comparisons were made against
    /// (which would make them void), or if Xvnc or the xterm has died.
    pub fn check_unchanged(&mut self) -> Result<(), String> {
        self.x.server.assert_running();
        self.xterm.assert_running();
        let now = self.x.capture();
        match pixels::diff(&self.screen, &now) {
            None => Ok(()),
            Some(m) => Err(format!("the X screen changed during the test ({m}); comparisons are void")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line_gives_the_address() {
        let log =
            "2026-01-01T00:00:00Z  INFO oxvnc::serve: listening on ws://127.0.0.1:40123 (relaying to 127.0.0.1:5901)\n";
        assert_eq!(listening_addr(log), Some("127.0.0.1:40123".parse().unwrap()));
        assert_eq!(listening_addr("starting\n"), None);
    }
}
