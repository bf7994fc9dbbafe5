//! `--token-api URL`: tokens → targets answered by an HTTP service, as websockify's BaseTokenAPI
//! (the answer is `host:port` as text) and JSONTokenApi (`--token-api-json`: a JSON object
//! `{"host": …, "port": …}`, where the host `unix_socket` makes the port a socket path) plugins
//! ask it, so a deployment with such a service switches relays without changing it.
//!
//! - The URL holds `%s` where the token goes (`http://api.internal/consoles/%s`; `%%` is a
//!   literal `%`, as in websockify's Python formatting); the token is
//!   percent-encoded there (websockify pastes it raw, so `?`, `&` or `/` in a token would change
//!   the request).
//! - Every handshake asks (a new connection each time, `http://` or `https://` with the web's
//!   root certificates); the whole lookup has [`LOOKUP_TIMEOUT`], and the answer at most
//!   [`MAX_ANSWER`] bytes.
//! - A 2xx answer is the target; 404 and the other 4xx mean an unknown token; anything else
//!   (5xx, no answer, a broken connection, a timeout) is "token store unavailable", and an
//!   answer that is not a target is a bad value, both logged with the reason.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Request, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::target::Target;
use super::token_redis::LookupError;

/// Longest a handshake waits for the token service (connecting and TLS included).
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read; a target is a few dozen bytes.
pub const MAX_ANSWER: usize = 64 * 1024;

/// What an answer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `host:port` (or `unix_socket:/path`) as text: websockify's BaseTokenAPI.
    Text,
    /// `{"host": "h", "port": 5900}`: websockify's JSONTokenApi.
    Json,
}

pub struct TokenApi {
    template: String,
    format: Format,
    tls: Option<tokio_rustls::TlsConnector>,
    /// For logs: the URL template (the token is not in it).
    pub place: String,
}

impl TokenApi {
    /// Checks the URL template (an `http://` or `https://` URL with `%s` for the token).
    pub fn new(template: &str, format: Format) -> anyhow::Result<TokenApi> {
        let uri: Uri = fill(template, "token")
            .map_err(|e| anyhow::anyhow!("--token-api {template:?}: {e}"))?
            .parse()
            .with_context(|| format!("--token-api {template:?}"))?;
        let tls = match uri.scheme_str() {
            Some("http") => None,
            Some("https") => Some(tokio_rustls::TlsConnector::from(Arc::new(crate::transport::web_tls_config()?))),
            _ => bail!("--token-api {template:?}: give an http:// or https:// URL"),
        };
        if uri.host().is_none_or(str::is_empty) {
            bail!("--token-api {template:?}: the URL has no host");
        }
        Ok(TokenApi { template: template.to_string(), format, tls, place: template.to_string() })
    }

    /// The target for `token`, `None` when the service does not know it.
    pub async fn lookup(&self, token: &str) -> Result<Option<Target>, LookupError> {
        match tokio::time::timeout(LOOKUP_TIMEOUT, self.ask(token)).await {
            Ok(result) => result,
            Err(_) => Err(LookupError::Unavailable(format!("no answer within {LOOKUP_TIMEOUT:?}"))),
        }
    }

    async fn ask(&self, token: &str) -> Result<Option<Target>, LookupError> {
        let unavailable = |e: &dyn std::fmt::Display| LookupError::Unavailable(e.to_string());
        let encoded: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
        // `+` is a space only in query strings; %20 means a space everywhere.
        let encoded = encoded.replace('+', "%20");
        let uri: Uri =
            fill(&self.template, &encoded).map_err(|e| unavailable(&e))?.parse().map_err(|e| unavailable(&e))?;
        let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
        let port = uri.port_u16().unwrap_or(if self.tls.is_some() { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port)).await.map_err(|e| unavailable(&e))?;
        tcp.set_nodelay(true).ok();
        let (status, body) = match &self.tls {
            None => request(tcp, &uri).await?,
            Some(tls) => {
                let name = rustls_pki_types::ServerName::try_from(host.clone()).map_err(|e| unavailable(&e))?;
                let stream = tls.connect(name, tcp).await.map_err(|e| unavailable(&format!("TLS: {e}")))?;
                request(stream, &uri).await?
            }
        };
        if status.is_client_error() {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(LookupError::Unavailable(format!("the service answered {status}")));
        }
        parse_answer(&body, self.format).map(Some).map_err(LookupError::BadValue)
    }
}

/// The URL template with the token in place of its one `%s`, and `%%` as `%`: websockify fills
/// it with Python's `%` operator, so that is how a literal `%` is written there. Any other `%`
/// is kept as it is (a percent-encoded byte such as `%2F`).
fn fill(template: &str, token: &str) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + token.len());
    let mut filled = 0;
    let mut rest = template;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        match rest.as_bytes().get(i + 1) {
            Some(b's') => {
                out.push_str(token);
                filled += 1;
                rest = &rest[i + 2..];
            }
            Some(b'%') => {
                out.push('%');
                rest = &rest[i + 2..];
            }
            _ => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    match filled {
        1 => Ok(out),
        0 => Err("the URL needs %s where the token goes".into()),
        _ => Err("the URL has %s more than once (write a literal % as %%)".into()),
    }
}

/// One GET of `uri` over `io`; the status and (at most [`MAX_ANSWER`] bytes of) the body.
async fn request<S>(io: S, uri: &Uri) -> Result<(StatusCode, Bytes), LookupError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::{BodyExt, Empty, Limited};
    let unavailable = |e: &dyn std::fmt::Display| LookupError::Unavailable(e.to_string());
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|e| unavailable(&e))?;
    let driver = tokio::spawn(conn);
    let authority = uri.authority().map(|a| a.as_str().to_string()).unwrap_or_default();
    let path = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let req = Request::get(path)
        .header(header::HOST, authority)
        .header(header::USER_AGENT, concat!("oxvnc/", env!("CARGO_PKG_VERSION")))
        .header(header::ACCEPT, "application/json, text/plain")
        .header(header::CONNECTION, "close")
        .body(Empty::new())
        .map_err(|e| unavailable(&e))?;
    let result = async {
        let resp = sender.send_request(req).await.map_err(|e| unavailable(&e))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| unavailable(&format!("reading the answer: {e}")))?
            .to_bytes();
        Ok((status, body))
    }
    .await;
    driver.abort();
    result
}

/// The target an answer names.
fn parse_answer(body: &[u8], format: Format) -> Result<Target, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the answer is not UTF-8".to_string())?.trim();
    match format {
        Format::Text => Target::parse(text).map_err(|e| e.to_string()),
        Format::Json => {
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("the answer is not JSON: {e}"))?;
            target_from_json(&v)
        }
    }
}

/// The target of a JSON object `{"host": "h", "port": 5900}` (the port a number or a string;
/// the host `unix_socket` makes the port a socket path), as JSONTokenApi's answers and
/// JWTTokenApi's claims name it.
pub fn target_from_json(v: &serde_json::Value) -> Result<Target, String> {
    let host = v.get("host").and_then(|h| h.as_str()).ok_or("no \"host\" string")?;
    let port = match v.get("port") {
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        _ => return Err("no \"port\" number or string".into()),
    };
    let spec = if host == "unix_socket" {
        format!("unix_socket:{port}")
    } else if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Target::parse(&spec).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let tcp = |h: &str, p| Target::Tcp { host: h.into(), port: p };
        assert_eq!(parse_answer(b"10.0.0.5:5901\n", Format::Text), Ok(tcp("10.0.0.5", 5901)));
        assert_eq!(parse_answer(b"unix_socket:/run/vm1", Format::Text), Ok(Target::Unix("/run/vm1".into())));
        assert_eq!(parse_answer(br#"{"host": "h1", "port": 5900}"#, Format::Json), Ok(tcp("h1", 5900)));
        assert_eq!(parse_answer(br#"{"host": "h1", "port": "5900"}"#, Format::Json), Ok(tcp("h1", 5900)));
        assert_eq!(parse_answer(br#"{"host": "::1", "port": 5900}"#, Format::Json), Ok(tcp("::1", 5900)));
        assert_eq!(
            parse_answer(br#"{"host": "unix_socket", "port": "/run/vm1"}"#, Format::Json),
            Ok(Target::Unix("/run/vm1".into()))
        );
        for bad in [&b"nothing"[..], b"h:99999", b"\xff", b""] {
            assert!(parse_answer(bad, Format::Text).is_err(), "{bad:?}");
        }
        for bad in [&br#"{"host": "h"}"#[..], br#"{"port": 1}"#, b"[1]", b"h:1", br#"{"host": 5, "port": 1}"#] {
            assert!(parse_answer(bad, Format::Json).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn url_templates() {
        assert!(TokenApi::new("http://127.0.0.1:8000/t/%s", Format::Json).is_ok());
        assert!(TokenApi::new("https://api.example/t?token=%s", Format::Text).is_ok());
        assert!(TokenApi::new("http://127.0.0.1:8000/t/", Format::Json).is_err());
        assert!(TokenApi::new("ftp://h/%s", Format::Json).is_err());
        assert!(TokenApi::new("/t/%s", Format::Json).is_err());
        assert!(TokenApi::new("http://h/%s/%s", Format::Json).is_err());
        assert!(TokenApi::new("http://h/%%s", Format::Json).is_err());
    }

    #[test]
    fn templates_are_filled_as_python_fills_them() {
        assert_eq!(fill("http://h/t/%s", "vm1"), Ok("http://h/t/vm1".into()));
        assert_eq!(fill("http://h/t?id=%s&q=a%%20b", "vm1"), Ok("http://h/t?id=vm1&q=a%20b".into()));
        assert_eq!(fill("http://h/a%2Fb/%s", "x"), Ok("http://h/a%2Fb/x".into()));
        assert_eq!(fill("http://h/%%%s", "x"), Ok("http://h/%x".into()));
        assert_eq!(fill("http://h/%s%", "x"), Ok("http://h/x%".into()));
        assert!(fill("http://h/", "x").is_err());
        assert!(fill("http://h/%%s", "x").is_err());
    }
}
