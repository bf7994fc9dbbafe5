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
//! - 17..=127 and 129 are reserved.
//!
//! A run length is one plus the sum of its bytes, where every byte of 255 means another byte
//! follows.
//!
//! The stream is inflated as raw deflate after checking the 2-byte zlib header here: the zlib
//! trailer's Adler-32 is only checked when a stream ends, which an RFB server's never does, and
//! computing it anyway costs a fifth of the decode time. A CPIXEL is the pixel format's pixel, or its three significant bytes for 32-bpp formats
//! of depth ≤ 24 ([`PixelFormat::cpixel`](crate::pixel::PixelFormat::cpixel)).

use flate2::{Decompress, FlushDecompress, Status};

use super::{Decoder, Input, Progress, Target, be32};
use crate::error::Error;
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelTranslator;

const TILE: u16 = 64;

pub struct ZrleDecoder {
    rect: Rect,
    zlib: Decompress,
    /// The zlib header, as far as it has arrived (it precedes the deflate data).
    header: [u8; 2],
    header_len: usize,
    /// After the deflate stream ended: how many bytes of its Adler-32 trailer may still follow.
    trailer_left: Option<usize>,
    /// Inflated data of the current rectangle; kept between rectangles to reuse the allocation.
    out: Vec<u8>,
}

impl Default for ZrleDecoder {
    fn default() -> ZrleDecoder {
        ZrleDecoder {
            rect: Rect::default(),
            zlib: Decompress::new(false),
            header: [0; 2],
            header_len: 0,
            trailer_left: None,
            out: Vec::new(),
        }
    }
}

impl std::fmt::Debug for ZrleDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZrleDecoder")
            .field("rect", &self.rect)
            .field("zlib_total_in", &self.zlib.total_in())
            .field("buffer", &self.out.len())
            .finish()
    }
}

/// The most inflated bytes a `rect` can need with `cp`-byte CPIXELs. Per tile of `a` pixels the
/// longest subencoding is plain RLE with every run one pixel long ((cp + 1) · a bytes) or palette
/// RLE with 127 colours and explicit runs (127 · cp + 2a); 1 + 127 · cp + (cp + 1) · a covers
/// every subencoding.
fn max_inflated(r: &Rect, cp: usize) -> usize {
    let tiles = (r.w as usize).div_ceil(TILE as usize) * (r.h as usize).div_ceil(TILE as usize);
    tiles * (1 + 127 * cp) + (cp + 1) * r.area()
}

/// The most compressed bytes accepted for a rectangle that inflates to at most `inflated` bytes.
/// Deflate expands incompressible data by a few bytes per 64 KiB stored block (and fixed-Huffman
/// literals by at most 9/8); half again plus 64 KiB is far beyond any real encoder.
fn max_compressed(inflated: usize) -> usize {
    inflated + inflated / 2 + 64 * 1024
}

fn truncated() -> Error {
    Error::invalid("ZRLE", "tile data ends before the rectangle does")
}

impl ZrleDecoder {
    /// Inflates all of `data` (this rectangle's share of the stream) into `self.out`, failing
    /// rather than producing more than `limit` bytes. Returns the number of bytes produced.
    fn inflate(&mut self, data: &[u8], limit: usize) -> Result<usize, Error> {
        let cap = limit.saturating_add(1);
        let (mut pos, mut filled) = (0, 0);
        while self.header_len < 2 && pos < data.len() {
            self.header[self.header_len] = data[pos];
            self.header_len += 1;
            pos += 1;
            if self.header_len == 2 {
                check_zlib_header(self.header)?;
            }
        }
        if let Some(left) = self.trailer_left {
            return self.after_end(data.len() - pos, left).map(|()| 0);
        }
        loop {
            // Invariant: filled < cap, so a full buffer can always grow.
            if filled == self.out.len() {
                let grow = (self.out.len() * 2).max(64 * 1024).min(cap);
                self.out.resize(grow, 0);
            }
            let end = self.out.len().min(cap);
            let (in0, out0) = (self.zlib.total_in(), self.zlib.total_out());
            let status = self
                .zlib
                .decompress(
                    &data[pos..],
                    &mut self.out[filled..end],
                    FlushDecompress::None,
                )
                .map_err(|e| Error::Zlib(e.to_string()))?;
            let used = (self.zlib.total_in() - in0) as usize;
            let made = (self.zlib.total_out() - out0) as usize;
            pos += used;
            filled += made;
            if filled >= cap {
                return Err(Error::TooLong {
                    what: "decompressed ZRLE rectangle",
                    len: filled as u64,
                    limit: limit as u64,
                });
            }
            if status == Status::StreamEnd {
                return self.after_end(data.len() - pos, 4).map(|()| filled);
            }
            // Input exhausted with room to spare: everything inflatable so far is out.
            if pos == data.len() && filled < end {
                return Ok(filled);
            }
            if used == 0 && made == 0 {
                return Err(Error::Zlib("the zlib stream stalled".into()));
            }
        }
    }

    /// Accounts for `n` bytes after the end of the deflate stream, of which `left` may still be
    /// its (unchecked) Adler-32 trailer.
    fn after_end(&mut self, n: usize, left: usize) -> Result<(), Error> {
        if n > left {
            return Err(Error::Zlib("data after the end of the zlib stream".into()));
        }
        self.trailer_left = Some(left - n);
        Ok(())
    }
}

/// Checks a zlib header (RFC 1950): deflate, a window of at most 32 KiB, a valid check value and
/// no preset dictionary.
fn check_zlib_header([cmf, flg]: [u8; 2]) -> Result<(), Error> {
    if cmf & 0x0f != 8
        || cmf >> 4 > 7
        || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0
        || flg & 0x20 != 0
    {
        return Err(Error::Zlib(format!(
            "invalid zlib header {cmf:02x} {flg:02x}"
        )));
    }
    Ok(())
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
            return Err(Error::TooLong {
                what: "ZRLE rectangle",
                len: len as u64,
                limit: max_len as u64,
            });
        }
        let Some(data) = b.get(4..4 + len) else {
            return Ok(Progress::NeedMore);
        };
        input.advance(4 + len);
        let n = self.inflate(data, limit)?;
        let px = Pixels::new(t.pixels, cp, offset);
        let result = draw_tiles(
            &mut Reader {
                b: &self.out[..n],
                pos: 0,
            },
            r,
            &px,
            t.fb,
        );
        // Whatever was drawn before an error is damaged too. Inflated bytes after the last tile
        // are ignored, as other clients do.
        t.fb.add_damage(r);
        result?;
        Ok(Progress::Done)
    }
}

/// Bounds-checked reads from the inflated data; running out is a typed error.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    fn u8(&mut self) -> Result<u8, Error> {
        let v = *self.b.get(self.pos).ok_or_else(truncated)?;
        self.pos += 1;
        Ok(v)
    }

    #[inline]
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let s = self.b.get(self.pos..self.pos + n).ok_or_else(truncated)?;
        self.pos += n;
        Ok(s)
    }

    /// A run length: 1 + the sum of bytes up to and including the first that is not 255.
    #[inline]
    fn run_length(&mut self) -> Result<usize, Error> {
        let mut n = 1;
        loop {
            let b = self.u8()?;
            n += b as usize;
            if b != 255 {
                return Ok(n);
            }
        }
    }
}

/// CPIXEL to RGBA, with a fast path for the client's usual RGBX32 format.
struct Pixels<'a> {
    t: &'a PixelTranslator,
    cp: usize,
    offset: usize,
    /// CPIXELs are R, G, B bytes.
    rgb3: bool,
}

impl<'a> Pixels<'a> {
    fn new(t: &'a PixelTranslator, cp: usize, offset: usize) -> Pixels<'a> {
        // Both RGBX32 byte orders put R, G, B in the three bytes a CPIXEL keeps.
        Pixels {
            t,
            cp,
            offset,
            rgb3: t.format().is_rgbx32() && cp == 3 && offset == 0,
        }
    }

    #[inline]
    fn rgba(&self, b: &[u8]) -> [u8; 4] {
        if self.rgb3 {
            [b[0], b[1], b[2], 255]
        } else {
            self.t.rgba_cpixel(b, self.cp, self.offset)
        }
    }

    /// Converts a row of CPIXELs into RGBA.
    #[inline]
    fn row(&self, src: &[u8], dst: &mut [u8]) {
        if self.rgb3 {
            // Four pixels at a time (12 bytes in, 16 out) so the compiler can shuffle them as one.
            let mut d4 = dst.chunks_exact_mut(16);
            let mut s4 = src.chunks_exact(12);
            for (d, s) in (&mut d4).zip(&mut s4) {
                let s: &[u8; 12] = s.try_into().expect("12-byte chunk");
                d.copy_from_slice(&[
                    s[0], s[1], s[2], 255, s[3], s[4], s[5], 255, s[6], s[7], s[8], 255, s[9],
                    s[10], s[11], 255,
                ]);
            }
            for (d, s) in d4
                .into_remainder()
                .chunks_exact_mut(4)
                .zip(s4.remainder().chunks_exact(3))
            {
                d.copy_from_slice(&[s[0], s[1], s[2], 255]);
            }
        } else if self.cp == self.t.bpp() {
            self.t.convert_row(src, dst);
        } else {
            for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(self.cp)) {
                d.copy_from_slice(&self.rgba(s));
            }
        }
    }

    /// Reads a palette of `n` CPIXELs into `pal`.
    fn palette(
        &self,
        rd: &mut Reader<'_>,
        n: usize,
        pal: &mut [[u8; 4]; 128],
    ) -> Result<(), Error> {
        let b = rd.bytes(n * self.cp)?;
        for (p, s) in pal.iter_mut().zip(b.chunks_exact(self.cp)) {
            *p = self.rgba(s);
        }
        Ok(())
    }
}

#[inline]
fn fill_px(dst: &mut [u8], rgba: [u8; 4]) {
    for d in dst.chunks_exact_mut(4) {
        d.copy_from_slice(&rgba);
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
    #[inline]
    fn put(&mut self, fb: &mut Framebuffer, rgba: [u8; 4], n: usize) -> Result<(), Error> {
        if n > self.left {
            return Err(Error::invalid(
                "ZRLE",
                format!("run of {n} pixels past the end of the tile"),
            ));
        }
        self.left -= n;
        let mut n = n;
        while n > 0 {
            let seg = n.min(self.w - self.col);
            fill_px(
                fb.row_mut(self.x0 + self.col as u16, self.y, seg as u16),
                rgba,
            );
            self.col += seg;
            n -= seg;
            if self.col == self.w {
                self.col = 0;
                self.y += 1;
            }
        }
        Ok(())
    }
}

fn draw_tiles(
    rd: &mut Reader<'_>,
    r: Rect,
    px: &Pixels<'_>,
    fb: &mut Framebuffer,
) -> Result<(), Error> {
    let mut pal = [[0u8, 0, 0, 255]; 128];
    let cp = px.cp;
    for ty in (0..r.h).step_by(TILE as usize) {
        let th = (r.h - ty).min(TILE);
        for tx in (0..r.w).step_by(TILE as usize) {
            let tw = (r.w - tx).min(TILE);
            let tile = Rect::new(r.x + tx, r.y + ty, tw, th);
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
                2..=16 => {
                    let n = sub as usize;
                    px.palette(rd, n, &mut pal)?;
                    let bits = match n {
                        2 => 1,
                        3 | 4 => 2,
                        _ => 4,
                    };
                    let mask = (1u8 << bits) - 1;
                    let row_bytes = (tw as usize * bits).div_ceil(8);
                    for y in 0..th {
                        let src = rd.bytes(row_bytes)?;
                        let dst = fb.row_mut(tile.x, tile.y + y, tw);
                        for (i, d) in dst.chunks_exact_mut(4).enumerate() {
                            let bit = i * bits;
                            let idx = ((src[bit / 8] >> (8 - bits - bit % 8)) & mask) as usize;
                            if idx >= n {
                                return Err(Error::invalid(
                                    "ZRLE",
                                    format!("palette index {idx} in a {n}-colour tile"),
                                ));
                            }
                            d.copy_from_slice(&pal[idx]);
                        }
                    }
                }
                128 => {
                    let mut runs = Runs {
                        x0: tile.x,
                        y: tile.y,
                        w: tw as usize,
                        col: 0,
                        left: tile.area(),
                    };
                    while runs.left > 0 {
                        let c = px.rgba(rd.bytes(cp)?);
                        let len = rd.run_length()?;
                        runs.put(fb, c, len)?;
                    }
                }
                130..=255 => {
                    let n = sub as usize - 128;
                    px.palette(rd, n, &mut pal)?;
                    let mut runs = Runs {
                        x0: tile.x,
                        y: tile.y,
                        w: tw as usize,
                        col: 0,
                        left: tile.area(),
                    };
                    while runs.left > 0 {
                        let i = rd.u8()?;
                        let idx = (i & 127) as usize;
                        if idx >= n {
                            return Err(Error::invalid(
                                "ZRLE",
                                format!("palette index {idx} in a {n}-colour tile"),
                            ));
                        }
                        let len = if i & 128 != 0 { rd.run_length()? } else { 1 };
                        runs.put(fb, pal[idx], len)?;
                    }
                }
                _ => {
                    return Err(Error::invalid(
                        "ZRLE",
                        format!("reserved subencoding {sub}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testing::*;
    use crate::pixel::PixelFormat;
    use flate2::{Compress, Compression, FlushCompress};
    use rand::{Rng, SeedableRng};

    type Rgb = [u8; 3];

    const C1: Rgb = [10, 200, 30];
    const C2: Rgb = [255, 0, 0];
    const C3: Rgb = [0, 0, 255];
    const C4: Rgb = [255, 255, 0];
    const C1_RGBA: [u8; 4] = [10, 200, 30, 255];

    /// The CPIXEL of a colour: the wire pixel, cut to the bytes `cpixel` names.
    fn cpix(pf: &PixelFormat, c: Rgb) -> Vec<u8> {
        let w = wire(pf, c);
        let (n, off) = pf.cpixel();
        w[off..off + n].to_vec()
    }

    /// How the test encoder writes one tile.
    enum Sub {
        Raw,
        Solid,
        Packed(Vec<Rgb>),
        Rle,
        /// Palette RLE; `true` writes single pixels in run form too (index | 128, length byte 0).
        PaletteRle(Vec<Rgb>, bool),
    }

    fn put_run_length(out: &mut Vec<u8>, n: usize) {
        let mut r = n - 1;
        while r >= 255 {
            out.push(255);
            r -= 255;
        }
        out.push(r as u8);
    }

    /// Maximal runs of equal colours, in scan order.
    fn runs(tile: &[Rgb]) -> Vec<(Rgb, usize)> {
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
    fn encode(
        pf: &PixelFormat,
        w: u16,
        h: u16,
        img: &[Rgb],
        choose: impl Fn(usize, usize) -> Sub,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let index =
            |pal: &[Rgb], c: &Rgb| pal.iter().position(|p| p == c).expect("colour in palette");
        for (j, ty) in (0..h).step_by(64).enumerate() {
            for (i, tx) in (0..w).step_by(64).enumerate() {
                let (tw, th) = ((w - tx).min(64) as usize, (h - ty).min(64) as usize);
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
                    Sub::Packed(pal) => {
                        out.push(pal.len() as u8);
                        pal.iter().for_each(|c| out.extend(cpix(pf, *c)));
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
                    Sub::PaletteRle(pal, force_runs) => {
                        out.push(128 + pal.len() as u8);
                        pal.iter().for_each(|c| out.extend(cpix(pf, *c)));
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

    /// Compresses `payload` as the server does (sync flush, so the stream continues) and frames
    /// it with its u32 length.
    fn compress(z: &mut Compress, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        let start = z.total_in();
        loop {
            let used = (z.total_in() - start) as usize;
            out.reserve(4096);
            z.compress_vec(&payload[used..], &mut out, FlushCompress::Sync)
                .unwrap();
            if (z.total_in() - start) as usize == payload.len() && out.len() < out.capacity() {
                break;
            }
        }
        let mut msg = (out.len() as u32).to_be_bytes().to_vec();
        msg.extend(out);
        msg
    }

    fn new_stream() -> Compress {
        Compress::new(Compression::default(), true)
    }

    fn check(fb: &Framebuffer, pf: &PixelFormat, rect: Rect, img: &[Rgb]) {
        let t = PixelTranslator::new(*pf);
        for y in 0..rect.h {
            for x in 0..rect.w {
                let want = t.rgba(&wire(pf, img[y as usize * rect.w as usize + x as usize]));
                assert_eq!(
                    fb.pixel(rect.x + x, rect.y + y),
                    want,
                    "{pf:?} at {x},{y} of the rectangle"
                );
            }
        }
        assert_eq!(
            fb.pixel(rect.x - 1, rect.y - 1),
            [0, 0, 0, 255],
            "outside the rectangle"
        );
    }

    /// 70x66: a plain-RLE 64x64 tile (runs across rows, lengths 1, 255+ and 3439), a raw 6x64
    /// tile, a solid 64x2 tile and a palette-RLE 6x2 tile.
    fn image_a() -> (u16, u16, Vec<Rgb>) {
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

    fn choose_a(i: usize, j: usize) -> Sub {
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
    fn palette(k: usize, n: usize) -> Vec<Rgb> {
        (0..n)
            .map(|i| [(k * 50 + i * 3) as u8, 255 - i as u8 * 15, (i * 37) as u8])
            .collect()
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
            let msg = compress(
                &mut new_stream(),
                &encode(&pf, w, h, &img, |i, _| Sub::Packed(palette(i, sizes[i]))),
            );
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
                if i == 0 {
                    Sub::PaletteRle(q.clone(), true)
                } else {
                    Sub::PaletteRle(vec![C2, C1], false)
                }
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
            assert!(
                msg2.len() < msg1.len() / 2,
                "second rectangle should reuse the window"
            );
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
        let msg = compress(
            &mut new_stream(),
            &encode(&PixelFormat::RGBX32, w, h, &img, choose_a),
        );
        let mut first = 1u32.to_be_bytes().to_vec();
        first.push(msg[4]);
        let mut rest = ((msg.len() - 5) as u32).to_be_bytes().to_vec();
        rest.extend(&msg[5..]);
        let mut dec = ZrleDecoder::default();
        let pf = PixelFormat::RGBX32;
        decode_chunked(
            &mut dec,
            pf,
            (72, 68),
            Rect::new(0, 0, 0, 0),
            &first,
            || usize::MAX,
        )
        .unwrap();
        let fb =
            decode_chunked(&mut dec, pf, (72, 68), Rect::new(1, 1, w, h), &rest, || 3).unwrap();
        check(&fb, &pf, Rect::new(1, 1, w, h), &img);
    }

    #[test]
    fn worst_case_legitimate_sizes_fit_the_limits() {
        // every pixel its own plain-RLE run, and 127-colour palettes on tiny tiles
        for pf in [
            PixelFormat {
                depth: 32,
                ..PixelFormat::RGBX32
            },
            PixelFormat::RGBX32,
            PixelFormat::BGR233,
        ] {
            let (w, h) = (65u16, 65u16);
            // alternate in each tile's scan order: by column in the 64-wide tiles, by row in the 1-wide
            let img: Vec<Rgb> = (0..65 * 65)
                .map(|i| {
                    if (if i % 65 < 64 { i % 65 } else { i / 65 }) % 2 == 0 {
                        C1
                    } else {
                        C2
                    }
                })
                .collect();
            let payload = encode(&pf, w, h, &img, |_, _| Sub::Rle);
            assert_eq!(payload.len(), 4 + (pf.cpixel().0 + 1) * 65 * 65);
            let rect = Rect::new(0, 0, w, h);
            let fb = decode_all_ways(
                ZrleDecoder::default,
                pf,
                (65, 65),
                rect,
                &compress(&mut new_stream(), &payload),
            );
            assert_eq!(
                fb.pixel(64, 64),
                PixelTranslator::new(pf).rgba(&wire(&pf, C1))
            );
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
            assert_eq!(
                fb.pixel(1, 1),
                PixelTranslator::new(pf).rgba(&wire(&pf, q[126]))
            );
        }
    }

    /// Decodes one message whole into a 128x128 RGBX32 framebuffer with decoder `dec`.
    fn decode_with(dec: &mut ZrleDecoder, rect: Rect, msg: &[u8]) -> Result<Progress, Error> {
        let px = PixelTranslator::new(PixelFormat::RGBX32);
        let mut fb = Framebuffer::new(128, 128).unwrap();
        dec.start(rect);
        let mut input = Input::new(msg);
        dec.decode(
            &mut input,
            &mut Target {
                fb: &mut fb,
                pixels: &px,
            },
        )
    }

    fn decode_payload(rect: Rect, payload: &[u8]) -> Result<Progress, Error> {
        decode_with(
            &mut ZrleDecoder::default(),
            rect,
            &compress(&mut new_stream(), payload),
        )
    }

    fn is_invalid(r: Result<Progress, Error>) -> bool {
        matches!(
            r,
            Err(Error::InvalidData {
                encoding: "ZRLE",
                ..
            })
        )
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
        assert!(matches!(
            decode_with(&mut ZrleDecoder::default(), r, &msg),
            Err(Error::Zlib(_))
        ));
        // bad zlib headers: wrong check value, not deflate, preset dictionary
        for header in [[0x78, 0x9d], [0x79, 0x9c], [0x78, 0xbb]] {
            let mut msg = 6u32.to_be_bytes().to_vec();
            msg.extend(header);
            msg.extend([3, 0, 0, 0]);
            assert!(
                matches!(
                    decode_with(&mut ZrleDecoder::default(), r, &msg),
                    Err(Error::Zlib(_))
                ),
                "{header:?}"
            );
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
        let full = compress(
            &mut new_stream(),
            &encode(&PixelFormat::RGBX32, w, h, &img, choose_a),
        );
        for cut in [6, 20, (full.len() - 4) / 2, full.len() - 10] {
            let mut msg = ((cut - 4) as u32).to_be_bytes().to_vec();
            msg.extend(&full[4..cut]);
            let res = decode_with(&mut ZrleDecoder::default(), Rect::new(1, 1, w, h), &msg);
            assert!(
                matches!(res, Err(Error::InvalidData { .. } | Error::Zlib(_))),
                "cut {cut}: {res:?}"
            );
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
        for (rect, size) in [
            (Rect::new(0, 0, 16, 16), 20 << 20),
            (Rect::new(0, 0, 128, 128), 20 << 20),
        ] {
            let mut payload = vec![0u8; size];
            payload[0] = 1; // a solid tile, then megabytes of junk
            let msg = compress(&mut new_stream(), &payload);
            assert!(msg.len() < 64 * 1024);
            let mut dec = ZrleDecoder::default();
            let res = decode_with(&mut dec, rect, &msg);
            assert!(matches!(res, Err(Error::TooLong { .. })), "{res:?}");
            let limit = max_inflated(&rect, 3);
            assert!(
                dec.out.len() <= limit + 1,
                "buffer {} for a limit of {limit}",
                dec.out.len()
            );
        }
    }

    #[test]
    fn finished_stream_rejects_later_rectangles() {
        let r = Rect::new(0, 0, 2, 2);
        let mut z = new_stream();
        let mut out = Vec::with_capacity(256);
        z.compress_vec(&[1, 9, 8, 7], &mut out, FlushCompress::Finish)
            .unwrap();
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
                    if rng.random_bool(0.5) {
                        rng.random::<u8>()
                    } else {
                        subs[rng.random_range(0..subs.len())]
                    }
                }));
                p
            };
            let rect = if i % 2 == 0 {
                Rect::new(1, 1, w, h)
            } else {
                rect
            };
            let res = decode_payload(rect, &payload);
            outcomes[res.is_ok() as usize] += 1;
        }
        assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
    }
}
