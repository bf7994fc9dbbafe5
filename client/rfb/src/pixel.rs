//! Pixel formats (RFC 6143 §7.4) and the translation of wire pixels into RGBA.

use crate::error::Error;

/// A PIXEL_FORMAT as sent in ServerInit and SetPixelFormat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PixelFormat {
    pub bits_per_pixel: u8,
    pub depth: u8,
    pub big_endian: bool,
    pub true_colour: bool,
    pub red_max: u16,
    pub green_max: u16,
    pub blue_max: u16,
    pub red_shift: u8,
    pub green_shift: u8,
    pub blue_shift: u8,
}

impl PixelFormat {
    /// 32 bpp, depth 24, little-endian, shifts R 0 / G 8 / B 16: the bytes on the wire are
    /// R, G, B, X — the framebuffer's own RGBA layout, so raw pixels copy straight in.
    pub const RGBX32: PixelFormat = PixelFormat {
        bits_per_pixel: 32,
        depth: 24,
        big_endian: false,
        true_colour: true,
        red_max: 255,
        green_max: 255,
        blue_max: 255,
        red_shift: 0,
        green_shift: 8,
        blue_shift: 16,
    };

    /// 16 bpp RGB565, little-endian.
    pub const RGB565: PixelFormat = PixelFormat {
        bits_per_pixel: 16,
        depth: 16,
        big_endian: false,
        true_colour: true,
        red_max: 31,
        green_max: 63,
        blue_max: 31,
        red_shift: 11,
        green_shift: 5,
        blue_shift: 0,
    };

    /// 8 bpp BGR233 true colour.
    pub const BGR233: PixelFormat = PixelFormat {
        bits_per_pixel: 8,
        depth: 8,
        big_endian: false,
        true_colour: true,
        red_max: 7,
        green_max: 7,
        blue_max: 3,
        red_shift: 0,
        green_shift: 3,
        blue_shift: 6,
    };

    /// 8 bpp colour-mapped.
    pub const COLOUR_MAP8: PixelFormat = PixelFormat {
        bits_per_pixel: 8,
        depth: 8,
        big_endian: false,
        true_colour: false,
        red_max: 0,
        green_max: 0,
        blue_max: 0,
        red_shift: 0,
        green_shift: 0,
        blue_shift: 0,
    };

    /// Bytes per pixel on the wire.
    pub fn bytes_per_pixel(&self) -> usize {
        self.bits_per_pixel as usize / 8
    }

    /// Parses the 16-byte wire form; rejects formats no decoder can handle.
    pub fn parse(b: &[u8; 16]) -> Result<PixelFormat, Error> {
        let pf = PixelFormat {
            bits_per_pixel: b[0],
            depth: b[1],
            big_endian: b[2] != 0,
            true_colour: b[3] != 0,
            red_max: u16::from_be_bytes([b[4], b[5]]),
            green_max: u16::from_be_bytes([b[6], b[7]]),
            blue_max: u16::from_be_bytes([b[8], b[9]]),
            red_shift: b[10],
            green_shift: b[11],
            blue_shift: b[12],
        };
        pf.validate()?;
        Ok(pf)
    }

    /// Checks that the format is one the decoders support: 8, 16 or 32 bpp, and for true colour,
    /// shifts that keep every channel inside the pixel.
    pub fn validate(&self) -> Result<(), Error> {
        if !matches!(self.bits_per_pixel, 8 | 16 | 32) {
            return Err(Error::UnsupportedPixelFormat(format!(
                "{} bits per pixel (only 8, 16 and 32 exist in RFB)",
                self.bits_per_pixel
            )));
        }
        if self.true_colour {
            for (max, shift) in
                [(self.red_max, self.red_shift), (self.green_max, self.green_shift), (self.blue_max, self.blue_shift)]
            {
                if max == 0 || shift >= 32 || ((max as u64) << shift) > 0xffff_ffff {
                    return Err(Error::UnsupportedPixelFormat(format!(
                        "channel max {max} shift {shift} does not fit a {}-bit pixel",
                        self.bits_per_pixel
                    )));
                }
            }
        }
        Ok(())
    }

    /// The 16-byte wire form.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0] = self.bits_per_pixel;
        b[1] = self.depth;
        b[2] = self.big_endian as u8;
        b[3] = self.true_colour as u8;
        b[4..6].copy_from_slice(&self.red_max.to_be_bytes());
        b[6..8].copy_from_slice(&self.green_max.to_be_bytes());
        b[8..10].copy_from_slice(&self.blue_max.to_be_bytes());
        b[10] = self.red_shift;
        b[11] = self.green_shift;
        b[12] = self.blue_shift;
        b
    }

    /// True when wire pixels are already R, G, B, X bytes (a plain copy plus opaque alpha).
    pub fn is_rgbx32(&self) -> bool {
        self.true_colour
            && self.bits_per_pixel == 32
            && self.red_max == 255
            && self.green_max == 255
            && self.blue_max == 255
            && ((!self.big_endian && self.red_shift == 0 && self.green_shift == 8 && self.blue_shift == 16)
                || (self.big_endian && self.red_shift == 24 && self.green_shift == 16 && self.blue_shift == 8))
    }

    /// ZRLE/TRLE "compact pixel": 3 bytes when a 32-bpp true-colour pixel of depth ≤ 24 has all its
    /// colour bits in the low or the high three bytes. Returns (bytes, offset of those bytes in the
    /// 4-byte pixel as it appears on the wire).
    pub fn cpixel(&self) -> (usize, usize) {
        if self.true_colour && self.bits_per_pixel == 32 && self.depth <= 24 {
            let mask = ((self.red_max as u32) << self.red_shift)
                | ((self.green_max as u32) << self.green_shift)
                | ((self.blue_max as u32) << self.blue_shift);
            let fits_low = mask & 0xff00_0000 == 0;
            let fits_high = mask & 0x0000_00ff == 0;
            // The three significant bytes are the first three in memory when they are the low
            // bytes of a little-endian pixel, or the high bytes of a big-endian one.
            if fits_low {
                return (3, if self.big_endian { 1 } else { 0 });
            }
            if fits_high {
                return (3, if self.big_endian { 0 } else { 1 });
            }
        }
        (self.bytes_per_pixel(), 0)
    }
}

/// Turns wire pixels of one format into RGBA bytes, with per-channel lookup tables so that the
/// general case costs a load, three masks and three table reads per pixel.
#[derive(Clone, Debug)]
pub struct PixelTranslator {
    pf: PixelFormat,
    bpp: usize,
    rgbx: bool,
    red: Vec<u8>,
    green: Vec<u8>,
    blue: Vec<u8>,
    /// Colour map (SetColourMapEntries), RGBA, for non-true-colour formats.
    colour_map: Vec<[u8; 4]>,
}

fn scale_table(max: u16) -> Vec<u8> {
    let max = max.max(1) as u32;
    (0..=max).map(|v| ((v * 255 + max / 2) / max) as u8).collect()
}

impl PixelTranslator {
    pub fn new(pf: PixelFormat) -> PixelTranslator {
        PixelTranslator {
            bpp: pf.bytes_per_pixel(),
            rgbx: pf.is_rgbx32(),
            red: if pf.true_colour { scale_table(pf.red_max) } else { Vec::new() },
            green: if pf.true_colour { scale_table(pf.green_max) } else { Vec::new() },
            blue: if pf.true_colour { scale_table(pf.blue_max) } else { Vec::new() },
            colour_map: Vec::new(),
            pf,
        }
    }

    pub fn format(&self) -> &PixelFormat {
        &self.pf
    }

    /// Bytes per wire pixel.
    #[inline]
    pub fn bpp(&self) -> usize {
        self.bpp
    }

    /// Stores colour-map entries (16-bit channels) starting at `first`.
    pub fn set_colour_map(&mut self, first: u16, entries: &[[u16; 3]]) {
        let end = first as usize + entries.len();
        if self.colour_map.len() < end {
            self.colour_map.resize(end, [0, 0, 0, 255]);
        }
        for (slot, e) in self.colour_map[first as usize..end].iter_mut().zip(entries) {
            *slot = [(e[0] >> 8) as u8, (e[1] >> 8) as u8, (e[2] >> 8) as u8, 255];
        }
    }

    /// Keeps the colour map when the pixel format changes (it belongs to the connection).
    pub fn with_colour_map_of(mut self, other: &PixelTranslator) -> PixelTranslator {
        self.colour_map = other.colour_map.clone();
        self
    }

    /// Reads one wire pixel value (bpp bytes, in the format's byte order) as an integer.
    #[inline]
    pub fn value(&self, b: &[u8]) -> u32 {
        match self.bpp {
            4 => {
                let a = [b[0], b[1], b[2], b[3]];
                if self.pf.big_endian { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) }
            }
            2 => {
                let a = [b[0], b[1]];
                (if self.pf.big_endian { u16::from_be_bytes(a) } else { u16::from_le_bytes(a) }) as u32
            }
            _ => b[0] as u32,
        }
    }

    /// RGBA of a pixel value.
    #[inline]
    pub fn rgba_of_value(&self, v: u32) -> [u8; 4] {
        if self.pf.true_colour {
            let pf = &self.pf;
            // Masking by max keeps every index inside its table (tables have max + 1 entries).
            [
                self.red[((v >> pf.red_shift) & pf.red_max as u32) as usize],
                self.green[((v >> pf.green_shift) & pf.green_max as u32) as usize],
                self.blue[((v >> pf.blue_shift) & pf.blue_max as u32) as usize],
                255,
            ]
        } else {
            self.colour_map.get(v as usize).copied().unwrap_or([0, 0, 0, 255])
        }
    }

    /// RGBA of one wire pixel (`b` holds at least bpp bytes).
    #[inline]
    pub fn rgba(&self, b: &[u8]) -> [u8; 4] {
        if self.rgbx { [b[0], b[1], b[2], 255] } else { self.rgba_of_value(self.value(b)) }
    }

    /// Converts a run of wire pixels into RGBA (`dst.len() / 4` pixels from `src`).
    #[inline]
    pub fn convert_row(&self, src: &[u8], dst: &mut [u8]) {
        if self.rgbx {
            rgbx_row(src, dst);
        } else {
            for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(self.bpp)) {
                d.copy_from_slice(&self.rgba(s));
            }
        }
    }

    /// RGBA of a ZRLE/TRLE compact pixel of `len` bytes, `offset` as given by
    /// [`PixelFormat::cpixel`].
    #[inline]
    pub fn rgba_cpixel(&self, b: &[u8], len: usize, offset: usize) -> [u8; 4] {
        if len == 3 && self.bpp == 4 {
            let mut p = [0u8; 4];
            p[offset..offset + 3].copy_from_slice(&b[..3]);
            self.rgba(&p)
        } else {
            self.rgba(b)
        }
    }
}

/// RGBX wire pixels (noVNC's format and the console's default: R, G, B, unused) into RGBA with
/// opaque alpha, `dst.len() / 4` pixels: a copy that sets every fourth byte. In the browser build
/// sixteen bytes a step with wasm SIMD (Raw rectangles are this copy alone); elsewhere a word at a
/// time, which the compiler vectorises. Public, hidden, so that the client's in-browser tests can
/// check the SIMD path where it is compiled.
#[doc(hidden)]
#[inline]
pub fn rgbx_row(src: &[u8], dst: &mut [u8]) {
    let n = (dst.len() / 4).min(src.len() / 4) * 4;
    let (src, dst) = (&src[..n], &mut dst[..n]);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let (src, dst) = {
        use core::arch::wasm32::*;
        let alpha = u32x4_splat(0xff00_0000);
        let mut d16 = dst.chunks_exact_mut(16);
        let mut s16 = src.chunks_exact(16);
        for (d, s) in (&mut d16).zip(&mut s16) {
            // SAFETY: one 16-byte load from `s` and one store into `d`, both exactly 16 bytes;
            // v128_load and v128_store need no alignment.
            unsafe { v128_store(d.as_mut_ptr().cast::<v128>(), v128_or(v128_load(s.as_ptr().cast::<v128>()), alpha)) };
        }
        (s16.remainder(), d16.into_remainder())
    };
    for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
        let v = u32::from_le_bytes(s.try_into().expect("4-byte chunk")) | 0xff00_0000;
        d.copy_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgbx_roundtrip_bytes() {
        let pf = PixelFormat::RGBX32;
        assert_eq!(PixelFormat::parse(&pf.to_bytes()).unwrap(), pf);
        let t = PixelTranslator::new(pf);
        assert_eq!(t.rgba(&[1, 2, 3, 99]), [1, 2, 3, 255]);
    }

    #[test]
    fn rgb565_both_endians() {
        // pure red 0xF800
        let le = PixelTranslator::new(PixelFormat::RGB565);
        assert_eq!(le.rgba(&[0x00, 0xF8]), [255, 0, 0, 255]);
        let be = PixelTranslator::new(PixelFormat { big_endian: true, ..PixelFormat::RGB565 });
        assert_eq!(be.rgba(&[0xF8, 0x00]), [255, 0, 0, 255]);
        assert_eq!(be.rgba(&[0x07, 0xE0]), [0, 255, 0, 255]);
    }

    #[test]
    fn bgr233_scales() {
        let t = PixelTranslator::new(PixelFormat::BGR233);
        assert_eq!(t.rgba(&[0xff]), [255, 255, 255, 255]);
        assert_eq!(t.rgba(&[0b11_000_000]), [0, 0, 255, 255]);
        assert_eq!(t.rgba(&[0b00_000_100]), [146, 0, 0, 255]);
    }

    #[test]
    fn colour_map() {
        let mut t = PixelTranslator::new(PixelFormat::COLOUR_MAP8);
        t.set_colour_map(10, &[[0xffff, 0x8000, 0]]);
        assert_eq!(t.rgba(&[10]), [255, 128, 0, 255]);
        assert_eq!(t.rgba(&[11]), [0, 0, 0, 255]);
    }

    #[test]
    fn rejects_bad_formats() {
        let mut b = PixelFormat::RGBX32.to_bytes();
        b[0] = 24;
        assert!(PixelFormat::parse(&b).is_err());
        let mut b = PixelFormat::RGBX32.to_bytes();
        b[10] = 30; // red shift 30 with max 255 overflows
        assert!(PixelFormat::parse(&b).is_err());
    }

    #[test]
    fn cpixel_layouts() {
        assert_eq!(PixelFormat::RGBX32.cpixel(), (3, 0));
        let be = PixelFormat { big_endian: true, ..PixelFormat::RGBX32 };
        assert_eq!(be.cpixel(), (3, 1));
        let high = PixelFormat { red_shift: 24, green_shift: 16, blue_shift: 8, ..PixelFormat::RGBX32 };
        assert_eq!(high.cpixel(), (3, 1));
        assert_eq!(PixelFormat::RGB565.cpixel(), (2, 0));
    }
}
