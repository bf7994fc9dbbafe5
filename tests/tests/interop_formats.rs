//! Pixel formats other than the default 32 bpp against real servers: Xvnc converting its 24-bit
//! screen to 16 bpp (both byte orders) and 8 bpp true colour for every encoding, and x11vnc on
//! an 8-bit PseudoColor Xvfb serving a colour map (SetColourMapEntries).

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use image::RgbaImage;
use oxvnc_tests::oxvnc_bin::snapshot;
use oxvnc_tests::pixels;
use oxvnc_tests::x11;

const ENCODINGS: [&str; 5] = ["raw", "copyrect,raw", "rre", "hextile", "zrle"];
const ARTIFACTS: &str = "interop-formats";

fn timeout() -> [&'static OsStr; 2] {
    [OsStr::new("--timeout"), OsStr::new("30")]
}

/// Runs a snapshot that must succeed and loads it.
fn shot(target: &str, encodings: &str, pixel_format: &str, name: &str) -> Result<RgbaImage, String> {
    let mut extra = timeout().to_vec();
    extra.extend([OsStr::new("--pixel-format"), OsStr::new(pixel_format)]);
    let (done, png) = snapshot(target, Some(encodings), &extra, ARTIFACTS, name);
    if !done.status.success() {
        return Err(format!("--encodings {encodings} --pixel-format {pixel_format}: {}", done.stderr.trim()));
    }
    pixels::load_opaque_rgba_png(&png).map_err(|e| format!("{e:#}"))
}

/// What Xvnc, which reduces each 8-bit channel to `max` levels as (c·max + 128) / 255 (found by
/// comparing its output with the picture), and a client that scales them back to 8 bits with
/// rounding, show for `c`.
fn through_channel(c: u8, max: u32) -> u8 {
    let v = (c as u32 * max + 128) / 255;
    ((v * 255 + max / 2) / max) as u8
}

fn quantized(screen: &RgbaImage, (rmax, gmax, bmax): (u32, u32, u32)) -> RgbaImage {
    let mut out = screen.clone();
    for p in out.pixels_mut() {
        p.0 = [through_channel(p.0[0], rmax), through_channel(p.0[1], gmax), through_channel(p.0[2], bmax), 255];
    }
    out
}

#[test]
fn xvnc_16_and_8_bpp_true_colour_in_every_encoding() {
    let size = (640, 400);
    let (mut x, port) = x11::start_xvnc(size, &["-SecurityTypes", "None"]);
    let picture = x11::test_picture(size.0, size.1);
    x11::show_on_root(&mut x, &picture, "formats-picture");
    let mut xterm = x11::start_xterm(&x);
    let screen = x11::wait_stable_root(&mut x, &picture, &mut xterm);
    let target = format!("tcp://127.0.0.1:{port}");
    let mut failures = Vec::new();
    for (format, maxes) in [("rgb565", (31, 63, 31)), ("rgb565be", (31, 63, 31)), ("bgr233", (7, 7, 3))] {
        let expected = quantized(&screen, maxes);
        for encodings in ENCODINGS {
            let name = format!("xvnc-{format}-{}", encodings.replace(',', "+"));
            match shot(&target, encodings, format, &name) {
                Ok(img) => {
                    if let Err(m) = pixels::check_same(ARTIFACTS, &name, &expected, &img) {
                        failures.push(format!("{format} --encodings {encodings}: {m}"));
                    }
                }
                Err(e) => failures.push(e),
            }
        }
    }
    if let Some(m) = pixels::diff(&screen, &x.capture()) {
        failures.push(format!("the X screen changed during the test ({m}); comparisons are void"));
    }
    assert!(failures.is_empty(), "pixel format failures:\n{}", failures.join("\n"));
}

/// Reads the ServerInit pixel format's bits-per-pixel and true-colour flag (security None).
fn server_format(port: u16) -> (u8, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to x11vnc");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut version = [0u8; 12];
    s.read_exact(&mut version).unwrap();
    s.write_all(b"RFB 003.008\n").unwrap();
    let mut n = [0u8; 1];
    s.read_exact(&mut n).unwrap();
    let mut types = vec![0u8; n[0] as usize];
    s.read_exact(&mut types).unwrap();
    assert!(types.contains(&1), "x11vnc offers security None: {types:?}");
    s.write_all(&[1]).unwrap();
    let mut result = [0u8; 4];
    s.read_exact(&mut result).unwrap();
    s.write_all(&[1]).unwrap();
    let mut init = [0u8; 20];
    s.read_exact(&mut init).unwrap();
    (init[4], init[7] != 0)
}

#[test]
fn x11vnc_colour_map_server() {
    let size = (480, 320);
    let x = x11::start_xvfb_depth(size, 8);
    // On a PseudoColor visual ImageMagick allocates colour cells and dithers, so the picture can't
    // be compared with the original; the server's own true-colour rendering is the truth below.
    let picture = x11::test_picture(size.0, size.1);
    let path = oxvnc_tests::servers::artifacts_dir(ARTIFACTS).join("colourmap-picture.png");
    pixels::save_png(&path, &picture).unwrap();
    let mut cmd = x.command("/usr/bin/display");
    cmd.arg("-window").arg("root").arg(&path);
    oxvnc_tests::servers::run_with_limit(cmd, Duration::from_secs(60));
    let _xterm = x11::start_xterm(&x);
    let (_vnc, port) = x11::start_x11vnc(&x, &[]);
    assert_eq!(server_format(port), (8, false), "x11vnc on an 8-bit Xvfb serves a colour-mapped format");
    let target = format!("tcp://127.0.0.1:{port}");
    // The truth: the screen as the server itself converts it to 32-bit true colour, once two
    // captures in a row agree (the xterm has drawn).
    let mut truth = shot(&target, "raw", "rgbx32", "x11vnc-cmap-truth").unwrap();
    let mut settled = false;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(250));
        let again = shot(&target, "raw", "rgbx32", "x11vnc-cmap-truth").unwrap();
        if pixels::diff(&truth, &again).is_none() {
            settled = true;
            break;
        }
        truth = again;
    }
    assert!(settled, "the 8-bit screen never settled");
    let distinct: std::collections::HashSet<[u8; 4]> = truth.pixels().map(|p| p.0).collect();
    assert!(distinct.len() > 16, "the picture uses many colour-map entries ({} colours)", distinct.len());
    let mut failures = Vec::new();
    for encodings in ENCODINGS {
        let name = format!("x11vnc-cmap-{}", encodings.replace(',', "+"));
        match shot(&target, encodings, "native", &name) {
            Ok(img) => {
                if let Err(m) = pixels::check_same(ARTIFACTS, &name, &truth, &img) {
                    failures.push(format!("colour map --encodings {encodings}: {m}"));
                }
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "colour map failures:\n{}", failures.join("\n"));
}
