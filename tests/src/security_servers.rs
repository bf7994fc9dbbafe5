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
