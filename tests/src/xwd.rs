//! XWD (X Window Dump, file version 7) to RGBA, and `xwd -root` captures of an X display.
//!
//! Layout: a header of 25 big-endian CARD32 fields (`header_size` bytes including the window
//! name that follows the fixed 100 bytes), then `ncolors` 12-byte colormap entries, then the
//! pixels, `bytes_per_line` per row, in the server's `byte_order`. Only TrueColor/DirectColor
//! ZPixmap images of 24 or 32 bits per pixel are read: channel values come from the header's
//! red/green/blue masks.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use image::RgbaImage;

use crate::servers;

const HEADER_FIELDS: usize = 25;
const ZPIXMAP: u32 = 2;
const LSB_FIRST: u32 = 0;
const MSB_FIRST: u32 = 1;
const TRUE_COLOR: u32 = 4;
const DIRECT_COLOR: u32 = 5;
const COLOR_ENTRY_SIZE: usize = 12;
/// Larger than any screen the tests use; bounds the allocation for a corrupt header.
const MAX_SIDE: u32 = 16384;

/// The header fields the decoder uses.
#[derive(Debug, Clone, Copy)]
struct Header {
    header_size: u32,
    pixmap_format: u32,
    width: u32,
    height: u32,
    byte_order: u32,
    bits_per_pixel: u32,
    bytes_per_line: u32,
    visual_class: u32,
    red_mask: u32,
    green_mask: u32,
    blue_mask: u32,
    ncolors: u32,
}

fn read_header(data: &[u8]) -> Result<Header> {
    ensure!(data.len() >= HEADER_FIELDS * 4, "XWD file too short for its header ({} bytes)", data.len());
    let f = |i: usize| u32::from_be_bytes(data[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    let version = f(1);
    ensure!(version == 7, "XWD file version {version}, expected 7");
    Ok(Header {
        header_size: f(0),
        pixmap_format: f(2),
        width: f(4),
        height: f(5),
        byte_order: f(7),
        bits_per_pixel: f(11),
        bytes_per_line: f(12),
        visual_class: f(13),
        red_mask: f(14),
        green_mask: f(15),
        blue_mask: f(16),
        ncolors: f(19),
    })
}

/// One channel of `pixel` selected by `mask`, scaled to 8 bits.
fn channel(pixel: u32, mask: u32) -> u8 {
    let shift = mask.trailing_zeros();
    let max = mask >> shift;
    let v = (pixel & mask) >> shift;
    if max == 255 { v as u8 } else { ((u64::from(v) * 255 + u64::from(max) / 2) / u64::from(max)) as u8 }
}

/// Decodes an XWD file into an RGBA image (alpha 255).
pub fn parse(data: &[u8]) -> Result<RgbaImage> {
    let h = read_header(data)?;
    ensure!(h.pixmap_format == ZPIXMAP, "XWD pixmap format {} is not ZPixmap", h.pixmap_format);
    ensure!(
        h.visual_class == TRUE_COLOR || h.visual_class == DIRECT_COLOR,
        "XWD visual class {} is not TrueColor/DirectColor",
        h.visual_class
    );
    ensure!(
        h.width > 0 && h.height > 0 && h.width <= MAX_SIDE && h.height <= MAX_SIDE,
        "XWD size {}x{} out of range",
        h.width,
        h.height
    );
    for (name, mask) in [("red", h.red_mask), ("green", h.green_mask), ("blue", h.blue_mask)] {
        ensure!(mask != 0, "XWD {name} mask is zero");
        let shifted = mask >> mask.trailing_zeros();
        ensure!(shifted & (shifted + 1) == 0, "XWD {name} mask {mask:#x} is not contiguous");
    }
    let bytes_pp = match h.bits_per_pixel {
        24 => 3usize,
        32 => 4usize,
        other => bail!("XWD bits per pixel {other} not supported (24 or 32)"),
    };
    let big_endian = match h.byte_order {
        LSB_FIRST => false,
        MSB_FIRST => true,
        other => bail!("XWD byte order {other} is neither LSBFirst nor MSBFirst"),
    };
    let width = h.width as usize;
    let height = h.height as usize;
    let stride = h.bytes_per_line as usize;
    ensure!(stride >= width * bytes_pp, "XWD bytes per line {stride} too small for width {width}");
    let pixels_at = (h.header_size as usize)
        .checked_add((h.ncolors as usize).checked_mul(COLOR_ENTRY_SIZE).context("ncolors overflow")?)
        .context("header size overflow")?;
    ensure!(pixels_at >= HEADER_FIELDS * 4, "XWD header size {} too small", h.header_size);
    let needed = stride.checked_mul(height).and_then(|n| n.checked_add(pixels_at)).context("size overflow")?;
    // The last row need not be padded to the full stride.
    let minimal = needed - stride + width * bytes_pp;
    ensure!(data.len() >= minimal, "XWD file truncated: {} bytes, pixels need {minimal}", data.len());

    let mut out = RgbaImage::new(h.width, h.height);
    for y in 0..height {
        let row = &data[pixels_at + y * stride..pixels_at + y * stride + width * bytes_pp];
        for (x, px) in row.chunks_exact(bytes_pp).enumerate() {
            let value = match (bytes_pp, big_endian) {
                (4, false) => u32::from_le_bytes([px[0], px[1], px[2], px[3]]),
                (4, true) => u32::from_be_bytes([px[0], px[1], px[2], px[3]]),
                (_, false) => u32::from_le_bytes([px[0], px[1], px[2], 0]),
                (_, true) => u32::from_be_bytes([0, px[0], px[1], px[2]]),
            };
            out.put_pixel(
                x as u32,
                y as u32,
                image::Rgba([
                    channel(value, h.red_mask),
                    channel(value, h.green_mask),
                    channel(value, h.blue_mask),
                    255,
                ]),
            );
        }
    }
    Ok(out)
}

/// Captures the root window of X display `:display` with `xwd -root -silent`.
pub fn capture_root(display: u32) -> Result<RgbaImage> {
    let mut cmd = Command::new("xwd");
    cmd.args(["-root", "-silent", "-display", &format!(":{display}")]);
    let done = servers::run_with_limit(cmd, Duration::from_secs(60));
    ensure!(done.status.success(), "xwd -root on :{display} failed ({}): {}", done.status, done.stderr.trim());
    parse(&done.stdout).with_context(|| format!("parsing xwd capture of :{display}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::too_many_arguments)] // one per header field a test varies
    /// Builds an XWD file: `pixels` are `(r, g, b)` packed by the given masks.
    fn build(
        width: u32,
        height: u32,
        bpp: u32,
        msb_first: bool,
        masks: [u32; 3],
        ncolors: u32,
        pad: usize,
        pixels: &[(u8, u8, u8)],
    ) -> Vec<u8> {
        let name = b"root\0";
        let header_size = 100 + name.len() as u32;
        let bytes_pp = (bpp / 8) as usize;
        let stride = width as usize * bytes_pp + pad;
        let fields: [u32; 25] = [
            header_size,
            7,
            ZPIXMAP,
            24,
            width,
            height,
            0,
            u32::from(msb_first),
            32,
            0,
            32,
            bpp,
            stride as u32,
            TRUE_COLOR,
            masks[0],
            masks[1],
            masks[2],
            8,
            256,
            ncolors,
            width,
            height,
            0,
            0,
            0,
        ];
        let mut v: Vec<u8> = fields.iter().flat_map(|f| f.to_be_bytes()).collect();
        v.extend_from_slice(name);
        v.extend(std::iter::repeat_n(0xAA, ncolors as usize * COLOR_ENTRY_SIZE));
        let pack = |c: u8, mask: u32| (u32::from(c) << mask.trailing_zeros()) & mask;
        for row in pixels.chunks(width as usize) {
            for &(r, g, b) in row {
                let value = pack(r, masks[0]) | pack(g, masks[1]) | pack(b, masks[2]);
                let bytes = if msb_first { value.to_be_bytes() } else { value.to_le_bytes() };
                match (bytes_pp, msb_first) {
                    (4, _) => v.extend_from_slice(&bytes),
                    (_, false) => v.extend_from_slice(&bytes[..3]),
                    (_, true) => v.extend_from_slice(&bytes[1..]),
                }
            }
            v.extend(std::iter::repeat_n(0x55, pad));
        }
        v
    }

    const PIXELS: [(u8, u8, u8); 6] =
        [(255, 0, 0), (0, 255, 0), (0, 0, 255), (1, 2, 3), (250, 128, 7), (255, 255, 255)];

    fn check(img: &RgbaImage) {
        assert_eq!(img.dimensions(), (3, 2));
        for (i, &(r, g, b)) in PIXELS.iter().enumerate() {
            let p = img.get_pixel(i as u32 % 3, i as u32 / 3);
            assert_eq!(p.0, [r, g, b, 255], "pixel {i}");
        }
    }

    #[test]
    fn all_layouts_decode_to_the_same_pixels() {
        let rgb = [0xff0000, 0x00ff00, 0x0000ff];
        let bgr = [0x0000ff, 0x00ff00, 0xff0000];
        let high = [0xff000000, 0x00ff0000, 0x0000ff00];
        for bpp in [24, 32] {
            for msb in [false, true] {
                for masks in [rgb, bgr] {
                    for pad in [0, 3] {
                        let data = build(3, 2, bpp, msb, masks, 16, pad, &PIXELS);
                        let img = parse(&data).unwrap_or_else(|e| panic!("{bpp} {msb} {masks:x?}: {e}"));
                        check(&img);
                    }
                }
            }
        }
        check(&parse(&build(3, 2, 32, true, high, 0, 0, &PIXELS)).unwrap());
    }

    #[test]
    fn masks_narrower_than_eight_bits_are_scaled() {
        assert_eq!(channel(0x1f, 0x1f), 255);
        assert_eq!(channel(0, 0x1f), 0);
        assert_eq!(channel(0x3f << 5, 0x7e0), 255);
        assert_eq!(channel(0x10, 0x1f), 132);
    }

    #[test]
    fn hostile_headers_are_errors() {
        let good = build(3, 2, 32, false, [0xff0000, 0xff00, 0xff], 4, 0, &PIXELS);
        assert!(parse(&good).is_ok());
        for cut in [0, 10, 99, good.len() - 1] {
            assert!(parse(&good[..cut]).is_err(), "truncated at {cut}");
        }
        let set = |field: usize, value: u32| {
            let mut d = good.clone();
            d[field * 4..field * 4 + 4].copy_from_slice(&value.to_be_bytes());
            d
        };
        for (field, value) in [
            (1, 6),         // version
            (2, 1),         // XYPixmap
            (4, 0),         // width
            (5, 100_000),   // height
            (7, 2),         // byte order
            (11, 16),       // bits per pixel
            (12, 4),        // bytes per line too small
            (13, 3),        // PseudoColor
            (14, 0),        // red mask
            (15, 0xf0f0),   // non-contiguous mask
            (19, u32::MAX), // ncolors
            (0, u32::MAX),  // header size
            (0, 8),         // header size smaller than the header
        ] {
            assert!(parse(&set(field, value)).is_err(), "field {field} = {value:#x}");
        }
    }
}
