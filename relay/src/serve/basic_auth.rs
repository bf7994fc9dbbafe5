//! `--basic-auth USER:PASSWORD`: HTTP Basic authentication (RFC 7617) for WebSocket handshakes,
//! and with `--web-auth` for the files and metrics too, as websockify's BasicHTTPAuth plugin
//! (and its `--web-auth`). The comparison takes the same time wherever the two differ.

use base64::Engine;
use http::{HeaderMap, header};

/// The expected credentials, kept as a digest: the comparison is over equal-length digests.
pub struct BasicAuth {
    digest: ring::digest::Digest,
}

/// Why a request is not let in.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// No credentials, or not these: 401 with a challenge.
    Missing,
    Wrong,
    /// An Authorization header that is not Basic credentials: 403, as websockify answers.
    Malformed,
}

impl BasicAuth {
    /// `USER:PASSWORD` (the user has no colon; the password may).
    pub fn new(credentials: &str) -> Result<BasicAuth, String> {
        let Some((user, _)) = credentials.split_once(':') else {
            return Err("--basic-auth: give USER:PASSWORD".into());
        };
        if user.is_empty() {
            return Err("--basic-auth: the user name is empty".into());
        }
        Ok(BasicAuth { digest: digest(credentials.as_bytes()) })
    }

    /// Whether a request with these headers is let in.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Denied> {
        let Some(value) = headers.get(header::AUTHORIZATION) else { return Err(Denied::Missing) };
        let value = value.to_str().map_err(|_| Denied::Malformed)?.trim();
        let (scheme, encoded) = value.split_once(' ').ok_or(Denied::Malformed)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(Denied::Malformed);
        }
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| Denied::Malformed)?;
        if !decoded.contains(&b':') {
            return Err(Denied::Malformed);
        }
        use subtle::ConstantTimeEq;
        if bool::from(digest(&decoded).as_ref().ct_eq(self.digest.as_ref())) { Ok(()) } else { Err(Denied::Wrong) }
    }
}

fn digest(bytes: &[u8]) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn credentials() {
        let auth = BasicAuth::new("admin:s3cret:with colon").unwrap();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(auth.check(&with(&format!("Basic {}", b64("admin:s3cret:with colon")))), Ok(()));
        assert_eq!(auth.check(&with(&format!("basic  {}", b64("admin:s3cret:with colon")))), Ok(()));
        assert_eq!(auth.check(&HeaderMap::new()), Err(Denied::Missing));
        assert_eq!(auth.check(&with(&format!("Basic {}", b64("admin:s3cret")))), Err(Denied::Wrong));
        assert_eq!(auth.check(&with(&format!("Basic {}", b64("root:s3cret:with colon")))), Err(Denied::Wrong));
        assert_eq!(auth.check(&with(&format!("Basic {}", b64("no colon")))), Err(Denied::Malformed));
        assert_eq!(auth.check(&with("Bearer abc")), Err(Denied::Malformed));
        assert_eq!(auth.check(&with("Basic !!!")), Err(Denied::Malformed));
        assert_eq!(auth.check(&with("Basic")), Err(Denied::Malformed));
        assert!(BasicAuth::new("nocolon").is_err());
        assert!(BasicAuth::new(":password").is_err());
        assert!(BasicAuth::new("user:").is_ok());
    }
}
