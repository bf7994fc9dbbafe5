//! RRE (2): a u32 subrectangle count and a background pixel, then that many subrectangles of
//! (pixel, x, y, w, h as u16), relative to the rectangle. The background fills the rectangle as soon
//! as the header has arrived; each subrectangle is drawn as soon as its 8 + bpp bytes are there, so
//! the rectangle is never buffered whole.

use super::{Decoder, Input, Progress, Target, be16, be32};
use crate::error::Error;
use crate::framebuffer::Rect;

#[derive(Debug, Default)]
pub struct RreDecoder {
    rect: Rect,
    /// Subrectangles still to come; `None` until the header has been read.
    left: Option<u32>,
}

impl Decoder for RreDecoder {
    fn start(&mut self, rect: Rect) {
        self.rect = rect;
        self.left = None;
    }

    fn decode(&mut self, input: &mut Input<'_>, t: &mut Target<'_>) -> Result<Progress, Error> {
        let r = self.rect;
        let bpp = t.pixels.bpp();
        let mut drew = false;
        let mut left = match self.left {
            Some(n) => n,
            None => {
                let Some(h) = input.take(4 + bpp) else {
                    return Ok(Progress::NeedMore);
                };
                let n = be32(h, 0);
                // Overlapping subrectangles could in theory exceed the area, but no encoder sends
                // more than one per pixel; a bigger count is garbage that would stall the stream.
                if n as u64 > r.area() as u64 {
                    return Err(Error::invalid("RRE", format!("{n} subrectangles for a {}x{} rectangle", r.w, r.h)));
                }
                t.fb.fill(&r, t.pixels.rgba(&h[4..]));
                drew = true;
                n
            }
        };
        let unit = bpp + 8;
        while left > 0 {
            let Some(b) = input.take(unit) else { break };
            let (x, y, w, h) = (be16(b, bpp), be16(b, bpp + 2), be16(b, bpp + 4), be16(b, bpp + 6));
            if x as u32 + w as u32 > r.w as u32 || y as u32 + h as u32 > r.h as u32 {
                return Err(Error::invalid(
                    "RRE",
                    format!("subrectangle {w}x{h} at {x},{y} outside the {}x{} rectangle", r.w, r.h),
                ));
            }
            t.fb.fill(&Rect::new(r.x + x, r.y + y, w, h), t.pixels.rgba(&b[..bpp]));
            left -= 1;
            drew = true;
        }
        self.left = Some(left);
        if drew {
            t.fb.add_damage(r);
        }
        Ok(if left == 0 { Progress::Done } else { Progress::NeedMore })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testing::*;
    use crate::framebuffer::Framebuffer;
    use crate::pixel::{PixelFormat, PixelTranslator};

    fn subrect(pf: &PixelFormat, rgb: [u8; 3], x: u16, y: u16, w: u16, h: u16) -> Vec<u8> {
        let mut v = wire(pf, rgb);
        for n in [x, y, w, h] {
            v.extend_from_slice(&n.to_be_bytes());
        }
        v
    }

    const BG: [u8; 3] = [10, 200, 30];
    const A: [u8; 3] = [255, 0, 0];
    const B: [u8; 3] = [0, 0, 255];

    fn vector(pf: &PixelFormat) -> Vec<u8> {
        let mut d = 3u32.to_be_bytes().to_vec();
        d.extend(wire(pf, BG));
        d.extend(subrect(pf, A, 0, 0, 2, 1));
        d.extend(subrect(pf, B, 3, 2, 2, 2)); // bottom-right corner of the 5x4 rect
        d.extend(subrect(pf, A, 1, 3, 0, 1)); // empty: draws nothing
        d
    }

    #[test]
    fn background_and_subrects_every_format_every_split() {
        for pf in formats() {
            let t = PixelTranslator::new(pf);
            let (bg, a, b) = (t.rgba(&wire(&pf, BG)), t.rgba(&wire(&pf, A)), t.rgba(&wire(&pf, B)));
            let rect = Rect::new(2, 1, 5, 4);
            let fb = decode_all_ways(RreDecoder::default, pf, (8, 6), rect, &vector(&pf));
            for y in 0..6 {
                for x in 0..8 {
                    let want = if !(2..7).contains(&x) || !(1..5).contains(&y) {
                        [0, 0, 0, 255]
                    } else if y == 1 && x < 4 {
                        a
                    } else if x >= 5 && y >= 3 {
                        b
                    } else {
                        bg
                    };
                    assert_eq!(fb.pixel(x, y), want, "{pf:?} at {x},{y}");
                }
            }
            if pf == PixelFormat::RGBX32 {
                assert_eq!(fb.pixel(6, 4), [0, 0, 255, 255]);
                assert_eq!(fb.pixel(4, 2), [10, 200, 30, 255]);
            }
        }
    }

    #[test]
    fn no_subrects_is_a_solid_fill() {
        let pf = PixelFormat::RGB565;
        let mut d = 0u32.to_be_bytes().to_vec();
        d.extend(wire(&pf, [255, 255, 255]));
        let fb = decode_all_ways(RreDecoder::default, pf, (4, 4), Rect::new(0, 0, 4, 4), &d);
        assert_eq!(fb.pixel(3, 3), [255, 255, 255, 255]);
    }

    fn run(rect: Rect, data: &[u8]) -> Result<Progress, Error> {
        let px = PixelTranslator::new(PixelFormat::RGBX32);
        let mut fb = Framebuffer::new(8, 8).unwrap();
        let mut d = RreDecoder::default();
        d.start(rect);
        d.decode(&mut Input::new(data), &mut Target { fb: &mut fb, pixels: &px })
    }

    #[test]
    fn rejects_subrect_outside_and_absurd_counts() {
        let pf = PixelFormat::RGBX32;
        for (x, y, w, h) in [(3, 0, 2, 1), (0, 3, 1, 2), (65535, 0, 2, 1), (0, 0, 5, 1)] {
            let mut d = 1u32.to_be_bytes().to_vec();
            d.extend(wire(&pf, BG));
            d.extend(subrect(&pf, A, x, y, w, h));
            assert!(
                matches!(run(Rect::new(0, 0, 4, 3), &d), Err(Error::InvalidData { encoding: "RRE", .. })),
                "{x},{y} {w}x{h}"
            );
        }
        let mut d = 13u32.to_be_bytes().to_vec();
        d.extend(wire(&pf, BG));
        assert!(matches!(run(Rect::new(0, 0, 4, 3), &d), Err(Error::InvalidData { .. })));
        let mut d = u32::MAX.to_be_bytes().to_vec();
        d.extend(wire(&pf, BG));
        assert!(run(Rect::new(0, 0, 4, 3), &d).is_err());
        // an empty rectangle still has a header, with no subrectangles
        let mut d = 0u32.to_be_bytes().to_vec();
        d.extend(wire(&pf, BG));
        assert_eq!(run(Rect::new(0, 0, 0, 3), &d), Ok(Progress::Done));
        assert_eq!(run(Rect::new(0, 0, 0, 3), &d[..5]), Ok(Progress::NeedMore));
    }

    #[test]
    fn partial_subrect_waits_and_damage_is_recorded() {
        let pf = PixelFormat::RGBX32;
        let px = PixelTranslator::new(pf);
        let mut fb = Framebuffer::new(8, 8).unwrap();
        fb.take_damage();
        let data = vector(&pf);
        let mut d = RreDecoder::default();
        let rect = Rect::new(2, 1, 5, 4);
        d.start(rect);
        let mut input = Input::new(&data[..8 + 12 + 5]);
        assert_eq!(d.decode(&mut input, &mut Target { fb: &mut fb, pixels: &px }).unwrap(), Progress::NeedMore);
        assert_eq!(input.consumed(), 8 + 12, "header and first subrect only");
        assert_eq!(fb.pixel(2, 1), [255, 0, 0, 255]);
        assert_eq!(fb.take_damage(), vec![rect]);
        let mut input = Input::new(&data[20..]);
        assert_eq!(d.decode(&mut input, &mut Target { fb: &mut fb, pixels: &px }).unwrap(), Progress::Done);
        assert_eq!(fb.pixel(6, 4), [0, 0, 255, 255]);
        assert_eq!(fb.take_damage(), vec![rect]);
    }
}
