//! Tight security (16) through the engine from bytes: the tunnel list (NOTUNNEL accepted, any
//! other refused with its name), the authentication list (None, VNC authentication), and the
//! capability lists after ServerInit, which must be skipped before the first server message —
//! whether the bytes come at once or one at a time.

use oxvnc_rfb::{Config, Connection, Credentials, Error, Event};

fn cap(code: u32, vendor: &[u8; 4], name: &[u8; 8]) -> Vec<u8> {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(vendor);
    v.extend_from_slice(name);
    v
}

/// ServerInit 2x1 "t" (32 bpp true colour), then Tight's capability lists (1 server message,
/// 1 client message, 2 encodings), then a Bell.
fn server_init_and_caps() -> Vec<u8> {
    let mut v = vec![0, 2, 0, 1, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0];
    v.extend_from_slice(&1u32.to_be_bytes());
    v.push(b't');
    v.extend_from_slice(&[0, 1, 0, 1, 0, 2, 0, 0]);
    v.extend(cap(130, b"TGHT", b"FTS_LSDA"));
    v.extend(cap(130, b"TGHT", b"FTC_LSRQ"));
    v.extend(cap(7, b"TGHT", b"TIGHT___"));
    v.extend(cap(-256i32 as u32, b"TGHT", b"COMPRLVL"));
    v.push(2); // Bell
    v
}

/// Feeds `data` in pieces of `piece` bytes; returns the events, the result and the output.
fn run(config: Config, data: &[u8], piece: usize) -> (Vec<Event>, Result<(), Error>, Vec<u8>) {
    let mut conn = Connection::new(config);
    let mut result = Ok(());
    for chunk in data.chunks(piece) {
        result = conn.receive(chunk);
        if result.is_err() {
            break;
        }
    }
    let events = std::iter::from_fn(|| conn.poll_event()).collect();
    (events, result, conn.take_output())
}

#[test]
fn no_tunnel_and_vnc_authentication() {
    let mut data = b"RFB 003.008\n".to_vec();
    data.extend_from_slice(&[2, 2, 16]); // VncAuth and Tight: Tight is chosen
    data.extend_from_slice(&1u32.to_be_bytes());
    data.extend(cap(0, b"TGHT", b"NOTUNNEL"));
    data.extend_from_slice(&2u32.to_be_bytes());
    data.extend(cap(129, b"TGHT", b"ULGNAUTH"));
    data.extend(cap(2, b"STDV", b"VNCAUTH_"));
    data.extend_from_slice(&[5; 16]); // challenge
    data.extend_from_slice(&0u32.to_be_bytes()); // SecurityResult OK
    data.extend(server_init_and_caps());
    for piece in [data.len(), 1] {
        let config =
            Config { credentials: Some(Credentials { username: None, password: "pw".into() }), ..Config::default() };
        let (events, result, out) = run(config, &data, piece);
        result.unwrap();
        assert!(
            matches!(&events[..], [Event::Connected { width: 2, height: 1, name }, Event::Bell] if name == "t"),
            "{events:?}"
        );
        // Version, type 16, tunnel 0, auth 2, the 16-byte response, ClientInit.
        assert_eq!(&out[12..13], &[16]);
        assert_eq!(&out[13..17], &0u32.to_be_bytes());
        assert_eq!(&out[17..21], &2u32.to_be_bytes());
        assert_eq!(out[37], 1, "ClientInit shared flag");
    }
}

#[test]
fn no_tunnel_list_and_no_authentication() {
    let mut data = b"RFB 003.008\n".to_vec();
    data.extend_from_slice(&[1, 16]);
    data.extend_from_slice(&0u32.to_be_bytes()); // no tunnels: nothing to answer
    data.extend_from_slice(&1u32.to_be_bytes());
    data.extend(cap(1, b"STDV", b"NOAUTH__"));
    data.extend_from_slice(&0u32.to_be_bytes()); // SecurityResult OK
    data.extend(server_init_and_caps());
    let (events, result, out) = run(Config::default(), &data, 3);
    result.unwrap();
    assert!(matches!(events[..], [Event::Connected { .. }, Event::Bell]));
    assert_eq!(&out[12..13], &[16]);
    assert_eq!(&out[13..17], &1u32.to_be_bytes(), "auth None chosen");
    assert_eq!(out[17], 1, "ClientInit right after");
}

#[test]
fn tunnels_and_unknown_authentication_are_refused_by_name() {
    let mut data = b"RFB 003.008\n".to_vec();
    data.extend_from_slice(&[1, 16]);
    data.extend_from_slice(&1u32.to_be_bytes());
    data.extend(cap(1, b"SICR", b"SCHANNEL"));
    let (_, result, _) = run(Config::default(), &data, 100);
    assert!(matches!(&result, Err(Error::TightTunnelUnsupported(t)) if t[0].contains("SCHANNEL")), "{result:?}");

    let mut data = b"RFB 003.008\n".to_vec();
    data.extend_from_slice(&[1, 16]);
    data.extend_from_slice(&0u32.to_be_bytes());
    data.extend_from_slice(&1u32.to_be_bytes());
    data.extend(cap(129, b"TGHT", b"ULGNAUTH"));
    let (_, result, _) = run(Config::default(), &data, 100);
    assert!(matches!(&result, Err(Error::NoSupportedTightAuth(a)) if a[0].contains("ULGNAUTH")), "{result:?}");

    // A hostile count is refused before anything is waited for.
    let mut data = b"RFB 003.008\n".to_vec();
    data.extend_from_slice(&[1, 16]);
    data.extend_from_slice(&u32::MAX.to_be_bytes());
    let (_, result, _) = run(Config::default(), &data, 100);
    assert!(matches!(result, Err(Error::TooLong { .. })), "{result:?}");
}
