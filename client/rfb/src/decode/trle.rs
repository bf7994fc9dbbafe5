//! TRLE (15): ZRLE's tiles without the zlib stream and without a length: the rectangle is sent
//! as 16x16 tiles, left to right, top to bottom, each a subencoding byte and its data exactly as
//! in ZRLE (see [`super::zrle`], whose tile code this shares), plus two subencodings ZRLE
//! reserves: 127, a packed palette tile, and 129, a palette RLE tile, both reusing the palette of
//! the previous palette tile.
//!
//! Nothing says how long a tile is until it has been read, so a tile is decoded once all of it has
//! arrived: decoding starts from the tile's first byte and, if the bytes run out, stops and waits
//! without consuming any. A tile is at most a few KiB (1 + 127 CPIXELs of palette and two bytes
//! a pixel, and run lengths are refused as soon as they pass the tile's end), which bounds what
//! the connection holds back.

use super::zrle::{Palette, Pixels, Reader, draw_tile};
use super::{Decoder, Input, Progress, Target};
use crate::error::Error;
use crate::framebuffer::Rect;

const TILE: u16 = 16;

#[derive(Debug, Default)]
pub struct TrleDecoder {
    rect: Rect,
    /// Position of the next tile, relative to the rectangle.
    tx: u16,
    ty: u16,
    /// The last palette tile's palette.
    pal: Palette,
}

impl Decoder for TrleDecoder {
    fn start(&mut self, rect: Rect) {
        self.rect = rect;
        (self.tx, self.ty) = (0, 0);
        // A palette is only reused within a rectangle.
        self.pal = Palette::default();
    }

    fn decode(&mut self, input: &mut Input<'_>, t: &mut Target<'_>) -> Result<Progress, Error> {
        let r = self.rect;
        if r.is_empty() {
            return Ok(Progress::Done);
        }
        let (cp, offset) = t.pixels.format().cpixel();
        let px = Pixels::new(t.pixels, cp, offset);
        let first_row = self.ty;
        let mut result = Ok(());
        while self.ty < r.h {
            let tile = Rect::new(r.x + self.tx, r.y + self.ty, (r.w - self.tx).min(TILE), (r.h - self.ty).min(TILE));
            let mut rd = Reader::new(input.remaining(), "TRLE");
            if let Err(e) = draw_tile(&mut rd, tile, &px, t.fb, &mut self.pal, true) {
                if !rd.short {
                    result = Err(e);
                }
                // Drawn so far (the tile in progress will be drawn again in full).
                let end = (self.ty + TILE).min(r.h);
                t.fb.add_damage(Rect::new(r.x, r.y + first_row, r.w, end - first_row));
                return result.map(|()| Progress::NeedMore);
            }
            input.advance(rd.pos);
            self.tx += TILE;
            if self.tx >= r.w {
                self.tx = 0;
                self.ty += TILE;
            }
        }
        t.fb.add_damage(Rect::new(r.x, r.y + first_row, r.w, r.h - first_row));
        Ok(Progress::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testing::*;
    use crate::decode::zrle::tests::*;
    use crate::framebuffer::Framebuffer;
    use crate::pixel::{PixelFormat, PixelTranslator};
    use rand::{Rng, SeedableRng};

    /// 40x20: tiles of every subencoding, in 16x16 tiles (the last column 8 wide, the last row
    /// 4 high), with palette reuse across tiles.
    fn image() -> (u16, u16, Vec<Rgb>) {
        let (w, h) = (40u16, 20u16);
        let q = palette(1, 5);
        let img = (0..h as usize)
            .flat_map(|y| (0..w as usize).map(move |x| (x, y)))
            .map(|(x, y)| match (x / 16, y / 16) {
                (0, 0) => [(x * 9) as u8, (y * 13) as u8, 77],
                (1, 0) => C2,
                (2, 0) => q[(x + y) % 5],
                (0, 1) => q[(x * y) % 5],
                (1, 1) => {
                    if x % 3 == 0 {
                        C1
                    } else {
                        C3
                    }
                }
                _ => q[(x / 2) % 3],
            })
            .collect();
        (w, h, img)
    }

    fn choose(i: usize, j: usize) -> Sub {
        let q = palette(1, 5);
        match (i, j) {
            (0, 0) => Sub::Raw,
            (1, 0) => Sub::Solid,
            (2, 0) => Sub::Packed(q),
            (0, 1) => Sub::ReusePacked(q),
            (1, 1) => Sub::PaletteRle(vec![C3, C1], false),
            _ => Sub::ReusePaletteRle(vec![C3, C1]),
        }
    }

    #[test]
    fn every_subencoding_every_format_every_split() {
        let (w, h, img) = image();
        // (2, 1) reuses a palette of two colours that are not in it: give it C1/C3 pixels.
        let img: Vec<Rgb> = img
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (x, y) = (i % w as usize, i / w as usize);
                if x >= 32 && y >= 16 { if x % 2 == 0 { C1 } else { C3 } } else { *c }
            })
            .collect();
        for pf in formats() {
            let data = encode_tiles(&pf, 16, w, h, &img, choose);
            let rect = Rect::new(1, 1, w, h);
            let fb = decode_all_ways(TrleDecoder::default, pf, (42, 22), rect, &data);
            check(&fb, &pf, rect, &img);
            if pf == PixelFormat::RGBX32 {
                assert_eq!(fb.pixel(1 + 20, 1 + 3), [255, 0, 0, 255]);
                assert_eq!(fb.pixel(1 + 33, 1 + 17), [0, 0, 255, 255]);
                assert_eq!(fb.pixel(1 + 3, 1 + 2), [27, 26, 77, 255]);
            }
        }
    }

    #[test]
    fn plain_rle_and_long_runs() {
        let (w, h) = (16u16, 16u16);
        let img: Vec<Rgb> = (0..256).map(|i| if i < 3 { C1 } else { C4 }).collect();
        let data = encode_tiles(&PixelFormat::RGBX32, 16, w, h, &img, |_, _| Sub::Rle);
        // run of 253: one byte 252
        assert_eq!(data, [vec![128, 10, 200, 30, 2, 255, 255, 0, 252]].concat());
        let fb = decode_all_ways(TrleDecoder::default, PixelFormat::RGBX32, (16, 16), Rect::new(0, 0, w, h), &data);
        assert_eq!(fb.pixel(2, 0), C1_RGBA);
        assert_eq!(fb.pixel(15, 15), [255, 255, 0, 255]);
    }

    fn run(rect: Rect, data: &[u8]) -> Result<Progress, Error> {
        let px = PixelTranslator::new(PixelFormat::RGBX32);
        let mut fb = Framebuffer::new(64, 64).unwrap();
        let mut dec = TrleDecoder::default();
        dec.start(rect);
        dec.decode(&mut Input::new(data), &mut Target { fb: &mut fb, pixels: &px })
    }

    #[test]
    fn bad_tiles_are_typed_errors_and_short_ones_wait() {
        let r = Rect::new(0, 0, 4, 2);
        let bad = |d: &[u8]| matches!(run(r, d), Err(Error::InvalidData { encoding: "TRLE", .. }));
        // palette reuse with no palette before it
        assert!(bad(&[127, 0, 0]));
        assert!(bad(&[129, 0, 0]));
        // reserved
        assert!(bad(&[17]));
        assert!(bad(&[100]));
        // runs past the tile, even before the run's bytes end
        assert!(bad(&[128, 1, 2, 3, 8]));
        assert!(bad(&[128, 1, 2, 3, 255]));
        assert!(bad(&[130, 1, 2, 3, 4, 5, 6, 0x81, 255]));
        // a palette index out of range
        assert!(bad(&[130, 1, 2, 3, 4, 5, 6, 2]));
        // a tile cut short waits, without error
        assert_eq!(run(r, &[0, 1, 2, 3]), Ok(Progress::NeedMore));
        assert_eq!(run(r, &[128, 1, 2, 3, 3]), Ok(Progress::NeedMore));
        assert_eq!(run(r, &[128, 1, 2, 3, 7]), Ok(Progress::Done));
        assert_eq!(run(r, &[]), Ok(Progress::NeedMore));
        assert_eq!(run(Rect::new(0, 0, 0, 9), &[]), Ok(Progress::Done));
    }

    #[test]
    fn random_and_mutated_data_never_panics() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0x7e1e);
        let (w, h, img) = image();
        let valid = encode_tiles(&PixelFormat::RGBX32, 16, w, h, &img, |i, j| match (i, j) {
            (1, 1) | (2, 1) => Sub::Raw,
            _ => choose(i, j),
        });
        let subs = [0u8, 1, 2, 5, 16, 17, 127, 128, 129, 130, 255];
        let mut seen = [0usize; 3];
        for i in 0..3000 {
            let data: Vec<u8> = if i % 2 == 0 {
                let mut p = valid.clone();
                for _ in 0..rng.random_range(1..6) {
                    let at = rng.random_range(0..p.len());
                    p[at] = rng.random();
                }
                p
            } else {
                (0..rng.random_range(0..400))
                    .map(|_| if rng.random_bool(0.3) { subs[rng.random_range(0..subs.len())] } else { rng.random() })
                    .collect()
            };
            let rect = if i % 2 == 0 {
                Rect::new(0, 0, w, h)
            } else {
                Rect::new(
                    rng.random_range(0..10),
                    rng.random_range(0..10),
                    rng.random_range(0..50),
                    rng.random_range(0..50),
                )
            };
            seen[match run(rect, &data) {
                Ok(Progress::Done) => 0,
                Ok(Progress::NeedMore) => 1,
                Err(_) => 2,
            }] += 1;
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    }
}
