//! The client's pixel format (RFC 6143 §7.4) as seen by the server: validation of
//! SetPixelFormat and conversion of the desktop's 0x00RRGGBB pixels into wire pixels.

use anyhow::{Result, bail};

/// A PIXEL_FORMAT; only true-colour formats of 8, 16 or 32 bits per pixel are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PixelFormat {
    pub bpp: u8,
    pub depth: u8,
    pub big_endian: bool,
    pub max: [u16; 3],
    pub shift: [u8; 3],
}

impl PixelFormat {
    /// The server's native format: 32 bpp, depth 24, little-endian, R<<16 | G<<8 | B.
    pub const NATIVE: PixelFormat =
        PixelFormat { bpp: 32, depth: 24, big_endian: false, max: [255, 255, 255], shift: [16, 8, 0] };

    /// The 16-byte wire form (ServerInit, SetPixelFormat).
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0] = self.bpp;
        b[1] = self.depth;
        b[2] = self.big_endian as u8;
        b[3] = 1;
        b[4..6].copy_from_slice(&self.max[0].to_be_bytes());
        b[6..8].copy_from_slice(&self.max[1].to_be_bytes());
        b[8..10].copy_from_slice(&self.max[2].to_be_bytes());
        b[10..13].copy_from_slice(&self.shift);
        b
    }

    /// Parses and validates the 16-byte wire form sent by a client.
    pub fn from_bytes(b: &[u8; 16]) -> Result<PixelFormat> {
        let bpp = b[0];
        if !matches!(bpp, 8 | 16 | 32) {
            bail!("SetPixelFormat: {bpp} bits per pixel is not supported (use 8, 16 or 32)");
        }
        if b[3] == 0 {
            bail!("SetPixelFormat: colour-map formats are not supported (use a true-colour format)");
        }
        let max =
            [u16::from_be_bytes([b[4], b[5]]), u16::from_be_bytes([b[6], b[7]]), u16::from_be_bytes([b[8], b[9]])];
        let shift = [b[10], b[11], b[12]];
        for (m, s) in max.iter().zip(shift) {
            if u32::from(s) >= u32::from(bpp) || (u64::from(*m) << s) >= (1u64 << bpp) {
                bail!("SetPixelFormat: a colour channel (max {m}, shift {s}) does not fit in {bpp} bits");
            }
        }
        Ok(PixelFormat { bpp, depth: b[1], big_endian: b[2] != 0, max, shift })
    }
}

/// Turns desktop pixels (0x00RRGGBB) into the client's wire pixels.
pub(crate) struct Converter {
    table: [[u32; 256]; 3],
    bytes: usize,
    big_endian: bool,
    /// ZRLE's CPIXEL: how many bytes and from which offset of the full wire pixel.
    cpixel_len: usize,
    cpixel_offset: usize,
}

impl Converter {
    pub fn new(pf: &PixelFormat) -> Converter {
        let mut table = [[0u32; 256]; 3];
        for (ch, t) in table.iter_mut().enumerate() {
            let max = u32::from(pf.max[ch]);
            for (v, slot) in t.iter_mut().enumerate() {
                *slot = ((v as u32 * max + 127) / 255) << pf.shift[ch];
            }
        }
        let bytes = usize::from(pf.bpp / 8);
        let max_pixel = (0..3).fold(0u64, |acc, ch| acc | (u64::from(pf.max[ch]) << pf.shift[ch]));
        let (cpixel_len, cpixel_offset) = if pf.bpp == 32 && pf.depth <= 24 {
            if max_pixel < (1 << 24) {
                // the least significant three bytes
                (3, if pf.big_endian { 1 } else { 0 })
            } else if max_pixel & 0xff == 0 {
                // the most significant three bytes
                (3, if pf.big_endian { 0 } else { 1 })
            } else {
                (4, 0)
            }
        } else {
            (bytes, 0)
        };
        Converter { table, bytes, big_endian: pf.big_endian, cpixel_len, cpixel_offset }
    }

    #[inline]
    pub fn pixel(&self, rgb: u32) -> u32 {
        self.table[0][((rgb >> 16) & 0xff) as usize]
            | self.table[1][((rgb >> 8) & 0xff) as usize]
            | self.table[2][(rgb & 0xff) as usize]
    }

    pub fn bytes_per_pixel(&self) -> usize {
        self.bytes
    }

    pub fn cpixel_len(&self) -> usize {
        self.cpixel_len
    }

    #[inline]
    fn wire(&self, p: u32) -> [u8; 4] {
        match (self.bytes, self.big_endian) {
            (1, _) => [p as u8, 0, 0, 0],
            (2, false) => {
                let b = (p as u16).to_le_bytes();
                [b[0], b[1], 0, 0]
            }
            (2, true) => {
                let b = (p as u16).to_be_bytes();
                [b[0], b[1], 0, 0]
            }
            (_, false) => p.to_le_bytes(),
            (_, true) => p.to_be_bytes(),
        }
    }

    /// Appends a full wire pixel (PIXEL).
    #[inline]
    pub fn put(&self, out: &mut Vec<u8>, p: u32) {
        out.extend_from_slice(&self.wire(p)[..self.bytes]);
    }

    /// Appends a compressed pixel (ZRLE's CPIXEL).
    #[inline]
    pub fn put_cpixel(&self, out: &mut Vec<u8>, p: u32) {
        out.extend_from_slice(&self.wire(p)[self.cpixel_offset..self.cpixel_offset + self.cpixel_len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(bpp: u8, depth: u8, be: bool, max: [u16; 3], shift: [u8; 3]) -> [u8; 16] {
        PixelFormat { bpp, depth, big_endian: be, max, shift }.to_bytes()
    }

    #[test]
    fn native_round_trips_and_rejects_bad_formats() {
        assert_eq!(PixelFormat::from_bytes(&PixelFormat::NATIVE.to_bytes()).unwrap(), PixelFormat::NATIVE);
        assert!(PixelFormat::from_bytes(&fmt(24, 24, false, [255; 3], [16, 8, 0])).is_err());
        assert!(PixelFormat::from_bytes(&fmt(16, 16, false, [255, 63, 31], [11, 5, 0])).is_err());
        assert!(PixelFormat::from_bytes(&fmt(8, 8, false, [7, 7, 3], [0, 3, 9])).is_err());
        let mut cmap = fmt(8, 8, false, [0; 3], [0; 3]);
        cmap[3] = 0;
        assert!(PixelFormat::from_bytes(&cmap).is_err());
    }

    #[test]
    fn converts_to_rgb565_and_rgbx_and_cpixels() {
        let pf565 = PixelFormat::from_bytes(&fmt(16, 16, false, [31, 63, 31], [11, 5, 0])).unwrap();
        let c = Converter::new(&pf565);
        assert_eq!(c.pixel(0xff0000), 0xf800);
        assert_eq!(c.pixel(0x00ff00), 0x07e0);
        assert_eq!(c.pixel(0x0000ff), 0x001f);
        let mut out = Vec::new();
        c.put(&mut out, 0xf800);
        c.put_cpixel(&mut out, 0x07e0);
        assert_eq!(out, [0x00, 0xf8, 0xe0, 0x07]);

        let rgbx = PixelFormat::from_bytes(&fmt(32, 24, false, [255; 3], [0, 8, 16])).unwrap();
        let c = Converter::new(&rgbx);
        let mut out = Vec::new();
        c.put(&mut out, c.pixel(0x123456));
        c.put_cpixel(&mut out, c.pixel(0x123456));
        assert_eq!(out, [0x12, 0x34, 0x56, 0, 0x12, 0x34, 0x56]);

        // Big-endian with the colours in the top three bytes: CPIXEL is the first three bytes.
        let be_ms = PixelFormat::from_bytes(&fmt(32, 24, true, [255; 3], [24, 16, 8])).unwrap();
        let c = Converter::new(&be_ms);
        let mut out = Vec::new();
        c.put_cpixel(&mut out, c.pixel(0x123456));
        assert_eq!(out, [0x12, 0x34, 0x56]);

        // depth 32: no CPIXEL shortcut.
        let d32 = PixelFormat::from_bytes(&fmt(32, 32, false, [255; 3], [16, 8, 0])).unwrap();
        assert_eq!(Converter::new(&d32).cpixel_len(), 4);
    }
}
