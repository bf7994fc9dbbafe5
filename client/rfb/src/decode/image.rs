//! JPEG and PNG images inside a rectangle (Tight, TightPNG), decoded by well-kept Rust crates:
//! zune-jpeg and png (see docs/benchmarks.md for why these two). The image must be exactly the
//! rectangle's size, which is checked from its header before any pixel is decoded, so memory is
//! bounded by the rectangle; every decoder error is a typed [`Error::InvalidData`].

#[cfg(feature = "tightpng")]
use super::zrle::rgb_row;
use crate::error::Error;
use crate::framebuffer::{Framebuffer, Rect};

fn wrong_size(enc: &'static str, what: &str, w: usize, h: usize, r: &Rect) -> Error {
    Error::invalid(enc, format!("a {w}x{h} {what} image in a {}x{} rectangle", r.w, r.h))
}

/// Makes room for `size` bytes in `buf` (an image as large as the rectangle, up to a whole
/// 16384x16384 desktop), or says that there is none rather than aborting.
fn reserve(buf: &mut Vec<u8>, size: usize, what: &str, r: &Rect) -> Result<(), Error> {
    buf.try_reserve_exact(size.saturating_sub(buf.len()))
        .map_err(|_| Error::OutOfMemory(format!("a {}x{} {what} image", r.w, r.h)))
}

/// Decodes the JPEG `data` into `r` of `fb`, using `buf` (kept by the caller) for the pixels:
/// zune-jpeg writes colour images as RGBA with opaque alpha (the framebuffer's own layout), so
/// each row is a plain copy; greyscale images are expanded.
pub(crate) fn draw_jpeg(
    enc: &'static str,
    data: &[u8],
    r: Rect,
    buf: &mut Vec<u8>,
    fb: &mut Framebuffer,
) -> Result<(), Error> {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let bad = |e: zune_jpeg::errors::DecodeErrors| Error::invalid(enc, format!("JPEG: {e:?}"));
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGBA)
        .set_max_width(r.w as usize)
        .set_max_height(r.h as usize);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(data, options);
    d.decode_headers().map_err(bad)?;
    let (w, h) = d.dimensions().unwrap_or((0, 0));
    if (w, h) != (r.w as usize, r.h as usize) {
        return Err(wrong_size(enc, "JPEG", w, h, &r));
    }
    // A greyscale image stays one component (zune-jpeg decodes it as such whatever was asked).
    let channels = match d.get_output_colorspace() {
        Some(ColorSpace::RGBA) => 4,
        Some(ColorSpace::Luma) => 1,
        other => return Err(Error::invalid(enc, format!("JPEG: unexpected output colour space {other:?}"))),
    };
    let size = r.area() * channels;
    if d.output_buffer_size() != Some(size) {
        return Err(Error::invalid(enc, "JPEG: unexpected output size"));
    }
    reserve(buf, size, "JPEG", &r)?;
    buf.resize(size, 0);
    d.decode_into(buf).map_err(bad)?;
    if r.w == 0 {
        return Ok(());
    }
    for (y, src) in buf.chunks_exact(r.w as usize * channels).enumerate() {
        let dst = fb.row_mut(r.x, r.y + y as u16, r.w);
        if channels == 4 {
            dst.copy_from_slice(src);
        } else {
            for (d, &v) in dst.chunks_exact_mut(4).zip(src) {
                d.copy_from_slice(&[v, v, v, 255]);
            }
        }
    }
    Ok(())
}

/// Decodes the PNG `data` into `r` of `fb`, using `buf` for its pixels. Any colour type is
/// accepted (palette and grey expanded, 16-bit cut to 8); alpha is dropped.
#[cfg(feature = "tightpng")]
pub(crate) fn draw_png(
    enc: &'static str,
    data: &[u8],
    r: Rect,
    buf: &mut Vec<u8>,
    fb: &mut Framebuffer,
) -> Result<(), Error> {
    use png::{BitDepth, ColorType, Transformations};
    let bad = |e: png::DecodingError| Error::invalid(enc, format!("PNG: {e}"));
    // The decoder's own allocations (rows, inflate window) beyond the image are small.
    let limits = png::Limits { bytes: r.area() * 8 + (1 << 20) };
    let mut d = png::Decoder::new_with_limits(data, limits);
    d.set_transformations(Transformations::EXPAND | Transformations::STRIP_16);
    let mut reader = d.read_info().map_err(bad)?;
    let (w, h) = (reader.info().width as usize, reader.info().height as usize);
    if (w, h) != (r.w as usize, r.h as usize) {
        return Err(wrong_size(enc, "PNG", w, h, &r));
    }
    let (colour, depth) = reader.output_color_type();
    if depth != BitDepth::Eight {
        return Err(Error::invalid(enc, "PNG: unexpected bit depth"));
    }
    let channels = match colour {
        ColorType::Grayscale => 1,
        ColorType::GrayscaleAlpha => 2,
        ColorType::Rgb => 3,
        ColorType::Rgba => 4,
        ColorType::Indexed => return Err(Error::invalid(enc, "PNG: palette not expanded")),
    };
    let size = reader.output_buffer_size();
    if size != r.area() * channels {
        return Err(Error::invalid(enc, "PNG: unexpected output size"));
    }
    reserve(buf, size, "PNG", &r)?;
    buf.resize(size, 0);
    reader.next_frame(buf).map_err(bad)?;
    if r.w == 0 {
        return Ok(());
    }
    for (y, src) in buf.chunks_exact(r.w as usize * channels).enumerate() {
        let dst = fb.row_mut(r.x, r.y + y as u16, r.w);
        match channels {
            3 => rgb_row(src, dst),
            4 => {
                for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
                    d.copy_from_slice(&[s[0], s[1], s[2], 255]);
                }
            }
            _ => {
                for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(channels)) {
                    d.copy_from_slice(&[s[0], s[0], s[0], 255]);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Colour and greyscale JPEGs land in a rectangle inside the framebuffer as opaque RGBA,
    /// leaving the pixels around it alone.
    #[test]
    fn jpeg_colour_and_grey_into_a_sub_rectangle() {
        let (w, h) = (19u16, 11u16);
        let r = Rect::new(5, 3, w, h);
        for grey in [false, true] {
            let (pixels, colour) = if grey {
                (vec![200u8; w as usize * h as usize], jpeg_encoder::ColorType::Luma)
            } else {
                ([40u8, 150, 220].repeat(w as usize * h as usize), jpeg_encoder::ColorType::Rgb)
            };
            let mut jpg = Vec::new();
            jpeg_encoder::Encoder::new(&mut jpg, 95).encode(&pixels, w, h, colour).unwrap();
            let mut fb = Framebuffer::new(40, 20).unwrap();
            fb.fill(&Rect::new(0, 0, 40, 20), [1, 2, 3, 255]);
            let mut buf = Vec::new();
            draw_jpeg("Tight", &jpg, r, &mut buf, &mut fb).unwrap_or_else(|e| panic!("grey {grey}: {e}"));
            let want: [u8; 4] = if grey { [200, 200, 200, 255] } else { [40, 150, 220, 255] };
            for y in 0..20 {
                for x in 0..40 {
                    let p = fb.pixel(x, y);
                    let inside = x >= r.x && u32::from(x) < r.right() && y >= r.y && u32::from(y) < r.bottom();
                    if inside {
                        assert_eq!(p[3], 255, "opaque at {x},{y}");
                        for c in 0..3 {
                            assert!(p[c].abs_diff(want[c]) <= 3, "{p:?} at {x},{y}, want {want:?} (grey {grey})");
                        }
                    } else {
                        assert_eq!(p, [1, 2, 3, 255], "untouched at {x},{y}");
                    }
                }
            }
        }
    }
}
