//! `oxvnc snapshot` against a real TigerVNC `Xvnc`: every encoding must reproduce the X screen
//! pixel for pixel (compared with an `xwd` capture), VNC authentication must work and fail
//! clearly, and refused, silent and password-protected servers must give one clear error line.

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use oxvnc_tests::oxvnc_bin::snapshot;
use oxvnc_tests::pixels;
use oxvnc_tests::servers::{self, Finished};
use oxvnc_tests::x11;

const SIZE: (u32, u32) = (800, 600);
const ENCODINGS: [&str; 5] = ["raw", "copyrect,raw", "rre", "hextile", "zrle"];
const ARTIFACTS: &str = "interop-xvnc";

/// The one line `oxvnc snapshot` printed on stderr (it promises exactly one on failure).
fn one_line(done: &Finished) -> &str {
    let text = done.stderr.trim();
    assert_eq!(text.lines().count(), 1, "expected one line on stderr, got:\n{text}");
    text
}

/// Runs a snapshot that must succeed; returns the image or why not.
fn snapshot_ok(target: &str, encodings: &str, extra: &[&OsStr], name: &str) -> Result<image::RgbaImage, String> {
    let (done, png) = snapshot(target, Some(encodings), extra, ARTIFACTS, name);
    if !done.status.success() {
        return Err(format!("oxvnc snapshot --encodings {encodings} failed ({}): {}", done.status, done.stderr.trim()));
    }
    pixels::load_opaque_rgba_png(&png).map_err(|e| format!("{e:#}"))
}

/// Starts Xvnc with `args`, puts the picture and an xterm on it, and checks a snapshot per
/// encoding list against an xwd capture, pixel for pixel.
fn check_every_encoding(size: (u32, u32), args: &[&str], tag: &str) {
    let (mut x, port) = x11::start_xvnc(size, args);
    let picture = x11::test_picture(size.0, size.1);
    x11::show_on_root(&mut x, &picture, &format!("{tag}-picture"));
    let mut xterm = x11::start_xterm(&x);
    let screen = x11::wait_stable_root(&mut x, &picture, &mut xterm);

    let target = format!("tcp://127.0.0.1:{port}");
    let timeout = [OsStr::new("--timeout"), OsStr::new("30")];
    let mut failures = Vec::new();
    for encodings in ENCODINGS {
        let name = format!("{tag}-{}", encodings.replace(',', "+"));
        match snapshot_ok(&target, encodings, &timeout, &name) {
            Ok(shot) => {
                if let Err(m) = pixels::check_same(ARTIFACTS, &name, &screen, &shot) {
                    failures.push(format!("--encodings {encodings}: {m}"));
                }
            }
            Err(e) => failures.push(e),
        }
    }
    // A mismatch only means something if the screen itself stayed put meanwhile.
    let after = x.capture();
    if let Some(m) = pixels::diff(&screen, &after) {
        failures.push(format!("the X screen changed during the test ({m}); comparisons are void"));
    }
    x.server.assert_running();
    assert!(
        failures.is_empty(),
        "Xvnc {}x{} {args:?} interop failures:\n{}\nXvnc log: {}",
        size.0,
        size.1,
        failures.join("\n"),
        x.server.log_path().display()
    );
}

#[test]
fn every_encoding_reproduces_the_screen_exactly() {
    check_every_encoding(SIZE, &["-SecurityTypes", "None"], "xvnc");
}

/// A size that is no multiple of any tile size (Hextile 16, ZRLE 64), over protocol 3.3 (where
/// the server picks the security type).
#[test]
fn odd_sized_screen_over_protocol_3_3() {
    check_every_encoding((803, 597), &["-SecurityTypes", "None", "-Protocol3.3"], "xvnc-odd-3.3");
}

#[test]
fn vnc_authentication_right_wrong_and_missing_password() {
    let dir = servers::artifacts_dir(ARTIFACTS);
    let server_file = dir.join(format!("{}.passwd", servers::unique_name("xvnc")));
    x11::write_vnc_password_file("s3cret!", &server_file);
    let server_file_arg = server_file.to_str().expect("utf-8 path").to_string();
    // No blacklisting: the wrong-password attempt must not turn into a different refusal.
    let (mut x, port) =
        x11::start_xvnc(SIZE, &["-SecurityTypes", "VncAuth", "-PasswordFile", &server_file_arg, "-UseBlacklist=0"]);
    let picture = x11::test_picture(SIZE.0, SIZE.1);
    x11::show_on_root(&mut x, &picture, "xvnc-auth-picture");
    let target = format!("tcp://127.0.0.1:{port}");

    let right = dir.join(format!("{}.txt", servers::unique_name("right-password")));
    std::fs::write(&right, "s3cret!\n").unwrap();
    let wrong = dir.join(format!("{}.txt", servers::unique_name("wrong-password")));
    std::fs::write(&wrong, "s3cret?\n").unwrap();

    let shot = snapshot_ok(
        &target,
        "zrle,hextile,raw",
        &[OsStr::new("--password-file"), right.as_os_str(), OsStr::new("--timeout"), OsStr::new("30")],
        "xvnc-auth-right",
    )
    .unwrap_or_else(|e| panic!("right password: {e}"));
    pixels::assert_same(ARTIFACTS, "xvnc-auth-right", &x.capture(), &shot);

    let (done, png) = snapshot(
        &target,
        None,
        &[OsStr::new("--password-file"), wrong.as_os_str(), OsStr::new("--timeout"), OsStr::new("30")],
        ARTIFACTS,
        "xvnc-auth-wrong",
    );
    assert!(!done.status.success(), "wrong password accepted: {}", done.stderr);
    let line = one_line(&done);
    assert!(line.contains("password was rejected"), "wrong password: {line}");
    assert!(!png.exists(), "a PNG was written despite the wrong password");

    let (done, png) =
        snapshot(&target, None, &[OsStr::new("--timeout"), OsStr::new("30")], ARTIFACTS, "xvnc-auth-none");
    assert!(!done.status.success(), "no password given, yet it succeeded: {}", done.stderr);
    let line = one_line(&done);
    assert!(line.contains("--password-file"), "missing password should point at --password-file: {line}");
    assert!(!png.exists(), "a PNG was written without a password");

    // The server is still fine after the failed attempts.
    x.server.assert_running();
}

#[test]
fn closed_port_is_a_clear_refusal() {
    // free_port() closed its listener again: nothing listens there.
    let port = servers::free_port();
    let (done, png) = snapshot(
        &format!("tcp://127.0.0.1:{port}"),
        None,
        &[OsStr::new("--timeout"), OsStr::new("30")],
        ARTIFACTS,
        "closed-port",
    );
    assert!(!done.status.success(), "connecting to a closed port succeeded");
    let line = one_line(&done);
    assert!(line.to_lowercase().contains("refused"), "closed port: {line}");
    assert!(!png.exists());
}

#[test]
fn silent_server_times_out() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    // Accepts and never says a word; holds every connection until the test is done.
    let silent = thread::spawn(move || {
        let mut held = Vec::new();
        while !stop_flag.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("accept: {e}"),
            }
        }
        held.len()
    });
    let (done, png) = snapshot(
        &format!("tcp://127.0.0.1:{port}"),
        None,
        &[OsStr::new("--timeout"), OsStr::new("2")],
        ARTIFACTS,
        "silent",
    );
    stop.store(true, Ordering::Relaxed);
    let accepted = silent.join().expect("silent listener");
    assert_eq!(accepted, 1, "oxvnc should have connected once");
    assert!(!done.status.success(), "a silent server produced a snapshot");
    let line = one_line(&done).to_lowercase();
    assert!(line.contains("timed out") || line.contains("timeout"), "silent server: {line}");
    assert!(!png.exists());
}
