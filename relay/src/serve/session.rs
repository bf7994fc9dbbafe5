//! One WebSocket session: bytes from the VNC server become binary WebSocket messages and binary
//! messages become bytes to the VNC server, both directions at once, with backpressure (each side
//! awaits the other's socket, nothing is queued without bound). The relay never looks inside the
//! RFB stream.
//!
//! Memory per session is kept small: no read buffer is held while a socket is quiet (one is taken
//! when the socket is readable and given back when it is drained, see [`super::io`]),
//! tungstenite's own read buffer is small (on plain ws:// it is fed from our read-ahead, so the
//! browser's socket is still read 64 KiB per system call), and its write buffer holds at most one
//! message.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::{debug, info};

use super::State;
use super::io::{CHUNK, ClientIo, ReadySocket, poll_read_chunk};
use super::metrics::{CloseReason, Failure};
use super::target::{Conn, Target};
use super::wsout::{ClientSock, Op, RawTx};

/// tungstenite's read granularity. Its buffer is zero-filled up to this size on the first read and
/// kept, so it is most of what an idle session costs.
const WS_READ_BUFFER: usize = 4 * 1024;
/// How long to wait for the client's half of the closing handshake after ours.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// What a WebSocket can run over: the browser's TCP socket, or TLS (any upgraded connection).
pub trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ClientStream for T {}

type WsTx<S> = SplitSink<WebSocketStream<S>, Message>;
type WsRx<S> = SplitStream<WebSocketStream<S>>;

/// A session that passed the handshake checks, waiting for the upgraded connection.
pub struct Plan {
    pub target: Target,
    /// Who the client is, for logs (the X-Forwarded-For client when `--trust-proxy`).
    pub peer: String,
    /// The token, redacted for logs.
    pub token: Option<String>,
    pub slot: Slot,
}

/// One of `--max-connections` places, held from the handshake to the end of the session.
pub struct Slot(Arc<State>);

impl Slot {
    /// Takes a place, or `None` when all are taken.
    pub fn acquire(state: &Arc<State>) -> Option<Slot> {
        let max = state.limits.max_connections;
        state
            .metrics
            .sessions_active
            .fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| Slot(Arc::clone(state)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.0.metrics.sessions_active.fetch_sub(1, Relaxed) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Redacts a token for logs: enough to tell tokens apart, not enough to use one.
pub fn redact(token: &str) -> String {
    let n = token.chars().count();
    if n >= 16 {
        let head: String = token.chars().take(4).collect();
        format!("{head}…({n} chars)")
    } else {
        format!("…({n} chars)")
    }
}

/// What the two directions share.
struct Shared {
    start: Instant,
    /// Milliseconds after `start` of the last data either way.
    last_data_ms: AtomicU64,
    /// Evidence that the browser is alive since the last heartbeat: any message from it (a pong,
    /// data), or a message to it that its TCP stack took. A ping is queued behind the data sent
    /// before it, so on a busy or slow link its pong can take long; the data moving is proof
    /// enough. A dead browser stops both.
    alive: AtomicBool,
    /// Asks the sending direction to send a ping.
    ping: Notify,
    to_client: AtomicU64,
    from_client: AtomicU64,
}

impl Shared {
    fn touch(&self) {
        self.last_data_ms.store(self.start.elapsed().as_millis() as u64, Relaxed);
    }
}

/// How the relaying ended.
enum End {
    TargetEof,
    TargetError(io::Error),
    ClientClose,
    ClientGone,
    Text,
    TooBig,
    Protocol(String),
    Idle,
    SessionLimit,
    Heartbeat,
    Shutdown,
}

impl End {
    fn from_ws(e: tungstenite::Error) -> End {
        use tungstenite::Error as E;
        match e {
            E::Capacity(_) => End::TooBig,
            E::Utf8(_) => End::Text,
            E::ConnectionClosed | E::AlreadyClosed | E::Io(_) => End::ClientGone,
            E::Protocol(p) => End::Protocol(p.to_string()),
            other => End::Protocol(other.to_string()),
        }
    }

    /// The metric label, and the close frame to send (none when the client is gone or closed first).
    fn outcome(&self) -> (CloseReason, Option<(CloseCode, String)>) {
        match self {
            End::TargetEof => {
                (CloseReason::TargetClosed, Some((CloseCode::Normal, "the VNC server closed the connection".into())))
            }
            End::TargetError(e) => (
                CloseReason::TargetError,
                Some((CloseCode::Error, short(format!("VNC server connection failed: {e}")))),
            ),
            End::ClientClose => (CloseReason::ClientClosed, None),
            End::ClientGone => (CloseReason::ClientGone, None),
            End::Text => (
                CloseReason::TextFrame,
                Some((CloseCode::Unsupported, "text messages are not supported; send binary".into())),
            ),
            End::TooBig => (CloseReason::MessageTooBig, Some((CloseCode::Size, "message too big".into()))),
            End::Protocol(p) => (
                CloseReason::ProtocolError,
                Some((CloseCode::Protocol, short(format!("WebSocket protocol error: {p}")))),
            ),
            End::Idle => (CloseReason::IdleTimeout, Some((CloseCode::Policy, "idle timeout".into()))),
            End::SessionLimit => {
                (CloseReason::SessionLimit, Some((CloseCode::Policy, "session time limit reached".into())))
            }
            End::Heartbeat => {
                (CloseReason::HeartbeatTimeout, Some((CloseCode::Away, "no pong to heartbeat ping".into())))
            }
            End::Shutdown => (CloseReason::Shutdown, Some((CloseCode::Away, "server shutting down".into()))),
        }
    }
}

/// A close reason must fit a control frame (123 bytes).
fn short(mut s: String) -> String {
    if s.len() > 123 {
        let mut cut = 120;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn ws_config(state: &State) -> WebSocketConfig {
    let max = state.limits.max_message_size;
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(CHUNK + 64 * 1024)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Runs one session to its end: finishes the upgrade, connects to the target, relays, closes, logs.
pub async fn run(state: Arc<State>, upgrade: OnUpgrade, plan: Plan) {
    let upgraded = match tokio::time::timeout(state.limits.handshake_timeout, upgrade).await {
        Ok(Ok(u)) => u,
        Ok(Err(e)) => {
            state.metrics.fail(Failure::UpgradeFailed);
            debug!(peer = %plan.peer, "websocket upgrade failed: {e}");
            return;
        }
        Err(_) => {
            state.metrics.fail(Failure::UpgradeFailed);
            debug!(peer = %plan.peer, "websocket upgrade timed out");
            return;
        }
    };
    // Plain ws:// gets the browser's socket back from hyper for the read-ahead reads of
    // [`ClientIo`]; anything else (TLS) stays behind hyper's `Upgraded`.
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => {
            let sock = Arc::new(ClientSock::new(parts.io.into_inner()));
            session(state, plan, ClientIo::new(Arc::clone(&sock), parts.read_buf), Some(sock)).await
        }
        Err(upgraded) => session(state, plan, TokioIo::new(upgraded), None).await,
    }
}

/// `raw`: the browser's socket on plain ws://, where the server→browser frames are written
/// without tungstenite (see [`super::wsout`]).
async fn session<S: ClientStream>(state: Arc<State>, plan: Plan, io: S, raw: Option<Arc<ClientSock>>) {
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config(&state))).await;
    state.metrics.sessions_total.fetch_add(1, Relaxed);
    let token = plan.token.as_deref().unwrap_or("-");
    info!(peer = %plan.peer, target = %plan.target, token, "session open");

    let shared = Shared {
        start: Instant::now(),
        last_data_ms: AtomicU64::new(0),
        alive: AtomicBool::new(false),
        ping: Notify::new(),
        to_client: AtomicU64::new(0),
        from_client: AtomicU64::new(0),
    };
    let (mut tx, mut rx) = ws.split();
    let (closed, reason) = match plan
        .target
        .connect(state.limits.connect_timeout, state.limits.socket_buffer, state.demo.as_ref())
        .await
    {
        Err(e) => {
            state.metrics.fail(Failure::TargetUnreachable);
            let reason = short(format!("cannot reach the VNC server: {e}"));
            close(&mut tx, &mut rx, Some((CloseCode::Error, reason.clone()))).await;
            (CloseReason::TargetUnreachable, reason)
        }
        Ok(conn) => {
            let end = match raw {
                Some(sock) => {
                    let mut raw = RawTx::new(sock);
                    let end = relay(&state, &shared, Tx::Raw(&mut raw), &mut rx, conn).await;
                    // What was read from the VNC server goes out before any close frame.
                    match tokio::time::timeout(CLOSE_WAIT, raw.finish()).await {
                        Ok(Ok(())) => end,
                        _ => End::ClientGone,
                    }
                }
                None => relay(&state, &shared, Tx::Ws(&mut tx), &mut rx, conn).await,
            };
            if matches!(end, End::TooBig | End::Text | End::Protocol(_)) {
                state.metrics.fail(Failure::Protocol);
            }
            let (closed, frame) = end.outcome();
            let reason = match (&end, &frame) {
                (_, Some((_, r))) => r.clone(),
                (End::ClientClose, None) => "the browser closed the connection".to_owned(),
                _ => "the browser went away".to_owned(),
            };
            if matches!(end, End::ClientClose) {
                // tungstenite queued the reply to the client's close; send it.
                let _ = tokio::time::timeout(CLOSE_WAIT, tx.close()).await;
            } else {
                close(&mut tx, &mut rx, frame).await;
            }
            (closed, reason)
        }
    };
    state.metrics.closed(closed);
    info!(
        peer = %plan.peer,
        target = %plan.target,
        token,
        to_client = shared.to_client.load(Relaxed),
        from_client = shared.from_client.load(Relaxed),
        duration = ?shared.start.elapsed(),
        reason = closed.label(),
        detail = %reason,
        "session closed"
    );
    drop(plan.slot);
}

/// Sends our close frame and waits (bounded) for the client's, reading and dropping whatever it
/// still sends so that closing our socket does not reset data the client has yet to read.
async fn close<S: ClientStream>(tx: &mut WsTx<S>, rx: &mut WsRx<S>, frame: Option<(CloseCode, String)>) {
    let Some((code, reason)) = frame else { return };
    let frame = CloseFrame { code, reason: reason.into() };
    if tokio::time::timeout(CLOSE_WAIT, tx.send(Message::Close(Some(frame)))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(m)) = rx.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
}

/// Where server→browser data goes: tungstenite, or the raw writer of plain ws:// sessions.
enum Tx<'a, S: ClientStream> {
    Ws(&'a mut WsTx<S>),
    Raw(&'a mut RawTx),
}

async fn relay<S: ClientStream>(state: &State, sh: &Shared, tx: Tx<'_, S>, rx: &mut WsRx<S>, conn: Conn) -> End {
    match conn {
        Conn::Tcp(mut s) => {
            let (r, w) = s.split();
            pump(state, sh, tx, rx, SocketRead(r.as_ref()), w).await
        }
        Conn::Unix(mut s) => {
            let (r, w) = s.split();
            pump(state, sh, tx, rx, SocketRead(r.as_ref()), w).await
        }
        Conn::Duplex(s) => {
            let (r, w) = tokio::io::split(s);
            pump(state, sh, tx, rx, r, w).await
        }
    }
}

async fn pump<S, R, W>(state: &State, sh: &Shared, tx: Tx<'_, S>, rx: &mut WsRx<S>, r: R, w: W) -> End
where
    S: ClientStream,
    R: ChunkRead,
    W: AsyncWrite + Unpin,
{
    let mut shutdown = state.shutdown.subscribe();
    tokio::select! {
        end = client_to_target(state, sh, rx, w) => end,
        end = async {
            match tx {
                Tx::Ws(tx) => target_to_client(state, sh, tx, r).await,
                Tx::Raw(raw) => target_to_client_raw(state, sh, raw, r).await,
            }
        } => end,
        end = limits(state, sh, &mut shutdown) => end,
    }
}

async fn client_to_target<S: ClientStream, W: AsyncWrite + Unpin>(
    state: &State,
    sh: &Shared,
    rx: &mut WsRx<S>,
    mut w: W,
) -> End {
    let mut target_writable = true;
    loop {
        let msg = match rx.next().await {
            None => return End::ClientGone,
            Some(Err(e)) => return End::from_ws(e),
            Some(Ok(m)) => m,
        };
        sh.alive.store(true, Relaxed);
        match msg {
            Message::Binary(data) => {
                sh.touch();
                if target_writable {
                    if let Err(e) = w.write_all(&data).await {
                        // The VNC server is going away; the other direction sees it end and
                        // delivers what it had sent. Keep reading (and dropping) meanwhile.
                        debug!("write to VNC server failed: {e}");
                        target_writable = false;
                        continue;
                    }
                    sh.from_client.fetch_add(data.len() as u64, Relaxed);
                    state.metrics.bytes_from_client.fetch_add(data.len() as u64, Relaxed);
                }
            }
            Message::Text(_) => return End::Text,
            // tungstenite answers pings itself; a pong is what `alive` is set for below.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            Message::Close(_) => return End::ClientClose,
        }
    }
}

async fn target_to_client<S: ClientStream, R: ChunkRead>(
    state: &State,
    sh: &Shared,
    tx: &mut WsTx<S>,
    mut r: R,
) -> End {
    let mut buf = BytesMut::new();
    loop {
        tokio::select! {
            read = std::future::poll_fn(|cx| r.poll_chunk(cx, &mut buf)) => match read {
                Ok(0) => return End::TargetEof,
                Ok(n) => {
                    let chunk = buf.split().freeze();
                    if let Err(e) = tx.send(Message::Binary(chunk)).await {
                        return End::from_ws(e);
                    }
                    sh.touch();
                    sh.alive.store(true, Relaxed);
                    sh.to_client.fetch_add(n as u64, Relaxed);
                    state.metrics.bytes_to_client.fetch_add(n as u64, Relaxed);
                }
                Err(e) => return End::TargetError(e),
            },
            () = sh.ping.notified() => {
                if let Err(e) = tx.send(Message::Ping(bytes::Bytes::from_static(b"oxvnc"))).await {
                    return End::from_ws(e);
                }
            }
        }
    }
}

/// What woke the raw writer.
enum Next {
    Ping,
    Control,
    Read(io::Result<usize>),
}

/// [`target_to_client`] for plain ws:// sessions: frames written by [`RawTx`], spliced during
/// bulk transfers when the target is a socket.
async fn target_to_client_raw<R: ChunkRead>(state: &State, sh: &Shared, raw: &mut RawTx, mut r: R) -> End {
    let mut buf = BytesMut::new();
    loop {
        // Whatever is owed goes out first (cancel-safe: the progress lives in `raw`).
        if let Err(e) = std::future::poll_fn(|cx| raw.poll_flush(cx)).await {
            debug!("write to browser failed: {e}");
            return End::ClientGone;
        }
        let ping = sh.ping.notified();
        let mut ping = std::pin::pin!(ping);
        let next = std::future::poll_fn(|cx| {
            if ping.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Next::Ping);
            }
            if raw.poll_ctrl(cx).is_ready() {
                return Poll::Ready(Next::Control);
            }
            let read = if raw.wants_splice() {
                match r.poll_splice(cx, raw) {
                    Some(p) => p,
                    None => r.poll_chunk(cx, &mut buf),
                }
            } else {
                r.poll_chunk(cx, &mut buf)
            };
            read.map(Next::Read)
        })
        .await;
        match next {
            Next::Ping => raw.start(Op::Ping, bytes::Bytes::from_static(b"oxvnc")),
            Next::Control => {}
            Next::Read(Ok(0)) => return End::TargetEof,
            Next::Read(Ok(n)) => {
                if !buf.is_empty() {
                    raw.note_read(n);
                    raw.start(Op::Binary, buf.split().freeze());
                }
                sh.touch();
                sh.alive.store(true, Relaxed);
                sh.to_client.fetch_add(n as u64, Relaxed);
                state.metrics.bytes_to_client.fetch_add(n as u64, Relaxed);
            }
            Next::Read(Err(e)) => return End::TargetError(e),
        }
    }
}

/// Idle timeout, session time limit, heartbeat, and the end of the drain after SIGTERM.
async fn limits(state: &State, sh: &Shared, shutdown: &mut tokio::sync::watch::Receiver<bool>) -> End {
    let lim = &state.limits;
    let session_end = lim.max_session.map(|d| sh.start + d);
    let mut next_beat = lim.heartbeat.map(|d| sh.start + d);
    let mut ping_outstanding = false;
    let idle_end = || lim.idle_timeout.map(|d| sh.start + Duration::from_millis(sh.last_data_ms.load(Relaxed)) + d);
    loop {
        let next = [session_end, idle_end(), next_beat].into_iter().flatten().min();
        tokio::select! {
            () = sleep_until(next) => {
                let now = Instant::now();
                if session_end.is_some_and(|t| now >= t) {
                    return End::SessionLimit;
                }
                if idle_end().is_some_and(|t| now >= t) {
                    return End::Idle;
                }
                if let (Some(beat), Some(every)) = (next_beat, lim.heartbeat) {
                    if now >= beat {
                        // No pong, no message and no data taken since the last ping: gone.
                        if !sh.alive.swap(false, Relaxed) && ping_outstanding {
                            return End::Heartbeat;
                        }
                        ping_outstanding = true;
                        sh.ping.notify_one();
                        next_beat = Some(now + every);
                    }
                }
            }
            ended = async { shutdown.wait_for(|now| *now).await.is_ok() } => {
                if ended {
                    return End::Shutdown;
                }
                // The sender is gone: no shutdown can come.
                std::future::pending::<()>().await;
            }
        }
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Reads what the VNC server sent into `buf` (a fresh chunk of up to [`CHUNK`] bytes); `Ok(0)` at
/// the end. Cancel-safe: nothing read is lost when the caller stops polling.
trait ChunkRead: Send {
    fn poll_chunk(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>>;

    /// Splices the next chunk into `raw`'s pipe and queues it as a frame; `None` when this
    /// source cannot be spliced.
    fn poll_splice(&mut self, _cx: &mut Context<'_>, _raw: &mut RawTx) -> Option<Poll<io::Result<usize>>> {
        None
    }
}

/// TCP and Unix sockets: see [`poll_read_chunk`].
struct SocketRead<'a, T>(&'a T);

impl<T: ReadySocket> ChunkRead for SocketRead<'_, T> {
    fn poll_chunk(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
        poll_read_chunk(self.0, cx, buf)
    }

    fn poll_splice(&mut self, cx: &mut Context<'_>, raw: &mut RawTx) -> Option<Poll<io::Result<usize>>> {
        Some(raw.poll_splice_from(self.0, cx))
    }
}

/// The in-process demo server.
impl ChunkRead for tokio::io::ReadHalf<DuplexStream> {
    fn poll_chunk(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
        buf.reserve(CHUNK);
        let spare = buf.spare_capacity_mut();
        let mut rb = ReadBuf::uninit(spare);
        ready!(std::pin::Pin::new(self).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        // SAFETY: poll_read initialised the first `n` bytes of the spare room.
        unsafe { buf.set_len(buf.len() + n) };
        Poll::Ready(Ok(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_tokens() {
        assert_eq!(redact("0123456789abcdef0123"), "0123…(20 chars)");
        assert_eq!(redact("secret"), "…(6 chars)");
        assert!(!redact("0123456789abcdef0123").contains("abcdef"));
    }

    #[test]
    fn close_reasons_fit_a_control_frame() {
        assert!(short("x".repeat(500)).len() <= 123);
        assert!(short("é".repeat(100)).len() <= 123);
        assert_eq!(short("ok".into()), "ok");
        let (_, frame) = End::TargetError(io::Error::other("y".repeat(300))).outcome();
        assert!(frame.unwrap().1.len() <= 123);
    }
}
