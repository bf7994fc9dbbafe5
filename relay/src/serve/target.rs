//! Where a WebSocket session goes: a TCP `host:port`, a Unix socket, or the built-in demo, and how
//! to open a byte stream to it.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;
use tokio::io::DuplexStream;

use tokio::net::{TcpSocket, TcpStream, UnixStream};

use crate::demo::Demo;

/// A VNC server the relay can connect a session to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `host:port` (`[v6addr]:port` for IPv6 literals).
    Tcp { host: String, port: u16 },
    /// `unix_socket:/path`, as in websockify's token files.
    Unix(PathBuf),
    /// The built-in demo desktop (`--demo`).
    Demo,
}

/// Why a target string could not be understood.
#[derive(Debug, PartialEq, Eq)]
pub struct BadTarget(pub String);

impl fmt::Display for BadTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadTarget {}

impl Target {
    /// Parses `host:port`, `[v6]:port` or `unix_socket:/path`.
    pub fn parse(s: &str) -> Result<Target, BadTarget> {
        let s = s.trim();
        if let Some(path) = s.strip_prefix("unix_socket:") {
            let path = path.trim();
            if path.is_empty() {
                return Err(BadTarget("unix_socket: needs a path, e.g. unix_socket:/run/vnc.sock".into()));
            }
            return Ok(Target::Unix(PathBuf::from(path)));
        }
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(BadTarget(format!("{s:?} is not HOST:PORT (or unix_socket:/path)")));
        };
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if host.is_empty() || host.contains(char::is_whitespace) || host.contains(['[', ']', '/']) {
            return Err(BadTarget(format!("{s:?}: bad host {host:?}")));
        }
        // Like websockify, an unbracketed IPv6 literal takes the last colon as the port's.
        if host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(BadTarget(format!("{s:?}: write IPv6 addresses as [addr]:port")));
        }
        let port: u16 =
            port.parse().ok().filter(|p| *p != 0).ok_or_else(|| BadTarget(format!("{s:?}: bad port {port:?}")))?;
        Ok(Target::Tcp { host: host.to_owned(), port })
    }

    /// Opens a byte stream to the target, giving up after `timeout`.
    /// `socket_buffer`: SO_SNDBUF/SO_RCVBUF for a TCP target (`None`: the kernel's autotuning).
    pub async fn connect(
        &self,
        timeout: Duration,
        socket_buffer: Option<u32>,
        demo: Option<&Arc<Demo>>,
    ) -> io::Result<Conn> {
        let fut = async {
            match self {
                Target::Tcp { host, port } => {
                    let mut last = None;
                    for addr in tokio::net::lookup_host((host.as_str(), *port)).await? {
                        match connect_tcp(addr, socket_buffer).await {
                            Ok(stream) => return Ok(Conn::Tcp(stream)),
                            Err(e) => last = Some(e),
                        }
                    }
                    Err(last
                        .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address")))
                }
                Target::Unix(path) => Ok(Conn::Unix(UnixStream::connect(path).await?)),
                Target::Demo => {
                    let demo = demo.ok_or_else(|| io::Error::other("the demo server is not enabled"))?;
                    let (ours, theirs) = tokio::io::duplex(64 * 1024);
                    let demo = Arc::clone(demo);
                    tokio::spawn(async move {
                        if let Err(e) = demo.serve(theirs).await {
                            tracing::debug!("demo session ended: {e:#}");
                        }
                    });
                    Ok(Conn::Duplex(ours))
                }
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
        }
    }
}

async fn connect_tcp(addr: SocketAddr, socket_buffer: Option<u32>) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(n) = socket_buffer {
        socket.set_send_buffer_size(n)?;
        socket.set_recv_buffer_size(n)?;
    }
    socket.set_nodelay(true)?;
    socket.connect(addr).await
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Target::Tcp { host, port } => write!(f, "{host}:{port}"),
            Target::Unix(p) => write!(f, "unix_socket:{}", p.display()),
            Target::Demo => f.write_str("demo"),
        }
    }
}

/// An open connection to a target.
pub enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
    Duplex(DuplexStream),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(Target::parse("vnc.example:5901"), Ok(Target::Tcp { host: "vnc.example".into(), port: 5901 }));
        assert_eq!(Target::parse(" 10.0.0.1:5900 "), Ok(Target::Tcp { host: "10.0.0.1".into(), port: 5900 }));
        assert_eq!(Target::parse("[::1]:5900"), Ok(Target::Tcp { host: "::1".into(), port: 5900 }));
        assert_eq!(Target::parse("unix_socket:/run/q.sock"), Ok(Target::Unix("/run/q.sock".into())));
        assert_eq!(Target::parse("::1:5900"), Ok(Target::Tcp { host: "::1".into(), port: 5900 }));
        assert_eq!(Target::parse("[::1]:5900").unwrap().to_string(), "[::1]:5900");
        for bad in ["", "host", "host:", "host:0", "host:65536", ":5900", "a:b:5900", "unix_socket:", "a b:1", "[]:1"] {
            assert!(Target::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
