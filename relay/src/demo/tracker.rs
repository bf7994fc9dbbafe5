//! Rectangles, the desktop's change journal entries, and each client's record of what it has
//! not been sent yet (dirty 16x16 tiles plus at most one pending CopyRect).

/// A rectangle in desktop pixels; empty when `w` or `h` is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    pub const fn new(x: i32, y: i32, w: i32, h: i32) -> Rect {
        Rect { x, y, w, h }
    }

    pub fn is_empty(&self) -> bool {
        self.w <= 0 || self.h <= 0
    }

    pub fn right(&self) -> i32 {
        self.x + self.w
    }

    pub fn bottom(&self) -> i32 {
        self.y + self.h
    }

    pub fn intersect(&self, o: &Rect) -> Rect {
        let x = self.x.max(o.x);
        let y = self.y.max(o.y);
        let r = self.right().min(o.right());
        let b = self.bottom().min(o.bottom());
        if r <= x || b <= y { Rect::default() } else { Rect::new(x, y, r - x, b - y) }
    }

    pub fn intersects(&self, o: &Rect) -> bool {
        !self.intersect(o).is_empty()
    }

    pub fn contains(&self, o: &Rect) -> bool {
        o.is_empty() || (o.x >= self.x && o.y >= self.y && o.right() <= self.right() && o.bottom() <= self.bottom())
    }

    /// The bounding box of both (an empty rectangle counts as nothing).
    pub fn union(&self, o: &Rect) -> Rect {
        if self.is_empty() {
            return *o;
        }
        if o.is_empty() {
            return *self;
        }
        let x = self.x.min(o.x);
        let y = self.y.min(o.y);
        Rect::new(x, y, self.right().max(o.right()) - x, self.bottom().max(o.bottom()) - y)
    }

    pub fn translate(&self, dx: i32, dy: i32) -> Rect {
        Rect::new(self.x + dx, self.y + dy, self.w, self.h)
    }
}

/// One change to the desktop, in the order it was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// These pixels were redrawn.
    Damage(Rect),
    /// `dest` was filled with the pixels that were at `(src_x, src_y)` (same size).
    Copy { dest: Rect, src_x: i32, src_y: i32 },
}

/// Side of a dirty tile in pixels.
pub(crate) const TILE: i32 = 16;

/// What one client still has to be sent.
pub(crate) struct Tracker {
    width: i32,
    height: i32,
    cols: usize,
    dirty: Vec<bool>,
    /// A copy not yet sent: valid against what the client shows now.
    copy: Option<(Rect, i32, i32)>,
    copy_enabled: bool,
}

impl Tracker {
    pub fn new(width: u16, height: u16) -> Tracker {
        let (width, height) = (i32::from(width), i32::from(height));
        let cols = (width + TILE - 1) as usize / TILE as usize;
        let rows = (height + TILE - 1) as usize / TILE as usize;
        Tracker { width, height, cols, dirty: vec![false; cols * rows], copy: None, copy_enabled: false }
    }

    fn bounds(&self) -> Rect {
        Rect::new(0, 0, self.width, self.height)
    }

    /// Tile index ranges (columns, rows) covering `r`.
    fn tiles(&self, r: &Rect) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        let r = r.intersect(&self.bounds());
        if r.is_empty() {
            return None;
        }
        let c0 = (r.x / TILE) as usize;
        let c1 = ((r.right() + TILE - 1) / TILE) as usize;
        let r0 = (r.y / TILE) as usize;
        let r1 = ((r.bottom() + TILE - 1) / TILE) as usize;
        Some((c0..c1, r0..r1))
    }

    fn tile_rect(&self, c: usize, r: usize) -> Rect {
        Rect::new(c as i32 * TILE, r as i32 * TILE, TILE, TILE).intersect(&self.bounds())
    }

    pub fn mark(&mut self, r: &Rect) {
        if let Some((cols, rows)) = self.tiles(r) {
            for row in rows {
                for c in cols.clone() {
                    self.dirty[row * self.cols + c] = true;
                }
            }
        }
    }

    pub fn mark_all(&mut self) {
        self.dirty.fill(true);
        self.copy = None;
    }

    /// Whether CopyRect may be used for this client; turning it off turns a pending copy into
    /// damage.
    pub fn set_copy_enabled(&mut self, on: bool) {
        self.copy_enabled = on;
        if !on {
            self.flush_copy_to_dirty();
        }
    }

    fn flush_copy_to_dirty(&mut self) {
        if let Some((dest, _, _)) = self.copy.take() {
            self.mark(&dest);
        }
    }

    pub fn apply(&mut self, op: &Op) {
        match *op {
            Op::Damage(r) => self.mark(&r),
            Op::Copy { dest, src_x, src_y } => self.add_copy(dest, src_x, src_y),
        }
    }

    /// Records that the desktop copied `src` to `dest`. The client can do the same copy from what
    /// it shows, except where its source pixels are stale (dirty): those land, moved, in `dest`
    /// and are marked dirty. Only one copy is kept; a second one is sent as plain damage.
    fn add_copy(&mut self, dest: Rect, src_x: i32, src_y: i32) {
        if !self.copy_enabled || self.copy.is_some() {
            self.mark(&dest);
            return;
        }
        let src = Rect::new(src_x, src_y, dest.w, dest.h);
        let (dx, dy) = (dest.x - src_x, dest.y - src_y);
        if let Some((cols, rows)) = self.tiles(&src) {
            let mut stale = Vec::new();
            for row in rows {
                for c in cols.clone() {
                    if self.dirty[row * self.cols + c] {
                        stale.push(self.tile_rect(c, row).intersect(&src).translate(dx, dy));
                    }
                }
            }
            for r in stale {
                self.mark(&r);
            }
        }
        self.copy = Some((dest, src_x, src_y));
    }

    /// Takes the pending copy if the client asked for an area that holds its destination;
    /// otherwise the copy becomes damage. Must be called before any update is sent, since the
    /// copy is only valid against the client's current picture.
    pub fn take_copy(&mut self, requested: &Rect) -> Option<(Rect, i32, i32)> {
        match self.copy {
            Some((dest, _, _)) if requested.contains(&dest) => self.copy.take(),
            _ => {
                self.flush_copy_to_dirty();
                None
            }
        }
    }

    /// Clears and returns the dirty tiles that touch `area`, merged into rectangles (whole
    /// tiles, clipped to the desktop; they may reach a little outside `area`).
    pub fn take_dirty(&mut self, area: &Rect) -> Vec<Rect> {
        let mut out: Vec<Rect> = Vec::new();
        let Some((cols, rows)) = self.tiles(area) else { return out };
        // Rectangles still growing downwards: indices into `out` of the previous row's runs.
        let mut open: Vec<usize> = Vec::new();
        for row in rows {
            let mut next_open = Vec::new();
            let mut c = cols.start;
            while c < cols.end {
                if !self.dirty[row * self.cols + c] {
                    c += 1;
                    continue;
                }
                let start = c;
                while c < cols.end && self.dirty[row * self.cols + c] {
                    self.dirty[row * self.cols + c] = false;
                    c += 1;
                }
                let run = self.tile_rect(start, row).union(&self.tile_rect(c - 1, row));
                // Extend the rectangle above if it spans exactly the same columns.
                if let Some(&i) =
                    open.iter().find(|&&i| out[i].x == run.x && out[i].w == run.w && out[i].bottom() == run.y)
                {
                    out[i].h += run.h;
                    next_open.push(i);
                } else {
                    out.push(run);
                    next_open.push(out.len() - 1);
                }
            }
            open = next_open;
        }
        out
    }

    #[cfg(test)]
    pub fn is_clean(&self) -> bool {
        self.copy.is_none() && self.dirty.iter().all(|d| !d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rect_ops() {
        let a = Rect::new(0, 0, 10, 10);
        let b = Rect::new(5, 5, 10, 10);
        assert_eq!(a.intersect(&b), Rect::new(5, 5, 5, 5));
        assert!(a.intersect(&Rect::new(10, 0, 5, 5)).is_empty());
        assert_eq!(a.union(&b), Rect::new(0, 0, 15, 15));
        assert_eq!(Rect::default().union(&b), b);
        assert!(a.contains(&Rect::new(2, 2, 8, 8)));
        assert!(!a.contains(&b));
    }

    #[test]
    fn dirty_tiles_merge_into_rectangles_and_are_cleared() {
        let mut t = Tracker::new(100, 50);
        t.mark(&Rect::new(3, 3, 20, 20)); // tiles (0..2, 0..2)
        t.mark(&Rect::new(95, 40, 5, 10)); // tiles (5..7, 2..4), clipped to 80..100 x 32..50
        let got = t.take_dirty(&Rect::new(0, 0, 100, 50));
        assert_eq!(got, vec![Rect::new(0, 0, 32, 32), Rect::new(80, 32, 20, 18)]);
        assert!(t.is_clean());
    }

    #[test]
    fn take_dirty_leaves_tiles_outside_the_area() {
        let mut t = Tracker::new(64, 64);
        t.mark_all();
        let got = t.take_dirty(&Rect::new(0, 0, 20, 10));
        assert_eq!(got, vec![Rect::new(0, 0, 32, 16)]);
        assert!(!t.is_clean());
    }

    #[test]
    fn copy_from_stale_source_marks_the_moved_stale_part() {
        let mut t = Tracker::new(128, 128);
        t.set_copy_enabled(true);
        t.mark(&Rect::new(0, 64, 16, 16));
        // Scroll up by 32: rows 32..128 move to 0..96.
        t.apply(&Op::Copy { dest: Rect::new(0, 0, 128, 96), src_x: 0, src_y: 32 });
        let all = Rect::new(0, 0, 128, 128);
        assert_eq!(t.take_copy(&all), Some((Rect::new(0, 0, 128, 96), 0, 32)));
        let dirty = t.take_dirty(&all);
        assert!(dirty.contains(&Rect::new(0, 32, 16, 16)), "{dirty:?}");
        assert!(dirty.contains(&Rect::new(0, 64, 16, 16)), "{dirty:?}");
    }

    #[test]
    fn second_copy_or_disabled_copy_becomes_damage() {
        let mut t = Tracker::new(64, 64);
        t.apply(&Op::Copy { dest: Rect::new(0, 0, 16, 16), src_x: 16, src_y: 0 });
        assert_eq!(t.take_copy(&Rect::new(0, 0, 64, 64)), None);
        assert_eq!(t.take_dirty(&Rect::new(0, 0, 64, 64)), vec![Rect::new(0, 0, 16, 16)]);

        t.set_copy_enabled(true);
        t.apply(&Op::Copy { dest: Rect::new(0, 0, 16, 16), src_x: 16, src_y: 0 });
        t.apply(&Op::Copy { dest: Rect::new(32, 32, 16, 16), src_x: 16, src_y: 0 });
        // A request that does not hold the copy's destination turns it into damage too.
        assert_eq!(t.take_copy(&Rect::new(16, 16, 48, 48)), None);
        let dirty = t.take_dirty(&Rect::new(0, 0, 64, 64));
        assert_eq!(dirty, vec![Rect::new(0, 0, 16, 16), Rect::new(32, 32, 16, 16)]);
    }
}
