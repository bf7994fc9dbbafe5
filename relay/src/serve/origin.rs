//! The Origin check that keeps other web sites' pages from opening consoles with a visitor's
//! cookies: a WebSocket handshake is allowed when it has no `Origin` (not a browser), when the
//! Origin's host is the `Host` the request was sent to, or when the Origin is in `--allowed-origin`.
//! With `--require-origin` (websockify's ExpectOrigin) only the listed origins are admitted.

use http::uri::{Authority, Uri};

/// The allow-list from `--allowed-origin`: full origins (`https://dash.example:8443`), bare hosts
/// (`dash.example`), or `*` for any origin.
#[derive(Clone, Debug, Default)]
pub struct AllowedOrigins {
    any: bool,
    origins: Vec<String>,
    hosts: Vec<String>,
    /// `--require-origin`: only the listed origins, and a handshake must name one.
    strict: bool,
}

impl AllowedOrigins {
    pub fn new(entries: &[String], strict: bool) -> AllowedOrigins {
        let mut a = AllowedOrigins { strict, ..AllowedOrigins::default() };
        for e in entries {
            let e = e.trim().trim_end_matches('/').to_ascii_lowercase();
            if e == "*" {
                a.any = true;
            } else if e.contains("://") || e == "null" {
                a.origins.push(e);
            } else if !e.is_empty() {
                a.hosts.push(e);
            }
        }
        a
    }

    /// Whether a handshake with these `Origin` and `Host` headers may proceed.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else { return !self.strict };
        if self.any {
            return true;
        }
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if self.origins.contains(&origin) {
            return true;
        }
        let Some(origin_authority) = origin.parse::<Uri>().ok().and_then(|u| u.authority().cloned()) else {
            return false; // "null" or garbage
        };
        let origin_host = origin_authority.host();
        if self.hosts.iter().any(|h| *h == origin_host || *h == origin_authority.as_str()) {
            return true;
        }
        if self.strict {
            return false;
        }
        match host.and_then(|h| h.trim().parse::<Authority>().ok()) {
            Some(host) => host.host().eq_ignore_ascii_case(origin_host),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_host_allowed_other_refused() {
        let a = AllowedOrigins::new(&[], false);
        assert!(a.allows(None, Some("relay.example:6080")));
        assert!(a.allows(Some("http://relay.example:6080"), Some("relay.example:6080")));
        assert!(a.allows(Some("https://Relay.Example"), Some("relay.example:6080")));
        assert!(a.allows(Some("http://[::1]:6080"), Some("[::1]:6080")));
        assert!(!a.allows(Some("http://evil.example"), Some("relay.example:6080")));
        assert!(!a.allows(Some("http://relay.example.evil.example"), Some("relay.example")));
        assert!(!a.allows(Some("null"), Some("relay.example")));
        assert!(!a.allows(Some("http://relay.example"), None));
        assert!(!a.allows(Some("not a uri"), Some("relay.example")));
    }

    #[test]
    fn allow_list() {
        let a = AllowedOrigins::new(&["https://dash.example:8443/".into(), "portal.example".into()], false);
        assert!(a.allows(Some("https://dash.example:8443"), Some("relay.example")));
        assert!(!a.allows(Some("http://dash.example:8443"), Some("relay.example")));
        assert!(a.allows(Some("https://portal.example"), Some("relay.example")));
        assert!(a.allows(Some("http://portal.example:81"), Some("relay.example")));
        assert!(!a.allows(Some("https://evil.example"), Some("relay.example")));
        assert!(AllowedOrigins::new(&["*".into()], false).allows(Some("https://evil.example"), Some("x")));
        assert!(AllowedOrigins::new(&["null".into()], false).allows(Some("null"), Some("x")));
    }

    #[test]
    fn required_origin_is_only_the_list() {
        let a = AllowedOrigins::new(&["https://dash.example".into()], true);
        assert!(a.allows(Some("https://dash.example"), Some("relay.example")));
        assert!(!a.allows(None, Some("relay.example")));
        assert!(!a.allows(Some("http://relay.example"), Some("relay.example")));
        assert!(!a.allows(Some("https://evil.example"), Some("relay.example")));
        assert!(!AllowedOrigins::new(&[], true).allows(None, None));
    }
}
