//! The shared demo desktop: its pixels, what is drawn where, input handling, the animation, and
//! a journal of every change (damage and copies) that sessions replay into their trackers.

use super::font::{self, CELL_H, CELL_W};
use super::tracker::{Op, Rect, Tracker};
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Time between animation frames (15 frames a second).
pub(crate) const FRAME: Duration = Duration::from_millis(66);
/// Journal entries kept; a session further behind than this repaints everything.
const JOURNAL_CAP: usize = 4096;
/// Pasted text beyond this many characters is not shown.
pub(crate) const PASTE_SHOWN: usize = 256;

const TEXT_SCALE: i32 = 2;
const CW: i32 = CELL_W as i32 * TEXT_SCALE; // 12
const CH: i32 = CELL_H as i32 * TEXT_SCALE; // 24
const SPRITE: i32 = 64;

const HEADER_BG: u32 = 0x23395d;
const TITLE_FG: u32 = 0xffffff;
const VIEWERS_FG: u32 = 0xa8c8ff;
const HINT_FG: u32 = 0xc8d0d8;
const PANEL_BG: u32 = 0x101820;
const TEXT_FG: u32 = 0xe8e8e8;
const CURSOR: u32 = 0x40c0ff;
const STATUS_BG: u32 = 0x18222e;
const STATUS_FG: u32 = 0x9fe0a0;
const ARENA_BG: u32 = 0x0e1a12;

/// Pixels of the desktop, 0x00RRGGBB, row-major; drawing is clipped to `clip`, which is the
/// area whose change is being recorded.
struct Canvas {
    w: i32,
    h: i32,
    px: Vec<u32>,
    clip: Rect,
}

impl Canvas {
    fn bounds(&self) -> Rect {
        Rect::new(0, 0, self.w, self.h)
    }

    fn fill(&mut self, r: Rect, colour: u32) {
        let r = r.intersect(&self.clip);
        for y in r.y..r.bottom() {
            let row = (y * self.w) as usize;
            self.px[row + r.x as usize..row + r.right() as usize].fill(colour);
        }
    }

    fn glyph(&mut self, x: i32, y: i32, scale: i32, fg: u32, c: char) {
        for (r, bits) in font::cell_rows(c).iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    self.fill(Rect::new(x + col * scale, y + r as i32 * scale, scale, scale), fg);
                }
            }
        }
    }

    fn text(&mut self, x: i32, y: i32, scale: i32, fg: u32, s: &str) {
        for (i, c) in s.chars().enumerate() {
            self.glyph(x + i as i32 * CELL_W as i32 * scale, y, scale, fg, c);
        }
    }

    /// Copies `src` (already clipped) to `dest` of the same size; they may overlap.
    fn copy(&mut self, dest: Rect, src: Rect) {
        let w = self.w as usize;
        let rows: Box<dyn Iterator<Item = i32>> =
            if dest.y > src.y { Box::new((0..dest.h).rev()) } else { Box::new(0..dest.h) };
        for i in rows {
            let s = (src.y + i) as usize * w + src.x as usize;
            let d = (dest.y + i) as usize * w + dest.x as usize;
            self.px.copy_within(s..s + dest.w as usize, d);
        }
    }

    fn read(&self, r: Rect, out: &mut Vec<u32>) {
        for y in r.y..r.bottom() {
            let row = (y * self.w) as usize;
            out.extend_from_slice(&self.px[row + r.x as usize..row + r.right() as usize]);
        }
    }
}

/// Where things are drawn, derived from the desktop size (parts that do not fit are empty).
struct Layout {
    header: Rect,
    viewers: Rect,
    text: Rect,
    cols: usize,
    rows: usize,
    status_time: Rect,
    status_input: Rect,
    band: Rect,
    arena: Rect,
    sprite: i32,
}

impl Layout {
    fn new(w: i32, h: i32) -> Layout {
        let inner = (w - 32).max(0);
        let rows = (((h * 42 / 100) - 16) / CH).max(1);
        let cols = ((inner - 16) / CW).max(1);
        let text = Rect::new(16, 84, inner, rows * CH + 16);
        let status_time = Rect::new(16, text.bottom() + 8, inner, CH);
        let status_input = Rect::new(16, status_time.bottom() + 4, inner, CH);
        let band = Rect::new(16, status_input.bottom() + 8, inner, 16);
        let arena = Rect::new(16, band.bottom() + 8, inner, (h - band.bottom() - 24).max(0));
        let sprite = SPRITE.min(arena.w).min(arena.h);
        Layout {
            header: Rect::new(0, 0, w, 48),
            viewers: Rect::new((w - 16 - 12 * CW).max(0), 12, 12 * CW, CH),
            text,
            cols: cols as usize,
            rows: rows as usize,
            status_time,
            status_input,
            band,
            arena,
            sprite: if sprite >= 8 { sprite } else { 0 },
        }
    }

    fn cell(&self, row: usize, col: usize) -> Rect {
        Rect::new(self.text.x + 8 + col as i32 * CW, self.text.y + 8 + row as i32 * CH, CW, CH)
    }

    fn sprite_at(&self, frame: u64) -> Rect {
        fn bounce(t: u64, range: i32) -> i32 {
            if range <= 0 {
                return 0;
            }
            let period = 2 * range as u64;
            let p = (t % period) as i32;
            if p <= range { p } else { 2 * range - p }
        }
        let s = self.sprite;
        Rect::new(
            self.arena.x + bounce(frame * 7, self.arena.w - s),
            self.arena.y + bounce(frame * 4, self.arena.h - s),
            s,
            s,
        )
    }
}

struct Row {
    chars: Vec<char>,
    /// The row continues the one above (wrapped), rather than following a Return.
    soft: bool,
}

struct Pointer {
    x: i32,
    y: i32,
    buttons: u8,
    /// Where the crosshair is drawn and the pixels it covers.
    drawn: Option<Rect>,
    under: Vec<u32>,
}

pub(crate) struct Desktop {
    c: Canvas,
    layout: Layout,
    seq: u64,
    journal: VecDeque<(u64, Op)>,
    rows: VecDeque<Row>,
    pointer: Pointer,
    frame: u64,
    sprite: Rect,
    paused: bool,
    /// Animation clock: `base_frame` was shown at `base_time`.
    base_time: Instant,
    base_frame: u64,
    started: Instant,
    last_key: Option<(u32, bool)>,
    viewers: usize,
    shown: [String; 3],
}

impl Desktop {
    pub fn new(width: u16, height: u16) -> Desktop {
        let (w, h) = (i32::from(width), i32::from(height));
        let layout = Layout::new(w, h);
        let now = Instant::now();
        let mut d = Desktop {
            c: Canvas { w, h, px: vec![0; (w * h) as usize], clip: Rect::new(0, 0, w, h) },
            sprite: layout.sprite_at(0),
            layout,
            seq: 0,
            journal: VecDeque::new(),
            rows: VecDeque::from([Row { chars: Vec::new(), soft: false }]),
            pointer: Pointer { x: w / 2, y: h / 2, buttons: 0, drawn: None, under: Vec::new() },
            frame: 0,
            paused: false,
            base_time: now,
            base_frame: 0,
            started: now,
            last_key: None,
            viewers: 0,
            shown: Default::default(),
        };
        d.render_all();
        d
    }

    pub fn width(&self) -> u16 {
        self.c.w as u16
    }

    pub fn height(&self) -> u16 {
        self.c.h as u16
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    #[cfg(test)]
    pub fn pixels(&self) -> &[u32] {
        &self.c.px
    }

    /// Appends the desktop pixels of `r` (inside the desktop) to `out`.
    pub fn read(&self, r: Rect, out: &mut Vec<u32>) {
        self.c.read(r.intersect(&self.c.bounds()), out);
    }

    /// Brings `t` from change `since` up to now; returns the new position.
    pub fn replay(&self, since: u64, t: &mut Tracker) -> u64 {
        if since >= self.seq {
            return self.seq;
        }
        let oldest = self.journal.front().map_or(self.seq + 1, |(s, _)| *s);
        if since + 1 < oldest {
            t.mark_all();
            return self.seq;
        }
        for (_, op) in self.journal.iter().skip((since + 1 - oldest) as usize) {
            t.apply(op);
        }
        self.seq
    }

    fn record(&mut self, op: Op) {
        self.seq += 1;
        self.journal.push_back((self.seq, op));
        if self.journal.len() > JOURNAL_CAP {
            self.journal.pop_front();
        }
    }

    /// Draws into `area` with `f`, lifting the crosshair off first if it is in the way.
    fn paint(&mut self, area: Rect, f: impl FnOnce(&mut Canvas)) {
        let area = area.intersect(&self.c.bounds());
        if area.is_empty() {
            return;
        }
        let lift = self.pointer.drawn.is_some_and(|p| p.intersects(&area));
        if lift {
            self.hide_pointer();
        }
        self.c.clip = area;
        f(&mut self.c);
        self.c.clip = self.c.bounds();
        self.record(Op::Damage(area));
        if lift {
            self.show_pointer();
        }
    }

    /// Moves the pixels at `(src_x, src_y)` to `dest`, recording a copy (CopyRect material).
    fn copy(&mut self, dest: Rect, src_x: i32, src_y: i32) {
        let b = self.c.bounds();
        let (dx, dy) = (dest.x - src_x, dest.y - src_y);
        // Keep the part where both the destination and its source lie on the desktop.
        let dest = dest.intersect(&b).intersect(&b.translate(dx, dy));
        if dest.is_empty() {
            return;
        }
        let src = dest.translate(-dx, -dy);
        let lift = self.pointer.drawn.is_some_and(|p| p.intersects(&dest.union(&src)));
        if lift {
            self.hide_pointer();
        }
        self.c.copy(dest, src);
        self.record(Op::Copy { dest, src_x: src.x, src_y: src.y });
        if lift {
            self.show_pointer();
        }
    }

    fn render_all(&mut self) {
        let (w, h) = (self.c.w, self.c.h);
        let c = &mut self.c;
        for y in 0..h {
            let t = y as u32 * 255 / (h.max(1) as u32);
            let lerp = |a: u32, b: u32| (a * (255 - t) + b * t) / 255;
            c.fill(Rect::new(0, y, w, 1), lerp(0x1c, 0x08) << 16 | lerp(0x2a, 0x0e) << 8 | lerp(0x3a, 0x16));
        }
        let l = &self.layout;
        c.fill(l.header, HEADER_BG);
        c.text(16, 6, 3, TITLE_FG, "oxvnc demo desktop");
        c.text(16, 56, TEXT_SCALE, HINT_FG, "Keys typed in any viewer appear below; the crosshair follows the mouse.");
        c.fill(l.text, PANEL_BG);
        c.fill(l.status_time, STATUS_BG);
        c.fill(l.status_input, STATUS_BG);
        c.fill(l.arena, ARENA_BG);
        if l.sprite > 0 {
            draw_sprite(c, self.sprite);
        }
        self.record(Op::Damage(self.c.bounds()));
        self.draw_cell(0, 0, ' ', true);
        self.draw_viewers();
        self.draw_band();
        self.draw_status();
        self.show_pointer();
    }

    // ---- pointer --------------------------------------------------------------------------

    fn pointer_colour(buttons: u8) -> u32 {
        let mut c = 0;
        if buttons & 1 != 0 {
            c |= 0xff3030;
        }
        if buttons & 2 != 0 {
            c |= 0x30ff30;
        }
        if buttons & 4 != 0 {
            c |= 0x3030ff;
        }
        if buttons & 0x78 != 0 {
            c |= 0xffff00;
        }
        if c == 0 { 0xffffff } else { c }
    }

    fn show_pointer(&mut self) {
        let (x, y) = (self.pointer.x, self.pointer.y);
        let r = Rect::new(x - 12, y - 12, 25, 25).intersect(&self.c.bounds());
        if r.is_empty() {
            return;
        }
        self.pointer.under.clear();
        self.c.read(r, &mut self.pointer.under);
        let colour = Self::pointer_colour(self.pointer.buttons);
        let c = &mut self.c;
        c.fill(Rect::new(x - 12, y - 1, 25, 3), 0x000000);
        c.fill(Rect::new(x - 1, y - 12, 3, 25), 0x000000);
        c.fill(Rect::new(x - 12, y, 25, 1), colour);
        c.fill(Rect::new(x, y - 12, 1, 25), colour);
        c.fill(Rect::new(x - 3, y - 3, 7, 7), 0x000000);
        c.fill(Rect::new(x - 2, y - 2, 5, 5), colour);
        self.pointer.drawn = Some(r);
        self.record(Op::Damage(r));
    }

    fn hide_pointer(&mut self) {
        if let Some(r) = self.pointer.drawn.take() {
            let w = self.c.w as usize;
            for (i, row) in self.pointer.under.chunks(r.w as usize).enumerate() {
                let at = (r.y as usize + i) * w + r.x as usize;
                self.c.px[at..at + row.len()].copy_from_slice(row);
            }
            self.record(Op::Damage(r));
        }
    }

    /// A PointerEvent: moves the crosshair and shows the button state.
    pub fn pointer(&mut self, x: u16, y: u16, buttons: u8) {
        let x = i32::from(x).min(self.c.w - 1);
        let y = i32::from(y).min(self.c.h - 1);
        let p = &self.pointer;
        if (p.x, p.y, p.buttons) == (x, y, buttons) {
            return;
        }
        self.hide_pointer();
        self.pointer.x = x;
        self.pointer.y = y;
        self.pointer.buttons = buttons;
        self.show_pointer();
        self.draw_status();
    }

    // ---- text -----------------------------------------------------------------------------

    fn draw_cell(&mut self, row: usize, col: usize, ch: char, cursor: bool) {
        if row >= self.layout.rows || col >= self.layout.cols {
            return;
        }
        let r = self.layout.cell(row, col);
        self.paint(r, |c| {
            c.fill(r, PANEL_BG);
            c.glyph(r.x, r.y, TEXT_SCALE, TEXT_FG, ch);
            if cursor {
                c.fill(Rect::new(r.x, r.bottom() - 2, r.w, 2), CURSOR);
            }
        });
    }

    fn cursor(&self) -> (usize, usize) {
        (self.rows.len() - 1, self.rows.back().map_or(0, |r| r.chars.len()))
    }

    fn new_row(&mut self, soft: bool) {
        let (row, col) = self.cursor();
        self.draw_cell(row, col, ' ', false);
        if self.rows.len() == self.layout.rows {
            // Scroll the text up one line: a copy the clients can repeat (CopyRect).
            let first = self.layout.cell(0, 0);
            let lines = self.layout.rows as i32;
            let width = self.layout.cols as i32 * CW;
            if lines > 1 {
                self.copy(Rect::new(first.x, first.y, width, (lines - 1) * CH), first.x, first.y + CH);
            }
            let last = Rect::new(first.x, first.y + (lines - 1) * CH, width, CH);
            self.paint(last, |c| c.fill(last, PANEL_BG));
            self.rows.pop_front();
        }
        self.rows.push_back(Row { chars: Vec::new(), soft });
        let (row, col) = self.cursor();
        self.draw_cell(row, col, ' ', true);
    }

    fn type_char(&mut self, ch: char) {
        let (row, col) = self.cursor();
        if let Some(r) = self.rows.back_mut() {
            r.chars.push(ch);
        }
        self.draw_cell(row, col, ch, false);
        if col + 1 >= self.layout.cols {
            self.new_row(true);
        } else {
            self.draw_cell(row, col + 1, ' ', true);
        }
    }

    fn backspace(&mut self) {
        let (row, col) = self.cursor();
        if col > 0 {
            if let Some(r) = self.rows.back_mut() {
                r.chars.pop();
            }
            self.draw_cell(row, col, ' ', false);
            self.draw_cell(row, col - 1, ' ', true);
        } else if self.rows.len() > 1 {
            self.draw_cell(row, col, ' ', false);
            let soft = self.rows.pop_back().is_some_and(|r| r.soft);
            let (row, col) = self.cursor();
            if soft && col > 0 {
                if let Some(r) = self.rows.back_mut() {
                    r.chars.pop();
                }
                self.draw_cell(row, col - 1, ' ', true);
            } else {
                self.draw_cell(row, col, ' ', true);
            }
        }
    }

    /// The text shown in the text area (wrapped rows joined, Returns as '\n').
    #[cfg(test)]
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (i, r) in self.rows.iter().enumerate() {
            if i > 0 && !r.soft {
                s.push('\n');
            }
            s.extend(&r.chars);
        }
        s
    }

    /// A KeyEvent: typing keys go to the text area, every key to the status line.
    pub fn key(&mut self, down: bool, keysym: u32) {
        self.last_key = Some((keysym, down));
        self.draw_status();
        if !down {
            return;
        }
        match keysym {
            0xff0d | 0xff8d => self.new_row(false),
            0xff08 => self.backspace(),
            0xff09 => {
                let (_, col) = self.cursor();
                for _ in 0..4 - col % 4 {
                    self.type_char(' ');
                }
            }
            k => {
                if let Some(ch) = keysym_char(k) {
                    self.type_char(ch);
                }
            }
        }
    }

    /// ClientCutText: shows (the start of) the pasted text as if typed.
    pub fn paste(&mut self, latin1: &[u8]) {
        for &b in latin1.iter().take(PASTE_SHOWN) {
            match b {
                b'\n' => self.new_row(false),
                b'\r' => {}
                b'\t' => self.type_char(' '),
                0x20..=0x7e | 0xa0..=0xff => self.type_char(char::from(b)),
                _ => {}
            }
        }
    }

    // ---- status, viewers, animation -------------------------------------------------------

    /// Shows `s` in the status line `r`, repainting only the character cells that changed.
    fn draw_line(&mut self, slot: usize, r: Rect, fg: u32, s: String) {
        let old: Vec<char> = self.shown[slot].chars().collect();
        let new: Vec<char> = s.chars().collect();
        let n = old.len().max(new.len());
        let differs = |i: &usize| old.get(*i).unwrap_or(&' ') != new.get(*i).unwrap_or(&' ');
        let (Some(first), Some(last)) = ((0..n).find(differs), (0..n).rev().find(differs)) else {
            return;
        };
        let area = Rect::new(r.x + 8 + first as i32 * CW, r.y, (last - first + 1) as i32 * CW, r.h).intersect(&r);
        self.paint(area, |c| {
            c.fill(area, STATUS_BG);
            c.text(r.x + 8, r.y, TEXT_SCALE, fg, &s);
        });
        self.shown[slot] = s;
    }

    fn draw_status(&mut self) {
        let up = self.started.elapsed();
        let secs = up.as_secs();
        let utc = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
        let line = format!(
            "frame {:>6}   uptime {:02}:{:02}:{:02}.{}   {:02}:{:02}:{:02} UTC",
            self.frame,
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            up.subsec_millis() / 100,
            utc / 3600,
            utc / 60 % 60,
            utc % 60
        );
        self.draw_line(0, self.layout.status_time, STATUS_FG, line);
        let p = &self.pointer;
        let b = |bit: u8, c: char| if p.buttons & bit != 0 { c } else { '-' };
        let key = match self.last_key {
            None => "none yet".to_string(),
            Some((k, down)) => format!("0x{k:04x} {} {}", keysym_name(k), if down { "down" } else { "up" }),
        };
        let line =
            format!("pointer {:>4},{:<4}  buttons {}{}{}   last key {key}", p.x, p.y, b(1, 'L'), b(2, 'M'), b(4, 'R'));
        self.draw_line(1, self.layout.status_input, STATUS_FG, line);
    }

    fn draw_viewers(&mut self) {
        let s = format!("viewers: {}", self.viewers);
        if self.shown[2] == s {
            return;
        }
        let r = self.layout.viewers;
        self.paint(r, |c| {
            c.fill(r, HEADER_BG);
            c.text(r.x, r.y, TEXT_SCALE, VIEWERS_FG, &s);
        });
        self.shown[2] = s;
    }

    /// A session started (+1) or ended (-1).
    pub fn viewers_changed(&mut self, delta: isize) {
        self.viewers = self.viewers.saturating_add_signed(delta);
        self.draw_viewers();
    }

    fn draw_band(&mut self) {
        const STRIPES: i32 = 24;
        let r = self.layout.band;
        let sw = (r.w / STRIPES).max(1);
        let phase = ((self.frame * 3) % (STRIPES * sw) as u64) as i32;
        self.paint(r, |c| {
            for x in 0..r.w {
                let stripe = ((x + phase) / sw) % STRIPES;
                c.fill(Rect::new(r.x + x, r.y, 1, r.h), hue(stripe as u32 * 360 / STRIPES as u32));
            }
        });
    }

    fn advance_to(&mut self, frame: u64) {
        self.frame = frame;
        if self.layout.sprite > 0 {
            let old = self.sprite;
            let new = self.layout.sprite_at(frame);
            if new != old {
                self.copy(new, old.x, old.y);
                for part in subtract(&old, &new) {
                    self.paint(part, |c| c.fill(part, ARENA_BG));
                }
                self.sprite = new;
            }
        }
        self.draw_band();
        self.draw_status();
    }

    /// Advances the animation to the frame due at `now`; false if nothing changed.
    pub fn tick(&mut self, now: Instant) -> bool {
        if self.paused {
            return false;
        }
        let due =
            self.base_frame + (now.saturating_duration_since(self.base_time).as_millis() / FRAME.as_millis()) as u64;
        if due <= self.frame {
            return false;
        }
        self.advance_to(due);
        true
    }

    /// Shows the next animation frame now (whether paused or not).
    #[cfg(test)]
    pub fn step(&mut self) {
        self.advance_to(self.frame + 1);
        self.base_frame = self.frame;
        self.base_time = Instant::now();
    }

    #[cfg(test)]
    pub fn set_paused(&mut self, paused: bool) {
        if self.paused && !paused {
            self.base_frame = self.frame;
            self.base_time = Instant::now();
        }
        self.paused = paused;
    }
}

/// `a` minus `b`, as up to four rectangles.
fn subtract(a: &Rect, b: &Rect) -> Vec<Rect> {
    let i = a.intersect(b);
    if i.is_empty() {
        return vec![*a];
    }
    [
        Rect::new(a.x, a.y, a.w, i.y - a.y),
        Rect::new(a.x, i.bottom(), a.w, a.bottom() - i.bottom()),
        Rect::new(a.x, i.y, i.x - a.x, i.h),
        Rect::new(i.right(), i.y, a.right() - i.right(), i.h),
    ]
    .into_iter()
    .filter(|r| !r.is_empty())
    .collect()
}

/// Fully saturated colour of hue `deg` (0..360).
fn hue(deg: u32) -> u32 {
    let deg = deg % 360;
    let f = (deg % 60) * 255 / 60;
    let (r, g, b) = match deg / 60 {
        0 => (255, f, 0),
        1 => (255 - f, 255, 0),
        2 => (0, 255, f),
        3 => (0, 255 - f, 255),
        4 => (f, 0, 255),
        _ => (255, 0, 255 - f),
    };
    r << 16 | g << 8 | b
}

/// The bouncing sprite: a colour wheel disc with "ox" on it, over the arena colour.
fn draw_sprite(c: &mut Canvas, r: Rect) {
    let s = r.w;
    let half = s as f32 / 2.0;
    for y in 0..s {
        for x in 0..s {
            let (fx, fy) = (x as f32 + 0.5 - half, y as f32 + 0.5 - half);
            let d = (fx * fx + fy * fy).sqrt();
            let colour = if d > half - 0.5 {
                ARENA_BG
            } else if d > half - 3.0 {
                0xffffff
            } else if s >= 32 && d < half * 0.55 {
                0x101010
            } else {
                let deg = (fy.atan2(fx).to_degrees() + 360.0) as u32;
                hue(deg)
            };
            c.fill(Rect::new(r.x + x, r.y + y, 1, 1), colour);
        }
    }
    if s >= 32 {
        let scale = 2;
        let tw = 2 * CELL_W as i32 * scale;
        c.text(r.x + (s - tw) / 2 + 1, r.y + (s - CELL_H as i32 * scale) / 2 - 2, scale, 0xffffff, "ox");
    }
}

/// The character a keysym types, if any (ASCII, Latin-1, keypad, Unicode keysyms).
fn keysym_char(k: u32) -> Option<char> {
    match k {
        0x20..=0x7e | 0xa0..=0xff => char::from_u32(k),
        0xff80 => Some(' '),
        0xffaa => Some('*'),
        0xffab => Some('+'),
        0xffac => Some(','),
        0xffad => Some('-'),
        0xffae => Some('.'),
        0xffaf => Some('/'),
        0xffb0..=0xffb9 => char::from_u32(u32::from(b'0') + k - 0xffb0),
        0xffbd => Some('='),
        0x0100_0020..=0x010f_ffff => char::from_u32(k - 0x0100_0000).filter(|c| !c.is_control()),
        _ => None,
    }
}

fn keysym_name(k: u32) -> String {
    let name = match k {
        0xff08 => "BackSpace",
        0xff09 => "Tab",
        0xff0d => "Return",
        0xff1b => "Escape",
        0xffff => "Delete",
        0xff50 => "Home",
        0xff51 => "Left",
        0xff52 => "Up",
        0xff53 => "Right",
        0xff54 => "Down",
        0xff55 => "Page_Up",
        0xff56 => "Page_Down",
        0xff57 => "End",
        0xff63 => "Insert",
        0xff8d => "KP_Enter",
        0xffe1 => "Shift_L",
        0xffe2 => "Shift_R",
        0xffe3 => "Control_L",
        0xffe4 => "Control_R",
        0xffe5 => "Caps_Lock",
        0xffe7 => "Meta_L",
        0xffe8 => "Meta_R",
        0xffe9 => "Alt_L",
        0xffea => "Alt_R",
        0xffeb => "Super_L",
        0xffec => "Super_R",
        0xfe03 => "ISO_Level3_Shift",
        0xffbe..=0xffc9 => return format!("F{}", k - 0xffbe + 1),
        _ => {
            return match keysym_char(k) {
                Some(c) => format!("'{c}'"),
                None => "?".to_string(),
            };
        }
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_wraps_returns_and_backspaces() {
        let mut d = Desktop::new(320, 240);
        let cols = d.layout.cols;
        for _ in 0..cols + 2 {
            d.key(true, u32::from(b'x'));
        }
        assert_eq!(d.text(), "x".repeat(cols + 2));
        d.key(true, 0xff08);
        d.key(true, 0xff08);
        d.key(true, 0xff08);
        assert_eq!(d.text(), "x".repeat(cols - 1));
        d.key(true, 0xff0d);
        d.key(true, 0xe9); // é
        d.key(true, 0xffb7); // KP_7
        d.key(false, 0x41); // key up types nothing
        assert_eq!(d.text(), format!("{}\né7", "x".repeat(cols - 1)));
        d.key(true, 0xff08);
        d.key(true, 0xff08);
        d.key(true, 0xff08);
        assert_eq!(d.text(), "x".repeat(cols - 1));
    }

    #[test]
    fn scrolling_keeps_the_last_rows_and_records_a_copy() {
        let mut d = Desktop::new(320, 240);
        let rows = d.layout.rows;
        let before = d.seq();
        for i in 0..rows + 3 {
            d.key(true, u32::from(b'a') + i as u32);
            d.key(true, 0xff0d);
        }
        // The last row is the empty one after the last Return.
        let expect: Vec<String> = (4..rows + 3).map(|i| char::from(b'a' + i as u8).to_string()).collect();
        assert_eq!(d.text(), format!("{}\n", expect.join("\n")));
        let copies = d.journal.iter().filter(|(s, op)| *s > before && matches!(op, Op::Copy { .. })).count();
        assert_eq!(copies, 4);
    }

    #[test]
    fn tiny_and_odd_sizes_do_not_panic() {
        for (w, h) in [(1, 1), (7, 300), (300, 7), (33, 33), (100, 500)] {
            let mut d = Desktop::new(w, h);
            d.key(true, 0x41);
            d.key(true, 0xff0d);
            d.pointer(u16::MAX, u16::MAX, 7);
            d.pointer(0, 0, 0);
            for _ in 0..50 {
                d.step();
            }
            d.paste(b"hello\nworld");
        }
    }

    #[test]
    fn pointer_is_drawn_and_lifted_cleanly() {
        let mut d = Desktop::new(320, 240);
        d.pointer(5, 5, 0);
        let clean_centre = d.c.px[(100 * 320 + 100) as usize];
        d.pointer(100, 100, 0);
        assert_eq!(d.c.px[(100 * 320 + 100) as usize], 0xffffff);
        d.pointer(100, 100, 1);
        assert_eq!(d.c.px[(100 * 320 + 100) as usize], 0xff3030);
        d.pointer(5, 5, 0);
        assert_eq!(d.c.px[(100 * 320 + 100) as usize], clean_centre);
    }

    #[test]
    fn sprite_moves_by_copy_and_stays_intact() {
        let mut d = Desktop::new(640, 480);
        let mut reference = Canvas { w: 64, h: 64, px: vec![0; 64 * 64], clip: Rect::new(0, 0, 64, 64) };
        draw_sprite(&mut reference, Rect::new(0, 0, 64, 64));
        for _ in 0..40 {
            d.step();
        }
        let mut now = Vec::new();
        d.read(d.sprite, &mut now);
        assert_eq!(now, reference.px);
        assert!(d.journal.iter().any(|(_, op)| matches!(op, Op::Copy { .. })));
    }
}
