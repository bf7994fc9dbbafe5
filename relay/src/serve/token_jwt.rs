//! `--token-jwt KEYFILE`: the token is a signed JSON Web Token (JWS, RFC 7515/7519) that
//! carries its own target, as websockify's JWTTokenApi plugin reads it: claims `host` and `port`
//! (the host `unix_socket` makes the port a socket path), and optionally `nbf` and `exp`
//! (seconds since the epoch), checked against this machine's clock.
//!
//! - KEYFILE is what websockify's `--token-source` names: a PEM public key (RSA, EC P-256 /
//!   P-384 or Ed25519; a PKCS#8 or PKCS#1 private key works too, only its public half is used),
//!   or else the text of an HMAC secret in base64url (a JWK `oct` key's `k`).
//! - The algorithms follow the key: HS256/384/512 for a secret, RS and PS 256/384/512 for RSA,
//!   ES256 or ES384 for EC, EdDSA for Ed25519. `none`, any other algorithm and encrypted tokens
//!   (JWE, which websockify also takes, with the same key) are refused.
//! - The file is read at start-up (a key that cannot be used stops the relay) and again when its
//!   modification time or size changes, so keys rotate without a restart; if the new file cannot
//!   be used, handshakes get "token store unavailable" until it is fixed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::{Context, bail};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::target::Target;
use super::token_redis::LookupError;

/// A token's longest accepted length: a JWT with a target is a few hundred bytes.
pub const MAX_TOKEN: usize = 16 * 1024;

/// Why a token was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum JwtError {
    /// Not a JWT signed with this key (bad shape, signature, algorithm, claims that are not
    /// JSON): the handshake is refused as an invalid token; the text is for the log.
    Invalid(String),
    /// `exp` is past.
    Expired,
    /// `nbf` is still to come.
    NotYet,
    /// What the other token sources fail with too: the key file cannot be read or used (after
    /// a change: `Unavailable`), or the token is signed and current but its claims name no
    /// target (`BadValue`).
    Store(LookupError),
}

/// The key, with the validation that goes with it.
struct Key {
    decoding: DecodingKey,
    validation: Validation,
}

struct Loaded {
    /// Modification time and size of the file the key came from.
    stamp: Option<(SystemTime, u64)>,
    key: Result<Arc<Key>, String>,
}

pub struct JwtKeys {
    pub path: PathBuf,
    loaded: Mutex<Loaded>,
}

impl JwtKeys {
    /// Reads the key file; an error names what is wrong with it.
    pub fn open(path: PathBuf) -> anyhow::Result<JwtKeys> {
        let stamp = stamp(&path);
        let text = std::fs::read(&path).with_context(|| format!("cannot read --token-jwt {}", path.display()))?;
        let key = parse_key(&text).with_context(|| format!("--token-jwt {}", path.display()))?;
        Ok(JwtKeys { path, loaded: Mutex::new(Loaded { stamp, key: Ok(Arc::new(key)) }) })
    }

    /// The key as the file holds it now (re-read when it changed).
    fn key(&self) -> Result<Arc<Key>, String> {
        let now = stamp(&self.path);
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if now != loaded.stamp || now.is_none() {
            let key = std::fs::read(&self.path)
                .map_err(|e| format!("cannot read {}: {e}", self.path.display()))
                .and_then(|text| parse_key(&text).map_err(|e| format!("{}: {e:#}", self.path.display())))
                .map(Arc::new);
            *loaded = Loaded { stamp: now, key };
        }
        loaded.key.clone()
    }

    /// The target a token names, if it is a current JWT signed with the key.
    pub fn lookup(&self, token: &str) -> Result<Target, JwtError> {
        let key =
            self.key().map_err(|e| JwtError::Store(LookupError::Unavailable(format!("token key unusable: {e}"))))?;
        let claims = verify(&key, token)?;
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        check_times(&claims, now)?;
        super::token_api::target_from_json(&claims).map_err(|e| JwtError::Store(LookupError::BadValue(e)))
    }
}

fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The verified claims of `token`.
fn verify(key: &Key, token: &str) -> Result<serde_json::Value, JwtError> {
    let invalid = |s: &str| JwtError::Invalid(s.to_string());
    if token.len() > MAX_TOKEN {
        return Err(invalid("longer than 16 KiB"));
    }
    match token.split('.').count() {
        3 => {}
        5 => return Err(invalid("an encrypted token (JWE): only signed tokens (JWS) are taken")),
        _ => return Err(invalid("not a JSON Web Token (three base64url parts joined by dots)")),
    }
    jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &key.validation).map(|data| data.claims).map_err(
        |e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => invalid(&format!(
                "signed with an algorithm this key does not take (it takes {:?})",
                key.validation.algorithms
            )),
            _ => JwtError::Invalid(e.to_string()),
        },
    )
}

/// `nbf` and `exp`: numbers of seconds (fractions allowed) or absent.
fn check_times(claims: &serde_json::Value, now: f64) -> Result<(), JwtError> {
    let time = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| JwtError::Invalid(format!("\"{name}\" is not a number"))),
    };
    if time("nbf")?.is_some_and(|nbf| now < nbf) {
        return Err(JwtError::NotYet);
    }
    if time("exp")?.is_some_and(|exp| now > exp) {
        return Err(JwtError::Expired);
    }
    Ok(())
}

/// A key file's key: a PEM key, or else an HMAC secret in base64url.
fn parse_key(text: &[u8]) -> anyhow::Result<Key> {
    let text = std::str::from_utf8(text).context("the key file is not text (PEM, or a base64url secret)")?;
    let (decoding, algorithms) = match pem_label(text) {
        Some(label) => pem_key(text, label)?,
        None => {
            let secret: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let secret = secret.trim_end_matches('=');
            if secret.is_empty() {
                bail!("the key file is empty");
            }
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(secret)
                .context("not a PEM key, and not a base64url secret (a JWK oct key's \"k\")")?;
            (DecodingKey::from_secret(&bytes), vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512])
        }
    };
    let mut validation = Validation::new(algorithms[0]);
    validation.algorithms = algorithms;
    // Times are checked by `check_times` (jsonwebtoken ignores an `exp` that is not an integer);
    // websockify checks no audience, issuer or other claim.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    Ok(Key { decoding, validation })
}

/// The label of the first PEM block: `PUBLIC KEY`, `RSA PRIVATE KEY`, ...
fn pem_label(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let len = text[start..].find("-----")?;
    Some(&text[start..start + len])
}

const RSA: [Algorithm; 6] =
    [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512];

fn pem_key(text: &str, label: &str) -> anyhow::Result<(DecodingKey, Vec<Algorithm>)> {
    use ring::signature::{self as sig, KeyPair};
    match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => {
            let pem = text.as_bytes();
            if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
                Ok((k, RSA.to_vec()))
            } else if let Ok(k) = DecodingKey::from_ec_pem(pem) {
                Ok((k, vec![Algorithm::ES256, Algorithm::ES384]))
            } else if let Ok(k) = DecodingKey::from_ed_pem(pem) {
                Ok((k, vec![Algorithm::EdDSA]))
            } else {
                bail!("not an RSA, EC (P-256, P-384) or Ed25519 public key")
            }
        }
        "PRIVATE KEY" | "RSA PRIVATE KEY" => {
            // Only the public half verifies; ring reads the private key and gives it.
            let der = pem_der(text)?;
            if label == "RSA PRIVATE KEY" {
                let pair = sig::RsaKeyPair::from_der(&der).map_err(|e| anyhow::anyhow!("RSA private key: {e}"))?;
                return Ok((DecodingKey::from_rsa_der(pair.public_key().as_ref()), RSA.to_vec()));
            }
            if let Ok(pair) = sig::RsaKeyPair::from_pkcs8(&der) {
                return Ok((DecodingKey::from_rsa_der(pair.public_key().as_ref()), RSA.to_vec()));
            }
            let rng = ring::rand::SystemRandom::new();
            for (alg, jwt_alg) in [
                (&sig::ECDSA_P256_SHA256_FIXED_SIGNING, Algorithm::ES256),
                (&sig::ECDSA_P384_SHA384_FIXED_SIGNING, Algorithm::ES384),
            ] {
                if let Ok(pair) = sig::EcdsaKeyPair::from_pkcs8(alg, &der, &rng) {
                    return Ok((DecodingKey::from_ec_der(pair.public_key().as_ref()), vec![jwt_alg]));
                }
            }
            if let Ok(pair) = sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
                return Ok((DecodingKey::from_ed_der(pair.public_key().as_ref()), vec![Algorithm::EdDSA]));
            }
            bail!("a private key, but not an RSA, EC (P-256, P-384) or Ed25519 one")
        }
        "EC PRIVATE KEY" => bail!(
            "an EC private key in SEC1 form: give its public key (openssl ec -pubout) or convert it \
             to PKCS#8 (openssl pkcs8 -topk8 -nocrypt)"
        ),
        "ENCRYPTED PRIVATE KEY" => bail!("an encrypted private key: give the public key (openssl pkey -pubout)"),
        other => bail!("a PEM \"{other}\": give a public key (or a private key) in PEM"),
    }
}

/// The DER bytes of the private key (PKCS#8 or PKCS#1) in a PEM file, read by rustls-pemfile.
fn pem_der(text: &str) -> anyhow::Result<Vec<u8>> {
    use rustls_pemfile::Item;
    match rustls_pemfile::read_one(&mut text.as_bytes()) {
        Ok(Some(Item::Pkcs8Key(key))) => Ok(key.secret_pkcs8_der().to_vec()),
        Ok(Some(Item::Pkcs1Key(key))) => Ok(key.secret_pkcs1_der().to_vec()),
        Ok(_) => bail!("no PKCS#8 or PKCS#1 private key in the PEM"),
        Err(e) => bail!("the PEM cannot be read: {e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    fn secret_key() -> (Key, EncodingKey) {
        // "oxvnc test secret 0123456789abcdef" in base64url, as a JWK oct key's k, with a newline.
        let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"oxvnc test secret 0123456789abcdef");
        let key = parse_key(format!("{k}\n").as_bytes()).unwrap();
        (key, EncodingKey::from_secret(b"oxvnc test secret 0123456789abcdef"))
    }

    fn sign(alg: Algorithm, claims: serde_json::Value, key: &EncodingKey) -> String {
        encode(&Header::new(alg), &claims, key).unwrap()
    }

    #[test]
    fn secret_keys_verify_hs_tokens_and_their_claims() {
        let (key, enc) = secret_key();
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let t = sign(alg, json!({"host": "10.0.0.5", "port": 5901}), &enc);
            let claims = verify(&key, &t).unwrap();
            assert_eq!(
                super::super::token_api::target_from_json(&claims),
                Target::parse("10.0.0.5:5901").map_err(|e| e.to_string())
            );
        }
        // Another secret, a changed payload, or no signature at all: invalid.
        let other = EncodingKey::from_secret(b"another secret");
        assert!(matches!(
            verify(&key, &sign(Algorithm::HS256, json!({"host": "h", "port": 1}), &other)),
            Err(JwtError::Invalid(_))
        ));
        let t = sign(Algorithm::HS256, json!({"host": "h", "port": 1}), &enc);
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"host":"evil","port":1}"#);
        parts[1] = &forged;
        assert!(matches!(verify(&key, &parts.join(".")), Err(JwtError::Invalid(_))));
        let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        assert!(matches!(verify(&key, &format!("{none_header}.{forged}.")), Err(JwtError::Invalid(_))));
        for bad in ["", "abc", "a.b", "a.b.c", "a.b.c.d.e", "....", "\u{0}.\u{0}.\u{0}"] {
            assert!(matches!(verify(&key, bad), Err(JwtError::Invalid(_))), "{bad:?}");
        }
        assert!(matches!(verify(&key, &"a".repeat(MAX_TOKEN + 1)), Err(JwtError::Invalid(_))));
    }

    #[test]
    fn times() {
        let at = |v: serde_json::Value, now| check_times(&v, now);
        assert_eq!(at(json!({}), 100.0), Ok(()));
        assert_eq!(at(json!({"exp": 200, "nbf": 50}), 100.0), Ok(()));
        assert_eq!(at(json!({"exp": 99.5}), 100.0), Err(JwtError::Expired));
        assert_eq!(at(json!({"nbf": 100.5}), 100.0), Err(JwtError::NotYet));
        assert!(matches!(at(json!({"exp": "tomorrow"}), 100.0), Err(JwtError::Invalid(_))));
        assert!(matches!(at(json!({"nbf": null}), 100.0), Err(JwtError::Invalid(_))));
    }

    #[test]
    fn key_files() {
        assert!(parse_key(b"").is_err());
        assert!(parse_key(b"  \n").is_err());
        assert!(parse_key(b"not base64 !!").is_err());
        assert!(parse_key(b"\xff\xfe").is_err());
        let e = parse_key(b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n").err().unwrap();
        assert!(format!("{e:#}").contains("pkcs8"), "{e:#}");
        assert!(parse_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_err());
        assert!(parse_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err());

        // An EC P-256 private key (PKCS#8, as ring makes it) verifies ES256 tokens signed with it.
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 =
            ring::signature::EcdsaKeyPair::generate_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
        let key = parse_key(pem.as_bytes()).unwrap();
        assert_eq!(key.validation.algorithms, vec![Algorithm::ES256]);
        let enc = EncodingKey::from_ec_der(pkcs8.as_ref());
        let t = sign(Algorithm::ES256, json!({"host": "unix_socket", "port": "/run/vm1.sock"}), &enc);
        let claims = verify(&key, &t).unwrap();
        assert_eq!(super::super::token_api::target_from_json(&claims), Ok(Target::Unix("/run/vm1.sock".into())));
        // An HS256 token made with the public key's bytes as the secret (the classic confusion).
        let confused =
            sign(Algorithm::HS256, json!({"host": "h", "port": 1}), &EncodingKey::from_secret(pem.as_bytes()));
        assert!(matches!(verify(&key, &confused), Err(JwtError::Invalid(_))));

        // Ed25519 likewise.
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
        let key =
            parse_key(format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n").as_bytes()).unwrap();
        let t = sign(Algorithm::EdDSA, json!({"host": "h", "port": "5900"}), &EncodingKey::from_ed_der(pkcs8.as_ref()));
        assert!(verify(&key, &t).is_ok());
    }
}
