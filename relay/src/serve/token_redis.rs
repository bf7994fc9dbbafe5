//! `--token-redis`: tokens → targets kept in Redis, as websockify's `TokenRedis` plugin reads
//! them, so a deployment that writes its console tokens there switches relays without changing
//! its writer.
//!
//! - The source is websockify's `--token-source` string: `host[:port[:db[:password[:namespace]]]]`
//!   (empty fields take the defaults 6379 and 0; a field may be double-quoted to hold colons, as
//!   in `host::::"app:consoles"`); an IPv6 host is written `[addr]`.
//! - The key is `namespace:token` (just `token` without a namespace); its string value is the
//!   target, as JSON `{"host": "host:port"}` or plain `host:port` (or `unix_socket:/path`).
//! - Every handshake asks Redis (so a token written or deleted a moment ago counts at once), over
//!   one multiplexed connection opened on first use and opened again after a failure. A lookup
//!   that takes longer than [`LOOKUP_TIMEOUT`] or fails is an error, which the handshake reports
//!   as "token store unavailable" — never a hang and never a silent close.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

use super::target::Target;

/// Longest a handshake waits for Redis (connecting included).
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// Where tokens are looked up.
pub struct RedisTokens {
    client: redis::Client,
    namespace: String,
    /// For logs: `host:port/db` (never the password).
    pub place: String,
    conn: Mutex<Option<MultiplexedConnection>>,
}

/// Why a lookup gave no answer (for the log; the handshake gets a fixed reason).
#[derive(Debug, PartialEq, Eq)]
pub enum LookupError {
    /// Redis could not be reached or answered with an error, or did not answer in time.
    Unavailable(String),
    /// The token's value is not a target.
    BadValue(String),
}

/// The fields of a source string: split on `:`, except inside double quotes.
fn fields(src: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '[' if !quoted && out.len() == 1 && out[0].is_empty() => {
                // `[v6addr]`: the brackets keep its colons in the host field.
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    out[0].push(c);
                }
            }
            ':' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}

impl RedisTokens {
    /// Parses websockify's token-source string. Nothing is connected yet: a Redis that is down at
    /// start-up only fails the handshakes made while it is down.
    pub fn new(src: &str) -> anyhow::Result<RedisTokens> {
        let bad = || {
            anyhow::anyhow!(
                "--token-redis: expected HOST[:PORT[:DB[:PASSWORD[:NAMESPACE]]]] (empty PORT and DB mean \
                 6379 and 0; quote a field that holds colons); the value is not repeated here, as it may \
                 hold a password"
            )
        };
        let f = fields(src);
        if f.len() > 5 || f[0].trim().is_empty() {
            return Err(bad());
        }
        let field = |i: usize| f.get(i).map(|s| s.as_str()).filter(|s| !s.is_empty());
        let host = f[0].trim().to_owned();
        let port: u16 = field(1).map_or(Ok(6379), str::parse).map_err(|_| bad())?;
        let db: i64 = field(2).map_or(Ok(0), str::parse).map_err(|_| bad())?;
        let password = field(3).map(str::to_owned);
        let namespace = field(4).map(|n| format!("{n}:")).unwrap_or_default();
        let mut settings = redis::RedisConnectionInfo::default().set_db(db).set_skip_set_lib_name();
        if let Some(p) = &password {
            settings = settings.set_password(p);
        }
        let info = redis::IntoConnectionInfo::into_connection_info(redis::ConnectionAddr::Tcp(host.clone(), port))
            .map_err(|e| anyhow::anyhow!("--token-redis: {e}"))?
            .set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(|e| anyhow::anyhow!("--token-redis: {e}"))?;
        let place = if host.contains(':') { format!("[{host}]:{port}/{db}") } else { format!("{host}:{port}/{db}") };
        Ok(RedisTokens { client, namespace, place, conn: Mutex::new(None) })
    }

    /// The target for `token`: `Ok(None)` when Redis has no such key.
    pub async fn lookup(&self, token: &str) -> Result<Option<Target>, LookupError> {
        let key = format!("{}{token}", self.namespace);
        let attempts = async {
            // A connection kept from earlier may have died with a Redis restart since; that is
            // found out only by using it, so one such failure is retried on a new connection.
            match self.get(&key).await {
                Err(e) if e.is_io_error() || e.is_connection_dropped() => {
                    *self.conn.lock().await = None;
                    self.get(&key).await
                }
                other => other,
            }
        };
        let value = match tokio::time::timeout(LOOKUP_TIMEOUT, attempts).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                *self.conn.lock().await = None;
                return Err(LookupError::Unavailable(e.to_string()));
            }
            Err(_) => {
                *self.conn.lock().await = None;
                return Err(LookupError::Unavailable(format!("no answer within {LOOKUP_TIMEOUT:?}")));
            }
        };
        value.map(|v| parse_value(&v)).transpose()
    }

    async fn get(&self, key: &str) -> redis::RedisResult<Option<String>> {
        let mut conn = {
            let mut slot = self.conn.lock().await;
            match &*slot {
                Some(c) => c.clone(),
                None => {
                    let c = self.client.get_multiplexed_async_connection().await?;
                    *slot = Some(c.clone());
                    c
                }
            }
        };
        redis::cmd("GET").arg(key).query_async(&mut conn).await
    }
}

/// A stored value: `{"host": "host:port"}` or `host:port` / `unix_socket:/path`.
fn parse_value(v: &str) -> Result<Target, LookupError> {
    let v = v.trim();
    let target = if v.starts_with('{') {
        let json: serde_json::Value =
            serde_json::from_str(v).map_err(|e| LookupError::BadValue(format!("not JSON: {e}")))?;
        let host = json
            .get("host")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| LookupError::BadValue("JSON without a \"host\" string".into()))?;
        Target::parse(host)
    } else {
        Target::parse(v)
    };
    target.map_err(|e| LookupError::BadValue(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_strings_as_websockify_writes_them() {
        let t = RedisTokens::new("redis.internal").unwrap();
        assert_eq!((t.place.as_str(), t.namespace.as_str()), ("redis.internal:6379/0", ""));
        let t = RedisTokens::new("r:6380:2:secret:app").unwrap();
        assert_eq!((t.place.as_str(), t.namespace.as_str()), ("r:6380/2", "app:"));
        let t = RedisTokens::new("r::::\"first-ns:second-ns\"").unwrap();
        assert_eq!((t.place.as_str(), t.namespace.as_str()), ("r:6379/0", "first-ns:second-ns:"));
        let t = RedisTokens::new("[::1]:7000").unwrap();
        assert_eq!(t.place, "[::1]:7000/0");
        assert_eq!(fields("r:::pa\"ss:w\"ord"), ["r", "", "", "pass:word"]);
        for bad in ["", ":6379", "r:port", "r:6379:db", "r:1:2:3:4:5", "r:70000"] {
            assert!(RedisTokens::new(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn values_as_json_or_plain() {
        let tcp = |h: &str, p| Target::Tcp { host: h.into(), port: p };
        assert_eq!(parse_value(r#"{"host": "10.0.0.5:5901"}"#).unwrap(), tcp("10.0.0.5", 5901));
        assert_eq!(parse_value(" vnc.internal:5900\n").unwrap(), tcp("vnc.internal", 5900));
        assert_eq!(parse_value("[::1]:5900").unwrap(), tcp("::1", 5900));
        assert_eq!(parse_value("unix_socket:/run/vm.sock").unwrap(), Target::Unix("/run/vm.sock".into()));
        for bad in ["", "{", r#"{"port": 5900}"#, r#"{"host": 5900}"#, "no-port", "h:0"] {
            assert!(matches!(parse_value(bad), Err(LookupError::BadValue(_))), "{bad:?}");
        }
    }
}
