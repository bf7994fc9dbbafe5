//! Security types against real servers through `oxvnc snapshot`: VeNCrypt X509None/X509Vnc on
//! TigerVNC `Xvnc` with a test CA made here (TLS inside the engine, pixel-exact screen), every
//! certificate failure with its own clear message (unknown CA, unverified without a CA, pinned
//! fingerprint, name mismatch, expired), a rejected password inside TLS, Xvnc's anonymous TLS
//! sub-types refused clearly, and Tight security with a password on TightVNC's `Xtightvnc`.

use std::ffi::OsStr;
use std::path::Path;

use oxvnc_tests::oxvnc_bin::snapshot;
use oxvnc_tests::pixels;
use oxvnc_tests::pki::{self, TestPki};
use oxvnc_tests::security_servers;
use oxvnc_tests::servers::{self, Finished};
use oxvnc_tests::x11::{self, XDisplay};

const SIZE: (u32, u32) = (640, 480);
const ARTIFACTS: &str = "interop-security";

fn make_pki(name: &str, expired: bool) -> TestPki {
    pki::make_pki(ARTIFACTS, name, expired)
}

/// Xvnc with `-SecurityTypes types` and the PKI's certificate, showing the test picture.
fn start_tls_xvnc(types: &str, pki: &TestPki, extra: &[&str]) -> (XDisplay, u16) {
    pki::start_tls_xvnc(SIZE, types, pki, extra, ARTIFACTS)
}

/// `oxvnc snapshot` of `port` with `args` (and a 30 s timeout).
fn run(port: u16, args: &[&str], name: &str) -> (Finished, std::path::PathBuf) {
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.extend([OsStr::new("--timeout"), OsStr::new("30")]);
    snapshot(&format!("tcp://127.0.0.1:{port}"), None, &all, ARTIFACTS, name)
}

/// A snapshot that must succeed and match the X screen pixel for pixel.
fn expect_screen(x: &mut XDisplay, port: u16, args: &[&str], name: &str) {
    let (done, png) = run(port, args, name);
    assert!(
        done.status.success(),
        "{name}: oxvnc snapshot {args:?} failed ({}): {}\n{}",
        done.status,
        done.stderr.trim(),
        x.server.diagnostics()
    );
    let shot = pixels::load_opaque_rgba_png(&png).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    pixels::assert_same(ARTIFACTS, name, &x.capture(), &shot);
}

/// A snapshot that must fail with one line on stderr containing every one of `needles`.
fn expect_failure(port: u16, args: &[&str], name: &str, needles: &[&str]) -> String {
    let (done, png) = run(port, args, name);
    assert!(!done.status.success(), "{name}: oxvnc snapshot {args:?} succeeded but should not have");
    assert!(!png.exists(), "{name}: a PNG was written despite the failure");
    let text = done.stderr.trim().to_string();
    assert_eq!(text.lines().count(), 1, "{name}: expected one line, got:\n{text}");
    for needle in needles {
        assert!(text.contains(needle), "{name}: expected {needle:?} in the error, got: {text}");
    }
    text
}

#[test]
fn x509_none_checks_the_certificate_every_way() {
    let pki = make_pki("x509none", false);
    let other = make_pki("unrelated", false);
    let (mut x, port) = start_tls_xvnc("X509None", &pki, &[]);

    // Signed by the given CA, issued for 127.0.0.1: the screen, exactly, through TLS.
    expect_screen(&mut x, port, &["--ca", &pki.ca], "x509none-ca");
    // The same with the encodings that keep most state across TLS records.
    expect_screen(&mut x, port, &["--ca", &pki.ca, "--encodings", "zrle"], "x509none-ca-zrle");

    // Another CA: the certificate is unknown, and the message says so with its fingerprint.
    expect_failure(port, &["--ca", &other.ca], "x509none-wrong-ca", &["certificate is unknown", &pki.fingerprint]);

    // No CA at all: nothing to check against; the fingerprint is shown for pinning.
    expect_failure(port, &[], "x509none-no-ca", &["cannot be verified", "--tls-fingerprint", &pki.fingerprint]);
    // Pinning that fingerprint works without a CA…
    expect_screen(&mut x, port, &["--tls-fingerprint", &pki.fingerprint], "x509none-pinned");
    // …and another fingerprint does not.
    expect_failure(
        port,
        &["--tls-fingerprint", &other.fingerprint],
        "x509none-wrong-pin",
        &["not the pinned one", &pki.fingerprint],
    );

    // Right CA, wrong name.
    expect_failure(
        port,
        &["--ca", &pki.ca, "--tls-server-name", "vnc.example.org"],
        "x509none-wrong-name",
        &["not valid for the name", "vnc.example.org"],
    );
    // The name it was issued for works.
    expect_screen(&mut x, port, &["--ca", &pki.ca, "--tls-server-name", "localhost"], "x509none-localhost");
    x.server.assert_running();
}

#[test]
fn x509_vnc_right_and_wrong_password() {
    let pki = make_pki("x509vnc", false);
    let dir = servers::artifacts_dir(ARTIFACTS);
    let server_file = dir.join(format!("{}.passwd", servers::unique_name("x509vnc")));
    x11::write_vnc_password_file("tls-pw1!", &server_file);
    let server_file = server_file.to_str().expect("utf-8 path").to_string();
    let (mut x, port) = start_tls_xvnc("X509Vnc", &pki, &["-PasswordFile", &server_file, "-UseBlacklist=0"]);
    let right = write_temp("right", "tls-pw1!\n");
    let wrong = write_temp("wrong", "tls-pw2!\n");

    expect_screen(&mut x, port, &["--ca", &pki.ca, "--password-file", &right], "x509vnc-right");
    expect_failure(port, &["--ca", &pki.ca, "--password-file", &wrong], "x509vnc-wrong", &["password was rejected"]);
    expect_failure(port, &["--ca", &pki.ca], "x509vnc-missing", &["--password-file"]);
    x.server.assert_running();
}

#[test]
fn expired_certificate_is_named() {
    let pki = make_pki("expired", true);
    let (mut x, port) = start_tls_xvnc("X509None", &pki, &[]);
    expect_failure(port, &["--ca", &pki.ca], "x509-expired", &["expired", &pki.fingerprint]);
    x.server.assert_running();
}

/// TigerVNC's TLS* sub-types are anonymous TLS (anonymous Diffie-Hellman, no certificate),
/// which rustls does not implement: the failure must say so and point at the X509 types.
#[test]
fn anonymous_tls_is_refused_clearly() {
    let pki = make_pki("anon", false);
    let (mut x, port) = start_tls_xvnc("TLSNone,TLSVnc", &pki, &[]);
    expect_failure(port, &[], "tls-anonymous", &["anonymous TLS", "X509None"]);
    x.server.assert_running();
}

#[test]
fn tight_security_with_a_password_on_xtightvnc() {
    let dir = servers::artifacts_dir(ARTIFACTS);
    let server_file = dir.join(format!("{}.passwd", servers::unique_name("tight")));
    // TigerVNC's `vncpasswd -f` writes the same obfuscated 8 bytes TightVNC reads.
    x11::write_vnc_password_file("tight-pw", &server_file);
    let (mut x, port) = security_servers::start_xtightvnc(SIZE, &server_file);
    let picture = x11::test_picture(SIZE.0, SIZE.1);
    x11::show_on_root(&mut x, &picture, "tight-picture");
    let right = write_temp("tight-right", "tight-pw\n");
    let wrong = write_temp("tight-wrong", "tight-px\n");

    // Xtightvnc offers VNC authentication (2) and Tight security (16); Tight is chosen.
    for encodings in ["hextile", "raw"] {
        expect_screen(
            &mut x,
            port,
            &["--password-file", &right, "--encodings", encodings],
            &format!("tight-right-{encodings}"),
        );
    }
    expect_failure(port, &["--password-file", &wrong], "tight-wrong", &["password was rejected"]);
    // The server confirms that the Tight protocol (security type 16) was used.
    let log = std::fs::read_to_string(x.server.log_path()).unwrap_or_default();
    assert!(
        log.contains("Enabling TightVNC protocol extensions"),
        "Xtightvnc did not see Tight security:\n{}",
        x.server.diagnostics()
    );
    x.server.assert_running();
}

fn write_temp(name: &str, text: &str) -> String {
    let path = servers::artifacts_dir(ARTIFACTS).join(format!("{}.txt", servers::unique_name(name)));
    std::fs::write(&path, text).expect("write");
    path_str(&path)
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

/// QEMU's VeNCrypt with `tls-creds-x509`: X509None and X509Vnc (password inside TLS) give the
/// same screen, pixel for pixel, as QEMU's second, clear VNC display of the same frozen machine;
/// a wrong password is rejected.
#[test]
fn qemu_vencrypt_x509() {
    for password in [false, true] {
        let pki = make_pki("qemu", false);
        // QEMU reads fixed file names from a directory.
        let dir = servers::artifacts_dir(ARTIFACTS).join(servers::unique_name("qemu-x509"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&pki.ca, dir.join("ca-cert.pem")).unwrap();
        std::fs::copy(&pki.cert, dir.join("server-cert.pem")).unwrap();
        std::fs::copy(&pki.key, dir.join("server-key.pem")).unwrap();
        let mut q = security_servers::QemuTls::start(&dir, password);
        // Let the BIOS draw, then freeze the machine so both displays show the same frame.
        std::thread::sleep(std::time::Duration::from_secs(4));
        q.hmp("stop");
        let tag = if password { "x509vnc" } else { "x509none" };
        let mut args = vec!["--ca".to_string(), pki.ca.clone()];
        if password {
            q.hmp("set_password vnc qemu-pw1");
            args.extend(["--password-file".into(), write_temp("qemu-right", "qemu-pw1\n")]);
        }
        let (done, clear_png) = run(q.plain_port, &[], &format!("qemu-{tag}-clear"));
        assert!(done.status.success(), "clear display: {}", done.stderr);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (done, tls_png) = run(q.tls_port, &args, &format!("qemu-{tag}-tls"));
        assert!(done.status.success(), "QEMU VeNCrypt {tag}: {}\n{}", done.stderr, q.server.diagnostics());
        let clear = pixels::load_opaque_rgba_png(&clear_png).unwrap();
        let tls = pixels::load_opaque_rgba_png(&tls_png).unwrap();
        assert!(clear.pixels().any(|p| p.0[..3] != [0, 0, 0]), "the clear display shows nothing");
        pixels::assert_same(ARTIFACTS, &format!("qemu-{tag}"), &clear, &tls);
        if password {
            let wrong = write_temp("qemu-wrong", "qemu-pw2\n");
            expect_failure(
                q.tls_port,
                &["--ca", &pki.ca, "--password-file", &wrong],
                "qemu-x509vnc-wrong",
                &["password was rejected"],
            );
        }
        q.server.assert_running();
    }
}
