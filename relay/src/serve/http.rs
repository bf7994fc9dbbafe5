//! The HTTP side, as warp filters: the WebSocket endpoint (any path), `/healthz`, `/metrics` and
//! the static files of `--web`.
//!
//! warp's own `ws()` filter cannot say why a handshake is refused (it only rejects), cannot echo a
//! subprotocol, and gives no control over tungstenite's buffers (its 128 KiB read buffer is
//! zero-filled per connection). So the endpoint is a plain filter that checks the handshake, the
//! Origin and the token and answers either an HTTP error with a short reason or the `101`
//! response itself; the hyper `OnUpgrade` handle reaches it through a request extension put there
//! by our hyper service ([`super::listen`]), and the session runs on the upgraded connection.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use hyper::upgrade::OnUpgrade;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tracing::{info, warn};
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::State;
use super::metrics::Failure;
use super::session::{self, Plan, Slot};
use super::target::Target;

/// The accepted connection a request came on (a request extension set by our hyper service).
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    pub peer: Peer,
}

/// Who connected: a TCP peer, or someone on a `--listen unix:` socket (a reverse proxy on this
/// machine, whose X-Forwarded-For `--trust-proxy` reads).
#[derive(Clone, Copy, Debug)]
pub enum Peer {
    Tcp(SocketAddr),
    Unix,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(addr) => addr.fmt(f),
            Peer::Unix => f.write_str("unix-socket"),
        }
    }
}

/// The upgrade handle of a request that asks for a WebSocket (a request extension).
#[derive(Clone)]
pub struct UpgradeSlot(Arc<Mutex<Option<OnUpgrade>>>);

impl UpgradeSlot {
    pub fn new(on: OnUpgrade) -> UpgradeSlot {
        UpgradeSlot(Arc::new(Mutex::new(Some(on))))
    }

    fn take(&self) -> Option<OnUpgrade> {
        self.0.lock().ok()?.take()
    }
}

/// Whether a request asks for a WebSocket (decides the route; the handshake checks the rest).
pub fn wants_websocket(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::UPGRADE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("websocket"))))
}

/// Where sessions go.
pub enum Targets {
    /// `--vnc`: one target for everyone.
    Fixed(Target),
    /// `--token-file` (and, with `--demo`, the token `demo` for the demo desktop).
    Tokens { file: super::tokens::TokenFile, demo: bool },
    /// `--token-redis` (and the token `demo` with `--demo`, when Redis has no such key).
    Redis { store: super::token_redis::RedisTokens, demo: bool },
    /// `--token-api` (and the token `demo` with `--demo`, when the service does not know it).
    Api { api: super::token_api::TokenApi, demo: bool },
    /// `--token-jwt` (and the token `demo` with `--demo`).
    Jwt { keys: super::token_jwt::JwtKeys, demo: bool },
    /// `--token-socket-dir` (and the token `demo` with `--demo`, when there is no such socket).
    Sockets { dir: super::token_socket_dir::SocketDir, demo: bool },
    /// `--token-dir` (and the token `demo` with `--demo`, when there is no such file).
    Files { dir: super::token_socket_dir::FileNameDir, demo: bool },
    /// `--demo` alone.
    Demo,
}

/// All routes: WebSocket first (so it works on any path), then health, metrics, static files.
pub fn routes(state: Arc<State>, web: Option<PathBuf>) -> BoxedFilter<(Response,)> {
    let st = Arc::clone(&state);
    let ws = warp::header::headers_cloned()
        .and_then(
            |h: HeaderMap| async move { if wants_websocket(&h) { Ok(h) } else { Err(warp::reject::not_found()) } },
        )
        .and(warp::method())
        .and(warp::ext::get::<ConnInfo>())
        .and(warp::ext::optional::<UpgradeSlot>())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and_then(
            move |headers: HeaderMap, method: Method, conn: ConnInfo, upgrade: Option<UpgradeSlot>, query: String| {
                let st = Arc::clone(&st);
                async move { Ok::<_, Rejection>(websocket(&st, &headers, &method, conn, upgrade, &query).await) }
            },
        );

    let st = Arc::clone(&state);
    let checks = warp::header::headers_cloned()
        .and_then(|h: HeaderMap| async move {
            if h.contains_key(CHECK_HEADER) && !wants_websocket(&h) { Ok(h) } else { Err(warp::reject::not_found()) }
        })
        .and(warp::get())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and_then(move |headers: HeaderMap, query: String| {
            let st = Arc::clone(&st);
            async move { Ok::<_, Rejection>(check(&st, &headers, &query).await) }
        });
    // A page of another origin (a dashboard embedding the console) sends the check only after a
    // CORS preflight for its header. The method is tested first, so other requests (files) do
    // not copy their headers here, and they are "not found" here rather than "method not
    // allowed", which warp would rank above the file server's 404.
    let st = Arc::clone(&state);
    let preflights = warp::method()
        .and_then(|m: Method| async move { if m == Method::OPTIONS { Ok(()) } else { Err(warp::reject::not_found()) } })
        .untuple_one()
        .and(warp::header::headers_cloned())
        .and_then(move |h: HeaderMap| {
            let st = Arc::clone(&st);
            async move { check_preflight(&st, &h).ok_or_else(warp::reject::not_found) }
        });

    let healthz = warp::path!("healthz").and(warp::get().or(warp::head()).unify()).map(|| text(StatusCode::OK, "ok"));

    let st = Arc::clone(&state);
    let metrics = warp::path!("metrics").and(warp::get()).and(web_auth(Arc::clone(&state))).map(move || {
        let mut r = st.metrics.render().into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
        r
    });

    let api = ws.or(checks).unify().or(preflights).unify().or(healthz).unify().or(metrics).unify();
    let nosniff = |f: warp::fs::File| {
        let mut r = f.into_response();
        r.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        r
    };
    let with_files = match web {
        Some(dir) => {
            // The names of noVNC's pages serve the console (when DIR has no file of that name),
            // so links that deployments already hand out (nova's `novncproxy_base_url`) open it.
            let index = dir.join("index.html");
            let novnc_pages = warp::path!("vnc.html")
                .or(warp::path!("vnc_lite.html"))
                .unify()
                .or(warp::path!("vnc_auto.html"))
                .unify()
                .and(warp::fs::file(index));
            let files =
                web_auth(Arc::clone(&state)).and(warp::fs::dir(dir).map(nosniff).or(novnc_pages.map(nosniff)).unify());
            api.or(files).unify().boxed()
        }
        None => api.boxed(),
    };
    with_files.recover(refusal).unify().boxed()
}

/// Rejections (no route, wrong method, bad header) as short plain-text errors.
async fn refusal(rej: Rejection) -> Result<Response, Infallible> {
    Ok(if let Some(WebAuthRefused(Refusal(_, status, msg))) = rej.find::<WebAuthRefused>() {
        text(*status, msg)
    } else if rej.is_not_found() {
        text(StatusCode::NOT_FOUND, "not found")
    } else if rej.find::<warp::reject::MethodNotAllowed>().is_some() {
        text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else if rej.find::<warp::reject::InvalidHeader>().is_some() || rej.find::<warp::reject::MissingHeader>().is_some()
    {
        text(StatusCode::BAD_REQUEST, "bad request header")
    } else {
        text(StatusCode::BAD_REQUEST, "bad request")
    })
}

fn text(status: StatusCode, msg: &'static str) -> Response {
    let mut r = format!("{msg}\n").into_response();
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"oxvnc\", charset=\"UTF-8\""));
    }
    r
}

/// A refused handshake: counted, logged, answered with a status and a short reason.
fn refuse(state: &State, peer: &str, failure: Failure, status: StatusCode, msg: &'static str) -> Response {
    state.metrics.fail(failure);
    info!(peer, status = status.as_u16(), reason = msg, "websocket refused");
    text(status, msg)
}

/// Why a handshake is refused before the upgrade: what is counted, the status, the reason.
#[derive(Debug)]
struct Refusal(Failure, StatusCode, &'static str);

/// The host name of a Host header's value, parsed as the origin check parses it: without the
/// port; an IPv6 address keeps its brackets. `None` when it is no authority.
fn host_name(host: &str) -> Option<String> {
    host.trim().parse::<http::uri::Authority>().ok().map(|a| a.host().to_owned())
}

/// A token source's answer (the token file, the socket directory, Redis, a token service;
/// `place` names it in logs) as a target or a refusal.
fn from_store(
    answer: Result<Option<Target>, super::token_redis::LookupError>,
    demo: bool,
    token: &str,
    place: &str,
) -> Result<Target, Refusal> {
    use super::token_redis::LookupError;
    match answer {
        Ok(Some(t)) => Ok(t),
        Ok(None) if demo && token == "demo" => Ok(Target::Demo),
        Ok(None) => Err(Refusal(Failure::UnknownToken, StatusCode::NOT_FOUND, "unknown token")),
        Err(LookupError::Unavailable(e)) => {
            warn!(store = %place, "token lookup failed: {e}");
            Err(Refusal(Failure::TokenStore, StatusCode::SERVICE_UNAVAILABLE, "token store unavailable"))
        }
        Err(LookupError::BadValue(e)) => {
            warn!(store = %place, token = %session::redact(token), "the token's value is not a target: {e}");
            Err(Refusal(Failure::TokenStore, StatusCode::BAD_GATEWAY, "token has no valid target"))
        }
    }
}

/// The host the browser asked for: the Host header, or with `--trust-proxy` the last
/// X-Forwarded-Host (what our proxy saw), when the proxy sent one, for proxies that pass their
/// own upstream name as Host. The Origin check and `--host-token` both use it.
fn requested_host<'a>(state: &State, headers: &'a HeaderMap) -> Option<&'a str> {
    let get = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    if state.trust_proxy
        && let Some(forwarded) = get("x-forwarded-host")
        && let Some(last) = forwarded.rsplit(',').next().map(str::trim).filter(|h| !h.is_empty())
    {
        return Some(last);
    }
    get(header::HOST.as_str())
}

/// What a request without the `--basic-auth` credentials is told.
fn auth_refusal(denied: super::basic_auth::Denied) -> Refusal {
    use super::basic_auth::Denied;
    match denied {
        Denied::Missing | Denied::Wrong => {
            Refusal(Failure::Unauthorized, StatusCode::UNAUTHORIZED, "authentication required")
        }
        Denied::Malformed => Refusal(Failure::Unauthorized, StatusCode::FORBIDDEN, "bad Authorization header"),
    }
}

/// `--web-auth`: files and metrics only with the `--basic-auth` credentials (nothing to check
/// without `--web-auth`).
fn web_auth(state: Arc<State>) -> BoxedFilter<()> {
    warp::header::headers_cloned()
        .and_then(move |h: HeaderMap| {
            let st = Arc::clone(&state);
            async move {
                match &st.basic_auth {
                    Some(auth) if st.web_auth => {
                        auth.check(&h).map_err(|d| warp::reject::custom(WebAuthRefused(auth_refusal(d))))
                    }
                    _ => Ok(()),
                }
            }
        })
        .untuple_one()
        .boxed()
}

/// A file or metrics request refused by [`web_auth`].
#[derive(Debug)]
struct WebAuthRefused(Refusal);

impl warp::reject::Reject for WebAuthRefused {}

/// A `--token-jwt` token's target, or why it is refused (the details go to the log); key and
/// claim failures are answered as the other token sources' are.
fn from_jwt(keys: &super::token_jwt::JwtKeys, demo: bool, token: &str) -> Result<Target, Refusal> {
    use super::token_jwt::JwtError;
    if demo && token == "demo" {
        return Ok(Target::Demo);
    }
    let invalid = |msg| Err(Refusal(Failure::InvalidToken, StatusCode::FORBIDDEN, msg));
    match keys.lookup(token) {
        Ok(t) => Ok(t),
        Err(JwtError::Expired) => invalid("token expired"),
        Err(JwtError::NotYet) => invalid("token not valid yet"),
        Err(JwtError::Invalid(e)) => {
            warn!(token = %session::redact(token), "invalid token: {e}");
            invalid("invalid token")
        }
        Err(JwtError::Store(e)) => from_store(Err(e), false, token, &keys.path.display().to_string()),
    }
}

/// The checks of a handshake that do not depend on it being one (origin, token): the target
/// and the token, or the refusal.
async fn admit(state: &State, headers: &HeaderMap, query: &str) -> Result<(Target, Option<String>), Refusal> {
    let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(auth) = &state.basic_auth {
        auth.check(headers).map_err(auth_refusal)?;
    }
    let host = requested_host(state, headers);
    if !state.origins.allows(get(header::ORIGIN), host) {
        return Err(Refusal(Failure::OriginRefused, StatusCode::FORBIDDEN, "origin not allowed"));
    }
    let token = if state.host_token {
        host.and_then(host_name)
    } else {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .or_else(|| cookie(headers, "token"))
    }
    .filter(|t| !t.is_empty());
    let missing = if state.host_token { "missing token (no Host header)" } else { "missing token (use ?token=)" };
    let token_or_refusal = || token.as_deref().ok_or(Refusal(Failure::MissingToken, StatusCode::FORBIDDEN, missing));
    let target = match &state.targets {
        Targets::Fixed(t) => t.clone(),
        Targets::Demo => Target::Demo,
        Targets::Tokens { file, demo } => {
            let token = token_or_refusal()?;
            from_store(Ok(file.lookup(token)), *demo, token, "the token file")?
        }
        Targets::Sockets { dir, demo } => {
            let token = token_or_refusal()?;
            from_store(Ok(dir.lookup(token)), *demo, token, "the socket directory")?
        }
        Targets::Files { dir, demo } => {
            let token = token_or_refusal()?;
            from_store(dir.lookup(token), *demo, token, "the token directory")?
        }
        Targets::Redis { store, demo } => {
            let token = token_or_refusal()?;
            from_store(store.lookup(token).await, *demo, token, &store.place)?
        }
        Targets::Api { api, demo } => {
            let token = token_or_refusal()?;
            from_store(api.lookup(token).await, *demo, token, &api.place)?
        }
        Targets::Jwt { keys, demo } => {
            let token = token_or_refusal()?;
            from_jwt(keys, *demo, token)?
        }
    };
    Ok((target, token))
}

/// The request header of a [`check`]: browsers do not tell a page why its WebSocket handshake
/// was refused, so the console asks with an ordinary request carrying it.
pub const CHECK_HEADER: &str = "x-oxvnc-check";

/// A plain GET with [`CHECK_HEADER`], on any path: what a WebSocket handshake with the same
/// origin, token and cookies would meet before the upgrade — `200 ok`, or the status and reason
/// the handshake gets. Not counted as a failure (the handshake it explains was). Browsers leave
/// `Origin` out of a same-origin GET, so the header's value stands in for it then (the page
/// sends its own origin; a caller who lies only learns what a handshake would tell it). A page
/// of another origin may read the answer (after [`check_preflight`]), with its cookies when the
/// relay would admit a handshake from that origin (see [`allow_origin`]).
async fn check(state: &State, request: &HeaderMap, query: &str) -> Response {
    let mut headers = request.clone();
    if !headers.contains_key(header::ORIGIN)
        && let Some(origin) = headers.get(CHECK_HEADER).filter(|v| v.as_bytes().contains(&b':')).cloned()
    {
        headers.insert(header::ORIGIN, origin);
    }
    let mut r = match admit(state, &headers, query).await {
        Ok(_) => text(StatusCode::OK, "ok"),
        Err(Refusal(_, status, msg)) => text(status, msg),
    };
    allow_origin(state, &mut r, request);
    r
}

/// The answer to a CORS preflight for a [`check`] from another origin: any origin may ask. The
/// check tells a page only what its handshake was told, which anyone can learn by opening one
/// outside a browser. `None` for any other OPTIONS request.
fn check_preflight(state: &State, headers: &HeaderMap) -> Option<Response> {
    let asked = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let method_ok = asked("access-control-request-method").is_some_and(|m| m.trim() == "GET");
    let header_ok = asked("access-control-request-headers")
        .is_some_and(|h| h.split(',').any(|n| n.trim().eq_ignore_ascii_case(CHECK_HEADER)));
    if !(method_ok && header_ok && headers.contains_key(header::ORIGIN)) {
        return None;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    allow_origin(state, &mut r, headers);
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(CHECK_HEADER));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    Some(r)
}

/// Lets the request's origin (if it named one) read the response. Cookies may ride on the
/// request only from an origin whose handshakes the relay admits: those handshakes carry the
/// page's cookies anyway (a `token` cookie picks the target), so the check learns nothing a
/// handshake would not show, and the reason it gives is the one for that cookie. Any other
/// origin is only told "origin not allowed", and gets no answer to a request with cookies.
fn allow_origin(state: &State, r: &mut Response, request: &HeaderMap) {
    let Some(origin) = request.get(header::ORIGIN) else { return };
    let host = requested_host(state, request);
    let admitted = origin.to_str().is_ok_and(|o| state.origins.allows(Some(o), host));
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    if admitted {
        h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
}

/// Checks a WebSocket handshake and either refuses it or answers `101` and starts the session.
async fn websocket(
    state: &Arc<State>,
    headers: &HeaderMap,
    method: &Method,
    conn: ConnInfo,
    upgrade: Option<UpgradeSlot>,
    query: &str,
) -> Response {
    let peer = client_address(state, headers, conn.peer);
    let peer = peer.as_str();
    let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());

    if method != Method::GET {
        return refuse(
            state,
            peer,
            Failure::BadHandshake,
            StatusCode::METHOD_NOT_ALLOWED,
            "WebSocket handshakes use GET",
        );
    }
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")));
    if !connection_upgrade {
        return refuse(state, peer, Failure::BadHandshake, StatusCode::BAD_REQUEST, "missing Connection: upgrade");
    }
    if get(header::SEC_WEBSOCKET_VERSION).map(str::trim) != Some("13") {
        let mut r = refuse(
            state,
            peer,
            Failure::BadHandshake,
            StatusCode::UPGRADE_REQUIRED,
            "unsupported WebSocket version (use 13)",
        );
        r.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return r;
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY).filter(|k| !k.is_empty()) else {
        return refuse(state, peer, Failure::BadHandshake, StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
    };

    // noVNC offers "binary"; a client that offers only other subprotocols cannot talk to us.
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let binary = offered.contains(&"binary");
    if !offered.is_empty() && !binary {
        return refuse(
            state,
            peer,
            Failure::BadHandshake,
            StatusCode::BAD_REQUEST,
            "unsupported WebSocket subprotocol (only binary)",
        );
    }

    let (target, token) = match admit(state, headers, query).await {
        Ok(admitted) => admitted,
        Err(Refusal(failure, status, msg)) => return refuse(state, peer, failure, status, msg),
    };

    let Some(slot) = Slot::acquire(state) else {
        return refuse(
            state,
            peer,
            Failure::TooManyConnections,
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections",
        );
    };
    let Some(on_upgrade) = upgrade.and_then(|u| u.take()) else {
        return refuse(state, peer, Failure::BadHandshake, StatusCode::BAD_REQUEST, "connection cannot be upgraded");
    };

    let plan = Plan { target, peer: peer.to_owned(), token: token.as_deref().map(session::redact), slot };
    tokio::spawn(session::run(Arc::clone(state), on_upgrade, plan));

    let mut r = Response::default();
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    let accept = derive_accept_key(key.as_bytes());
    h.insert(header::SEC_WEBSOCKET_ACCEPT, HeaderValue::from_str(&accept).expect("base64 is a valid header value"));
    if binary {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("binary"));
    }
    r
}

/// The value of cookie `name`, if the request has one.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
}

/// The client's address for logs: the socket peer, or with `--trust-proxy` the address our proxy
/// put last in X-Forwarded-For (entries before it are whatever the client claimed).
fn client_address(state: &State, headers: &HeaderMap, peer: Peer) -> String {
    if state.trust_proxy {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .next_back();
        if let Some(ip) = forwarded {
            return ip.to_string();
        }
    }
    peer.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn detects_websocket_requests() {
        assert!(wants_websocket(&headers(&[("upgrade", "WebSocket")])));
        assert!(wants_websocket(&headers(&[("upgrade", "h2c, websocket")])));
        assert!(!wants_websocket(&headers(&[("upgrade", "h2c")])));
        assert!(!wants_websocket(&headers(&[])));
    }

    #[test]
    fn host_names_without_their_port() {
        assert_eq!(host_name("vm1.consoles.example:6080").as_deref(), Some("vm1.consoles.example"));
        assert_eq!(host_name("vm1.consoles.example").as_deref(), Some("vm1.consoles.example"));
        assert_eq!(host_name("[::1]:6080").as_deref(), Some("[::1]"));
        assert_eq!(host_name("[::1]").as_deref(), Some("[::1]"));
        assert_eq!(host_name(" 10.0.0.1:443 ").as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn reads_token_cookie() {
        let h = headers(&[("cookie", "a=1; token=\"abc\"; b=2")]);
        assert_eq!(cookie(&h, "token").as_deref(), Some("abc"));
        let h = headers(&[("cookie", "a=1"), ("cookie", "xtoken=no; token=yes")]);
        assert_eq!(cookie(&h, "token").as_deref(), Some("yes"));
        assert_eq!(cookie(&headers(&[]), "token"), None);
    }
}
