//! One decoder per encoding. A decoder is handed a rectangle header, then fed whatever bytes have
//! arrived; it consumes whole units (a row of pixels, a tile, a length-prefixed block) and asks
//! for more when a unit is incomplete, so a rectangle may arrive split at any byte.

use crate::error::Error;
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelTranslator;

pub mod copyrect;
pub mod hextile;
pub(crate) mod image;
pub mod jpeg;
pub mod raw;
pub mod rre;
pub mod tight;
pub mod trle;
pub mod zlib;
pub mod zrle;
pub(crate) mod zstream;

/// Bytes received and not yet consumed. Decoders take whole units from the front.
#[derive(Debug)]
pub struct Input<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    pub fn new(buf: &'a [u8]) -> Input<'a> {
        Input { buf, pos: 0 }
    }

    /// Unconsumed bytes.
    #[inline]
    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks `n` bytes consumed (`n <= len()`).
    #[inline]
    pub fn advance(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.pos += n;
    }

    /// Takes exactly `n` bytes, or nothing when fewer have arrived.
    #[inline]
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.len() < n {
            return None;
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Some(s)
    }

    /// Bytes consumed so far.
    pub fn consumed(&self) -> usize {
        self.pos
    }
}

/// What a decoder draws into, and how it reads pixels.
pub struct Target<'a> {
    pub fb: &'a mut Framebuffer,
    pub pixels: &'a PixelTranslator,
}

/// Progress on the current rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The rectangle is fully decoded.
    Done,
    /// More bytes are needed.
    NeedMore,
}

/// A decoder for one encoding. The connection keeps one instance per encoding for its whole life,
/// so state that spans rectangles (zlib streams) lives here.
pub trait Decoder {
    /// A new rectangle starts. `rect` has been checked to lie inside the framebuffer.
    fn start(&mut self, rect: Rect);

    /// Consumes as much of `input` as forms whole units and draws them. Returns
    /// [`Progress::Done`] when the rectangle is complete. Must record damage for what it drew.
    fn decode(&mut self, input: &mut Input<'_>, target: &mut Target<'_>) -> Result<Progress, Error>;
}

/// Reads a big-endian u16 at `o`.
#[inline]
pub(crate) fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}

/// Reads a big-endian u32 at `o`.
#[inline]
pub(crate) fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

#[cfg(test)]
pub(crate) mod testing {
    //! Feeds one rectangle to a decoder whole, byte by byte and in random chunks, and checks the
    //! pixels come out the same every time.
    use super::*;
    use crate::pixel::PixelFormat;
    use rand::{Rng, SeedableRng};

    /// Decodes `data` as one rectangle `rect` into a `w`x`h` framebuffer (pre-filled by `init`),
    /// feeding it in chunks of the sizes `chunks` yields. Returns the framebuffer, or the error.
    pub fn decode_chunked<D: Decoder>(
        dec: &mut D,
        pf: PixelFormat,
        (w, h): (u16, u16),
        rect: Rect,
        data: &[u8],
        mut chunk: impl FnMut() -> usize,
    ) -> Result<Framebuffer, Error> {
        let mut fb = Framebuffer::new(w, h).unwrap();
        let pixels = PixelTranslator::new(pf);
        fb.check(&rect)?;
        dec.start(rect);
        let mut pending: Vec<u8> = Vec::new();
        let mut fed = 0;
        loop {
            let n = chunk().max(1).min(data.len() - fed);
            pending.extend_from_slice(&data[fed..fed + n]);
            fed += n;
            let mut input = Input::new(&pending);
            let progress = dec.decode(&mut input, &mut Target { fb: &mut fb, pixels: &pixels })?;
            let used = input.consumed();
            pending.drain(..used);
            if progress == Progress::Done {
                assert!(
                    pending.is_empty() && fed == data.len(),
                    "decoder finished early: {} bytes left",
                    pending.len() + data.len() - fed
                );
                return Ok(fb);
            }
            if fed == data.len() {
                return Err(Error::invalid("test", "decoder wants more bytes than the rectangle has"));
            }
        }
    }

    /// Decodes whole, byte by byte and in 20 random chunkings (fresh decoder each time from
    /// `make`), asserts identical pixels, and returns the framebuffer.
    pub fn decode_all_ways<D: Decoder>(
        make: impl Fn() -> D,
        pf: PixelFormat,
        size: (u16, u16),
        rect: Rect,
        data: &[u8],
    ) -> Framebuffer {
        let whole = decode_chunked(&mut make(), pf, size, rect, data, || usize::MAX).expect("decode whole");
        let bytewise = decode_chunked(&mut make(), pf, size, rect, data, || 1).expect("decode byte by byte");
        assert_eq!(whole.data(), bytewise.data(), "byte-by-byte decode differs");
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0x0c5);
        for _ in 0..20 {
            let max = rng.random_range(2..64);
            let fb =
                decode_chunked(&mut make(), pf, size, rect, data, || rng.random_range(1..max)).expect("decode chunked");
            assert_eq!(whole.data(), fb.data(), "chunked decode differs");
        }
        whole
    }

    /// Encodes RGBA colours as wire pixels of `pf` (true colour) for building vectors.
    pub fn wire(pf: &PixelFormat, rgb: [u8; 3]) -> Vec<u8> {
        let scale = |c: u8, max: u16| (c as u32 * max as u32 + 127) / 255;
        let v = (scale(rgb[0], pf.red_max) << pf.red_shift)
            | (scale(rgb[1], pf.green_max) << pf.green_shift)
            | (scale(rgb[2], pf.blue_max) << pf.blue_shift);
        match (pf.bits_per_pixel, pf.big_endian) {
            (32, false) => v.to_le_bytes().to_vec(),
            (32, true) => v.to_be_bytes().to_vec(),
            (16, false) => (v as u16).to_le_bytes().to_vec(),
            (16, true) => (v as u16).to_be_bytes().to_vec(),
            _ => vec![v as u8],
        }
    }

    /// The pixel formats every decoder is tested with.
    pub fn formats() -> Vec<PixelFormat> {
        vec![
            PixelFormat::RGBX32,
            PixelFormat { big_endian: true, ..PixelFormat::RGBX32 },
            // Xvnc's native format: 32 bpp, shifts 16/8/0
            PixelFormat { red_shift: 16, green_shift: 8, blue_shift: 0, ..PixelFormat::RGBX32 },
            PixelFormat { red_shift: 16, green_shift: 8, blue_shift: 0, big_endian: true, ..PixelFormat::RGBX32 },
            PixelFormat::RGB565,
            PixelFormat { big_endian: true, ..PixelFormat::RGB565 },
            PixelFormat::BGR233,
        ]
    }
}
