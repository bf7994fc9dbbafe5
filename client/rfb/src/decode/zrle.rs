//! ZRLE (16): a u32 length and that many bytes of zlib data. All ZRLE rectangles of a connection
//! share one zlib stream (the server sync-flushes after each), so the inflater lives as long as
//! the decoder and is never reset. Once the whole block has arrived it is inflated into a buffer
//! the decoder keeps, whose size is capped by what the rectangle could legitimately need, and the
//! inflated data is read as 64x64 tiles, left to right, top to bottom. Each tile starts with a
//! subencoding byte:
//!
//! - 0 raw: width × height CPIXELs;
//! - 1 solid: one CPIXEL;
//! - 2..=16 packed palette: that many CPIXELs, then indices of 1 (2 colours), 2 (3–4) or 4 (5–16)
//!   bits, most significant first, each row padded to a whole byte;
//! - 128 plain RLE: runs of (CPIXEL, length) until the tile is full;
//! - 130..=255 palette RLE: (n − 128) CPIXELs, then runs of a u8 index: below 128 a single pixel,
//!   otherwise index − 128 followed by a length;
//! - 17..=127 and 129 are reserved (TRLE gives 127 and 129 a meaning: see [`super::trle`]).
//!
//! A run length is one plus the sum of its bytes, where every byte of 255 means another byte
//! follows. A CPIXEL is the pixel format's pixel, or its three significant bytes for 32-bpp
//! formats of depth ≤ 24 ([`PixelFormat::cpixel`](crate::pixel::PixelFormat::cpixel)).
//!
//! The tile code here is shared with TRLE, which sends the same tiles (16x16, unframed).

use super::zstream::{ZStream, max_compressed};
use super::{Decoder, Input, Progress, Target, be32};
use crate::error::Error;
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelTranslator;

const TILE: u16 = 64;

#[derive(Debug, Default)]
pub struct ZrleDecoder {
    rect: Rect,
    zlib: ZStream,
    /// Inflated data of the current rectangle; kept between rectangles to reuse the allocation.
    out: Vec<u8>,
}

/// The most inflated bytes a `rect` can need with `cp`-byte CPIXELs. Per tile of `a` pixels the
/// longest subencoding is plain RLE with every run one pixel long ((cp + 1) · a bytes) or palette
/// RLE with 127 colours and explicit runs (127 · cp + 2a); 1 + 127 · cp + (cp + 1) · a covers
/// every subencoding.
fn max_inflated(r: &Rect, cp: usize) -> usize {
    let tiles = (r.w as usize).div_ceil(TILE as usize) * (r.h as usize).div_ceil(TILE as usize);
    tiles * (1 + 127 * cp) + (cp + 1) * r.area()
}

impl Decoder for ZrleDecoder {
    fn start(&mut self, rect: Rect) {
        self.rect = rect;
    }

    fn decode(&mut self, input: &mut Input<'_>, t: &mut Target<'_>) -> Result<Progress, Error> {
        let r = self.rect;
        let b = input.remaining();
        if b.len() < 4 {
            return Ok(Progress::NeedMore);
        }
        let (cp, offset) = t.pixels.format().cpixel();
        let limit = max_inflated(&r, cp);
        let len = be32(b, 0) as usize;
        let max_len = max_compressed(limit);
        if len > max_len {
            return Err(Error::TooLong { what: "ZRLE rectangle", len: len as u64, limit: max_len as u64 });
        }
        let Some(data) = b.get(4..4 + len) else {
            return Ok(Progress::NeedMore);
        };
        input.advance(4 + len);
        let n = self.zlib.inflate(data, &mut self.out, limit, "decompressed ZRLE rectangle")?;
        let px = Pixels::new(t.pixels, cp, offset);
        let mut rd = Reader::new(&self.out[..n], "ZRLE");
        let mut pal = Palette::default();
        let mut result = Ok(());
        'tiles: for ty in (0..r.h).step_by(TILE as usize) {
            for tx in (0..r.w).step_by(TILE as usize) {
                let tile = Rect::new(r.x + tx, r.y + ty, (r.w - tx).min(TILE), (r.h - ty).min(TILE));
                result = draw_tile(&mut rd, tile, &px, t.fb, &mut pal, false);
                if result.is_err() {
                    break 'tiles;
                }
            }
        }
        // Whatever was drawn before an error is damaged too. Inflated bytes after the last tile
        // are ignored, as other clients do.
        t.fb.add_damage(r);
        result?;
        Ok(Progress::Done)
    }
}

/// Bounds-checked reads from tile data; running out is a typed error that also sets
/// [`Reader::short`], so an unframed decoder (TRLE) can wait for more bytes instead.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    pub pos: usize,
    /// The data ended before the tile did.
    pub short: bool,
    enc: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8], enc: &'static str) -> Reader<'a> {
        Reader { b, pos: 0, short: false, enc }
    }

    #[cold]
    fn truncated(&mut self) -> Error {
        self.short = true;
        Error::invalid(self.enc, "tile data ends before the rectangle does")
    }

    #[inline]
    fn u8(&mut self) -> Result<u8, Error> {
        let Some(&v) = self.b.get(self.pos) else {
            return Err(self.truncated());
        };
        self.pos += 1;
        Ok(v)
    }

    #[inline]
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let Some(s) = self.b.get(self.pos..self.pos + n) else {
            return Err(self.truncated());
        };
        self.pos += n;
        Ok(s)
    }

    /// A run length: 1 + the sum of bytes up to and including the first that is not 255. Fails
    /// as soon as it exceeds `left`, so a stream of 255s is refused without being read to its end.
    #[inline]
    fn run_length(&mut self, left: usize) -> Result<usize, Error> {
        let mut n = 1;
        loop {
            let b = self.u8()?;
            n += b as usize;
            if n > left {
                return Err(Error::invalid(self.enc, format!("run of {n}+ pixels past the end of the tile")));
            }
            if b != 255 {
                return Ok(n);
            }
        }
    }
}

/// CPIXEL to RGBA, with a fast path for the client's usual RGBX32 format.
pub(crate) struct Pixels<'a> {
    t: &'a PixelTranslator,
    cp: usize,
    offset: usize,
    /// CPIXELs are R, G, B bytes.
    rgb3: bool,
}

impl<'a> Pixels<'a> {
    pub fn new(t: &'a PixelTranslator, cp: usize, offset: usize) -> Pixels<'a> {
        // Both RGBX32 byte orders put R, G, B in the three bytes a CPIXEL keeps.
        Pixels { t, cp, offset, rgb3: t.format().is_rgbx32() && cp == 3 && offset == 0 }
    }

    #[inline]
    fn rgba(&self, b: &[u8]) -> [u8; 4] {
        if self.rgb3 { [b[0], b[1], b[2], 255] } else { self.t.rgba_cpixel(b, self.cp, self.offset) }
    }

    /// Converts a row of CPIXELs into RGBA.
    #[inline]
    fn row(&self, src: &[u8], dst: &mut [u8]) {
        if self.rgb3 {
            rgb_row(src, dst);
        } else if self.cp == self.t.bpp() {
            self.t.convert_row(src, dst);
        } else {
            for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(self.cp)) {
                d.copy_from_slice(&self.rgba(s));
            }
        }
    }

    /// Reads a palette of `n` CPIXELs into `pal`.
    fn palette(&self, rd: &mut Reader<'_>, n: usize, pal: &mut Palette) -> Result<(), Error> {
        let b = rd.bytes(n * self.cp)?;
        for (p, s) in pal.colours.iter_mut().zip(b.chunks_exact(self.cp)) {
            *p = self.rgba(s);
        }
        pal.n = n;
        Ok(())
    }
}

/// Converts R, G, B bytes into RGBA with opaque alpha (`dst.len() / 4` pixels). With wasm SIMD
/// (the browser build) sixteen pixels a turn; public, hidden, only so that the client's
/// in-browser tests can check that path where it is compiled.
#[doc(hidden)]
#[inline]
pub fn rgb_row(src: &[u8], dst: &mut [u8]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let (src, dst) = {
        let mut d16 = dst.chunks_exact_mut(64);
        let mut s16 = src.chunks_exact(48);
        for (d, s) in (&mut d16).zip(&mut s16) {
            rgb16(s.try_into().expect("48 bytes"), d.try_into().expect("64 bytes"));
        }
        (s16.remainder(), d16.into_remainder())
    };
    // Four pixels at a time (12 bytes in, 16 out) so the compiler can shuffle them as one.
    let mut d4 = dst.chunks_exact_mut(16);
    let mut s4 = src.chunks_exact(12);
    for (d, s) in (&mut d4).zip(&mut s4) {
        let s: &[u8; 12] = s.try_into().expect("12-byte chunk");
        d.copy_from_slice(&[
            s[0], s[1], s[2], 255, s[3], s[4], s[5], 255, s[6], s[7], s[8], 255, s[9], s[10], s[11], 255,
        ]);
    }
    for (d, s) in d4.into_remainder().chunks_exact_mut(4).zip(s4.remainder().chunks_exact(3)) {
        d.copy_from_slice(&[s[0], s[1], s[2], 255]);
    }
}

/// Sixteen packed RGB pixels to RGBA with wasm SIMD: three loads, a byte shuffle per four pixels
/// (taking bytes from two neighbouring loads where a pixel straddles them), alpha set with an OR.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn rgb16(s: &[u8; 48], d: &mut [u8; 64]) {
    use core::arch::wasm32::*;
    // SAFETY: three 16-byte loads inside `s` (48 bytes); v128_load needs no alignment.
    let (a, b, c) = unsafe {
        let p = s.as_ptr().cast::<v128>();
        (v128_load(p), v128_load(p.add(1)), v128_load(p.add(2)))
    };
    let alpha = u32x4_splat(0xff00_0000);
    let out = [
        u8x16_shuffle::<0, 1, 2, 0, 3, 4, 5, 0, 6, 7, 8, 0, 9, 10, 11, 0>(a, a),
        u8x16_shuffle::<12, 13, 14, 0, 15, 16, 17, 0, 18, 19, 20, 0, 21, 22, 23, 0>(a, b),
        u8x16_shuffle::<8, 9, 10, 0, 11, 12, 13, 0, 14, 15, 16, 0, 17, 18, 19, 0>(b, c),
        u8x16_shuffle::<4, 5, 6, 0, 7, 8, 9, 0, 10, 11, 12, 0, 13, 14, 15, 0>(c, c),
    ];
    let p = d.as_mut_ptr().cast::<v128>();
    for (i, v) in out.into_iter().enumerate() {
        // SAFETY: four 16-byte stores inside `d` (64 bytes); no alignment needed.
        unsafe { v128_store(p.add(i), v128_or(v, alpha)) };
    }
}

#[inline]
pub(crate) fn fill_px(dst: &mut [u8], rgba: [u8; 4]) {
    for d in dst.chunks_exact_mut(4) {
        d.copy_from_slice(&rgba);
    }
}

/// The palette of the last palette tile (TRLE may reuse it in the next tile).
#[derive(Debug, Clone)]
pub(crate) struct Palette {
    colours: [[u8; 4]; 128],
    /// Colours in use; 0 when no palette tile has been seen.
    n: usize,
}

impl Default for Palette {
    fn default() -> Palette {
        Palette { colours: [[0, 0, 0, 255]; 128], n: 0 }
    }
}

/// Writes runs of one colour into a tile in scan order, a row segment at a time.
struct Runs {
    x0: u16,
    y: u16,
    w: usize,
    col: usize,
    left: usize,
}

impl Runs {
    fn new(tile: &Rect) -> Runs {
        Runs { x0: tile.x, y: tile.y, w: tile.w as usize, col: 0, left: tile.area() }
    }

    #[inline]
    fn put(&mut self, fb: &mut Framebuffer, rgba: [u8; 4], n: usize) {
        debug_assert!(n <= self.left);
        self.left -= n;
        let mut n = n;
        while n > 0 {
            let seg = n.min(self.w - self.col);
            fill_px(fb.row_mut(self.x0 + self.col as u16, self.y, seg as u16), rgba);
            self.col += seg;
            n -= seg;
            if self.col == self.w {
                self.col = 0;
                self.y += 1;
            }
        }
    }
}

/// One row of packed palette indices (`BITS` each, most significant first, `8 / BITS` pixels a
/// byte) into RGBA; an index past the palette is returned as the error.
#[inline]
fn packed_row<const BITS: usize>(src: &[u8], dst: &mut [u8], pal: &Palette) -> Result<(), usize> {
    let per_byte = 8 / BITS;
    let mask = (1u8 << BITS) - 1;
    for (chunk, &byte) in dst.chunks_mut(4 * per_byte).zip(src) {
        for (i, d) in chunk.chunks_exact_mut(4).enumerate() {
            let idx = ((byte >> (8 - BITS * (i + 1))) & mask) as usize;
            if idx >= pal.n {
                return Err(idx);
            }
            d.copy_from_slice(&pal.colours[idx]);
        }
    }
    Ok(())
}

#[cold]
fn bad_index(enc: &'static str, idx: usize, n: usize) -> Error {
    Error::invalid(enc, format!("palette index {idx} in a {n}-colour tile"))
}

/// Decodes one tile from `rd` into `tile` of the framebuffer. With `trle`, subencodings 127
/// (packed palette) and 129 (palette RLE) reuse the palette of the previous palette tile, which
/// `pal` carries; ZRLE reserves them.
pub(crate) fn draw_tile(
    rd: &mut Reader<'_>,
    tile: Rect,
    px: &Pixels<'_>,
    fb: &mut Framebuffer,
    pal: &mut Palette,
    trle: bool,
) -> Result<(), Error> {
    let cp = px.cp;
    let enc = rd.enc;
    let (tw, th) = (tile.w, tile.h);
    let sub = rd.u8()?;
    match sub {
        0 => {
            for y in 0..th {
                let src = rd.bytes(tw as usize * cp)?;
                px.row(src, fb.row_mut(tile.x, tile.y + y, tw));
            }
        }
        1 => {
            let c = px.rgba(rd.bytes(cp)?);
            fb.fill(&tile, c);
        }
        2..=16 | 127 => {
            if sub == 127 {
                if !trle || !(2..=16).contains(&pal.n) {
                    return Err(reserved_or_no_palette(enc, sub, trle));
                }
            } else {
                px.palette(rd, sub as usize, pal)?;
            }
            let n = pal.n;
            let bits = match n {
                2 => 1,
                3 | 4 => 2,
                _ => 4,
            };
            let row_bytes = (tw as usize * bits).div_ceil(8);
            for y in 0..th {
                let src = rd.bytes(row_bytes)?;
                let dst = fb.row_mut(tile.x, tile.y + y, tw);
                let drawn = match bits {
                    1 => packed_row::<1>(src, dst, pal),
                    2 => packed_row::<2>(src, dst, pal),
                    _ => packed_row::<4>(src, dst, pal),
                };
                if let Err(idx) = drawn {
                    return Err(bad_index(enc, idx, n));
                }
            }
        }
        128 => {
            let mut runs = Runs::new(&tile);
            while runs.left > 0 {
                let c = px.rgba(rd.bytes(cp)?);
                let len = rd.run_length(runs.left)?;
                runs.put(fb, c, len);
            }
        }
        129..=255 => {
            if sub == 129 {
                if !trle || pal.n == 0 {
                    return Err(reserved_or_no_palette(enc, sub, trle));
                }
            } else {
                px.palette(rd, sub as usize - 128, pal)?;
            }
            let n = pal.n;
            let mut runs = Runs::new(&tile);
            while runs.left > 0 {
                let i = rd.u8()?;
                let idx = (i & 127) as usize;
                if idx >= n {
                    return Err(bad_index(enc, idx, n));
                }
                let len = if i & 128 != 0 { rd.run_length(runs.left)? } else { 1 };
                runs.put(fb, pal.colours[idx], len);
            }
        }
        _ => return Err(Error::invalid(enc, format!("reserved subencoding {sub}"))),
    }
    Ok(())
}

#[cold]
fn reserved_or_no_palette(enc: &'static str, sub: u8, trle: bool) -> Error {
    if trle {
        Error::invalid(enc, format!("subencoding {sub} reuses a palette, but no suitable palette came before"))
    } else {
        Error::invalid(enc, format!("reserved subencoding {sub}"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decode::testing::*;
    use crate::decode::zstream::testing::{compress, new_stream};
    use crate::pixel::PixelFormat;
    use flate2::FlushCompress;
    use rand::{Rng, SeedableRng};

    pub type Rgb = [u8; 3];

    pub const C1: Rgb = [10, 200, 30];
    pub const C2: Rgb = [255, 0, 0];
    pub const C3: Rgb = [0, 0, 255];
    pub const C4: Rgb = [255, 255, 0];
    pub const C1_RGBA: [u8; 4] = [10, 200, 30, 255];

    /// The CPIXEL of a colour: the wire pixel, cut to the bytes `cpixel` names.
    pub fn cpix(pf: &PixelFormat, c: Rgb) -> Vec<u8> {
        let w = wire(pf, c);
        let (n, off) = pf.cpixel();
        w[off..off + n].to_vec()
    }

    /// How the test encoder writes one tile.
    pub enum Sub {
        Raw,
        Solid,
        Packed(Vec<Rgb>),
        Rle,
        /// Palette RLE; `true` writes single pixels in run form too (index | 128, length byte 0).
        PaletteRle(Vec<Rgb>, bool),
        /// TRLE only: packed palette (127) or palette RLE (129) reusing the previous palette, which
        /// must be this one.
        ReusePacked(Vec<Rgb>),
        ReusePaletteRle(Vec<Rgb>),
    }

    pub fn put_run_length(out: &mut Vec<u8>, n: usize) {
        let mut r = n - 1;
        while r >= 255 {
            out.push(255);
            r -= 255;
        }
        out.push(r as u8);
    }

    /// Maximal runs of equal colours, in scan order.
    pub fn runs(tile: &[Rgb]) -> Vec<(Rgb, usize)> {
        let mut v: Vec<(Rgb, usize)> = Vec::new();
        for c in tile {
            match v.last_mut() {
                Some((l, n)) if l == c => *n += 1,
                _ => v.push((*c, 1)),
            }
        }
        v
    }

    /// Encodes `img` (`w`x`h` colours, row-major) as uncompressed ZRLE tile data, each tile with
    /// the subencoding `choose(tile column, tile row)` picks.
    pub fn encode(pf: &PixelFormat, w: u16, h: u16, img: &[Rgb], choose: impl Fn(usize, usize) -> Sub) -> Vec<u8> {
        encode_tiles(pf, 64, w, h, img, choose)
    }

    /// [`encode`] with `size`x`size` tiles (TRLE's are 16x16).
    pub fn encode_tiles(
        pf: &PixelFormat,
        size: u16,
        w: u16,
        h: u16,
        img: &[Rgb],
        choose: impl Fn(usize, usize) -> Sub,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let index = |pal: &[Rgb], c: &Rgb| pal.iter().position(|p| p == c).expect("colour in palette");
        for (j, ty) in (0..h).step_by(size as usize).enumerate() {
            for (i, tx) in (0..w).step_by(size as usize).enumerate() {
                let (tw, th) = ((w - tx).min(size) as usize, (h - ty).min(size) as usize);
                let tile: Vec<Rgb> = (0..th)
                    .flat_map(|y| (0..tw).map(move |x| (y, x)))
                    .map(|(y, x)| img[(ty as usize + y) * w as usize + tx as usize + x])
                    .collect();
                match choose(i, j) {
                    Sub::Raw => {
                        out.push(0);
                        tile.iter().for_each(|c| out.extend(cpix(pf, *c)));
                    }
                    Sub::Solid => {
                        assert!(tile.iter().all(|c| *c == tile[0]));
                        out.push(1);
                        out.extend(cpix(pf, tile[0]));
                    }
                    Sub::Packed(pal) | Sub::ReusePacked(pal) => {
                        if matches!(choose(i, j), Sub::ReusePacked(_)) {
                            out.push(127);
                        } else {
                            out.push(pal.len() as u8);
                            pal.iter().for_each(|c| out.extend(cpix(pf, *c)));
                        }
                        let bits = match pal.len() {
                            2 => 1,
                            3 | 4 => 2,
                            _ => 4,
                        };
                        for row in tile.chunks(tw) {
                            let (mut acc, mut nbits) = (0u32, 0);
                            for c in row {
                                acc = acc << bits | index(&pal, c) as u32;
                                nbits += bits;
                                if nbits == 8 {
                                    out.push(acc as u8);
                                    (acc, nbits) = (0, 0);
                                }
                            }
                            if nbits > 0 {
                                out.push((acc << (8 - nbits)) as u8);
                            }
                        }
                    }
                    Sub::Rle => {
                        out.push(128);
                        for (c, n) in runs(&tile) {
                            out.extend(cpix(pf, c));
                            put_run_length(&mut out, n);
                        }
                    }
                    Sub::PaletteRle(pal, _) | Sub::ReusePaletteRle(pal) => {
                        let force_runs = matches!(choose(i, j), Sub::PaletteRle(_, true));
                        if matches!(choose(i, j), Sub::ReusePaletteRle(_)) {
                            out.push(129);
                        } else {
                            out.push(128 + pal.len() as u8);
                            pal.iter().for_each(|c| out.extend(cpix(pf, *c)));
                        }
                        for (c, n) in runs(&tile) {
                            let idx = index(&pal, &c) as u8;
                            if n == 1 && !force_runs {
                                out.push(idx);
                            } else {
                                out.push(idx | 128);
                                put_run_length(&mut out, n);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    pub fn check(fb: &Framebuffer, pf: &PixelFormat, rect: Rect, img: &[Rgb]) {
        let t = PixelTranslator::new(*pf);
        for y in 0..rect.h {
            for x in 0..rect.w {
                let want = t.rgba(&wire(pf, img[y as usize * rect.w as usize + x as usize]));
                assert_eq!(fb.pixel(rect.x + x, rect.y + y), want, "{pf:?} at {x},{y} of the rectangle");
            }
        }
        assert_eq!(fb.pixel(rect.x - 1, rect.y - 1), [0, 0, 0, 255], "outside the rectangle");
    }

    /// 70x66: a plain-RLE 64x64 tile (runs across rows, lengths 1, 255+ and 3439), a raw 6x64
    /// tile, a solid 64x2 tile and a palette-RLE 6x2 tile.
    pub fn image_a() -> (u16, u16, Vec<Rgb>) {
        let mut img = Vec::new();
        for y in 0..66usize {
            for x in 0..70usize {
                img.push(match (x, y) {
                    (0..64, 0..64) => match y * 64 + x {
                        0..100 => C1,
                        100..400 => C2,
                        400 => C4,
                        401..657 => C1,
                        _ => C3,
                    },
                    (64.., 0..64) => [(x as u8 - 64) * 40, y as u8 * 4, 7],
                    (0..64, _) => C4,
                    (64, 64) => C1,
                    (_, 64) => C2,
                    (64, _) => C3,
                    _ => C1,
                });
            }
        }
        (70, 66, img)
    }

    pub fn choose_a(i: usize, j: usize) -> Sub {
        match (i, j) {
            (0, 0) => Sub::Rle,
            (1, 0) => Sub::Raw,
            (0, 1) => Sub::Solid,
            _ => Sub::PaletteRle(vec![C1, C2, C3], false),
        }
    }

    #[test]
    fn raw_solid_rle_tiles_every_format_every_split() {
        for pf in formats() {
            let (w, h, img) = image_a();
            let msg = compress(&mut new_stream(), &encode(&pf, w, h, &img, choose_a));
            let rect = Rect::new(1, 1, w, h);
            let fb = decode_all_ways(ZrleDecoder::default, pf, (72, 68), rect, &msg);
            check(&fb, &pf, rect, &img);
            if pf == PixelFormat::RGBX32 {
                // (rectangle-relative + 1)
                assert_eq!(fb.pixel(1 + 35, 1 + 1), C1_RGBA); // pixel 99 of the RLE tile
                assert_eq!(fb.pixel(1 + 36, 1 + 1), [255, 0, 0, 255]); // pixel 100
                assert_eq!(fb.pixel(1 + 16, 1 + 6), [255, 255, 0, 255]); // pixel 400, a run of 1
                assert_eq!(fb.pixel(1 + 16, 1 + 10), C1_RGBA); // pixel 656
                assert_eq!(fb.pixel(1 + 17, 1 + 10), [0, 0, 255, 255]); // pixel 657
                assert_eq!(fb.pixel(1 + 66, 1 + 5), [80, 20, 7, 255]); // raw
                assert_eq!(fb.pixel(1 + 10, 1 + 65), [255, 255, 0, 255]); // solid
                assert_eq!(fb.pixel(1 + 64, 1 + 65), [0, 0, 255, 255]); // palette RLE
                assert_eq!(fb.pixel(1 + 69, 1 + 64), [255, 0, 0, 255]);
            }
        }
    }

    /// Palette `k` of `n` colours, distinct within the palette.
    pub fn palette(k: usize, n: usize) -> Vec<Rgb> {
        (0..n).map(|i| [(k * 50 + i * 3) as u8, 255 - i as u8 * 15, (i * 37) as u8]).collect()
    }

    #[test]
    fn packed_palettes_every_width_every_format_every_split() {
        // 269x3: four 64x3 tiles with 2 (1 bit), 3 and 4 (2 bits), 16 (4 bits) colours, then a
        // 13x3 tile with 5 colours (4 bits, odd width: rows padded to a byte).
        let sizes = [2, 3, 4, 16, 5];
        let (w, h) = (269u16, 3u16);
        let img: Vec<Rgb> = (0..h as usize)
            .flat_map(|y| (0..w as usize).map(move |x| (x, y)))
            .map(|(x, y)| {
                let k = x / 64;
                palette(k, sizes[k])[((x % 64) * 7 + y * 3) % sizes[k]]
            })
            .collect();
        for pf in formats() {
            let msg = compress(&mut new_stream(), &encode(&pf, w, h, &img, |i, _| Sub::Packed(palette(i, sizes[i]))));
            let rect = Rect::new(1, 1, w, h);
            let fb = decode_all_ways(ZrleDecoder::default, pf, (272, 5), rect, &msg);
            check(&fb, &pf, rect, &img);
            if pf == PixelFormat::RGBX32 {
                // tile 3, x 1, y 0: index 7 of palette 3
                assert_eq!(fb.pixel(1 + 64 * 3 + 1, 1), [171, 150, 3, 255]);
                // tile 4, x 12, y 2: index (84 + 6) % 5 = 0
                assert_eq!(fb.pixel(1 + 268, 3), [200, 255, 0, 255]);
            }
        }
    }

    #[test]
    fn palette_rle_127_colours_and_explicit_single_runs() {
        // 80x8: a 64x8 tile of 127 colours in runs of 3 that wrap rows, every run (and a run of
        // one) in run form; a 16x8 tile of two colours mixing single pixels and runs.
        let q: Vec<Rgb> = (0..127u8).map(|i| [i * 2, 255 - i * 2, i]).collect();
        let (w, h) = (80u16, 8u16);
        let img: Vec<Rgb> = (0..h as usize)
            .flat_map(|y| (0..w as usize).map(move |x| (x, y)))
            .map(|(x, y)| {
                if x < 64 {
                    q[(y * 64 + x) / 3 % 127]
                } else if x - 64 < y {
                    C1
                } else {
                    C2
                }
            })
            .collect();
        for pf in formats() {
            let choose = |i, _| {
                if i == 0 { Sub::PaletteRle(q.clone(), true) } else { Sub::PaletteRle(vec![C2, C1], false) }
            };
            let msg = compress(&mut new_stream(), &encode(&pf, w, h, &img, choose));
            let rect = Rect::new(1, 1, w, h);
            let fb = decode_all_ways(ZrleDecoder::default, pf, (82, 10), rect, &msg);
            check(&fb, &pf, rect, &img);
            if pf == PixelFormat::RGBX32 {
                // pixel 7*64+63 = 511 of tile 0: run 170 -> colour 43; the last pixel (512 % 3 = 2)
                assert_eq!(fb.pixel(1 + 63, 1 + 7), [86, 169, 43, 255]);
                assert_eq!(fb.pixel(1 + 64, 1), [255, 0, 0, 255]);
                assert_eq!(fb.pixel(1 + 64, 1 + 1), C1_RGBA);
            }
        }
    }

    #[test]
    fn rectangles_share_one_zlib_stream() {
        let (w, h, img) = image_a();
        let (w2, h2) = (20u16, 10u16);
        let img2: Vec<Rgb> = (0..200).map(|i| if i % 7 == 0 { C3 } else { C4 }).collect();
        for pf in [PixelFormat::RGBX32, PixelFormat::RGB565] {
            let mut z = new_stream();
            let msg1 = compress(&mut z, &encode(&pf, w, h, &img, choose_a));
            // the same tiles again: the compressor refers back into the first rectangle's data
            let msg2 = compress(&mut z, &encode(&pf, w, h, &img, choose_a));
            let msg3 = compress(&mut z, &encode(&pf, w2, h2, &img2, |_, _| Sub::Raw));
            assert!(msg2.len() < msg1.len() / 2, "second rectangle should reuse the window");
            let rect = Rect::new(1, 1, w, h);
            let rect3 = Rect::new(5, 7, w2, h2);
            let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
            for way in 0..6 {
                let mut dec = ZrleDecoder::default();
                let mut chunk = || match way {
                    0 => usize::MAX,
                    1 => 1,
                    _ => rng.random_range(1..40),
                };
                let fb1 = decode_chunked(&mut dec, pf, (72, 68), rect, &msg1, &mut chunk).unwrap();
                let fb2 = decode_chunked(&mut dec, pf, (72, 68), rect, &msg2, &mut chunk).unwrap();
                let fb3 = decode_chunked(&mut dec, pf, (72, 68), rect3, &msg3, &mut chunk).unwrap();
                check(&fb1, &pf, rect, &img);
                check(&fb2, &pf, rect, &img);
                check(&fb3, &pf, rect3, &img2);
            }
            // a fresh stream cannot decode the second rectangle: it depends on the first
            let mut fresh = ZrleDecoder::default();
            assert!(decode_chunked(&mut fresh, pf, (72, 68), rect, &msg2, || usize::MAX).is_err());
        }
    }

    #[test]
    fn zlib_header_may_be_split_across_rectangles() {
        let (w, h, img) = image_a();
        let msg = compress(&mut new_stream(), &encode(&PixelFormat::RGBX32, w, h, &img, choose_a));
        let mut first = 1u32.to_be_bytes().to_vec();
        first.push(msg[4]);
        let mut rest = ((msg.len() - 5) as u32).to_be_bytes().to_vec();
        rest.extend(&msg[5..]);
        let mut dec = ZrleDecoder::default();
        let pf = PixelFormat::RGBX32;
        decode_chunked(&mut dec, pf, (72, 68), Rect::new(0, 0, 0, 0), &first, || usize::MAX).unwrap();
        let fb = decode_chunked(&mut dec, pf, (72, 68), Rect::new(1, 1, w, h), &rest, || 3).unwrap();
        check(&fb, &pf, Rect::new(1, 1, w, h), &img);
    }

    #[test]
    fn worst_case_legitimate_sizes_fit_the_limits() {
        // every pixel its own plain-RLE run, and 127-colour palettes on tiny tiles
        for pf in [PixelFormat { depth: 32, ..PixelFormat::RGBX32 }, PixelFormat::RGBX32, PixelFormat::BGR233] {
            let (w, h) = (65u16, 65u16);
            // alternate in each tile's scan order: by column in the 64-wide tiles, by row in the 1-wide
            let img: Vec<Rgb> = (0..65 * 65)
                .map(|i| if (if i % 65 < 64 { i % 65 } else { i / 65 }) % 2 == 0 { C1 } else { C2 })
                .collect();
            let payload = encode(&pf, w, h, &img, |_, _| Sub::Rle);
            assert_eq!(payload.len(), 4 + (pf.cpixel().0 + 1) * 65 * 65);
            let rect = Rect::new(0, 0, w, h);
            let fb = decode_all_ways(ZrleDecoder::default, pf, (65, 65), rect, &compress(&mut new_stream(), &payload));
            assert_eq!(fb.pixel(64, 64), PixelTranslator::new(pf).rgba(&wire(&pf, C1)));
            let q: Vec<Rgb> = (0..127u8).map(|i| [i, i, 255 - i]).collect();
            let tiny: Vec<Rgb> = vec![q[126]; 2];
            let payload = encode(&pf, 1, 2, &tiny, |_, _| Sub::PaletteRle(q.clone(), true));
            assert_eq!(payload.len(), 1 + 127 * pf.cpixel().0 + 2);
            let fb = decode_all_ways(
                ZrleDecoder::default,
                pf,
                (2, 2),
                Rect::new(1, 0, 1, 2),
                &compress(&mut new_stream(), &payload),
            );
            assert_eq!(fb.pixel(1, 1), PixelTranslator::new(pf).rgba(&wire(&pf, q[126])));
        }
    }

    /// Decodes one message whole into a 128x128 RGBX32 framebuffer with decoder `dec`.
    fn decode_with(dec: &mut ZrleDecoder, rect: Rect, msg: &[u8]) -> Result<Progress, Error> {
        let px = PixelTranslator::new(PixelFormat::RGBX32);
        let mut fb = Framebuffer::new(128, 128).unwrap();
        dec.start(rect);
        let mut input = Input::new(msg);
        dec.decode(&mut input, &mut Target { fb: &mut fb, pixels: &px })
    }

    fn decode_payload(rect: Rect, payload: &[u8]) -> Result<Progress, Error> {
        decode_with(&mut ZrleDecoder::default(), rect, &compress(&mut new_stream(), payload))
    }

    fn is_invalid(r: Result<Progress, Error>) -> bool {
        matches!(r, Err(Error::InvalidData { encoding: "ZRLE", .. }))
    }

    #[test]
    fn rejects_bad_tiles() {
        let r = Rect::new(0, 0, 4, 2);
        let px = [1u8, 2, 3];
        // reserved subencodings
        for sub in [17u8, 64, 127, 129] {
            let mut p = vec![sub];
            p.extend([0u8; 64]);
            assert!(is_invalid(decode_payload(r, &p)), "subencoding {sub}");
        }
        // packed palette with 3 colours uses 2 bits: index 3 is out of range
        let mut p = vec![3];
        (0..3).for_each(|_| p.extend(px));
        p.extend([0b0001_1100, 0]); // indices 0, 1, 3, 0
        assert!(is_invalid(decode_payload(r, &p)));
        // ... but all in range decodes
        let mut ok = p.clone();
        ok[10] = 0b0001_1000; // 0, 1, 2, 0
        assert_eq!(decode_payload(r, &ok), Ok(Progress::Done));
        // palette RLE index out of range, single and in run form
        for idx in [2u8, 2 | 128, 127, 255] {
            let mut p = vec![130];
            (0..2).for_each(|_| p.extend(px));
            p.extend([idx, 6]);
            assert!(is_invalid(decode_payload(r, &p)), "index {idx}");
        }
        // plain RLE run past the end of the tile (9 pixels in an 8-pixel tile)
        let mut p = vec![128];
        p.extend(px);
        p.push(8);
        assert!(is_invalid(decode_payload(r, &p)));
        let mut p = vec![128];
        p.extend(px);
        p.extend([255, 255, 255, 0]);
        assert!(is_invalid(decode_payload(r, &p)));
        // exactly 8 is fine
        let mut p = vec![128];
        p.extend(px);
        p.push(7);
        assert_eq!(decode_payload(r, &p), Ok(Progress::Done));
        // truncated tiles of every kind
        for p in [
            vec![],
            vec![0, 1, 2, 3],
            vec![1, 1, 2],
            vec![2, 1, 2, 3, 4, 5, 6, 0],
            vec![128, 1, 2, 3],
            vec![128, 1, 2, 3, 255],
            vec![130, 1, 2, 3, 4, 5, 6, 0x81],
        ] {
            assert!(is_invalid(decode_payload(r, &p)), "{p:?}");
        }
    }

    #[test]
    fn rejects_bad_zlib_and_oversized_data() {
        let r = Rect::new(0, 0, 16, 16);
        // not zlib at all
        let mut msg = 20u32.to_be_bytes().to_vec();
        msg.extend([0xff; 20]);
        assert!(matches!(decode_with(&mut ZrleDecoder::default(), r, &msg), Err(Error::Zlib(_))));
        // bad zlib headers: wrong check value, not deflate, preset dictionary
        for header in [[0x78, 0x9d], [0x79, 0x9c], [0x78, 0xbb]] {
            let mut msg = 6u32.to_be_bytes().to_vec();
            msg.extend(header);
            msg.extend([3, 0, 0, 0]);
            assert!(matches!(decode_with(&mut ZrleDecoder::default(), r, &msg), Err(Error::Zlib(_))), "{header:?}");
        }
        // a length no 16x16 rectangle could need is refused before its bytes arrive
        for len in [u32::MAX, 1 << 20] {
            let res = decode_with(&mut ZrleDecoder::default(), r, &len.to_be_bytes());
            assert!(matches!(res, Err(Error::TooLong { .. })), "{len}");
        }
        // but a plausible one just waits
        let res = decode_with(&mut ZrleDecoder::default(), r, &5000u32.to_be_bytes());
        assert_eq!(res, Ok(Progress::NeedMore));
        // the compressed block cut short (length fixed up): the tiles end early
        let (w, h, img) = image_a();
        let full = compress(&mut new_stream(), &encode(&PixelFormat::RGBX32, w, h, &img, choose_a));
        for cut in [6, 20, (full.len() - 4) / 2, full.len() - 10] {
            let mut msg = ((cut - 4) as u32).to_be_bytes().to_vec();
            msg.extend(&full[4..cut]);
            let res = decode_with(&mut ZrleDecoder::default(), Rect::new(1, 1, w, h), &msg);
            assert!(matches!(res, Err(Error::InvalidData { .. } | Error::Zlib(_))), "cut {cut}: {res:?}");
        }
        // corrupt bytes inside the deflate data
        let mut msg = full.clone();
        for b in &mut msg[20..60] {
            *b ^= 0x5a;
        }
        assert!(decode_with(&mut ZrleDecoder::default(), Rect::new(1, 1, w, h), &msg).is_err());
    }

    #[test]
    fn zip_bombs_are_refused_without_allocating_them() {
        for (rect, size) in [(Rect::new(0, 0, 16, 16), 20 << 20), (Rect::new(0, 0, 128, 128), 20 << 20)] {
            let mut payload = vec![0u8; size];
            payload[0] = 1; // a solid tile, then megabytes of junk
            let msg = compress(&mut new_stream(), &payload);
            assert!(msg.len() < 64 * 1024);
            let mut dec = ZrleDecoder::default();
            let res = decode_with(&mut dec, rect, &msg);
            assert!(matches!(res, Err(Error::TooLong { .. })), "{res:?}");
            let limit = max_inflated(&rect, 3);
            assert!(dec.out.len() <= limit + 1, "buffer {} for a limit of {limit}", dec.out.len());
        }
    }

    #[test]
    fn finished_stream_rejects_later_rectangles() {
        let r = Rect::new(0, 0, 2, 2);
        let mut z = new_stream();
        let mut out = Vec::with_capacity(256);
        z.compress_vec(&[1, 9, 8, 7], &mut out, FlushCompress::Finish).unwrap();
        let mut msg = (out.len() as u32).to_be_bytes().to_vec();
        msg.extend(&out);
        let mut dec = ZrleDecoder::default();
        assert_eq!(decode_with(&mut dec, r, &msg), Ok(Progress::Done));
        // bytes after the end of the stream inside one block
        assert!(
            decode_with(&mut ZrleDecoder::default(), r, &{
                let mut m = ((out.len() + 2) as u32).to_be_bytes().to_vec();
                m.extend(&out);
                m.extend([1, 2]);
                m
            })
            .is_err()
        );
        let again = compress(&mut new_stream(), &[1, 9, 8, 7]);
        assert!(decode_with(&mut dec, r, &again).is_err());
    }

    #[test]
    fn random_and_mutated_data_never_panics() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0x2e1e);
        let (w, h, img) = image_a();
        let valid = encode(&PixelFormat::RGBX32, w, h, &img, choose_a);
        let subs = [0u8, 1, 2, 3, 5, 16, 17, 128, 129, 130, 200, 255];
        let mut outcomes = [0usize; 2];
        for i in 0..3000 {
            let rect = Rect::new(
                rng.random_range(0..20),
                rng.random_range(0..20),
                rng.random_range(0..100),
                rng.random_range(0..90),
            );
            let payload: Vec<u8> = if i % 2 == 0 {
                let mut p = valid.clone();
                for _ in 0..rng.random_range(1..6) {
                    let at = rng.random_range(0..p.len());
                    p[at] = rng.random();
                }
                p
            } else {
                let mut p = vec![subs[rng.random_range(0..subs.len())]];
                let n = rng.random_range(0..300);
                p.extend((0..n).map(|_| {
                    if rng.random_bool(0.5) { rng.random::<u8>() } else { subs[rng.random_range(0..subs.len())] }
                }));
                p
            };
            let rect = if i % 2 == 0 { Rect::new(1, 1, w, h) } else { rect };
            let res = decode_payload(rect, &payload);
            outcomes[res.is_ok() as usize] += 1;
        }
        assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
    }
}
