//! Socket reads for the hot path: big reads into a buffer that exists only while data is
//! waiting, and no wasted `EAGAIN` read after each chunk.
//!
//! A read that returns less than it asked for has drained the socket. We then clear tokio's
//! readiness flag ourselves (returning `WouldBlock` from `try_io`), so the next wait goes straight
//! to epoll instead of costing one more read that returns `EAGAIN`. tokio only clears the flag if
//! no new readiness event came in meanwhile, so no wake-up is lost.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use super::wsout::ClientSock;

/// The most read from a socket at once.
pub const CHUNK: usize = 64 * 1024;

/// The tokio sockets we read this way.
pub trait ReadySocket: AsFd + Sync {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R>;
}

macro_rules! ready_socket {
    ($t:ty) => {
        impl ReadySocket for $t {
            fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                <$t>::poll_read_ready(self, cx)
            }
            fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
                <$t>::try_io(self, interest, f)
            }
        }
    };
}

ready_socket!(TcpStream);
ready_socket!(UnixStream);

/// One read into `buf`'s spare room (which must not be empty) once the socket is readable.
/// `Ok(0)` is the end of the stream.
fn poll_recv<S: ReadySocket>(sock: &S, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
    loop {
        ready!(sock.poll_read_ready(cx))?;
        let mut got = 0;
        let res = sock.try_io(Interest::READABLE, || {
            let spare: &mut [MaybeUninit<u8>] = buf.spare_capacity_mut();
            let want = spare.len();
            got = SockRef::from(sock).recv(spare)?;
            // SAFETY: recv initialised the first `got` bytes of the spare room.
            unsafe { buf.set_len(buf.len() + got) };
            if got > 0 && got < want { Err(io::ErrorKind::WouldBlock.into()) } else { Ok(()) }
        });
        match res {
            Ok(()) => return Poll::Ready(Ok(got)),
            // Drained: readiness is cleared, the data is ours.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => {
                return Poll::Ready(Ok(got));
            }
            // Spurious readiness: wait again.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// Reads what is waiting on `sock` into `buf` (up to [`CHUNK`] bytes), taking a buffer only once
/// the socket is readable and giving it back when the socket is drained. Cancel-safe.
#[cfg(test)]
pub async fn read_chunk<S: ReadySocket>(sock: &S, buf: &mut BytesMut) -> io::Result<usize> {
    std::future::poll_fn(|cx| poll_read_chunk(sock, cx, buf)).await
}

/// [`read_chunk`] as a poll function.
pub fn poll_read_chunk<S: ReadySocket>(sock: &S, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
    if buf.capacity() == 0 {
        ready!(sock.poll_read_ready(cx))?;
    }
    buf.reserve(CHUNK);
    match poll_recv(sock, cx, buf) {
        Poll::Pending => {
            // Nothing waiting: hold no buffer while idle.
            *buf = BytesMut::new();
            Poll::Pending
        }
        done => done,
    }
}

/// The browser's TCP connection as tungstenite sees it: reads come from a read-ahead buffer
/// filled [`CHUNK`] bytes per system call (tungstenite itself asks for a few KiB at a time) and
/// released once the socket is drained and the buffer consumed; writes go straight through.
pub struct ClientIo {
    sock: Arc<ClientSock>,
    buf: BytesMut,
    /// The last read left the socket empty: drop the buffer once it is consumed.
    drained: bool,
}

impl ClientIo {
    /// `pre`: bytes hyper had already read past the HTTP request.
    pub fn new(sock: Arc<ClientSock>, pre: Bytes) -> ClientIo {
        ClientIo { sock, buf: BytesMut::from(&pre[..]), drained: true }
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, dst: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if dst.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.buf.is_empty() {
            if this.drained || this.buf.capacity() == 0 {
                this.buf = BytesMut::new();
                ready!(this.sock.sock.poll_read_ready(cx))?;
            }
            this.buf.reserve(CHUNK);
            let cap = this.buf.capacity();
            match poll_recv(&this.sock.sock, cx, &mut this.buf) {
                Poll::Ready(Ok(0)) => {
                    this.buf = BytesMut::new();
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Ok(n)) => this.drained = n < cap,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    this.buf = BytesMut::new();
                    return Poll::Pending;
                }
            }
        }
        let n = this.buf.len().min(dst.remaining());
        dst.put_slice(&this.buf[..n]);
        this.buf.advance(n);
        if this.buf.is_empty() && this.drained {
            this.buf = BytesMut::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.sock.poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.sock.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(SockRef::from(&self.sock.sock).shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair() -> (TcpStream, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn read_chunk_reads_everything_and_holds_no_buffer_when_idle() {
        let (mut a, b) = pair().await;
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let writer = {
            let data = data.clone();
            tokio::spawn(async move {
                a.write_all(&data).await.unwrap();
                a
            })
        };
        let mut got = Vec::new();
        let mut buf = BytesMut::new();
        while got.len() < data.len() {
            let n = read_chunk(&b, &mut buf).await.unwrap();
            assert!(n > 0 && n <= CHUNK);
            got.extend_from_slice(&buf.split());
        }
        assert_eq!(got, data);
        let mut a = writer.await.unwrap();
        // Nothing waiting: the read waits without keeping a buffer.
        let idle = tokio::time::timeout(std::time::Duration::from_millis(50), read_chunk(&b, &mut buf)).await;
        assert!(idle.is_err());
        assert_eq!(buf.capacity(), 0);
        a.write_all(b"more").await.unwrap();
        assert_eq!(read_chunk(&b, &mut buf).await.unwrap(), 4);
        assert_eq!(&buf.split()[..], b"more");
        drop(a);
        assert_eq!(read_chunk(&b, &mut buf).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn client_io_delivers_pre_read_bytes_then_the_socket_in_small_reads() {
        let (mut a, b) = pair().await;
        let mut io = ClientIo::new(Arc::new(ClientSock::new(b)), Bytes::from_static(b"early"));
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            a.write_all(&sent).await.unwrap();
            a.shutdown().await.unwrap();
            a
        });
        let mut got = Vec::new();
        let mut small = [0u8; 4096];
        loop {
            let n = io.read(&mut small).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
        }
        assert_eq!(&got[..5], b"early");
        assert_eq!(&got[5..], &data[..]);
        assert_eq!(io.buf.capacity(), 0, "no buffer kept once drained");
        // Writes go straight to the socket.
        let mut a = writer.await.unwrap();
        io.write_all(b"back").await.unwrap();
        let mut echo = [0u8; 4];
        a.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"back");
    }
}
