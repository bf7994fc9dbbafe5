//! The engine's protocol extensions against real servers: TigerVNC `Xvnc` (fences, continuous
//! updates, ExtendedDesktopSize/SetDesktopSize, the UTF-8 extended clipboard) and QEMU's VNC
//! server (QEMU extended key events: the key's position, not its keysym, reaches the guest).
//!
//! Each test drives `oxvnc_rfb::Connection` over a plain TCP socket. Waits have generous limits
//! only so that a broken server or engine fails the test instead of hanging it.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use oxvnc_rfb::{Config, Connection, Event};
use oxvnc_tests::servers::{self, Server};
use oxvnc_tests::x11::{self, XDisplay};

/// Upper bound on any wait (a hung server or engine fails instead of blocking the run).
const LIMIT: Duration = Duration::from_secs(60);

/// A client connection driven over TCP.
struct Vnc {
    conn: Connection,
    sock: TcpStream,
    /// Events since the last [`Vnc::clear`].
    seen: Vec<Event>,
}

impl Vnc {
    fn connect(port: u16) -> Vnc {
        let sock =
            TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
        sock.set_read_timeout(Some(Duration::from_millis(50))).expect("read timeout");
        sock.set_nodelay(true).expect("nodelay");
        Vnc { conn: Connection::new(Config::default()), sock, seen: Vec::new() }
    }

    fn clear(&mut self) {
        self.seen.clear();
    }

    fn flush(&mut self) -> Result<(), String> {
        if self.conn.has_output() {
            let out = self.conn.take_output();
            self.sock.write_all(&out).map_err(|e| format!("writing to the server: {e}"))?;
        }
        Ok(())
    }

    /// Reads and answers the server until `done` holds (checked after every read), or fails
    /// after `LIMIT` saying what was awaited and what arrived.
    fn until(&mut self, what: &str, mut done: impl FnMut(&Connection, &[Event]) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + LIMIT;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            self.flush()?;
            if done(&self.conn, &self.seen) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let recent: Vec<String> =
                    self.seen.iter().rev().take(12).map(|e| format!("{e:?}").chars().take(120).collect()).collect();
                return Err(format!("{what}: not within {LIMIT:?}; latest events (newest first): {recent:#?}"));
            }
            match self.sock.read(&mut buf) {
                Ok(0) => return Err(format!("{what}: the server closed the connection")),
                Ok(n) => {
                    let result = self.conn.receive(&buf[..n]);
                    while let Some(e) = self.conn.poll_event() {
                        self.seen.push(e);
                    }
                    result.map_err(|e| format!("{what}: the engine failed: {e}"))?;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(format!("{what}: reading from the server: {e}")),
            }
        }
    }
}

/// Sets the root window of `x` to one colour.
fn set_root(x: &XDisplay, colour: &str) {
    let done = servers::run_with_limit(
        {
            let mut cmd = x.command("xsetroot");
            cmd.args(["-solid", colour]);
            cmd
        },
        LIMIT,
    );
    assert!(done.status.success(), "xsetroot -solid {colour}: {}", done.stderr);
}

#[test]
fn xvnc_continuous_updates_and_set_desktop_size() {
    let (mut x, port) = x11::start_xvnc((640, 480), &["-SecurityTypes", "None"]);
    let mut v = Vnc::connect(port);
    v.until("continuous updates and SetDesktopSize offered", |c, _| {
        c.continuous_updates() && c.supports_set_desktop_size()
    })
    .unwrap();
    assert_eq!(v.conn.screens().len(), 1, "{:?}", v.conn.screens());

    // The engine sends no more update requests: changes must still arrive.
    set_root(&x, "#ff0000");
    v.until("the red root window, with continuous updates", |c, _| {
        let fb = c.framebuffer();
        fb.pixel(5, 5) == [255, 0, 0, 255] && fb.pixel(635, 475) == [255, 0, 0, 255]
    })
    .unwrap();
    assert!(v.conn.continuous_updates());

    // Resize the session; the X server must agree, and updates must cover the new area.
    v.clear();
    assert!(v.conn.set_desktop_size(800, 600));
    v.until("the desktop resized to 800x600", |_, seen| seen.contains(&Event::Resized { width: 800, height: 600 }))
        .unwrap();
    assert!(!v.seen.iter().any(|e| matches!(e, Event::ResizeRefused { .. })), "{:?}", v.seen);
    let screens = v.conn.screens();
    assert_eq!(screens.len(), 1, "{screens:?}");
    assert_eq!((screens[0].x, screens[0].y, screens[0].width, screens[0].height), (0, 0, 800, 600));
    assert_eq!(x.capture().dimensions(), (800, 600), "the X screen's size");
    set_root(&x, "#00ff00");
    v.until("the green root window over all of 800x600", |c, _| {
        let fb = c.framebuffer();
        fb.pixel(5, 5) == [0, 255, 0, 255] && fb.pixel(795, 595) == [0, 255, 0, 255]
    })
    .unwrap();
    assert!(v.conn.continuous_updates());
}

#[test]
fn xvnc_extended_clipboard_round_trip() {
    if Command::new("xclip").arg("-version").output().is_err() {
        println!("note: skipped: xclip is not installed (Debian package xclip)");
        return;
    }
    let (x, port) = x11::start_xvnc((320, 240), &["-SecurityTypes", "None"]);
    let mut v = Vnc::connect(port);
    v.until("the extended clipboard negotiated", |c, _| c.extended_clipboard()).unwrap();

    // X → client: an X client owns the clipboard; its UTF-8 text reaches the engine whole.
    let from_x = "gr\u{fc}\u{df}e \u{2713} \u{4e2d}\u{6587} from X";
    let file = servers::artifacts_dir("interop-protocol").join(servers::unique_name("clip"));
    std::fs::write(&file, from_x).expect("write the clipboard file");
    let mut owner = x.command("xclip");
    owner.args(["-quiet", "-selection", "clipboard", "-i"]).arg(&file);
    let owner = Server::spawn("xclip-in", owner);
    v.until("the X clipboard text", |_, seen| seen.contains(&Event::Clipboard(from_x.into()))).unwrap();

    // Client → X: the engine's text, read back by an X client.
    let to_x = "\u{fc}n\u{ef}c\u{f6}d\u{e9} \u{2603} \u{65e5}\u{672c}\u{8a9e} from oxvnc";
    v.conn.clipboard(to_x);
    let mut reader = x.command("sh");
    reader.args(["-c", "xclip -o -selection clipboard; echo"]);
    let mut reader = Server::spawn("xclip-out", reader);
    v.until("xclip reading the clipboard", |_, _| reader.exited().is_some()).unwrap();
    let got = reader.stdout_line(Duration::from_secs(5)).unwrap();
    assert_eq!(got, to_x);
    drop(owner);
}

#[test]
fn qemu_takes_the_key_position_as_a_scancode() {
    // QEMU's -vnc takes a display number: port 5900 + N.
    let port = servers::free_port();
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-nodefaults",
        "-no-user-config",
        "-machine",
        "pc,accel=tcg",
        "-m",
        "32",
        "-vga",
        "std",
        "-display",
        "none",
        "-trace",
        "input_event_key_qcode",
        "-vnc",
    ])
    .arg(format!("127.0.0.1:{}", port - 5900));
    let mut qemu = Server::spawn("qemu", cmd);
    qemu.wait_for_port(port, LIMIT).unwrap();
    let mut v = Vnc::connect(port);
    v.until("QEMU acknowledging extended key events", |c, _| c.scancodes_enabled()).unwrap();

    // The keysym says 'a', the position says Q (and right Alt): QEMU must use the position.
    v.conn.key_with_code(0x61, "KeyQ", true);
    v.conn.key_with_code(0x61, "KeyQ", false);
    v.conn.key_with_code(0xffea, "AltRight", true);
    v.conn.key_with_code(0xffea, "AltRight", false);
    let log = qemu.log_path().to_owned();
    let wanted = ["key qcode q, down 1", "key qcode q, down 0", "key qcode alt_r, down 1", "key qcode alt_r, down 0"];
    let result = v.until("QEMU's input layer seeing the keys", |_, _| {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        wanted.iter().all(|w| text.contains(w))
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    result.unwrap_or_else(|e| panic!("{e}\nQEMU's log:\n{}", servers::tail(&text, 30)));
    assert!(!text.contains("key qcode a,"), "QEMU used the keysym:\n{}", servers::tail(&text, 30));
    qemu.assert_running();
}
