//! The server→browser direction of plain `ws://` sessions, written without tungstenite.
//!
//! Server frames are not masked, so a binary message is a 2–10 byte header followed by the VNC
//! server's bytes as they are. Small reads go out as one `sendmsg` of header + payload; during
//! bulk transfers (a read that filled a whole chunk) the payload never enters user space: it is
//! `splice(2)`d from the VNC server's socket into a pipe and from the pipe into the browser's
//! socket, after the header was sent with `MSG_MORE`. That removes both copies through the
//! relay's memory, which is most of the relay's CPU in this direction.
//!
//! tungstenite still reads the browser's messages, and it writes frames of its own while
//! reading (pong replies, the reply to a close). While a [`RawTx`] owns the socket those writes
//! are queued in [`ClientSock`] (bounded) and sent by the writer between two data frames, so
//! frames never interleave. When the writer is done ([`RawTx::finish`]) tungstenite writes
//! straight to the socket again (our close frame, the closing handshake).

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use bytes::Bytes;
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::io::{CHUNK, ReadySocket};

/// Most control-frame bytes tungstenite may queue while a data frame is being written: a
/// browser that floods pings without reading is cut off instead of growing the queue.
const CTRL_MAX: usize = 64 * 1024;
/// A read at least this large means bulk transfer: the next reads are spliced.
const SPLICE_AFTER: usize = CHUNK / 2;
/// The most spliced into one frame.
const SPLICE_CHUNK: usize = 4 * CHUNK;

/// The browser's TCP socket, shared by tungstenite (reads, control frames) and [`RawTx`].
pub struct ClientSock {
    pub sock: TcpStream,
    ctrl: Mutex<Ctrl>,
}

#[derive(Default)]
struct Ctrl {
    /// Frames tungstenite wrote while the writer owns the socket.
    out: Vec<u8>,
    /// The writer, to wake when `out` grows.
    waker: Option<Waker>,
    /// A writer owns the socket: tungstenite's writes are queued.
    owned: bool,
}

impl ClientSock {
    pub fn new(sock: TcpStream) -> ClientSock {
        ClientSock { sock, ctrl: Mutex::new(Ctrl::default()) }
    }

    fn ctrl(&self) -> MutexGuard<'_, Ctrl> {
        self.ctrl.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// tungstenite's write: queued while a writer owns the socket, else straight through.
    pub fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        {
            let mut c = self.ctrl();
            if c.owned {
                if c.out.len() + data.len() > CTRL_MAX {
                    return Poll::Ready(Err(io::Error::other("the browser does not read its control frames")));
                }
                c.out.extend_from_slice(data);
                if let Some(w) = c.waker.take() {
                    w.wake();
                }
                return Poll::Ready(Ok(data.len()));
            }
        }
        poll_io(&self.sock, cx, Interest::WRITABLE, || self.sock.try_write(data))
    }

    pub fn poll_write_vectored(&self, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        if self.ctrl().owned {
            // Rare (tungstenite writes whole buffers): take the first non-empty slice.
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
            return self.poll_write(cx, first);
        }
        poll_io(&self.sock, cx, Interest::WRITABLE, || self.sock.try_write_vectored(bufs))
    }
}

/// Waits for `interest` and runs `f` until it does not return `WouldBlock` (which clears the
/// readiness, so the next wait really waits).
fn poll_io<R>(
    sock: &TcpStream,
    cx: &mut Context<'_>,
    interest: Interest,
    mut f: impl FnMut() -> io::Result<R>,
) -> Poll<io::Result<R>> {
    loop {
        if interest.is_writable() {
            ready!(sock.poll_write_ready(cx))?;
        } else {
            ready!(sock.poll_read_ready(cx))?;
        }
        match sock.try_io(interest, &mut f) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return Poll::Ready(r),
        }
    }
}

/// WebSocket opcodes the writer sends.
#[derive(Clone, Copy)]
pub enum Op {
    Binary = 0x2,
    Ping = 0x9,
}

/// A frame header: FIN, the opcode, the unmasked payload length.
fn header(op: Op, len: usize) -> ([u8; 10], u8) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | op as u8;
    let n = if len < 126 {
        h[1] = len as u8;
        2
    } else if len <= 0xffff {
        h[1] = 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (h, n)
}

/// How many leading bytes of `buf` are whole frames.
fn whole_frames(buf: &[u8]) -> usize {
    let mut at = 0;
    loop {
        let b = &buf[at..];
        if b.len() < 2 {
            return at;
        }
        let mask = if b[1] & 0x80 != 0 { 4 } else { 0 };
        let (head, len) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (4, u16::from_be_bytes([b[2], b[3]]) as u64),
            127 if b.len() >= 10 => (10, u64::from_be_bytes(b[2..10].try_into().expect("8 bytes"))),
            126 | 127 => return at,
            n => (2, n as u64),
        };
        let total = (head + mask) as u64 + len;
        if (b.len() as u64) < total {
            return at;
        }
        at += total as usize;
    }
}

/// A data frame on its way out.
struct Frame {
    head: [u8; 10],
    head_len: u8,
    head_done: u8,
    body: Body,
    body_done: usize,
}

enum Body {
    Bytes(Bytes),
    /// That many bytes waiting in the pipe.
    Piped(usize),
}

impl Body {
    fn len(&self) -> usize {
        match self {
            Body::Bytes(b) => b.len(),
            Body::Piped(n) => *n,
        }
    }
}

/// A pipe for splicing (both ends non-blocking).
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    /// How much one splice into it may ask for.
    chunk: usize,
}

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded; the descriptors are ours alone.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // Bulk frames of up to SPLICE_CHUNK: fewer wake-ups and system calls per byte. The pipe
        // is grown to hold them (best effort: pipe-max-size may forbid it; then the default 64
        // KiB pipe and chunk).
        // SAFETY: plain fcntl on a descriptor we own.
        let size = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, SPLICE_CHUNK as libc::c_int) };
        let chunk = if size >= SPLICE_CHUNK as libc::c_int { SPLICE_CHUNK } else { CHUNK };
        Ok(Pipe { read, write, chunk })
    }
}

fn splice(from: &impl AsFd, to: &impl AsFd, len: usize) -> io::Result<usize> {
    // SAFETY: splice between two descriptors we hold; no user memory involved.
    let n = unsafe {
        libc::splice(
            from.as_fd().as_raw_fd(),
            std::ptr::null_mut(),
            to.as_fd().as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
}

/// The writer of one session's server→browser frames.
pub struct RawTx {
    sock: Arc<ClientSock>,
    /// The first `ctrl_owed` bytes of the control queue belong to frames begun on the wire.
    ctrl_owed: usize,
    frame: Option<Frame>,
    pipe: Option<Pipe>,
    /// The last read filled half a chunk or more: splice the next one.
    bulk: bool,
}

impl RawTx {
    /// Takes the socket from tungstenite's writes (they are queued from now on).
    pub fn new(sock: Arc<ClientSock>) -> RawTx {
        sock.ctrl().owned = true;
        RawTx { sock, ctrl_owed: 0, frame: None, pipe: None, bulk: false }
    }

    /// Whether the next read should be spliced (bulk transfer on a socket target).
    pub fn wants_splice(&self) -> bool {
        self.bulk
    }

    /// Notes how much the last read brought.
    pub fn note_read(&mut self, n: usize) {
        self.bulk = n >= SPLICE_AFTER;
    }

    /// Queues a frame; call only when [`RawTx::poll_flush`] has finished.
    pub fn start(&mut self, op: Op, payload: Bytes) {
        self.begin(op, Body::Bytes(payload));
    }

    fn begin(&mut self, op: Op, body: Body) {
        debug_assert!(self.frame.is_none());
        let (head, head_len) = header(op, body.len());
        self.frame = Some(Frame { head, head_len, head_done: 0, body, body_done: 0 });
    }

    /// Moves what the VNC server sent (up to a chunk) from `src` into the pipe and queues it as
    /// one binary frame; `Ok(0)` is the end of the stream. Call only when flushed.
    pub fn poll_splice_from<S: ReadySocket>(&mut self, src: &S, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.pipe.is_none() {
            self.pipe = Some(Pipe::new()?);
        }
        let pipe = self.pipe.as_ref().expect("just made");
        let n = loop {
            ready!(src.poll_read_ready(cx))?;
            match src.try_io(Interest::READABLE, || splice(&src.as_fd(), &pipe.write, pipe.chunk)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => break r?,
            }
        };
        if n > 0 {
            self.note_read(n);
            self.begin(Op::Binary, Body::Piped(n));
        }
        Poll::Ready(Ok(n))
    }

    /// Ready when tungstenite has queued whole control frames to send.
    pub fn poll_ctrl(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut c = self.sock.ctrl();
        if whole_frames(&c.out) > 0 {
            Poll::Ready(())
        } else {
            c.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// Writes everything owed: control frames begun, the data frame under way, then any
    /// control frames queued. Cancel-safe: progress is kept in `self`.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.ctrl_owed > 0 {
                let sock = Arc::clone(&self.sock);
                let n = {
                    let owed = self.ctrl_owed;
                    ready!(poll_io(&sock.sock, cx, Interest::WRITABLE, || {
                        let c = sock.ctrl();
                        sock.sock.try_write(&c.out[..owed])
                    }))?
                };
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                sock.ctrl().out.drain(..n);
                self.ctrl_owed -= n;
                continue;
            }
            if let Some(f) = &mut self.frame {
                let sock = &self.sock.sock;
                let head = &f.head[f.head_done as usize..f.head_len as usize];
                match &f.body {
                    Body::Bytes(b) => {
                        let body = &b[f.body_done..];
                        let n = ready!(poll_io(sock, cx, Interest::WRITABLE, || {
                            SockRef::from(sock).send_vectored(&[io::IoSlice::new(head), io::IoSlice::new(body)])
                        }))?;
                        if n == 0 && head.len() + body.len() > 0 {
                            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                        }
                        let h = n.min(head.len());
                        f.head_done += h as u8;
                        f.body_done += n - h;
                    }
                    Body::Piped(len) => {
                        if !head.is_empty() {
                            let n = ready!(poll_io(sock, cx, Interest::WRITABLE, || {
                                SockRef::from(sock).send_with_flags(head, libc::MSG_MORE)
                            }))?;
                            f.head_done += n as u8;
                            continue;
                        }
                        let pipe = self.pipe.as_ref().expect("piped data has a pipe");
                        let want = len - f.body_done;
                        let n = ready!(poll_io(sock, cx, Interest::WRITABLE, || splice(&pipe.read, sock, want)))?;
                        if n == 0 && want > 0 {
                            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                        }
                        f.body_done += n;
                    }
                }
                if f.head_done == f.head_len && f.body_done == f.body.len() {
                    self.frame = None;
                }
                continue;
            }
            let queued = whole_frames(&self.sock.ctrl().out);
            if queued == 0 {
                return Poll::Ready(Ok(()));
            }
            self.ctrl_owed = queued;
        }
    }

    /// Writes what is owed, then gives the socket back to tungstenite.
    pub async fn finish(&mut self) -> io::Result<()> {
        let r = std::future::poll_fn(|cx| self.poll_flush(cx)).await;
        self.release();
        r
    }

    fn release(&mut self) {
        // Mid-frame (the flush failed or was cut short), nothing more may follow on this stream.
        let mid_frame = self.ctrl_owed > 0 || self.frame.is_some();
        {
            let mut c = self.sock.ctrl();
            c.owned = false;
            c.waker = None;
            c.out.clear();
        }
        if mid_frame {
            let _ = SockRef::from(&self.sock.sock).shutdown(std::net::Shutdown::Write);
        }
        self.ctrl_owed = 0;
        self.frame = None;
    }
}

impl Drop for RawTx {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_carry_the_length_in_the_smallest_form() {
        assert_eq!(&header(Op::Binary, 5).0[..2], &[0x82, 5]);
        let (h, n) = header(Op::Binary, 300);
        assert_eq!(&h[..n as usize], &[0x82, 126, 1, 44]);
        let (h, n) = header(Op::Ping, 70_000);
        assert_eq!(&h[..n as usize], &[0x89, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    }

    #[test]
    fn whole_frames_stops_before_an_incomplete_one() {
        let mut buf = vec![0x8a, 2, b'h', b'i'];
        let (h, n) = header(Op::Binary, 200);
        buf.extend_from_slice(&h[..n as usize]);
        buf.extend_from_slice(&[7; 150]);
        assert_eq!(whole_frames(&buf), 4);
        buf.extend_from_slice(&[7; 50]);
        assert_eq!(whole_frames(&buf), buf.len());
        assert_eq!(whole_frames(&[0x88]), 0);
        assert_eq!(whole_frames(&[0x82, 126, 1]), 0);
    }
}
