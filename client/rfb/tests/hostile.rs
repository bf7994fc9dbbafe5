//! Hostile server streams, deterministic (every case is generated from its own seed, printed on
//! failure): random bytes, random messages after a valid handshake, and valid sessions (synthetic
//! ones covering every message and encoding in several pixel formats, and the start of real
//! recordings) with bits flipped, bytes inserted, deleted and duplicated, truncated, and length
//! and size fields replaced with huge values. Each case is fed in random chunks.
//!
//! For every case: no panic; `receive` returns `Ok` or an error after which the connection is
//! closed (state, `error()`, exactly one `Disconnected` event, `Closed` from then on); memory
//! stays bounded — a counting global allocator tracks this thread's live bytes, and their peak
//! during a case must stay under the framebuffers' size plus 64 MiB — and everything is freed
//! when the connection is dropped. A case that makes no progress for minutes is reported as a
//! hang (a watchdog, not a timing assertion: a case takes milliseconds).

#[path = "common/accounting.rs"]
mod accounting;
mod common;

use accounting::{live, peak, reset_peak};
use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use oxvnc_rfb::replay as rec;
use oxvnc_rfb::{Config, Connection, Credentials, Encoding, Error, Event, PixelFormat, PixelFormatChoice, State};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

// Allocation accounting, per thread (each test runs its cases on one worker thread).

#[global_allocator]
static ALLOCATOR: accounting::Accounting = accounting::Accounting;

/// Slack over the framebuffers a connection may hold at its peak.
const SLACK: isize = 64 << 20;

#[test]
fn the_allocator_counts() {
    let before = live();
    reset_peak();
    let v = vec![1u8; 1 << 20];
    assert!(live() - before >= 1 << 20);
    drop(v);
    assert!(peak() - before >= 1 << 20);
    assert!(live() - before < 1 << 20);
}

// ---------------------------------------------------------------------------------------------
// One case.

struct Case {
    what: String,
    config: Config,
    data: Vec<u8>,
    /// Chunk sizes: 0 = all at once, else random 1..=max.
    max_chunk: usize,
    /// When the stream is the unmutated valid session: updates it must complete.
    valid_updates: Option<usize>,
}

#[derive(Default)]
struct Totals {
    cases: usize,
    ok: usize,
    errors: std::collections::BTreeMap<String, usize>,
    max_overhead: isize,
}

fn error_kind(e: &Error) -> String {
    let s = format!("{e:?}");
    s.split(['(', ' ', '{']).next().unwrap_or_default().to_owned()
}

fn run_case(case: &Case, seed: u64, totals: &mut Totals) {
    let ctx = || format!("case {:?} (seed {seed}, {} bytes, chunks ≤ {})", case.what, case.data.len(), case.max_chunk);
    let base = live();
    reset_peak();
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xc4a5);
    let mut conn = Connection::new(case.config.clone());
    let (mut fb_bytes, mut updates, mut pos) = (0isize, 0usize, 0usize);
    let mut failed: Option<Error> = None;
    while pos < case.data.len() {
        let n = if case.max_chunk == 0 { usize::MAX } else { rng.random_range(1..=case.max_chunk) };
        let n = n.min(case.data.len() - pos);
        let result = conn.receive(&case.data[pos..pos + n]);
        pos += n;
        // Input calls in between must be harmless in any state.
        match rng.random_range(0..8) {
            0 => conn.pointer(rng.random(), rng.random(), rng.random()),
            1 => conn.key(rng.random(), rng.random()),
            2 => conn.clipboard("é€x"),
            3 => conn.request_update(true, None),
            _ => {}
        }
        conn.take_output();
        let mut disconnected = 0;
        while let Some(e) = conn.poll_event() {
            assert!(failed.is_none(), "{}: event {e:?} after the connection closed", ctx());
            match e {
                Event::Connected { width, height, .. } | Event::Resized { width, height } => {
                    fb_bytes = fb_bytes.max(width as isize * height as isize * 4);
                }
                Event::UpdateComplete => updates += 1,
                Event::CredentialsRequired { .. } => {
                    let r = conn.send_credentials(Credentials { username: None, password: "pw".into() });
                    if let Err(e) = r {
                        assert_eq!(conn.error(), Some(&e), "{}", ctx());
                    }
                }
                Event::Disconnected(_) => disconnected += 1,
                _ => {}
            }
        }
        if let Err(e) = result {
            assert!(!e.to_string().is_empty());
            assert_eq!(disconnected, 1, "{}: {e} raised {disconnected} Disconnected events", ctx());
            assert_eq!(conn.state(), State::Closed, "{}", ctx());
            assert_eq!(conn.error(), Some(&e), "{}", ctx());
            assert_eq!(conn.receive(b"more"), Err(Error::Closed), "{}", ctx());
            failed = Some(e);
            break;
        }
        if disconnected > 0 {
            // Closed from send_credentials' replay of pending bytes.
            failed = conn.error().cloned();
            assert!(failed.is_some(), "{}: Disconnected without an error", ctx());
            break;
        }
    }
    let overhead = peak() - base - fb_bytes;
    assert!(
        overhead <= SLACK,
        "{}: peak allocation {} bytes over {} bytes of framebuffer (limit {SLACK})",
        ctx(),
        overhead,
        fb_bytes
    );
    if let Some(n) = case.valid_updates {
        assert_eq!(failed, None, "{}: the unmutated session failed", ctx());
        assert_eq!(updates, n, "{}: updates of the unmutated session", ctx());
    }
    let kind = failed.as_ref().map(error_kind);
    drop(failed);
    drop(conn);
    let kept = kind.as_ref().map_or(0, |k| k.capacity() as isize);
    assert_eq!(live() - base - kept, 0, "{}: bytes still allocated after dropping the connection", ctx());
    totals.cases += 1;
    totals.max_overhead = totals.max_overhead.max(overhead);
    match kind {
        None => totals.ok += 1,
        Some(k) => *totals.errors.entry(k).or_default() += 1,
    }
}

/// Runs `count` cases made by `make(rng, index)` on a worker thread; a case that does not finish
/// within minutes is reported as a hang.
fn run_cases(name: &'static str, count: usize, make: impl Fn(&mut SmallRng, usize) -> Case + Send + 'static) {
    let (tx, rx) = mpsc::channel::<(usize, String)>();
    let worker = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut totals = Totals::default();
            for i in 0..count {
                let seed = (name.len() as u64) << 32 | i as u64;
                let mut rng = SmallRng::seed_from_u64(seed);
                let case = make(&mut rng, i);
                let _ = tx.send((i, case.what.clone()));
                run_case(&case, seed, &mut totals);
            }
            totals
        })
        .expect("spawn");
    let mut current = (0, String::new());
    loop {
        match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(c) => current = c,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{name}: case {} ({:?}) made no progress for 300 s: the engine hangs", current.0, current.1)
            }
        }
    }
    let totals = worker.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert_eq!(totals.cases, count);
    println!(
        "{name}: {} cases, {} ended Ok, errors {:?}; peak allocation over the framebuffer at most {} KiB",
        totals.cases,
        totals.ok,
        totals.errors,
        totals.max_overhead / 1024
    );
}

// ---------------------------------------------------------------------------------------------
// Valid synthetic sessions.

/// The pixel formats sessions are built in, with the configuration that selects each.
fn formats() -> Vec<(PixelFormatChoice, PixelFormat, PixelFormat)> {
    let xvnc = PixelFormat { red_shift: 16, green_shift: 8, blue_shift: 0, ..PixelFormat::RGBX32 };
    let be = PixelFormat { big_endian: true, ..xvnc };
    vec![
        // (choice, ServerInit format, format of the pixels that follow)
        (PixelFormatChoice::Rgbx32, xvnc, PixelFormat::RGBX32),
        (PixelFormatChoice::ServerNative, xvnc, xvnc),
        (PixelFormatChoice::ServerNative, be, be),
        (PixelFormatChoice::Custom(PixelFormat::RGB565), xvnc, PixelFormat::RGB565),
        (PixelFormatChoice::Custom(PixelFormat::BGR233), xvnc, PixelFormat::BGR233),
        (PixelFormatChoice::ServerNative, PixelFormat::COLOUR_MAP8, PixelFormat::COLOUR_MAP8),
    ]
}

/// Builds a server stream, remembering where its length and size fields are.
struct Builder {
    out: Vec<u8>,
    /// (offset, width in bytes) of fields worth replacing with huge values.
    fields: Vec<(usize, usize)>,
    pf: PixelFormat,
    w: u16,
    h: u16,
    zlib: ZlibEncoder<Vec<u8>>,
    /// The Zlib encoding's stream, then Tight's four.
    more_zlib: Vec<ZlibEncoder<Vec<u8>>>,
    updates: usize,
    /// Where ServerInit ends.
    init_end: usize,
}

impl Builder {
    fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }
    fn field(&mut self, width: usize) {
        self.fields.push((self.out.len(), width));
    }
    fn len8(&mut self, v: u8) {
        self.field(1);
        self.u8(v);
    }
    fn len16(&mut self, v: u16) {
        self.field(2);
        self.u16(v);
    }
    fn len32(&mut self, v: u32) {
        self.field(4);
        self.u32(v);
    }
    fn random(&mut self, rng: &mut SmallRng, n: usize) {
        let start = self.out.len();
        self.out.resize(start + n, 0);
        rng.fill(&mut self.out[start..]);
    }
    fn bpp(&self) -> usize {
        self.pf.bytes_per_pixel()
    }
    fn pixel(&mut self, rng: &mut SmallRng) {
        self.random(rng, self.bpp());
    }
    /// Compresses `data` on stream `i` of `more_zlib` with a sync flush.
    fn deflate(&mut self, i: usize, data: &[u8]) -> Vec<u8> {
        let z = &mut self.more_zlib[i];
        z.write_all(data).expect("compress");
        z.flush().expect("sync flush");
        std::mem::take(z.get_mut())
    }
    /// A Tight compact length.
    fn compact(&mut self, n: usize) {
        self.field(1);
        self.u8((n & 0x7f) as u8 | if n > 0x7f { 0x80 } else { 0 });
        if n > 0x7f {
            self.u8((n >> 7 & 0x7f) as u8 | if n > 0x3fff { 0x80 } else { 0 });
            if n > 0x3fff {
                self.u8((n >> 14) as u8);
            }
        }
    }
    /// A valid Tight (or TightPNG) rectangle: fill, basic with each filter, JPEG or PNG.
    fn tight(&mut self, rng: &mut SmallRng, w: u16, h: u16, png: bool) {
        let pf = self.pf;
        let rgb24 = pf.true_colour
            && pf.bits_per_pixel == 32
            && pf.depth == 24
            && [pf.red_max, pf.green_max, pf.blue_max] == [255; 3];
        let tp = if rgb24 { 3 } else { self.bpp() };
        let (wu, hu) = (w as usize, h as usize);
        let image = |rng: &mut SmallRng| -> Vec<u8> {
            let base: [u8; 3] = rng.random();
            (0..wu * hu).flat_map(|i| [base[0].wrapping_add(i as u8), base[1], base[2] ^ (i / wu) as u8]).collect()
        };
        match rng.random_range(0..if png { 6 } else { 5 }) {
            0 => {
                self.u8(0x80);
                self.random(rng, tp);
            }
            4 => {
                let mut jpg = Vec::new();
                jpeg_encoder::Encoder::new(&mut jpg, rng.random_range(10..=100))
                    .encode(&image(rng), w, h, jpeg_encoder::ColorType::Rgb)
                    .expect("JPEG");
                self.u8(0x90);
                self.compact(jpg.len());
                self.bytes(&jpg);
            }
            5 => {
                let mut data = Vec::new();
                let mut e = png::Encoder::new(&mut data, w as u32, h as u32);
                e.set_color(png::ColorType::Rgb);
                e.set_depth(png::BitDepth::Eight);
                e.write_header().expect("PNG").write_image_data(&image(rng)).expect("PNG");
                self.u8(0xa0);
                self.compact(data.len());
                self.bytes(&data);
            }
            kind => {
                let stream = rng.random_range(0..4u8);
                let reset = if rng.random_bool(0.1) {
                    self.more_zlib[1 + stream as usize] = ZlibEncoder::new(Vec::new(), Compression::fast());
                    1 << stream
                } else {
                    0
                };
                // Copy, palette, or gradient (true colour only).
                let kind = if kind == 3 && !pf.true_colour { 1 } else { kind };
                let mut data;
                match kind {
                    1 => {
                        self.u8(stream << 4 | reset | if rng.random() { 0x40 } else { 0 });
                        if self.out.last().is_some_and(|c| c & 0x40 != 0) {
                            self.u8(0);
                        }
                        data = vec![0u8; wu * hu * tp];
                        rng.fill(&mut data[..]);
                    }
                    2 => {
                        let n = rng.random_range(1..=256usize);
                        self.bytes(&[0x40 | stream << 4 | reset, 1, (n - 1) as u8]);
                        self.random(rng, n * tp);
                        if n <= 2 {
                            data = vec![0u8; wu.div_ceil(8) * hu];
                            if n == 2 {
                                rng.fill(&mut data[..]);
                            }
                        } else {
                            data = (0..wu * hu).map(|_| rng.random_range(0..n) as u8).collect();
                        }
                    }
                    _ => {
                        self.bytes(&[0x40 | stream << 4 | reset, 2]);
                        data = vec![0u8; wu * hu * tp];
                        rng.fill(&mut data[..]);
                    }
                }
                if data.len() < 12 {
                    self.bytes(&data);
                } else {
                    let z = self.deflate(1 + stream as usize, &data);
                    self.compact(z.len());
                    self.bytes(&z);
                }
            }
        }
    }
    fn rect_header(&mut self, x: u16, y: u16, w: u16, h: u16, enc: Encoding) {
        for v in [x, y, w, h] {
            self.len16(v);
        }
        self.bytes(&enc.number().to_be_bytes());
    }
}

/// Random rectangle inside the framebuffer, at most `max` on a side (at least 1x1).
fn some_rect(rng: &mut SmallRng, fw: u16, fh: u16, max: u16) -> (u16, u16, u16, u16) {
    let x = rng.random_range(0..fw);
    let y = rng.random_range(0..fh);
    let w = rng.random_range(1..=(fw - x).min(max));
    let h = rng.random_range(1..=(fh - y).min(max));
    (x, y, w, h)
}

/// A ZRLE run length: one plus the sum of its bytes, 255 meaning another byte follows.
fn run_length(out: &mut Vec<u8>, len: usize) {
    let mut left = len - 1;
    while left >= 255 {
        out.push(255);
        left -= 255;
    }
    out.push(left as u8);
}

/// ZRLE (`size` 64) or TRLE (`size` 16) tiles.
fn zrle_tiles(rng: &mut SmallRng, cp: usize, size: u16, w: u16, h: u16) -> Vec<u8> {
    let mut t = Vec::new();
    let cpixel = |rng: &mut SmallRng, t: &mut Vec<u8>| t.extend((0..cp).map(|_| rng.random::<u8>()));
    for ty in (0..h).step_by(size as usize) {
        for tx in (0..w).step_by(size as usize) {
            let (tw, th) = ((w - tx).min(size) as usize, (h - ty).min(size) as usize);
            let area = tw * th;
            match rng.random_range(0..5) {
                0 => {
                    t.push(0);
                    for _ in 0..area {
                        cpixel(rng, &mut t);
                    }
                }
                1 => {
                    t.push(1);
                    cpixel(rng, &mut t);
                }
                2 => {
                    let n = rng.random_range(2..=16usize);
                    t.push(n as u8);
                    for _ in 0..n {
                        cpixel(rng, &mut t);
                    }
                    let bits = match n {
                        2 => 1,
                        3..=4 => 2,
                        _ => 4,
                    };
                    for _ in 0..th {
                        let mut acc = 0u32;
                        let mut nbits = 0;
                        for _ in 0..tw {
                            acc = acc << bits | rng.random_range(0..n as u32);
                            nbits += bits;
                            if nbits == 8 {
                                t.push(acc as u8);
                                (acc, nbits) = (0, 0);
                            }
                        }
                        if nbits > 0 {
                            t.push((acc << (8 - nbits)) as u8);
                        }
                    }
                }
                3 => {
                    t.push(128);
                    let mut left = area;
                    while left > 0 {
                        let run = rng.random_range(1..=left.min(600));
                        cpixel(rng, &mut t);
                        run_length(&mut t, run);
                        left -= run;
                    }
                }
                _ => {
                    let n = rng.random_range(2..=127usize);
                    t.push(128 + n as u8);
                    for _ in 0..n {
                        cpixel(rng, &mut t);
                    }
                    let mut left = area;
                    while left > 0 {
                        let i = rng.random_range(0..n as u8);
                        if rng.random_bool(0.3) {
                            t.push(i);
                            left -= 1;
                        } else {
                            let run = rng.random_range(1..=left.min(300));
                            t.push(i | 128);
                            run_length(&mut t, run);
                            left -= run;
                        }
                    }
                }
            }
        }
    }
    t
}

impl Builder {
    fn hextile(&mut self, rng: &mut SmallRng, w: u16, h: u16) {
        let bpp = self.bpp();
        for ty in (0..h).step_by(16) {
            for tx in (0..w).step_by(16) {
                let (tw, th) = ((w - tx).min(16) as u8, (h - ty).min(16) as u8);
                if rng.random_bool(0.2) {
                    self.u8(1);
                    self.random(rng, tw as usize * th as usize * bpp);
                    continue;
                }
                let (any, coloured) = (rng.random_bool(0.7), rng.random_bool(0.5));
                let sub = 2 | if any { 8 } else { 0 } | if any && coloured { 16 } else { 4 };
                self.u8(sub);
                self.pixel(rng); // background
                if sub & 4 != 0 {
                    self.pixel(rng); // foreground
                }
                if any {
                    let n = rng.random_range(1..=20u8);
                    self.len8(n);
                    for _ in 0..n {
                        if coloured {
                            self.pixel(rng);
                        }
                        let (x, y) = (rng.random_range(0..tw), rng.random_range(0..th));
                        let (sw, sh) = (rng.random_range(1..=tw - x), rng.random_range(1..=th - y));
                        self.u8(x << 4 | y);
                        self.u8((sw - 1) << 4 | (sh - 1));
                    }
                }
            }
        }
    }

    fn update(&mut self, rng: &mut SmallRng, offered: &[Encoding]) {
        let n = rng.random_range(1..=8u16);
        let last_rect = offered.contains(&Encoding::LastRect) && rng.random_bool(0.2);
        self.u8(0);
        self.u8(0);
        self.len16(if last_rect { 0xffff } else { n });
        let pixel_encs: Vec<Encoding> = offered
            .iter()
            .copied()
            .filter(|e| !e.is_pseudo() && Encoding::PIXEL.contains(e))
            .chain([Encoding::Raw])
            .collect();
        for _ in 0..n {
            let (fw, fh) = (self.w, self.h);
            let pseudo = rng.random_bool(0.15);
            let enc = if pseudo {
                let candidates: Vec<Encoding> = offered
                    .iter()
                    .copied()
                    // Pseudo-encodings that come as rectangles (Fence, ContinuousUpdates, XVP
                    // and the extended clipboard come as messages).
                    .filter(|e| {
                        e.is_pseudo()
                            && !matches!(
                                e,
                                Encoding::LastRect
                                    | Encoding::Fence
                                    | Encoding::ContinuousUpdates
                                    | Encoding::Xvp
                                    | Encoding::ExtendedClipboard
                            )
                    })
                    .collect();
                if candidates.is_empty() { Encoding::Raw } else { candidates[rng.random_range(0..candidates.len())] }
            } else {
                pixel_encs[rng.random_range(0..pixel_encs.len())]
            };
            let (x, y, w, h) = some_rect(rng, fw, fh, 80);
            match enc {
                Encoding::Raw => {
                    self.rect_header(x, y, w, h, enc);
                    self.random(rng, w as usize * h as usize * self.bpp());
                }
                Encoding::CopyRect => {
                    self.rect_header(x, y, w, h, enc);
                    self.len16(rng.random_range(0..=fw - w));
                    self.len16(rng.random_range(0..=fh - h));
                }
                Encoding::Rre => {
                    self.rect_header(x, y, w, h, enc);
                    // The engine takes at most one subrectangle per pixel (no encoder sends more).
                    let n = rng.random_range(0..=30.min(w as u32 * h as u32));
                    self.len32(n);
                    self.pixel(rng);
                    for _ in 0..n {
                        self.pixel(rng);
                        let (sx, sy, sw, sh) = some_rect(rng, w, h, w.max(h));
                        for v in [sx, sy, sw, sh] {
                            self.len16(v);
                        }
                    }
                }
                Encoding::Hextile => {
                    self.rect_header(x, y, w, h, enc);
                    self.hextile(rng, w, h);
                }
                Encoding::Zrle => {
                    self.rect_header(x, y, w, h, enc);
                    let tiles = zrle_tiles(rng, self.pf.cpixel().0, 64, w, h);
                    self.zlib.write_all(&tiles).expect("compress");
                    self.zlib.flush().expect("sync flush");
                    let z = std::mem::take(self.zlib.get_mut());
                    self.len32(z.len() as u32);
                    self.bytes(&z);
                }
                Encoding::Trle => {
                    self.rect_header(x, y, w, h, enc);
                    let tiles = zrle_tiles(rng, self.pf.cpixel().0, 16, w, h);
                    self.bytes(&tiles);
                }
                Encoding::Zlib => {
                    self.rect_header(x, y, w, h, enc);
                    let mut px = vec![0u8; w as usize * h as usize * self.bpp()];
                    rng.fill(&mut px[..]);
                    let z = self.deflate(0, &px);
                    self.len32(z.len() as u32);
                    self.bytes(&z);
                }
                Encoding::Tight | Encoding::TightPng => {
                    self.rect_header(x, y, w, h, enc);
                    self.tight(rng, w, h, enc == Encoding::TightPng);
                }
                Encoding::DesktopSize => {
                    let (nw, nh) = (rng.random_range(1..=96), rng.random_range(1..=96));
                    self.rect_header(0, 0, nw, nh, enc);
                    (self.w, self.h) = (nw, nh);
                }
                Encoding::ExtendedDesktopSize => {
                    let (nw, nh) = (rng.random_range(1..=96), rng.random_range(1..=96));
                    self.rect_header(0, 0, nw, nh, enc);
                    let screens = rng.random_range(1..=3u8);
                    self.len8(screens);
                    self.bytes(&[0; 3]);
                    for i in 0..screens {
                        self.u32(i as u32);
                        for v in [0, 0, nw, nh] {
                            self.u16(v);
                        }
                        self.u32(0);
                    }
                    (self.w, self.h) = (nw, nh);
                }
                Encoding::Cursor => {
                    let (cw, ch) = (rng.random_range(0..=32u16), rng.random_range(0..=32u16));
                    self.rect_header(rng.random_range(0..=cw), rng.random_range(0..=ch), cw, ch, enc);
                    let len = cw as usize * ch as usize * self.bpp() + (cw as usize).div_ceil(8) * ch as usize;
                    self.random(rng, len);
                }
                Encoding::DesktopName => {
                    self.rect_header(0, 0, 0, 0, enc);
                    let name = "Ünïcode desk";
                    self.len32(name.len() as u32);
                    self.bytes(name.as_bytes());
                }
                Encoding::QemuExtendedKey | Encoding::ExtendedMouseButtons => {
                    self.rect_header(0, 0, 0, 0, enc);
                }
                Encoding::QemuLedState => {
                    self.rect_header(0, 0, 0, 0, enc);
                    self.random(rng, 1);
                }
                Encoding::VmwareCursor => {
                    let (cw, ch) = (rng.random_range(0..=32u16), rng.random_range(0..=32u16));
                    self.rect_header(0, 0, cw, ch, enc);
                    let kind = rng.random_range(0..=1u8);
                    self.bytes(&[kind, 0]);
                    let px = cw as usize * ch as usize;
                    let len = if kind == 0 { 2 * px * self.bpp() } else { 4 * px };
                    self.random(rng, len);
                }
                e => unreachable!("{e:?}"),
            }
        }
        if last_rect {
            self.rect_header(0, 0, 0, 0, Encoding::LastRect);
        }
        self.updates += 1;
    }
}

/// A valid session: a handshake of some version and security type, ServerInit, then updates
/// in every offered encoding, bells, clipboard text and colour map entries.
fn synthetic(rng: &mut SmallRng) -> (Config, Builder) {
    let all = formats();
    let (choice, server_pf, pf) = all[rng.random_range(0..all.len())];
    let mut encodings: Vec<Encoding> = Encoding::PIXEL.to_vec();
    // Sometimes offer only a few encodings.
    if rng.random_bool(0.3) {
        encodings.retain(|_| rng.random_bool(0.5));
    }
    encodings.extend(Encoding::PSEUDO.iter().copied().filter(|_| rng.random_bool(0.8)));
    let mut config =
        Config { encodings, shared: rng.random(), pixel_format: choice, credentials: None, ..Config::default() };
    let (w, h) = (rng.random_range(1..=128), rng.random_range(1..=96));
    let mut b = Builder {
        out: Vec::new(),
        fields: Vec::new(),
        pf,
        w,
        h,
        zlib: ZlibEncoder::new(Vec::new(), Compression::fast()),
        more_zlib: (0..5).map(|_| ZlibEncoder::new(Vec::new(), Compression::fast())).collect(),
        updates: 0,
        init_end: 0,
    };
    let vnc_auth = rng.random_bool(0.3);
    if vnc_auth && rng.random() {
        config.credentials = Some(Credentials { username: None, password: "secret".into() });
    }
    match rng.random_range(0..3) {
        0 => {
            b.bytes(b"RFB 003.003\n");
            b.u32(if vnc_auth { 2 } else { 1 });
        }
        v => {
            b.bytes(if v == 1 { b"RFB 003.007\n" } else { b"RFB 003.008\n" });
            b.len8(2);
            b.bytes(&[if vnc_auth { 2 } else { 1 }, 30]);
        }
    }
    if vnc_auth {
        b.random(rng, 16);
    }
    if vnc_auth || b.out.starts_with(b"RFB 003.008") {
        b.u32(0);
    }
    b.len16(w);
    b.len16(h);
    b.bytes(&server_pf.to_bytes());
    b.len32(4);
    b.bytes(b"desk");
    b.init_end = b.out.len();
    let offered = config.encodings.clone();
    for _ in 0..rng.random_range(1..=6) {
        match rng.random_range(0..10) {
            0 => b.u8(2),
            1 => {
                b.bytes(&[3, 0, 0, 0]);
                let n = rng.random_range(0..200);
                b.len32(n);
                b.random(rng, n as usize);
            }
            2 => {
                b.bytes(&[1, 0]);
                let first = rng.random_range(0..250u16);
                let n = rng.random_range(0..=(256 - first));
                b.len16(first);
                b.len16(n);
                b.random(rng, n as usize * 6);
            }
            _ => b.update(rng, &offered),
        }
    }
    (config, b)
}

// ---------------------------------------------------------------------------------------------
// Mutations.

fn huge(rng: &mut SmallRng, width: usize) -> u64 {
    match width {
        1 => [0xff, 0x80, 0x7f, 0][rng.random_range(0..4)],
        2 => [0xffff, 0x8000, 0x4001, 0x4000, 0x3fff, rng.random::<u16>() as u64][rng.random_range(0..6)],
        _ => [0xffff_ffff, 0x8000_0000, 0x7fff_ffff, 0x0100_0000, (1 << 20) + 1, rng.random::<u32>() as u64]
            [rng.random_range(0..6)],
    }
}

/// Replaces some of `fields` with huge values, then flips, overwrites, inserts, deletes,
/// duplicates and truncates, `from` onwards mostly.
fn mutate(rng: &mut SmallRng, data: &mut Vec<u8>, fields: &[(usize, usize)], from: usize) -> String {
    let mut what = Vec::new();
    if !fields.is_empty() && rng.random_bool(0.6) {
        for _ in 0..rng.random_range(1..=3) {
            let (at, width) = fields[rng.random_range(0..fields.len())];
            let v = huge(rng, width);
            data[at..at + width].copy_from_slice(&v.to_be_bytes()[8 - width..]);
            what.push(format!("field@{at}={v:#x}"));
        }
    }
    let structural = if what.is_empty() { rng.random_range(1..=6) } else { rng.random_range(0..=2) };
    for _ in 0..structural {
        if data.is_empty() {
            break;
        }
        let lo = if rng.random_bool(0.9) { from.min(data.len() - 1) } else { 0 };
        let at = rng.random_range(lo..data.len());
        match rng.random_range(0..6) {
            0 => {
                data[at] ^= 1 << rng.random_range(0..8);
                what.push(format!("flip@{at}"));
            }
            1 => {
                data[at] = rng.random();
                what.push(format!("set@{at}"));
            }
            2 => {
                let n = rng.random_range(1..=16);
                let ins: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                data.splice(at..at, ins);
                what.push(format!("insert{n}@{at}"));
            }
            3 => {
                let end = (at + rng.random_range(1..=64)).min(data.len());
                data.drain(at..end);
                what.push(format!("delete@{at}..{end}"));
            }
            4 => {
                let end = (at + rng.random_range(1..=256)).min(data.len());
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy);
                what.push(format!("duplicate@{at}..{end}"));
            }
            _ => {
                data.truncate(at);
                what.push(format!("truncate@{at}"));
            }
        }
    }
    what.join(",")
}

fn chunking(rng: &mut SmallRng) -> usize {
    [0, 1, 7, 64, 4096][rng.random_range(0..5)]
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn random_bytes() {
    run_cases("random_bytes", 3000, |rng, i| {
        let prefix: &[u8] = match i % 4 {
            0 => b"",
            1 => b"RFB 003.008\n",
            2 => b"RFB 003.003\n",
            _ => b"RFB 003.008\n\x01\x01\0\0\0\0",
        };
        let mut data = prefix.to_vec();
        let n = rng.random_range(0..4096);
        data.extend((0..n).map(|_| rng.random::<u8>()));
        let credentials = rng.random_bool(0.5).then(|| Credentials { username: None, password: "pw".into() });
        Case {
            what: format!("random bytes after {prefix:?}"),
            config: Config { credentials, ..Config::default() },
            data,
            max_chunk: chunking(rng),
            valid_updates: None,
        }
    });
}

#[test]
fn random_messages_after_a_valid_handshake() {
    // Message types and rectangle headers are valid often enough to reach every decoder; what
    // follows them is random.
    run_cases("random_messages", 3000, |rng, _| {
        let (config, mut b) = synthetic(rng);
        b.out.truncate(b.init_end);
        for _ in 0..rng.random_range(1..=12) {
            match rng.random_range(0..12) {
                0 => b.u8(2),
                1 => b.u8(rng.random()),
                2 => {
                    b.bytes(&[3, 0, 0, 0]);
                    let v = huge(rng, 4);
                    b.u32(v as u32);
                }
                3 => {
                    b.bytes(&[1, 0]);
                    b.random(rng, 4);
                }
                _ => {
                    b.bytes(&[0, 0]);
                    b.u16(rng.random_range(0..4));
                    for _ in 0..rng.random_range(0..4) {
                        let all: Vec<Encoding> = Encoding::PIXEL.iter().chain(Encoding::PSEUDO).copied().collect();
                        let e = all[rng.random_range(0..all.len())];
                        let (x, y, w, h) = if rng.random_bool(0.8) {
                            some_rect(rng, b.w, b.h, 64)
                        } else {
                            (rng.random(), rng.random(), rng.random(), rng.random())
                        };
                        b.rect_header(x, y, w, h, e);
                        let n = rng.random_range(0..2048);
                        b.random(rng, n);
                    }
                }
            }
        }
        Case { what: "random messages".into(), config, data: b.out, max_chunk: chunking(rng), valid_updates: None }
    });
}

#[test]
fn valid_synthetic_sessions_decode() {
    // The baseline of the mutations below: unmutated, every session decodes, split any way.
    run_cases("valid_synthetic", 600, |rng, _| {
        let (config, b) = synthetic(rng);
        Case {
            what: format!("valid synthetic, {:?}", config.pixel_format),
            config,
            max_chunk: chunking(rng),
            valid_updates: Some(b.updates),
            data: b.out,
        }
    });
}

#[test]
fn mutated_synthetic_sessions() {
    run_cases("mutated_synthetic", 8000, |rng, _| {
        let (config, b) = synthetic(rng);
        let mut data = b.out;
        let what = mutate(rng, &mut data, &b.fields, 12);
        Case {
            what: format!("synthetic {:?}: {what}", config.pixel_format),
            config,
            data,
            max_chunk: chunking(rng),
            valid_updates: None,
        }
    });
}

/// The start of a recording's server stream.
struct Prefix {
    /// The configuration it was recorded with.
    config: Config,
    /// Cut after the last whole rectangle within the budget.
    data: Vec<u8>,
    /// (offset, width) of its rectangle header fields and ZRLE lengths.
    fields: Vec<(usize, usize)>,
    /// Where the messages after ServerInit start.
    from: usize,
}

fn recording_prefix(name: &str, budget: usize) -> Option<Prefix> {
    let dir = common::recordings_dir()?;
    let bytes = std::fs::read(dir.join(format!("{name}.rfbrec"))).expect("read recording");
    let records = rec::parse(&bytes).expect("valid recording");
    let session = rec::session(&records).expect("recording handshake");
    let framing = rec::rects(&records).expect("framing");
    let stream = rec::server_stream(&records);
    let end = framing.rects.iter().map(|r| r.offset + 12 + r.len).take_while(|&e| e <= budget).last()?;
    let mut fields = Vec::new();
    for r in framing.rects.iter().take_while(|r| r.offset + 12 + r.len <= end) {
        fields.extend((0..4).map(|i| (r.offset + 2 * i, 2)));
        if r.encoding == Encoding::Zrle.number() || r.encoding == Encoding::Zlib.number() {
            fields.push((r.offset + 12, 4));
        }
    }
    Some(Prefix { config: session.config(), data: stream[..end].to_vec(), fields, from: session.server_messages_at })
}

#[test]
fn mutated_recordings() {
    let mut sources = Vec::new();
    for name in ["zrle-text", "copyrect+zrle-mixed", "hextile-text", "raw-mixed", "tight-text", "tight-lossless-mixed"]
    {
        match recording_prefix(name, 192 << 10) {
            Some(s) => sources.push((name, s)),
            None => return,
        }
    }
    run_cases("mutated_recordings", 1000, move |rng, i| {
        let (name, p) = &sources[i % sources.len()];
        let mut config = p.config.clone();
        if rng.random_bool(0.5) {
            // Offer everything, so a mutated encoding number reaches another decoder.
            config.encodings = Encoding::PIXEL.iter().chain(Encoding::PSEUDO).copied().collect();
        }
        let mut data = p.data.clone();
        let what = if i < sources.len() { "unmutated".to_string() } else { mutate(rng, &mut data, &p.fields, p.from) };
        Case { what: format!("{name}: {what}"), config, data, max_chunk: chunking(rng), valid_updates: None }
    });
}
