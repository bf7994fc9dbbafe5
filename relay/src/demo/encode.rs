//! Rectangle encoders: Raw (0) and ZRLE (16, RFC 6143 §7.7.6) into the client's pixel format.

use super::pixfmt::Converter;
use anyhow::{Context, Result};
use flate2::{Compress, Compression, FlushCompress};

/// Appends the Raw encoding of `px` (`w` pixels a row, desktop pixels 0x00RRGGBB).
pub(crate) fn raw(conv: &Converter, px: &[u32], out: &mut Vec<u8>) {
    out.reserve(px.len() * conv.bytes_per_pixel());
    for &p in px {
        conv.put(out, conv.pixel(p));
    }
}

const ZRLE_TILE: usize = 64;

/// One client's ZRLE state: the zlib stream lives as long as the connection.
pub(crate) struct Zrle {
    z: Compress,
    plain: Vec<u8>,
    tile: Vec<u32>,
}

impl Zrle {
    pub fn new() -> Zrle {
        Zrle { z: Compress::new(Compression::new(3), true), plain: Vec::new(), tile: Vec::new() }
    }

    /// Appends one ZRLE rectangle body (u32 length + zlib data) for `px` of size `w` x `h`.
    pub fn encode(&mut self, conv: &Converter, px: &[u32], w: usize, h: usize, out: &mut Vec<u8>) -> Result<()> {
        self.plain.clear();
        for ty in (0..h).step_by(ZRLE_TILE) {
            let th = ZRLE_TILE.min(h - ty);
            for tx in (0..w).step_by(ZRLE_TILE) {
                let tw = ZRLE_TILE.min(w - tx);
                self.tile.clear();
                for row in ty..ty + th {
                    self.tile.extend(px[row * w + tx..row * w + tx + tw].iter().map(|&p| conv.pixel(p)));
                }
                encode_tile(conv, &self.tile, tw, &mut self.plain);
            }
        }
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let body_at = out.len();
        let start_in = self.z.total_in();
        loop {
            let done_in = (self.z.total_in() - start_in) as usize;
            out.reserve((self.plain.len() - done_in) / 2 + 1024);
            self.z
                .compress_vec(&self.plain[done_in..], out, FlushCompress::Sync)
                .context("ZRLE: zlib compression failed")?;
            let done_in = (self.z.total_in() - start_in) as usize;
            // A sync flush is complete when zlib stopped with output space to spare.
            if done_in == self.plain.len() && out.len() < out.capacity() {
                break;
            }
        }
        let len = u32::try_from(out.len() - body_at).context("ZRLE rectangle too large")?;
        out[len_at..body_at].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }
}

/// Bytes taken by a ZRLE run length of `n` pixels.
fn run_len_bytes(n: usize) -> usize {
    (n - 1) / 255 + 1
}

fn put_run_len(out: &mut Vec<u8>, n: usize) {
    let mut rest = n - 1;
    while rest >= 255 {
        out.push(255);
        rest -= 255;
    }
    out.push(rest as u8);
}

/// A palette of at most 127 wire pixels with a small open-addressing index.
struct Palette {
    colours: Vec<u32>,
    slots: [u8; 256], // 0 = free, else index + 1
}

impl Palette {
    fn new() -> Palette {
        Palette { colours: Vec::with_capacity(127), slots: [0; 256] }
    }

    fn slot(p: u32) -> usize {
        (p.wrapping_mul(0x9E37_79B1) >> 24) as usize
    }

    fn index(&self, p: u32) -> Option<u8> {
        let mut s = Self::slot(p);
        loop {
            match self.slots[s] {
                0 => return None,
                i if self.colours[usize::from(i - 1)] == p => return Some(i - 1),
                _ => s = (s + 1) & 255,
            }
        }
    }

    /// Adds `p`; false when the palette is already full (127 colours).
    fn insert(&mut self, p: u32) -> bool {
        if self.index(p).is_some() {
            return true;
        }
        if self.colours.len() == 127 {
            return false;
        }
        let mut s = Self::slot(p);
        while self.slots[s] != 0 {
            s = (s + 1) & 255;
        }
        self.colours.push(p);
        self.slots[s] = self.colours.len() as u8;
        true
    }
}

/// Encodes one tile (wire pixels, `tw` a row) choosing the smallest ZRLE sub-encoding.
pub(crate) fn encode_tile(conv: &Converter, tile: &[u32], tw: usize, out: &mut Vec<u8>) {
    let th = tile.len() / tw;
    let cpx = conv.cpixel_len();
    let mut palette = Palette::new();
    let mut fits = true;
    let (mut plain_rle, mut palette_rle) = (0usize, 0usize);
    for_each_run(tile, |p, n| {
        plain_rle += cpx + run_len_bytes(n);
        palette_rle += if n == 1 { 1 } else { 1 + run_len_bytes(n) };
        if fits {
            fits = palette.insert(p);
        }
    });
    let raw = tile.len() * cpx;
    let n = palette.colours.len();
    if fits && n == 1 {
        out.push(1);
        conv.put_cpixel(out, tile[0]);
        return;
    }
    let bits = match n {
        2 => 1,
        3..=4 => 2,
        _ => 4,
    };
    let packed = if fits && n <= 16 { Some(n * cpx + th * (tw * bits).div_ceil(8)) } else { None };
    let palette_rle = if fits { Some(n * cpx + palette_rle) } else { None };
    let best = [packed, palette_rle, Some(plain_rle), Some(raw)].into_iter().flatten().min().unwrap_or(raw);
    if packed == Some(best) {
        out.push(n as u8);
        for &c in &palette.colours {
            conv.put_cpixel(out, c);
        }
        for row in tile.chunks(tw) {
            let (mut byte, mut used) = (0u8, 0);
            for &p in row {
                let idx = palette.index(p).unwrap_or(0);
                byte |= idx << (8 - bits - used);
                used += bits;
                if used == 8 {
                    out.push(byte);
                    (byte, used) = (0, 0);
                }
            }
            if used > 0 {
                out.push(byte);
            }
        }
    } else if palette_rle == Some(best) {
        out.push(128 + n as u8);
        for &c in &palette.colours {
            conv.put_cpixel(out, c);
        }
        for_each_run(tile, |p, len| {
            let idx = palette.index(p).unwrap_or(0);
            if len == 1 {
                out.push(idx);
            } else {
                out.push(idx | 128);
                put_run_len(out, len);
            }
        });
    } else if plain_rle == best {
        out.push(128);
        for_each_run(tile, |p, len| {
            conv.put_cpixel(out, p);
            put_run_len(out, len);
        });
    } else {
        out.push(0);
        for &p in tile {
            conv.put_cpixel(out, p);
        }
    }
}

fn for_each_run(tile: &[u32], mut f: impl FnMut(u32, usize)) {
    let mut i = 0;
    while i < tile.len() {
        let p = tile[i];
        let mut j = i + 1;
        while j < tile.len() && tile[j] == p {
            j += 1;
        }
        f(p, j - i);
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::super::pixfmt::PixelFormat;
    use super::super::tests::decode_zrle_tile;
    use super::*;

    fn round_trip(tile: &[u32], tw: usize) -> u8 {
        let conv = Converter::new(&PixelFormat::NATIVE);
        let wire: Vec<u32> = tile.iter().map(|&p| conv.pixel(p)).collect();
        let mut out = Vec::new();
        encode_tile(&conv, &wire, tw, &mut out);
        let mut cursor = &out[..];
        let decoded = decode_zrle_tile(&mut cursor, tw, tile.len() / tw, 3).expect("decodes");
        assert!(cursor.is_empty(), "tile data fully consumed");
        assert_eq!(decoded, wire);
        out[0]
    }

    #[test]
    fn each_sub_encoding_round_trips() {
        // Solid.
        assert_eq!(round_trip(&[0x123456; 64 * 64], 64), 1);
        // Two colours, checkerboard: packed 1 bit.
        let two: Vec<u32> = (0..64 * 64).map(|i| if (i + i / 64) % 2 == 0 { 0xff0000 } else { 0x00ff00 }).collect();
        assert_eq!(round_trip(&two, 64), 2);
        // Four colours cycling on a 13-wide tile (row padding): packed 2 bits.
        let four: Vec<u32> = (0..13 * 7).map(|i| [0x1, 0x2, 0x3, 0x4][i % 4]).collect();
        assert_eq!(round_trip(&four, 13), 4);
        // Nine colours, no runs: packed 4 bits.
        let nine: Vec<u32> = (0..30 * 30).map(|i| 0x10 * (i as u32 % 9)).collect();
        assert_eq!(round_trip(&nine, 30), 9);
        // 20 colours in short runs: palette RLE.
        let short_runs: Vec<u32> = (0..64 * 64).map(|i| 0x0101 * ((i as u32 / 3) % 20)).collect();
        assert_eq!(round_trip(&short_runs, 64), 128 + 20);
        // Runs longer than 255 need several length bytes.
        let long_runs: Vec<u32> = (0..60 * 64).map(|i| 0x10101 * (i as u32 / 700)).collect();
        assert_eq!(round_trip(&long_runs, 60), 128);
        let long_palette_runs: Vec<u32> = (0..64 * 64).map(|i| [7, 8, 9][(i / 300) % 3]).collect();
        assert_eq!(round_trip(&long_palette_runs, 64), 128 + 3);
        // Over 127 colours in runs: plain RLE.
        let many: Vec<u32> = (0..64 * 64).map(|i| i as u32 / 3).collect();
        assert_eq!(round_trip(&many, 64), 128);
        // Noise: raw.
        let mut x = 0x2545_f491u32;
        let noise: Vec<u32> = (0..64 * 64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x & 0xffffff
            })
            .collect();
        assert_eq!(round_trip(&noise, 64), 0);
    }
}
