//! Listening sockets, TLS, and hyper serving our warp filters on each accepted connection.
//!
//! We run hyper ourselves instead of `warp::serve` to get: a large listen backlog, TLS (rustls) on
//! the same port as plain HTTP, a handshake timeout, the peer address as a request extension, and
//! the hyper upgrade handle handed to the WebSocket filter.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite, Interest};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};
use warp::filters::BoxedFilter;
use warp::reply::Response;

use super::State;
use super::http::{ConnInfo, Peer, UpgradeSlot, wants_websocket};
use super::metrics::Failure;

/// Listen backlog: enough for a few thousand clients connecting at the same instant.
const BACKLOG: i32 = 4096;
/// The first byte of a TLS connection (a handshake record).
const TLS_HANDSHAKE: u8 = 0x16;

/// Binds a listening socket with a large backlog (IPv6 sockets are IPv6-only, so `[::]` and
/// `0.0.0.0` can both be given).
/// `socket_buffer` sets SO_SNDBUF/SO_RCVBUF, inherited by accepted sockets (`None`: the kernel's
/// autotuning).
pub fn bind(addr: SocketAddr, socket_buffer: Option<u32>) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    set_buffers(socket2::SockRef::from(&socket), socket_buffer)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// SO_SNDBUF/SO_RCVBUF of a listening socket, which accepted sockets inherit (`None`: leave
/// the kernel's autotuning).
fn set_buffers(socket: socket2::SockRef<'_>, socket_buffer: Option<u32>) -> io::Result<()> {
    if let Some(n) = socket_buffer {
        socket.set_send_buffer_size(n as usize)?;
        socket.set_recv_buffer_size(n as usize)?;
    }
    Ok(())
}

/// Binds a Unix socket at `path` (for a reverse proxy on the same machine) with permissions
/// `mode`. A socket file left there by a relay that is gone is replaced; a live one (something
/// accepts on it) or a file that is not a socket is an error, never removed.
pub fn bind_unix(path: &Path, mode: u32) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(io::ErrorKind::AddrInUse, "another process is listening on this socket"));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)?,
            Err(e) => return Err(e),
        },
        Ok(_) => return Err(io::Error::new(io::ErrorKind::AlreadyExists, "the path exists and is not a socket")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    // Created with the umask's permissions (never more than 0777 & !umask), then narrowed or
    // widened to `mode` before anyone is accepted.
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    socket.listen(BACKLOG)?;
    UnixListener::from_std(socket.into())
}

/// A bound listener: TCP, or a Unix socket whose file is removed when the listener is dropped
/// (when we made it: a service manager's socket stays).
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, Option<RemoveOnDrop>),
}

/// A listening socket passed by a service manager (systemd socket activation: LISTEN_FDS).
pub enum Inherited {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// The listening sockets a service manager passed (none without LISTEN_FDS for this process).
/// Call before starting threads: it clears LISTEN_FDS and LISTEN_PID, as sd_listen_fds does.
pub fn inherited_listeners() -> anyhow::Result<Vec<Inherited>> {
    let mut fds = listenfd::ListenFd::from_env();
    let mut out = Vec::new();
    for i in 0..fds.len() {
        if let Ok(Some(l)) = fds.take_tcp_listener(i) {
            out.push(Inherited::Tcp(l));
        } else if let Ok(Some(l)) = fds.take_unix_listener(i) {
            out.push(Inherited::Unix(l));
        } else {
            anyhow::bail!(
                "socket {} of the {} the service manager passed (LISTEN_FDS) is not a TCP or Unix stream socket",
                i + 1,
                fds.len()
            );
        }
    }
    Ok(out)
}

impl Inherited {
    /// As a listener of ours (non-blocking, on the runtime); a TCP one gets `--socket-buffer`
    /// as the relay's own do.
    pub fn into_listener(self, socket_buffer: Option<u32>) -> io::Result<Listener> {
        match self {
            Inherited::Tcp(l) => {
                set_buffers(socket2::SockRef::from(&l), socket_buffer)?;
                l.set_nonblocking(true)?;
                TcpListener::from_std(l).map(Listener::Tcp)
            }
            Inherited::Unix(l) => {
                l.set_nonblocking(true)?;
                UnixListener::from_std(l).map(|l| Listener::Unix(l, None))
            }
        }
    }
}

impl Listener {
    /// Where it listens, for the log: `127.0.0.1:6080` or `unix:/run/oxvnc.sock`.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l.local_addr().map_or_else(|e| format!("? ({e})"), |a| a.to_string()),
            Listener::Unix(_, Some(path)) => format!("unix:{}", path.0.display()),
            Listener::Unix(l, None) => {
                match l.local_addr().ok().and_then(|a| a.as_pathname().map(|p| p.display().to_string())) {
                    Some(path) => format!("unix:{path} (from the service manager)"),
                    None => "unix: (from the service manager)".into(),
                }
            }
        }
    }
}

/// Removes the Unix socket file we bound, when the listener goes away.
pub struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// How connections on a listener are served.
#[derive(Clone)]
pub struct Server {
    pub state: Arc<State>,
    pub routes: BoxedFilter<(Response,)>,
    pub tls: Option<TlsAcceptor>,
    /// With TLS configured, refuse plain HTTP instead of serving both on the port.
    pub ssl_only: bool,
}

/// Accepts until `stop` turns true.
pub async fn accept_loop(listener: Listener, server: Server, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            r = accept(&listener) => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        match accepted {
            Ok(sock) => {
                server.state.metrics.http_connections_total.fetch_add(1, Relaxed);
                let server = server.clone();
                tokio::spawn(async move {
                    match sock {
                        Accepted::Tcp(sock, peer) => {
                            let _ = sock.set_nodelay(true);
                            server.connection(sock, Peer::Tcp(peer)).await
                        }
                        Accepted::Unix(sock) => server.connection(sock, Peer::Unix).await,
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

enum Accepted {
    Tcp(TcpStream, SocketAddr),
    Unix(UnixStream),
}

async fn accept(listener: &Listener) -> io::Result<Accepted> {
    match listener {
        Listener::Tcp(l) => l.accept().await.map(|(s, peer)| Accepted::Tcp(s, peer)),
        Listener::Unix(l, _) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
    }
}

/// A stream whose first byte can be looked at without taking it (to tell TLS from plain HTTP).
trait PeekFirst: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    fn peek_first(&self) -> impl Future<Output = io::Result<u8>> + Send;
}

impl PeekFirst for TcpStream {
    async fn peek_first(&self) -> io::Result<u8> {
        let mut first = [0u8; 1];
        match self.peek(&mut first).await? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(first[0]),
        }
    }
}

impl PeekFirst for UnixStream {
    async fn peek_first(&self) -> io::Result<u8> {
        use std::os::fd::AsRawFd;
        let fd = self.as_raw_fd();
        self.async_io(Interest::READABLE, || {
            let mut first = 0u8;
            // SAFETY: a one-byte buffer we own, on a socket this stream owns.
            let n = unsafe { libc::recv(fd, (&raw mut first).cast(), 1, libc::MSG_PEEK) };
            match n {
                1 => Ok(first),
                0 => Err(io::ErrorKind::UnexpectedEof.into()),
                _ => Err(io::Error::last_os_error()),
            }
        })
        .await
    }
}

impl Server {
    async fn connection(self, sock: impl PeekFirst, peer: Peer) {
        let timeout = self.state.limits.handshake_timeout;
        let conn = ConnInfo { peer };
        let Some(acceptor) = self.tls.clone() else {
            return self.http(sock, conn).await;
        };
        if !self.ssl_only {
            match tokio::time::timeout(timeout, sock.peek_first()).await {
                Ok(Ok(first)) if first != TLS_HANDSHAKE => return self.http(sock, conn).await,
                Ok(Ok(_)) => {}
                _ => return,
            }
        }
        match tokio::time::timeout(timeout, acceptor.accept(sock)).await {
            Ok(Ok(tls)) => self.http(tls, conn).await,
            Ok(Err(e)) => {
                self.state.metrics.fail(Failure::TlsHandshake);
                debug!(%peer, "TLS handshake failed: {e}");
            }
            Err(_) => {
                self.state.metrics.fail(Failure::TlsHandshake);
                debug!(%peer, "TLS handshake timed out");
            }
        }
    }

    async fn http<IO>(self, io: IO, conn: ConnInfo)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let timeout = self.state.limits.handshake_timeout;
        let service = Service { routes: self.routes, conn };
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            // Also closes keep-alive connections that send no next request.
            .header_read_timeout(timeout)
            .max_buf_size(64 * 1024);
        if let Err(e) = builder.serve_connection(TokioIo::new(io), service).with_upgrades().await {
            debug!(peer = %conn.peer, "HTTP connection ended: {e}");
        }
    }
}

/// Our hyper service: adds the connection's details (and, for WebSocket handshakes, the upgrade
/// handle) to the request, then runs the warp filters.
struct Service {
    routes: BoxedFilter<(Response,)>,
    conn: ConnInfo,
}

impl hyper::service::Service<http::Request<Incoming>> for Service {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut req: http::Request<Incoming>) -> Self::Future {
        if wants_websocket(req.headers()) {
            let on_upgrade = hyper::upgrade::on(&mut req);
            req.extensions_mut().insert(UpgradeSlot::new(on_upgrade));
        }
        req.extensions_mut().insert(self.conn);
        let mut svc = warp::service(self.routes.clone());
        Box::pin(tower_service::Service::call(&mut svc, req))
    }
}
