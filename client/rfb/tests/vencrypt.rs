//! VeNCrypt through the engine against an in-process server (rustls on a loopback socket): the
//! TLS layer carries the handshake and the RFB messages both ways, whether bytes arrive in
//! chunks or one at a time; certificates are checked by CA or pin, or shown for trust on first
//! use before anything is sent inside TLS; Plain asks for a user name; failures are typed.

#![cfg(feature = "rustls")]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use oxvnc_rfb::tls::certificate_sha256;
use oxvnc_rfb::{Config, Connection, Credentials, Error, Event, State, TlsConfig};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

struct Pki {
    ca_pem: Vec<u8>,
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let params = CertificateParams::new(vec!["vnc.test".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    Pki { ca_pem: ca.pem().into_bytes(), cert: cert.der().clone(), key: key.serialize_der() }
}

/// What the test server offers and expects.
#[derive(Clone)]
struct Script {
    offered: Vec<u32>,
    /// Expected Plain user name and password (for 256/259/262).
    plain: Option<(String, String)>,
    /// Speak only TLS 1.2 (where encrypted handshake records are still typed as handshake).
    tls12_only: bool,
}

/// A VeNCrypt server for one connection: RFB 3.8, security type 19, the offered sub-types, TLS,
/// Plain checked if asked, SecurityResult OK, ServerInit 4x2 "tls"; returns the type of the
/// first client message read inside TLS (0 = SetPixelFormat).
fn serve(listener: TcpListener, pki: &Pki, script: Script) -> JoinHandle<Result<u8, String>> {
    let cert = pki.cert.clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone()));
    thread::spawn(move || {
        let e = |e: std::io::Error| e.to_string();
        let (mut s, _) = listener.accept().map_err(e)?;
        s.set_read_timeout(Some(Duration::from_secs(20))).map_err(e)?;
        let mut buf = [0u8; 64];
        s.write_all(b"RFB 003.008\n").map_err(e)?;
        s.read_exact(&mut buf[..12]).map_err(e)?;
        s.write_all(&[1, 19]).map_err(e)?;
        s.read_exact(&mut buf[..1]).map_err(e)?;
        if buf[0] != 19 {
            return Err(format!("client chose security type {}", buf[0]));
        }
        s.write_all(&[0, 2]).map_err(e)?;
        s.read_exact(&mut buf[..2]).map_err(e)?;
        s.write_all(&[0, script.offered.len() as u8]).map_err(e)?;
        for t in &script.offered {
            s.write_all(&t.to_be_bytes()).map_err(e)?;
        }
        s.read_exact(&mut buf[..4]).map_err(e)?;
        let sub = u32::from_be_bytes(buf[..4].try_into().unwrap());
        if !script.offered.contains(&sub) {
            return Err(format!("client chose sub-type {sub}"));
        }
        s.write_all(&[1]).map_err(e)?;
        let versions: &[&rustls::SupportedProtocolVersion] =
            if script.tls12_only { &[&rustls::version::TLS12] } else { rustls::DEFAULT_VERSIONS };
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, s);
        if sub == 261 {
            // X509Vnc: a challenge, and any response is accepted.
            tls.write_all(&[9; 16]).map_err(e)?;
            tls.flush().map_err(e)?;
            tls.read_exact(&mut buf[..16]).map_err(e)?;
        }
        if let Some((user, pass)) = &script.plain {
            let mut lens = [0u8; 8];
            tls.read_exact(&mut lens).map_err(e)?;
            let ul = u32::from_be_bytes(lens[..4].try_into().unwrap()) as usize;
            let pl = u32::from_be_bytes(lens[4..].try_into().unwrap()) as usize;
            let mut up = vec![0u8; ul + pl];
            tls.read_exact(&mut up).map_err(e)?;
            if up[..ul] != *user.as_bytes() || up[ul..] != *pass.as_bytes() {
                tls.write_all(&1u32.to_be_bytes()).map_err(e)?;
                let reason = b"bad user or password";
                tls.write_all(&(reason.len() as u32).to_be_bytes()).map_err(e)?;
                tls.write_all(reason).map_err(e)?;
                tls.flush().map_err(e)?;
                return Err("wrong credentials".into());
            }
        }
        tls.write_all(&0u32.to_be_bytes()).map_err(e)?;
        tls.read_exact(&mut buf[..1]).map_err(e)?; // ClientInit
        let mut init = vec![0, 4, 0, 2];
        init.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
        init.extend_from_slice(&3u32.to_be_bytes());
        init.extend_from_slice(b"tls");
        tls.write_all(&init).map_err(e)?;
        tls.flush().map_err(e)?;
        tls.read_exact(&mut buf[..1]).map_err(e)?;
        Ok(buf[0])
    })
}

/// What the client side saw.
struct Outcome {
    events: Vec<Event>,
    result: Result<(), Error>,
    fingerprint: Option<String>,
}

/// Drives `conn` over `stream` until Connected or an error, feeding received bytes in pieces of
/// `piece` bytes; `on_event` answers events (trust, credentials).
fn drive(
    mut conn: Connection,
    mut stream: TcpStream,
    piece: usize,
    mut on_event: impl FnMut(&mut Connection, &Event),
) -> Outcome {
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut events = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let out = conn.take_output();
        if !out.is_empty() {
            stream.write_all(&out).unwrap();
        }
        if events.iter().any(|e| matches!(e, Event::Connected { .. })) {
            return Outcome { events, result: Ok(()), fingerprint: conn.server_certificate_sha256() };
        }
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => {
                return Outcome {
                    events,
                    result: Err(conn.error().cloned().unwrap_or(Error::Closed)),
                    fingerprint: conn.server_certificate_sha256(),
                };
            }
            Ok(n) => n,
        };
        for chunk in buf[..n].chunks(piece) {
            let r = conn.receive(chunk);
            while let Some(ev) = conn.poll_event() {
                on_event(&mut conn, &ev);
                events.push(ev);
            }
            if let Err(e) = r.and(conn.error().cloned().map_or(Ok(()), Err)) {
                return Outcome { events, result: Err(e), fingerprint: conn.server_certificate_sha256() };
            }
        }
    }
}

fn setup(offered: &[u32], plain: Option<(&str, &str)>) -> (Pki, TcpStream, JoinHandle<Result<u8, String>>) {
    setup_with(offered, plain, false)
}

fn setup_with(
    offered: &[u32],
    plain: Option<(&str, &str)>,
    tls12_only: bool,
) -> (Pki, TcpStream, JoinHandle<Result<u8, String>>) {
    let pki = pki();
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let script =
        Script { offered: offered.to_vec(), plain: plain.map(|(u, p)| (u.to_string(), p.to_string())), tls12_only };
    let server = serve(listener, &pki, script);
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    (pki, stream, server)
}

fn config(tls: TlsConfig) -> Config {
    Config { tls, ..Config::default() }
}

fn hex(fp: &[u8; 32]) -> String {
    oxvnc_rfb::format_fingerprint(fp)
}

#[test]
fn ca_verified_x509none_in_chunks_and_byte_by_byte() {
    for piece in [usize::MAX, 1] {
        let (pki, stream, server) = setup(&[260], None);
        let tls = TlsConfig {
            ca_pem: Some(pki.ca_pem.clone()),
            server_name: Some("vnc.test".into()),
            ..TlsConfig::default()
        };
        let out = drive(Connection::new(config(tls)), stream, piece, |_, _| {});
        out.result.unwrap();
        assert!(matches!(&out.events[0], Event::Connected { width: 4, height: 2, name } if name == "tls"));
        assert_eq!(out.fingerprint, Some(hex(&certificate_sha256(&pki.cert))));
        // The first message the server read inside TLS: SetPixelFormat.
        assert_eq!(server.join().unwrap(), Ok(0), "piece {piece}");
    }
}

#[test]
fn unknown_certificate_waits_for_trust() {
    let (pki, stream, server) = setup(&[261, 260], None);
    let mut asked = None;
    let out = drive(Connection::new(config(TlsConfig::default())), stream, 7, |conn, ev| {
        if let Event::CertificateUnknown { fingerprint_sha256 } = ev {
            assert_eq!(conn.state(), State::NeedCertificateTrust);
            asked = Some(fingerprint_sha256.clone());
            conn.trust_certificate().unwrap();
        }
        if let Event::CredentialsRequired { username } = ev {
            // X509Vnc: the password is asked for inside TLS, after the trust decision.
            assert!(!username);
            assert!(asked.is_some(), "password asked for before the certificate was trusted");
            conn.send_credentials(Credentials { username: None, password: "pw".into() }).unwrap();
        }
    });
    out.result.unwrap();
    assert_eq!(asked, Some(hex(&certificate_sha256(&pki.cert))));
    assert_eq!(server.join().unwrap(), Ok(0));
}

#[test]
fn nothing_is_sent_inside_tls_before_the_certificate_is_trusted() {
    // X509Plain with credentials given up front: they must wait for the caller's decision.
    // TLS 1.2, so that application data records (23) differ from encrypted handshake records.
    let (_pki, stream, _server) = setup_with(&[262], Some(("ann", "pw")), true);
    let mut cfg = config(TlsConfig::default());
    cfg.credentials = Some(Credentials { username: Some("ann".into()), password: "pw".into() });
    let mut sent_while_asking = None;
    let out = drive(Connection::new(cfg), stream, 100, |conn, ev| {
        if let Event::CertificateUnknown { .. } = ev {
            // Only the rest of the TLS handshake may be pending: no application data record.
            let out = conn.take_output();
            sent_while_asking = Some(out.clone());
            conn.reject_certificate();
        }
    });
    assert!(matches!(out.result, Err(Error::CertificateRejected { .. })));
    let out = sent_while_asking.expect("CertificateUnknown raised");
    let mut records = &out[..];
    while records.len() >= 5 {
        assert_ne!(records[0], 23, "application data sent before trust");
        let len = u16::from_be_bytes([records[3], records[4]]) as usize;
        records = &records[(5 + len).min(records.len())..];
    }
}

#[test]
fn rejected_certificate_ends_the_connection() {
    let (pki, stream, _server) = setup(&[260], None);
    let out = drive(Connection::new(config(TlsConfig::default())), stream, usize::MAX, |conn, ev| {
        if let Event::CertificateUnknown { .. } = ev {
            conn.reject_certificate();
        }
    });
    assert_eq!(out.result, Err(Error::CertificateRejected { fingerprint: hex(&certificate_sha256(&pki.cert)) }));
}

#[test]
fn pinned_fingerprint_and_wrong_pin() {
    let (pki, stream, server) = setup(&[260], None);
    let pin = certificate_sha256(&pki.cert);
    let tls = TlsConfig { pinned_sha256: Some(pin), ..TlsConfig::default() };
    drive(Connection::new(config(tls)), stream, 100, |_, ev| {
        assert!(!matches!(ev, Event::CertificateUnknown { .. }));
    })
    .result
    .unwrap();
    assert_eq!(server.join().unwrap(), Ok(0));

    let (pki, stream, _server) = setup(&[260], None);
    let tls = TlsConfig { pinned_sha256: Some([7; 32]), ..TlsConfig::default() };
    let out = drive(Connection::new(config(tls)), stream, 100, |_, _| {});
    assert_eq!(
        out.result,
        Err(Error::CertificatePinMismatch {
            expected: hex(&[7; 32]),
            fingerprint: hex(&certificate_sha256(&pki.cert)),
        })
    );
}

#[test]
fn wrong_ca_and_wrong_name() {
    let other = pki();
    let (pki, stream, _server) = setup(&[260], None);
    let tls = TlsConfig { ca_pem: Some(other.ca_pem), ..TlsConfig::default() };
    let out = drive(Connection::new(config(tls)), stream, 100, |_, _| {});
    assert_eq!(out.result, Err(Error::CertificateUnknown { fingerprint: hex(&certificate_sha256(&pki.cert)) }));

    let (pki, stream, _server) = setup(&[260], None);
    let tls =
        TlsConfig { ca_pem: Some(pki.ca_pem.clone()), server_name: Some("other.test".into()), ..TlsConfig::default() };
    let out = drive(Connection::new(config(tls)), stream, 100, |_, _| {});
    assert_eq!(
        out.result,
        Err(Error::CertificateNameMismatch {
            name: "other.test".into(),
            fingerprint: hex(&certificate_sha256(&pki.cert)),
        })
    );
}

#[test]
fn x509plain_asks_for_a_user_name() {
    let (pki, stream, server) = setup(&[262], Some(("ann", "pw-1")));
    let mut cfg = config(TlsConfig { ca_pem: Some(pki.ca_pem.clone()), ..TlsConfig::default() });
    // A password alone is not enough for Plain: the user name is asked for.
    cfg.credentials = Some(Credentials { username: None, password: "pw-1".into() });
    let out = drive(Connection::new(cfg), stream, 5, |conn, ev| {
        if let Event::CredentialsRequired { username } = ev {
            assert!(*username, "Plain must ask for a user name");
            assert_eq!(conn.state(), State::NeedCredentials);
            conn.send_credentials(Credentials { username: Some("ann".into()), password: "pw-1".into() }).unwrap();
        }
    });
    out.result.unwrap();
    assert!(matches!(out.events[0], Event::CredentialsRequired { username: true }));
    assert_eq!(server.join().unwrap(), Ok(0));
}

#[test]
fn x509plain_wrong_password_is_an_authentication_failure() {
    let (pki, stream, server) = setup(&[262], Some(("ann", "pw-1")));
    let mut cfg = config(TlsConfig { ca_pem: Some(pki.ca_pem.clone()), ..TlsConfig::default() });
    cfg.credentials = Some(Credentials { username: Some("ann".into()), password: "pw-2".into() });
    let out = drive(Connection::new(cfg), stream, 100, |_, _| {});
    assert_eq!(out.result, Err(Error::AuthenticationFailed(Some("bad user or password".into()))));
    assert!(server.join().unwrap().is_err());
}

#[test]
fn no_common_sub_type() {
    let (_pki, stream, _server) = setup(&[2, 30], None);
    let out = drive(Connection::new(config(TlsConfig::default())), stream, 100, |_, _| {});
    assert_eq!(out.result, Err(Error::NoCommonSubType { offered: vec![2, 30] }));
}

/// A session started by the caller (as the browser console does from its TLS module), with
/// errors crossing as strings the way they cross from that module.
struct External(oxvnc_rfb::tls::RustlsSession);

impl oxvnc_rfb::tls::TlsSession for External {
    fn receive(&mut self, data: &[u8], plain: &mut Vec<u8>) -> Result<(), Error> {
        self.0
            .receive(data, plain)
            .map_err(|e| oxvnc_rfb::tls::tls_error_from_parts(&oxvnc_rfb::tls::tls_error_parts(&e)))
    }
    fn write(&mut self, plain: &[u8]) {
        self.0.write(plain)
    }
    fn write_tls_into(&mut self, out: &mut Vec<u8>) {
        self.0.write_tls_into(out)
    }
    fn wants_write(&self) -> bool {
        self.0.wants_write()
    }
    fn is_handshaking(&self) -> bool {
        self.0.is_handshaking()
    }
    fn fingerprint(&self) -> Option<[u8; 32]> {
        self.0.fingerprint()
    }
    fn verified(&self) -> bool {
        self.0.verified()
    }
}

fn external(tls: TlsConfig) -> Config {
    Config { external_tls: true, ..config(tls) }
}

/// Answers Event::TlsRequired with a session started from the configuration it carries.
fn provide(conn: &mut Connection, ev: &Event, asked: &mut u32) {
    if let Event::TlsRequired { config, anonymous } = ev {
        *asked += 1;
        assert!(!anonymous, "X509 sub-types are not anonymous");
        let session = oxvnc_rfb::tls::RustlsSession::start(config, *anonymous).unwrap();
        conn.start_tls(Box::new(External(session))).unwrap();
    }
}

#[test]
fn caller_provided_session_connects_and_checks_the_certificate() {
    for piece in [usize::MAX, 1] {
        let (pki, stream, server) = setup(&[260], None);
        let tls = TlsConfig { ca_pem: Some(pki.ca_pem.clone()), ..TlsConfig::default() };
        let mut asked = 0;
        let out = drive(Connection::new(external(tls)), stream, piece, |c, ev| provide(c, ev, &mut asked));
        out.result.unwrap();
        assert_eq!(asked, 1);
        assert!(matches!(&out.events[1], Event::Connected { name, .. } if name == "tls"));
        assert_eq!(out.fingerprint, Some(hex(&certificate_sha256(&pki.cert))));
        assert_eq!(server.join().unwrap(), Ok(0), "piece {piece}");
    }
    // A certificate the given CA did not sign fails the same way as with the built-in session.
    let (_pki, stream, _server) = setup(&[260], None);
    let tls = TlsConfig { ca_pem: Some(pki().ca_pem), ..TlsConfig::default() };
    let mut asked = 0;
    let out = drive(Connection::new(external(tls)), stream, 64, |c, ev| provide(c, ev, &mut asked));
    assert!(matches!(out.result, Err(Error::CertificateUnknown { .. })), "{:?}", out.result);
}

#[test]
fn a_session_that_never_comes_sends_nothing_and_can_fail() {
    let (_pki, mut stream, _server) = setup(&[260], None);
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut conn = Connection::new(external(TlsConfig::default()));
    let mut buf = [0u8; 256];
    let mut required = false;
    while !required {
        let out = conn.take_output();
        stream.write_all(&out).unwrap();
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "server closed");
        conn.receive(&buf[..n]).unwrap();
        while let Some(ev) = conn.poll_event() {
            required |= matches!(ev, Event::TlsRequired { .. });
        }
    }
    // Nothing goes out while the caller looks for a session (no ClientHello, nothing clear).
    assert!(!conn.has_output());
    assert!(conn.take_output().is_empty());
    conn.fail_tls(Error::Tls("the TLS module could not be loaded".into()));
    assert!(matches!(conn.error(), Some(Error::Tls(m)) if m.contains("module")));
    assert!(matches!(conn.poll_event(), Some(Event::Disconnected(_))));
    assert_eq!(conn.receive(b"x"), Err(Error::Closed));
}
