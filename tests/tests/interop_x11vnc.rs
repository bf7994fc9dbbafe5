//! `oxvnc snapshot` against a real `x11vnc` serving an `Xvfb` display: every encoding must
//! reproduce the X screen pixel for pixel (compared with an `xwd` capture of the Xvfb display).

use std::ffi::OsStr;

use oxvnc_tests::oxvnc_bin::snapshot;
use oxvnc_tests::pixels;
use oxvnc_tests::x11;

const SIZE: (u32, u32) = (800, 600);
const ENCODINGS: [&str; 5] = ["raw", "copyrect,raw", "rre", "hextile", "zrle"];
const ARTIFACTS: &str = "interop-x11vnc";

#[test]
fn every_encoding_reproduces_the_screen_exactly() {
    let mut x = x11::start_xvfb(SIZE);
    let picture = x11::test_picture(SIZE.0, SIZE.1);
    x11::show_on_root(&mut x, &picture, "x11vnc-picture");
    let mut xterm = x11::start_xterm(&x);
    let screen = x11::wait_stable_root(&mut x, &picture, &mut xterm);
    // x11vnc starts after the desktop has settled, so its first full read of the screen is final.
    let (mut vnc, port) = x11::start_x11vnc(&x, &[]);

    let target = format!("tcp://127.0.0.1:{port}");
    let timeout = [OsStr::new("--timeout"), OsStr::new("30")];
    let mut failures = Vec::new();
    for encodings in ENCODINGS {
        let name = format!("x11vnc-{}", encodings.replace(',', "+"));
        let (done, png) = snapshot(&target, Some(encodings), &timeout, ARTIFACTS, &name);
        if !done.status.success() {
            failures.push(format!("--encodings {encodings}: failed ({}): {}", done.status, done.stderr.trim()));
            continue;
        }
        match pixels::load_opaque_rgba_png(&png) {
            Ok(shot) => {
                if let Err(m) = pixels::check_same(ARTIFACTS, &name, &screen, &shot) {
                    failures.push(format!("--encodings {encodings}: {m}"));
                }
            }
            Err(e) => failures.push(format!("--encodings {encodings}: {e:#}")),
        }
    }
    let after = x.capture();
    if let Some(m) = pixels::diff(&screen, &after) {
        failures.push(format!("the X screen changed during the test ({m}); comparisons are void"));
    }
    vnc.assert_running();
    assert!(
        failures.is_empty(),
        "x11vnc interop failures:\n{}\nx11vnc log: {}",
        failures.join("\n"),
        vnc.log_path().display()
    );
}
