//! Relays with real peers, end to end with `oxvnc snapshot` as the client: a TigerVNC `Xvnc`
//! reached through `oxvnc serve` and through the reference relay websockify 0.13 must come out
//! pixel for pixel as `xwd` captures it, in every encoding; the built-in demo desktop must decode
//! through the relay.

use std::collections::HashSet;
use std::ffi::OsStr;

use image::RgbaImage;
use oxvnc_tests::compat::{self, Relay, XvncDesktop};
use oxvnc_tests::oxvnc_bin::snapshot;
use oxvnc_tests::pixels;

const SIZE: (u32, u32) = (800, 600);
const ENCODINGS: [&str; 5] = ["zrle", "raw", "hextile", "rre", "copyrect,raw"];
const ARTIFACTS: &str = "compat-relay";
const TIMEOUT: [&str; 2] = ["--timeout", "30"];

/// Runs `oxvnc snapshot TARGET` offering `encodings` (or the defaults); the image or why not.
fn snapshot_ok(target: &str, encodings: Option<&str>, name: &str) -> Result<RgbaImage, String> {
    let extra: Vec<&OsStr> = TIMEOUT.iter().map(OsStr::new).collect();
    let (done, png) = snapshot(target, encodings, &extra, ARTIFACTS, name);
    if !done.status.success() {
        return Err(format!(
            "oxvnc snapshot {target} --encodings {} failed ({}): {}",
            encodings.unwrap_or("(default)"),
            done.status,
            done.stderr.trim()
        ));
    }
    pixels::load_opaque_rgba_png(&png).map_err(|e| format!("{name}: {e:#}"))
}

/// A fresh artifacts folder named after `name`, and in it `websockify`: a link to oxvnc, which
/// then runs as websockify does.
fn folder_with_websockify_link(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = oxvnc_tests::servers::artifacts_dir(ARTIFACTS).join(oxvnc_tests::servers::unique_name(name));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("websockify");
    std::os::unix::fs::symlink(oxvnc_tests::oxvnc_bin::oxvnc_path(), &link).unwrap();
    (dir, link)
}

/// Through the relay on `port`: `?token=good` must show the desktop pixel for pixel, and none of
/// `bad` (why, token) may reach a VNC server. What fails goes to `failures`, tagged.
fn check_tokens(
    failures: &mut Vec<String>,
    desktop: &XvncDesktop,
    port: u16,
    tag: &str,
    good: &str,
    bad: &[(&str, String)],
) {
    let url = |token: &str| format!("ws://127.0.0.1:{port}/websockify?token={token}");
    match snapshot_ok(&url(good), Some("zrle"), tag) {
        Ok(shot) => {
            if let Err(m) = pixels::check_same(ARTIFACTS, tag, &desktop.screen, &shot) {
                failures.push(format!("{tag}: {m}"));
            }
        }
        Err(e) => failures.push(format!("{tag}: {e}")),
    }
    for (why, token) in bad {
        if snapshot_ok(&url(token), Some("zrle"), &format!("{tag}-{why}")).is_ok() {
            failures.push(format!("{tag}: a token ({why}) reached a VNC server"));
        }
    }
}

/// Snapshots `target` once per encoding list and compares each with the desktop's capture;
/// returns the failures.
fn compare_every_encoding(desktop: &mut XvncDesktop, target: &str, tag: &str) -> Vec<String> {
    let mut failures = Vec::new();
    for encodings in ENCODINGS {
        let name = format!("{tag}-{}", encodings.replace(',', "+"));
        match snapshot_ok(target, Some(encodings), &name) {
            Ok(shot) => {
                if let Err(m) = pixels::check_same(ARTIFACTS, &name, &desktop.screen, &shot) {
                    failures.push(format!("--encodings {encodings}: {m}"));
                }
            }
            Err(e) => failures.push(e),
        }
    }
    if let Err(e) = desktop.check_unchanged() {
        failures.push(e);
    }
    failures
}

#[test]
fn xvnc_through_oxvnc_serve_is_pixel_exact() {
    let mut desktop = XvncDesktop::start(SIZE, "compat-serve");
    let mut relay = Relay::start(&["--vnc", &desktop.vnc_addr()]);
    let target = relay.ws_url("websockify");
    let failures = compare_every_encoding(&mut desktop, &target, "serve");
    relay.server.assert_running();
    assert!(
        failures.is_empty(),
        "Xvnc through oxvnc serve ({target}):\n{}\nrelay log: {}",
        failures.join("\n"),
        relay.server.log_path().display()
    );
}

#[test]
fn xvnc_through_websockify_is_pixel_exact() {
    let mut desktop = XvncDesktop::start(SIZE, "compat-websockify");
    let (mut websockify, port) = compat::start_websockify(&desktop.vnc_addr());
    let target = format!("ws://127.0.0.1:{port}/websockify");
    let failures = compare_every_encoding(&mut desktop, &target, "websockify");
    websockify.assert_running();
    assert!(
        failures.is_empty(),
        "Xvnc through websockify ({target}):\n{}\n{}",
        failures.join("\n"),
        websockify.diagnostics()
    );
}

/// websockify's own command line, token file and URL, given to websockify and then to oxvnc run
/// under the name `websockify` (a link, as a package would install it in websockify's place):
/// Xvnc comes out pixel for pixel through both.
#[test]
fn xvnc_through_oxvnc_named_websockify_is_pixel_exact() {
    let mut desktop = XvncDesktop::start(SIZE, "compat-as-websockify");
    let dir = oxvnc_tests::servers::artifacts_dir(ARTIFACTS).join(oxvnc_tests::servers::unique_name("as-websockify"));
    std::fs::create_dir_all(&dir).unwrap();
    let tokens = dir.join("tokens.conf");
    std::fs::write(&tokens, format!("# websockify's TokenFile format\ndesktop1: {}\n", desktop.vnc_addr())).unwrap();
    let link = dir.join("websockify");
    std::os::unix::fs::symlink(oxvnc_tests::oxvnc_bin::oxvnc_path(), &link).unwrap();
    let source = tokens.to_str().unwrap();
    let args = ["--token-plugin", "TokenFile", "--token-source", source];
    // The same command line to websockify itself first: it is websockify's, not only oxvnc's.
    for (tag, program) in [("websockify-tokens", compat::websockify_bin()), ("as-websockify", link)] {
        let (mut relay, port) = compat::start_websockify_as(&program, &args);
        let target = format!("ws://127.0.0.1:{port}/websockify?token=desktop1");
        let failures = compare_every_encoding(&mut desktop, &target, tag);
        relay.assert_running();
        assert!(
            failures.is_empty(),
            "Xvnc through {} ({target}):\n{}\n{}",
            program.display(),
            failures.join("\n"),
            relay.diagnostics()
        );
    }
}

/// A VM manager's layout: each VM's VNC server on a Unix socket named after the VM, in one
/// directory (QEMU's `-vnc unix:DIR/vm1`). `oxvnc serve --token-socket-dir DIR` reaches it with the
/// VM's name as the token, and so does websockify's command line with its
/// UnixDomainSocketDirectory plugin, given to websockify itself and to oxvnc run as websockify:
/// the BIOS screen comes out as QEMU's own screendump through all three. A token naming anything
/// but a socket in the directory is refused.
#[test]
fn qemu_on_a_unix_socket_by_its_name_as_token() {
    let dir = oxvnc_tests::servers::artifacts_dir(ARTIFACTS).join(oxvnc_tests::servers::unique_name("vms"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a socket").unwrap();
    let mut qemu = oxvnc_tests::qemu::start_on_socket(&dir.join("vm1"));
    let truth = qemu.settle_and_stop(std::time::Duration::from_secs(3));
    let source = dir.to_str().unwrap();
    let mut failures = Vec::new();
    let check = |target: String, tag: &str| {
        let mut failures = Vec::new();
        for encodings in ["zrle", "raw"] {
            let name = format!("qemu-socket-{tag}-{encodings}");
            match snapshot_ok(&target, Some(encodings), &name) {
                Ok(shot) => {
                    if let Err(m) = pixels::check_same(ARTIFACTS, &name, &truth, &shot) {
                        failures.push(format!("{tag} --encodings {encodings}: {m}"));
                    }
                }
                Err(e) => failures.push(format!("{tag}: {e}")),
            }
        }
        failures
    };

    let mut relay = Relay::start(&["--token-socket-dir", source]);
    failures.extend(check(relay.ws_url("websockify?token=vm1"), "serve"));
    for token in ["vm2", "notes.txt", "..%2Fvms%2Fvm1", "%2E%2E"] {
        let target = relay.ws_url(&format!("websockify?token={token}"));
        match snapshot_ok(&target, Some("raw"), "qemu-socket-refused") {
            Ok(_) => failures.push(format!("token {token:?} reached a VNC server")),
            Err(e) if e.contains("404") => {}
            Err(e) => failures.push(format!("token {token:?}: not refused with 404: {e}")),
        }
    }
    relay.server.assert_running();

    let link = dir.join("websockify");
    std::os::unix::fs::symlink(oxvnc_tests::oxvnc_bin::oxvnc_path(), &link).unwrap();
    let args = ["--token-plugin", "UnixDomainSocketDirectory", "--token-source", source];
    for (tag, program) in [("websockify", compat::websockify_bin()), ("as-websockify", link)] {
        let (mut server, port) = compat::start_websockify_as(&program, &args);
        failures.extend(check(format!("ws://127.0.0.1:{port}/websockify?token=vm1"), tag));
        server.assert_running();
    }
    let after = qemu.screendump();
    qemu.server.assert_running();
    assert!(
        failures.is_empty() && after == truth,
        "QEMU on a Unix socket through the relays:\n{}\nscreen unchanged: {}",
        failures.join("\n"),
        after == truth
    );
}

/// A token service as websockify's JSONTokenApi plugin asks one: `GET /consoles/TOKEN` answers
/// `{"host": …, "port": …}` for `known`, 404 otherwise. Runs until the process ends.
fn json_token_service(known: &'static str, target: String) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (host, port) = target.rsplit_once(':').map(|(h, p)| (h.to_string(), p.to_string())).unwrap();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head);
            let path = head.split_whitespace().nth(1).unwrap_or_default();
            let (status, body) = if path == format!("/consoles/{known}") {
                ("200 OK", format!("{{\"host\": \"{host}\", \"port\": {port}}}"))
            } else {
                ("404 Not Found", "{}".to_string())
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// websockify's JSONTokenApi plugin, given to websockify itself and to oxvnc run as websockify,
/// with one token service: Xvnc comes out pixel for pixel through both, and a token the service
/// does not know reaches nothing.
#[test]
fn xvnc_by_a_json_token_service_through_both_websockifys() {
    let mut desktop = XvncDesktop::start(SIZE, "compat-token-api");
    let service = json_token_service("desktop1", desktop.vnc_addr());
    let (_dir, link) = folder_with_websockify_link("token-api");
    let source = format!("http://{service}/consoles/%s");
    let args = ["--token-plugin", "JSONTokenApi", "--token-source", &source];
    let mut failures = Vec::new();
    for (tag, program) in [("websockify-api", compat::websockify_bin()), ("as-websockify-api", link)] {
        let (mut relay, port) = compat::start_websockify_as(&program, &args);
        check_tokens(&mut failures, &desktop, port, tag, "desktop1", &[("unknown", "desktop2".into())]);
        relay.assert_running();
    }
    if let Err(e) = desktop.check_unchanged() {
        failures.push(e);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// websockify's TokenFileName plugin (a file per token, holding its target), given to websockify
/// itself and to oxvnc run as websockify with one directory: Xvnc comes out pixel for pixel
/// through both for a token added while they run, and a token with no file reaches nothing.
#[test]
fn xvnc_by_token_file_names_through_both_websockifys() {
    let mut desktop = XvncDesktop::start(SIZE, "compat-token-dir");
    let (dir, link) = folder_with_websockify_link("token-dir");
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    std::fs::write(tokens.join("other"), "127.0.0.1:1\n").unwrap();
    let args = ["--token-plugin", "TokenFileName", "--token-source", tokens.to_str().unwrap()];
    let mut failures = Vec::new();
    let mut relays = Vec::new();
    for (tag, program) in [("websockify-dir", compat::websockify_bin()), ("as-websockify-dir", link)] {
        relays.push((tag, compat::start_websockify_as(&program, &args)));
    }
    // Added after both started: neither reads the directory ahead of a handshake.
    std::fs::write(tokens.join("desktop1"), format!("{}\n", desktop.vnc_addr())).unwrap();
    for (tag, (relay, port)) in &mut relays {
        check_tokens(&mut failures, &desktop, *port, tag, "desktop1", &[("no file", "desktop2".into())]);
        relay.assert_running();
    }
    if let Err(e) = desktop.check_unchanged() {
        failures.push(e);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The status code of one HTTP/1.1 request to `port` on loopback (a handshake when `upgrade`),
/// with `headers` added.
fn http_status(port: u16, path: &str, upgrade: bool, headers: &[(&str, &str)]) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    if upgrade {
        req.push_str(
            "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: binary\r\n",
        );
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status line: {line:?}"))
}

/// websockify's auth plugins BasicHTTPAuth (with `--web-auth`) and ExpectOrigin, given to
/// websockify itself and to oxvnc run as websockify: every request gets the same status from
/// both — handshakes and files without credentials, with wrong ones or with a header that is not
/// Basic, and with the right ones; handshakes from a listed origin, another one, or none.
#[test]
fn auth_plugins_answer_as_websockify_does() {
    use base64::Engine;
    let (_x, vnc_port) = oxvnc_tests::x11::start_xvnc((320, 240), &["-SecurityTypes", "None"]);
    let (dir, link) = folder_with_websockify_link("auth-plugins");
    let web = dir.join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "<h1>console</h1>").unwrap();
    let target = format!("127.0.0.1:{vnc_port}");
    let b64 = |s: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s));
    let (good, wrong) = (b64("admin:pa:ss"), b64("admin:pa"));
    let basic = [
        "--auth-plugin",
        "BasicHTTPAuth",
        "--auth-source",
        "admin:pa:ss",
        "--web",
        web.to_str().unwrap(),
        "--web-auth",
        &target,
    ];
    let origin =
        ["--auth-plugin", "ExpectOrigin", "--auth-source", "https://dash.example https://other.example", &target];
    let mut answers: Vec<Vec<(String, u16)>> = Vec::new();
    for (tag, program) in [("websockify", compat::websockify_bin()), ("as-websockify", link)] {
        let mut seen = Vec::new();
        let (mut relay, port) = compat::start_websockify_as(&program, &basic);
        for (what, path, upgrade, auth) in [
            ("handshake, no credentials", "/websockify", true, None),
            ("handshake, wrong credentials", "/websockify", true, Some(wrong.as_str())),
            ("handshake, not Basic", "/websockify", true, Some("Bearer abc")),
            ("handshake, right credentials", "/websockify", true, Some(good.as_str())),
            ("file, no credentials", "/index.html", false, None),
            ("file, wrong credentials", "/index.html", false, Some(wrong.as_str())),
            ("file, right credentials", "/index.html", false, Some(good.as_str())),
        ] {
            let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
            seen.push((what.to_string(), http_status(port, path, upgrade, &headers)));
        }
        relay.assert_running();
        drop(relay);
        let (mut relay, port) = compat::start_websockify_as(&program, &origin);
        for (what, origin) in [
            ("listed origin", Some("https://other.example")),
            ("another origin", Some("https://evil.example")),
            // The Host the requests name (oxvnc alone would take it without --require-origin).
            ("own origin", Some("http://127.0.0.1")),
            ("no origin", None),
        ] {
            let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
            seen.push((what.to_string(), http_status(port, "/websockify", true, &headers)));
        }
        relay.assert_running();
        eprintln!("{tag}: {seen:?}");
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1], "websockify (left) and oxvnc as websockify (right) answered differently");
    let status = |what: &str| answers[1].iter().find(|(w, _)| w == what).unwrap().1;
    assert_eq!(status("handshake, right credentials"), 101);
    assert_eq!(status("handshake, no credentials"), 401);
    assert_eq!(status("file, right credentials"), 200);
    assert_eq!(status("listed origin"), 101);
    assert_eq!(status("no origin"), 403);
}

/// Runs `openssl ARGS`, panicking on failure.
fn openssl(args: &[&str]) {
    let mut cmd = std::process::Command::new("openssl");
    cmd.args(args);
    let done = oxvnc_tests::servers::run_with_limit(cmd, std::time::Duration::from_secs(60));
    assert!(done.status.success(), "openssl {args:?}: {}", done.stderr);
}

/// websockify's JWTTokenApi plugin (with jwcrypto), given to websockify itself and to oxvnc run
/// as websockify, with the same key files — an RSA public key, an EC P-256 public key, an HMAC
/// secret as a JWK oct key's "k" — and the same tokens: a token naming Xvnc comes out pixel for
/// pixel through both, and tokens that are expired, not yet valid or signed with another key
/// reach nothing through either.
#[test]
fn xvnc_by_json_web_tokens_through_both_websockifys() {
    use base64::Engine;
    use jsonwebtoken::{Algorithm, EncodingKey};
    let mut desktop = XvncDesktop::start(SIZE, "compat-jwt");
    let (dir, link) = folder_with_websockify_link("jwt");
    let f = |name: &str| dir.join(name).to_str().unwrap().to_string();
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &f("rsa.pem")]);
    openssl(&["pkey", "-in", &f("rsa.pem"), "-pubout", "-out", &f("rsa.pub.pem")]);
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &f("ec.pem")]);
    openssl(&["pkey", "-in", &f("ec.pem"), "-pubout", "-out", &f("ec.pub.pem")]);
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &f("other.pem")]);
    let secret = b"a secret shared by the dashboard and the relay";
    std::fs::write(f("secret.k"), base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)).unwrap();
    let rsa = EncodingKey::from_rsa_pem(&std::fs::read(f("rsa.pem")).unwrap()).unwrap();
    let ec = EncodingKey::from_ec_pem(&std::fs::read(f("ec.pem")).unwrap()).unwrap();
    let other = EncodingKey::from_rsa_pem(&std::fs::read(f("other.pem")).unwrap()).unwrap();
    let hmac = EncodingKey::from_secret(secret);

    let (host, port) =
        desktop.vnc_addr().rsplit_once(':').map(|(h, p)| (h.to_string(), p.parse::<u16>().unwrap())).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let sign = |alg, claims: serde_json::Value, key: &EncodingKey| {
        jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, key).unwrap()
    };
    let target = serde_json::json!({"host": host, "port": port, "nbf": now - 60, "exp": now + 600});
    let keys = [
        ("rsa", f("rsa.pub.pem"), sign(Algorithm::RS256, target.clone(), &rsa), Algorithm::RS256, &rsa),
        ("ec", f("ec.pub.pem"), sign(Algorithm::ES256, target.clone(), &ec), Algorithm::ES256, &ec),
        ("hmac", f("secret.k"), sign(Algorithm::HS256, target.clone(), &hmac), Algorithm::HS256, &hmac),
    ];
    let mut failures = Vec::new();
    for (key_name, key_file, good, alg, key) in &keys {
        let bad = [
            ("expired", sign(*alg, serde_json::json!({"host": host, "port": port, "exp": now - 60}), key)),
            ("not-yet", sign(*alg, serde_json::json!({"host": host, "port": port, "nbf": now + 600}), key)),
            ("other-key", sign(Algorithm::RS256, target.clone(), &other)),
        ];
        let args = ["--token-plugin", "JWTTokenApi", "--token-source", key_file];
        for (relay_name, program) in [("websockify", compat::websockify_bin()), ("as-websockify", link.clone())] {
            let tag = format!("jwt-{key_name}-{relay_name}");
            let (mut relay, ws_port) = compat::start_websockify_as(&program, &args);
            check_tokens(&mut failures, &desktop, ws_port, &tag, good, &bad);
            relay.assert_running();
        }
    }
    if let Err(e) = desktop.check_unchanged() {
        failures.push(e);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// websockify's `--unix-listen` (the reverse proxy in front reaches the relay through a Unix
/// socket), given to websockify itself and to oxvnc run as websockify: both create the socket
/// with `--unix-listen-mode`'s permissions, and Xvnc's greeting and security types come through
/// both, byte for byte.
#[test]
fn unix_listen_as_websockify_does() {
    use std::os::unix::fs::PermissionsExt;
    use tungstenite::Message;
    let (_x, port) = oxvnc_tests::x11::start_xvnc((320, 240), &["-SecurityTypes", "None"]);
    let (dir, link) = folder_with_websockify_link("unix-listen");
    let target = format!("127.0.0.1:{port}");
    let mut answers = Vec::new();
    for (tag, program) in [("websockify", compat::websockify_bin()), ("as-websockify", link)] {
        let sock = dir.join(format!("{tag}.sock"));
        let sock_arg = sock.to_str().unwrap();
        let args = ["--unix-listen", sock_arg, "--unix-listen-mode", "660", &target];
        let mut relay = compat::start_websockify_on_unix(&program, &sock, &args);
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660, "{tag}: socket mode {mode:o}");

        let stream = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let mut req = tungstenite::client::IntoClientRequest::into_client_request("ws://localhost/websockify").unwrap();
        req.headers_mut().insert("Sec-WebSocket-Protocol", "binary".parse().unwrap());
        let (mut ws, _) = tungstenite::client::client(req, stream)
            .unwrap_or_else(|e| panic!("{tag}: handshake: {e}\n{}", relay.diagnostics()));
        let read = |ws: &mut tungstenite::WebSocket<_>, n: usize| {
            let mut got = Vec::new();
            while got.len() < n {
                match ws.read() {
                    Ok(Message::Binary(b)) => got.extend_from_slice(&b),
                    Ok(Message::Ping(_) | Message::Pong(_)) => {}
                    other => panic!("{tag}: {other:?}"),
                }
            }
            got
        };
        let greeting = read(&mut ws, 12);
        assert_eq!(greeting, b"RFB 003.008\n", "{tag}");
        ws.send(Message::binary(&b"RFB 003.008\n"[..])).unwrap();
        let types = read(&mut ws, 2);
        answers.push((greeting, types));
        let _ = ws.close(None);
        relay.assert_running();
    }
    assert_eq!(answers[0], answers[1], "websockify and oxvnc as websockify relayed different bytes");
    assert_eq!(answers[1].1, [1, 1], "one security type, None");
}

/// Distinct colours in `img`, counting at most `cap`.
fn distinct_colours(img: &RgbaImage, cap: usize) -> usize {
    let mut seen = HashSet::new();
    for p in img.pixels() {
        seen.insert(p.0);
        if seen.len() >= cap {
            break;
        }
    }
    seen.len()
}

/// The demo desktop animates (a moving sprite, a colour band, a clock line, a viewer count)
/// but most of it is still: two snapshots taken one after the other, in different encodings,
/// must agree on most rows, and on all of the title bar's left half (the title text).
#[test]
fn demo_through_oxvnc_serve_decodes() {
    let mut relay = Relay::start(&["--demo"]);
    let target = relay.ws_url("websockify");
    let zrle =
        snapshot_ok(&target, None, "demo-default").unwrap_or_else(|e| panic!("{e}\n{}", relay.server.diagnostics()));
    let raw =
        snapshot_ok(&target, Some("raw"), "demo-raw").unwrap_or_else(|e| panic!("{e}\n{}", relay.server.diagnostics()));
    relay.server.assert_running();

    for (name, img) in [("default encodings", &zrle), ("raw", &raw)] {
        assert_eq!(img.dimensions(), (1280, 720), "demo snapshot ({name}) has the wrong size");
        let colours = distinct_colours(img, 64);
        assert!(colours >= 16, "demo snapshot ({name}) is nearly uniform: {colours} colour(s)");
    }

    let (w, h) = zrle.dimensions();
    let same_rows = (0..h).filter(|&y| (0..w).all(|x| zrle.get_pixel(x, y) == raw.get_pixel(x, y))).count() as u32;
    let differing = pixels::diff(&zrle, &raw).map_or(0, |m| m.count);
    let title = |img: &RgbaImage| image::imageops::crop_imm(img, 0, 0, w / 2, 40).to_image();
    let title_diff = pixels::diff(&title(&zrle), &title(&raw));
    if same_rows * 2 < h || differing * 4 > u64::from(w * h) || title_diff.is_some() {
        let saved = pixels::check_same(ARTIFACTS, "demo-default-vs-raw", &zrle, &raw).unwrap_err();
        panic!(
            "two demo snapshots disagree beyond the animated parts: {same_rows} of {h} rows equal, \
             {differing} pixels differ, title bar {}: {saved}",
            if title_diff.is_some() { "differs" } else { "equal" }
        );
    }
}
