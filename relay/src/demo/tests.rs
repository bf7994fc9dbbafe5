//! Session tests: a small RFB client written here (Raw, CopyRect and ZRLE decoders for
//! little-endian formats) drives the demo server over duplex pipes and a real TCP socket and
//! compares what it decoded with the server's desktop, pixel for pixel.

use super::*;
use flate2::{Decompress, FlushDecompress};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

const GUARD: Duration = Duration::from_secs(30);

/// Reads one ZRLE tile of `tw` x `th` from `cur`, with CPIXELs of `cpx` little-endian bytes.
pub(crate) fn decode_zrle_tile(cur: &mut &[u8], tw: usize, th: usize, cpx: usize) -> Option<Vec<u32>> {
    fn take<'a>(cur: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (a, b) = (cur.get(..n)?, cur.get(n..)?);
        *cur = b;
        Some(a)
    }
    fn pixel(cur: &mut &[u8], cpx: usize) -> Option<u32> {
        Some(take(cur, cpx)?.iter().rev().fold(0, |acc, b| acc << 8 | u32::from(*b)))
    }
    fn run(cur: &mut &[u8]) -> Option<usize> {
        let mut n = 1;
        loop {
            let b = take(cur, 1)?[0];
            n += usize::from(b);
            if b != 255 {
                return Some(n);
            }
        }
    }
    let total = tw * th;
    let sub = take(cur, 1)?[0];
    let palette = |cur: &mut &[u8], n: usize| (0..n).map(|_| pixel(cur, cpx)).collect::<Option<Vec<u32>>>();
    let mut out = Vec::with_capacity(total);
    match sub {
        0 => (0..total).try_for_each(|_| pixel(cur, cpx).map(|p| out.push(p)))?,
        1 => out.resize(total, pixel(cur, cpx)?),
        2..=16 => {
            let pal = palette(cur, usize::from(sub))?;
            let bits = match sub {
                2 => 1,
                3 | 4 => 2,
                _ => 4,
            };
            for _ in 0..th {
                let row = take(cur, (tw * bits).div_ceil(8))?;
                for x in 0..tw {
                    let bit = x * bits;
                    let idx = (row[bit / 8] >> (8 - bits - bit % 8)) & ((1 << bits) - 1);
                    out.push(*pal.get(usize::from(idx))?);
                }
            }
        }
        128 => {
            while out.len() < total {
                let p = pixel(cur, cpx)?;
                let n = run(cur)?;
                out.extend(std::iter::repeat_n(p, n));
            }
        }
        130.. => {
            let pal = palette(cur, usize::from(sub - 128))?;
            while out.len() < total {
                let i = take(cur, 1)?[0];
                let n = if i & 128 != 0 { run(cur)? } else { 1 };
                out.extend(std::iter::repeat_n(*pal.get(usize::from(i & 127))?, n));
            }
        }
        _ => return None,
    }
    (out.len() == total).then_some(out)
}

/// Pixel formats the test client asks for (all little-endian).
const RGBX: PixelFormat = PixelFormat { bpp: 32, depth: 24, big_endian: false, max: [255; 3], shift: [0, 8, 16] };
const RGB565: PixelFormat = PixelFormat { bpp: 16, depth: 16, big_endian: false, max: [31, 63, 31], shift: [11, 5, 0] };

struct Client<S> {
    s: S,
    w: usize,
    h: usize,
    pf: PixelFormat,
    /// Wire pixel values as decoded.
    fb: Vec<u32>,
    inflate: Decompress,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    async fn read<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        tokio::time::timeout(GUARD, self.s.read_exact(&mut b)).await.expect("server answered in time").expect("read");
        b
    }

    async fn read_vec(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        tokio::time::timeout(GUARD, self.s.read_exact(&mut b)).await.expect("server answered in time").expect("read");
        b
    }

    async fn send(&mut self, b: &[u8]) {
        self.s.write_all(b).await.expect("write");
    }

    /// Handshake with the given ProtocolVersion reply; returns the desktop name.
    async fn handshake(s: S, version: &[u8; 12]) -> (Client<S>, String) {
        let mut c = Client { s, w: 0, h: 0, pf: PixelFormat::NATIVE, fb: Vec::new(), inflate: Decompress::new(true) };
        assert_eq!(&c.read::<12>().await, b"RFB 003.008\n");
        c.send(version).await;
        let minor = std::str::from_utf8(&version[8..11]).expect("ascii").parse::<u32>().expect("digits");
        match minor {
            ..7 => assert_eq!(c.read::<4>().await, [0, 0, 0, 1]),
            minor => {
                assert_eq!(c.read::<2>().await, [1, 1], "one security type: None");
                c.send(&[1]).await;
                if minor >= 8 {
                    assert_eq!(c.read::<4>().await, [0; 4], "SecurityResult OK");
                }
            }
        }
        c.send(&[1]).await;
        let init = c.read::<24>().await;
        c.w = usize::from(u16::from_be_bytes([init[0], init[1]]));
        c.h = usize::from(u16::from_be_bytes([init[2], init[3]]));
        assert_eq!(init[4..20], [32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
        let n = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
        let name = String::from_utf8(c.read_vec(n).await).expect("utf-8 name");
        c.fb = vec![0; c.w * c.h];
        (c, name)
    }

    async fn set_pixel_format(&mut self, pf: PixelFormat) {
        let mut m = vec![0, 0, 0, 0];
        m.extend_from_slice(&pf.to_bytes());
        self.send(&m).await;
        self.pf = pf;
    }

    async fn set_encodings(&mut self, encodings: &[i32]) {
        let mut m = vec![2, 0];
        m.extend_from_slice(&(encodings.len() as u16).to_be_bytes());
        for e in encodings {
            m.extend_from_slice(&e.to_be_bytes());
        }
        self.send(&m).await;
    }

    async fn request(&mut self, incremental: bool, x: u16, y: u16, w: u16, h: u16) {
        let mut m = vec![3, incremental as u8];
        for v in [x, y, w, h] {
            m.extend_from_slice(&v.to_be_bytes());
        }
        self.send(&m).await;
    }

    async fn request_all(&mut self, incremental: bool) {
        self.request(incremental, 0, 0, self.w as u16, self.h as u16).await;
    }

    async fn key(&mut self, keysym: u32) {
        for down in [1u8, 0] {
            let mut m = vec![4, down, 0, 0];
            m.extend_from_slice(&keysym.to_be_bytes());
            self.send(&m).await;
        }
    }

    async fn pointer(&mut self, x: u16, y: u16, buttons: u8) {
        let mut m = vec![5, buttons];
        m.extend_from_slice(&x.to_be_bytes());
        m.extend_from_slice(&y.to_be_bytes());
        self.send(&m).await;
    }

    fn cpixel_len(&self) -> usize {
        if self.pf.bpp == 32 && self.pf.depth <= 24 { 3 } else { usize::from(self.pf.bpp / 8) }
    }

    /// Reads one FramebufferUpdate into `fb`; returns its rectangles and their encodings.
    async fn read_update(&mut self) -> Vec<(Rect, i32)> {
        let head = self.read::<4>().await;
        assert_eq!(head[0], 0, "FramebufferUpdate");
        let n = u16::from_be_bytes([head[2], head[3]]);
        let bpp = usize::from(self.pf.bpp / 8);
        let mut rects = Vec::new();
        for _ in 0..n {
            let h = self.read::<12>().await;
            let v = |i: usize| usize::from(u16::from_be_bytes([h[i], h[i + 1]]));
            let (x, y, w, hh) = (v(0), v(2), v(4), v(6));
            let enc = i32::from_be_bytes([h[8], h[9], h[10], h[11]]);
            assert!(x + w <= self.w && y + hh <= self.h, "rectangle inside the desktop");
            match enc {
                0 => {
                    let data = self.read_vec(w * hh * bpp).await;
                    for (i, px) in data.chunks(bpp).enumerate() {
                        let p = px.iter().rev().fold(0, |acc, b| acc << 8 | u32::from(*b));
                        self.fb[(y + i / w) * self.w + x + i % w] = p;
                    }
                }
                1 => {
                    let s = self.read::<4>().await;
                    let (sx, sy) =
                        (usize::from(u16::from_be_bytes([s[0], s[1]])), usize::from(u16::from_be_bytes([s[2], s[3]])));
                    assert!(sx + w <= self.w && sy + hh <= self.h, "CopyRect source inside the desktop");
                    let src: Vec<u32> = (0..hh).flat_map(|r| self.fb[(sy + r) * self.w + sx..][..w].to_vec()).collect();
                    for (r, row) in src.chunks(w).enumerate() {
                        self.fb[(y + r) * self.w + x..][..w].copy_from_slice(row);
                    }
                }
                16 => {
                    let len = u32::from_be_bytes(self.read::<4>().await) as usize;
                    let data = self.read_vec(len).await;
                    let cpx = self.cpixel_len();
                    let mut plain = Vec::with_capacity(w * hh * (cpx + 1) + 4096);
                    let start = self.inflate.total_in();
                    while ((self.inflate.total_in() - start) as usize) < data.len() {
                        let done = (self.inflate.total_in() - start) as usize;
                        plain.reserve(64 * 1024);
                        self.inflate.decompress_vec(&data[done..], &mut plain, FlushDecompress::Sync).expect("inflate");
                    }
                    let mut cur = &plain[..];
                    for ty in (0..hh).step_by(64) {
                        for tx in (0..w).step_by(64) {
                            let (tw, th) = (64.min(w - tx), 64.min(hh - ty));
                            let tile = decode_zrle_tile(&mut cur, tw, th, cpx).expect("valid ZRLE tile");
                            for (r, row) in tile.chunks(tw).enumerate() {
                                self.fb[(y + ty + r) * self.w + x + tx..][..tw].copy_from_slice(row);
                            }
                        }
                    }
                    assert!(cur.is_empty(), "ZRLE rectangle fully used");
                }
                e => panic!("unexpected encoding {e}"),
            }
            rects.push((Rect::new(x as i32, y as i32, w as i32, hh as i32), enc));
        }
        rects
    }

    /// The decoded pixel at (x, y) as 0xRRGGBB, expanded from the wire format.
    fn rgb(&self, x: usize, y: usize) -> u32 {
        let p = self.fb[y * self.w + x];
        (0..3).fold(0, |acc, ch| {
            let max = u32::from(self.pf.max[ch]);
            let v = (p >> self.pf.shift[ch]) & max;
            (acc << 8) | ((v * 255 + max / 2) / max)
        })
    }

    /// Every decoded pixel equals the server's desktop (within the format's precision).
    fn assert_matches(&self, demo: &Demo) {
        let (w, h, rgba) = demo.snapshot_rgba();
        assert_eq!((usize::from(w), usize::from(h)), (self.w, self.h));
        let tol: [i32; 3] =
            std::array::from_fn(
                |ch| if self.pf.max[ch] == 255 { 0 } else { 255 / (2 * i32::from(self.pf.max[ch])) + 1 },
            );
        let mut bad = 0;
        for y in 0..self.h {
            for x in 0..self.w {
                let got = self.rgb(x, y);
                let want = &rgba[(y * self.w + x) * 4..][..3];
                let ok =
                    (0..3).all(|ch| (((got >> (16 - 8 * ch)) & 0xff) as i32 - i32::from(want[ch])).abs() <= tol[ch]);
                if !ok {
                    if bad < 5 {
                        eprintln!(
                            "pixel ({x},{y}): decoded {got:06x}, desktop {:02x}{:02x}{:02x}",
                            want[0], want[1], want[2]
                        );
                    }
                    bad += 1;
                }
            }
        }
        assert_eq!(bad, 0, "pixels that differ from the desktop");
    }
}

/// Starts a session on a duplex pipe; the server task ends when the client side is dropped.
fn connect(demo: &Arc<Demo>) -> (DuplexStream, JoinHandle<Result<()>>) {
    let (client, server) = tokio::io::duplex(1 << 16);
    (client, tokio::spawn(demo.clone().serve(server)))
}

async fn session(demo: &Arc<Demo>, version: &[u8; 12]) -> (Client<DuplexStream>, JoinHandle<Result<()>>) {
    let (s, task) = connect(demo);
    let (c, name) = Client::handshake(s, version).await;
    assert_eq!(name, NAME);
    (c, task)
}

async fn finished(task: JoinHandle<Result<()>>) -> Result<()> {
    tokio::time::timeout(GUARD, task).await.expect("session ended in time").expect("session did not panic")
}

fn paused(w: u16, h: u16) -> Arc<Demo> {
    let demo = Demo::new(w, h);
    demo.set_paused(true);
    demo
}

#[test]
fn serve_future_is_send() {
    fn is_send<T: Send>(_: &T) {}
    let demo = Demo::new(64, 64);
    let (_a, b) = tokio::io::duplex(64);
    is_send(&demo.serve(b));
}

#[tokio::test]
async fn handshake_3_8_raw_rgbx_full_update_matches_desktop() {
    let demo = paused(1280, 720);
    let (mut c, task) = session(&demo, b"RFB 003.008\n").await;
    assert_eq!((c.w, c.h), (1280, 720));
    c.set_pixel_format(RGBX).await;
    c.set_encodings(&[0]).await;
    c.request_all(false).await;
    let rects = c.read_update().await;
    assert!(rects.iter().all(|(_, e)| *e == 0));
    assert_eq!(rects.iter().map(|(r, _)| (r.w * r.h) as usize).sum::<usize>(), 1280 * 720);
    c.assert_matches(&demo);
    drop(c);
    finished(task).await.expect("clean end on EOF");
}

#[tokio::test]
async fn handshake_3_3_and_3_7_zrle_native_format() {
    for version in [b"RFB 003.003\n", b"RFB 003.007\n", b"RFB 003.005\n", b"RFB 003.889\n"] {
        let demo = paused(320, 240);
        let (mut c, task) = session(&demo, version).await;
        c.set_encodings(&[16, 0]).await;
        c.request_all(false).await;
        let rects = c.read_update().await;
        assert!(!rects.is_empty() && rects.iter().all(|(_, e)| *e == 16));
        c.assert_matches(&demo);
        drop(c);
        finished(task).await.expect("clean end");
    }
}

#[tokio::test]
async fn zrle_rgb565_then_key_and_pointer_updates_incrementally() {
    let demo = paused(1280, 720);
    let (mut c, task) = session(&demo, b"RFB 003.008\n").await;
    c.set_pixel_format(RGB565).await;
    c.set_encodings(&[16, 1, 0]).await;
    c.request_all(false).await;
    assert!(c.read_update().await.iter().all(|(_, e)| *e == 16));
    c.assert_matches(&demo);

    // 'A' appears in the text area.
    let before = demo.snapshot_rgba().2;
    c.key(u32::from(b'A')).await;
    c.request_all(true).await;
    let rects = c.read_update().await;
    assert_eq!(demo.typed_text(), "A");
    let area: i32 = rects.iter().map(|(r, _)| r.w * r.h).sum();
    assert!(area < 1280 * 720 / 4, "incremental update is small ({area} pixels)");
    c.assert_matches(&demo);
    let after = demo.snapshot_rgba().2;
    // The first text cell (at 24,92, 12x24) now has ink.
    let cell_changed =
        (92..116).any(|y| (24..36).any(|x| before[(y * 1280 + x) * 4..][..3] != after[(y * 1280 + x) * 4..][..3]));
    assert!(cell_changed, "the text cell changed");
    assert!(
        (92..116).any(|y| (24..36).any(|x| after[(y * 1280 + x) * 4..][..3] == [0xe8, 0xe8, 0xe8])),
        "text colour in the cell"
    );

    // The crosshair follows the pointer and changes colour with a button.
    c.pointer(700, 600, 0).await;
    c.request_all(true).await;
    c.read_update().await;
    c.assert_matches(&demo);
    assert_eq!(c.rgb(700, 600), 0xffffff);
    c.pointer(700, 600, 1).await;
    c.request_all(true).await;
    c.read_update().await;
    c.assert_matches(&demo);
    assert_eq!(c.rgb(700, 600) & 0xf8fcf8, 0xff3030 & 0xf8fcf8);
    drop(c);
    finished(task).await.expect("clean end");
}

#[tokio::test]
async fn incremental_request_waits_for_a_change() {
    let demo = paused(320, 240);
    let (mut c, task) = session(&demo, b"RFB 003.008\n").await;
    c.set_encodings(&[0]).await;
    c.request_all(false).await;
    c.read_update().await;
    c.request_all(true).await;
    // Nothing changed: the server holds the request. Typing answers it with the change only.
    c.key(u32::from(b'z')).await;
    let rects = c.read_update().await;
    assert!(!rects.is_empty(), "the held request is answered with the change");
    c.assert_matches(&demo);
    drop(c);
    finished(task).await.expect("clean end");
}

#[tokio::test]
async fn scrolling_text_uses_copyrect() {
    for encodings in [&[1, 16][..], &[1, 0][..]] {
        let demo = paused(320, 240);
        let (mut c, task) = session(&demo, b"RFB 003.008\n").await;
        c.set_pixel_format(RGBX).await;
        c.set_encodings(encodings).await;
        c.request_all(false).await;
        c.read_update().await;
        let mut copies = 0;
        for line in 0..30u32 {
            for k in 0..line % 7 + 1 {
                c.key(u32::from(b'a') + (line + k) % 26).await;
            }
            c.key(0xff0d).await;
            c.request_all(true).await;
            copies += c.read_update().await.iter().filter(|(_, e)| *e == 1).count();
            c.assert_matches(&demo);
        }
        assert!(copies >= 20, "scrolls sent as CopyRect ({copies})");
        drop(c);
        finished(task).await.expect("clean end");
    }
}

#[tokio::test]
async fn animation_moves_the_sprite_with_copyrect_and_stays_exact() {
    let demo = paused(640, 480);
    let (mut c, task) = session(&demo, b"RFB 003.008\n").await;
    c.set_encodings(&[16, 1]).await;
    c.request_all(false).await;
    c.read_update().await;
    let mut copies = 0;
    for round in 0..40 {
        // Sometimes several frames (and the pointer crossing the sprite) between requests.
        for _ in 0..round % 3 + 1 {
            demo.step();
        }
        if round % 5 == 0 {
            c.pointer(30 + round * 7, 400, (round % 2) as u8).await;
        }
        c.request_all(true).await;
        copies += c.read_update().await.iter().filter(|(_, e)| *e == 1).count();
        c.assert_matches(&demo);
    }
    assert!(copies >= 10, "sprite moves sent as CopyRect ({copies})");
    drop(c);
    finished(task).await.expect("clean end");
}

#[tokio::test]
async fn two_viewers_share_one_desktop() {
    let demo = paused(320, 240);
    let (mut a, ta) = session(&demo, b"RFB 003.008\n").await;
    let (mut b, tb) = session(&demo, b"RFB 003.008\n").await;
    for c in [&mut a, &mut b] {
        c.set_encodings(&[16]).await;
        c.request_all(false).await;
        c.read_update().await;
    }
    a.key(u32::from(b'q')).await;
    b.pointer(10, 10, 4).await;
    // Either session's update may be split by the timing of the two inputs; read until both
    // changes are in.
    for c in [&mut a, &mut b] {
        loop {
            c.request_all(true).await;
            c.read_update().await;
            if c.rgb(10, 10) == 0x3030ff && demo.typed_text() == "q" {
                break;
            }
        }
        c.assert_matches(&demo);
    }
    drop((a, b));
    finished(ta).await.expect("clean end");
    finished(tb).await.expect("clean end");
}

#[tokio::test]
async fn real_tcp_socket_session() {
    let demo = paused(400, 300);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = {
        let demo = demo.clone();
        tokio::spawn(async move {
            let (sock, _) = listener.accept().await?;
            demo.serve(sock).await
        })
    };
    let sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut c, _) = Client::handshake(sock, b"RFB 003.008\n").await;
    c.set_pixel_format(RGB565).await;
    c.set_encodings(&[16, 1, 0]).await;
    c.request_all(false).await;
    c.read_update().await;
    c.key(0xe9).await; // é
    c.request_all(true).await;
    c.read_update().await;
    assert_eq!(demo.typed_text(), "é");
    c.assert_matches(&demo);
    drop(c);
    finished(server).await.expect("clean end");
}

#[tokio::test]
async fn partial_and_out_of_range_requests() {
    let demo = paused(320, 240);
    let (mut c, task) = session(&demo, b"RFB 003.008\n").await;
    c.set_encodings(&[0]).await;
    // Wholly outside: answered (non-incremental) with nothing.
    c.request(false, 1000, 1000, 50, 50).await;
    assert!(c.read_update().await.is_empty());
    // Partly outside: clipped to the desktop.
    c.request(false, 300, 200, 500, 500).await;
    let rects = c.read_update().await;
    assert!(!rects.is_empty());
    let covered: i32 = rects
        .iter()
        .map(|(r, _)| r.intersect(&Rect::new(300, 200, 20, 40)).w * r.intersect(&Rect::new(300, 200, 20, 40)).h)
        .sum();
    assert_eq!(covered, 20 * 40);
    c.request_all(false).await;
    c.read_update().await;
    c.assert_matches(&demo);
    drop(c);
    finished(task).await.expect("clean end");
}

#[tokio::test]
async fn big_cut_text_is_skipped_not_stored() {
    let demo = paused(1280, 720);
    let (mut c, task) = session(&demo, b"RFB 003.008\n").await;
    c.set_encodings(&[0]).await;
    let len = 3 << 20;
    let mut m = vec![6, 0, 0, 0];
    m.extend_from_slice(&(len as u32).to_be_bytes());
    c.send(&m).await;
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..len / chunk.len() {
        c.send(&chunk).await;
    }
    // Still in step with the client: the next message is understood.
    c.request_all(false).await;
    c.read_update().await;
    c.assert_matches(&demo);
    assert_eq!(demo.typed_text(), "x".repeat(desktop::PASTE_SHOWN));
    drop(c);
    finished(task).await.expect("clean end");
}

#[tokio::test]
async fn unknown_message_type_and_bad_formats_close_with_an_error() {
    for bad in [
        &[99u8, 1, 2, 3][..],
        &[0, 0, 0, 0, 24, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0][..],
        &[0, 0, 0, 0, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
    ] {
        let demo = paused(64, 64);
        let (mut c, task) = session(&demo, b"RFB 003.008\n").await;
        c.send(bad).await;
        let err = finished(task).await.expect_err("protocol error");
        assert!(!err.to_string().is_empty());
        // The server side is gone: the client reads end-of-stream.
        let mut rest = Vec::new();
        tokio::time::timeout(GUARD, c.s.read_to_end(&mut rest)).await.expect("closed").expect("read");
    }
}

#[tokio::test]
async fn garbage_handshakes_are_refused() {
    let replies: [&[u8]; 4] = [b"GET / HTTP/1.1\r\n", b"RFB 004.001\n", b"RFB 003.00x\n", b"RF"];
    for reply in replies {
        let demo = Demo::new(64, 64);
        let (mut s, task) = connect(&demo);
        let mut v = [0u8; 12];
        s.read_exact(&mut v).await.expect("version");
        s.write_all(reply).await.expect("write");
        s.shutdown().await.expect("shutdown");
        assert!(finished(task).await.is_err(), "{reply:?} refused");
    }
    // 3.8 with a security type other than None: a failure reason, then the end.
    let demo = Demo::new(64, 64);
    let (mut s, task) = connect(&demo);
    let mut v = [0u8; 12];
    s.read_exact(&mut v).await.expect("version");
    s.write_all(b"RFB 003.008\n\x02").await.expect("write");
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.expect("read");
    assert_eq!(&rest[..2], [1, 1]);
    assert_eq!(&rest[2..6], [0, 0, 0, 1], "SecurityResult failed");
    assert!(finished(task).await.is_err());
}

#[tokio::test]
async fn random_bytes_after_the_handshake_never_panic() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..200 {
        let demo = Demo::new(96, 64);
        let (mut c, task) = session(&demo, b"RFB 003.008\n").await;
        let n = 1 + round * 7 % 300;
        let bytes: Vec<u8> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Bias towards valid message types so messages get parsed further.
                if x % 5 == 0 { (x >> 8) as u8 % 7 } else { (x >> 16) as u8 }
            })
            .collect();
        let _ = c.s.write_all(&bytes).await; // the server may already have hung up
        drop(c);
        let _ = finished(task).await; // Ok or Err; a panic fails in `finished`
    }
}

/// Whether the engine's RGBA framebuffer equals the desktop (RGB of every pixel).
fn engine_matches(conn: &oxvnc_rfb::Connection, demo: &Demo) -> bool {
    let (w, h, rgba) = demo.snapshot_rgba();
    let fb = conn.framebuffer();
    (fb.width(), fb.height()) == (w, h) && fb.data().chunks(4).zip(rgba.chunks(4)).all(|(a, b)| a[..3] == b[..3])
}

/// Drives the project's own client engine (`oxvnc_rfb::Connection`, which keeps one incremental
/// request outstanding) until the desktop has made at least `min_seq` changes and the engine's
/// framebuffer equals it. A change the server failed to send never converges: the read guard
/// fails the test.
async fn converge(conn: &mut oxvnc_rfb::Connection, s: &mut DuplexStream, demo: &Demo, min_seq: u64) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let out = conn.take_output();
        if !out.is_empty() {
            s.write_all(&out).await.expect("write");
        }
        if demo.lock().seq() >= min_seq && engine_matches(conn, demo) {
            return;
        }
        let n =
            tokio::time::timeout(GUARD, s.read(&mut buf)).await.expect("server sent the missing pixels").expect("read");
        assert!(n > 0, "server closed the connection");
        conn.receive(&buf[..n]).expect("engine accepts the server's bytes");
        while let Some(ev) = conn.poll_event() {
            if let oxvnc_rfb::Event::Disconnected(e) = ev {
                panic!("engine disconnected: {e}");
            }
        }
    }
}

#[tokio::test]
async fn the_oxvnc_client_engine_decodes_the_server_exactly() {
    use oxvnc_rfb::{Config, Connection, Encoding, PixelFormatChoice};
    let configs = [
        Config::default().with_encodings(&[Encoding::Zrle, Encoding::CopyRect, Encoding::Raw]),
        Config::default().with_encodings(&[Encoding::CopyRect, Encoding::Raw]),
        Config::default().with_encodings(&[Encoding::Zrle]),
        Config {
            pixel_format: PixelFormatChoice::ServerNative,
            ..Config::default().with_encodings(&[Encoding::Zrle, Encoding::CopyRect])
        },
    ];
    for config in configs {
        let demo = paused(640, 480);
        let (mut s, task) = connect(&demo);
        let mut conn = Connection::new(config);
        converge(&mut conn, &mut s, &demo, 0).await; // handshake and the first full update
        for round in 0..40u32 {
            // Every input event redraws the status line, so it moves the change counter.
            let before = demo.lock().seq();
            let events = match round % 4 {
                0 => {
                    let n = round % 9 + 1;
                    for k in 0..n {
                        conn.key(u32::from(b'A') + (round + k) % 26, true);
                        conn.key(u32::from(b'A') + (round + k) % 26, false);
                    }
                    conn.key(0xff0d, true);
                    2 * n + 1
                }
                1 => {
                    conn.pointer((round * 23 % 640) as u16, (round * 37 % 480) as u16, (round % 3) as u8);
                    1
                }
                2 => {
                    conn.key(0xff08, true);
                    1
                }
                _ => 0,
            };
            converge(&mut conn, &mut s, &demo, before + u64::from(events)).await;
            for _ in 0..round % 3 + 1 {
                demo.step();
            }
            converge(&mut conn, &mut s, &demo, 0).await;
        }
        drop(s);
        finished(task).await.expect("clean end");
    }
}
