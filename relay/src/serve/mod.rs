//! `oxvnc serve`: the WebSocket ↔ VNC relay, a drop-in for websockify / nova-novncproxy.
//!
//! - [`listen`]: sockets (large backlog), TLS (rustls) and hyper serving the warp filters;
//! - [`http`]: the routes: WebSocket endpoint on any path, `/healthz`, `/metrics`, `--web` files;
//! - [`session`]: one relayed session, both directions at once, with limits;
//! - [`tokens`], [`target`], [`origin`], [`metrics`], [`tls`]: the pieces they use.

mod basic_auth;
mod http;
mod io;
mod listen;
mod metrics;
mod origin;
mod session;
mod target;
mod tls;
mod token_api;
mod token_jwt;
mod token_redis;
mod token_socket_dir;
mod tokens;
mod wsout;

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Args as ClapArgs;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::demo::Demo;
use http::Targets;
use metrics::Metrics;
use origin::AllowedOrigins;
use target::Target;

/// Command-line options of `oxvnc serve`; each can also come from its `OXVNC_*` variable.
#[derive(ClapArgs, Debug)]
#[command(after_help = "\
Targets: give one of --vnc, --token-file, --token-redis, --token-socket-dir, --token-dir, --token-api, --token-jwt or --demo \
(--demo also combines with the token options, where the token \"demo\" reaches the demo desktop). The WebSocket endpoint answers on any path \
(/websockify by convention); the token comes from ?token= or else a \"token\" cookie (with \
--host-token, from the Host header). \
Refused handshakes get an HTTP status and a short reason (401 missing or wrong --basic-auth \
credentials, 403 origin, missing token or a JSON Web Token that is invalid, expired or not yet \
valid, 404 unknown token, 502 a token whose value is not a target, 503 too many connections or \
the token store unreachable); a plain GET with the header X-Oxvnc-Check (the \
console sends it after a failed handshake, as browsers hide the reason) gets the same answer, \
or \"ok\", also from pages of other origins (CORS; with their cookies from origins it admits). \
GET /healthz answers \"ok\"; GET /metrics has Prometheus metrics. SIGTERM or SIGINT stops \
accepting and lets sessions finish for --drain-timeout seconds.")]
pub struct Args {
    /// Address to listen on, HOST:PORT; repeatable (IPv6 as [::1]:6080; port 0 picks a free one).
    /// unix:/PATH listens on a Unix socket instead, e.g. behind a reverse proxy on this machine
    /// (with --trust-proxy for the client's address): a stale socket file there is replaced, a
    /// live one or any other file is an error, and the file is removed at exit. Default
    /// 127.0.0.1:6080, unless a service manager passes listening sockets (systemd socket
    /// activation, LISTEN_FDS): then those, and --listen only adds more
    #[arg(long = "listen", value_name = "ADDR", env = "OXVNC_LISTEN", value_delimiter = ',')]
    listen: Vec<String>,
    /// Permissions of the --listen unix: sockets, octal (600: only this user may connect; 660
    /// adds the group, e.g. the reverse proxy's)
    #[arg(long, value_name = "MODE", env = "OXVNC_UNIX_MODE", default_value = "600", value_parser = parse_mode)]
    unix_mode: u32,
    /// Serve the static files of DIR (the web client); `/` serves DIR/index.html, and so do
    /// noVNC's page names /vnc.html, /vnc_lite.html and /vnc_auto.html unless DIR has such files
    #[arg(long, value_name = "DIR", env = "OXVNC_WEB")]
    web: Option<PathBuf>,
    /// Relay every session to this VNC server: HOST:PORT or unix_socket:/path
    #[arg(long, value_name = "HOST:PORT", env = "OXVNC_VNC", conflicts_with_all = ["token_file", "token_redis", "token_socket_dir", "token_dir", "token_api", "token_jwt", "demo"])]
    vnc: Option<String>,
    /// websockify token file, or a directory of them: `token: host:port` lines (or
    /// `token: unix_socket:/path`), `#` comments. Re-read when it changes, no restart needed
    #[arg(long, value_name = "PATH", env = "OXVNC_TOKEN_FILE", conflicts_with = "token_redis")]
    token_file: Option<PathBuf>,
    /// Look tokens up in Redis, as websockify's TokenRedis plugin (its --token-source string):
    /// HOST[:PORT[:DB[:PASSWORD[:NAMESPACE]]]]. The key is NAMESPACE:TOKEN (or TOKEN), its value
    /// `host:port` or JSON {"host": "host:port"}; asked on every handshake
    #[arg(long, value_name = "SOURCE", env = "OXVNC_TOKEN_REDIS", conflicts_with = "token_socket_dir")]
    token_redis: Option<String>,
    /// Unix sockets in DIR are the targets, as websockify's UnixDomainSocketDirectory plugin:
    /// the token `vm1` reaches the socket DIR/vm1 (e.g. QEMU's `-vnc unix:DIR/vm1`). A token is
    /// one plain file name (no `/`, `.` or `..`); looked up on every handshake
    #[arg(long, value_name = "DIR", env = "OXVNC_TOKEN_SOCKET_DIR", conflicts_with = "token_file")]
    token_socket_dir: Option<PathBuf>,
    /// One file per token in DIR, as websockify's TokenFileName plugin: the token `vm1` reads
    /// DIR/vm1, which holds `host:port` (or `unix_socket:/path`). A token is one plain file
    /// name; read on every handshake
    #[arg(long, value_name = "DIR", env = "OXVNC_TOKEN_DIR")]
    token_dir: Option<PathBuf>,
    /// Ask an HTTP service for each token, as websockify's BaseTokenAPI plugin: URL is http:// or
    /// https:// with %s where the (percent-encoded) token goes, e.g.
    /// http://api.internal/consoles/%s; a 2xx answer is `host:port` (or `unix_socket:/path`), a
    /// 4xx one an unknown token. Asked on every handshake, within 5 seconds
    #[arg(long, value_name = "URL", env = "OXVNC_TOKEN_API", conflicts_with_all = ["token_file", "token_redis", "token_socket_dir"])]
    token_api: Option<String>,
    /// With --token-api: the answer is JSON {"host": "h", "port": 5900}, as websockify's
    /// JSONTokenApi plugin (the host "unix_socket" makes the port a socket path)
    #[arg(long, env = "OXVNC_TOKEN_API_JSON", requires = "token_api")]
    token_api_json: bool,
    /// The token is a signed JSON Web Token naming its target, as websockify's JWTTokenApi
    /// plugin: claims "host" and "port" (host "unix_socket": the port is a socket path), with
    /// "nbf" and "exp" checked. KEYFILE is a PEM public key (RSA, EC P-256/P-384, Ed25519; a
    /// PKCS#8 private key works too) or an HMAC secret in base64url (a JWK oct key's "k").
    /// Re-read when it changes; encrypted tokens (JWE) are refused
    #[arg(long, value_name = "KEYFILE", env = "OXVNC_TOKEN_JWT")]
    token_jwt: Option<PathBuf>,
    /// With a token option (--token-file, --token-redis, ...): the token is the host name the browser asked for (the
    /// Host header without its port), not ?token= or the cookie, as websockify's --host-token.
    /// One name per console (vm1.consoles.example → token vm1.consoles.example), all pointing
    /// at the relay
    #[arg(long, env = "OXVNC_HOST_TOKEN")]
    host_token: bool,
    /// Serve the built-in demo desktop (every session, or the token "demo" with --token-file or
    /// --token-redis)
    #[arg(long, env = "OXVNC_DEMO")]
    demo: bool,
    /// Size of the demo desktop
    #[arg(long, value_name = "WxH", env = "OXVNC_DEMO_SIZE", default_value = "1280x720", value_parser = parse_size)]
    demo_size: (u16, u16),
    /// Also accept WebSocket handshakes from this Origin (repeatable): https://host[:port], a bare
    /// host, or * for any. Pages served from the relay's own host are always accepted
    #[arg(long = "allowed-origin", value_name = "ORIGIN", env = "OXVNC_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// Admit only WebSocket handshakes whose Origin is in --allowed-origin: not the relay's own
    /// pages, not clients that send no Origin (websockify's ExpectOrigin plugin)
    #[arg(long, env = "OXVNC_REQUIRE_ORIGIN")]
    require_origin: bool,
    /// Require HTTP Basic authentication with these credentials for WebSocket handshakes
    /// (websockify's BasicHTTPAuth plugin); give it in the environment to keep the password out
    /// of the process list. Browsers send the credentials they used for the page, so serve the
    /// page with --web-auth (or behind a proxy asking for the same)
    #[arg(long, value_name = "USER:PASSWORD", env = "OXVNC_BASIC_AUTH", hide_env_values = true)]
    basic_auth: Option<String>,
    /// With --basic-auth: the files (--web) and /metrics need the credentials too; /healthz stays
    /// open for load balancers
    #[arg(long, env = "OXVNC_WEB_AUTH", requires = "basic_auth")]
    web_auth: bool,
    /// TLS certificate chain, PEM; with --key the listeners serve https and wss
    #[arg(long, value_name = "PEM", env = "OXVNC_CERT", requires = "key")]
    cert: Option<PathBuf>,
    /// TLS private key, PEM (may be the --cert file if it holds both)
    #[arg(long, value_name = "PEM", env = "OXVNC_KEY", requires = "cert")]
    key: Option<PathBuf>,
    /// With --cert: refuse plain HTTP (otherwise the same port serves both)
    #[arg(long, env = "OXVNC_SSL_ONLY", requires = "cert")]
    ssl_only: bool,
    /// Most WebSocket sessions open at once; more are refused with HTTP 503
    #[arg(long, value_name = "N", env = "OXVNC_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: u64,
    /// Close a session after SECS without data either way (0: never)
    #[arg(long, value_name = "SECS", env = "OXVNC_IDLE_TIMEOUT", default_value = "0", value_parser = parse_secs)]
    idle_timeout: Duration,
    /// Close a session SECS after it opened (0: never)
    #[arg(long, value_name = "SECS", env = "OXVNC_MAX_SESSION", default_value = "0", value_parser = parse_secs)]
    max_session: Duration,
    /// Time allowed for the TLS handshake, the HTTP request head and the WebSocket upgrade;
    /// also closes idle keep-alive HTTP connections
    #[arg(long, value_name = "SECS", env = "OXVNC_HANDSHAKE_TIMEOUT", default_value = "10", value_parser = parse_secs)]
    handshake_timeout: Duration,
    /// Time allowed for connecting to the VNC server
    #[arg(long, value_name = "SECS", env = "OXVNC_CONNECT_TIMEOUT", default_value = "10", value_parser = parse_secs)]
    connect_timeout: Duration,
    /// Largest WebSocket message a browser may send (bytes; K and M suffixes); larger closes the
    /// session with 1009
    #[arg(long, value_name = "BYTES", env = "OXVNC_MAX_MESSAGE_SIZE", default_value = "4M", value_parser = parse_bytes)]
    max_message_size: usize,
    /// Ping each browser every SECS; close the session when by the next ping neither the pong
    /// nor any other sign of life came (a message from the browser, or data it took) (0: never)
    #[arg(long, value_name = "SECS", env = "OXVNC_HEARTBEAT", default_value = "30", value_parser = parse_secs)]
    heartbeat: Duration,
    /// On SIGTERM/SIGINT, stop accepting and let open sessions run up to SECS before closing them
    #[arg(long, value_name = "SECS", env = "OXVNC_DRAIN_TIMEOUT", default_value = "30", value_parser = parse_secs)]
    drain_timeout: Duration,
    /// Kernel socket buffer size (SO_SNDBUF and SO_RCVBUF) for browser and VNC server
    /// connections, bytes (K and M suffixes); caps what the kernel queues per connection. 0: the
    /// kernel's autotuning
    #[arg(long, value_name = "BYTES", env = "OXVNC_SOCKET_BUFFER", default_value = "0", value_parser = parse_bytes_or_zero)]
    socket_buffer: usize,
    /// Behind a reverse proxy you run: log the client address from X-Forwarded-For, and take the
    /// host the browser asked for (Origin check, --host-token) from X-Forwarded-Host when the
    /// proxy sends one
    #[arg(long, env = "OXVNC_TRUST_PROXY")]
    trust_proxy: bool,
    /// Log filter: a level (info, debug, ...) or tracing's EnvFilter directives
    #[arg(long, value_name = "FILTER", env = "OXVNC_LOG", default_value = "info")]
    log: String,
    /// Append the log to PATH instead of writing it to standard error (created if missing;
    /// a file that cannot be opened stops the relay at start-up)
    #[arg(long, value_name = "PATH", env = "OXVNC_LOG_FILE")]
    log_file: Option<PathBuf>,
}

/// Limits applied to every connection; `None` is "never".
pub struct Limits {
    pub max_connections: u64,
    pub idle_timeout: Option<Duration>,
    pub max_session: Option<Duration>,
    pub handshake_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_message_size: usize,
    pub heartbeat: Option<Duration>,
    pub socket_buffer: Option<u32>,
}

/// What every connection shares.
pub struct State {
    pub limits: Limits,
    pub targets: Targets,
    pub origins: AllowedOrigins,
    /// `--basic-auth`, and whether `--web-auth` extends it to files and metrics.
    pub basic_auth: Option<basic_auth::BasicAuth>,
    pub web_auth: bool,
    pub trust_proxy: bool,
    /// `--host-token`: the token is the Host header's host name.
    pub host_token: bool,
    pub metrics: Metrics,
    pub demo: Option<Arc<Demo>>,
    /// Turns true when the drain time is over: open sessions close.
    pub shutdown: watch::Sender<bool>,
    /// Woken when the last session ends.
    pub idle: Notify,
}

pub fn main(args: Args) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log).unwrap_or_else(|e| {
        eprintln!("oxvnc serve: bad --log filter {:?} ({e}); using info", args.log);
        tracing_subscriber::EnvFilter::new("info")
    });
    let (writer, ansi) = match &args.log_file {
        // One line is formatted, then written with one call under the lock: lines from
        // different threads never interleave.
        Some(path) => match std::fs::OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => (BoxMakeWriter::new(std::sync::Mutex::new(file)), false),
            Err(e) => {
                eprintln!("oxvnc serve: cannot open --log-file {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => (BoxMakeWriter::new(std::io::stderr), std::io::stderr().is_terminal()),
    };
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi).init();
    // Each session takes two descriptors; the default soft limit (1024) is far too low.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        warn!("cannot raise the open-files limit: {e}");
    }
    // One CPU (a container's quota, `taskset`): one thread runs everything, so no wake-up
    // is handed from thread to thread. More CPUs: a worker per CPU.
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_cpu {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    if one_cpu {
        info!("one CPU available: sessions run on one thread");
    }
    // Before any other thread exists: taking them clears LISTEN_FDS / LISTEN_PID.
    let inherited = match listen::inherited_listeners() {
        Ok(l) => l,
        Err(e) => {
            error!("{e:#}");
            eprintln!("oxvnc serve: {e:#}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args, inherited)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            eprintln!("oxvnc serve: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args, inherited: Vec<listen::Inherited>) -> anyhow::Result<()> {
    let tokens = [
        args.token_file.is_some(),
        args.token_redis.is_some(),
        args.token_socket_dir.is_some(),
        args.token_dir.is_some(),
        args.token_api.is_some(),
        args.token_jwt.is_some(),
    ];
    let token_options = "--token-file, --token-redis, --token-socket-dir, --token-dir, --token-api or --token-jwt";
    if tokens.iter().filter(|&&given| given).count() > 1 {
        bail!("give only one of {token_options}");
    }
    let demo = args.demo;
    let targets = if let Some(vnc) = &args.vnc {
        if tokens.contains(&true) || demo {
            bail!("--vnc cannot be combined with {token_options} or --demo");
        }
        Targets::Fixed(Target::parse(vnc).context("--vnc")?)
    } else if let Some(path) = &args.token_file {
        Targets::Tokens { file: tokens::TokenFile::open(path.clone())?, demo }
    } else if let Some(src) = &args.token_redis {
        Targets::Redis { store: token_redis::RedisTokens::new(src)?, demo }
    } else if let Some(dir) = &args.token_socket_dir {
        Targets::Sockets { dir: token_socket_dir::SocketDir::open(dir.clone())?, demo }
    } else if let Some(dir) = &args.token_dir {
        Targets::Files { dir: token_socket_dir::FileNameDir::open(dir.clone())?, demo }
    } else if let Some(url) = &args.token_api {
        let format = if args.token_api_json { token_api::Format::Json } else { token_api::Format::Text };
        Targets::Api { api: token_api::TokenApi::new(url, format)?, demo }
    } else if let Some(path) = &args.token_jwt {
        Targets::Jwt { keys: token_jwt::JwtKeys::open(path.clone())?, demo }
    } else if demo {
        Targets::Demo
    } else {
        bail!("no VNC server to relay to: give --vnc HOST:PORT, {token_options}, or --demo");
    };
    if args.require_origin && args.allowed_origins.is_empty() {
        bail!("--require-origin admits only the origins of --allowed-origin: give at least one");
    }
    if args.host_token && matches!(targets, Targets::Fixed(_) | Targets::Demo) {
        bail!("--host-token needs {token_options}, where the host name is looked up");
    }
    let demo = args.demo.then(|| Demo::new(args.demo_size.0, args.demo_size.1));
    let tls = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    if let Some(web) = &args.web {
        if !web.is_dir() {
            bail!("--web {}: not a directory", web.display());
        }
    }
    let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
    let socket_buffer = match args.socket_buffer {
        0 => None,
        n => Some(u32::try_from(n).ok().filter(|n| *n <= 1 << 30).context("--socket-buffer: at most 1G")?),
    };
    let (shutdown, _) = watch::channel(false);
    let state = Arc::new(State {
        limits: Limits {
            max_connections: args.max_connections,
            idle_timeout: nonzero(args.idle_timeout),
            max_session: nonzero(args.max_session),
            handshake_timeout: nonzero(args.handshake_timeout).unwrap_or(Duration::from_secs(10)),
            connect_timeout: nonzero(args.connect_timeout).unwrap_or(Duration::from_secs(10)),
            max_message_size: args.max_message_size,
            heartbeat: nonzero(args.heartbeat),
            socket_buffer,
        },
        targets,
        origins: AllowedOrigins::new(&args.allowed_origins, args.require_origin),
        basic_auth: args
            .basic_auth
            .as_deref()
            .map(basic_auth::BasicAuth::new)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        web_auth: args.web_auth,
        trust_proxy: args.trust_proxy,
        host_token: args.host_token,
        metrics: Metrics::default(),
        demo,
        shutdown,
        idle: Notify::new(),
    });

    let mut listeners = Vec::new();
    for l in inherited {
        listeners.push(l.into_listener(socket_buffer)?);
    }
    let default_listen = ["127.0.0.1:6080".to_string()];
    let specs = if args.listen.is_empty() && listeners.is_empty() { &default_listen[..] } else { &args.listen[..] };
    for spec in specs {
        if let Some(path) = spec.trim().strip_prefix("unix:") {
            if path.is_empty() {
                bail!("--listen unix: needs a path, e.g. unix:/run/oxvnc/oxvnc.sock");
            }
            let path = PathBuf::from(path);
            let l = listen::bind_unix(&path, args.unix_mode)
                .with_context(|| format!("cannot listen on unix:{}", path.display()))?;
            listeners.push(listen::Listener::Unix(l, Some(listen::RemoveOnDrop(path))));
            continue;
        }
        for addr in resolve(spec)? {
            let l = listen::bind(addr, socket_buffer).with_context(|| format!("cannot listen on {addr}"))?;
            listeners.push(listen::Listener::Tcp(l));
        }
    }
    let routes = http::routes(Arc::clone(&state), args.web.clone());
    let server = listen::Server { state: Arc::clone(&state), routes, tls: tls.clone(), ssl_only: args.ssl_only };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let target = match &state.targets {
        Targets::Fixed(t) => t.to_string(),
        Targets::Tokens { .. } => {
            format!("tokens from {}", args.token_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default())
        }
        Targets::Redis { store, .. } => format!("tokens from Redis at {}", store.place),
        Targets::Sockets { dir, .. } => format!("the Unix sockets in {}", dir.dir.display()),
        Targets::Files { dir, .. } => format!("the token files in {}", dir.dir.display()),
        Targets::Api { api, .. } => format!("tokens from {}", api.place),
        Targets::Jwt { keys, .. } => format!("JSON Web Tokens signed with the key in {}", keys.path.display()),
        Targets::Demo => "the demo desktop".to_owned(),
    };
    let (stop, _) = watch::channel(false);
    let mut loops = Vec::new();
    for l in listeners {
        info!("listening on {scheme}://{} (relaying to {target})", l.describe());
        loops.push(tokio::spawn(listen::accept_loop(l, server.clone(), stop.subscribe())));
    }

    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: shutting down"),
        _ = int.recv() => info!("SIGINT: shutting down"),
    }

    // Stop accepting: the accept loops end and drop their listeners.
    let _ = stop.send(true);
    for l in loops {
        let _ = l.await;
    }
    let open = state.metrics.sessions_active.load(Relaxed);
    if open > 0 {
        info!(sessions = open, "no longer accepting; letting open sessions finish for up to {:?}", args.drain_timeout);
        let deadline = tokio::time::Instant::now() + args.drain_timeout;
        tokio::select! {
            () = sessions_ended(&state) => {}
            () = tokio::time::sleep_until(deadline) => {}
            _ = term.recv() => info!("second signal: closing sessions now"),
            _ = int.recv() => info!("second signal: closing sessions now"),
        }
        let left = state.metrics.sessions_active.load(Relaxed);
        if left > 0 {
            info!(sessions = left, "closing the remaining sessions");
            let _ = state.shutdown.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(12), sessions_ended(&state)).await;
        }
    }
    info!("stopped");
    Ok(())
}

async fn sessions_ended(state: &State) {
    loop {
        let notified = state.idle.notified();
        if state.metrics.sessions_active.load(Relaxed) == 0 {
            return;
        }
        // The timeout only guards against a missed wake-up.
        let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
    }
}

/// `HOST:PORT` to socket addresses (a name can give several, e.g. localhost).
fn resolve(spec: &str) -> anyhow::Result<Vec<SocketAddr>> {
    let spec = spec.trim();
    if spec.parse::<u16>().is_ok() {
        bail!(
            "--listen {spec}: give HOST:PORT (127.0.0.1:{spec} for this machine only, 0.0.0.0:{spec} for all interfaces)"
        );
    }
    let mut addrs: Vec<SocketAddr> = spec
        .to_socket_addrs()
        .map_err(|e| anyhow!("--listen {spec}: {e} (expected HOST:PORT, IPv6 as [::1]:6080)"))?
        .collect();
    addrs.dedup();
    if addrs.is_empty() {
        bail!("--listen {spec}: the name resolves to no address");
    }
    Ok(addrs)
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(v).map_err(|_| format!("{s:?} is not a usable number of seconds"))
}

fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let mult = match t[i..].to_ascii_lowercase().as_str() {
                "b" => 1,
                "k" | "kb" | "kib" => 1 << 10,
                "m" | "mb" | "mib" => 1 << 20,
                "g" | "gb" | "gib" => 1 << 30,
                _ => return Err(format!("{s:?}: unknown unit (use K, M or G)")),
            };
            (&t[..i], mult)
        }
        None => (t, 1),
    };
    let n: usize = num.trim().parse().map_err(|_| format!("{s:?} is not a size in bytes"))?;
    n.checked_mul(mult).filter(|n| *n >= 1).ok_or_else(|| format!("{s:?} is not a usable size"))
}

fn parse_bytes_or_zero(s: &str) -> Result<usize, String> {
    if s.trim() == "0" { Ok(0) } else { parse_bytes(s) }
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim(), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{s:?} is not an octal permission mode such as 600 or 660"))
}

fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let (w, h) = s.trim().split_once(['x', 'X']).ok_or_else(|| format!("{s:?} is not WIDTHxHEIGHT"))?;
    let w: u16 = w.parse().map_err(|_| format!("{s:?}: bad width"))?;
    let h: u16 = h.parse().map_err(|_| format!("{s:?}: bad height"))?;
    if w == 0 || h == 0 || w > crate::demo::MAX_SIDE || h > crate::demo::MAX_SIDE {
        return Err(format!("{s:?}: each side must be 1..={}", crate::demo::MAX_SIDE));
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values() {
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("x").is_err());
        assert_eq!(parse_bytes("4M"), Ok(4 << 20));
        assert_eq!(parse_bytes("64 KiB"), Ok(64 << 10));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("3 parsecs").is_err());
        assert_eq!(parse_size("1280x720"), Ok((1280, 720)));
        assert_eq!(parse_mode("660"), Ok(0o660));
        assert_eq!(parse_mode("0600"), Ok(0o600));
        assert!(parse_mode("800").is_err());
        assert!(parse_mode("7777").is_err());
        assert!(parse_size("0x720").is_err());
        assert!(resolve("6080").is_err());
        assert_eq!(resolve("[::1]:6080").unwrap(), vec!["[::1]:6080".parse().unwrap()]);
    }
}
