//! Zlib (6): a u32 length and that many bytes of zlib data which inflate to the rectangle's raw
//! pixels (width × height pixels of the connection's format, row by row). All Zlib rectangles of
//! a connection share one zlib stream, so the inflater lives as long as the decoder. Once the whole
//! block has arrived it is inflated into a buffer the decoder keeps, exactly one rectangle's worth
//! (more is an error, as is less), and converted into the framebuffer row by row.

use super::zstream::{ZStream, max_compressed};
use super::{Decoder, Input, Progress, Target, be32};
use crate::error::Error;
use crate::framebuffer::Rect;

#[derive(Debug, Default)]
pub struct ZlibDecoder {
    rect: Rect,
    zlib: ZStream,
    /// Inflated pixels of the current rectangle; kept between rectangles to reuse the allocation.
    out: Vec<u8>,
}

impl Decoder for ZlibDecoder {
    fn start(&mut self, rect: Rect) {
        self.rect = rect;
    }

    fn decode(&mut self, input: &mut Input<'_>, t: &mut Target<'_>) -> Result<Progress, Error> {
        let r = self.rect;
        let b = input.remaining();
        if b.len() < 4 {
            return Ok(Progress::NeedMore);
        }
        let bpp = t.pixels.bpp();
        let size = r.area() * bpp;
        let len = be32(b, 0) as usize;
        let max_len = max_compressed(size);
        if len > max_len {
            return Err(Error::TooLong { what: "Zlib rectangle", len: len as u64, limit: max_len as u64 });
        }
        let Some(data) = b.get(4..4 + len) else {
            return Ok(Progress::NeedMore);
        };
        input.advance(4 + len);
        let n = self.zlib.inflate(data, &mut self.out, size, "decompressed Zlib rectangle")?;
        if n < size {
            return Err(Error::invalid("Zlib", format!("{n} bytes of pixels for a {}x{} rectangle", r.w, r.h)));
        }
        if r.w > 0 {
            for (y, src) in self.out[..size].chunks_exact(r.w as usize * bpp).enumerate() {
                t.pixels.convert_row(src, t.fb.row_mut(r.x, r.y + y as u16, r.w));
            }
        }
        t.fb.add_damage(r);
        Ok(Progress::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testing::*;
    use crate::decode::zstream::testing::{compress, new_stream};
    use crate::framebuffer::Framebuffer;
    use crate::pixel::{PixelFormat, PixelTranslator};
    use rand::{Rng, SeedableRng};

    type Rgb = [u8; 3];

    fn image(w: usize, h: usize, k: u8) -> Vec<Rgb> {
        (0..w * h).map(|i| [(i * 7) as u8 ^ k, (i / w * 30) as u8, k.wrapping_mul(i as u8)]).collect()
    }

    fn pixels(pf: &PixelFormat, img: &[Rgb]) -> Vec<u8> {
        img.iter().flat_map(|c| wire(pf, *c)).collect()
    }

    fn check(fb: &Framebuffer, pf: &PixelFormat, r: Rect, img: &[Rgb]) {
        let t = PixelTranslator::new(*pf);
        for y in 0..r.h {
            for x in 0..r.w {
                let want = t.rgba(&wire(pf, img[(y * r.w + x) as usize]));
                assert_eq!(fb.pixel(r.x + x, r.y + y), want, "{pf:?} {x},{y}");
            }
        }
    }

    #[test]
    fn every_format_every_split_and_a_shared_stream() {
        for pf in formats() {
            let (r1, r2) = (Rect::new(2, 1, 13, 9), Rect::new(0, 5, 20, 3));
            let (img1, img2) = (image(13, 9, 3), image(20, 3, 91));
            let mut z = new_stream();
            let msg1 = compress(&mut z, &pixels(&pf, &img1));
            let msg1b = compress(&mut z, &pixels(&pf, &img1));
            let msg2 = compress(&mut z, &pixels(&pf, &img2));
            assert!(msg1b.len() < msg1.len(), "the second copy refers back");
            let fb = decode_all_ways(ZlibDecoder::default, pf, (24, 12), r1, &msg1);
            check(&fb, &pf, r1, &img1);
            assert_eq!(fb.pixel(1, 1), [0, 0, 0, 255], "outside");
            let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
            for way in 0..5 {
                let mut chunk = || match way {
                    0 => usize::MAX,
                    1 => 1,
                    _ => rng.random_range(1..30),
                };
                let mut dec = ZlibDecoder::default();
                let a = decode_chunked(&mut dec, pf, (24, 12), r1, &msg1, &mut chunk).unwrap();
                let b = decode_chunked(&mut dec, pf, (24, 12), r1, &msg1b, &mut chunk).unwrap();
                let c = decode_chunked(&mut dec, pf, (24, 12), r2, &msg2, &mut chunk).unwrap();
                check(&a, &pf, r1, &img1);
                check(&b, &pf, r1, &img1);
                check(&c, &pf, r2, &img2);
            }
            // the second copy needs the first one's window
            assert!(decode_chunked(&mut ZlibDecoder::default(), pf, (24, 12), r1, &msg1b, || 9).is_err());
        }
        // a known pixel in the client's own format
        let fb = decode_all_ways(
            ZlibDecoder::default,
            PixelFormat::RGBX32,
            (4, 4),
            Rect::new(1, 1, 1, 1),
            &compress(&mut new_stream(), &[9, 8, 7, 0]),
        );
        assert_eq!(fb.pixel(1, 1), [9, 8, 7, 255]);
        assert_eq!(fb.damage().last(), Some(&Rect::new(1, 1, 1, 1)));
    }

    #[test]
    fn empty_rectangles_carry_an_empty_block() {
        let mut z = new_stream();
        let empty = compress(&mut z, &[]);
        let fb = decode_all_ways(ZlibDecoder::default, PixelFormat::RGBX32, (4, 4), Rect::new(0, 0, 0, 3), &empty);
        assert_eq!(fb.pixel(0, 0), [0, 0, 0, 255]);
        let zero = 0u32.to_be_bytes();
        decode_all_ways(ZlibDecoder::default, PixelFormat::RGBX32, (4, 4), Rect::new(0, 0, 3, 0), &zero);
    }

    fn run(msg: &[u8], rect: Rect) -> Result<Framebuffer, Error> {
        decode_chunked(&mut ZlibDecoder::default(), PixelFormat::RGBX32, (16, 16), rect, msg, || usize::MAX)
    }

    #[test]
    fn too_much_or_too_little_data_is_refused() {
        let r = Rect::new(0, 0, 4, 4);
        let short = compress(&mut new_stream(), &[1; 63]);
        assert!(matches!(run(&short, r), Err(Error::InvalidData { .. })));
        let long = compress(&mut new_stream(), &[1; 65]);
        assert!(matches!(run(&long, r), Err(Error::TooLong { .. })));
        assert!(run(&compress(&mut new_stream(), &[1; 64]), r).is_ok());
        // a zip bomb stops at the limit without inflating further
        let bomb = compress(&mut new_stream(), &vec![0; 50 << 20]);
        let mut dec = ZlibDecoder::default();
        let res = decode_chunked(&mut dec, PixelFormat::RGBX32, (16, 16), r, &bomb, || usize::MAX);
        assert!(matches!(res, Err(Error::TooLong { .. })));
        assert!(dec.out.len() <= 65);
        // a length no 4x4 rectangle needs is refused before its bytes arrive
        let mut input = Input::new(&[0xff, 0xff, 0xff, 0xff]);
        let mut fb = Framebuffer::new(16, 16).unwrap();
        let px = PixelTranslator::new(PixelFormat::RGBX32);
        let mut dec = ZlibDecoder::default();
        dec.start(r);
        let res = dec.decode(&mut input, &mut Target { fb: &mut fb, pixels: &px });
        assert!(matches!(res, Err(Error::TooLong { .. })));
        // not zlib
        let mut junk = 10u32.to_be_bytes().to_vec();
        junk.extend([0x55; 10]);
        assert!(matches!(run(&junk, r), Err(Error::Zlib(_))));
    }

    #[test]
    fn random_and_mutated_data_never_panics() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0x21b);
        let valid = compress(&mut new_stream(), &pixels(&PixelFormat::RGBX32, &image(9, 7, 1)));
        let mut ok = 0;
        for i in 0..2000 {
            let mut msg = valid.clone();
            if i % 2 == 0 {
                for _ in 0..rng.random_range(1..5) {
                    let at = rng.random_range(0..msg.len());
                    msg[at] = rng.random();
                }
            } else {
                msg.truncate(4);
                msg.extend((0..rng.random_range(0..200)).map(|_| rng.random::<u8>()));
                let n = (msg.len() - 4) as u32;
                msg[..4].copy_from_slice(&n.to_be_bytes());
            }
            let rect = Rect::new(
                rng.random_range(0..4),
                rng.random_range(0..4),
                rng.random_range(0..12),
                rng.random_range(0..12),
            );
            if run(&msg, rect).is_ok() {
                ok += 1;
            }
        }
        assert!(ok < 2000);
    }
}
