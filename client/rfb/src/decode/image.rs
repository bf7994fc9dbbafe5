//! JPEG and PNG images inside a rectangle (Tight, TightPNG), decoded by well-kept Rust crates:
//! zune-jpeg and png (see docs/benchmarks.md for why these two). The image must be exactly the
//! rectangle's size, which is checked from its header before any pixel is decoded, so memory is
//! bounded by the rectangle; every decoder error is a typed [`Error::InvalidData`].

use super::zrle::rgb_row;
use crate::error::Error;
use crate::framebuffer::{Framebuffer, Rect};

fn wrong_size(enc: &'static str, what: &str, w: usize, h: usize, r: &Rect) -> Error {
    Error::invalid(enc, format!("a {w}x{h} {what} image in a {}x{} rectangle", r.w, r.h))
}

/// Decodes the JPEG `data` into `r` of `fb`, using `buf` (kept by the caller) for the RGB
/// pixels.
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
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(r.w as usize)
        .set_max_height(r.h as usize);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(data, options);
    d.decode_headers().map_err(bad)?;
    let (w, h) = d.dimensions().unwrap_or((0, 0));
    if (w, h) != (r.w as usize, r.h as usize) {
        return Err(wrong_size(enc, "JPEG", w, h, &r));
    }
    let size = r.area() * 3;
    if d.output_buffer_size() != Some(size) {
        return Err(Error::invalid(enc, "JPEG: unexpected output size"));
    }
    buf.resize(size, 0);
    d.decode_into(buf).map_err(bad)?;
    for (y, src) in buf.chunks_exact(r.w as usize * 3).enumerate() {
        rgb_row(src, fb.row_mut(r.x, r.y + y as u16, r.w));
    }
    Ok(())
}

/// Decodes the PNG `data` into `r` of `fb`, using `buf` for its pixels. Any colour type is
/// accepted (palette and grey expanded, 16-bit cut to 8); alpha is dropped.
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
