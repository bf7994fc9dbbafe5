//! `oxvnc serve` under load, on loopback: many clients connecting at the same instant, hundreds
//! of concurrent sessions moving megabytes both ways (every byte checked), and the memory an idle
//! session costs. Figures are printed (run with --nocapture), not asserted as timings.

#[path = "../src/relay_support.rs"]
mod relay_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use relay_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Barrier;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

async fn built() {
    tokio::task::spawn_blocking(oxvnc_tests::oxvnc_bin::oxvnc_path).await.unwrap();
    raise_fd_limit();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_connecting_at_the_same_instant_all_get_through() {
    built().await;
    const N: usize = 200;
    let echo = Target::echo().await;
    let relay = Relay::start(&["--vnc", &echo.spec()]);
    let url = relay.ws_url("/websockify");
    let barrier = Arc::new(Barrier::new(N));
    let mut tasks = Vec::new();
    for i in 0..N {
        let (barrier, url) = (Arc::clone(&barrier), url.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let (mut ws, _) = ws_connect(&url, &[]).await.map_err(|e| format!("client {i}: {e}"))?;
            let msg = format!("client {i}").into_bytes();
            ws.send(Message::binary(msg.clone())).await.map_err(|e| e.to_string())?;
            let mut got = Vec::new();
            while got.len() < msg.len() {
                match ws.next().await {
                    Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
                    other => return Err(format!("client {i}: {other:?}")),
                }
            }
            if got != msg {
                return Err(format!("client {i}: wrong echo"));
            }
            ws.close(None).await.map_err(|e| e.to_string())?;
            Ok::<(), String>(())
        }));
    }
    let mut failures = Vec::new();
    timeout(Duration::from_secs(60), async {
        for t in tasks {
            if let Err(e) = t.await.unwrap() {
                failures.push(e);
            }
        }
    })
    .await
    .expect("hang guard: 200 connects within 60 s");
    assert!(failures.is_empty(), "{} of {N} failed: {:?}", failures.len(), &failures[..failures.len().min(5)]);
    relay.wait_log("session closed", N, Duration::from_secs(30)).await;
    assert_eq!(relay.metric("oxvnc_connections_total").await, N as f64);
}

/// 500 sessions at once, each moving 10 MB from the "VNC server" to the browser and 10 MB back,
/// every byte checked against a per-session pattern on both ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_sessions_ten_megabytes_each_way() {
    built().await;
    const SESSIONS: usize = 500;
    const EACH: usize = 10 << 20;
    const CHUNK: usize = 64 * 1024;
    // Every socket of the test (4 per session) capped, the relay's too: 500 saturated sessions
    // with loopback's autotuned buffers (up to tcp_rmem's 32 MiB each here) push the kernel into
    // TCP memory pressure, where it drops segments and connections stall in retransmission
    // backoff. That is a property of running both ends on one machine, not of the relay.
    const SOCKET_BUFFER: u32 = 128 * 1024;
    let verified_up = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));

    // The stand-in VNC server: the first 8 bytes name the session; then it sends EACH bytes of
    // pattern 2*id while checking EACH bytes of pattern 2*id+1, and closes when both are done.
    let (v, errs) = (Arc::clone(&verified_up), Arc::clone(&errors));
    let target = Target::start_with_buffers(Some(SOCKET_BUFFER), move |mut s| {
        let (v, errs) = (Arc::clone(&v), Arc::clone(&errs));
        async move {
            let mut id = [0u8; 8];
            if s.read_exact(&mut id).await.is_err() {
                errs.lock().unwrap().push("target: no session id".into());
                return;
            }
            let id = u64::from_le_bytes(id);
            let (mut r, mut w) = s.split();
            let send = async {
                let mut p = Pattern::new(2 * id);
                let mut buf = vec![0u8; CHUNK];
                let mut sent = 0;
                while sent < EACH {
                    p.fill(&mut buf);
                    w.write_all(&buf).await?;
                    sent += CHUNK;
                }
                Ok::<(), std::io::Error>(())
            };
            let check = async {
                let mut p = Pattern::new(2 * id + 1);
                let mut buf = vec![0u8; CHUNK];
                let mut got = 0;
                while got < EACH {
                    let n = r
                        .read(&mut buf[..CHUNK.min(EACH - got)])
                        .await
                        .map_err(|e| format!("session {id}: target read: {e}"))?;
                    if n == 0 {
                        return Err(format!("session {id}: target saw the end after {got} bytes"));
                    }
                    p.check(&buf[..n]).map_err(|at| format!("session {id}: wrong byte from the browser at {at}"))?;
                    got += n;
                }
                Ok(())
            };
            let (sent, checked) = tokio::join!(send, check);
            match (sent, checked) {
                (Ok(()), Ok(())) => {
                    v.fetch_add(1, Ordering::Relaxed);
                }
                (Err(e), _) => errs.lock().unwrap().push(format!("session {id}: target send: {e}")),
                (_, Err(e)) => errs.lock().unwrap().push(e),
            }
        }
    })
    .await;
    let relay = Relay::start(&["--vnc", &target.spec(), "--socket-buffer", "128K"]);
    let rss_start = relay.status_kib("VmRSS");
    let url = relay.ws_url("/websockify");
    let started = Instant::now();

    let mut clients = Vec::new();
    for id in 0..SESSIONS as u64 {
        let url = url.clone();
        clients.push(tokio::spawn(async move {
            let (ws, _) = ws_connect_with_buffers(&url, &[("Sec-WebSocket-Protocol", "binary")], Some(SOCKET_BUFFER))
                .await
                .map_err(|e| format!("session {id}: {e}"))?;
            let (mut tx, mut rx) = ws.split();
            let send = async {
                tx.send(Message::binary(id.to_le_bytes().to_vec())).await?;
                let mut p = Pattern::new(2 * id + 1);
                let mut sent = 0;
                while sent < EACH {
                    tx.send(Message::binary(p.next_vec(CHUNK))).await?;
                    sent += CHUNK;
                }
                Ok::<_, tokio_tungstenite::tungstenite::Error>(tx)
            };
            let receive = async {
                let mut p = Pattern::new(2 * id);
                let mut got = 0usize;
                loop {
                    match rx.next().await {
                        Some(Ok(Message::Binary(b))) => {
                            p.check(&b).map_err(|at| format!("session {id}: wrong byte from the server at {at}"))?;
                            got += b.len();
                        }
                        Some(Ok(Message::Close(f))) => {
                            if got != EACH {
                                return Err(format!("session {id}: close after {got} of {EACH} bytes ({f:?})"));
                            }
                            return Ok(());
                        }
                        Some(Ok(_)) => {}
                        other => return Err(format!("session {id}: after {got} bytes: {other:?}")),
                    }
                }
            };
            let (sent, received) = tokio::join!(send, receive);
            let mut tx = sent.map_err(|e| format!("session {id}: send: {e}"))?;
            received?;
            let _ = tx.close().await;
            Ok::<(), String>(())
        }));
    }
    let mut failures = Vec::new();
    timeout(Duration::from_secs(240), async {
        for c in clients {
            if let Err(e) = c.await.unwrap() {
                failures.push(e);
            }
        }
    })
    .await
    .expect("hang guard: the transfers did not finish within 240 s");
    let elapsed = started.elapsed();
    let errors = errors.lock().unwrap().clone();
    assert!(failures.is_empty(), "{} sessions failed: {:?}", failures.len(), &failures[..failures.len().min(5)]);
    assert!(errors.is_empty(), "target errors: {:?}", &errors[..errors.len().min(5)]);
    assert_eq!(verified_up.load(Ordering::Relaxed), SESSIONS, "every session's upload verified by the target");

    relay.wait_log("session closed", SESSIONS, Duration::from_secs(30)).await;
    let total = (SESSIONS * EACH) as f64;
    assert_eq!(relay.metric("oxvnc_bytes_to_client_total").await, total);
    // Each session's upload starts with its 8-byte id.
    assert_eq!(relay.metric("oxvnc_bytes_from_client_total").await, total + (8 * SESSIONS) as f64);
    let hwm = relay.status_kib("VmHWM");
    println!(
        "{SESSIONS} sessions x {} MiB each way: {:.1} s, {:.0} MiB/s through the relay (both ways); relay VmRSS at start {rss_start} KiB, peak RSS (VmHWM) {hwm} KiB ({:.1} MiB)",
        EACH >> 20,
        elapsed.as_secs_f64(),
        2.0 * total / (1 << 20) as f64 / elapsed.as_secs_f64(),
        hwm as f64 / 1024.0
    );
}

/// What an open but quiet session costs the relay: 1000 sessions whose server sent its greeting
/// and nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_session_memory() {
    built().await;
    const N: usize = 1000;
    let target = Target::start(|mut s| async move {
        if s.write_all(b"RFB 003.008\n").await.is_ok() {
            let mut buf = [0u8; 64];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        }
    })
    .await;
    let relay = Relay::start(&["--vnc", &target.spec()]);
    let url = relay.ws_url("/websockify");

    async fn open(url: &str) -> Ws {
        let (mut ws, _) = ws_connect(url, &[("Sec-WebSocket-Protocol", "binary")]).await.expect("connect");
        match timeout(Duration::from_secs(10), ws.next()).await.expect("greeting within 10 s") {
            Some(Ok(Message::Binary(b))) => assert_eq!(&b[..], b"RFB 003.008\n"),
            other => panic!("{other:?}"),
        }
        ws
    }
    // Warm up (runtime, allocator arenas), then measure from there.
    let mut warm = Vec::new();
    for _ in 0..50 {
        warm.push(open(&url).await);
    }
    for mut ws in warm {
        ws.close(None).await.unwrap();
    }
    relay.wait_log("session closed", 50, Duration::from_secs(20)).await;
    let before = relay.status_kib("VmRSS");
    let mut sessions = Vec::with_capacity(N);
    timeout(Duration::from_secs(120), async {
        for _ in 0..N {
            sessions.push(open(&url).await);
        }
    })
    .await
    .expect("hang guard: 1000 sessions within 120 s");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = relay.status_kib("VmRSS");
    let per_session = (after.saturating_sub(before)) as f64 / N as f64;
    println!(
        "idle sessions: relay VmRSS {before} KiB before, {after} KiB with {N} open: {per_session:.1} KiB per idle session"
    );
    assert_eq!(relay.metric("oxvnc_connections_active").await, N as f64);
    // A regression guard with headroom over the 20 KiB goal (RSS is coarse: pages, arenas).
    assert!(per_session < 40.0, "an idle session costs {per_session:.1} KiB");
    for mut ws in sessions {
        let _ = ws.close(None).await;
    }
}
