//! Servers for the security interop tests besides those of [`crate::x11`]: TightVNC's
//! `Xtightvnc` (which has no `-displayfd`, so a free display number is searched for).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::servers::{self, Server};
use crate::x11::XDisplay;

/// Starts TightVNC's `Xtightvnc` (24-bit, loopback only) with VNC authentication from
/// `password_file` (the `vncpasswd -f` format) and returns the display and its RFB port.
pub fn start_xtightvnc(geometry: (u32, u32), password_file: &Path) -> (XDisplay, u16) {
    let mut last_error = String::new();
    for attempt in 0..20u32 {
        // A display number no X server holds (lock file and socket absent).
        let number = 100 + (std::process::id() % 200) + attempt * 7;
        if Path::new(&format!("/tmp/.X{number}-lock")).exists()
            || Path::new(&format!("/tmp/.X11-unix/X{number}")).exists()
        {
            continue;
        }
        let port = servers::free_port();
        let mut cmd = Command::new("Xtightvnc");
        cmd.arg(format!(":{number}"))
            .arg("-geometry")
            .arg(format!("{}x{}", geometry.0, geometry.1))
            .args(["-depth", "24", "-localhost", "-nolisten", "tcp", "-rfbport"])
            .arg(port.to_string())
            .arg("-rfbauth")
            .arg(password_file)
            .args(["-desktop", "oxvnc-tight"]);
        let mut server = Server::spawn("Xtightvnc", cmd);
        match server.wait_for_port(port, Duration::from_secs(30)) {
            Ok(()) => {
                let x = XDisplay { number, server };
                if wait_for_x_socket(number) {
                    return (x, port);
                }
                last_error = format!("no X socket for :{number}\n{}", x.server.diagnostics());
            }
            Err(e) => last_error = e,
        }
    }
    panic!("Xtightvnc did not start; last error:\n{last_error}");
}

fn wait_for_x_socket(number: u32) -> bool {
    let socket = format!("/tmp/.X11-unix/X{number}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if Path::new(&socket).exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// QEMU (a diskless PC showing its BIOS screen) with two VNC displays on the same screen: one
/// behind VeNCrypt with `tls-creds-x509` (certificates from `x509_dir`: `ca-cert.pem`,
/// `server-cert.pem`, `server-key.pem`), one in the clear for comparison; and its monitor.
pub struct QemuTls {
    pub server: Server,
    pub tls_port: u16,
    pub plain_port: u16,
    monitor: std::os::unix::net::UnixStream,
}

impl QemuTls {
    /// Starts QEMU; `password` puts VNC authentication inside TLS (X509Vnc, password set with
    /// [`QemuTls::hmp`] `set_password vnc …`), else X509None.
    pub fn start(x509_dir: &Path, password: bool) -> QemuTls {
        let mut last_error = String::new();
        for _ in 0..3 {
            // QEMU takes display numbers: ports 5900 + N.
            let port = || loop {
                let p = servers::free_port();
                if p > 5900 {
                    break p;
                }
            };
            let (tls_port, plain_port) = (port(), port());
            let sock = servers::artifacts_dir("qemu").join(format!("{}.sock", servers::unique_name("tls-monitor")));
            let _ = std::fs::remove_file(&sock);
            let mut cmd = Command::new("qemu-system-x86_64");
            cmd.args(["-nodefaults", "-machine", "pc", "-accel", "tcg", "-m", "32"])
                .args(["-vga", "std", "-display", "none", "-object"])
                .arg(format!("tls-creds-x509,id=tls0,dir={},endpoint=server,verify-peer=off", x509_dir.display()))
                .arg("-vnc")
                .arg(format!(
                    "127.0.0.1:{},tls-creds=tls0{}",
                    tls_port - 5900,
                    if password { ",password=on" } else { "" }
                ))
                .arg("-vnc")
                .arg(format!("127.0.0.1:{},id=plain", plain_port - 5900))
                .arg("-monitor")
                .arg(format!("unix:{},server=on,wait=off", sock.display()));
            let mut server = Server::spawn("qemu-tls", cmd);
            let up = server
                .wait_for_port(tls_port, Duration::from_secs(30))
                .and_then(|()| server.wait_for_port(plain_port, Duration::from_secs(30)));
            if let Err(e) = up {
                last_error = e;
                continue;
            }
            let monitor = match std::os::unix::net::UnixStream::connect(&sock) {
                Ok(m) => m,
                Err(e) => {
                    last_error = format!("monitor {}: {e}\n{}", sock.display(), server.diagnostics());
                    continue;
                }
            };
            monitor.set_read_timeout(Some(Duration::from_secs(20))).expect("monitor timeout");
            let mut q = QemuTls { server, tls_port, plain_port, monitor };
            match q.read_prompt() {
                Ok(_) => return q,
                Err(e) => last_error = e,
            }
        }
        panic!("QEMU with tls-creds-x509 did not start; last error:\n{last_error}");
    }

    fn read_prompt(&mut self) -> Result<String, String> {
        use std::io::Read;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while !out.ends_with(b"(qemu) ") {
            match self.monitor.read(&mut buf) {
                Ok(0) => return Err(format!("the monitor closed\n{}", self.server.diagnostics())),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return Err(format!("monitor: {e}\n{}", self.server.diagnostics())),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Runs a monitor command; returns what it printed.
    pub fn hmp(&mut self, command: &str) -> String {
        use std::io::Write;
        self.monitor
            .write_all(format!("{command}\n").as_bytes())
            .unwrap_or_else(|e| panic!("writing to the QEMU monitor: {e}"));
        self.read_prompt().unwrap_or_else(|e| panic!("{command}: {e}"))
    }
}
