//! Test PKIs for VeNCrypt's X509* security types: a CA and a server certificate it signed, made
//! with rcgen per test, and TigerVNC's Xvnc serving that certificate.

use image::RgbaImage;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

use crate::servers;
use crate::x11::{self, XDisplay};

/// PEM files of a test CA and a server certificate it signed.
pub struct TestPki {
    /// The CA certificate (what a client is given with `--ca`).
    pub ca: String,
    /// The server certificate and its private key (Xvnc `-X509Cert` / `-X509Key`).
    pub cert: String,
    pub key: String,
    /// SHA-256 of the server certificate (DER), "AB:CD:…".
    pub fingerprint: String,
}

/// Makes a CA and a server certificate for `localhost` and `127.0.0.1` under the artifacts
/// directory `artifacts`; `expired` makes the server certificate valid only in 2019.
pub fn make_pki(artifacts: &str, name: &str, expired: bool) -> TestPki {
    let dir = servers::artifacts_dir(artifacts);
    let name = servers::unique_name(name);
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, format!("oxvnc test CA {name}"));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("server params");
    params.distinguished_name.push(DnType::CommonName, "localhost");
    if expired {
        params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    }
    let key = KeyPair::generate().expect("server key");
    let cert = params.signed_by(&key, &ca).expect("server certificate");

    let path = |suffix: &str| {
        let p = dir.join(format!("{name}-{suffix}.pem"));
        p.to_str().expect("utf-8 path").to_string()
    };
    let pki = TestPki {
        ca: path("ca"),
        cert: path("cert"),
        key: path("key"),
        fingerprint: oxvnc_rfb::format_fingerprint(&oxvnc_rfb::tls::certificate_sha256(cert.der())),
    };
    std::fs::write(&pki.ca, ca.pem()).expect("write CA");
    std::fs::write(&pki.cert, cert.pem()).expect("write certificate");
    std::fs::write(&pki.key, key.serialize_pem()).expect("write key");
    pki
}

/// Xvnc of `size` with `-SecurityTypes types` and the PKI's certificate (plus `extra`
/// arguments), showing the deterministic test picture; `tag` names the picture's artifacts.
/// Returns the display (Xvnc is stopped when it drops) and the RFB port.
pub fn start_tls_xvnc(size: (u32, u32), types: &str, pki: &TestPki, extra: &[&str], tag: &str) -> (XDisplay, u16) {
    let mut args = vec!["-SecurityTypes", types, "-X509Cert", &pki.cert, "-X509Key", &pki.key];
    args.extend_from_slice(extra);
    let (mut x, port) = x11::start_xvnc(size, &args);
    let picture: RgbaImage = x11::test_picture(size.0, size.1);
    x11::show_on_root(&mut x, &picture, &format!("{tag}-picture"));
    (x, port)
}
