//! QEMU as a VNC server for interop tests: a diskless PC (`-nodefaults`, no drives, no network)
//! that shows its BIOS screen, with the human monitor on a Unix socket so the test can freeze the
//! machine (`stop`) and take the truth with `screendump`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use image::{Rgba, RgbaImage};

use crate::servers::{self, Server};

const START_LIMIT: Duration = Duration::from_secs(30);
const MONITOR_LIMIT: Duration = Duration::from_secs(20);
const PORT_ATTEMPTS: usize = 3;

/// A running QEMU with its VNC port and monitor. Stops QEMU when dropped (through [`Server`]).
pub struct Qemu {
    pub server: Server,
    /// The VNC port on 127.0.0.1 (0 when VNC is on a Unix socket, see [`start_on_socket`]).
    pub port: u16,
    monitor: UnixStream,
    dir: PathBuf,
}

/// Starts `qemu-system-x86_64` with VNC on a fresh port (`vnc_options` are appended to the
/// `-vnc` argument, e.g. `",password=on"`), waits until its monitor answers and its VNC port
/// accepts connections.
pub fn start(vnc_options: &str) -> Qemu {
    let mut last_error = String::new();
    for _ in 0..PORT_ATTEMPTS {
        // QEMU takes a display number: the port is 5900 + N.
        let port = loop {
            let p = servers::free_port();
            if p > 5900 {
                break p;
            }
        };
        let vnc = format!("127.0.0.1:{}{vnc_options}", port - 5900);
        match launch(&vnc, port, |server| server.wait_for_port(port, START_LIMIT)) {
            Ok(q) => return q,
            Err(e) => last_error = e,
        }
    }
    panic!("QEMU did not start in {PORT_ATTEMPTS} attempts; last error:\n{last_error}");
}

/// Starts QEMU with its VNC server on the Unix socket `sock` (`-vnc unix:PATH`, as libvirt and
/// other VM managers set it up), and waits until the socket accepts connections.
pub fn start_on_socket(sock: &std::path::Path) -> Qemu {
    let vnc = format!("unix:{}", sock.display());
    let ready = |server: &mut Server| {
        let deadline = Instant::now() + START_LIMIT;
        while UnixStream::connect(sock).is_err() {
            if let Some(status) = server.exited() {
                return Err(format!("QEMU exited ({status})\n{}", server.diagnostics()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "QEMU's VNC socket {} did not accept in time\n{}",
                    sock.display(),
                    server.diagnostics()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    };
    launch(&vnc, 0, ready).unwrap_or_else(|e| panic!("QEMU did not start: {e}"))
}

/// Starts QEMU with `-vnc VNC`, waits with `ready`, then for its monitor.
fn launch(vnc: &str, port: u16, ready: impl FnOnce(&mut Server) -> Result<(), String>) -> Result<Qemu, String> {
    let dir = servers::artifacts_dir("qemu");
    let sock = dir.join(format!("{}.sock", servers::unique_name("monitor")));
    let _ = std::fs::remove_file(&sock);
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-nodefaults", "-machine", "pc", "-accel", "tcg", "-m", "32"])
        .args(["-vga", "std", "-display", "none"])
        .arg("-vnc")
        .arg(vnc)
        .arg("-monitor")
        .arg(format!("unix:{},server=on,wait=off", sock.display()));
    let mut server = Server::spawn("qemu", cmd);
    ready(&mut server)?;
    let monitor = UnixStream::connect(&sock)
        .map_err(|e| format!("QEMU monitor {}: {e}\n{}", sock.display(), server.diagnostics()))?;
    monitor.set_read_timeout(Some(MONITOR_LIMIT)).expect("monitor read timeout");
    let mut q = Qemu { server, port, monitor, dir };
    q.read_prompt()?;
    Ok(q)
}

impl Qemu {
    /// Reads monitor output up to and including the next `(qemu) ` prompt.
    fn read_prompt(&mut self) -> Result<String, String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while !out.ends_with(b"(qemu) ") {
            match self.monitor.read(&mut buf) {
                Ok(0) => {
                    return Err(format!("the QEMU monitor closed\n{}", self.server.diagnostics()));
                }
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => {
                    return Err(format!("reading the QEMU monitor: {e}\n{}", self.server.diagnostics()));
                }
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Runs a monitor command and returns what it printed (with the echo).
    pub fn hmp(&mut self, command: &str) -> String {
        self.monitor
            .write_all(format!("{command}\n").as_bytes())
            .unwrap_or_else(|e| panic!("writing to the QEMU monitor: {e}"));
        self.read_prompt().unwrap_or_else(|e| panic!("{command}: {e}"))
    }

    /// The screen as QEMU itself sees it (`screendump`, a binary PPM).
    pub fn screendump(&mut self) -> RgbaImage {
        let path = self.dir.join(format!("{}.ppm", servers::unique_name("screendump")));
        let _ = std::fs::remove_file(&path);
        let said = self.hmp(&format!("screendump {}", path.display()));
        let data = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("screendump wrote no {} ({e}); monitor said {said:?}", path.display()));
        parse_ppm(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Waits until the BIOS has stopped drawing (a non-black screen that differs from the one a
    /// second before in at most a blinking text cursor's pixels, after at least `settle`), then
    /// freezes the machine so the screen stays put (the cursor too), and returns it.
    pub fn settle_and_stop(&mut self, settle: Duration) -> RgbaImage {
        let start = Instant::now();
        let mut last = self.screendump();
        loop {
            thread::sleep(Duration::from_secs(1));
            let now = self.screendump();
            let lit = now.pixels().any(|p| p.0[..3] != [0, 0, 0]);
            let changed = if now.dimensions() == last.dimensions() {
                now.pixels().zip(last.pixels()).filter(|(a, b)| a != b).count()
            } else {
                usize::MAX
            };
            if lit && changed <= 9 * 16 && start.elapsed() >= settle {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the QEMU screen did not settle in 60 s\n{}",
                self.server.diagnostics()
            );
            last = now;
        }
        self.hmp("stop");
        self.screendump()
    }
}

/// Parses a binary PPM (P6, maxval 255) as QEMU's screendump writes it.
pub fn parse_ppm(data: &[u8]) -> Result<RgbaImage, String> {
    // Header: "P6", width, height, maxval, separated by whitespace, then one whitespace byte.
    let mut fields = Vec::new();
    let mut pos = 0;
    while fields.len() < 4 {
        while pos < data.len() && data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if data.get(pos) == Some(&b'#') {
            while pos < data.len() && data[pos] != b'\n' {
                pos += 1;
            }
            continue;
        }
        let start = pos;
        while pos < data.len() && !data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if start == pos {
            return Err("truncated PPM header".into());
        }
        fields.push(String::from_utf8_lossy(&data[start..pos]).into_owned());
    }
    pos += 1;
    if fields[0] != "P6" || fields[3] != "255" {
        return Err(format!("not an 8-bit binary PPM: {fields:?}"));
    }
    let w: u32 = fields[1].parse().map_err(|_| "bad PPM width")?;
    let h: u32 = fields[2].parse().map_err(|_| "bad PPM height")?;
    let px = data.get(pos..pos + (w * h * 3) as usize).ok_or("truncated PPM pixels")?;
    Ok(RgbaImage::from_fn(w, h, |x, y| {
        let i = ((y * w + x) * 3) as usize;
        Rgba([px[i], px[i + 1], px[i + 2], 255])
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppm() {
        let mut d = b"P6\n# comment\n2 1\n255\n".to_vec();
        d.extend([1, 2, 3, 4, 5, 6]);
        let img = parse_ppm(&d).unwrap();
        assert_eq!(img.get_pixel(1, 0).0, [4, 5, 6, 255]);
        assert!(parse_ppm(&d[..d.len() - 1]).is_err());
        assert!(parse_ppm(b"P5\n1 1\n255\n\0").is_err());
    }
}
