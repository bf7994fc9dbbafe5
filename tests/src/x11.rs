//! Real X servers for interop tests: TigerVNC `Xvnc` and `Xvfb` (for x11vnc), a deterministic
//! desktop (a generated picture on the root window plus an `xterm` showing text), and stable
//! `xwd` captures of it.
//!
//! X servers are started with `-displayfd 1`, so the server itself picks a free display number
//! (with its own lock files) and writes it to stdout: parallel tests and other processes on the
//! machine cannot collide.

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use image::{Rgba, RgbaImage};

use crate::pixels;
use crate::servers::{self, Server};
use crate::xwd;

/// How long an X server or VNC server gets to come up.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long the desktop gets to settle (picture shown, xterm drawn).
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// Attempts at starting a server on a fresh port when the chosen one was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// A running X server and its display number. Stops the server when dropped.
pub struct XDisplay {
    pub number: u32,
    pub server: Server,
}

impl XDisplay {
    /// `:N`
    pub fn name(&self) -> String {
        format!(":{}", self.number)
    }

    /// A command with `DISPLAY` set to this display.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("DISPLAY", self.name());
        cmd
    }

    /// A capture of the root window.
    pub fn capture(&mut self) -> RgbaImage {
        self.server.assert_running();
        xwd::capture_root(self.number).unwrap_or_else(|e| panic!("{e:#}\n{}", self.server.diagnostics()))
    }
}

fn start_x(name: &str, cmd: Command) -> Result<XDisplay, String> {
    let mut server = Server::spawn(name, cmd);
    let line = server.stdout_line(START_LIMIT)?;
    let number = line
        .parse::<u32>()
        .map_err(|_| format!("{name} wrote {line:?} instead of a display number\n{}", server.diagnostics()))?;
    Ok(XDisplay { number, server })
}

/// Starts TigerVNC `Xvnc` (24-bit, loopback only, no X TCP listener) with the given extra
/// arguments (e.g. `-SecurityTypes None`), on a fresh RFB port. Returns the display and the port
/// once the port accepts connections.
pub fn start_xvnc(geometry: (u32, u32), extra: &[&str]) -> (XDisplay, u16) {
    let mut last_error = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = servers::free_port();
        let mut cmd = Command::new("Xvnc");
        cmd.args(["-displayfd", "1", "-geometry"])
            .arg(format!("{}x{}", geometry.0, geometry.1))
            // -noreset: the root window keeps its picture when the last X client disconnects.
            .args(["-depth", "24", "-localhost", "-nolisten", "tcp", "-noreset", "-rfbport"])
            .arg(port.to_string())
            .args(["-desktop", "oxvnc-interop"])
            .args(extra);
        let mut x = match start_x("Xvnc", cmd) {
            Ok(x) => x,
            Err(e) => {
                last_error = e;
                continue;
            }
        };
        match x.server.wait_for_port(port, START_LIMIT) {
            Ok(()) => return (x, port),
            Err(e) => last_error = e,
        }
    }
    panic!("Xvnc did not start in {PORT_ATTEMPTS} attempts; last error:\n{last_error}");
}

/// Starts `Xvfb` with one 24-bit screen of the given size.
pub fn start_xvfb(geometry: (u32, u32)) -> XDisplay {
    start_xvfb_depth(geometry, 24)
}

/// Starts `Xvfb` with one screen of the given size and depth (8 gives a PseudoColor visual, whose
/// pixels are colour-map indices).
pub fn start_xvfb_depth(geometry: (u32, u32), depth: u32) -> XDisplay {
    let mut cmd = Command::new("Xvfb");
    // -noreset: the root window keeps its picture when the last X client disconnects.
    cmd.args(["-displayfd", "1", "-nolisten", "tcp", "-noreset", "-screen", "0"])
        .arg(format!("{}x{}x{depth}", geometry.0, geometry.1));
    start_x("Xvfb", cmd).unwrap_or_else(|e| panic!("Xvfb did not start: {e}"))
}

/// Starts `x11vnc` on `display` (loopback only, no password, shared, never exiting) with extra
/// arguments, on a fresh port. Returns the server and the port once the port accepts connections.
pub fn start_x11vnc(display: &XDisplay, extra: &[&str]) -> (Server, u16) {
    let mut last_error = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = servers::free_port();
        let mut cmd = Command::new("x11vnc");
        cmd.arg("-display")
            .arg(display.name())
            .arg("-rfbport")
            .arg(port.to_string())
            .args(["-localhost", "-noipv6", "-forever", "-shared", "-nopw", "-noxdamage"])
            .args(extra);
        // x11vnc reads ~/.x11vncrc unless told not to.
        cmd.arg("-norc");
        let mut server = Server::spawn("x11vnc", cmd);
        match server.wait_for_port(port, START_LIMIT) {
            Ok(()) => return (server, port),
            Err(e) => last_error = e,
        }
    }
    panic!("x11vnc did not start in {PORT_ATTEMPTS} attempts; last error:\n{last_error}");
}

/// A deterministic picture that exercises every encoding's paths: solid colour bars (RRE and
/// Hextile solid tiles), smooth gradients (raw tiles), two-colour and few-colour patterns (Hextile
/// subrectangles, ZRLE packed palettes), runs with few and with many colours (ZRLE palette RLE
/// and plain RLE), noise (ZRLE raw), and small rectangles on a solid ground (RRE).
pub fn test_picture(width: u32, height: u32) -> RgbaImage {
    const BARS: [[u8; 3]; 8] = [
        [255, 255, 255],
        [255, 255, 0],
        [0, 255, 255],
        [0, 255, 0],
        [255, 0, 255],
        [255, 0, 0],
        [0, 0, 255],
        [0, 0, 0],
    ];
    const FEW: [[u8; 3]; 16] = [
        [12, 34, 56],
        [200, 10, 10],
        [10, 200, 10],
        [10, 10, 200],
        [240, 240, 16],
        [16, 240, 240],
        [240, 16, 240],
        [128, 128, 128],
        [90, 60, 30],
        [30, 60, 90],
        [250, 128, 114],
        [0, 100, 0],
        [70, 130, 180],
        [255, 215, 0],
        [147, 112, 219],
        [1, 2, 3],
    ];
    fn hash(a: u32, b: u32) -> u32 {
        let mut h = a.wrapping_mul(0x9E37_79B1) ^ b.wrapping_mul(0x85EB_CA77);
        h ^= h >> 15;
        h = h.wrapping_mul(0xC2B2_AE3D);
        h ^ (h >> 13)
    }
    let band = height.div_ceil(6).max(1);
    RgbaImage::from_fn(width, height, |x, y| {
        let yy = y % band;
        let rgb: [u8; 3] = match y / band {
            0 => BARS[(x * 8 / width.max(1)) as usize % 8],
            1 => {
                let r = (x * 255 / (width - 1).max(1)) as u8;
                let g = (yy * 255 / (band - 1).max(1)) as u8;
                [r, g, 255 - r]
            }
            2 => {
                if x < width / 3 {
                    if (x + y) % 2 == 0 { [255, 255, 255] } else { [20, 20, 60] }
                } else if x < 2 * width / 3 {
                    FEW[((x / 3 + y / 2) % 4) as usize]
                } else {
                    FEW[(hash(x, y) % 16) as usize]
                }
            }
            3 => {
                // Runs whose length changes with the row.
                let run = x / (2 + (y % 7) * 3);
                if x < width / 2 {
                    FEW[(hash(run, y / 3) % 6) as usize]
                } else {
                    let h = hash(run, y);
                    [h as u8, (h >> 8) as u8, (h >> 16) as u8]
                }
            }
            4 => {
                let h = hash(x ^ 0x5555, y);
                [h as u8, (h >> 8) as u8, (h >> 16) as u8]
            }
            _ => {
                // Solid ground with small rectangles on a grid.
                let (cx, cy) = (x % 40, yy % 30);
                if (5..17).contains(&cx) && (4..12).contains(&cy) {
                    FEW[((x / 40 + y / 30) % 16) as usize]
                } else if cx == 30 && (2..25).contains(&cy) {
                    [255, 255, 255]
                } else {
                    [0, 40, 80]
                }
            }
        };
        Rgba([rgb[0], rgb[1], rgb[2], 255])
    })
}

/// Shows `picture` as the root window background of `display` (ImageMagick
/// `/usr/bin/display -window root`), then waits until a capture of the root window equals it
/// pixel for pixel, which also checks the capture path (xwd and its decoder) end to end.
pub fn show_on_root(display: &mut XDisplay, picture: &RgbaImage, name: &str) {
    let path = servers::artifacts_dir("pictures").join(format!("{}.png", servers::unique_name(name)));
    pixels::save_png(&path, picture).expect("save picture");
    let mut cmd = display.command("/usr/bin/display");
    cmd.arg("-window").arg("root").arg(&path);
    // `display -window root` sets the background and exits (with status 1 on this ImageMagick
    // even when it worked), so its status says nothing: the capture below is the check.
    let done = servers::run_with_limit(cmd, Duration::from_secs(60));
    let deadline = Instant::now() + SETTLE_LIMIT;
    loop {
        let shot = display.capture();
        let Some(m) = pixels::diff(picture, &shot) else {
            return;
        };
        if Instant::now() >= deadline {
            let err = pixels::check_same("pictures", name, picture, &shot).unwrap_err();
            panic!(
                "root window of {} never showed the picture {}: {m}; {err}\ndisplay said ({}): {}",
                display.name(),
                path.display(),
                done.status,
                done.stderr
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// What the xterm shows: fixed text, so every run draws the same pixels.
const XTERM_TEXT: &str = "hello oxvnc\n\
    The quick brown fox jumps over the lazy dog.\n\
    0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\n\
    ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz";

/// Starts an `xterm` on `display` at +440+330 (away from the pointer, which X servers put in
/// the middle of the screen) showing a few lines of fixed text.
pub fn start_xterm(display: &XDisplay) -> Server {
    let mut cmd = display.command("xterm");
    cmd.args(["-geometry", "56x8+440+330", "-e", "sh", "-c"])
        .arg("printf '%s\\n' \"$OXVNC_XTERM_TEXT\"; exec sleep 600")
        .env("OXVNC_XTERM_TEXT", XTERM_TEXT)
        .env("LANG", "C")
        .env("LC_ALL", "C");
    Server::spawn("xterm", cmd)
}

/// Polls captures of the root window until three in a row are identical and differ from
/// `background` (so whatever was started on top of it has drawn), and returns that capture.
/// Panics if most of the screen is no longer `background` (a window that small must not hide
/// more than a fifth of it; a lost background would make the comparisons nearly blank).
pub fn wait_stable_root(display: &mut XDisplay, background: &RgbaImage, watched: &mut Server) -> RgbaImage {
    let deadline = Instant::now() + SETTLE_LIMIT;
    let mut previous: Option<RgbaImage> = None;
    let mut same_in_a_row = 0;
    loop {
        watched.assert_running();
        let shot = display.capture();
        let changed = pixels::diff(background, &shot).map_or(0, |m| m.count);
        let total = u64::from(shot.width()) * u64::from(shot.height());
        if changed * 5 > total {
            let saved = pixels::check_same("pictures", "lost-background", background, &shot).unwrap_err();
            panic!("the picture on the root window of {} was lost: {saved}", display.name());
        }
        let drawn = changed > 0;
        if drawn && previous.as_ref().is_some_and(|p| pixels::diff(p, &shot).is_none()) {
            same_in_a_row += 1;
            if same_in_a_row >= 2 {
                return shot;
            }
        } else {
            same_in_a_row = 0;
        }
        if Instant::now() >= deadline {
            panic!(
                "root window of {} did not settle within {SETTLE_LIMIT:?} (drawn: {drawn})\n{}",
                display.name(),
                watched.diagnostics()
            );
        }
        previous = Some(shot);
        thread::sleep(Duration::from_millis(150));
    }
}

/// Writes `vncpasswd -f` output for `password` to `path` (the obfuscated file Xvnc and x11vnc
/// read with `-PasswordFile` / `-rfbauth`).
pub fn write_vnc_password_file(password: &str, path: &Path) {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("printf '%s\\n' \"$PW\" | vncpasswd -f").env("PW", password);
    let done = servers::run_with_limit(cmd, Duration::from_secs(30));
    assert!(
        done.status.success() && done.stdout.len() == 8,
        "vncpasswd -f failed ({}, {} bytes): {}",
        done.status,
        done.stdout.len(),
        done.stderr
    );
    std::fs::write(path, &done.stdout).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
