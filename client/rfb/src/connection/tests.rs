//! Connection tests: handshakes of every version and security type, every server message, and
//! the same session split at every byte.

use super::*;
use rand::{Rng, SeedableRng};

/// Builds server byte streams.
#[derive(Default, Clone)]
pub(super) struct S(pub(super) Vec<u8>);

impl S {
    pub(super) fn bytes(mut self, b: &[u8]) -> S {
        self.0.extend_from_slice(b);
        self
    }
    pub(super) fn u8(self, v: u8) -> S {
        self.bytes(&[v])
    }
    pub(super) fn u16(self, v: u16) -> S {
        self.bytes(&v.to_be_bytes())
    }
    pub(super) fn u32(self, v: u32) -> S {
        self.bytes(&v.to_be_bytes())
    }
    pub(super) fn string(self, s: &str) -> S {
        self.u32(s.len() as u32).bytes(s.as_bytes())
    }
    /// ProtocolVersion 3.8, security None, SecurityResult OK.
    pub(super) fn handshake_none() -> S {
        S::default().bytes(b"RFB 003.008\n").u8(1).u8(1).u32(0)
    }
    /// ServerInit with Xvnc's native format.
    pub(super) fn server_init(self, w: u16, h: u16, name: &str) -> S {
        let pf = PixelFormat { red_shift: 16, green_shift: 8, blue_shift: 0, ..PixelFormat::RGBX32 };
        self.u16(w).u16(h).bytes(&pf.to_bytes()).string(name)
    }
    pub(super) fn update(self, rects: u16) -> S {
        self.u8(0).u8(0).u16(rects)
    }
    pub(super) fn rect(self, x: u16, y: u16, w: u16, h: u16, enc: i32) -> S {
        self.u16(x).u16(y).u16(w).u16(h).bytes(&enc.to_be_bytes())
    }
}

/// Feeds everything at once, collects events.
pub(super) fn run(config: Config, data: &[u8]) -> (Connection, Vec<Event>, Result<(), Error>) {
    run_chunked(config, data, |_| usize::MAX)
}

pub(super) fn run_chunked(
    config: Config,
    data: &[u8],
    mut chunk: impl FnMut(usize) -> usize,
) -> (Connection, Vec<Event>, Result<(), Error>) {
    let mut c = Connection::new(config);
    let mut events = Vec::new();
    let mut pos = 0;
    let mut result = Ok(());
    while pos < data.len() {
        let n = chunk(pos).clamp(1, data.len() - pos);
        result = c.receive(&data[pos..pos + n]);
        pos += n;
        events.extend(std::iter::from_fn(|| c.poll_event()));
        if result.is_err() {
            break;
        }
    }
    (c, events, result)
}

fn pw(p: &str) -> Credentials {
    Credentials { username: None, password: p.into() }
}

#[test]
fn handshake_38_none_sends_the_expected_client_messages() {
    let data = S::handshake_none().server_init(64, 32, "desk").0;
    let (mut c, events, r) = run(Config::default(), &data);
    r.unwrap();
    assert_eq!(events, vec![Event::Connected { width: 64, height: 32, name: "desk".into() }]);
    assert_eq!(c.state(), State::Connected);
    let out = c.take_output();
    let mut expect = b"RFB 003.008\n".to_vec();
    expect.push(1); // security None
    expect.push(1); // shared
    expect.extend_from_slice(&[0, 0, 0, 0]);
    expect.extend_from_slice(&PixelFormat::RGBX32.to_bytes());
    let encs = Config::default().encodings;
    expect.extend_from_slice(&[2, 0]);
    expect.extend_from_slice(&(encs.len() as u16).to_be_bytes());
    for e in &encs {
        expect.extend_from_slice(&e.number().to_be_bytes());
    }
    expect.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 64, 0, 32]);
    assert_eq!(out, expect);
}

#[test]
fn version_quirks() {
    for (server, reply) in [
        (&b"RFB 003.003\n"[..], &b"RFB 003.003\n"[..]),
        (b"RFB 003.005\n", b"RFB 003.003\n"),
        (b"RFB 003.006\n", b"RFB 003.003\n"),
        (b"RFB 003.007\n", b"RFB 003.007\n"),
        (b"RFB 003.008\n", b"RFB 003.008\n"),
        (b"RFB 003.889\n", b"RFB 003.008\n"),
        (b"RFB 004.001\n", b"RFB 003.008\n"),
        (b"RFB 005.000\n", b"RFB 003.008\n"),
    ] {
        let (mut c, _, r) = run(Config::default(), server);
        r.unwrap();
        assert_eq!(c.take_output(), reply, "{:?}", String::from_utf8_lossy(server));
    }
    let (_, events, r) = run(Config::default(), b"HTTP/1.1 400 Bad Request\r\n");
    assert!(matches!(r, Err(Error::NotRfb(_))));
    assert!(matches!(events.last(), Some(Event::Disconnected(Error::NotRfb(_)))));
    assert_eq!(run(Config::default(), b"RFB 002.000\n").2, Err(Error::UnsupportedVersion(2, 0)));
    assert!(matches!(run(Config::default(), b"RFB 00x.008\n").2, Err(Error::NotRfb(_))));
}

#[test]
fn v33_vnc_auth_asks_for_credentials_then_answers_the_challenge() {
    let challenge: [u8; 16] = core::array::from_fn(|i| (i * 7) as u8);
    let data = S::default().bytes(b"RFB 003.003\n").u32(2).bytes(&challenge).0;
    let (mut c, events, r) = run(Config::default(), &data);
    r.unwrap();
    assert_eq!(events, vec![Event::CredentialsRequired { username: false }]);
    assert_eq!(c.state(), State::NeedCredentials);
    assert_eq!(c.take_output(), b"RFB 003.003\n");
    c.send_credentials(pw("secret")).unwrap();
    assert_eq!(c.take_output(), vnc_auth_response("secret", &challenge));
    c.receive(&S::default().u32(0).server_init(8, 8, "x").0).unwrap();
    assert_eq!(c.state(), State::Connected);
    assert_eq!(c.take_output()[0], 1, "ClientInit follows the security result");
}

#[test]
fn credentials_given_up_front_are_used() {
    let challenge = [9u8; 16];
    let data =
        S::default().bytes(b"RFB 003.008\n").u8(2).u8(30).u8(2).bytes(&challenge).u32(0).server_init(4, 4, "n").0;
    let config = Config { credentials: Some(pw("pw")), ..Config::default() };
    let (mut c, events, r) = run(config, &data);
    r.unwrap();
    assert!(matches!(events[0], Event::Connected { .. }));
    let out = c.take_output();
    assert_eq!(&out[12..13], &[2], "chose VNC auth over the unsupported type 30");
    assert_eq!(&out[13..29], &vnc_auth_response("pw", &challenge));
}

#[test]
fn wrong_password_is_a_clear_error() {
    let ch = [1u8; 16];
    let config = || Config { credentials: Some(pw("wrong")), ..Config::default() };
    // 3.8: the server says why.
    let data = S::default().bytes(b"RFB 003.008\n").u8(1).u8(2).bytes(&ch).u32(1).string("Authentication failed").0;
    let (_, _, r) = run(config(), &data);
    let e = r.unwrap_err();
    assert_eq!(e, Error::AuthenticationFailed(Some("Authentication failed".into())));
    assert!(e.to_string().contains("password was rejected"), "{e}");
    // 3.3: no reason.
    let data = S::default().bytes(b"RFB 003.003\n").u32(2).bytes(&ch).u32(1).0;
    assert_eq!(run(config(), &data).2, Err(Error::AuthenticationFailed(None)));
    // Too many attempts.
    let data =
        S::default().bytes(b"RFB 003.008\n").u8(1).u8(2).bytes(&ch).u32(1).string("Too many security failures").0;
    assert_eq!(run(config(), &data).2, Err(Error::TooManyAttempts));
}

#[test]
fn refusals_carry_the_servers_reason() {
    let data = S::default().bytes(b"RFB 003.008\n").u8(0).string("no more clients").0;
    assert_eq!(run(Config::default(), &data).2, Err(Error::ConnectionRefused("no more clients".into())));
    let data = S::default().bytes(b"RFB 003.003\n").u32(0).string("go away").0;
    assert_eq!(run(Config::default(), &data).2, Err(Error::ConnectionRefused("go away".into())));
    let data = S::default().bytes(b"RFB 003.008\n").u8(2).u8(30).u8(18).0;
    assert_eq!(run(Config::default(), &data).2, Err(Error::NoSupportedSecurity(vec![30, 18])));
    let data = S::default().bytes(b"RFB 003.003\n").u32(5).0;
    assert_eq!(run(Config::default(), &data).2, Err(Error::UnsupportedSecurity(5)));
}

#[test]
fn v37_none_has_no_security_result() {
    let data = S::default().bytes(b"RFB 003.007\n").u8(1).u8(1).server_init(2, 2, "seven").0;
    let (_, events, r) = run(Config::default(), &data);
    r.unwrap();
    assert_eq!(events[0], Event::Connected { width: 2, height: 2, name: "seven".into() });
}

/// A session exercising every server message and pseudo-encoding the core supports.
fn full_session() -> Vec<u8> {
    first_update().0.into_iter().chain(rest_of_session().0).collect()
}

/// Handshake and a first update of raw, CopyRect and cursor rectangles.
fn first_update() -> S {
    let px = |r: u8, g: u8, b: u8| [r, g, b, 0]; // RGBX32 wire pixels
    let mut raw = Vec::new();
    for i in 0..16u8 {
        raw.extend_from_slice(&px(i * 10, 100, 255 - i));
    }
    let cursor_pixels: Vec<u8> = (0..4).flat_map(|i| px(i * 60, 0, 0)).collect();
    S::handshake_none()
        .server_init(32, 16, "first")
        .update(3)
        .rect(0, 0, 4, 4, 0)
        .bytes(&raw)
        .rect(10, 10, 4, 4, 1)
        .u16(0)
        .u16(0)
        .rect(1, 1, 2, 2, -239) // cursor 2x2, hotspot (1,1)
        .bytes(&cursor_pixels)
        .bytes(&[0b1000_0000, 0b0100_0000])
}

fn rest_of_session() -> S {
    let px = |r: u8, g: u8, b: u8| [r, g, b, 0];
    S::default()
        .u8(2) // bell
        .u8(3)
        .bytes(&[0, 0, 0])
        .string("caf\u{e9}") // UTF-8 bytes sent as-is: the client reads Latin-1
        .update(0xffff)
        .rect(0, 0, 0, 0, -307)
        .string("renamed")
        .rect(0, 0, 0, 0, -224) // LastRect ends the update
        .update(2)
        .rect(0, 0, 40, 20, -223) // DesktopSize
        .rect(0, 0, 1, 1, 0)
        .bytes(&px(1, 2, 3))
        .update(1)
        .rect(0, 0, 40, 20, -308) // same size: no resize
        .u8(1)
        .bytes(&[0, 0, 0])
        .u32(7)
        .u16(0)
        .u16(0)
        .u16(40)
        .u16(20)
        .u32(0)
        .update(1)
        .rect(1, 3, 48, 24, -308) // client-requested (reason 1) and refused (status 3)
        .u8(0)
        .bytes(&[0, 0, 0])
}

#[test]
fn every_message_of_a_full_session() {
    let data = full_session();
    let (c, events, r) = run(Config::default(), &data);
    r.unwrap();
    let fb = c.framebuffer();
    assert_eq!((fb.width(), fb.height()), (40, 20));
    assert_eq!(fb.pixel(0, 0), [1, 2, 3, 255]);
    assert_eq!(fb.pixel(1, 0), [0, 0, 0, 255], "resize cleared the old pixels");
    assert_eq!(c.desktop_name(), "renamed");
    assert!(c.supports_desktop_resize());
    let expected_cursor = Cursor {
        width: 2,
        height: 2,
        hotspot_x: 1,
        hotspot_y: 1,
        rgba: vec![0, 0, 0, 255, 60, 0, 0, 0, 120, 0, 0, 0, 180, 0, 0, 255],
    };
    assert_eq!(
        events,
        vec![
            Event::Connected { width: 32, height: 16, name: "first".into() },
            Event::Cursor(expected_cursor),
            Event::UpdateComplete,
            Event::Bell,
            Event::Clipboard("caf\u{c3}\u{a9}".into()),
            Event::DesktopName("renamed".into()),
            Event::UpdateComplete,
            Event::Resized { width: 40, height: 20 },
            Event::UpdateComplete,
            Event::UpdateComplete,
            Event::ResizeRefused { status: 3, reason: "the screen layout is invalid".into() },
            Event::UpdateComplete,
        ]
    );
}

#[test]
fn raw_and_copyrect_pixels_land() {
    let (c, _, r) = run(Config::default(), &first_update().0);
    r.unwrap();
    let fb = c.framebuffer();
    assert_eq!(fb.pixel(0, 0), [0, 100, 255, 255]);
    assert_eq!(fb.pixel(3, 3), [150, 100, 240, 255]);
    assert_eq!(fb.pixel(13, 13), [150, 100, 240, 255], "CopyRect copied the raw block");
}

#[test]
fn split_at_every_byte_gives_the_same_result() {
    let data = full_session();
    let (whole, whole_events, r) = run(Config::default(), &data);
    r.unwrap();
    let (c, events, r) = run_chunked(Config::default(), &data, |_| 1);
    r.unwrap();
    assert_eq!(events, whole_events);
    assert_eq!(c.framebuffer().data(), whole.framebuffer().data());
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    for _ in 0..50 {
        let (c, events, r) = run_chunked(Config::default(), &data, |_| rng.random_range(1..40));
        r.unwrap();
        assert_eq!(events, whole_events);
        assert_eq!(c.framebuffer().data(), whole.framebuffer().data());
    }
}

#[test]
fn requests_an_incremental_update_after_each_complete_update() {
    let data = S::handshake_none().server_init(8, 4, "n").update(1).rect(0, 0, 1, 1, 0).bytes(&[0; 4]).0;
    let mut c = Connection::new(Config::default());
    c.receive(&data[..data.len() - 1]).unwrap();
    c.take_output();
    c.receive(&data[data.len() - 1..]).unwrap();
    assert_eq!(c.take_output(), vec![3, 1, 0, 0, 0, 0, 0, 8, 0, 4]);
}

#[test]
fn colour_mapped_server_native_format() {
    let pf = PixelFormat::COLOUR_MAP8;
    let data = S::handshake_none()
        .u16(2)
        .u16(1)
        .bytes(&pf.to_bytes())
        .string("cmap")
        .u8(1)
        .u8(0)
        .u16(5)
        .u16(2)
        .bytes(&[0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x80, 0x00, 0xff, 0xff])
        .update(1)
        .rect(0, 0, 2, 1, 0)
        .bytes(&[5, 6])
        .0;
    let config = Config { pixel_format: PixelFormatChoice::ServerNative, ..Config::default() };
    let (mut c, _, r) = run(config, &data);
    r.unwrap();
    assert_eq!(c.framebuffer().pixel(0, 0), [255, 0, 0, 255]);
    assert_eq!(c.framebuffer().pixel(1, 0), [0, 128, 255, 255]);
    let out = c.take_output();
    assert_eq!(&out[14..16], &[2, 0], "no SetPixelFormat when keeping the server's format");
}

#[test]
fn custom_16bpp_format_is_requested_and_decoded() {
    let pf = PixelFormat { big_endian: true, ..PixelFormat::RGB565 };
    let data = S::handshake_none().server_init(1, 1, "x").update(1).rect(0, 0, 1, 1, 0).bytes(&[0x07, 0xe0]).0;
    let config = Config { pixel_format: PixelFormatChoice::Custom(pf), ..Config::default() };
    let (mut c, _, r) = run(config, &data);
    r.unwrap();
    assert_eq!(c.framebuffer().pixel(0, 0), [0, 255, 0, 255]);
    let out = c.take_output();
    assert_eq!(&out[14..18], &[0, 0, 0, 0]);
    assert_eq!(&out[18..34], &pf.to_bytes());
}

#[test]
fn input_messages() {
    let data = S::handshake_none().server_init(100, 50, "x").0;
    let mut c = Connection::new(Config::default());
    c.key(0x61, true); // before connecting: ignored
    c.receive(&data).unwrap();
    c.take_output();
    c.key(0x61, true);
    c.pointer(500, 7, 0b101);
    c.clipboard("a\r\nb€");
    assert_eq!(
        c.take_output(),
        vec![4, 1, 0, 0, 0, 0, 0, 0x61, 5, 5, 0, 99, 0, 7, 6, 0, 0, 0, 0, 0, 0, 4, b'a', b'\n', b'b', b'?']
    );
}

/// A server stream and the check its error must pass.
type HostileCase = (Vec<u8>, fn(&Error) -> bool);

#[test]
fn hostile_input_is_a_typed_error() {
    let base = || S::handshake_none().server_init(16, 16, "x");
    let cases: Vec<HostileCase> = vec![
        (base().update(1).rect(10, 10, 8, 8, 0).0, |e| matches!(e, Error::RectOutOfBounds { .. })),
        (base().update(1).rect(65535, 0, 2, 1, 0).0, |e| matches!(e, Error::RectOutOfBounds { .. })),
        (base().update(1).rect(0, 0, 8, 8, 1).u16(12).u16(0).0, |e| matches!(e, Error::RectOutOfBounds { .. })),
        (base().u8(77).0, |e| *e == Error::UnknownMessage(77)),
        (base().update(1).rect(0, 0, 1, 1, 99).0, |e| *e == Error::UnexpectedEncoding(99)),
        (base().update(1).rect(0, 0, 20000, 10, -223).0, |e| matches!(e, Error::DesktopTooLarge { .. })),
        (S::handshake_none().server_init(16385, 10, "x").0, |e| matches!(e, Error::DesktopTooLarge { .. })),
        (S::handshake_none().u16(1).u16(1).bytes(&[0; 16]).u32(u32::MAX).0, |e| matches!(e, Error::TooLong { .. })),
        (base().update(1).rect(0, 0, 2000, 2000, -239).0, |e| matches!(e, Error::TooLong { .. })),
        (base().u8(3).bytes(&[0, 0, 0]).u32(0xffff_fffe).0, |e| matches!(e, Error::InvalidData { .. })),
        (base().u8(1).u8(0).u16(65535).u16(2).0, |e| matches!(e, Error::InvalidData { .. })),
    ];
    for (i, (data, check)) in cases.into_iter().enumerate() {
        let (mut c, events, r) = run(Config::default(), &data);
        let e = r.expect_err(&format!("case {i} must fail"));
        assert!(check(&e), "case {i}: {e:?}");
        assert_eq!(events.last(), Some(&Event::Disconnected(e.clone())), "case {i}");
        assert_eq!(c.state(), State::Closed);
        assert_eq!(c.receive(&[0]), Err(Error::Closed));
    }
}

#[test]
fn a_huge_clipboard_is_streamed_not_stored() {
    let mut c = Connection::new(Config::default());
    c.receive(&S::handshake_none().server_init(4, 4, "x").0).unwrap();
    let len: u32 = (MAX_CLIPBOARD as u32) + (4 << 20);
    c.receive(&S::default().u8(3).bytes(&[0, 0, 0]).u32(len).0).unwrap();
    let chunk = vec![b'x'; 1 << 16];
    let mut left = len as usize;
    while left > 0 {
        let n = left.min(chunk.len());
        c.receive(&chunk[..n]).unwrap();
        assert!(c.pending.is_empty());
        left -= n;
    }
    c.receive(&[2]).unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    let Event::Clipboard(text) = &events[1] else { panic!("{:?}", events[1]) };
    assert_eq!(text.len(), MAX_CLIPBOARD);
    assert_eq!(events[2], Event::Bell, "the stream stays in sync after the dropped tail");
}
