//! Tight (7) and TightPNG (-260). A rectangle starts with a compression-control byte: its low
//! four bits reset zlib streams 0–3 before anything else, its high four bits say what follows:
//!
//! - 8 fill: one TPIXEL, the colour of the whole rectangle;
//! - 9 JPEG: a compact length and a JPEG image of exactly the rectangle's size;
//! - 10 PNG (TightPNG only): a compact length and a PNG image;
//! - 0–7 basic: bits 4–5 pick a zlib stream, bit 6 says a filter byte follows: 0 copy (TPIXELs),
//!   1 palette (a count − 1 byte and that many TPIXELs, then indices: 1 bit per pixel with rows
//!   padded to a byte for two colours, a byte per pixel otherwise), 2 gradient (TPIXELs holding
//!   the difference from the prediction left + above − above-left, per colour component, clamped
//!   to the component's range). Without the bit the filter is copy. Data of fewer than 12 bytes
//!   is sent as is; longer data as a compact length and that many bytes of the chosen zlib
//!   stream, which continues from the stream's previous rectangles.
//!
//! A TPIXEL is three bytes R, G, B when the pixel format is 32 bpp, depth 24, true colour with
//! 8-bit components; otherwise a wire pixel. A compact length is 1–3 bytes of 7, 7 and 8 bits,
//! least significant first, so at most 4 MiB − 1: that caps the JPEG and PNG data, and zlib data
//! is further capped by what the rectangle's pixels can need.
//!
//! A rectangle is decoded once all of it has arrived (the connection holds it); decoding is
//! straight into the framebuffer, with the gradient filter applied in place in the inflated
//! data.

use super::image::draw_jpeg;
#[cfg(feature = "tightpng")]
use super::image::draw_png as png;

use super::zrle::rgb_row;
use super::zstream::{ZStream, max_compressed};
use super::{Decoder, Input, Progress, Target};
use crate::error::Error;
use crate::framebuffer::Rect;
use crate::pixel::{PixelFormat, PixelTranslator};

/// Built without the `tightpng` feature, a PNG image is an error that says so (the engine then
/// never offers TightPNG, so only a server that ignores SetEncodings sends one).
#[cfg(not(feature = "tightpng"))]
fn png(
    enc: &'static str,
    _: &[u8],
    _: Rect,
    _: &mut Vec<u8>,
    _: &mut crate::framebuffer::Framebuffer,
) -> Result<(), Error> {
    Err(Error::invalid(enc, "a PNG image, but this build of oxvnc-rfb has no PNG decoder (feature tightpng)"))
}

/// Basic-compressed data shorter than this is sent without zlib.
const MIN_TO_COMPRESS: usize = 12;

#[derive(Debug, Default)]
pub struct TightDecoder {
    rect: Rect,
    /// TightPNG: PNG images are allowed.
    png: bool,
    zlib: [ZStream; 4],
    /// Inflated data, or decoded JPEG/PNG pixels; kept to reuse the allocation.
    buf: Vec<u8>,
    /// Gradient filter state for formats without 3-byte TPIXELs: the previous row's components.
    prev: Vec<[u16; 3]>,
}

impl TightDecoder {
    /// A TightPNG (-260) decoder.
    pub fn png() -> TightDecoder {
        TightDecoder { png: true, ..TightDecoder::default() }
    }

    /// Switches between Tight and TightPNG for the next rectangle. A server keeps one set of
    /// zlib streams for both, so a connection uses one decoder for the two encodings.
    pub fn set_png(&mut self, png: bool) {
        self.png = png;
    }

    fn enc(&self) -> &'static str {
        if self.png { "TightPNG" } else { "Tight" }
    }
}

/// Reads a compact length at the start of `b`: Some((length, bytes used)) once all has arrived.
fn compact_len(b: &[u8]) -> Option<(usize, usize)> {
    let mut len = 0usize;
    for i in 0..3 {
        let v = *b.get(i)? as usize;
        if i == 2 {
            return Some((len | v << 14, 3));
        }
        len |= (v & 0x7f) << (7 * i);
        if v & 0x80 == 0 {
            return Some((len, i + 1));
        }
    }
    unreachable!()
}

/// Bytes in a TPIXEL of format `pf`.
pub(crate) fn tpixel_size(pf: &PixelFormat) -> usize {
    if tpixel24(pf) { 3 } else { pf.bytes_per_pixel() }
}

/// Whether TPIXELs are 3 bytes R, G, B for this format.
fn tpixel24(pf: &PixelFormat) -> bool {
    pf.true_colour
        && pf.bits_per_pixel == 32
        && pf.depth == 24
        && pf.red_max == 255
        && pf.green_max == 255
        && pf.blue_max == 255
}

#[inline]
fn tpixel_rgba(t: &PixelTranslator, rgb24: bool, b: &[u8]) -> [u8; 4] {
    if rgb24 { [b[0], b[1], b[2], 255] } else { t.rgba(b) }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Filter {
    Copy,
    Palette(usize),
    Gradient,
}

impl Decoder for TightDecoder {
    fn start(&mut self, rect: Rect) {
        self.rect = rect;
    }

    fn decode(&mut self, input: &mut Input<'_>, t: &mut Target<'_>) -> Result<Progress, Error> {
        let r = self.rect;
        let enc = self.enc();
        let b = input.remaining();
        let Some(&ctl) = b.first() else {
            return Ok(Progress::NeedMore);
        };
        let rgb24 = tpixel24(t.pixels.format());
        let tp = if rgb24 { 3 } else { t.pixels.bpp() };
        let kind = ctl >> 4;
        let mut p = 1;
        match kind {
            8 => {
                let Some(px) = b.get(p..p + tp) else {
                    return Ok(Progress::NeedMore);
                };
                self.reset_streams(ctl);
                input.advance(p + tp);
                t.fb.fill(&r, tpixel_rgba(t.pixels, rgb24, px));
            }
            9 | 10 => {
                if kind == 10 && !self.png {
                    return Err(Error::invalid(enc, "a PNG rectangle in plain Tight"));
                }
                let Some((len, n)) = compact_len(&b[p..]) else {
                    return Ok(Progress::NeedMore);
                };
                p += n;
                let Some(data) = b.get(p..p + len) else {
                    return Ok(Progress::NeedMore);
                };
                self.reset_streams(ctl);
                input.advance(p + len);
                // Damage first: a failed image may have drawn part of the rectangle.
                t.fb.add_damage(r);
                if kind == 9 {
                    draw_jpeg(enc, data, r, &mut self.buf, t.fb)?;
                } else {
                    png(enc, data, r, &mut self.buf, t.fb)?;
                }
                return Ok(Progress::Done);
            }
            0..=7 => {
                let filter = if kind & 4 != 0 {
                    let Some(&id) = b.get(p) else {
                        return Ok(Progress::NeedMore);
                    };
                    p += 1;
                    match id {
                        0 => Filter::Copy,
                        1 => {
                            let Some(&n) = b.get(p) else {
                                return Ok(Progress::NeedMore);
                            };
                            p += 1;
                            Filter::Palette(n as usize + 1)
                        }
                        2 => {
                            if !rgb24 && !t.pixels.format().true_colour {
                                return Err(Error::invalid(enc, "the gradient filter needs a true-colour format"));
                            }
                            Filter::Gradient
                        }
                        _ => return Err(Error::invalid(enc, format!("unknown filter {id}"))),
                    }
                } else {
                    Filter::Copy
                };
                let palette = match filter {
                    Filter::Palette(n) => {
                        let Some(pal) = b.get(p..p + n * tp) else {
                            return Ok(Progress::NeedMore);
                        };
                        p += n * tp;
                        pal
                    }
                    _ => &[][..],
                };
                let (w, h) = (r.w as usize, r.h as usize);
                let size = match filter {
                    Filter::Palette(n) if n <= 2 => w.div_ceil(8) * h,
                    Filter::Palette(_) => w * h,
                    _ => w * h * tp,
                };
                let stream = (kind & 3) as usize;
                let data_len;
                if size < MIN_TO_COMPRESS {
                    let Some(data) = b.get(p..p + size) else {
                        return Ok(Progress::NeedMore);
                    };
                    data_len = p + size;
                    self.reset_streams(ctl);
                    self.buf.clear();
                    self.buf.extend_from_slice(data);
                } else {
                    let Some((len, n)) = compact_len(&b[p..]) else {
                        return Ok(Progress::NeedMore);
                    };
                    p += n;
                    let max = max_compressed(size);
                    if len > max {
                        return Err(Error::TooLong { what: "Tight zlib block", len: len as u64, limit: max as u64 });
                    }
                    let Some(data) = b.get(p..p + len) else {
                        return Ok(Progress::NeedMore);
                    };
                    data_len = p + len;
                    self.reset_streams(ctl);
                    let got = self.zlib[stream].inflate(data, &mut self.buf, size, "decompressed Tight rectangle")?;
                    if got != size {
                        input.advance(data_len);
                        return Err(Error::invalid(enc, format!("{got} bytes of zlib data where {size} were due")));
                    }
                }
                input.advance(data_len);
                t.fb.add_damage(r);
                if r.is_empty() {
                    return Ok(Progress::Done);
                }
                let data = &mut self.buf[..size];
                match filter {
                    Filter::Copy => {
                        for (y, src) in data.chunks_exact(w * tp).enumerate() {
                            let dst = t.fb.row_mut(r.x, r.y + y as u16, r.w);
                            if rgb24 {
                                rgb_row(src, dst);
                            } else {
                                t.pixels.convert_row(src, dst);
                            }
                        }
                    }
                    Filter::Palette(n) => {
                        let mut pal = [[0u8, 0, 0, 255]; 256];
                        for (c, s) in pal.iter_mut().zip(palette.chunks_exact(tp)) {
                            *c = tpixel_rgba(t.pixels, rgb24, s);
                        }
                        let row_bytes = size / h;
                        let bad = |idx: usize| Error::invalid(enc, format!("palette index {idx} of {n} colours"));
                        for (y, src) in data.chunks_exact(row_bytes).enumerate() {
                            let dst = t.fb.row_mut(r.x, r.y + y as u16, r.w);
                            if n <= 2 {
                                // A bit per pixel, most significant first: a byte is 8 pixels.
                                for (d8, &byte) in dst.chunks_mut(32).zip(src) {
                                    for (i, d) in d8.chunks_exact_mut(4).enumerate() {
                                        let idx = (byte >> (7 - i) & 1) as usize;
                                        if idx >= n {
                                            return Err(bad(idx));
                                        }
                                        d.copy_from_slice(&pal[idx]);
                                    }
                                }
                            } else {
                                // A byte per pixel: check the row once, then look up freely.
                                // (A fold of values, not `max()` of references: this one
                                // vectorises; `max()` tracks which element and does not.)
                                let src = &src[..w];
                                let max = src.iter().fold(0u8, |m, &v| m.max(v));
                                if max as usize >= n {
                                    return Err(bad(max as usize));
                                }
                                for (d, &idx) in dst.chunks_exact_mut(4).zip(src) {
                                    d.copy_from_slice(&pal[idx as usize]);
                                }
                            }
                        }
                    }
                    Filter::Gradient if rgb24 => {
                        gradient24(data, w);
                        for (y, src) in data.chunks_exact(w * 3).enumerate() {
                            rgb_row(src, t.fb.row_mut(r.x, r.y + y as u16, r.w));
                        }
                    }
                    Filter::Gradient => {
                        gradient_wire(data, r, t, &mut self.prev);
                    }
                }
                return Ok(Progress::Done);
            }
            _ => {
                return Err(Error::invalid(enc, format!("unknown compression control {ctl:#04x}")));
            }
        }
        t.fb.add_damage(r);
        Ok(Progress::Done)
    }
}

impl TightDecoder {
    fn reset_streams(&mut self, ctl: u8) {
        for (i, z) in self.zlib.iter_mut().enumerate() {
            if ctl & (1 << i) != 0 {
                z.reset();
            }
        }
    }
}

/// Undoes the gradient filter in place on rows of `w` R, G, B pixels.
fn gradient24(data: &mut [u8], w: usize) {
    let stride = w * 3;
    for y in 0..data.len() / stride {
        for x in 0..w {
            for c in 0..3 {
                let i = y * stride + x * 3 + c;
                let left = if x > 0 { data[i - 3] as i16 } else { 0 };
                let (up, up_left) = if y > 0 {
                    let u = data[i - stride] as i16;
                    (u, if x > 0 { data[i - stride - 3] as i16 } else { 0 })
                } else {
                    (0, 0)
                };
                let est = (left + up - up_left).clamp(0, 255) as u8;
                data[i] = data[i].wrapping_add(est);
            }
        }
    }
}

/// Undoes the gradient filter on wire pixels (16 or 8 bpp, or 32 bpp with other than 8-bit
/// components), component by component within each component's range, drawing into the
/// framebuffer. `prev` holds the previous row's components.
fn gradient_wire(data: &[u8], r: Rect, t: &mut Target<'_>, prev: &mut Vec<[u16; 3]>) {
    let pf = *t.pixels.format();
    let bpp = t.pixels.bpp();
    let max = [pf.red_max, pf.green_max, pf.blue_max].map(u32::from);
    let shift = [pf.red_shift, pf.green_shift, pf.blue_shift];
    let w = r.w as usize;
    prev.clear();
    prev.resize(w, [0; 3]);
    for (y, row) in data.chunks_exact(w * bpp).enumerate() {
        let dst = t.fb.row_mut(r.x, r.y + y as u16, r.w);
        let mut left = [0u16; 3];
        let mut up_left = [0u16; 3];
        for (x, (s, d)) in row.chunks_exact(bpp).zip(dst.chunks_exact_mut(4)).enumerate() {
            let v = t.pixels.value(s);
            let up = prev[x];
            let mut out = 0u32;
            let mut cur = [0u16; 3];
            for c in 0..3 {
                let est = (left[c] as i32 + up[c] as i32 - up_left[c] as i32).clamp(0, max[c] as i32) as u32;
                let diff = (v >> shift[c]) & max[c];
                let comp = (diff + est) & max[c];
                cur[c] = comp as u16;
                out |= comp << shift[c];
            }
            d.copy_from_slice(&t.pixels.rgba_of_value(out));
            up_left = up;
            left = cur;
            prev[x] = cur;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testing::*;
    use crate::decode::zstream::testing::{deflate_sync, new_stream};
    use crate::framebuffer::Framebuffer;
    use flate2::Compress;
    use rand::{Rng, SeedableRng};

    type Rgb = [u8; 3];

    fn put_compact(out: &mut Vec<u8>, n: usize) {
        out.push((n & 0x7f) as u8 | if n > 0x7f { 0x80 } else { 0 });
        if n > 0x7f {
            out.push((n >> 7 & 0x7f) as u8 | if n > 0x3fff { 0x80 } else { 0 });
            if n > 0x3fff {
                out.push((n >> 14) as u8);
            }
        }
    }

    fn tpixel(pf: &PixelFormat, c: Rgb) -> Vec<u8> {
        if tpixel24(pf) { c.to_vec() } else { wire(pf, c) }
    }

    /// What the test encoder sends.
    enum How {
        Fill,
        Copy,
        Palette(Vec<Rgb>),
        Gradient,
        Jpeg(u8),
        Png,
    }

    /// Components of a colour as the wire format keeps them.
    fn comps(pf: &PixelFormat, c: Rgb) -> [u32; 3] {
        let t = PixelTranslator::new(*pf);
        let v = t.value(&wire(pf, c));
        [
            (v >> pf.red_shift) & pf.red_max as u32,
            (v >> pf.green_shift) & pf.green_max as u32,
            (v >> pf.blue_shift) & pf.blue_max as u32,
        ]
    }

    /// Encodes `img` (`w`x`h`) as one Tight rectangle; basic data goes through `z` (stream
    /// `stream`) with reset bits `reset`.
    fn encode(
        pf: &PixelFormat,
        (w, h): (usize, usize),
        img: &[Rgb],
        how: How,
        z: &mut Compress,
        stream: u8,
        reset: u8,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let rgb24 = tpixel24(pf);
        let image = |out: &mut Vec<u8>, kind: u8, data: Vec<u8>| {
            out.push(kind << 4 | reset);
            put_compact(out, data.len());
            out.extend(data);
        };
        let data = match how {
            How::Fill => {
                out.push(0x80 | reset);
                out.extend(tpixel(pf, img[0]));
                return out;
            }
            How::Jpeg(q) => {
                let mut jpg = Vec::new();
                let rgb: Vec<u8> = img.iter().flatten().copied().collect();
                jpeg_encoder::Encoder::new(&mut jpg, q)
                    .encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
                    .unwrap();
                image(&mut out, 9, jpg);
                return out;
            }
            How::Png => {
                let mut png_data = Vec::new();
                let mut e = png::Encoder::new(&mut png_data, w as u32, h as u32);
                e.set_color(png::ColorType::Rgb);
                e.set_depth(png::BitDepth::Eight);
                let rgb: Vec<u8> = img.iter().flatten().copied().collect();
                e.write_header().unwrap().write_image_data(&rgb).unwrap();
                image(&mut out, 10, png_data);
                return out;
            }
            How::Copy => {
                out.push(stream << 4 | reset);
                img.iter().flat_map(|c| tpixel(pf, *c)).collect::<Vec<u8>>()
            }
            How::Palette(pal) => {
                out.extend([0x40 | stream << 4 | reset, 1, (pal.len() - 1) as u8]);
                pal.iter().for_each(|c| out.extend(tpixel(pf, *c)));
                let idx = |c: &Rgb| pal.iter().position(|p| p == c).unwrap() as u8;
                if pal.len() <= 2 {
                    img.chunks(w)
                        .flat_map(|row| {
                            row.chunks(8).map(|b| b.iter().enumerate().fold(0u8, |a, (i, c)| a | idx(c) << (7 - i)))
                        })
                        .collect()
                } else {
                    img.iter().map(idx).collect()
                }
            }
            How::Gradient => {
                out.extend([0x40 | stream << 4 | reset, 2]);
                let max = if rgb24 { [255; 3] } else { [pf.red_max, pf.green_max, pf.blue_max].map(u32::from) };
                let c = |x: usize, y: usize| -> [u32; 3] {
                    if rgb24 { img[y * w + x].map(u32::from) } else { comps(pf, img[y * w + x]) }
                };
                let mut d = Vec::new();
                for y in 0..h {
                    for x in 0..w {
                        let mut diff = [0u32; 3];
                        for k in 0..3 {
                            let l = if x > 0 { c(x - 1, y)[k] as i32 } else { 0 };
                            let u = if y > 0 { c(x, y - 1)[k] as i32 } else { 0 };
                            let ul = if x > 0 && y > 0 { c(x - 1, y - 1)[k] as i32 } else { 0 };
                            let est = (l + u - ul).clamp(0, max[k] as i32) as u32;
                            diff[k] = c(x, y)[k].wrapping_sub(est) & max[k];
                        }
                        if rgb24 {
                            d.extend(diff.map(|v| v as u8));
                        } else {
                            let v = diff[0] << pf.red_shift | diff[1] << pf.green_shift | diff[2] << pf.blue_shift;
                            let b = match (pf.bits_per_pixel, pf.big_endian) {
                                (32, false) => v.to_le_bytes().to_vec(),
                                (32, true) => v.to_be_bytes().to_vec(),
                                (16, false) => (v as u16).to_le_bytes().to_vec(),
                                (16, true) => (v as u16).to_be_bytes().to_vec(),
                                _ => vec![v as u8],
                            };
                            d.extend(b);
                        }
                    }
                }
                d
            }
        };
        if data.len() < MIN_TO_COMPRESS {
            out.extend(data);
        } else {
            let zd = deflate_sync(z, &data);
            put_compact(&mut out, zd.len());
            out.extend(zd);
        }
        out
    }

    fn check(fb: &Framebuffer, pf: &PixelFormat, r: Rect, img: &[Rgb]) {
        let t = PixelTranslator::new(*pf);
        for y in 0..r.h {
            for x in 0..r.w {
                let c = img[(y * r.w + x) as usize];
                let want = if tpixel24(pf) { [c[0], c[1], c[2], 255] } else { t.rgba(&wire(pf, c)) };
                assert_eq!(fb.pixel(r.x + x, r.y + y), want, "{pf:?} at {x},{y}");
            }
        }
    }

    fn picture(w: usize, h: usize, k: u8) -> Vec<Rgb> {
        (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                [(x * 11) as u8 ^ k, (y * 7 + x) as u8, (x * y) as u8 | k]
            })
            .collect()
    }

    fn formats_and_tight() -> Vec<PixelFormat> {
        let mut v = formats();
        // 32 bpp depth 24 with big-endian shifts: TPIXELs are still R, G, B
        v.push(PixelFormat { red_shift: 16, green_shift: 8, blue_shift: 0, ..PixelFormat::RGBX32 });
        v
    }

    #[test]
    fn fill_copy_palette_gradient_every_format_every_split() {
        let (w, h) = (19usize, 7usize);
        let img = picture(w, h, 5);
        let two = [[1u8, 2, 3], [250, 128, 0]];
        let img2: Vec<Rgb> = (0..w * h).map(|i| two[(i * i / 3) % 2]).collect();
        let pal7: Vec<Rgb> = (0..7u8).map(|i| [i * 30, 255 - i * 30, i * 3]).collect();
        let img7: Vec<Rgb> = (0..w * h).map(|i| pal7[(i * 5 + i / 19) % 7]).collect();
        let pal256: Vec<Rgb> = (0..=255u8).map(|i| [i, i / 2, 255 - i]).collect();
        let img256: Vec<Rgb> = (0..w * h).map(|i| pal256[(i * 37) % 256]).collect();
        let r = Rect::new(2, 1, w as u16, h as u16);
        for pf in formats_and_tight() {
            let cases: Vec<(How, &[Rgb])> = vec![
                (How::Fill, &img7[..1]),
                (How::Copy, &img),
                (How::Palette(two.to_vec()), &img2),
                (How::Palette(pal7.clone()), &img7),
                (How::Gradient, &img),
            ];
            for (i, (how, pic)) in cases.into_iter().enumerate() {
                let msg = encode(&pf, (w, h), pic, how, &mut new_stream(), i as u8 % 4, 0);
                let fb = decode_all_ways(TightDecoder::default, pf, (24, 10), r, &msg);
                if pic.len() == 1 {
                    let c = vec![pic[0]; w * h];
                    check(&fb, &pf, r, &c);
                } else {
                    check(&fb, &pf, r, pic);
                }
                assert_eq!(fb.pixel(1, 0), [0, 0, 0, 255], "outside");
            }
            // 256 colours only fit formats with that many
            if pf.bits_per_pixel > 8 {
                let msg = encode(&pf, (w, h), &img256, How::Palette(pal256.clone()), &mut new_stream(), 3, 0);
                let fb = decode_all_ways(TightDecoder::default, pf, (24, 10), r, &msg);
                check(&fb, &pf, r, &img256);
            }
        }
        // known values in the client's format
        let pf = PixelFormat::RGBX32;
        let msg = encode(&pf, (w, h), &img, How::Gradient, &mut new_stream(), 2, 0);
        let fb = decode_all_ways(TightDecoder::default, pf, (24, 10), r, &msg);
        assert_eq!(fb.pixel(2 + 3, 1 + 2), [33 ^ 5, 17, 6 | 5, 255]);
        assert_eq!(&msg[..2], &[0x60, 2]);
    }

    #[test]
    fn short_data_is_sent_without_zlib() {
        // 2x1 copy at 3 bytes a pixel: 6 bytes; a 4x2 two-colour palette: 2 bytes of bits
        let pf = PixelFormat::RGBX32;
        let msg = [0x00, 1, 2, 3, 4, 5, 6];
        let fb = decode_all_ways(TightDecoder::default, pf, (4, 4), Rect::new(1, 1, 2, 1), &msg);
        assert_eq!(fb.pixel(1, 1), [1, 2, 3, 255]);
        assert_eq!(fb.pixel(2, 1), [4, 5, 6, 255]);
        let msg = [0x40, 1, 1, 9, 9, 9, 200, 100, 0, 0b1010_0000, 0b0101_0000];
        let fb = decode_all_ways(TightDecoder::default, pf, (4, 4), Rect::new(0, 2, 4, 2), &msg);
        assert_eq!(fb.pixel(0, 2), [200, 100, 0, 255]);
        assert_eq!(fb.pixel(1, 2), [9, 9, 9, 255]);
        assert_eq!(fb.pixel(1, 3), [200, 100, 0, 255]);
        // 12 bytes and more go through zlib: 4 pixels of 3 bytes
        let img = picture(4, 1, 0);
        let msg = encode(&pf, (4, 1), &img, How::Copy, &mut new_stream(), 0, 0);
        assert!(msg.len() > 13);
        let fb = decode_all_ways(TightDecoder::default, pf, (4, 4), Rect::new(0, 0, 4, 1), &msg);
        check(&fb, &pf, Rect::new(0, 0, 4, 1), &img);
    }

    #[test]
    fn compact_lengths() {
        assert_eq!(compact_len(&[0x05]), Some((5, 1)));
        assert_eq!(compact_len(&[0x90, 0x4e]), Some((10000, 2)));
        assert_eq!(compact_len(&[0xff, 0xff, 0xff]), Some((0x3f_ffff, 3)));
        assert_eq!(compact_len(&[0x80, 0x80, 0x01]), Some((1 << 14, 3)));
        assert_eq!(compact_len(&[0x80, 0x80]), None);
        assert_eq!(compact_len(&[]), None);
        for n in [0, 1, 127, 128, 16383, 16384, 4_000_000] {
            let mut b = Vec::new();
            put_compact(&mut b, n);
            assert_eq!(compact_len(&b), Some((n, b.len())), "{n}");
        }
    }

    #[test]
    fn four_streams_continue_and_reset() {
        let pf = PixelFormat::RGBX32;
        let (w, h) = (16usize, 8usize);
        let r = Rect::new(0, 0, w as u16, h as u16);
        let a = picture(w, h, 1);
        let b = picture(w, h, 2);
        let mut zs: Vec<Compress> = (0..4).map(|_| new_stream()).collect();
        let mut msgs = Vec::new();
        let mut want = Vec::new();
        for i in 0..8u8 {
            let s = i % 4;
            let img = if i % 3 == 0 { &a } else { &b };
            // rectangle 6 resets stream 2 (and the encoder starts it afresh)
            let reset = if i == 6 { 1 << 2 } else { 0 };
            if reset != 0 {
                zs[2] = new_stream();
            }
            msgs.push(encode(&pf, (w, h), img, How::Copy, &mut zs[s as usize], s, reset));
            want.push(img.clone());
        }
        let mut rng = rand::rngs::SmallRng::seed_from_u64(4);
        for way in 0..4 {
            let mut dec = TightDecoder::default();
            for (m, img) in msgs.iter().zip(&want) {
                let fb = decode_chunked(&mut dec, pf, (16, 8), r, m, || match way {
                    0 => usize::MAX,
                    1 => 1,
                    _ => rng.random_range(1..50),
                })
                .unwrap();
                check(&fb, &pf, r, img);
            }
        }
        // without the reset, rectangle 6 (a fresh stream's header) fails to inflate
        let mut dec = TightDecoder::default();
        for (i, m) in msgs.iter().enumerate() {
            let mut m = m.clone();
            if i == 6 {
                m[0] &= 0xf0;
            }
            let res = decode_chunked(&mut dec, pf, (16, 8), r, &m, || usize::MAX);
            assert_eq!(res.is_err(), i == 6, "{i}");
            if i == 6 {
                break;
            }
        }
    }

    fn psnr(fb: &Framebuffer, r: Rect, img: &[Rgb]) -> f64 {
        let mut se = 0f64;
        for y in 0..r.h {
            for x in 0..r.w {
                let p = fb.pixel(r.x + x, r.y + y);
                let c = img[(y * r.w + x) as usize];
                for k in 0..3 {
                    se += (p[k] as f64 - c[k] as f64).powi(2);
                }
            }
        }
        let mse = se / (r.area() * 3) as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
    }

    #[test]
    fn jpeg_and_png_images() {
        let (w, h) = (40usize, 24usize);
        let smooth: Vec<Rgb> = (0..w * h).map(|i| [(i % w * 6) as u8, (i / w * 10) as u8, 128]).collect();
        let r = Rect::new(3, 2, w as u16, h as u16);
        for pf in [PixelFormat::RGBX32, PixelFormat::RGB565] {
            let msg = encode(&pf, (w, h), &smooth, How::Jpeg(95), &mut new_stream(), 0, 0);
            let fb = decode_all_ways(TightDecoder::default, pf, (48, 30), r, &msg);
            let q = psnr(&fb, r, &smooth);
            assert!(q > 35.0, "PSNR {q}");
            assert_eq!(fb.pixel(2, 1), [0, 0, 0, 255]);
            // PNG: TightPNG only, lossless
            let img = picture(w, h, 9);
            let msg = encode(&pf, (w, h), &img, How::Png, &mut new_stream(), 0, 0);
            if cfg!(feature = "tightpng") {
                let fb = decode_all_ways(TightDecoder::png, pf, (48, 30), r, &msg);
                for y in 0..r.h {
                    for x in 0..r.w {
                        let c = img[(y * r.w + x) as usize];
                        assert_eq!(fb.pixel(r.x + x, r.y + y), [c[0], c[1], c[2], 255]);
                    }
                }
            } else {
                // Built without a PNG decoder (as the console is): refused, saying why.
                let res = decode_chunked(&mut TightDecoder::png(), pf, (48, 30), r, &msg, || 7);
                assert!(matches!(&res, Err(Error::InvalidData { .. })), "{res:?}");
                assert!(format!("{res:?}").contains("feature tightpng"), "{res:?}");
            }
            let res = decode_chunked(&mut TightDecoder::default(), pf, (48, 30), r, &msg, || 7);
            assert!(matches!(res, Err(Error::InvalidData { .. })), "{res:?}");
            // TightPNG still takes fill and JPEG
            let fill = encode(&pf, (w, h), &smooth[..1], How::Fill, &mut new_stream(), 0, 0);
            decode_all_ways(TightDecoder::png, pf, (48, 30), r, &fill);
        }
        // an image of another size than the rectangle is refused
        let pf = PixelFormat::RGBX32;
        for how in [How::Jpeg(80), How::Png] {
            let msg = encode(&pf, (w, h), &smooth, how, &mut new_stream(), 0, 0);
            for rect in [Rect::new(0, 0, 40, 23), Rect::new(0, 0, 41, 24)] {
                let res = decode_chunked(&mut TightDecoder::png(), pf, (48, 30), rect, &msg, || 99);
                assert!(matches!(res, Err(Error::InvalidData { .. })), "{res:?}");
            }
        }
    }

    fn run(dec: &mut TightDecoder, rect: Rect, data: &[u8]) -> Result<Progress, Error> {
        let px = PixelTranslator::new(PixelFormat::RGBX32);
        let mut fb = Framebuffer::new(64, 64).unwrap();
        dec.start(rect);
        dec.decode(&mut Input::new(data), &mut Target { fb: &mut fb, pixels: &px })
    }

    #[test]
    fn bad_data_is_a_typed_error() {
        let r = Rect::new(0, 0, 4, 4);
        let bad = |d: &[u8]| {
            let res = run(&mut TightDecoder::png(), r, d);
            assert!(
                matches!(res, Err(Error::InvalidData { .. } | Error::Zlib(_) | Error::TooLong { .. })),
                "{d:?}: {res:?}"
            );
        };
        bad(&[0xb0]); // no such compression
        bad(&[0xf0]);
        bad(&[0x40, 3]); // no such filter
        bad(&[0x40, 1, 0, 1, 2, 3, 0xff, 0xff, 0xff, 0xff]); // index 1 of one colour
        bad(&[0x40, 1, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 5, 0x78, 0x9c, 1, 2, 3]); // bad zlib
        bad(&[0x90, 3, 1, 2, 3]); // not a JPEG
        bad(&[0xa0, 3, 1, 2, 3]); // not a PNG
        // a zlib length no 4x4 rectangle needs, refused before the data arrives
        bad(&[0x00, 0xff, 0xff, 0x7f]);
        // an out-of-range palette index (3 colours, index 3)
        let mut p = vec![0x40, 1, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3];
        let idx = [3u8; 16];
        let mut z = new_stream();
        let zd = deflate_sync(&mut z, &idx);
        put_compact(&mut p, zd.len());
        p.extend(zd);
        bad(&p);
        // too little zlib data for the rectangle
        let mut p = vec![0x00];
        let zd = deflate_sync(&mut new_stream(), &[7; 47]);
        put_compact(&mut p, zd.len());
        p.extend(zd);
        bad(&p);
        // incomplete: waits
        for d in [&[][..], &[0x80, 1, 2], &[0x40], &[0x40, 1], &[0x40, 1, 3, 1, 2], &[0x90, 0x85]] {
            assert_eq!(run(&mut TightDecoder::png(), r, d), Ok(Progress::NeedMore), "{d:?}");
        }
    }

    #[test]
    fn random_and_mutated_data_never_panics() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0x719);
        let pf = PixelFormat::RGBX32;
        let (w, h) = (20usize, 12usize);
        let img = picture(w, h, 3);
        let pal7: Vec<Rgb> = (0..7u8).map(|i| [i * 30, 255 - i * 30, i * 3]).collect();
        let img7: Vec<Rgb> = (0..w * h).map(|i| pal7[(i * 5) % 7]).collect();
        let valid = [
            encode(&pf, (w, h), &img, How::Copy, &mut new_stream(), 1, 0),
            encode(&pf, (w, h), &img, How::Gradient, &mut new_stream(), 2, 0),
            encode(&pf, (w, h), &img7, How::Palette(pal7), &mut new_stream(), 3, 0),
            encode(&pf, (w, h), &img, How::Jpeg(70), &mut new_stream(), 0, 0),
            encode(&pf, (w, h), &img, How::Png, &mut new_stream(), 0, 0),
        ];
        let mut seen = [0usize; 3];
        for i in 0..3000 {
            let mut m = valid[i % valid.len()].clone();
            if i % 3 == 2 {
                m.truncate(rng.random_range(0..m.len()));
                m.extend((0..rng.random_range(0..40)).map(|_| rng.random::<u8>()));
            } else {
                for _ in 0..rng.random_range(1..6) {
                    let at = rng.random_range(0..m.len());
                    m[at] = rng.random();
                }
            }
            let rect = if i % 4 == 0 {
                Rect::new(0, 0, rng.random_range(0..30), rng.random_range(0..30))
            } else {
                Rect::new(0, 0, w as u16, h as u16)
            };
            let res = run(&mut TightDecoder::png(), rect, &m);
            seen[match res {
                Ok(Progress::Done) => 0,
                Ok(Progress::NeedMore) => 1,
                Err(_) => 2,
            }] += 1;
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    }
}
