//! CopyRect (1): the rectangle is a copy of another area of the framebuffer.

use super::{Decoder, Input, Progress, Target, be16};
use crate::error::Error;
use crate::framebuffer::Rect;

#[derive(Debug, Default)]
pub struct CopyRectDecoder {
    rect: Rect,
}

impl Decoder for CopyRectDecoder {
    fn start(&mut self, rect: Rect) {
        self.rect = rect;
    }

    fn decode(&mut self, input: &mut Input<'_>, t: &mut Target<'_>) -> Result<Progress, Error> {
        let Some(b) = input.take(4) else {
            return Ok(Progress::NeedMore);
        };
        let (sx, sy) = (be16(b, 0), be16(b, 2));
        let r = self.rect;
        t.fb.check(&Rect::new(sx, sy, r.w, r.h))?;
        t.fb.copy(sx, sy, &r);
        t.fb.add_damage(r);
        Ok(Progress::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testing::*;
    use crate::framebuffer::Framebuffer;
    use crate::pixel::{PixelFormat, PixelTranslator};

    #[test]
    fn copies_and_rejects_out_of_bounds_source() {
        let px = PixelTranslator::new(PixelFormat::RGBX32);
        let mut fb = Framebuffer::new(8, 8).unwrap();
        fb.fill(&Rect::new(0, 0, 2, 2), [9, 8, 7, 255]);
        let mut d = CopyRectDecoder::default();
        d.start(Rect::new(5, 5, 2, 2));
        let mut t = Target { fb: &mut fb, pixels: &px };
        assert_eq!(d.decode(&mut Input::new(&[0, 0]), &mut t).unwrap(), Progress::NeedMore);
        assert_eq!(d.decode(&mut Input::new(&[0, 0, 0, 0]), &mut t).unwrap(), Progress::Done);
        assert_eq!(fb.pixel(6, 6), [9, 8, 7, 255]);
        d.start(Rect::new(0, 0, 2, 2));
        let mut t = Target { fb: &mut fb, pixels: &px };
        assert!(matches!(d.decode(&mut Input::new(&[0, 7, 0, 0]), &mut t), Err(Error::RectOutOfBounds { .. })));
        // split everywhere: a copy from a black area over black is black
        let fb = decode_all_ways(
            CopyRectDecoder::default,
            PixelFormat::RGBX32,
            (8, 8),
            Rect::new(4, 4, 2, 2),
            &[0, 1, 0, 1],
        );
        assert_eq!(fb.pixel(4, 4), [0, 0, 0, 255]);
    }
}
