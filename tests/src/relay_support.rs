//! Helpers for the `relay_*` tests, included by each with `#[path]`: start the real `oxvnc serve`
//! (stopped by PID when the guard drops), scripted VNC-server stand-ins on loopback, WebSocket and
//! raw HTTP clients, and a deterministic byte pattern to verify relayed data.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use oxvnc_tests::oxvnc_bin::oxvnc_path;
use oxvnc_tests::servers::Server;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, tungstenite};

pub type Ws = WebSocketStream<TcpStream>;

/// A running `oxvnc serve`.
pub struct Relay {
    pub server: Server,
    /// The addresses it listens on (from its "listening on" log lines).
    pub addrs: Vec<SocketAddr>,
}

impl Relay {
    /// Starts `oxvnc serve ARGS` (on `--listen 127.0.0.1:0` unless ARGS has a `--listen`) and
    /// waits until it listens. Settings from the developer's environment are removed.
    pub fn start(args: &[&str]) -> Relay {
        Relay::start_with(args, false)
    }

    /// [`Relay::start`] with the process allowed on CPU 0 only (what `taskset -c 0` does).
    pub fn start_on_one_cpu(args: &[&str]) -> Relay {
        Relay::start_with(args, true)
    }

    fn start_with(args: &[&str], one_cpu: bool) -> Relay {
        // Unix sockets (`--listen unix:PATH`) have no address in the log to wait for; they are
        // bound before any "listening on" line is written.
        let any_listen = args.contains(&"--listen");
        let listens = args.windows(2).filter(|w| w[0] == "--listen" && !w[1].starts_with("unix:")).count();
        let mut cmd = Command::new(oxvnc_path());
        cmd.arg("serve");
        if !any_listen {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(args);
        if one_cpu {
            use std::os::unix::process::CommandExt;
            // SAFETY: only sched_setaffinity (async-signal-safe) between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(0, &mut set);
                    if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        Relay::spawn(cmd, if any_listen { listens } else { 1 })
    }

    /// Starts `cmd`, a relay's command line of any form (`oxvnc serve …`, `oxvnc websockify …`),
    /// without the developer's `OXVNC_*` settings, and waits until it listens on `listens`
    /// addresses.
    pub fn spawn(mut cmd: Command, listens: usize) -> Relay {
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("OXVNC_") {
                cmd.env_remove(k);
            }
        }
        cmd.env_remove("RUST_LOG");
        let mut server = Server::spawn("oxvnc-serve", cmd);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let addrs = listening_addrs(&read_log(server.log_path()));
            if addrs.len() >= listens {
                return Relay { server, addrs };
            }
            if let Some(status) = server.exited() {
                panic!("oxvnc serve exited ({status}) before listening\n{}", server.diagnostics());
            }
            assert!(Instant::now() < deadline, "oxvnc serve did not listen within 30 s\n{}", server.diagnostics());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr())
    }

    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// The relay's log (stderr) so far.
    pub fn log(&self) -> String {
        read_log(self.server.log_path())
    }

    /// Waits (up to `limit`, a hang guard) until the log has `n` lines containing `needle`.
    pub async fn wait_log(&self, needle: &str, n: usize, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let log = self.log();
            if log.lines().filter(|l| l.contains(needle)).count() >= n {
                return log;
            }
            assert!(Instant::now() < deadline, "no {n}× {needle:?} in the relay log within {limit:?}:\n{log}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A field of /proc/PID/status in KiB (VmRSS, VmHWM, ...).
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", self.pid()))
    }

    /// `GET /metrics`, as (name{labels}, value) pairs.
    pub async fn metrics(&self) -> Vec<(String, f64)> {
        let r = http_request(self.addr(), "GET", "/metrics", &[]).await;
        assert_eq!(r.status, 200, "GET /metrics: {r:?}");
        r.body
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').expect("metric line");
                (k.to_owned(), v.parse().expect("metric value"))
            })
            .collect()
    }

    pub async fn metric(&self, name: &str) -> f64 {
        self.metrics().await.into_iter().find(|(k, _)| k == name).unwrap_or_else(|| panic!("no metric {name}")).1
    }
}

fn read_log(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

fn listening_addrs(log: &str) -> Vec<SocketAddr> {
    log.lines()
        .filter_map(|l| {
            let rest = l.split("listening on ").nth(1)?;
            let url = rest.split_whitespace().next()?;
            url.split("://").nth(1)?.parse().ok()
        })
        .collect()
}

/// A stand-in VNC server on 127.0.0.1: `handle` runs for each accepted connection. Stopped
/// (accept loop and every connection) when dropped.
pub struct Target {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Target {
    pub async fn start<F, Fut>(handle: F) -> Target
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Target::start_with_buffers(None, handle).await
    }

    /// [`Target::start`] with SO_SNDBUF/SO_RCVBUF of the accepted sockets set to `buffer`.
    pub async fn start_with_buffers<F, Fut>(buffer: Option<u32>, handle: F) -> Target
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(n) = buffer {
            socket.set_send_buffer_size(n).unwrap();
            socket.set_recv_buffer_size(n).unwrap();
        }
        socket.bind("127.0.0.1:0".parse().unwrap()).expect("bind target");
        let listener = socket.listen(4096).expect("listen");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    Ok((s, _)) = listener.accept() => { conns.spawn(handle(s)); }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                    else => break,
                }
            }
        });
        Target { addr, task }
    }

    /// Echoes every byte back.
    pub async fn echo() -> Target {
        Target::start(|mut s| async move {
            let (mut r, mut w) = s.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
        })
        .await
    }

    pub fn spec(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection.
        self.task.abort();
    }
}

/// A loopback address nothing listens on (bound, then closed).
pub fn closed_port_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Opens a WebSocket to `url` over TCP with extra request headers. `Err` carries the HTTP
/// response of a refused handshake (`tungstenite::Error::Http`).
pub async fn ws_connect(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<(Ws, tungstenite::handshake::client::Response), tungstenite::Error> {
    ws_connect_with_buffers(url, headers, None).await
}

/// [`ws_connect`] with the socket's SO_SNDBUF/SO_RCVBUF set to `buffer`.
pub async fn ws_connect_with_buffers(
    url: &str,
    headers: &[(&str, &str)],
    buffer: Option<u32>,
) -> Result<(Ws, tungstenite::handshake::client::Response), tungstenite::Error> {
    let mut req = url.into_client_request()?;
    for (k, v) in headers {
        let (name, value) =
            (tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        // A Host given here replaces the URL's (one Host header, as a browser sends).
        if name == tungstenite::http::header::HOST {
            req.headers_mut().insert(name, value);
        } else {
            req.headers_mut().append(name, value);
        }
    }
    let host = req.uri().host().unwrap().trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = req.uri().port_u16().unwrap();
    let addr = tokio::net::lookup_host((host.as_str(), port)).await?.next().expect("an address");
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(n) = buffer {
        socket.set_send_buffer_size(n)?;
        socket.set_recv_buffer_size(n)?;
    }
    let tcp = socket.connect(addr).await?;
    tcp.set_nodelay(true)?;
    tokio_tungstenite::client_async_with_config(req, tcp, Some(WebSocketConfig::default())).await
}

/// The status of a refused handshake.
pub fn refused_status(e: &tungstenite::Error) -> u16 {
    match e {
        tungstenite::Error::Http(r) => r.status().as_u16(),
        other => panic!("expected an HTTP error response, got {other:?}"),
    }
}

/// One HTTP/1.1 response, read by [`http_request`].
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header lines, lower-cased names: ("location", "...").
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Sends one request (request target sent verbatim) and reads the response head and its
/// Content-Length body.
pub async fn http_request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let s = TcpStream::connect(addr).await.expect("connect for HTTP");
    http_request_on(s, &addr.to_string(), method, target, headers).await
}

/// [`http_request`] over an already-open stream (e.g. TLS).
pub async fn http_request_on<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    host: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {host}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("send HTTP request");
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("HTTP response head within 10 s")
            .expect("read HTTP response");
        assert!(n > 0, "connection closed before the response head: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len && method != "HEAD" {
        let mut chunk = [0u8; 4096];
        let n =
            tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk)).await.expect("body within 10 s").unwrap();
        assert!(n > 0, "connection closed in the body");
        body.extend_from_slice(&chunk[..n]);
    }
    HttpResponse { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// The headers of a WebSocket handshake (for [`http_request`]), plus `extra`.
pub fn upgrade_headers<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    h.extend_from_slice(extra);
    h
}

/// A deterministic byte stream: the same seed always gives the same bytes, different seeds
/// differ. `fill` produces the next bytes, `check` compares received bytes with them.
pub struct Pattern {
    seed: u64,
    pos: u64,
    scratch: Vec<u8>,
}

impl Pattern {
    pub fn new(seed: u64) -> Pattern {
        Pattern { seed, pos: 0, scratch: Vec::new() }
    }

    pub fn position(&self) -> u64 {
        self.pos
    }

    fn word(&self, block: u64) -> [u8; 8] {
        // splitmix64 of (seed, block)
        let mut z = self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ block.wrapping_add(0x632B_E59B_D9B4_E019);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).to_le_bytes()
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        // Up to the next multiple of 8 byte by byte, then whole words, then the tail.
        let head = (((8 - self.pos % 8) % 8) as usize).min(out.len());
        let (first, rest) = out.split_at_mut(head);
        for (i, b) in first.iter_mut().enumerate() {
            let p = self.pos + i as u64;
            *b = self.word(p / 8)[(p % 8) as usize];
        }
        let mut block = (self.pos + head as u64) / 8;
        let mut words = rest.chunks_exact_mut(8);
        for w in &mut words {
            w.copy_from_slice(&self.word(block));
            block += 1;
        }
        let tail = words.into_remainder();
        let w = self.word(block);
        let n = tail.len();
        tail.copy_from_slice(&w[..n]);
        self.pos += out.len() as u64;
    }

    pub fn next_vec(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
    }

    /// Whether `data` is what comes next; on a mismatch, the offset of the first wrong byte.
    pub fn check(&mut self, data: &[u8]) -> Result<(), u64> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(data.len(), 0);
        let start = self.pos;
        self.fill(&mut scratch);
        let r = match scratch.iter().zip(data).position(|(a, b)| a != b) {
            None => Ok(()),
            Some(i) => Err(start + i as u64),
        };
        self.scratch = scratch;
        r
    }
}

/// Raises this process's open-files soft limit to its hard limit (hundreds of sockets per test).
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid resource and a pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
