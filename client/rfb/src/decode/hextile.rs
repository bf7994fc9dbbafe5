//! Hextile (5): the rectangle is cut into 16x16 tiles (the last column and row smaller), sent
//! left to right, top to bottom. Each tile starts with a subencoding byte:
//!
//! - bit 0 Raw: width × height pixels follow, the other bits are ignored;
//! - bit 1 BackgroundSpecified: a pixel follows, else the background of the previous tile is kept;
//! - bit 2 ForegroundSpecified: a pixel follows, else the previous foreground is kept;
//! - bit 3 AnySubrects: a u8 count of subrectangles follows, each (x << 4 | y, (w-1) << 4 | (h-1));
//! - bit 4 SubrectsColoured: every subrectangle is preceded by its own pixel.
//!
//! Background and foreground carry from tile to tile within a rectangle; a coloured subrectangle
//! also becomes the foreground, so a later tile that relies on the implicit foreground gets the
//! colour of the last coloured subrectangle (what servers and other clients do; the original spec
//! left it unsaid). A tile is decoded once all its bytes are there; its length is found by peeking
//! at the subencoding byte and the subrectangle count.

use super::{Decoder, Input, Progress, Target};
use crate::error::Error;
use crate::framebuffer::Rect;

const RAW: u8 = 1;
const BACKGROUND: u8 = 2;
const FOREGROUND: u8 = 4;
const ANY_SUBRECTS: u8 = 8;
const SUBRECTS_COLOURED: u8 = 16;

const TILE: u16 = 16;

#[derive(Debug)]
pub struct HextileDecoder {
    rect: Rect,
    /// Index of the next tile, row-major.
    next: usize,
    bg: [u8; 4],
    fg: [u8; 4],
}

impl Default for HextileDecoder {
    fn default() -> HextileDecoder {
        HextileDecoder { rect: Rect::default(), next: 0, bg: [0, 0, 0, 255], fg: [0, 0, 0, 255] }
    }
}

/// Tiles across a side of `n` pixels.
fn tiles(n: u16) -> usize {
    (n as usize).div_ceil(TILE as usize)
}

/// Length of the tile at the front of `b`, or `None` when its length is not yet known.
fn tile_len(b: &[u8], tw: usize, th: usize, bpp: usize) -> Result<Option<usize>, Error> {
    let Some(&flags) = b.first() else {
        return Ok(None);
    };
    if flags > 0x1f {
        return Err(Error::invalid("Hextile", format!("unknown subencoding {flags:#04x}")));
    }
    if flags & RAW != 0 {
        return Ok(Some(1 + tw * th * bpp));
    }
    let mut n = 1;
    if flags & BACKGROUND != 0 {
        n += bpp;
    }
    if flags & FOREGROUND != 0 {
        n += bpp;
    }
    if flags & ANY_SUBRECTS != 0 {
        let Some(&count) = b.get(n) else {
            return Ok(None);
        };
        let each = if flags & SUBRECTS_COLOURED != 0 { 2 + bpp } else { 2 };
        n += 1 + count as usize * each;
    }
    Ok(Some(n))
}

impl HextileDecoder {
    /// Draws one whole tile (`b` is exactly its bytes).
    fn draw_tile(&mut self, b: &[u8], tile: Rect, t: &mut Target<'_>) -> Result<(), Error> {
        let bpp = t.pixels.bpp();
        let flags = b[0];
        if flags & RAW != 0 {
            let row_len = tile.w as usize * bpp;
            for (i, src) in b[1..].chunks_exact(row_len).enumerate() {
                t.pixels.convert_row(src, t.fb.row_mut(tile.x, tile.y + i as u16, tile.w));
            }
            return Ok(());
        }
        let mut o = 1;
        if flags & BACKGROUND != 0 {
            self.bg = t.pixels.rgba(&b[o..]);
            o += bpp;
        }
        t.fb.fill(&tile, self.bg);
        if flags & FOREGROUND != 0 {
            self.fg = t.pixels.rgba(&b[o..]);
            o += bpp;
        }
        if flags & ANY_SUBRECTS == 0 {
            return Ok(());
        }
        let count = b[o];
        o += 1;
        let coloured = flags & SUBRECTS_COLOURED != 0;
        for _ in 0..count {
            if coloured {
                self.fg = t.pixels.rgba(&b[o..]);
                o += bpp;
            }
            let (xy, wh) = (b[o], b[o + 1]);
            o += 2;
            let (x, y) = ((xy >> 4) as u16, (xy & 15) as u16);
            let (w, h) = ((wh >> 4) as u16 + 1, (wh & 15) as u16 + 1);
            if x + w > tile.w || y + h > tile.h {
                return Err(Error::invalid(
                    "Hextile",
                    format!("subrectangle {w}x{h} at {x},{y} outside the {}x{} tile", tile.w, tile.h),
                ));
            }
            t.fb.fill(&Rect::new(tile.x + x, tile.y + y, w, h), self.fg);
        }
        Ok(())
    }
}

impl Decoder for HextileDecoder {
    fn start(&mut self, rect: Rect) {
        self.rect = rect;
        self.next = 0;
        self.bg = [0, 0, 0, 255];
        self.fg = [0, 0, 0, 255];
    }

    fn decode(&mut self, input: &mut Input<'_>, t: &mut Target<'_>) -> Result<Progress, Error> {
        let r = self.rect;
        let (cols, rows) = (tiles(r.w), tiles(r.h));
        let total = cols * rows;
        let first = self.next;
        let bpp = t.pixels.bpp();
        let mut result = Ok(());
        while self.next < total {
            let (col, row) = ((self.next % cols) as u16, (self.next / cols) as u16);
            let (dx, dy) = (col * TILE, row * TILE);
            let tile = Rect::new(r.x + dx, r.y + dy, (r.w - dx).min(TILE), (r.h - dy).min(TILE));
            let len = match tile_len(input.remaining(), tile.w as usize, tile.h as usize, bpp) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let Some(b) = input.take(len) else { break };
            if let Err(e) = self.draw_tile(b, tile, t) {
                result = Err(e);
                break;
            }
            self.next += 1;
        }
        // Damage the band of tile rows touched by this call (including a tile that failed
        // half-drawn), once.
        let touched_end = if result.is_err() { (self.next + 1).min(total) } else { self.next };
        if touched_end > first {
            let (row0, row1) = (first / cols, (touched_end - 1) / cols + 1);
            let top = row0 as u32 * TILE as u32;
            let bottom = (row1 as u32 * TILE as u32).min(r.h as u32);
            t.fb.add_damage(Rect::new(r.x, r.y + top as u16, r.w, (bottom - top) as u16));
        }
        result?;
        Ok(if self.next >= total { Progress::Done } else { Progress::NeedMore })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testing::*;
    use crate::framebuffer::Framebuffer;
    use crate::pixel::{PixelFormat, PixelTranslator};

    const C1: [u8; 3] = [10, 200, 30];
    const C2: [u8; 3] = [255, 0, 0];
    const C3: [u8; 3] = [0, 0, 255];
    const C4: [u8; 3] = [255, 255, 0];

    fn sub(x: u8, y: u8, w: u8, h: u8) -> [u8; 2] {
        [x << 4 | y, (w - 1) << 4 | (h - 1)]
    }

    /// A 20x18 rectangle: tiles 16x16, 4x16, 16x2, 4x2 exercising every non-raw feature.
    fn subrects_vector(pf: &PixelFormat) -> Vec<u8> {
        let mut d = vec![BACKGROUND | FOREGROUND | ANY_SUBRECTS];
        d.extend(wire(pf, C1));
        d.extend(wire(pf, C2));
        d.push(2);
        d.extend(sub(2, 3, 4, 2));
        d.extend(sub(15, 15, 1, 1));
        // inherits background C1 and foreground C2
        d.extend([ANY_SUBRECTS, 1]);
        d.extend(sub(3, 0, 1, 16));
        // coloured subrects; the last colour (C4) becomes the foreground
        d.extend([ANY_SUBRECTS | SUBRECTS_COLOURED, 2]);
        d.extend(wire(pf, C3));
        d.extend(sub(0, 0, 16, 1));
        d.extend(wire(pf, C4));
        d.extend(sub(5, 1, 1, 1));
        // implicit foreground = C4
        d.extend([ANY_SUBRECTS, 1]);
        d.extend(sub(0, 0, 1, 1));
        d
    }

    fn expect_subrects(x: u16, y: u16) -> [u8; 3] {
        match (x, y) {
            (2..=5, 3..=4) | (15, 15) => C2, // tile 0 subrects
            (19, 0..=15) => C2,              // tile 1 column 3
            (0..=15, 16) => C3,              // tile 2 first row
            (5, 17) => C4,
            (16, 16) => C4, // tile 3, inherited foreground
            _ => C1,
        }
    }

    #[test]
    fn subrects_every_format_every_split() {
        for pf in formats() {
            let t = PixelTranslator::new(pf);
            let rect = Rect::new(1, 1, 20, 18);
            let fb = decode_all_ways(HextileDecoder::default, pf, (24, 20), rect, &subrects_vector(&pf));
            for y in 0..20 {
                for x in 0..24 {
                    let want = if x == 0 || y == 0 || x > 20 || y > 18 {
                        [0, 0, 0, 255]
                    } else {
                        t.rgba(&wire(&pf, expect_subrects(x - 1, y - 1)))
                    };
                    assert_eq!(fb.pixel(x, y), want, "{pf:?} at {x},{y}");
                }
            }
            if pf == PixelFormat::RGBX32 {
                assert_eq!(fb.pixel(17, 17), [255, 255, 0, 255]);
                assert_eq!(fb.pixel(7, 18), [10, 200, 30, 255]);
                assert_eq!(fb.pixel(20, 5), [255, 0, 0, 255]);
                assert_eq!(fb.pixel(1, 1), [10, 200, 30, 255]);
            }
        }
    }

    fn raw_colour(x: u16, y: u16) -> [u8; 3] {
        [x as u8 * 16, y as u8 * 16, 100]
    }

    #[test]
    fn raw_tiles_keep_the_background_every_format_every_split() {
        for pf in formats() {
            let t = PixelTranslator::new(pf);
            // 40x17: tiles 16x16 (background), 16x16 (raw), 8x16 (implicit background), then a
            // row of three 16x1/8x1 tiles: raw, foreground only (no subrects: background), empty.
            let mut d = vec![BACKGROUND];
            d.extend(wire(&pf, C3));
            d.push(RAW | BACKGROUND); // raw wins; no background pixel follows
            for y in 0..16 {
                for x in 0..16 {
                    d.extend(wire(&pf, raw_colour(x, y)));
                }
            }
            d.push(0);
            d.push(RAW);
            for x in 0..16 {
                d.extend(wire(&pf, raw_colour(x, 9)));
            }
            d.push(FOREGROUND);
            d.extend(wire(&pf, C4));
            d.push(ANY_SUBRECTS);
            d.push(0);
            let fb = decode_all_ways(HextileDecoder::default, pf, (40, 17), Rect::new(0, 0, 40, 17), &d);
            let px = |c| t.rgba(&wire(&pf, c));
            assert_eq!(fb.pixel(0, 0), px(C3));
            assert_eq!(fb.pixel(15, 15), px(C3));
            assert_eq!(fb.pixel(16, 0), px(raw_colour(0, 0)));
            assert_eq!(fb.pixel(31, 15), px(raw_colour(15, 15)));
            assert_eq!(fb.pixel(20, 7), px(raw_colour(4, 7)));
            assert_eq!(fb.pixel(32, 0), px(C3));
            assert_eq!(fb.pixel(39, 15), px(C3));
            assert_eq!(fb.pixel(3, 16), px(raw_colour(3, 9)));
            assert_eq!(fb.pixel(16, 16), px(C3));
            assert_eq!(fb.pixel(39, 16), px(C3));
            if pf == PixelFormat::RGBX32 {
                assert_eq!(fb.pixel(20, 7), [64, 112, 100, 255]);
            }
        }
    }

    fn run(rect: Rect, data: &[u8]) -> (Result<Progress, Error>, usize, Framebuffer) {
        let px = PixelTranslator::new(PixelFormat::RGBX32);
        let mut fb = Framebuffer::new(40, 40).unwrap();
        fb.take_damage();
        let mut d = HextileDecoder::default();
        d.start(rect);
        let mut input = Input::new(data);
        let r = d.decode(&mut input, &mut Target { fb: &mut fb, pixels: &px });
        (r, input.consumed(), fb)
    }

    #[test]
    fn waits_for_whole_tiles_and_damages_tile_rows() {
        let d = subrects_vector(&PixelFormat::RGBX32);
        let first_tile = 1 + 4 + 4 + 1 + 4;
        for cut in 1..first_tile {
            let (r, used, fb) = run(Rect::new(1, 1, 20, 18), &d[..cut]);
            assert_eq!(r, Ok(Progress::NeedMore));
            assert_eq!(used, 0, "cut at {cut}");
            assert!(fb.damage().is_empty());
        }
        let (r, used, fb) = run(Rect::new(1, 1, 20, 18), &d[..first_tile + 3]);
        assert_eq!((r, used), (Ok(Progress::NeedMore), first_tile));
        assert_eq!(fb.damage(), &[Rect::new(1, 1, 20, 16)]);
        let (r, used, fb) = run(Rect::new(1, 1, 20, 18), &d);
        assert_eq!((r, used), (Ok(Progress::Done), d.len()));
        assert_eq!(fb.damage(), &[Rect::new(1, 1, 20, 18)]);
        // an empty rectangle has no tiles
        assert_eq!(run(Rect::new(3, 3, 0, 9), &[]).0, Ok(Progress::Done));
    }

    #[test]
    fn rejects_bad_subencodings_and_subrects_outside_the_tile() {
        for flags in [0x20u8, 0x21, 0x80, 0xff] {
            let (r, _, _) = run(Rect::new(0, 0, 16, 16), &[flags, 0, 0, 0, 0]);
            assert!(matches!(r, Err(Error::InvalidData { encoding: "Hextile", .. })), "{flags:#x}");
        }
        // the second tile is 4x3: a subrect at x 3 of width 2, or at y 2 of height 2, is outside
        for s in [sub(3, 0, 2, 1), sub(0, 2, 1, 2), sub(4, 0, 1, 1)] {
            let mut d = vec![BACKGROUND | ANY_SUBRECTS, 1, 2, 3, 4, 1];
            d.extend(sub(15, 2, 1, 1));
            d.extend([ANY_SUBRECTS, 1]);
            d.extend(s);
            let (r, used, fb) = run(Rect::new(0, 0, 20, 3), &d);
            assert_eq!(fb.pixel(15, 2), [0, 0, 0, 255], "first tile drawn");
            assert_eq!(fb.pixel(14, 2), [1, 2, 3, 255], "first tile drawn");
            assert_eq!(fb.damage(), &[Rect::new(0, 0, 20, 3)]);
            assert!(used <= d.len());
            assert!(matches!(r, Err(Error::InvalidData { encoding: "Hextile", .. })), "{s:?}");
        }
        // a subrect that exactly fits is fine
        let mut d = vec![BACKGROUND | ANY_SUBRECTS, 1, 2, 3, 4, 1];
        d.extend(sub(3, 2, 1, 1));
        let mut d2 = vec![ANY_SUBRECTS | SUBRECTS_COLOURED, 1, 9, 8, 7, 0];
        d2.extend(sub(3, 2, 1, 1));
        d.extend(d2);
        let (r, used, fb) = run(Rect::new(0, 0, 20, 3), &d);
        assert_eq!((r, used), (Ok(Progress::Done), d.len()));
        assert_eq!(fb.pixel(19, 2), [9, 8, 7, 255]);
        assert_eq!(fb.pixel(18, 2), [1, 2, 3, 255]);
    }
}
