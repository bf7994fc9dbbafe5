//! Process-wide counters, rendered for `GET /metrics` in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a connection attempt or a session failed (`oxvnc_failures_total{reason=...}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    MissingToken,
    UnknownToken,
    InvalidToken,
    Unauthorized,
    OriginRefused,
    BadHandshake,
    TooManyConnections,
    TargetUnreachable,
    TlsHandshake,
    UpgradeFailed,
    Protocol,
    TokenStore,
}

impl Failure {
    pub const ALL: [Failure; 12] = [
        Failure::MissingToken,
        Failure::UnknownToken,
        Failure::InvalidToken,
        Failure::Unauthorized,
        Failure::OriginRefused,
        Failure::BadHandshake,
        Failure::TooManyConnections,
        Failure::TargetUnreachable,
        Failure::TlsHandshake,
        Failure::UpgradeFailed,
        Failure::Protocol,
        Failure::TokenStore,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Failure::MissingToken => "missing_token",
            Failure::UnknownToken => "unknown_token",
            Failure::InvalidToken => "invalid_token",
            Failure::Unauthorized => "unauthorized",
            Failure::OriginRefused => "origin_refused",
            Failure::BadHandshake => "bad_handshake",
            Failure::TooManyConnections => "too_many_connections",
            Failure::TargetUnreachable => "target_unreachable",
            Failure::TlsHandshake => "tls_handshake",
            Failure::UpgradeFailed => "upgrade_failed",
            Failure::Protocol => "protocol_error",
            Failure::TokenStore => "token_store",
        }
    }
}

/// How a session ended (`oxvnc_sessions_closed_total{reason=...}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    TargetClosed,
    TargetError,
    TargetUnreachable,
    ClientClosed,
    ClientGone,
    TextFrame,
    MessageTooBig,
    ProtocolError,
    IdleTimeout,
    SessionLimit,
    HeartbeatTimeout,
    Shutdown,
}

impl CloseReason {
    pub const ALL: [CloseReason; 12] = [
        CloseReason::TargetClosed,
        CloseReason::TargetError,
        CloseReason::TargetUnreachable,
        CloseReason::ClientClosed,
        CloseReason::ClientGone,
        CloseReason::TextFrame,
        CloseReason::MessageTooBig,
        CloseReason::ProtocolError,
        CloseReason::IdleTimeout,
        CloseReason::SessionLimit,
        CloseReason::HeartbeatTimeout,
        CloseReason::Shutdown,
    ];

    pub fn label(self) -> &'static str {
        match self {
            CloseReason::TargetClosed => "target_closed",
            CloseReason::TargetError => "target_error",
            CloseReason::TargetUnreachable => "target_unreachable",
            CloseReason::ClientClosed => "client_closed",
            CloseReason::ClientGone => "client_gone",
            CloseReason::TextFrame => "text_frame",
            CloseReason::MessageTooBig => "message_too_big",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::SessionLimit => "max_session",
            CloseReason::HeartbeatTimeout => "heartbeat_timeout",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    pub sessions_active: AtomicU64,
    pub sessions_total: AtomicU64,
    pub http_connections_total: AtomicU64,
    pub bytes_to_client: AtomicU64,
    pub bytes_from_client: AtomicU64,
    failures: [AtomicU64; Failure::ALL.len()],
    closed: [AtomicU64; CloseReason::ALL.len()],
}

impl Metrics {
    pub fn fail(&self, f: Failure) {
        self.failures[f as usize].fetch_add(1, Relaxed);
    }

    pub fn closed(&self, c: CloseReason) {
        self.closed[c as usize].fetch_add(1, Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut s = String::with_capacity(2048);
        let mut one = |name: &str, kind: &str, help: &str, v: u64| {
            let _ = write!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n");
        };
        one("oxvnc_connections_active", "gauge", "WebSocket sessions open now.", self.sessions_active.load(Relaxed));
        one("oxvnc_connections_total", "counter", "WebSocket sessions opened.", self.sessions_total.load(Relaxed));
        one(
            "oxvnc_http_connections_total",
            "counter",
            "TCP connections accepted (HTTP, WebSocket, TLS).",
            self.http_connections_total.load(Relaxed),
        );
        one(
            "oxvnc_bytes_to_client_total",
            "counter",
            "Bytes relayed from VNC servers to browsers (WebSocket payload).",
            self.bytes_to_client.load(Relaxed),
        );
        one(
            "oxvnc_bytes_from_client_total",
            "counter",
            "Bytes relayed from browsers to VNC servers (WebSocket payload).",
            self.bytes_from_client.load(Relaxed),
        );
        counter_by_reason(
            &mut s,
            "oxvnc_failures_total",
            "Refused handshakes and failed sessions, by reason.",
            Failure::ALL.iter().map(|&f| (f.label(), self.failures[f as usize].load(Relaxed))),
        );
        counter_by_reason(
            &mut s,
            "oxvnc_sessions_closed_total",
            "Sessions ended, by reason.",
            CloseReason::ALL.iter().map(|&c| (c.label(), self.closed[c as usize].load(Relaxed))),
        );
        s
    }
}

/// One counter family with a `reason` label, in the Prometheus text format.
fn counter_by_reason<'a>(s: &mut String, name: &str, help: &str, rows: impl Iterator<Item = (&'a str, u64)>) {
    let _ = write!(s, "# HELP {name} {help}\n# TYPE {name} counter\n");
    for (reason, v) in rows {
        let _ = writeln!(s, "{name}{{reason=\"{reason}\"}} {v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_order_matches_tables() {
        for (i, f) in Failure::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
        for (i, c) in CloseReason::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
    }

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.fail(Failure::UnknownToken);
        m.fail(Failure::UnknownToken);
        m.closed(CloseReason::IdleTimeout);
        m.bytes_to_client.fetch_add(42, Relaxed);
        let t = m.render();
        assert!(t.contains("oxvnc_failures_total{reason=\"unknown_token\"} 2\n"), "{t}");
        assert!(t.contains("oxvnc_sessions_closed_total{reason=\"idle_timeout\"} 1\n"), "{t}");
        assert!(t.contains("\noxvnc_bytes_to_client_total 42\n"), "{t}");
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("oxvnc_"), "{line}");
            value.parse::<u64>().unwrap();
        }
    }
}
