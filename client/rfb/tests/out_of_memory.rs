//! A server that asks for more memory than there is gets an error the console can show, not an
//! abort. In a browser tab the engine lives in wasm memory, which ends at 4 GiB for the whole
//! page (several consoles share it) and may end sooner; a 16384x16384 desktop is 1 GiB. This
//! test binary's allocator refuses to let a test thread hold more than [`LIMIT`] while it feeds
//! the engine, as a full wasm memory does, and the engine's large allocations — the framebuffer
//! and a rectangle's JPEG or PNG pixels — must be the fallible kind.

#[path = "common/accounting.rs"]
mod accounting;

use oxvnc_rfb::{Config, Connection, Error, Event, Framebuffer};

#[global_allocator]
static ALLOCATOR: accounting::Accounting = accounting::Accounting;

/// The memory this binary grants a test thread while it feeds the engine: 200 MiB, a little
/// more than a 8192x4096 framebuffer (128 MiB) and its whole-screen image buffer would need.
const LIMIT: isize = 200 << 20;

/// Runs `f` with [`LIMIT`] enforced on this thread.
fn limited<T>(f: impl FnOnce() -> T) -> T {
    accounting::limited(LIMIT, f)
}

fn out_of_memory(e: &Error) -> Option<&str> {
    match e {
        Error::OutOfMemory(what) => Some(what),
        _ => None,
    }
}

#[test]
fn a_framebuffer_too_large_for_memory_is_an_error() {
    limited(|| {
        let e = Framebuffer::new(16384, 16384).expect_err("1 GiB is over the limit");
        assert_eq!(out_of_memory(&e), Some("the server's 16384x16384 desktop"), "{e}");
        // What fits still works, and a framebuffer that could not grow is left empty, not half
        // made.
        let mut fb = Framebuffer::new(4096, 4096).expect("64 MiB fits");
        assert!(fb.resize(16384, 10000).is_err());
        assert_eq!((fb.width(), fb.height(), fb.data().len()), (0, 0, 0));
        fb.resize(800, 600).expect("a small desktop after a failed one");
        assert_eq!(fb.data().len(), 800 * 600 * 4);
    });
}

/// The server's half of an RFB 3.8 handshake with no security, then ServerInit.
fn server_hello(width: u16, height: u16) -> Vec<u8> {
    let mut s = b"RFB 003.008\n\x01\x01\0\0\0\0".to_vec();
    s.extend_from_slice(&width.to_be_bytes());
    s.extend_from_slice(&height.to_be_bytes());
    // 32 bpp, depth 24, little endian, true colour, 255/255/255, shifts 16/8/0, padding.
    s.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    s.extend_from_slice(&4u32.to_be_bytes());
    s.extend_from_slice(b"huge");
    s
}

/// Feeds `stream` and returns the error the connection ended with, checking that it ended
/// cleanly (one Disconnected event carrying it).
fn ended_with(config: Config, stream: &[u8]) -> Error {
    let mut conn = Connection::new(config);
    let result = limited(|| conn.receive(stream));
    let mut disconnected = Vec::new();
    while let Some(ev) = conn.poll_event() {
        if let Event::Disconnected(e) = ev {
            disconnected.push(e);
        }
    }
    let e = result.expect_err("the connection must end with an error");
    assert_eq!(disconnected, vec![e.clone()], "one Disconnected event with the error");
    assert_eq!(conn.error(), Some(&e));
    e
}

#[test]
fn a_server_asking_for_a_desktop_larger_than_memory_is_told_so() {
    let e = ended_with(Config::default(), &server_hello(16384, 16384));
    assert_eq!(out_of_memory(&e), Some("the server's 16384x16384 desktop"), "{e}");
}

#[test]
fn a_tight_jpeg_rectangle_larger_than_memory_is_an_error() {
    // A 8192x4096 desktop fits (128 MiB); a whole-screen Tight JPEG needs as much again for its
    // pixels, which is over the limit.
    let (w, h) = (8192u16, 4096u16);
    let jpeg = {
        let rgb = [90u8, 140, 200].repeat(usize::from(w) * usize::from(h));
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 50)
            .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
            .expect("encoding the test JPEG");
        jpeg
    };
    let mut stream = server_hello(w, h);
    stream.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
    stream.extend_from_slice(&w.to_be_bytes());
    stream.extend_from_slice(&h.to_be_bytes());
    stream.extend_from_slice(&7i32.to_be_bytes());
    stream.push(0x90); // Tight: JPEG
    let n = jpeg.len();
    assert!(n < 1 << 22, "a compact length holds {n}");
    stream.extend_from_slice(&[(n & 0x7f) as u8 | 0x80, ((n >> 7) & 0x7f) as u8 | 0x80, (n >> 14) as u8]);
    stream.extend_from_slice(&jpeg);
    drop(jpeg);
    let e = ended_with(Config::default(), &stream);
    assert_eq!(out_of_memory(&e), Some("a 8192x4096 JPEG image"), "{e}");
}
