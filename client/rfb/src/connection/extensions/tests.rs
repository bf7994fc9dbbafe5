//! Tests of the protocol extensions: hand-built server streams, split at every byte, and
//! hostile input.

use super::super::tests::{S, run, run_chunked};
use super::*;
use crate::extclip::tests::provide_payload;

const W: u16 = 64;
const H: u16 = 32;

/// Connects (everything offered) and drops the handshake's output.
fn connected() -> Connection {
    let mut c = Connection::new(Config::default());
    c.receive(&S::handshake_none().server_init(W, H, "x").0).unwrap();
    c.take_output();
    events(&mut c);
    c
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// An update of one ExtendedDesktopSize rectangle.
fn eds(s: S, reason: u16, status: u16, w: u16, h: u16, screens: &[Screen]) -> S {
    let mut s = s.update(1).rect(reason, status, w, h, -308).u8(screens.len() as u8).bytes(&[0; 3]);
    for sc in screens {
        s = s.u32(sc.id).u16(sc.x).u16(sc.y).u16(sc.width).u16(sc.height).u32(sc.flags);
    }
    s
}

fn screen(id: u32, w: u16, h: u16) -> Screen {
    Screen { id, x: 0, y: 0, width: w, height: h, flags: 0xA5 }
}

/// A FramebufferUpdateRequest.
fn fbur(incremental: bool, w: u16, h: u16) -> Vec<u8> {
    let mut v = vec![3, incremental as u8, 0, 0, 0, 0];
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    v
}

fn enable_cu(w: u16, h: u16) -> Vec<u8> {
    let mut v = vec![150, 1, 0, 0, 0, 0];
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    v
}

#[test]
fn the_new_pseudo_encodings_are_offered() {
    for e in [
        Encoding::QemuExtendedKey,
        Encoding::QemuLedState,
        Encoding::Fence,
        Encoding::ContinuousUpdates,
        Encoding::ExtendedClipboard,
        Encoding::ExtendedMouseButtons,
        Encoding::VmwareCursor,
        Encoding::Xvp,
    ] {
        assert!(Config::default().encodings.contains(&e), "{e:?}");
    }
}

#[test]
fn set_desktop_size_keeps_the_layout_and_reports_the_answer() {
    let mut c = connected();
    assert!(!c.supports_set_desktop_size());
    assert!(!c.set_desktop_size(800, 600), "not before ExtendedDesktopSize");
    assert!(c.take_output().is_empty());

    c.receive(&eds(S::default(), 0, 0, W, H, &[screen(0x1234, W, H)]).0).unwrap();
    assert!(c.supports_set_desktop_size());
    events(&mut c);
    assert_eq!(c.screens(), &[screen(0x1234, W, H)]);
    c.take_output();
    assert!(!c.set_desktop_size(0, 600));
    assert!(!c.set_desktop_size(800, 20000));
    assert!(c.take_output().is_empty());
    assert!(c.set_desktop_size(800, 600));
    assert_eq!(
        c.take_output(),
        [251, 0, 3, 32, 2, 88, 1, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 3, 32, 2, 88, 0, 0, 0, 0xA5]
    );

    // Refused: an event, nothing changes.
    c.receive(&eds(S::default(), 1, 1, 0, 0, &[]).0).unwrap();
    assert_eq!(
        events(&mut c),
        vec![
            Event::ResizeRefused { status: 1, reason: "resizing is administratively prohibited".into() },
            Event::UpdateComplete
        ]
    );
    assert_eq!((c.framebuffer().width(), c.framebuffer().height()), (W, H));
    assert_eq!(c.screens(), &[screen(0x1234, W, H)]);

    // Accepted: the new size and layout.
    c.receive(&eds(S::default(), 1, 0, 800, 600, &[screen(0x1234, 800, 600)]).0).unwrap();
    assert_eq!(events(&mut c), vec![Event::Resized { width: 800, height: 600 }, Event::UpdateComplete]);
    assert_eq!(c.screens(), &[screen(0x1234, 800, 600)]);
    // An unknown status is an unknown failure.
    c.receive(&eds(S::default(), 1, 9, 1, 1, &[]).0).unwrap();
    assert!(matches!(events(&mut c)[0], Event::ResizeRefused { status: 9, .. }));
}

#[test]
fn key_with_code_sends_scancodes_once_acknowledged() {
    let mut c = connected();
    assert!(!c.scancodes_enabled());
    c.key_with_code(0x61, "KeyA", true);
    assert_eq!(c.take_output(), [4, 1, 0, 0, 0, 0, 0, 0x61], "plain KeyEvent");

    c.receive(&S::default().update(1).rect(0, 0, 0, 0, -258).0).unwrap();
    assert!(c.scancodes_enabled());
    c.take_output();
    c.key_with_code(0x61, "KeyA", true);
    c.key_with_code(0xffea, "AltRight", false);
    c.key_with_code(0x31, "Numpad1", true);
    c.key_with_code(0x20ac, "Unidentified", true);
    assert_eq!(
        c.take_output(),
        [
            &[255, 0, 0, 1, 0, 0, 0, 0x61, 0, 0, 0, 0x1E][..],
            &[255, 0, 0, 0, 0, 0, 0xff, 0xea, 0, 0, 0, 0xB8],
            &[255, 0, 0, 1, 0, 0, 0, 0x31, 0, 0, 0, 0x4F],
            &[4, 1, 0, 0, 0, 0, 0x20, 0xac], // no scancode: plain KeyEvent
        ]
        .concat()
    );
}

#[test]
fn led_state() {
    let (_, ev, r) = run(
        Config::default(),
        &S::handshake_none()
            .server_init(W, H, "x")
            .update(2)
            .rect(0, 0, 0, 0, -261)
            .u8(0b101)
            .rect(0, 0, 0, 0, -261)
            .u8(0b010)
            .0,
    );
    r.unwrap();
    assert_eq!(
        ev[1..3],
        [
            Event::LedState { scroll: true, num: false, caps: true },
            Event::LedState { scroll: false, num: true, caps: false }
        ]
    );
}

fn fence(flags: u32, payload: &[u8]) -> S {
    S::default().u8(248).bytes(&[0; 3]).u32(flags).u8(payload.len() as u8).bytes(payload)
}

#[test]
fn fences_are_answered_and_continuous_updates_replace_requests() {
    use crate::extension::{FENCE_BLOCK_BEFORE, FENCE_REQUEST, FENCE_SYNC_NEXT};
    for fence_first in [true, false] {
        let mut c = connected();
        let f = fence(FENCE_REQUEST | FENCE_BLOCK_BEFORE | FENCE_SYNC_NEXT | 0x40, b"xyz");
        let eocu = S::default().u8(150);
        let (a, b) = if fence_first { (f, eocu) } else { (eocu, f) };
        c.receive(&a.0).unwrap();
        assert!(!c.continuous_updates());
        c.receive(&b.0).unwrap();
        assert!(c.continuous_updates());
        let reply = [248, 0, 0, 0, 0, 0, 0, 5, 3, b'x', b'y', b'z'];
        // Either way round: the fence answered, then continuous updates enabled for the screen.
        assert_eq!(c.take_output(), [&reply[..], &enable_cu(W, H)].concat());

        // Updates keep coming with no requests.
        c.receive(&S::default().update(1).rect(0, 0, 1, 1, 0).bytes(&[1, 2, 3, 0]).0).unwrap();
        assert_eq!(events(&mut c), [Event::UpdateComplete]);
        assert!(c.take_output().is_empty(), "no FramebufferUpdateRequest");
        // A fence without the request bit is not answered; one with it is, in order.
        c.receive(&fence(FENCE_BLOCK_BEFORE, b"").0).unwrap();
        assert!(c.take_output().is_empty());
        // A resize re-enables for the new size.
        c.receive(&eds(S::default(), 0, 0, 100, 50, &[screen(0, 100, 50)]).0).unwrap();
        assert_eq!(c.take_output(), enable_cu(100, 50));
        // The server ending continuous updates brings the requests back, without a loop.
        c.receive(&[150]).unwrap();
        assert!(!c.continuous_updates());
        assert_eq!(c.take_output(), fbur(true, 100, 50));
        c.receive(&S::default().update(0).0).unwrap();
        assert_eq!(c.take_output(), fbur(true, 100, 50));
    }
}

#[test]
fn continuous_updates_need_fences() {
    let mut c = connected();
    c.receive(&[150]).unwrap();
    assert!(!c.continuous_updates());
    assert!(c.take_output().is_empty());
    c.receive(&S::default().update(0).0).unwrap();
    assert_eq!(c.take_output(), fbur(true, W, H));
}

/// An extended clipboard message from the server.
fn clip(payload: &[u8]) -> S {
    S::default().u8(3).bytes(&[0; 3]).u32((payload.len() as i32).wrapping_neg() as u32).bytes(payload)
}

fn server_caps(flags: u32, text_limit: u32) -> S {
    clip(&[&(extclip::ACTION_CAPS | flags).to_be_bytes()[..], &text_limit.to_be_bytes()].concat())
}

/// Reads the client's extended clipboard messages from `out`.
fn client_clips(out: &[u8]) -> Vec<ClipMessage> {
    let mut input = Input::new(out);
    let mut v = Vec::new();
    while let Some(head) = input.take(8) {
        assert_eq!(head[0], 6);
        let len = (be32(head, 4) as i32).unsigned_abs();
        let mut r = ExtClipReader::new(len, MAX_CLIPBOARD).unwrap();
        v.push(r.feed(&mut input).unwrap().expect("whole message"));
    }
    assert!(input.is_empty());
    v
}

const ALL_ACTIONS: u32 =
    extclip::ACTION_REQUEST | extclip::ACTION_PEEK | extclip::ACTION_NOTIFY | extclip::ACTION_PROVIDE;

#[test]
fn extended_clipboard_carries_unicode_both_ways() {
    let text = "gr\u{fc}\u{df}e \u{4e16}\u{754c}\r\n\u{1F980}";
    let wire = "gr\u{fc}\u{df}e \u{4e16}\u{754c}\r\n\u{1F980}\0";
    let server = S::handshake_none()
        .server_init(W, H, "x")
        .bytes(&server_caps(ALL_ACTIONS | extclip::FORMAT_TEXT | 0b110, 1 << 20).0)
        .bytes(&clip(&(extclip::ACTION_NOTIFY | extclip::FORMAT_TEXT).to_be_bytes()).0)
        .bytes(&clip(&provide_payload(extclip::FORMAT_TEXT | 0b10, wire.as_bytes(), b"\0\0\0\x02{}")).0)
        .u8(3)
        .bytes(&[0; 3])
        .string("caf\u{e9}") // legacy ServerCutText still works (Latin-1)
        .0;
    let (mut whole, ev, r) = run(Config::default(), &server);
    r.unwrap();
    assert!(whole.extended_clipboard());
    assert_eq!(
        ev[1..],
        [
            Event::Clipboard("gr\u{fc}\u{df}e \u{4e16}\u{754c}\n\u{1F980}".into()),
            Event::Clipboard("caf\u{c3}\u{a9}".into())
        ]
    );
    let out = whole.take_output();
    // After the handshake's messages: the client's caps, then a request for the text.
    let handshake = {
        let (mut c, _, _) = run(Config::default(), &S::handshake_none().server_init(W, H, "x").0);
        c.take_output()
    };
    assert_eq!(
        client_clips(&out[handshake.len()..]),
        [
            ClipMessage::Caps {
                flags: extclip::ACTION_CAPS | ALL_ACTIONS | extclip::FORMAT_TEXT,
                text_limit: Some(MAX_CLIPBOARD as u32)
            },
            ClipMessage::Request { flags: extclip::ACTION_REQUEST | extclip::FORMAT_TEXT }
        ]
    );
    for split in 1..server.len() {
        let (mut c, e, r) =
            run_chunked(Config::default(), &server, |pos| if pos < split { split - pos } else { usize::MAX });
        r.unwrap();
        assert_eq!(e, ev, "split at {split}");
        assert_eq!(c.take_output(), out, "split at {split}");
    }

    // The client's text: announced, provided when asked, announced again on a peek.
    whole.clipboard(text);
    assert_eq!(
        client_clips(&whole.take_output()),
        [ClipMessage::Notify { flags: extclip::ACTION_NOTIFY | extclip::FORMAT_TEXT }]
    );
    whole.receive(&clip(&(extclip::ACTION_REQUEST | extclip::FORMAT_TEXT).to_be_bytes()).0).unwrap();
    whole.receive(&clip(&extclip::ACTION_PEEK.to_be_bytes()).0).unwrap();
    assert_eq!(
        client_clips(&whole.take_output()),
        [
            ClipMessage::Provide { text: Some("gr\u{fc}\u{df}e \u{4e16}\u{754c}\n\u{1F980}".into()) },
            ClipMessage::Notify { flags: extclip::ACTION_NOTIFY | extclip::FORMAT_TEXT }
        ]
    );
}

#[test]
fn extended_clipboard_without_notify_provides_directly_and_legacy_otherwise() {
    // Caps with provide but not notify: the text goes unasked when under the server's limit.
    let mut c = connected();
    c.receive(&server_caps(extclip::ACTION_PROVIDE | extclip::FORMAT_TEXT, 10).0).unwrap();
    c.take_output();
    c.clipboard("\u{e9}t\u{e9}");
    assert_eq!(client_clips(&c.take_output()), [ClipMessage::Provide { text: Some("\u{e9}t\u{e9}".into()) }]);
    // Over the limit: Latin-1 ClientCutText instead.
    c.clipboard("0123456789\u{e9}");
    assert_eq!(c.take_output(), [&[6, 0, 0, 0, 0, 0, 0, 11][..], b"0123456789\xe9"].concat());
    // No caps at all: Latin-1.
    let mut c = connected();
    c.clipboard("\u{20ac}");
    assert_eq!(c.take_output(), [6, 0, 0, 0, 0, 0, 0, 1, b'?']);
    // Requests before the server's caps are ignored, a request with no text is not answered.
    c.receive(&clip(&(extclip::ACTION_REQUEST | extclip::FORMAT_TEXT).to_be_bytes()).0).unwrap();
    assert!(c.take_output().is_empty());
    c.receive(&server_caps(ALL_ACTIONS | extclip::FORMAT_TEXT, 10).0).unwrap();
    c.take_output();
    c.receive(&clip(&(extclip::ACTION_REQUEST | extclip::FORMAT_TEXT).to_be_bytes()).0).unwrap();
    assert!(c.take_output().is_empty());
}

#[test]
fn extended_mouse_buttons() {
    let mut c = connected();
    c.pointer_ext(1, 2, 0x181);
    assert_eq!(c.take_output(), [5, 0x81, 0, 1, 0, 2], "forward dropped");
    assert!(!c.extended_mouse_buttons());
    c.receive(&S::default().update(1).rect(0, 0, 0, 0, -316).0).unwrap();
    assert!(c.extended_mouse_buttons());
    c.take_output();
    c.pointer_ext(1, 2, 0x101);
    c.pointer_ext(1000, 2, 0x80);
    c.pointer(1, 2, 0x84);
    c.pointer_ext(1, 2, 0x4);
    assert_eq!(
        c.take_output(),
        [&[5, 0x81, 0, 1, 0, 2, 2][..], &[5, 0x80, 0, 63, 0, 2, 1], &[5, 0x84, 0, 1, 0, 2, 1], &[5, 0x04, 0, 1, 0, 2],]
            .concat()
    );
}

#[test]
fn vmware_cursors_of_both_types() {
    let px = |r: u8, g: u8, b: u8| [r, g, b, 0];
    let data = S::handshake_none()
        .server_init(W, H, "x")
        .update(2)
        .rect(1, 0, 2, 1, 0x574D_5664)
        .bytes(&[0, 0])
        .bytes(&[px(0, 0, 0), px(255, 255, 255)].concat()) // AND
        .bytes(&[px(10, 20, 30), px(0, 0, 0)].concat()) // XOR
        .rect(0, 0, 1, 1, 0x574D_5664)
        .bytes(&[1, 0])
        .bytes(&[1, 2, 3, 128])
        .0;
    let (_, ev, r) = run(Config::default(), &data);
    r.unwrap();
    assert_eq!(
        ev[1..3],
        [
            Event::Cursor(Cursor {
                width: 2,
                height: 1,
                hotspot_x: 1,
                hotspot_y: 0,
                rgba: vec![10, 20, 30, 255, 0, 0, 0, 0]
            }),
            Event::Cursor(Cursor { width: 1, height: 1, hotspot_x: 0, hotspot_y: 0, rgba: vec![1, 2, 3, 128] })
        ]
    );
    let (_, ev1, r) = run_chunked(Config::default(), &data, |_| 1);
    r.unwrap();
    assert_eq!(ev1, ev);
}

#[test]
fn xvp_power_actions() {
    let mut c = connected();
    assert!(!c.xvp_supported());
    assert!(!c.xvp(XvpAction::Reset));
    assert!(c.take_output().is_empty());
    c.receive(&[250, 0, 1, 1]).unwrap();
    assert!(c.xvp_supported());
    assert_eq!(events(&mut c), [Event::PowerControlAvailable]);
    assert!(c.xvp(XvpAction::Shutdown));
    assert!(c.xvp(XvpAction::Reset));
    assert_eq!(c.take_output(), [250, 0, 1, 2, 250, 0, 1, 4]);
    c.receive(&[250, 0, 1, 0, 250, 0, 1, 1]).unwrap();
    assert_eq!(events(&mut c), [Event::PowerActionFailed]);
}

/// A session using every extension, for the split-at-every-byte check.
fn session() -> Vec<u8> {
    use crate::extension::FENCE_REQUEST;
    S::handshake_none()
        .server_init(W, H, "all")
        .bytes(&fence(FENCE_REQUEST, b"p").0)
        .u8(150)
        .bytes(&server_caps(ALL_ACTIONS | extclip::FORMAT_TEXT, 1 << 20).0)
        .bytes(&[250, 0, 1, 1])
        .update(5)
        .rect(0, 0, 0, 0, -258)
        .rect(0, 0, 0, 0, -316)
        .rect(0, 0, 0, 0, -261)
        .u8(4)
        .rect(0, 0, 1, 1, 0x574D_5664)
        .bytes(&[1, 0, 9, 8, 7, 6])
        .rect(0, 0, 1, 1, 0)
        .bytes(&[1, 2, 3, 0])
        .bytes(&clip(&provide_payload(extclip::FORMAT_TEXT, "\u{3b1}\0".as_bytes(), &[])).0)
        .bytes(&fence(FENCE_REQUEST | 2, &[7; 64]).0)
        .bytes(&eds(S::default(), 0, 0, 10, 10, &[screen(3, 10, 10)]).0)
        .bytes(&[250, 0, 1, 0])
        .0
}

#[test]
fn every_extension_split_at_every_byte() {
    let data = session();
    let (mut whole, ev, r) = run(Config::default(), &data);
    r.unwrap();
    assert!(whole.continuous_updates() && whole.scancodes_enabled());
    assert!(whole.extended_mouse_buttons() && whole.xvp_supported());
    assert!(whole.extended_clipboard() && whole.supports_set_desktop_size());
    assert_eq!(
        ev[1..],
        [
            Event::PowerControlAvailable,
            Event::LedState { scroll: false, num: false, caps: true },
            Event::Cursor(Cursor { width: 1, height: 1, hotspot_x: 0, hotspot_y: 0, rgba: vec![9, 8, 7, 6] }),
            Event::UpdateComplete,
            Event::Clipboard("\u{3b1}".into()),
            Event::Resized { width: 10, height: 10 },
            Event::UpdateComplete,
            Event::PowerActionFailed,
        ]
    );
    let out = whole.take_output();
    for split in 1..data.len() {
        let (mut c, e, r) = run_chunked(Config::default(), &data, |pos| if pos < split { split - pos } else { 1 });
        r.unwrap();
        assert_eq!(e, ev, "split at {split}");
        assert_eq!(c.take_output(), out, "split at {split}");
    }
}

/// A server stream and the check its error must pass.
type HostileCase = (Vec<u8>, fn(&Error) -> bool);

#[test]
fn hostile_extension_input_is_a_typed_error() {
    let base = || S::handshake_none().server_init(16, 16, "x");
    let cases: Vec<HostileCase> = vec![
        (base().bytes(&fence(0, &[0; 64]).0[..8]).u8(65).0, |e| matches!(e, Error::TooLong { .. })),
        (base().update(1).rect(0, 0, 2, 2, 0x574D_5664).u8(7).u8(0).0, |e| matches!(e, Error::InvalidData { .. })),
        (base().update(1).rect(0, 0, 2000, 1, 0x574D_5664).0, |e| matches!(e, Error::TooLong { .. })),
        (base().bytes(&clip(&[&(extclip::ACTION_PROVIDE | 1).to_be_bytes()[..], b"garbage!"].concat()).0).0, |e| {
            matches!(e, Error::Zlib(_))
        }),
        (base().u8(3).bytes(&[0; 3]).u32(0xffff_ffff).0, |e| matches!(e, Error::InvalidData { .. })),
        (base().u8(251).0, |e| *e == Error::UnknownMessage(251)),
    ];
    for (i, (data, check)) in cases.into_iter().enumerate() {
        let (c, events, r) = run(Config::default(), &data);
        let e = r.expect_err(&format!("case {i} must fail"));
        assert!(check(&e), "case {i}: {e:?}");
        assert_eq!(events.last(), Some(&Event::Disconnected(e.clone())), "case {i}");
        assert_eq!(c.state(), State::Closed);
    }
    // Extensions not offered: their messages are unknown, their rectangles unexpected.
    let plain = Config::default().with_encodings(&[Encoding::Raw]);
    let plain = Config {
        encodings: plain
            .encodings
            .into_iter()
            .filter(|e| {
                !matches!(e, Encoding::Fence | Encoding::Xvp | Encoding::ExtendedClipboard | Encoding::QemuLedState)
            })
            .collect(),
        ..plain
    };
    for (data, want) in [
        (base().bytes(&fence(0, b"").0).0, Error::UnknownMessage(248)),
        (base().bytes(&[250, 0, 1, 1]).0, Error::UnknownMessage(250)),
        (base().update(1).rect(0, 0, 0, 0, -261).u8(1).0, Error::UnexpectedEncoding(-261)),
    ] {
        let (_, _, r) = run(plain.clone(), &data);
        assert_eq!(r, Err(want));
    }
    let (_, _, r) = run(plain, &base().u8(3).bytes(&[0; 3]).u32(0xffff_fff0).0);
    assert!(matches!(r, Err(Error::InvalidData { .. })));
}

#[test]
fn a_huge_extended_clipboard_is_streamed_not_stored() {
    let mut c = connected();
    c.receive(&server_caps(ALL_ACTIONS | 1, 100).0).unwrap();
    // A provide message claiming 1 GiB of compressed data: fed in pieces, never buffered.
    let mut head = S::default().u8(3).bytes(&[0; 3]).u32((1u32 << 30).wrapping_neg()).0;
    head.extend_from_slice(&(extclip::ACTION_PROVIDE | 1).to_be_bytes());
    c.receive(&head).unwrap();
    let junk_but_valid_start = provide_payload(1, b"abc\0", &[]);
    c.receive(&junk_but_valid_start[4..]).unwrap();
    let filler = vec![0u8; 1 << 16];
    let mut left = (1usize << 30) - 4 - (junk_but_valid_start.len() - 4);
    let mut rounds = 0;
    while left > 0 && rounds < 64 {
        let n = left.min(filler.len());
        c.receive(&filler[..n]).unwrap();
        assert!(c.pending.is_empty());
        left -= n;
        rounds += 1;
    }
    assert_eq!(c.state(), State::Connected, "still reading the message");
}
