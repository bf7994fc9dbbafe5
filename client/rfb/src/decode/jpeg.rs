//! JPEG (21): the rectangle is one baseline or progressive JPEG image of exactly its size, with
//! no length before it: where it ends is found by walking its segments (SOI, marker segments with
//! their lengths, entropy-coded data after each SOS up to the next marker that is not a restart
//! or a stuffed 0xFF, EOI). A server may leave out the quantisation and Huffman tables when they
//! are the same as in its previous image, so the decoder keeps the last tables it saw and puts
//! them back in front of an image that has none.
//!
//! The segments are walked as bytes arrive (where the walk stopped is kept, nothing is consumed
//! until EOI), and an image larger than the rectangle could plausibly need is refused.

use super::image::draw_jpeg;
use super::{Decoder, Input, Progress, Target, be16};
use crate::error::Error;
use crate::framebuffer::Rect;

const ENC: &str = "JPEG";

#[derive(Debug, Default)]
pub struct JpegDecoder {
    rect: Rect,
    /// How far the walk has got into the unconsumed input, and whether it is inside
    /// entropy-coded data.
    walked: usize,
    in_scan: bool,
    /// The last DQT and DHT segments seen (markers included), for images without them.
    tables_dqt: Vec<u8>,
    tables_dht: Vec<u8>,
    /// The image with tables put back, and the decoded pixels.
    image: Vec<u8>,
    pixels: Vec<u8>,
}

/// The most bytes accepted for the JPEG image of `r`: far above what any quality needs (under
/// 3 bytes a pixel even at quality 100 without subsampling), plus room for headers and tables.
fn max_len(r: &Rect) -> usize {
    r.area() * 6 + 64 * 1024
}

/// Where a JPEG image ends, walking from `*pos` (with `*in_scan` saying whether that is inside
/// entropy-coded data): `Some(end)` once EOI has arrived, `None` when more bytes are needed (with
/// `*pos` and `*in_scan` advanced past what was walked). `segment` is called with every marker
/// segment (from its 0xFF to its end) as it is passed.
pub(crate) fn walk(
    b: &[u8],
    pos: &mut usize,
    in_scan: &mut bool,
    mut segment: impl FnMut(u8, &[u8]),
) -> Result<Option<usize>, Error> {
    if *pos == 0 {
        match b.get(..2) {
            None => return Ok(None),
            Some([0xff, 0xd8]) => *pos = 2,
            Some(_) => return Err(Error::invalid(ENC, "the image does not start with SOI")),
        }
    }
    loop {
        if *in_scan {
            // Entropy-coded data: 0xFF 0x00 is a data byte, 0xFF 0xD0..=0xD7 a restart marker.
            loop {
                let Some(&v) = b.get(*pos) else {
                    return Ok(None);
                };
                if v != 0xff {
                    *pos += 1;
                    continue;
                }
                let Some(&m) = b.get(*pos + 1) else {
                    return Ok(None);
                };
                if m == 0x00 || (0xd0..=0xd7).contains(&m) || m == 0xff {
                    *pos += if m == 0xff { 1 } else { 2 };
                    continue;
                }
                *in_scan = false;
                break;
            }
        }
        let Some(head) = b.get(*pos..*pos + 2) else {
            return Ok(None);
        };
        if head[0] != 0xff {
            return Err(Error::invalid(ENC, format!("expected a marker at byte {}", *pos)));
        }
        let marker = head[1];
        match marker {
            0xd9 => return Ok(Some(*pos + 2)),
            // Fill bytes before a marker.
            0xff => *pos += 1,
            0xd8 | 0xd0..=0xd7 | 0x01 => *pos += 2,
            _ => {
                let Some(len) = b.get(*pos + 2..*pos + 4).map(|l| be16(l, 0) as usize) else {
                    return Ok(None);
                };
                if len < 2 {
                    return Err(Error::invalid(ENC, "a segment shorter than its length"));
                }
                let end = *pos + 2 + len;
                let Some(seg) = b.get(*pos..end) else {
                    return Ok(None);
                };
                segment(marker, seg);
                *pos = end;
                if marker == 0xda {
                    *in_scan = true;
                }
            }
        }
    }
}

impl Decoder for JpegDecoder {
    fn start(&mut self, rect: Rect) {
        self.rect = rect;
        self.walked = 0;
        self.in_scan = false;
    }

    fn decode(&mut self, input: &mut Input<'_>, t: &mut Target<'_>) -> Result<Progress, Error> {
        let r = self.rect;
        let b = input.remaining();
        let limit = max_len(&r);
        let (mut pos, mut in_scan) = (self.walked, self.in_scan);
        let end = walk(&b[..b.len().min(limit + 1)], &mut pos, &mut in_scan, |_, _| {})?;
        let Some(end) = end else {
            if b.len() > limit {
                return Err(Error::TooLong { what: "JPEG image", len: b.len() as u64, limit: limit as u64 });
            }
            (self.walked, self.in_scan) = (pos, in_scan);
            return Ok(Progress::NeedMore);
        };
        let data = &b[..end];
        input.advance(end);
        // Collect the tables, then rebuild the image with the cached ones if it has none.
        let (mut dqt, mut dht) = (Vec::new(), Vec::new());
        let (mut p, mut s) = (0, false);
        walk(data, &mut p, &mut s, |m, seg| match m {
            0xdb => dqt.extend_from_slice(seg),
            0xc4 => dht.extend_from_slice(seg),
            _ => {}
        })?;
        if !dqt.is_empty() {
            self.tables_dqt = dqt.clone();
        }
        if !dht.is_empty() {
            self.tables_dht = dht.clone();
        }
        let image: &[u8] = if dqt.is_empty() || dht.is_empty() {
            self.image.clear();
            self.image.extend_from_slice(&data[..2]);
            if dqt.is_empty() {
                self.image.extend_from_slice(&self.tables_dqt);
            }
            if dht.is_empty() {
                self.image.extend_from_slice(&self.tables_dht);
            }
            self.image.extend_from_slice(&data[2..]);
            &self.image
        } else {
            data
        };
        t.fb.add_damage(r);
        if r.is_empty() {
            return Ok(Progress::Done);
        }
        draw_jpeg(ENC, image, r, &mut self.pixels, t.fb)?;
        Ok(Progress::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testing::*;
    use crate::framebuffer::Framebuffer;
    use crate::pixel::{PixelFormat, PixelTranslator};
    use rand::{Rng, SeedableRng};

    fn jpeg(w: u16, h: u16, k: u8) -> (Vec<u8>, Vec<[u8; 3]>) {
        let img: Vec<[u8; 3]> = (0..w as usize * h as usize)
            .map(|i| [(i % w as usize * 4) as u8 ^ k, (i / w as usize * 5) as u8, 100 + k])
            .collect();
        let rgb: Vec<u8> = img.iter().flatten().copied().collect();
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 95).encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb).unwrap();
        (out, img)
    }

    fn close(fb: &Framebuffer, r: Rect, img: &[[u8; 3]]) {
        let mut worst = 0;
        for y in 0..r.h {
            for x in 0..r.w {
                let p = fb.pixel(r.x + x, r.y + y);
                let c = img[(y * r.w + x) as usize];
                for k in 0..3 {
                    worst = worst.max((p[k] as i32 - c[k] as i32).abs());
                }
            }
        }
        assert!(worst < 24, "worst difference {worst}");
    }

    /// Removes the DQT and DHT segments from a JPEG image.
    fn strip_tables(jpg: &[u8]) -> Vec<u8> {
        let mut out = jpg[..2].to_vec();
        let (mut p, mut s) = (0, false);
        let mut keep = Vec::new();
        walk(jpg, &mut p, &mut s, |m, seg| {
            if m != 0xdb && m != 0xc4 {
                keep.push(seg.to_vec());
            }
        })
        .unwrap();
        // everything after the SOS segment is the scan data and EOI
        let sos = jpg.windows(2).position(|w| w == [0xff, 0xda]).unwrap();
        for seg in keep {
            if seg[1] != 0xda {
                out.extend(seg);
            }
        }
        out.extend(&jpg[sos..]);
        out
    }

    #[test]
    fn an_image_split_anywhere_and_reused_tables() {
        let r = Rect::new(2, 3, 24, 16);
        let (jpg, img) = jpeg(24, 16, 7);
        for pf in [PixelFormat::RGBX32, PixelFormat::RGB565] {
            let fb = decode_all_ways(JpegDecoder::default, pf, (30, 20), r, &jpg);
            close(&fb, r, &img);
            assert_eq!(fb.pixel(1, 2), [0, 0, 0, 255]);
        }
        // a second image without tables decodes with the first one's
        let (jpg2, img2) = jpeg(24, 16, 40);
        let bare = strip_tables(&jpg2);
        assert!(bare.len() < jpg2.len() - 100);
        let mut dec = JpegDecoder::default();
        let pf = PixelFormat::RGBX32;
        decode_chunked(&mut dec, pf, (30, 20), r, &jpg, || 5).unwrap();
        let fb = decode_chunked(&mut dec, pf, (30, 20), r, &bare, || 3).unwrap();
        close(&fb, r, &img2);
        // ... but not without them
        let res = decode_chunked(&mut JpegDecoder::default(), pf, (30, 20), r, &bare, || 99);
        assert!(matches!(res, Err(Error::InvalidData { .. })), "{res:?}");
    }

    fn run(r: Rect, data: &[u8]) -> Result<Progress, Error> {
        let px = PixelTranslator::new(PixelFormat::RGBX32);
        let mut fb = Framebuffer::new(64, 64).unwrap();
        let mut dec = JpegDecoder::default();
        dec.start(r);
        dec.decode(&mut Input::new(data), &mut Target { fb: &mut fb, pixels: &px })
    }

    #[test]
    fn bad_and_oversized_images() {
        let r = Rect::new(0, 0, 8, 8);
        assert!(run(r, b"GIF89a").is_err());
        assert_eq!(run(r, &[0xff, 0xd8, 0xff]), Ok(Progress::NeedMore));
        assert!(run(r, &[0xff, 0xd8, 0x00, 0x00]).is_err());
        assert!(run(r, &[0xff, 0xd8, 0xff, 0xe0, 0x00, 0x01]).is_err());
        // SOI, EOI: no frame at all
        assert!(matches!(run(r, &[0xff, 0xd8, 0xff, 0xd9]), Err(Error::InvalidData { .. })));
        // the wrong size
        let (jpg, _) = jpeg(16, 8, 1);
        assert!(matches!(run(r, &jpg), Err(Error::InvalidData { .. })));
        // endless entropy-coded data is refused once past the limit, not buffered forever
        let mut endless = vec![0xff, 0xd8, 0xff, 0xda, 0x00, 0x02];
        endless.extend(vec![0x11; max_len(&r) + 10]);
        assert!(matches!(run(r, &endless), Err(Error::TooLong { .. })));
    }

    #[test]
    fn mutated_images_never_panic() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0x1e9);
        let (jpg, _) = jpeg(16, 16, 3);
        let r = Rect::new(0, 0, 16, 16);
        let mut seen = [0usize; 3];
        for _ in 0..1500 {
            let mut m = jpg.clone();
            for _ in 0..rng.random_range(1..8) {
                let at = rng.random_range(0..m.len());
                m[at] = rng.random();
            }
            if rng.random_bool(0.3) {
                m.truncate(rng.random_range(0..m.len()));
            }
            seen[match run(r, &m) {
                Ok(Progress::Done) => 0,
                Ok(Progress::NeedMore) => 1,
                Err(_) => 2,
            }] += 1;
        }
        assert!(seen[0] > 0 && seen[2] > 0, "{seen:?}");
    }
}
