//! Pixel-for-pixel comparison of RGBA images, with both images (and a difference map) saved
//! under `target/test-artifacts/` when they differ.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use image::{Rgba, RgbaImage};

use crate::servers;

/// How two images differ.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub expected_size: (u32, u32),
    pub actual_size: (u32, u32),
    /// Number of differing pixels (in the common area when the sizes differ).
    pub count: u64,
    /// First differing pixel in row-major order, with the expected and actual values.
    pub first: Option<(u32, u32, [u8; 4], [u8; 4])>,
    /// Bounding box of the differing pixels: (x0, y0, x1, y1), inclusive.
    pub bounds: Option<(u32, u32, u32, u32)>,
    /// Where the images were saved.
    pub saved: Vec<PathBuf>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.expected_size != self.actual_size {
            write!(
                f,
                "size differs: expected {}x{}, got {}x{}; ",
                self.expected_size.0, self.expected_size.1, self.actual_size.0, self.actual_size.1
            )?;
        }
        write!(f, "{} pixel(s) differ", self.count)?;
        if let Some((x, y, e, a)) = self.first {
            write!(f, "; first at ({x},{y}): expected rgba{e:?}, got rgba{a:?}")?;
        }
        if let Some((x0, y0, x1, y1)) = self.bounds {
            write!(f, "; all within x {x0}..={x1}, y {y0}..={y1}")?;
        }
        if !self.saved.is_empty() {
            write!(f, "; saved:")?;
            for p in &self.saved {
                write!(f, " {}", p.display())?;
            }
        }
        Ok(())
    }
}

/// Compares two images pixel for pixel (all four channels). `None` if they are identical.
pub fn diff(expected: &RgbaImage, actual: &RgbaImage) -> Option<Mismatch> {
    let (w, h) = (expected.width().min(actual.width()), expected.height().min(actual.height()));
    let mut count = 0u64;
    let mut first = None;
    let mut bounds: Option<(u32, u32, u32, u32)> = None;
    for y in 0..h {
        for x in 0..w {
            let e = expected.get_pixel(x, y).0;
            let a = actual.get_pixel(x, y).0;
            if e != a {
                count += 1;
                first.get_or_insert((x, y, e, a));
                bounds = Some(match bounds {
                    None => (x, y, x, y),
                    Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
                });
            }
        }
    }
    if count == 0 && expected.dimensions() == actual.dimensions() {
        return None;
    }
    Some(Mismatch {
        expected_size: expected.dimensions(),
        actual_size: actual.dimensions(),
        count,
        first,
        bounds,
        saved: Vec::new(),
    })
}

/// Like [`diff`], but on a mismatch saves `<name>-expected.png`, `<name>-actual.png` and
/// `<name>-diff.png` (differing pixels red over a dimmed copy of the expected image) under
/// `target/test-artifacts/<dir>/` and returns a description of the mismatch.
pub fn check_same(dir: &str, name: &str, expected: &RgbaImage, actual: &RgbaImage) -> Result<(), Mismatch> {
    let Some(mut m) = diff(expected, actual) else {
        return Ok(());
    };
    let out = servers::artifacts_dir(dir);
    let e = out.join(format!("{name}-expected.png"));
    let a = out.join(format!("{name}-actual.png"));
    let d = out.join(format!("{name}-diff.png"));
    if save_png(&e, expected).is_ok() {
        m.saved.push(e);
    }
    if save_png(&a, actual).is_ok() {
        m.saved.push(a);
    }
    if save_png(&d, &diff_map(expected, actual)).is_ok() {
        m.saved.push(d);
    }
    Err(m)
}

/// Panics with the mismatch description if the images differ (see [`check_same`]).
pub fn assert_same(dir: &str, name: &str, expected: &RgbaImage, actual: &RgbaImage) {
    if let Err(m) = check_same(dir, name, expected, actual) {
        panic!("{name}: {m}");
    }
}

fn diff_map(expected: &RgbaImage, actual: &RgbaImage) -> RgbaImage {
    let mut out = RgbaImage::new(expected.width(), expected.height());
    for (x, y, p) in out.enumerate_pixels_mut() {
        let e = expected.get_pixel(x, y).0;
        let same = x < actual.width() && y < actual.height() && actual.get_pixel(x, y).0 == e;
        *p = if same { Rgba([e[0] / 4, e[1] / 4, e[2] / 4, 255]) } else { Rgba([255, 0, 0, 255]) };
    }
    out
}

/// Writes an RGBA PNG.
pub fn save_png(path: &Path, img: &RgbaImage) -> Result<()> {
    img.save_with_format(path, image::ImageFormat::Png).with_context(|| format!("writing {}", path.display()))
}

/// Reads a PNG that must be 8-bit RGBA with every alpha value 255 (what `oxvnc snapshot`
/// promises to write).
pub fn load_opaque_rgba_png(path: &Path) -> Result<RgbaImage> {
    let img = image::open(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(img.color() == image::ColorType::Rgba8, "{} is {:?}, expected 8-bit RGBA", path.display(), img.color());
    let img = img.into_rgba8();
    if let Some((x, y, p)) = img.enumerate_pixels().find(|(_, _, p)| p.0[3] != 255) {
        anyhow::bail!("{}: pixel ({x},{y}) has alpha {}, expected 255", path.display(), p.0[3]);
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_images_match_and_differences_are_located() {
        let a = RgbaImage::from_fn(10, 8, |x, y| Rgba([x as u8, y as u8, 7, 255]));
        assert!(diff(&a, &a.clone()).is_none());
        let mut b = a.clone();
        b.put_pixel(3, 2, Rgba([0, 0, 0, 255]));
        b.put_pixel(9, 5, Rgba([1, 1, 1, 254]));
        let m = diff(&a, &b).expect("differs");
        assert_eq!(m.count, 2);
        assert_eq!(m.first, Some((3, 2, [3, 2, 7, 255], [0, 0, 0, 255])));
        assert_eq!(m.bounds, Some((3, 2, 9, 5)));
        let smaller = RgbaImage::from_fn(10, 7, |x, y| Rgba([x as u8, y as u8, 7, 255]));
        let m = diff(&a, &smaller).expect("size differs");
        assert_eq!(m.count, 0);
        assert!(m.to_string().contains("expected 10x8, got 10x7"), "{m}");
    }
}
