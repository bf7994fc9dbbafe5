//! The byte pipe `oxvnc snapshot` talks RFB over: plain TCP (`tcp://HOST:PORT`) or a WebSocket
//! through any websockify-compatible relay (`ws://HOST:PORT/PATH?token=…`, `wss://…`).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};

/// Any stream a WebSocket can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub enum Transport {
    Tcp(TcpStream),
    WebSocket(Box<WebSocketStream<Box<dyn Io>>>),
}

/// Splits `scheme://host:port/rest` into (scheme, host, port, rest).
fn split_url(target: &str) -> anyhow::Result<(&str, &str, u16, &str)> {
    let (scheme, rest) = target.split_once("://").ok_or_else(|| {
        anyhow!("TARGET must look like tcp://HOST:PORT, ws://HOST:PORT/PATH or wss://HOST:PORT/PATH, not {target:?}")
    })?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let default_port = match scheme {
        "ws" => Some(80),
        "wss" => Some(443),
        _ => None,
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => {
            (h, p.parse::<u16>().with_context(|| format!("bad port {p:?} in {target:?}"))?)
        }
        _ => (authority, default_port.ok_or_else(|| anyhow!("{target:?} has no port"))?),
    };
    if host.is_empty() {
        bail!("{target:?} has no host");
    }
    Ok((scheme, host, port, path))
}

impl Transport {
    /// Connects to `target`; `ca` is a PEM file of extra trusted certificates for `wss://`.
    pub async fn connect(target: &str, ca: Option<&Path>) -> anyhow::Result<Transport> {
        let (scheme, host, port, _) = split_url(target)?;
        if !matches!(scheme, "tcp" | "ws" | "wss") {
            bail!("unknown scheme {scheme:?} in {target:?} (use tcp://, ws:// or wss://)");
        }
        let bare_host = host.trim_start_matches('[').trim_end_matches(']');
        let tcp =
            TcpStream::connect((bare_host, port)).await.with_context(|| format!("cannot connect to {host}:{port}"))?;
        tcp.set_nodelay(true).ok();
        let io: Box<dyn Io> = match scheme {
            "tcp" => return Ok(Transport::Tcp(tcp)),
            "ws" => Box::new(tcp),
            _ => {
                let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(ca)?));
                let name = rustls_pki_types::ServerName::try_from(bare_host.to_string())
                    .with_context(|| format!("{host:?} is not a valid TLS server name"))?;
                Box::new(
                    connector
                        .connect(name, tcp)
                        .await
                        .with_context(|| format!("TLS handshake with {host}:{port} failed"))?,
                )
            }
        };
        // The handshake itself always uses the ws:// form; TLS is already under it.
        let url = format!("ws://{}", target.split_once("://").map(|(_, r)| r).unwrap_or(target));
        let mut request =
            url.as_str().into_client_request().with_context(|| format!("bad WebSocket URL {target:?}"))?;
        request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("binary"));
        let (ws, _) = tokio_tungstenite::client_async(request, io).await.map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(resp) => {
                let body = resp.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().trim().to_string();
                anyhow!("the relay refused the WebSocket: HTTP {} {}", resp.status(), body)
            }
            e => anyhow!("WebSocket handshake with {host}:{port} failed: {e}"),
        })?;
        Ok(Transport::WebSocket(Box::new(ws)))
    }

    /// Reads the next bytes from the server into `buf`; `Ok(0)` when the peer closed.
    pub async fn recv(&mut self, buf: &mut Vec<u8>) -> anyhow::Result<usize> {
        match self {
            Transport::Tcp(s) => {
                buf.resize(256 * 1024, 0);
                Ok(s.read(buf).await?)
            }
            Transport::WebSocket(ws) => loop {
                match ws.next().await {
                    None => return Ok(0),
                    Some(Err(e)) => return Err(anyhow!("WebSocket error: {e}")),
                    Some(Ok(Message::Binary(data))) => {
                        if data.is_empty() {
                            continue;
                        }
                        buf.clear();
                        buf.extend_from_slice(&data);
                        return Ok(buf.len());
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return match frame {
                            Some(f) if !f.reason.is_empty() => {
                                Err(anyhow!("the relay closed the connection ({}: {})", u16::from(f.code), f.reason))
                            }
                            _ => Ok(0),
                        };
                    }
                    Some(Ok(Message::Text(_))) => return Err(anyhow!("the relay sent a text frame; RFB needs binary")),
                    Some(Ok(_)) => {} // ping/pong are answered by the library
                }
            },
        }
    }

    /// Sends bytes to the server.
    pub async fn send(&mut self, data: &[u8]) -> anyhow::Result<()> {
        match self {
            Transport::Tcp(s) => Ok(s.write_all(data).await?),
            Transport::WebSocket(ws) => Ok(ws.send(Message::binary(data.to_vec())).await?),
        }
    }
}

impl Transport {
    /// Ends the session politely (a WebSocket close frame, or a TCP shutdown); errors are moot.
    pub async fn close(&mut self) {
        match self {
            Transport::Tcp(s) => {
                let _ = s.shutdown().await;
            }
            Transport::WebSocket(ws) => {
                let _ = SinkExt::close(&mut **ws).await;
            }
        }
    }
}

/// TLS for a client of web services: the web's root certificates.
pub fn web_tls_config() -> anyhow::Result<tokio_rustls::rustls::ClientConfig> {
    tls_config(None)
}

fn tls_config(ca: Option<&Path>) -> anyhow::Result<tokio_rustls::rustls::ClientConfig> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca {
        let pem = std::fs::read(path).with_context(|| format!("cannot read the CA file {}", path.display()))?;
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.with_context(|| format!("bad certificate in {}", path.display()))?;
            roots.add(cert).with_context(|| format!("unusable certificate in {}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            bail!("{} holds no PEM certificate", path.display());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(split_url("tcp://127.0.0.1:5900").unwrap(), ("tcp", "127.0.0.1", 5900, ""));
        assert_eq!(
            split_url("ws://localhost:6080/websockify?token=abc").unwrap(),
            ("ws", "localhost", 6080, "/websockify?token=abc")
        );
        assert_eq!(split_url("wss://[::1]:8443/x").unwrap(), ("wss", "[::1]", 8443, "/x"));
        assert_eq!(split_url("wss://example.test/x").unwrap().2, 443);
        assert!(split_url("tcp://host").is_err());
        assert!(split_url("localhost:5900").is_err());
        assert!(split_url("tcp://:5900").is_err());
    }
}
