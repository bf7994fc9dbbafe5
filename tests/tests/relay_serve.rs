//! `oxvnc serve` as a real process on loopback, driven by a real WebSocket client, with scripted
//! TCP servers standing in for VNC servers (the relay never parses RFB, so none is needed here).

#[path = "../src/relay_support.rs"]
mod relay_support;

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use relay_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// Hang guard for one whole test.
const TEST_LIMIT: Duration = Duration::from_secs(90);

async fn roundtrip<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, data: &[u8])
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::binary(data.to_vec())).await.expect("send");
    let mut got = Vec::new();
    while got.len() < data.len() {
        match timeout(Duration::from_secs(10), ws.next()).await.expect("echo within 10 s") {
            Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected the echo, got {other:?}"),
        }
    }
    assert_eq!(got, data);
}

/// Reads until the close frame; returns its code and reason. Data before it is ignored.
async fn close_frame(ws: &mut Ws) -> (u16, String) {
    loop {
        match timeout(Duration::from_secs(20), ws.next()).await.expect("a close frame within 20 s") {
            Some(Ok(Message::Close(Some(f)))) => {
                // Complete the closing handshake as a browser does: tungstenite sends its reply
                // on the next read, and the relay then ends the session at once instead of
                // after its wait for that reply.
                let _ = timeout(Duration::from_secs(20), async { while ws.next().await.is_some() {} }).await;
                return (f.code.into(), f.reason.to_string());
            }
            Some(Ok(Message::Close(None))) => panic!("close frame without a code"),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("error before the close frame: {e}"),
            None => panic!("connection ended without a close frame"),
        }
    }
}

/// All of the relay's `oxvnc_failures_total` counters added up.
async fn failures_total(relay: &Relay) -> f64 {
    relay.metrics().await.iter().filter(|(k, _)| k.starts_with("oxvnc_failures_total")).map(|(_, v)| v).sum()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = oxvnc_tests::servers::artifacts_dir("relay").join(oxvnc_tests::servers::unique_name(name));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `oxvnc serve ARGS` must stop at start-up: exit status 2, and `says` in its message.
fn serve_refuses(args: &[&str], says: &str) {
    let mut cmd = std::process::Command::new(oxvnc_tests::oxvnc_bin::oxvnc_path());
    cmd.arg("serve").args(args);
    let done = oxvnc_tests::servers::run_with_limit(cmd, Duration::from_secs(20));
    assert_eq!(done.status.code(), Some(2), "{args:?}: {}", done.stderr);
    assert!(done.stderr.contains(says), "{args:?}: {}", done.stderr);
}

/// Runs a test body under its hang guard, after the `oxvnc` binary is built (which may take a
/// while the first time and is not part of the guard).
async fn guard<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::spawn_blocking(oxvnc_tests::oxvnc_bin::oxvnc_path).await.unwrap();
    timeout(TEST_LIMIT, f).await.expect("test still running after its hang guard")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_file_known_unknown_missing_cookie_reload_and_unix_socket() {
    guard(async {
        let echo = Target::echo().await;
        let dir = temp_dir("tokens");
        let file = dir.join("tokens.conf");
        std::fs::write(&file, format!("# test tokens\nknown: {}\n", echo.spec())).unwrap();
        let relay = Relay::start(&["--token-file", file.to_str().unwrap()]);

        let (mut ws, _) = ws_connect(&relay.ws_url("/websockify?token=known"), &[]).await.expect("known token");
        roundtrip(&mut ws, b"hello through the relay").await;
        ws.close(None).await.unwrap();

        let e = ws_connect(&relay.ws_url("/websockify?token=nope"), &[]).await.expect_err("unknown token");
        assert_eq!(refused_status(&e), 404);
        let r = http_request(relay.addr(), "GET", "/websockify?token=nope", &upgrade_headers(&[])).await;
        assert_eq!((r.status, r.body.trim()), (404, "unknown token"));

        let e = ws_connect(&relay.ws_url("/websockify"), &[]).await.expect_err("missing token");
        assert_eq!(refused_status(&e), 403);
        let r = http_request(relay.addr(), "GET", "/websockify", &upgrade_headers(&[])).await;
        assert_eq!(r.status, 403);
        assert!(r.body.contains("missing token"), "{r:?}");

        // Browsers hide why a handshake was refused; a plain request with X-Oxvnc-Check gets the
        // same answer (and 200 where the handshake would pass), without counting as a failure.
        let failures = failures_total(&relay).await;
        let check = [("X-Oxvnc-Check", "1")];
        let r = http_request(relay.addr(), "GET", "/websockify?token=nope", &check).await;
        assert_eq!((r.status, r.body.trim()), (404, "unknown token"));
        let r = http_request(relay.addr(), "GET", "/any/path", &check).await;
        assert_eq!(r.status, 403, "{r:?}");
        assert!(r.body.contains("missing token"), "{r:?}");
        let r = http_request(relay.addr(), "GET", "/websockify?token=known", &check).await;
        assert_eq!((r.status, r.body.trim()), (200, "ok"));
        // The page names its origin in the header (browsers send no Origin on same-origin GETs).
        let foreign = [("X-Oxvnc-Check", "http://elsewhere.example")];
        let r = http_request(relay.addr(), "GET", "/websockify?token=known", &foreign).await;
        assert_eq!((r.status, r.body.trim()), (403, "origin not allowed"));
        // From a page of another origin the browser first asks (CORS preflight), then sends the
        // check with its Origin; that page may read the answer (with no credentials: the relay
        // does not admit its handshakes).
        let preflight = [
            ("Origin", "http://dashboard.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "x-oxvnc-check"),
        ];
        let r = http_request(relay.addr(), "OPTIONS", "/websockify?token=nope", &preflight).await;
        assert_eq!(r.status, 204, "{r:?}");
        assert_eq!(r.header("access-control-allow-origin"), Some("http://dashboard.example"), "{r:?}");
        assert_eq!(r.header("access-control-allow-methods"), Some("GET"), "{r:?}");
        assert_eq!(r.header("access-control-allow-headers"), Some("x-oxvnc-check"), "{r:?}");
        assert_eq!(r.header("access-control-allow-credentials"), None, "{r:?}");
        let other = [("Origin", "http://dashboard.example"), ("Access-Control-Request-Method", "GET")];
        let r = http_request(relay.addr(), "OPTIONS", "/websockify", &other).await;
        assert_eq!((r.status, r.header("access-control-allow-origin")), (404, None), "{r:?}");
        let cross = [("Origin", "http://dashboard.example"), ("X-Oxvnc-Check", "http://dashboard.example")];
        let r = http_request(relay.addr(), "GET", "/websockify?token=known", &cross).await;
        assert_eq!((r.status, r.body.trim()), (403, "origin not allowed"));
        assert_eq!(r.header("access-control-allow-origin"), Some("http://dashboard.example"), "{r:?}");
        assert_eq!(r.header("vary"), Some("Origin"), "{r:?}");
        let r = http_request(relay.addr(), "GET", "/websockify?token=known", &check).await;
        assert_eq!(r.header("access-control-allow-origin"), None, "no Origin, no CORS: {r:?}");
        // A page of an origin the relay admits (here another port of the relay's host, as a
        // dashboard on the same machine) may send its cookies with the check, the `token`
        // cookie among them, as its handshake does; a refused origin may not.
        let admitted = "http://127.0.0.1:1";
        let preflight = [
            ("Origin", admitted),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "X-Oxvnc-Check"),
        ];
        let r = http_request(relay.addr(), "OPTIONS", "/websockify", &preflight).await;
        assert_eq!(r.status, 204, "{r:?}");
        assert_eq!(r.header("access-control-allow-origin"), Some(admitted), "{r:?}");
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"), "{r:?}");
        let with_cookie = [("Origin", admitted), ("X-Oxvnc-Check", admitted), ("Cookie", "token=nope")];
        let r = http_request(relay.addr(), "GET", "/websockify", &with_cookie).await;
        assert_eq!((r.status, r.body.trim()), (404, "unknown token"), "{r:?}");
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"), "{r:?}");
        let r = http_request(relay.addr(), "GET", "/websockify?token=known", &cross).await;
        assert_eq!(r.header("access-control-allow-credentials"), None, "refused origin: {r:?}");
        let after = failures_total(&relay).await;
        assert_eq!(after, failures, "checks are not failures");
        // Without the header a path that is no file stays a plain 404.
        let r = http_request(relay.addr(), "GET", "/websockify?token=nope", &[]).await;
        assert_eq!((r.status, r.body.trim()), (404, "not found"));

        // The token may also come as a cookie (nova-novncproxy style).
        let (mut ws, _) = ws_connect(&relay.ws_url("/websockify"), &[("Cookie", "lang=en; token=known")])
            .await
            .expect("cookie token");
        roundtrip(&mut ws, b"cookie").await;
        ws.close(None).await.unwrap();

        // A token added while the relay runs works without a restart; so does a Unix socket target.
        let e = ws_connect(&relay.ws_url("/?token=later"), &[]).await.expect_err("not yet added");
        assert_eq!(refused_status(&e), 404);
        let sock = dir.join("vnc.sock");
        let unix = tokio::net::UnixListener::bind(&sock).unwrap();
        let unix_task = tokio::spawn(async move {
            let (mut s, _) = unix.accept().await.unwrap();
            let (mut r, mut w) = s.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
        });
        let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
        use std::io::Write;
        writeln!(f, "later: {}\nunix: unix_socket:{}", echo.spec(), sock.display()).unwrap();
        drop(f);
        let (mut ws, _) = ws_connect(&relay.ws_url("/?token=later"), &[]).await.expect("token added at run time");
        roundtrip(&mut ws, b"no restart needed").await;
        ws.close(None).await.unwrap();
        let (mut ws, _) = ws_connect(&relay.ws_url("/websockify?token=unix"), &[]).await.expect("unix socket target");
        roundtrip(&mut ws, b"over a unix socket").await;
        ws.close(None).await.unwrap();
        unix_task.abort();

        // Removing a token revokes it.
        std::fs::write(&file, format!("unix: unix_socket:{}\n", sock.display())).unwrap();
        let e = ws_connect(&relay.ws_url("/?token=known"), &[]).await.expect_err("removed token");
        assert_eq!(refused_status(&e), 404);
    })
    .await
}

/// `--host-token`, as websockify's: the host name the browser asked for is the token, so each
/// console has a name of its own (vm1.consoles.example), and ?token= or a cookie do not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_token_takes_the_token_from_the_host_header() {
    guard(async {
        let echo = Target::echo().await;
        let dir = temp_dir("host-tokens");
        let file = dir.join("tokens.conf");
        std::fs::write(&file, format!("vm1.consoles.example: {}\n", echo.spec())).unwrap();
        let relay = Relay::start(&["--token-file", file.to_str().unwrap(), "--host-token"]);
        let host = format!("vm1.consoles.example:{}", relay.addr().port());
        // A page on vm1.consoles.example: its Origin matches the Host, so it is admitted.
        let origin = format!("http://{host}");
        let named = [("Host", host.as_str()), ("Origin", origin.as_str())];

        let (mut ws, _) = ws_connect(&relay.ws_url("/websockify"), &named).await.expect("the host name is the token");
        roundtrip(&mut ws, b"by host name").await;
        ws.close(None).await.unwrap();
        let check = [("Host", host.as_str()), ("X-Oxvnc-Check", "1")];
        let r = http_request(relay.addr(), "GET", "/websockify", &check).await;
        assert_eq!((r.status, r.body.trim()), (200, "ok"), "the check answers as the handshake");

        // Another name is another token, here an unknown one; ?token= and the cookie are not read.
        let e = ws_connect(&relay.ws_url("/websockify?token=vm1.consoles.example"), &[]).await.expect_err("127.0.0.1");
        assert_eq!(refused_status(&e), 404);
        let cookie = [("Cookie", "token=vm1.consoles.example")];
        let e = ws_connect(&relay.ws_url("/websockify"), &cookie).await.expect_err("cookie");
        assert_eq!(refused_status(&e), 404);
        let r = http_request(
            relay.addr(),
            "GET",
            "/websockify",
            &[("Host", "vm2.consoles.example"), ("X-Oxvnc-Check", "1")],
        )
        .await;
        assert_eq!((r.status, r.body.trim()), (404, "unknown token"));

        // Behind a proxy that sends its upstream's name as Host: with --trust-proxy the name the
        // browser asked for comes from X-Forwarded-Host (the proxy's own entry, the last), for
        // the token and for the Origin check; without it, X-Forwarded-Host is not read.
        let proxied = Relay::start(&["--token-file", file.to_str().unwrap(), "--host-token", "--trust-proxy"]);
        let forwarded = [
            ("Host", "relay-upstream:6080"),
            ("X-Forwarded-Host", "spoofed.example, vm1.consoles.example"),
            ("Origin", "https://vm1.consoles.example"),
        ];
        let (mut ws, _) = ws_connect(&proxied.ws_url("/websockify"), &forwarded).await.expect("X-Forwarded-Host");
        roundtrip(&mut ws, b"through a proxy").await;
        ws.close(None).await.unwrap();
        let e = ws_connect(&relay.ws_url("/websockify"), &forwarded).await.expect_err("not trusted");
        assert_eq!(refused_status(&e), 403, "the Origin is not the Host's without --trust-proxy");
    })
    .await;

    // It needs tokens to look the name up in.
    let out = std::process::Command::new(oxvnc_tests::oxvnc_bin::oxvnc_path())
        .args(["serve", "--vnc", "127.0.0.1:5900", "--host-token"])
        .output()
        .expect("run oxvnc serve");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--host-token needs --token-file, --token-redis"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_check() {
    guard(async {
        let echo = Target::echo().await;
        let relay = Relay::start(&["--vnc", &echo.spec(), "--allowed-origin", "https://portal.example:8443"]);
        let url = relay.ws_url("/websockify");
        let own = format!("http://{}", relay.addr());

        for origin in [own.as_str(), "https://portal.example:8443"] {
            let (mut ws, _) =
                ws_connect(&url, &[("Origin", origin)]).await.unwrap_or_else(|e| panic!("origin {origin}: {e}"));
            roundtrip(&mut ws, origin.as_bytes()).await;
            ws.close(None).await.unwrap();
        }
        // No Origin at all (not a browser): allowed.
        let (mut ws, _) = ws_connect(&url, &[]).await.expect("no origin");
        roundtrip(&mut ws, b"no origin").await;
        ws.close(None).await.unwrap();

        for origin in ["https://evil.example", "http://portal.example:8443", "null"] {
            let e = ws_connect(&url, &[("Origin", origin)]).await.expect_err(origin);
            assert_eq!(refused_status(&e), 403, "origin {origin}");
        }
        let r =
            http_request(relay.addr(), "GET", "/websockify", &upgrade_headers(&[("Origin", "https://evil.example")]))
                .await;
        assert_eq!((r.status, r.body.trim()), (403, "origin not allowed"));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_subprotocol_is_echoed_when_offered() {
    guard(async {
        let echo = Target::echo().await;
        let relay = Relay::start(&["--vnc", &echo.spec()]);
        let url = relay.ws_url("/websockify");

        let (mut ws, resp) = ws_connect(&url, &[("Sec-WebSocket-Protocol", "binary")]).await.expect("binary offered");
        assert_eq!(resp.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap()), Some("binary"));
        roundtrip(&mut ws, b"binary").await;
        ws.close(None).await.unwrap();

        let (mut ws, resp) =
            ws_connect(&url, &[("Sec-WebSocket-Protocol", "base64, binary")]).await.expect("binary among others");
        assert_eq!(resp.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap()), Some("binary"));
        ws.close(None).await.unwrap();

        let (mut ws, resp) = ws_connect(&url, &[]).await.expect("none offered");
        assert!(resp.headers().get("sec-websocket-protocol").is_none());
        roundtrip(&mut ws, b"no subprotocol").await;
        ws.close(None).await.unwrap();

        let r =
            http_request(relay.addr(), "GET", "/websockify", &upgrade_headers(&[("Sec-WebSocket-Protocol", "base64")]))
                .await;
        assert_eq!(r.status, 400, "{r:?}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_frame_closes_with_1003_and_oversized_message_with_1009() {
    guard(async {
        let echo = Target::echo().await;
        let relay = Relay::start(&["--vnc", &echo.spec(), "--max-message-size", "64K"]);
        let url = relay.ws_url("/websockify");

        let (mut ws, _) = ws_connect(&url, &[]).await.unwrap();
        roundtrip(&mut ws, b"fine").await;
        ws.send(Message::text("RFB 003.008\n")).await.unwrap();
        assert_eq!(close_frame(&mut ws).await.0, 1003);

        let (mut ws, _) = ws_connect(&url, &[]).await.unwrap();
        roundtrip(&mut ws, &vec![7u8; 64 * 1024]).await;
        ws.send(Message::binary(vec![7u8; 64 * 1024 + 1])).await.unwrap();
        let (code, reason) = close_frame(&mut ws).await;
        assert_eq!(code, 1009, "{reason}");

        relay.wait_log("session closed", 2, Duration::from_secs(10)).await;
        let m = relay.metrics().await;
        let get = |k: &str| m.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        assert_eq!(get("oxvnc_sessions_closed_total{reason=\"text_frame\"}"), Some(1.0));
        assert_eq!(get("oxvnc_sessions_closed_total{reason=\"message_too_big\"}"), Some(1.0));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_closes_with_1011_and_a_reason() {
    guard(async {
        let dead = closed_port_addr();
        let relay = Relay::start(&["--vnc", &dead.to_string()]);
        let (mut ws, _) = ws_connect(&relay.ws_url("/websockify"), &[]).await.expect("the upgrade itself succeeds");
        let (code, reason) = close_frame(&mut ws).await;
        assert_eq!(code, 1011);
        assert!(reason.contains("cannot reach the VNC server"), "{reason}");
        relay.wait_log("session closed", 1, Duration::from_secs(10)).await;
        assert_eq!(relay.metric("oxvnc_failures_total{reason=\"target_unreachable\"}").await, 1.0);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_and_session_limit_close() {
    guard(async {
        let echo = Target::echo().await;
        let relay = Relay::start(&["--vnc", &echo.spec(), "--idle-timeout", "1"]);
        let (mut ws, _) = ws_connect(&relay.ws_url("/"), &[]).await.unwrap();
        // Traffic every 200 ms keeps the session open well past the idle timeout...
        for i in 0..10u8 {
            roundtrip(&mut ws, &[i; 10]).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // ...and silence ends it.
        let (code, reason) = close_frame(&mut ws).await;
        assert_eq!((code, reason.as_str()), (1008, "idle timeout"));
        drop(relay);

        let relay = Relay::start(&["--vnc", &echo.spec(), "--max-session", "0.5"]);
        let (mut ws, _) = ws_connect(&relay.ws_url("/"), &[]).await.unwrap();
        let (code, reason) = close_frame(&mut ws).await;
        assert_eq!((code, reason.as_str()), (1008, "session time limit reached"));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_pings_and_closes_without_pong() {
    guard(async {
        let echo = Target::echo().await;
        let relay = Relay::start(&["--vnc", &echo.spec(), "--heartbeat", "0.3"]);

        // A client that keeps reading answers the pings (tungstenite does) and stays connected.
        let (ws, _) = ws_connect(&relay.ws_url("/"), &[]).await.unwrap();
        let (mut tx, mut rx) = ws.split();
        let reader = tokio::spawn(async move {
            let mut pings = 0;
            while let Some(Ok(m)) = rx.next().await {
                match m {
                    Message::Ping(_) => pings += 1,
                    Message::Close(_) => return (pings, true),
                    _ => {}
                }
            }
            (pings, false)
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        tx.send(Message::Close(None)).await.unwrap();
        let (pings, saw_close) = reader.await.unwrap();
        assert!(pings >= 2, "expected pings every 0.3 s, saw {pings}");
        assert!(saw_close);
        relay.wait_log("reason=\"client_closed\"", 1, Duration::from_secs(10)).await;

        // A client that never reads never answers: the relay closes with 1001.
        let (mut ws, _) = ws_connect(&relay.ws_url("/"), &[]).await.unwrap();
        relay.wait_log("heartbeat_timeout", 1, Duration::from_secs(20)).await;
        let (code, reason) = close_frame(&mut ws).await;
        assert_eq!(code, 1001, "{reason}");
        assert!(reason.contains("pong"), "{reason}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_a_live_session_then_exits() {
    guard(async {
        let echo = Target::echo().await;
        let mut relay = Relay::start(&["--vnc", &echo.spec(), "--drain-timeout", "60"]);
        let (mut ws, _) = ws_connect(&relay.ws_url("/"), &[]).await.unwrap();
        roundtrip(&mut ws, b"before").await;

        // SAFETY: kill(2) on the PID of a child we own that has not been waited for.
        unsafe { libc::kill(relay.pid() as libc::pid_t, libc::SIGTERM) };
        relay.wait_log("no longer accepting", 1, Duration::from_secs(10)).await;
        assert!(TcpStream::connect(relay.addr()).await.is_err(), "the listener must be closed while draining");
        roundtrip(&mut ws, b"the session keeps working while the relay drains").await;
        assert!(relay.server.exited().is_none(), "exited before the session ended");

        ws.close(None).await.unwrap();
        let status = wait_exit(&mut relay).await;
        assert!(status.success(), "{status}");
        assert!(relay.log().contains("stopped"));

        // When the drain time runs out, sessions are closed with 1001 and the relay exits.
        let mut relay = Relay::start(&["--vnc", &echo.spec(), "--drain-timeout", "0.5"]);
        let (mut ws, _) = ws_connect(&relay.ws_url("/"), &[]).await.unwrap();
        roundtrip(&mut ws, b"x").await;
        // SAFETY: as above.
        unsafe { libc::kill(relay.pid() as libc::pid_t, libc::SIGTERM) };
        let (code, reason) = close_frame(&mut ws).await;
        assert_eq!((code, reason.as_str()), (1001, "server shutting down"));
        drop(ws);
        assert!(wait_exit(&mut relay).await.success());
    })
    .await
}

async fn wait_exit(relay: &mut Relay) -> std::process::ExitStatus {
    for _ in 0..1000 {
        if let Some(s) = relay.server.exited() {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the relay did not exit within 20 s\n{}", relay.server.diagnostics());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_metrics_and_log_lines() {
    guard(async {
        let echo = Target::echo().await;
        let dir = temp_dir("metrics");
        let file = dir.join("tokens");
        let token = "0123456789abcdef-SECRET-TOKEN";
        std::fs::write(&file, format!("{token}: {}\n", echo.spec())).unwrap();
        let relay = Relay::start(&["--token-file", file.to_str().unwrap()]);

        let r = http_request(relay.addr(), "GET", "/healthz", &[]).await;
        assert_eq!((r.status, r.body.trim()), (200, "ok"));
        let before = relay.metrics().await;
        assert!(before.iter().all(|(k, _)| k.starts_with("oxvnc_")));
        let r = http_request(relay.addr(), "GET", "/metrics", &[]).await;
        assert!(r.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));

        let (mut ws, _) = ws_connect(&relay.ws_url(&format!("/websockify?token={token}")), &[]).await.unwrap();
        assert_eq!(relay.metric("oxvnc_connections_active").await, 1.0);
        roundtrip(&mut ws, &[1u8; 1000]).await;
        roundtrip(&mut ws, &[2u8; 234]).await;
        ws.close(None).await.unwrap();
        let _ = ws_connect(&relay.ws_url("/websockify?token=wrong"), &[]).await.expect_err("unknown");
        let log = relay.wait_log("session closed", 1, Duration::from_secs(10)).await;

        for _ in 0..100 {
            if relay.metric("oxvnc_connections_active").await == 0.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let m = relay.metrics().await;
        let get = |k: &str| m.iter().find(|(n, _)| n == k).map(|(_, v)| *v).unwrap_or_else(|| panic!("no {k}"));
        assert_eq!(get("oxvnc_connections_active"), 0.0);
        assert_eq!(get("oxvnc_connections_total"), 1.0);
        assert_eq!(get("oxvnc_bytes_to_client_total"), 1234.0);
        assert_eq!(get("oxvnc_bytes_from_client_total"), 1234.0);
        assert_eq!(get("oxvnc_failures_total{reason=\"unknown_token\"}"), 1.0);
        assert_eq!(get("oxvnc_sessions_closed_total{reason=\"client_closed\"}"), 1.0);

        // One line at open and one at close, with peer, target, bytes, duration and reason; the
        // token never in full.
        let open: Vec<&str> = log.lines().filter(|l| l.contains("session open")).collect();
        let closed: Vec<&str> = log.lines().filter(|l| l.contains("session closed")).collect();
        assert_eq!((open.len(), closed.len()), (1, 1), "{log}");
        for field in [
            "peer=127.0.0.1:",
            &format!("target={}", echo.spec()),
            "to_client=1234",
            "from_client=1234",
            "duration=",
            "reason=",
        ] {
            assert!(closed[0].contains(field), "{field} missing in {}", closed[0]);
        }
        assert!(open[0].contains("0123…(29 chars)"), "{}", open[0]);
        assert!(!relay.log().contains("SECRET"), "the token leaked into the log:\n{}", relay.log());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files_without_listing_traversal_or_redirect() {
    guard(async {
        let root = temp_dir("web");
        let web = root.join("www");
        std::fs::create_dir_all(web.join("sub")).unwrap();
        std::fs::write(web.join("index.html"), "<h1>console</h1>").unwrap();
        std::fs::write(web.join("sub/app.js"), "console.log(1)").unwrap();
        std::fs::write(root.join("secret.txt"), "TOP SECRET").unwrap();
        let relay = Relay::start(&["--demo", "--web", web.to_str().unwrap()]);
        let get = |path: &'static str| http_request(relay.addr(), "GET", path, &[]);

        let r = get("/").await;
        assert_eq!((r.status, r.body.as_str()), (200, "<h1>console</h1>"));
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        let r = get("/sub/app.js").await;
        assert_eq!((r.status, r.body.as_str()), (200, "console.log(1)"));
        assert_eq!(get("/sub/").await.status, 404, "no directory listing");
        assert_eq!(get("/missing.html").await.status, 404);
        // noVNC's page names (what nova and others link to) open the console...
        for path in ["/vnc.html", "/vnc_lite.html?path=%3Ftoken%3Dabc", "/vnc_auto.html?token=abc"] {
            let r = get(path).await;
            assert_eq!((r.status, r.body.as_str()), (200, "<h1>console</h1>"), "{path}");
            assert!(r.header("content-type").unwrap().starts_with("text/html"), "{path}");
        }
        assert_eq!(get("/sub/vnc.html").await.status, 404, "only at the top, where the console's own files are");
        // ...unless the folder has a file of that name (noVNC itself, say).
        std::fs::write(web.join("vnc_lite.html"), "<h1>noVNC</h1>").unwrap();
        assert_eq!(get("/vnc_lite.html").await.body, "<h1>noVNC</h1>");
        for path in
            ["/../secret.txt", "/%2e%2e/secret.txt", "/sub/..%2f..%2fsecret.txt", "/sub/%2e%2e/%2e%2e/secret.txt"]
        {
            let r = get(path).await;
            assert!(r.status >= 400 && !r.body.contains("TOP SECRET"), "{path}: {r:?}");
        }
        for path in ["//evil.example/", "//evil.example/%2f..", "/\\evil.example"] {
            let r = get(path).await;
            assert!(!(300..400).contains(&r.status) && r.header("location").is_none(), "{path}: {r:?}");
        }
        assert_eq!(get("/healthz").await.status, 200);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_wss_and_https_on_one_listener() {
    guard(async {
        let echo = Target::echo().await;
        let dir = temp_dir("tls");
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        let relay =
            Relay::start(&["--vnc", &echo.spec(), "--cert", cert.to_str().unwrap(), "--key", key.to_str().unwrap()]);
        assert!(relay.log().contains("listening on https://"));

        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        roots.add(ck.cert.der().clone()).unwrap();
        let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let addr = relay.addr();
        let tls = |connector: tokio_rustls::TlsConnector| {
            let name = name.clone();
            async move {
                let tcp = TcpStream::connect(addr).await.unwrap();
                connector.connect(name, tcp).await.expect("TLS handshake with the relay")
            }
        };

        let stream = tls(connector.clone()).await;
        let url = format!("wss://localhost:{}/websockify", relay.addr().port());
        let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.expect("wss handshake");
        ws.send(Message::binary(b"over tls".to_vec())).await.unwrap();
        match timeout(Duration::from_secs(10), ws.next()).await.unwrap() {
            Some(Ok(Message::Binary(b))) => assert_eq!(&b[..], b"over tls"),
            other => panic!("{other:?}"),
        }
        ws.close(None).await.unwrap();

        let r = http_request_on(tls(connector.clone()).await, "localhost", "GET", "/healthz", &[]).await;
        assert_eq!((r.status, r.body.trim()), (200, "ok"));
        // Without --ssl-only the same port also answers plain HTTP.
        assert_eq!(http_request(relay.addr(), "GET", "/healthz", &[]).await.status, 200);

        // With --ssl-only, plain HTTP gets nothing.
        let relay = Relay::start(&[
            "--vnc",
            &echo.spec(),
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--ssl-only",
        ]);
        let mut s = TcpStream::connect(relay.addr()).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = Vec::new();
        let _ = timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await.expect("closed");
        assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_gets_every_byte_before_the_close() {
    guard(async {
        const TOTAL: usize = 10 << 20;
        // Sends 10 MB and closes at once.
        let target = Target::start(|mut s| async move {
            let mut p = Pattern::new(42);
            let mut chunk = vec![0u8; 256 * 1024];
            let mut sent = 0;
            while sent < TOTAL {
                p.fill(&mut chunk);
                s.write_all(&chunk).await.unwrap();
                sent += chunk.len();
            }
        })
        .await;
        let relay = Relay::start(&["--vnc", &target.spec()]);
        let (mut ws, _) = ws_connect(&relay.ws_url("/websockify"), &[]).await.unwrap();
        let mut p = Pattern::new(42);
        let mut got = 0usize;
        let mut messages = 0;
        loop {
            match timeout(Duration::from_secs(20), ws.next()).await.expect("data or close within 20 s") {
                Some(Ok(Message::Binary(b))) => {
                    p.check(&b).unwrap_or_else(|at| panic!("wrong byte at offset {at}"));
                    got += b.len();
                    messages += 1;
                    if messages % 4 == 0 {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                Some(Ok(Message::Close(f))) => {
                    assert_eq!(got, TOTAL, "the close came before every byte");
                    assert_eq!(f.map(|f| u16::from(f.code)), Some(1000));
                    break;
                }
                Some(Ok(_)) => {}
                other => panic!("after {got} bytes: {other:?}"),
            }
        }
        println!("10 MB arrived in {messages} messages before the close");
    })
    .await
}

/// The browser pings while 20 MB stream to it (the relay writes these frames itself and splices
/// bulk data): every pong comes back whole between data frames and every byte arrives, on the
/// usual multi-threaded relay and on one pinned to one CPU (a single-threaded runtime).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_during_bulk_transfer_are_answered_between_whole_frames() {
    guard(async {
        const TOTAL: usize = 20_000_000;
        let target = Target::start(|mut s| async move {
            let mut p = Pattern::new(7);
            let mut chunk = vec![0u8; 100_000];
            let mut sent = 0;
            while sent < TOTAL {
                p.fill(&mut chunk);
                s.write_all(&chunk).await.unwrap();
                sent += chunk.len();
            }
            // Stay open: the browser closes.
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        })
        .await;
        for one_cpu in [false, true] {
            let args = ["--vnc", &target.spec()];
            let relay = if one_cpu { Relay::start_on_one_cpu(&args) } else { Relay::start(&args) };
            if one_cpu {
                relay.wait_log("sessions run on one thread", 1, Duration::from_secs(5)).await;
            }
            let (mut ws, _) = ws_connect(&relay.ws_url("/websockify"), &[]).await.unwrap();
            let mut p = Pattern::new(7);
            let started = std::time::Instant::now();
            let (mut got, mut pings, mut pongs) = (0usize, 0u32, 0u32);
            while got < TOTAL || pongs < pings {
                if got < TOTAL && pings < 200 && got / 100_000 > pings as usize {
                    ws.send(Message::Ping(pings.to_be_bytes().to_vec().into())).await.unwrap();
                    pings += 1;
                }
                match timeout(Duration::from_secs(20), ws.next()).await.expect("data or pong within 20 s") {
                    Some(Ok(Message::Binary(b))) => {
                        p.check(&b).unwrap_or_else(|at| panic!("wrong byte at offset {at}"));
                        got += b.len();
                    }
                    Some(Ok(Message::Pong(b))) => {
                        assert_eq!(&b[..], &pongs.to_be_bytes(), "pongs in order, payload intact");
                        pongs += 1;
                    }
                    other => panic!("after {got} bytes: {other:?}"),
                }
            }
            assert_eq!(got, TOTAL);
            assert!(pings > 50, "only {pings} pings were sent");
            println!("one_cpu={one_cpu}: {got} bytes, {pings} pings answered, in {:?}", started.elapsed());
            ws.close(None).await.unwrap();
            relay.wait_log("session closed", 1, Duration::from_secs(10)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_refuses_with_503_and_ipv6_listen() {
    guard(async {
        let echo = Target::echo().await;
        let relay = Relay::start(&["--vnc", &echo.spec(), "--max-connections", "1"]);
        let (mut first, _) = ws_connect(&relay.ws_url("/"), &[]).await.unwrap();
        let e = ws_connect(&relay.ws_url("/"), &[]).await.expect_err("over the limit");
        assert_eq!(refused_status(&e), 503);
        roundtrip(&mut first, b"still fine").await;
        first.close(None).await.unwrap();
        relay.wait_log("session closed", 1, Duration::from_secs(10)).await;
        let mut second = None;
        for _ in 0..100 {
            if let Ok((ws, _)) = ws_connect(&relay.ws_url("/"), &[]).await {
                second = Some(ws);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        roundtrip(second.as_mut().expect("a place frees up when a session ends"), b"again").await;

        if std::net::TcpListener::bind("[::1]:0").is_err() {
            println!("no IPv6 loopback here; skipping the IPv6 listener check");
            return;
        }
        let relay = Relay::start(&["--vnc", &echo.spec(), "--listen", "[::1]:0", "--listen", "127.0.0.1:0"]);
        assert_eq!(relay.addrs.len(), 2);
        let v6 = relay.addrs.iter().find(|a| a.is_ipv6()).expect("an IPv6 listener");
        let (mut ws, _) = ws_connect(&format!("ws://{v6}/websockify"), &[]).await.expect("ws over IPv6");
        roundtrip(&mut ws, b"v6").await;
    })
    .await
}

#[test]
fn the_check_pattern_does_not_depend_on_how_it_is_split() {
    let whole = Pattern::new(7).next_vec(1000);
    let mut p = Pattern::new(7);
    let mut pieces = Vec::new();
    for n in [1, 7, 8, 9, 3, 100, 0, 872] {
        pieces.extend(p.next_vec(n));
    }
    assert_eq!(pieces, whole);
    let mut c = Pattern::new(7);
    assert_eq!(c.check(&whole[..500]), Ok(()));
    let mut bad = whole[500..].to_vec();
    bad[17] ^= 1;
    assert_eq!(c.check(&bad), Err(517));
    assert_ne!(Pattern::new(8).next_vec(64), whole[..64]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_timeout_closes_silent_and_slow_clients() {
    guard(async {
        let echo = Target::echo().await;
        let relay = Relay::start(&["--vnc", &echo.spec(), "--handshake-timeout", "0.5"]);
        // Says nothing at all; then sends half a request head and stalls.
        for opening in [&b""[..], b"GET /websockify HTTP/1.1\r\nHost: x\r\n"] {
            let mut s = TcpStream::connect(relay.addr()).await.unwrap();
            s.write_all(opening).await.unwrap();
            let mut buf = Vec::new();
            let read = timeout(Duration::from_secs(15), s.read_to_end(&mut buf)).await;
            assert!(read.is_ok(), "the relay kept a stalled handshake open ({opening:?})");
        }
        // A prompt client is unaffected.
        let (mut ws, _) = ws_connect(&relay.ws_url("/"), &[]).await.unwrap();
        roundtrip(&mut ws, b"fine").await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_forwarded_for_is_logged_only_with_trust_proxy() {
    guard(async {
        let echo = Target::echo().await;
        let spec = echo.spec();
        for (trust, expect) in [(false, "peer=127.0.0.1:"), (true, "peer=203.0.113.7 ")] {
            let mut args = vec!["--vnc", spec.as_str()];
            if trust {
                args.push("--trust-proxy");
            }
            let relay = Relay::start(&args);
            let (mut ws, _) =
                ws_connect(&relay.ws_url("/"), &[("X-Forwarded-For", "198.51.100.1, 203.0.113.7")]).await.unwrap();
            roundtrip(&mut ws, b"via a proxy").await;
            ws.close(None).await.unwrap();
            let log = relay.wait_log("session closed", 1, Duration::from_secs(10)).await;
            let line = log.lines().find(|l| l.contains("session closed")).unwrap();
            assert!(line.contains(expect), "trust_proxy={trust}: {line}");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_desktop_answers_through_the_relay() {
    guard(async {
        async fn greeting(url: &str) -> Vec<u8> {
            let (mut ws, _) = ws_connect(url, &[("Sec-WebSocket-Protocol", "binary")]).await.expect("demo session");
            let mut got = Vec::new();
            while got.len() < 12 {
                match timeout(Duration::from_secs(10), ws.next()).await.expect("the demo speaks first") {
                    Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
                    other => panic!("{other:?}"),
                }
            }
            got.truncate(12);
            got
        }
        // --demo alone: every session is the demo desktop.
        let relay = Relay::start(&["--demo"]);
        assert_eq!(greeting(&relay.ws_url("/websockify")).await, b"RFB 003.008\n");
        // With a token file, the token "demo" reaches it.
        let dir = temp_dir("demo-tokens");
        let file = dir.join("tokens");
        std::fs::write(&file, "other: 127.0.0.1:1\n").unwrap();
        let relay = Relay::start(&["--demo", "--token-file", file.to_str().unwrap()]);
        assert_eq!(greeting(&relay.ws_url("/websockify?token=demo")).await, b"RFB 003.008\n");
        let e = ws_connect(&relay.ws_url("/websockify?token=nope"), &[]).await.expect_err("unknown");
        assert_eq!(refused_status(&e), 404);
    })
    .await
}

/// A client that sends its first WebSocket frame in the same packet as the handshake: the bytes
/// hyper read past the request must reach the VNC server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_pipelined_behind_the_handshake_is_relayed() {
    guard(async {
        let echo = Target::echo().await;
        let relay = Relay::start(&["--vnc", &echo.spec()]);
        let mut s = TcpStream::connect(relay.addr()).await.unwrap();
        let payload = b"pipelined";
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        let mut out = format!(
            "GET /websockify HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            relay.addr()
        )
        .into_bytes();
        out.extend_from_slice(&[0x82, 0x80 | payload.len() as u8]);
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        s.write_all(&out).await.unwrap();

        // 101 response, then the echo as one unmasked binary frame.
        let want = [&[0x82, payload.len() as u8][..], payload].concat();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.windows(want.len()).any(|w| w == &want[..]) {
            let n = timeout(Duration::from_secs(10), s.read(&mut buf)).await.expect("echo within 10 s").unwrap();
            assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 101"), "{:?}", String::from_utf8_lossy(&got));
    })
    .await
}

/// A real `redis-server` on a loopback port, with `requirepass`, no persistence.
fn redis_server(port: u16, password: &str) -> oxvnc_tests::servers::Server {
    let dir = temp_dir("redis");
    let mut cmd = std::process::Command::new("redis-server");
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--requirepass", password]).args([
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let mut server = oxvnc_tests::servers::Server::spawn("redis-server", cmd);
    server.wait_for_port(port, Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}"));
    server
}

/// One `redis-cli` command against database 2 of the server on `port`.
fn redis_cli(port: u16, password: &str, args: &[&str]) {
    let mut cmd = std::process::Command::new("redis-cli");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-a", password, "--no-auth-warning", "-n", "2"]).args(args);
    let out = oxvnc_tests::servers::run_with_limit(cmd, Duration::from_secs(10));
    assert!(out.status.success() && !out.stdout.starts_with(b"ERR"), "redis-cli {args:?}: {out:?}");
}

/// `--token-redis` with websockify's TokenRedis source string and values: plain and JSON targets
/// under a namespace, in a database with a password; tokens written or deleted while the relay
/// runs count at once; a value that is no target, a Redis that is down and one that never answers
/// each refuse the handshake with a status and a reason (no hang), and the relay reconnects when
/// Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_tokens_as_websockify_token_redis_keeps_them() {
    guard(async {
        let echo = Target::echo().await;
        let port = oxvnc_tests::servers::free_port();
        let pass = "s3cret:pass";
        let redis = redis_server(port, pass);
        redis_cli(port, pass, &["SET", "app:consoles:plain", &echo.spec()]);
        redis_cli(port, pass, &["SET", "app:consoles:json", &format!("{{\"host\": \"{}\"}}", echo.spec())]);
        redis_cli(port, pass, &["SET", "app:consoles:broken", "{\"port\": 5900}"]);
        redis_cli(port, pass, &["SET", "plain", "127.0.0.1:1"]);
        let source = format!("127.0.0.1:{port}:2:\"{pass}\":\"app:consoles\"");
        let relay = Relay::start(&["--token-redis", &source]);

        let (mut ws, _) = ws_connect(&relay.ws_url("/websockify?token=plain"), &[]).await.expect("plain value");
        roundtrip(&mut ws, b"host:port from redis").await;
        ws.close(None).await.unwrap();
        let (mut ws, _) =
            ws_connect(&relay.ws_url("/websockify"), &[("Cookie", "token=json")]).await.expect("JSON value, cookie");
        roundtrip(&mut ws, b"json from redis").await;
        ws.close(None).await.unwrap();

        let e = ws_connect(&relay.ws_url("/websockify?token=nope"), &[]).await.expect_err("unknown token");
        assert_eq!(refused_status(&e), 404);
        let r = http_request(relay.addr(), "GET", "/websockify", &upgrade_headers(&[])).await;
        assert_eq!(r.status, 403, "{r:?}");
        let r = http_request(relay.addr(), "GET", "/websockify?token=broken", &upgrade_headers(&[])).await;
        assert_eq!((r.status, r.body.trim()), (502, "token has no valid target"));

        // Written and deleted while the relay runs.
        redis_cli(port, pass, &["SET", "app:consoles:later", &echo.spec()]);
        let (mut ws, _) = ws_connect(&relay.ws_url("/?token=later"), &[]).await.expect("token written at run time");
        roundtrip(&mut ws, b"no restart").await;
        ws.close(None).await.unwrap();
        redis_cli(port, pass, &["DEL", "app:consoles:later"]);
        let e = ws_connect(&relay.ws_url("/?token=later"), &[]).await.expect_err("deleted token");
        assert_eq!(refused_status(&e), 404);

        // Redis restarted between two handshakes: the relay's connection died with it, and the
        // next handshake still gets through (on a new connection).
        redis.stop();
        let redis = redis_server(port, pass);
        redis_cli(port, pass, &["SET", "app:consoles:plain", &echo.spec()]);
        let (mut ws, _) = ws_connect(&relay.ws_url("/?token=plain"), &[]).await.expect("after a Redis restart");
        roundtrip(&mut ws, b"new connection").await;
        ws.close(None).await.unwrap();

        // Redis down: refused with 503 and a reason, for the handshake and for the check.
        redis.stop();
        let r = http_request(relay.addr(), "GET", "/websockify?token=plain", &upgrade_headers(&[])).await;
        assert_eq!((r.status, r.body.trim()), (503, "token store unavailable"));
        let r = http_request(relay.addr(), "GET", "/websockify?token=plain", &[("X-Oxvnc-Check", "1")]).await;
        assert_eq!((r.status, r.body.trim()), (503, "token store unavailable"));
        // Back (empty: no persistence): the relay connects again by itself.
        let _redis = redis_server(port, pass);
        redis_cli(port, pass, &["SET", "app:consoles:plain", &echo.spec()]);
        let (mut ws, _) = ws_connect(&relay.ws_url("/?token=plain"), &[]).await.expect("redis is back");
        roundtrip(&mut ws, b"reconnected").await;
        ws.close(None).await.unwrap();
        let store_failures = relay.metric("oxvnc_failures_total{reason=\"token_store\"}").await;
        assert_eq!(store_failures, 2.0, "the broken value and the handshake while Redis was down");
        // A wrong password is Redis refusing us, not an unknown token; the log names the cause
        // and never the password.
        let wrong = Relay::start(&["--token-redis", &format!("127.0.0.1:{port}:2:not-the-password:\"app:consoles\"")]);
        let r = http_request(wrong.addr(), "GET", "/websockify?token=plain", &upgrade_headers(&[])).await;
        assert_eq!((r.status, r.body.trim()), (503, "token store unavailable"));
        let log = wrong.wait_log("token lookup failed", 1, Duration::from_secs(10)).await;
        assert!(!log.contains("not-the-password"), "{log}");

        // A Redis that accepts and never answers: refused after the lookup's time limit.
        let mute = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mute_port = mute.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = mute.accept().await {
                held.push(s);
            }
        });
        let stuck = Relay::start(&["--token-redis", &format!("127.0.0.1:{mute_port}")]);
        let r = http_request(stuck.addr(), "GET", "/websockify?token=plain", &upgrade_headers(&[])).await;
        assert_eq!((r.status, r.body.trim()), (503, "token store unavailable"));
        held.abort();
    })
    .await
}

/// `oxvnc websockify` takes websockify's command line: a fixed target, a token plugin, the
/// binary run under the name `websockify`; an option oxvnc does not implement stops it at once
/// with a message that names the option, before it listens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockify_command_line() {
    guard(async {
        let echo = Target::echo().await;
        let dir = temp_dir("websockify-cli");
        let mut cmd = std::process::Command::new(oxvnc_tests::oxvnc_bin::oxvnc_path());
        cmd.args(["websockify", "127.0.0.1:0", &echo.spec()]);
        let relay = Relay::spawn(cmd, 1);
        let (mut ws, _) = ws_connect(&relay.ws_url("/websockify"), &[]).await.expect("fixed target");
        roundtrip(&mut ws, b"websockify's positional target").await;
        ws.close(None).await.unwrap();
        drop(relay);

        let file = dir.join("tokens.conf");
        std::fs::write(&file, format!("vm1: {}\n", echo.spec())).unwrap();
        let link = dir.join("websockify");
        std::os::unix::fs::symlink(oxvnc_tests::oxvnc_bin::oxvnc_path(), &link).unwrap();
        let mut cmd = std::process::Command::new(&link);
        cmd.args(["--token-plugin=TokenFile", &format!("--token-source={}", file.display()), "127.0.0.1:0"]);
        let relay = Relay::spawn(cmd, 1);
        let (mut ws, _) = ws_connect(&relay.ws_url("/websockify?token=vm1"), &[]).await.expect("known token");
        roundtrip(&mut ws, b"a token from websockify's token file").await;
        ws.close(None).await.unwrap();
        let e = ws_connect(&relay.ws_url("/websockify?token=vm2"), &[]).await.expect_err("unknown token");
        assert_eq!(refused_status(&e), 404);
        drop(relay);

        let target = echo.spec();
        for (argv, says) in [
            (vec!["--record", "/tmp/session", "127.0.0.1:0", &target], "--record is not implemented"),
            (vec!["-D", "127.0.0.1:0", &target], "--daemon is not implemented"),
            (
                vec!["--ssl-only", "--cert", "/nonexistent.pem", "127.0.0.1:0", &target],
                "SSL only and /nonexistent.pem not found",
            ),
            (vec!["127.0.0.1:0"], "too few arguments"),
        ] {
            let mut cmd = std::process::Command::new(&link);
            cmd.args(&argv);
            let done = oxvnc_tests::servers::run_with_limit(cmd, Duration::from_secs(20));
            assert_eq!(done.status.code(), Some(2), "{argv:?}: {}", done.stderr);
            assert!(done.stderr.contains(says), "{argv:?}: {}", done.stderr);
            assert!(!done.stderr.contains("listening on"), "{argv:?}: {}", done.stderr);
        }
    })
    .await
}

/// `--log-file`: the log goes to the file, appended after what was there, and not to standard
/// error; a file that cannot be opened stops the relay at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_file_is_appended_to() {
    guard(async {
        let echo = Target::echo().await;
        let dir = temp_dir("log-file");
        let log = dir.join("relay.log");
        std::fs::write(&log, "an earlier line\n").unwrap();
        let port = oxvnc_tests::servers::free_port();
        let mut cmd = std::process::Command::new(oxvnc_tests::oxvnc_bin::oxvnc_path());
        let listen = format!("127.0.0.1:{port}");
        cmd.args(["serve", "--listen", &listen, "--vnc", &echo.spec(), "--log-file", log.to_str().unwrap()]);
        let mut server = oxvnc_tests::servers::Server::spawn("oxvnc-serve", cmd);
        server.wait_for_port(port, Duration::from_secs(30)).unwrap();
        let (mut ws, _) = ws_connect(&format!("ws://{listen}/websockify"), &[]).await.expect("session");
        roundtrip(&mut ws, b"logged").await;
        ws.close(None).await.unwrap();
        let mut text = String::new();
        for _ in 0..200 {
            text = std::fs::read_to_string(&log).unwrap();
            if text.contains("session closed") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(text.starts_with("an earlier line\n"), "{text}");
        assert!(text.contains("listening on") && text.contains("session closed"), "{text}");
        assert!(!text.contains('\u{1b}'), "no terminal colours in a file: {text}");
        let stderr = std::fs::read_to_string(server.log_path()).unwrap_or_default();
        assert!(!stderr.contains("listening on"), "{stderr}");
        server.stop();

        let bad = dir.join("no-such-dir").join("relay.log");
        serve_refuses(
            &["--listen", "127.0.0.1:0", "--vnc", &echo.spec(), "--log-file", bad.to_str().unwrap()],
            "cannot open --log-file",
        );
    })
    .await
}

/// `--listen unix:PATH`, for a reverse proxy on the same machine: the socket gets `--unix-mode`,
/// sessions through it are relayed, the client's address comes from X-Forwarded-For with
/// `--trust-proxy`; a stale socket file is replaced, while a live socket or another file at the
/// path stops a second relay without touching them; the file goes away when the relay stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_listener_for_a_reverse_proxy() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    guard(async {
        let echo = Target::echo().await;
        let dir = temp_dir("unix-listen");
        let sock = dir.join("relay.sock");
        // What a relay killed with SIGKILL leaves behind: a socket file nobody accepts on.
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
        assert!(std::fs::symlink_metadata(&sock).unwrap().file_type().is_socket());
        let listen = format!("unix:{}", sock.display());
        let mut relay = Relay::start(&[
            "--listen",
            "127.0.0.1:0",
            "--listen",
            &listen,
            "--unix-mode",
            "660",
            "--vnc",
            &echo.spec(),
            "--trust-proxy",
        ]);
        assert!(relay.log().contains(&format!("listening on http://{listen} ")), "{}", relay.log());
        let meta = std::fs::symlink_metadata(&sock).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);

        for (forwarded, peer) in [(Some("203.0.113.9"), "peer=203.0.113.9 "), (None, "peer=unix-socket ")] {
            let stream = tokio::net::UnixStream::connect(&sock).await.expect("connect to the relay's socket");
            let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                "ws://console.example/websockify",
            )
            .unwrap();
            if let Some(ip) = forwarded {
                req.headers_mut().insert("X-Forwarded-For", ip.parse().unwrap());
            }
            let (mut ws, _) = tokio_tungstenite::client_async(req, stream).await.expect("handshake over the socket");
            roundtrip(&mut ws, b"through a unix socket").await;
            ws.close(None).await.unwrap();
            let n = if forwarded.is_some() { 1 } else { 2 };
            let log = relay.wait_log("session closed", n, Duration::from_secs(10)).await;
            let line = log.lines().filter(|l| l.contains("session closed")).nth(n - 1).unwrap();
            assert!(line.contains(peer), "{line}");
        }

        // A second relay on the live socket, or on a path holding a file, stops and leaves them be.
        let other = dir.join("not-a-socket");
        std::fs::write(&other, "keep me").unwrap();
        for (path, says) in [(&sock, "another process is listening"), (&other, "not a socket")] {
            serve_refuses(&["--listen", &format!("unix:{}", path.display()), "--vnc", &echo.spec()], says);
        }
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "keep me");
        assert!(tokio::net::UnixStream::connect(&sock).await.is_ok(), "the first relay still accepts");

        // SAFETY: kill(2) on the PID of a child we own that has not been waited for.
        unsafe { libc::kill(relay.pid() as libc::pid_t, libc::SIGTERM) };
        assert!(wait_exit(&mut relay).await.success());
        assert!(!sock.exists(), "the socket file outlived the relay");
    })
    .await
}

/// A token service for `--token-api`: answers `GET /t/TOKEN` with `answer(TOKEN)` (status, body),
/// or never answers when that is `None`; records every request path.
async fn token_service(
    answer: impl Fn(&str) -> Option<(u16, String)> + Send + Sync + 'static,
) -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (answer, log) = (Arc::new(answer), Arc::clone(&seen));
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (answer, log) = (Arc::clone(&answer), Arc::clone(&log));
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
                log.lock().unwrap().push(path.clone());
                let token = path.strip_prefix("/t/").unwrap_or_default();
                match answer(token) {
                    Some((status, body)) => {
                        let reply = format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = s.write_all(reply.as_bytes()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(60)).await,
                }
            });
        }
    });
    (addr, seen, task)
}

/// `--token-api`: the target comes from an HTTP service (websockify's BaseTokenAPI and, with
/// `--token-api-json`, JSONTokenApi); its answers map to clear refusals, and the token reaches it
/// percent-encoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_api_text_and_json() {
    guard(async {
        let echo = Target::echo().await;
        let spec = echo.spec();
        let port = echo.spec().rsplit_once(':').unwrap().1.to_string();
        let (api, seen, task) = token_service(move |token| match token {
            "vm1" => Some((200, format!("{{\"host\": \"127.0.0.1\", \"port\": {port}}}"))),
            "plain" => Some((200, format!("{spec}\n"))),
            "garbage" => Some((200, "{\"host\": 7}".into())),
            "broken" => Some((500, "oops".into())),
            "slow" => None,
            _ => Some((404, "no such console".into())),
        })
        .await;
        let url = format!("http://{api}/t/%s");

        let json = Relay::start(&["--token-api", &url, "--token-api-json"]);
        let (mut ws, _) = ws_connect(&json.ws_url("/websockify?token=vm1"), &[]).await.expect("known token");
        roundtrip(&mut ws, b"a target from a token service").await;
        ws.close(None).await.unwrap();
        for (token, status, body) in [
            ("nope", 404, "unknown token"),
            ("garbage", 502, "token has no valid target"),
            ("broken", 503, "token store unavailable"),
            ("slow", 503, "token store unavailable"),
        ] {
            let r =
                http_request(json.addr(), "GET", &format!("/websockify?token={token}"), &upgrade_headers(&[])).await;
            assert_eq!((r.status, r.body.trim()), (status, body), "token {token}");
        }
        // The token is percent-encoded into the URL: it cannot add a path or a query.
        let r = http_request(json.addr(), "GET", "/websockify?token=a%2F..%3Fx%3D1%26y", &upgrade_headers(&[])).await;
        assert_eq!(r.status, 404);
        assert!(seen.lock().unwrap().iter().any(|p| p == "/t/a%2F..%3Fx%3D1%26y"), "{:?}", seen.lock().unwrap());

        let text = Relay::start(&["--token-api", &url]);
        let (mut ws, _) = ws_connect(&text.ws_url("/websockify?token=plain"), &[]).await.expect("text answer");
        roundtrip(&mut ws, b"host:port as text").await;
        ws.close(None).await.unwrap();
        let r = http_request(text.addr(), "GET", "/websockify?token=vm1", &upgrade_headers(&[])).await;
        assert_eq!((r.status, r.body.trim()), (502, "token has no valid target"), "JSON where text is expected");

        // The service gone: refused at once, not a hang.
        task.abort();
        let _ = task.await;
        let r = http_request(text.addr(), "GET", "/websockify?token=plain", &upgrade_headers(&[])).await;
        assert_eq!((r.status, r.body.trim()), (503, "token store unavailable"));
        assert!(json.log().contains("token lookup failed"), "{}", json.log());
    })
    .await
}

/// Runs `openssl ARGS` (key and certificate files for the JWT tests), panicking on failure.
fn openssl(args: &[&str]) {
    let mut cmd = std::process::Command::new("openssl");
    cmd.args(args);
    let done = oxvnc_tests::servers::run_with_limit(cmd, Duration::from_secs(60));
    assert!(done.status.success(), "openssl {args:?}: {}", done.stderr);
}

/// A JSON Web Token with `claims`, signed with `key`.
fn jwt(alg: jsonwebtoken::Algorithm, claims: serde_json::Value, key: &jsonwebtoken::EncodingKey) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, key).unwrap()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// `--token-jwt`, websockify's JWTTokenApi: a token signed with the key names its own target.
/// An RSA public key, a certificate holding it and the private key itself all verify RS and PS
/// tokens; expired, not-yet-valid, forged, wrongly signed, encrypted and malformed tokens are
/// refused with 403 and their reason, claims without a target with 502; an HMAC secret file is
/// re-read when it changes (key rotation without a restart), and a key file that cannot be used
/// is 503 while the relay runs and a clear error at start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_web_tokens_name_their_target() {
    use jsonwebtoken::{Algorithm, EncodingKey};
    use serde_json::json;
    guard(async {
        let echo = Target::echo().await;
        let (host, port) =
            echo.spec().rsplit_once(':').map(|(h, p)| (h.to_string(), p.parse::<u16>().unwrap())).unwrap();
        let dir = temp_dir("jwt");
        let f = |name: &str| dir.join(name).to_str().unwrap().to_string();
        openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &f("rsa.pem")]);
        openssl(&["pkey", "-in", &f("rsa.pem"), "-pubout", "-out", &f("rsa.pub.pem")]);
        openssl(&[
            "req",
            "-x509",
            "-key",
            &f("rsa.pem"),
            "-subj",
            "/CN=oxvnc jwt",
            "-days",
            "1",
            "-out",
            &f("rsa.crt"),
        ]);
        openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &f("other.pem")]);
        let rsa = EncodingKey::from_rsa_pem(&std::fs::read(f("rsa.pem")).unwrap()).unwrap();
        let other = EncodingKey::from_rsa_pem(&std::fs::read(f("other.pem")).unwrap()).unwrap();
        let now = unix_now();
        let target = json!({"host": host, "port": port, "exp": now + 600});
        let good = jwt(Algorithm::RS256, target.clone(), &rsa);

        let check = |relay: &Relay, token: String, want: (u16, &'static str)| {
            let addr = relay.addr();
            async move {
                let r = http_request(addr, "GET", &format!("/websockify?token={token}"), &upgrade_headers(&[])).await;
                assert_eq!((r.status, r.body.trim()), want, "token {token}");
            }
        };
        for key in ["rsa.pub.pem", "rsa.crt", "rsa.pem"] {
            let relay = Relay::start(&["--token-jwt", &f(key)]);
            let (mut ws, _) = ws_connect(&relay.ws_url(&format!("/websockify?token={good}")), &[])
                .await
                .unwrap_or_else(|e| panic!("{key}: {e}\n{}", relay.log()));
            roundtrip(&mut ws, b"a target from a signed token").await;
            ws.close(None).await.unwrap();
        }

        let relay = Relay::start(&["--token-jwt", &f("rsa.pub.pem")]);
        let ps = jwt(Algorithm::PS384, json!({"host": host, "port": port.to_string()}), &rsa);
        let (mut ws, _) = ws_connect(&relay.ws_url(&format!("/websockify?token={ps}")), &[]).await.expect("PS384");
        roundtrip(&mut ws, b"port as a string, no exp").await;
        ws.close(None).await.unwrap();

        let forged = {
            let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
            use base64::Engine;
            parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
                r#"{{"host":"{host}","port":{},"exp":{}}}"#,
                port + 1,
                now + 600
            ));
            parts.join(".")
        };
        let pem_as_secret = EncodingKey::from_secret(&std::fs::read(f("rsa.pub.pem")).unwrap());
        let refused = [
            (jwt(Algorithm::RS256, json!({"host": host, "port": port, "exp": now - 5}), &rsa), (403, "token expired")),
            (
                jwt(Algorithm::RS256, json!({"host": host, "port": port, "nbf": now + 600}), &rsa),
                (403, "token not valid yet"),
            ),
            (jwt(Algorithm::RS256, target.clone(), &other), (403, "invalid token")),
            (jwt(Algorithm::HS256, target.clone(), &pem_as_secret), (403, "invalid token")),
            (forged, (403, "invalid token")),
            ("not.a.jwt".to_string(), (403, "invalid token")),
            ("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d".to_string(), (403, "invalid token")),
            (jwt(Algorithm::RS256, json!({"host": host}), &rsa), (502, "token has no valid target")),
        ];
        for (token, want) in refused {
            check(&relay, token, want).await;
        }
        let r = http_request(relay.addr(), "GET", "/websockify", &upgrade_headers(&[])).await;
        assert_eq!(r.status, 403);
        assert_eq!(relay.metric("oxvnc_failures_total{reason=\"invalid_token\"}").await, 7.0);
        assert!(relay.log().contains("encrypted token (JWE)"), "{}", relay.log());
        assert!(!relay.log().contains(&good[good.len() - 20..]), "a token in the log");

        // An HMAC secret (base64url, as a JWK oct key's "k"), replaced while the relay runs.
        use base64::Engine;
        let b64 = |s: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        std::fs::write(f("secret"), format!("{}\n", b64(b"first secret of the relay"))).unwrap();
        let relay = Relay::start(&["--token-jwt", &f("secret")]);
        let first = jwt(Algorithm::HS256, target.clone(), &EncodingKey::from_secret(b"first secret of the relay"));
        let second = jwt(Algorithm::HS512, target.clone(), &EncodingKey::from_secret(b"the second, longer secret"));
        let (mut ws, _) = ws_connect(&relay.ws_url(&format!("/websockify?token={first}")), &[]).await.expect("HS256");
        roundtrip(&mut ws, b"hmac").await;
        ws.close(None).await.unwrap();
        check(&relay, second.clone(), (403, "invalid token")).await;
        std::fs::write(f("secret"), b64(b"the second, longer secret")).unwrap();
        check(&relay, first.clone(), (403, "invalid token")).await;
        let (mut ws, _) =
            ws_connect(&relay.ws_url(&format!("/websockify?token={second}")), &[]).await.expect("rotated");
        roundtrip(&mut ws, b"rotated").await;
        ws.close(None).await.unwrap();
        std::fs::write(f("secret"), "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n").unwrap();
        check(&relay, second.clone(), (503, "token store unavailable")).await;
        assert!(relay.log().contains("token key unusable"), "{}", relay.log());

        // At start-up, a key that cannot be used stops the relay with the reason.
        for (file, says) in [("secret", "SEC1"), ("missing", "cannot read --token-jwt")] {
            serve_refuses(&["--listen", "127.0.0.1:0", "--token-jwt", &f(file)], says);
        }
    })
    .await
}

/// `--basic-auth` (websockify's BasicHTTPAuth): handshakes need the credentials (401 with a
/// Basic challenge without them or with wrong ones, 403 for a header that is not Basic
/// credentials); `--web-auth` puts the files and /metrics behind them too, never /healthz.
/// `--require-origin` (websockify's ExpectOrigin) admits only the listed origins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_web_auth_and_required_origins() {
    use base64::Engine;
    guard(async {
        let echo = Target::echo().await;
        let web = temp_dir("basic-auth");
        std::fs::write(web.join("index.html"), "<h1>console</h1>").unwrap();
        let b64 = |s: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s));
        let good = b64("admin:pass:word");
        let relay = Relay::start(&[
            "--vnc",
            &echo.spec(),
            "--web",
            web.to_str().unwrap(),
            "--basic-auth",
            "admin:pass:word",
            "--web-auth",
        ]);
        let wrong = b64("admin:pass");
        for (auth, status, body) in [
            (None, 401, "authentication required"),
            (Some(wrong.as_str()), 401, "authentication required"),
            (Some("Bearer abc"), 403, "bad Authorization header"),
            (Some("Basic %%%"), 403, "bad Authorization header"),
        ] {
            let mut headers = upgrade_headers(&[]);
            headers.extend(auth.map(|a| ("Authorization", a)));
            let r = http_request(relay.addr(), "GET", "/websockify", &headers).await;
            assert_eq!((r.status, r.body.trim()), (status, body), "{auth:?}");
            if status == 401 {
                assert!(r.header("www-authenticate").is_some_and(|c| c.starts_with("Basic realm=")), "{:?}", r.headers);
            }
        }
        let (mut ws, _) =
            ws_connect(&relay.ws_url("/websockify"), &[("Authorization", &good)]).await.expect("with credentials");
        roundtrip(&mut ws, b"authenticated").await;
        ws.close(None).await.unwrap();

        let get = |path: &'static str, auth: Option<&str>| {
            let auth = auth.map(str::to_string);
            let addr = relay.addr();
            async move {
                let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
                http_request(addr, "GET", path, &headers).await
            }
        };
        assert_eq!(get("/index.html", None).await.status, 401);
        assert_eq!(get("/vnc.html", None).await.status, 401);
        assert_eq!(get("/index.html", Some(&wrong)).await.status, 401);
        let r = get("/index.html", Some(&good)).await;
        assert_eq!((r.status, r.body.as_str()), (200, "<h1>console</h1>"));
        assert_eq!(get("/metrics", None).await.status, 401);
        assert_eq!(get("/healthz", None).await.status, 200);
        let r = get("/metrics", Some(&good)).await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("oxvnc_failures_total{reason=\"unauthorized\"} 4"), "{}", r.body);

        // Without --web-auth only the handshakes are guarded.
        let relay = Relay::start(&["--vnc", &echo.spec(), "--web", web.to_str().unwrap(), "--basic-auth", "u:p"]);
        assert_eq!(http_request(relay.addr(), "GET", "/index.html", &[]).await.status, 200);
        assert_eq!(http_request(relay.addr(), "GET", "/websockify", &upgrade_headers(&[])).await.status, 401);

        // --require-origin: the list only, and an Origin is needed.
        let relay =
            Relay::start(&["--vnc", &echo.spec(), "--allowed-origin", "https://dash.example", "--require-origin"]);
        let own = format!("http://{}", relay.addr());
        for (origin, status) in [(None, 403), (Some(own.as_str()), 403), (Some("https://evil.example"), 403)] {
            let mut headers = upgrade_headers(&[]);
            headers.extend(origin.map(|o| ("Origin", o)));
            let r = http_request(relay.addr(), "GET", "/websockify", &headers).await;
            assert_eq!((r.status, r.body.trim()), (status, "origin not allowed"), "{origin:?}");
        }
        let (mut ws, _) = ws_connect(&relay.ws_url("/websockify"), &[("Origin", "https://dash.example")])
            .await
            .expect("listed origin");
        roundtrip(&mut ws, b"from the dashboard").await;
        ws.close(None).await.unwrap();

        for (args, says) in
            [(&["--require-origin"][..], "--allowed-origin"), (&["--basic-auth", "nocolon"][..], "USER:PASSWORD")]
        {
            let spec = echo.spec();
            let argv: Vec<&str> =
                ["--listen", "127.0.0.1:0", "--vnc", &spec].into_iter().chain(args.iter().copied()).collect();
            serve_refuses(&argv, says);
        }
    })
    .await
}

/// Socket activation, as systemd starts services: `systemd-socket-activate` holds a TCP port
/// and a Unix socket and starts the relay on the first connection with both (LISTEN_FDS). The
/// relay serves that first, waiting connection and later ones on both sockets, does not add its
/// default listener, and leaves the service manager's socket file in place when it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_from_a_service_manager() {
    guard(async {
        let echo = Target::echo().await;
        let dir = temp_dir("socket-activation");
        let sock = dir.join("relay.sock");
        let port = closed_port_addr().port();
        let tcp = format!("127.0.0.1:{port}");
        let mut cmd = std::process::Command::new("systemd-socket-activate");
        cmd.args(["-l", &tcp, "-l", sock.to_str().unwrap()]);
        cmd.arg(oxvnc_tests::oxvnc_bin::oxvnc_path()).args(["serve", "--vnc", &echo.spec()]);
        cmd.env_remove("RUST_LOG");
        let mut activator = oxvnc_tests::servers::Server::spawn("socket-activate", cmd);
        // Its own log says when both sockets listen; connecting to find out would start the relay.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::fs::read_to_string(activator.log_path()).unwrap_or_default().matches("Listening on ").count() < 2 {
            assert!(std::time::Instant::now() < deadline, "not listening\n{}", activator.diagnostics());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!std::fs::read_to_string(activator.log_path()).unwrap().contains("Execing"), "started too early");

        // The first connection starts the relay, which takes it from the inherited socket.
        let (mut ws, _) = ws_connect(&format!("ws://{tcp}/websockify"), &[])
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", activator.diagnostics()));
        roundtrip(&mut ws, b"the connection that started the relay").await;
        ws.close(None).await.unwrap();
        let stream = tokio::net::UnixStream::connect(&sock).await.expect("the inherited Unix socket");
        let req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request("ws://relay/websockify")
                .unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(req, stream).await.expect("handshake over the Unix socket");
        roundtrip(&mut ws, b"through the service manager's Unix socket").await;
        ws.close(None).await.unwrap();

        let log = std::fs::read_to_string(activator.log_path()).unwrap();
        assert!(log.contains(&format!("listening on http://{tcp} ")), "{log}");
        assert!(
            log.contains(&format!("listening on http://unix:{} (from the service manager)", sock.display())),
            "{log}"
        );
        assert!(!log.contains("127.0.0.1:6080"), "the default listener was added: {log}");

        // SAFETY: kill(2) on the PID of a child we own (systemd-socket-activate exec'd the relay
        // in place) that has not been waited for.
        unsafe { libc::kill(activator.pid() as libc::pid_t, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = activator.exited() {
                break status;
            }
            assert!(std::time::Instant::now() < deadline, "still running after SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(status.success(), "{status}\n{}", activator.diagnostics());
        assert!(sock.exists(), "the relay removed a socket file it did not create");
    })
    .await
}
