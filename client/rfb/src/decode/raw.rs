//! Raw (0): width × height pixels, row by row. Decoded pixel by pixel as bytes arrive, so a large
//! rectangle never needs to be buffered whole.

use super::{Decoder, Input, Progress, Target};
use crate::error::Error;
use crate::framebuffer::Rect;

#[derive(Debug, Default)]
pub struct RawDecoder {
    rect: Rect,
    /// Pixels already drawn in the current rectangle.
    done: usize,
}

impl Decoder for RawDecoder {
    fn start(&mut self, rect: Rect) {
        self.rect = rect;
        self.done = 0;
    }

    fn decode(&mut self, input: &mut Input<'_>, t: &mut Target<'_>) -> Result<Progress, Error> {
        let r = self.rect;
        let total = r.area();
        let bpp = t.pixels.bpp();
        let first_row = self.done / r.w.max(1) as usize;
        while self.done < total {
            let w = r.w as usize;
            let row = self.done / w;
            let col = self.done % w;
            let want = (w - col).min(input.len() / bpp);
            if want == 0 {
                break;
            }
            let src = input.take(want * bpp).expect("length checked");
            let dst = t.fb.row_mut(r.x + col as u16, r.y + row as u16, want as u16);
            t.pixels.convert_row(src, dst);
            self.done += want;
        }
        if r.w > 0 {
            let last_row = self.done.div_ceil(r.w as usize);
            if last_row > first_row {
                t.fb.add_damage(Rect::new(r.x, r.y + first_row as u16, r.w, (last_row - first_row) as u16));
            }
        }
        Ok(if self.done >= total { Progress::Done } else { Progress::NeedMore })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testing::*;
    use crate::framebuffer::Rect;

    #[test]
    fn raw_every_format_every_split() {
        for pf in formats() {
            let colours: Vec<[u8; 3]> = (0..12u8).map(|i| [i * 20, 255 - i * 20, i * 7]).collect();
            let data: Vec<u8> = colours.iter().flat_map(|c| wire(&pf, *c)).collect();
            let rect = Rect::new(1, 2, 4, 3);
            let fb = decode_all_ways(RawDecoder::default, pf, (8, 8), rect, &data);
            let expect_fb = {
                let t = crate::pixel::PixelTranslator::new(pf);
                colours.iter().map(|c| t.rgba(&wire(&pf, *c))).collect::<Vec<_>>()
            };
            for (i, e) in expect_fb.iter().enumerate() {
                assert_eq!(fb.pixel(1 + (i % 4) as u16, 2 + (i / 4) as u16), *e, "{pf:?} pixel {i}");
            }
            if pf == crate::pixel::PixelFormat::RGBX32 {
                assert_eq!(fb.pixel(2, 2), [20, 235, 7, 255]);
            }
            assert_eq!(fb.pixel(0, 0), [0, 0, 0, 255]);
        }
    }

    #[test]
    fn empty_rect_is_done_at_once() {
        let mut d = RawDecoder::default();
        let mut fb = crate::framebuffer::Framebuffer::new(4, 4).unwrap();
        let px = crate::pixel::PixelTranslator::new(crate::pixel::PixelFormat::RGBX32);
        d.start(Rect::new(0, 0, 0, 5));
        let mut input = Input::new(&[]);
        assert_eq!(d.decode(&mut input, &mut Target { fb: &mut fb, pixels: &px }).unwrap(), Progress::Done);
    }
}
