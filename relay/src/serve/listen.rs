//! Listening sockets, TLS, and hyper serving our warp filters on each accepted connection.
//!
//! We run hyper ourselves instead of `warp::serve` to get: a large listen backlog, TLS (rustls) on
//! the same port as plain HTTP, a handshake timeout, the peer address as a request extension, and
//! the hyper upgrade handle handed to the WebSocket filter.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};
use warp::filters::BoxedFilter;
use warp::reply::Response;

use super::State;
use super::http::{ConnInfo, UpgradeSlot, wants_websocket};
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
    if let Some(n) = socket_buffer {
        socket.set_send_buffer_size(n as usize)?;
        socket.set_recv_buffer_size(n as usize)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
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
pub async fn accept_loop(listener: TcpListener, server: Server, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        match accepted {
            Ok((sock, peer)) => {
                server.state.metrics.http_connections_total.fetch_add(1, Relaxed);
                let server = server.clone();
                tokio::spawn(async move { server.connection(sock, peer).await });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

impl Server {
    async fn connection(self, sock: TcpStream, peer: SocketAddr) {
        let _ = sock.set_nodelay(true);
        let timeout = self.state.limits.handshake_timeout;
        let conn = ConnInfo { peer };
        let Some(acceptor) = self.tls.clone() else {
            return self.http(sock, conn).await;
        };
        if !self.ssl_only {
            let mut first = [0u8; 1];
            match tokio::time::timeout(timeout, sock.peek(&mut first)).await {
                Ok(Ok(1)) if first[0] != TLS_HANDSHAKE => return self.http(sock, conn).await,
                Ok(Ok(1)) => {}
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
