//! Why a session ended, as sentences a person can act on: engine errors and WebSocket close codes.

use oxvnc_rfb::Error;

/// How far the session had come when the WebSocket closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The WebSocket never opened.
    NotOpened,
    /// The WebSocket was open but the VNC handshake had not finished.
    Handshake,
    /// The desktop was on screen.
    Connected,
}

/// The message for an error raised by the RFB engine.
pub fn engine_error(e: &Error) -> String {
    match e {
        Error::AuthenticationFailed(reason) => format!(
            "The password was not accepted{}. Check it and connect again.",
            reason.as_ref().map(|r| format!(" (the server said: {r})")).unwrap_or_default()
        ),
        Error::TooManyAttempts => {
            "The server refused the login: too many failed attempts. Wait a few minutes, then try again.".into()
        }
        Error::ConnectionRefused(reason) => {
            format!("The VNC server refused the connection: {}.", trim_sentence(reason))
        }
        Error::NotRfb(_) => "The other end of the relay is not a VNC server. Check the host, port and path \
                             (or that the console link points to a running machine)."
            .into(),
        Error::NoSupportedSecurity(types) => format!(
            "The VNC server asks for a kind of security this console does not support yet (security types {types:?}). \
             Allow VNC password authentication or no authentication on the server."
        ),
        Error::UnsupportedSecurity(t) => {
            format!("The VNC server chose security type {t}, which this console does not support yet.")
        }
        Error::UnsupportedVersion(major, minor) => {
            format!("The VNC server speaks protocol version {major}.{minor}, which this console does not support.")
        }
        Error::DesktopTooLarge { width, height } => {
            format!("The remote desktop is {width}×{height}, larger than this console can show (16384×16384 at most).")
        }
        Error::OutOfMemory(what) => format!(
            "This browser could not make room for {what}. Close other consoles or tabs, or give the remote \
             machine a smaller screen resolution."
        ),
        Error::Closed => "The connection is closed.".into(),
        Error::CertificateRejected { fingerprint } => format!(
            "The connection was closed because the VNC server's certificate was not trusted (SHA-256 fingerprint \
             {fingerprint})."
        ),
        Error::Tls(_)
        | Error::TlsConfig(_)
        | Error::CertificateUnknown { .. }
        | Error::CertificateNameMismatch { .. }
        | Error::CertificateExpired { .. }
        | Error::CertificatePinMismatch { .. }
        | Error::AnonymousTlsUnsupported => {
            format!("The secure (TLS) connection to the VNC server failed: {}.", trim_sentence(&e.to_string()))
        }
        other => format!(
            "The connection ended because the server sent something this console cannot handle: {}.",
            trim_sentence(&other.to_string())
        ),
    }
}

/// What the relay answered when asked why it refused a WebSocket handshake (`status` and the
/// short reason of `oxvnc serve`'s check request), as a sentence and whether retrying can help;
/// `None` when the answer explains nothing (the handshake would pass, or another relay that
/// does not know the check).
pub fn refusal_message(status: u16, reason: &str) -> Option<(String, bool)> {
    let reason = reason.trim();
    let lower = reason.to_ascii_lowercase();
    if !(400..600).contains(&status) || reason.is_empty() || reason.len() > 200 {
        return None;
    }
    let because = format!(" ({})", trim_sentence(reason));
    Some(if lower.contains("token store") {
        // `oxvnc serve --token-redis` could not ask Redis: the token may be fine.
        (
            format!(
                "The relay could not look up the console token{because}. This is a problem on the relay's side; \
                 try again in a moment."
            ),
            true,
        )
    } else if status == 401 || lower.contains("authorization") || lower.contains("authentication") {
        // `oxvnc serve --basic-auth` (websockify's BasicHTTPAuth): browsers send the credentials
        // they used for the page itself, so the page must have asked for them.
        (
            format!(
                "The relay asks for a user name and password{because}. Open the console page from the relay \
                 so the browser asks for them (or sign in again), then connect."
            ),
            false,
        )
    } else if lower.contains("no valid target") {
        (
            format!(
                "The relay knows this console token but not which VNC server it leads to{because}. Tell the \
                 administrator; opening the console again will not help."
            ),
            false,
        )
    } else if lower.contains("token") {
        (close_message(1008, reason, Progress::NotOpened, ""), false)
    } else if lower.contains("origin") {
        (
            format!(
                "The relay refused to serve a console to this page{because}. Open the console from a page of \
                 the relay's own site, or have the relay trust this page's origin (--allowed-origin)."
            ),
            false,
        )
    } else if status == 503 {
        (format!("The relay is busy{because}; try again in a moment."), true)
    } else if lower == "not found" {
        // A relay (websockify, a plain web server) that does not know the check request.
        return None;
    } else {
        (format!("The relay refused the connection{because}."), false)
    })
}

/// The message for a WebSocket close (`code` and `reason` from the CloseEvent) that the engine
/// did not already explain. `url` is the WebSocket URL, shown when it could not be reached.
pub fn close_message(code: u16, reason: &str, progress: Progress, url: &str) -> String {
    let reason = reason.trim();
    let because = if reason.is_empty() { String::new() } else { format!(" ({})", trim_sentence(reason)) };
    match (code, progress) {
        // Browsers hide why a WebSocket handshake failed: a refused upgrade (HTTP 403/404/503)
        // and an unreachable host both look like 1006 before open.
        (1006, Progress::NotOpened) | (1015, Progress::NotOpened) => format!(
            "Could not connect to the relay at {url}. Check the host, port and path and that the relay is running. \
             The relay may also have refused the request: an unknown or expired token, a page from a site it does \
             not trust, or too many connections."
        ),
        (1015, _) => format!("The secure connection to the relay failed{because}. Check the relay's certificate."),
        (1006, _) => "The connection to the relay was lost (a network failure, or the relay stopped).".into(),
        (1011, _) => {
            // Relays word it "cannot reach the VNC server: <why>"; say it once.
            let why = strip_prefix_ci(reason, "cannot reach the VNC server:")
                .or_else(|| strip_prefix_ci(reason, "VNC server connection failed:"))
                .unwrap_or(reason)
                .trim();
            let because = if why.is_empty() { String::new() } else { format!(" ({})", trim_sentence(why)) };
            format!(
                "The relay could not reach the VNC server{because}. The machine may be off or its console \
                 unavailable; try again later."
            )
        }
        (1008, _) if reason.to_ascii_lowercase().contains("token") => format!(
            "The relay refused the console token{because}. Open the console again from your dashboard to get a \
             fresh link."
        ),
        (1008, _) => format!("The relay ended the session under its policy{because}."),
        (1001, _) => format!("The relay is going away{because}. Try again in a moment."),
        (1009, _) => "The relay closed the session because a message was too large.".into(),
        (1000 | 1005, Progress::Connected) if reason.to_ascii_lowercase().contains("server closed") => {
            "The VNC server closed the connection.".into()
        }
        (1000 | 1005, Progress::Connected) => format!("The VNC server closed the connection{because}."),
        (1000 | 1005, _) => format!(
            "The connection closed before the desktop appeared{because}. The VNC server may be refusing \
             connections or busy; try again."
        ),
        (code, _) => format!(
            "The connection closed (code {code}{}).",
            if reason.is_empty() { String::new() } else { format!(": {}", trim_sentence(reason)) }
        ),
    }
}

/// `s` without `prefix` (ASCII case-insensitive), if it starts with it.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// Drops a trailing full stop so the text can sit inside a sentence.
fn trim_sentence(s: &str) -> &str {
    s.trim().trim_end_matches('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relay_refusal_becomes_a_sentence() {
        let (m, retry) = refusal_message(404, "unknown token\n").unwrap();
        assert!(m.starts_with("The relay refused the console token (unknown token)"), "{m}");
        assert!(!retry);
        let (m, retry) = refusal_message(401, "authentication required\n").unwrap();
        assert!(m.starts_with("The relay asks for a user name and password (authentication required)"), "{m}");
        assert!(!retry);
        let (m, _) = refusal_message(403, "bad Authorization header").unwrap();
        assert!(m.contains("user name and password"), "{m}");
        let (m, retry) = refusal_message(403, "origin not allowed").unwrap();
        assert!(m.contains("refused to serve a console to this page (origin not allowed)"), "{m}");
        assert!(!retry);
        let (m, retry) = refusal_message(503, "too many connections").unwrap();
        assert!(m.starts_with("The relay is busy (too many connections)"), "{m}");
        assert!(retry);
        // `--token-redis`: Redis down is not a refused token, and a retry may work.
        let (m, retry) = refusal_message(503, "token store unavailable").unwrap();
        assert!(m.starts_with("The relay could not look up the console token (token store unavailable)"), "{m}");
        assert!(retry);
        let (m, retry) = refusal_message(502, "token has no valid target").unwrap();
        assert!(m.contains("not which VNC server it leads to (token has no valid target)"), "{m}");
        assert!(!retry);
        // Nothing to add: the handshake would pass, or the relay does not know the check.
        assert_eq!(refusal_message(200, "ok"), None);
        assert_eq!(refusal_message(404, "not found"), None);
        assert_eq!(refusal_message(405, ""), None);
    }

    #[test]
    fn engine_errors_read_as_sentences() {
        let m = engine_error(&Error::AuthenticationFailed(None));
        assert!(m.starts_with("The password was not accepted."), "{m}");
        let m = engine_error(&Error::AuthenticationFailed(Some("bad".into())));
        assert!(m.contains("(the server said: bad)"), "{m}");
        assert!(engine_error(&Error::TooManyAttempts).contains("too many failed attempts"));
        assert_eq!(
            engine_error(&Error::ConnectionRefused("No more connections.".into())),
            "The VNC server refused the connection: No more connections."
        );
        assert!(engine_error(&Error::NotRfb("HTTP/1.1 400".into())).contains("not a VNC server"));
        let m = engine_error(&Error::CertificateExpired { fingerprint: "AB:CD".into() });
        assert!(
            m.starts_with("The secure (TLS) connection to the VNC server failed: the server's certificate has expired"),
            "{m}"
        );
        assert!(m.ends_with("clock."), "{m}");
        let m = engine_error(&Error::CertificateRejected { fingerprint: "AB:CD".into() });
        assert!(m.contains("was not trusted (SHA-256 fingerprint AB:CD)."), "{m}");
        assert!(
            engine_error(&Error::UnknownMessage(200))
                .contains("cannot handle: the server sent unknown message type 200.")
        );
        for m in [engine_error(&Error::NoSupportedSecurity(vec![19])), engine_error(&Error::Zlib("x".into()))] {
            assert!(m.ends_with('.'), "{m}");
        }
    }

    #[test]
    fn close_codes() {
        let url = "ws://relay:6080/websockify";
        let m = close_message(1006, "", Progress::NotOpened, url);
        assert!(m.contains("Could not connect to the relay at ws://relay:6080/websockify"), "{m}");
        assert!(m.contains("token"), "{m}");
        assert!(close_message(1006, "", Progress::Connected, url).contains("lost"));
        let m = close_message(1011, "VNC server connection failed: Connection refused", Progress::Handshake, url);
        assert!(m.starts_with("The relay could not reach the VNC server (Connection refused)."), "{m}");
        let m = close_message(
            1011,
            "cannot reach the VNC server: Connection refused (os error 111)",
            Progress::Handshake,
            url,
        );
        assert!(m.starts_with("The relay could not reach the VNC server (Connection refused (os error 111))."), "{m}");
        let m = close_message(1011, "", Progress::Handshake, url);
        assert!(m.starts_with("The relay could not reach the VNC server. The machine"), "{m}");
        let m = close_message(1008, "Token 'abc' not found", Progress::Handshake, url);
        assert!(m.starts_with("The relay refused the console token"), "{m}");
        let m = close_message(1008, "idle timeout", Progress::Connected, url);
        assert_eq!(m, "The relay ended the session under its policy (idle timeout).");
        let m = close_message(1000, "the VNC server closed the connection", Progress::Connected, url);
        assert_eq!(m, "The VNC server closed the connection.");
        let m = close_message(1000, "bye", Progress::Connected, url);
        assert_eq!(m, "The VNC server closed the connection (bye).");
        assert!(close_message(1000, "", Progress::Handshake, url).contains("before the desktop appeared."));
        assert_eq!(
            close_message(4000, "custom", Progress::Connected, url),
            "The connection closed (code 4000: custom)."
        );
        assert!(
            close_message(1001, "server shutting down", Progress::Connected, url)
                .contains("going away (server shutting down)")
        );
    }
}
