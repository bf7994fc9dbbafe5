//! The RGBA framebuffer the decoders draw into, and the damage they leave.

use crate::error::Error;

/// A rectangle in framebuffer coordinates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
}

impl Rect {
    pub const fn new(x: u16, y: u16, w: u16, h: u16) -> Rect {
        Rect { x, y, w, h }
    }

    pub fn is_empty(&self) -> bool {
        self.w == 0 || self.h == 0
    }

    /// Pixel count.
    pub fn area(&self) -> usize {
        self.w as usize * self.h as usize
    }

    /// Exclusive right edge, without overflow.
    pub fn right(&self) -> u32 {
        self.x as u32 + self.w as u32
    }

    /// Exclusive bottom edge, without overflow.
    pub fn bottom(&self) -> u32 {
        self.y as u32 + self.h as u32
    }

    /// Smallest rectangle holding both (an empty one holds nothing).
    pub fn union(&self, o: &Rect) -> Rect {
        if self.is_empty() {
            return *o;
        }
        if o.is_empty() {
            return *self;
        }
        let x = self.x.min(o.x);
        let y = self.y.min(o.y);
        let r = self.right().max(o.right());
        let b = self.bottom().max(o.bottom());
        Rect::new(x, y, (r - x as u32) as u16, (b - y as u32) as u16)
    }
}

/// The largest desktop the engine accepts (each side); a bigger ServerInit or DesktopSize is a
/// protocol error rather than a gigabyte allocation.
pub const MAX_DIMENSION: u16 = 16384;

/// RGBA pixels, row-major, 4 bytes per pixel, alpha always 255. Owned by the connection and read
/// by the display.
#[derive(Clone, Debug, Default)]
pub struct Framebuffer {
    width: u16,
    height: u16,
    data: Vec<u8>,
    damage: Vec<Rect>,
    bounds: Rect,
}

/// More damage rectangles than this collapse into their bounding box, so a stream of tiny updates
/// cannot grow the list without bound.
const MAX_DAMAGE_RECTS: usize = 256;

impl Framebuffer {
    /// A black, opaque framebuffer.
    pub fn new(width: u16, height: u16) -> Result<Framebuffer, Error> {
        let mut fb = Framebuffer::default();
        fb.resize(width, height)?;
        Ok(fb)
    }

    /// Resizes to a new black framebuffer; the whole of it is damaged.
    pub fn resize(&mut self, width: u16, height: u16) -> Result<(), Error> {
        if width > MAX_DIMENSION || height > MAX_DIMENSION {
            return Err(Error::DesktopTooLarge { width, height });
        }
        let len = width as usize * height as usize * 4;
        self.data.clear();
        // Up to 1 GiB, chosen by the server: where memory is short (a browser tab's wasm memory,
        // several consoles in one page) that is an error the console can show, not an abort.
        if self.data.try_reserve_exact(len).is_err() {
            self.data = Vec::new();
            self.width = 0;
            self.height = 0;
            self.damage.clear();
            self.bounds = Rect::default();
            return Err(Error::OutOfMemory(format!("the server's {width}x{height} desktop")));
        }
        self.width = width;
        self.height = height;
        self.data.resize(len, 0);
        for px in self.data.chunks_exact_mut(4) {
            px[3] = 255;
        }
        self.damage.clear();
        self.bounds = Rect::default();
        self.add_damage(Rect::new(0, 0, width, height));
        Ok(())
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn height(&self) -> u16 {
        self.height
    }

    /// All pixels, RGBA, `width * 4` bytes per row.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Bytes per row.
    pub fn stride(&self) -> usize {
        self.width as usize * 4
    }

    /// RGBA of one pixel (for tests and tools; decoders write rows).
    pub fn pixel(&self, x: u16, y: u16) -> [u8; 4] {
        let i = (y as usize * self.width as usize + x as usize) * 4;
        [self.data[i], self.data[i + 1], self.data[i + 2], self.data[i + 3]]
    }

    /// Whether `r` lies wholly inside the framebuffer.
    pub fn contains(&self, r: &Rect) -> bool {
        r.right() <= self.width as u32 && r.bottom() <= self.height as u32
    }

    /// Errors unless `r` lies wholly inside the framebuffer.
    pub fn check(&self, r: &Rect) -> Result<(), Error> {
        if self.contains(r) {
            Ok(())
        } else {
            Err(Error::RectOutOfBounds { rect: *r, width: self.width, height: self.height })
        }
    }

    #[inline]
    fn offset(&self, x: u16, y: u16) -> usize {
        (y as usize * self.width as usize + x as usize) * 4
    }

    /// The RGBA bytes of row `y` from column `x`, `w` pixels long. The caller has checked bounds.
    #[inline]
    pub fn row_mut(&mut self, x: u16, y: u16, w: u16) -> &mut [u8] {
        let o = self.offset(x, y);
        &mut self.data[o..o + w as usize * 4]
    }

    /// Fills a checked rectangle with one colour.
    pub fn fill(&mut self, r: &Rect, rgba: [u8; 4]) {
        if r.is_empty() {
            return;
        }
        let stride = self.stride();
        let mut o = self.offset(r.x, r.y);
        let len = r.w as usize * 4;
        // Fill the first row, then copy it down: memcpy beats per-pixel stores for wide rects.
        for px in self.data[o..o + len].chunks_exact_mut(4) {
            px.copy_from_slice(&rgba);
        }
        let first = o;
        for _ in 1..r.h {
            o += stride;
            self.data.copy_within(first..first + len, o);
        }
    }

    /// Copies the checked rectangle at (`sx`, `sy`) to `dst` (CopyRect); overlapping areas copy as
    /// if through a temporary.
    pub fn copy(&mut self, sx: u16, sy: u16, dst: &Rect) {
        let len = dst.w as usize * 4;
        let upwards = sy < dst.y;
        for i in 0..dst.h {
            // Copying down the screen goes bottom row first so overlapping rows are read before
            // they are overwritten.
            let row = if upwards { dst.h - 1 - i } else { i };
            let s = self.offset(sx, sy + row);
            let d = self.offset(dst.x, dst.y + row);
            self.data.copy_within(s..s + len, d);
        }
    }

    /// Records that `r` changed.
    pub fn add_damage(&mut self, r: Rect) {
        if r.is_empty() {
            return;
        }
        self.bounds = self.bounds.union(&r);
        if self.damage.len() >= MAX_DAMAGE_RECTS {
            self.damage.clear();
            self.damage.push(self.bounds);
        } else {
            self.damage.push(r);
        }
    }

    /// The bounding box of everything damaged since the last [`Framebuffer::take_damage`], if
    /// anything was.
    pub fn damage_bounds(&self) -> Option<Rect> {
        (!self.bounds.is_empty()).then_some(self.bounds)
    }

    /// Damaged rectangles since the last call (may overlap), and clears them.
    pub fn take_damage(&mut self) -> Vec<Rect> {
        self.bounds = Rect::default();
        std::mem::take(&mut self.damage)
    }

    /// Damaged rectangles since the last take, without clearing.
    pub fn damage(&self) -> &[Rect] {
        &self.damage
    }

    /// Forgets all damage.
    pub fn clear_damage(&mut self) {
        self.damage.clear();
        self.bounds = Rect::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_and_copy_overlapping() {
        let mut fb = Framebuffer::new(8, 8).unwrap();
        fb.fill(&Rect::new(0, 0, 4, 4), [1, 2, 3, 255]);
        fb.copy(0, 0, &Rect::new(2, 2, 4, 4));
        assert_eq!(fb.pixel(5, 5), [1, 2, 3, 255]);
        assert_eq!(fb.pixel(6, 6), [0, 0, 0, 255]);
        // copy upwards, overlapping
        fb.copy(2, 2, &Rect::new(1, 1, 4, 4));
        assert_eq!(fb.pixel(4, 4), [1, 2, 3, 255]);
        assert_eq!(fb.pixel(5, 5), [1, 2, 3, 255]);
    }

    #[test]
    fn too_large_is_an_error() {
        assert!(matches!(Framebuffer::new(16385, 1), Err(Error::DesktopTooLarge { .. })));
    }

    #[test]
    fn bounds_checks_do_not_overflow() {
        let fb = Framebuffer::new(10, 10).unwrap();
        assert!(fb.check(&Rect::new(65535, 0, 2, 1)).is_err());
        assert!(fb.check(&Rect::new(0, 0, 10, 10)).is_ok());
        assert!(fb.check(&Rect::new(0, 5, 10, 6)).is_err());
    }

    #[test]
    fn damage_is_bounded() {
        let mut fb = Framebuffer::new(100, 100).unwrap();
        fb.take_damage();
        for i in 0..1000u16 {
            fb.add_damage(Rect::new(i % 100, 0, 1, 1));
        }
        assert!(fb.damage().len() <= MAX_DAMAGE_RECTS);
        assert_eq!(fb.damage_bounds(), Some(Rect::new(0, 0, 100, 1)));
    }
}
