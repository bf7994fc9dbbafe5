//! Pointer: DOM button state → RFB button mask, wheel deltas → wheel "button" clicks, and CSS
//! coordinates → framebuffer coordinates. Pure code.

/// RFB PointerEvent mask bits.
pub mod mask {
    pub const LEFT: u8 = 1;
    pub const MIDDLE: u8 = 2;
    pub const RIGHT: u8 = 4;
    pub const WHEEL_UP: u8 = 8;
    pub const WHEEL_DOWN: u8 = 16;
    pub const WHEEL_LEFT: u8 = 32;
    pub const WHEEL_RIGHT: u8 = 64;
    /// X button 8, "back" on most mice.
    pub const BACK: u8 = 128;
}

/// `MouseEvent.buttons` (1 left, 2 right, 4 middle, 8 back, 16 forward) → RFB mask. "Forward"
/// (X button 9) does not fit the 8-bit mask of the core protocol and is dropped (see
/// [`ext_mask_from_buttons`]).
pub fn mask_from_buttons(buttons: u16) -> u8 {
    let mut m = 0;
    if buttons & 1 != 0 {
        m |= mask::LEFT;
    }
    if buttons & 4 != 0 {
        m |= mask::MIDDLE;
    }
    if buttons & 2 != 0 {
        m |= mask::RIGHT;
    }
    if buttons & 8 != 0 {
        m |= mask::BACK;
    }
    m
}

/// Bit of the extended pointer mask (ExtendedMouseButtons) for X button 9, "forward".
pub const EXT_FORWARD: u16 = 0x100;

/// `MouseEvent.buttons` → the extended RFB mask: [`mask_from_buttons`] plus forward as
/// [`EXT_FORWARD`] (sent when the server takes extended mouse buttons, dropped otherwise).
pub fn ext_mask_from_buttons(buttons: u16) -> u16 {
    let forward = if buttons & 16 != 0 { EXT_FORWARD } else { 0 };
    u16::from(mask_from_buttons(buttons)) | forward
}

/// `MouseEvent.button` of one press (0 left, 1 middle, 2 right, 3 back, 4 forward) → its mask
/// bit (0 for forward and unknown buttons).
pub fn mask_from_button(button: i16) -> u8 {
    match button {
        0 => mask::LEFT,
        1 => mask::MIDDLE,
        2 => mask::RIGHT,
        3 => mask::BACK,
        _ => 0,
    }
}

/// CSS pixels of wheel movement per wheel click sent to the server.
pub const WHEEL_STEP: f64 = 50.0;
/// CSS pixels per line for `WheelEvent.deltaMode == 1` (Firefox reports lines).
pub const WHEEL_LINE: f64 = 19.0;
/// CSS pixels per page for `deltaMode == 2`.
pub const WHEEL_PAGE: f64 = 400.0;
/// At most this many clicks per axis from one wheel event (a flood guard for huge deltas).
pub const MAX_CLICKS_PER_EVENT: u32 = 10;

/// Accumulates wheel movement; every [`WHEEL_STEP`] pixels in a direction make one click.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WheelAccumulator {
    x: f64,
    y: f64,
}

impl WheelAccumulator {
    /// Adds one wheel event (`delta_mode`: 0 pixels, 1 lines, 2 pages); returns the mask bits to
    /// click (press and release each), in order.
    pub fn add(&mut self, dx: f64, dy: f64, delta_mode: u32) -> Vec<u8> {
        let unit = match delta_mode {
            1 => WHEEL_LINE,
            2 => WHEEL_PAGE,
            _ => 1.0,
        };
        let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
        let mut clicks = Vec::new();
        self.y += finite(dy) * unit;
        self.x += finite(dx) * unit;
        Self::drain(&mut self.y, mask::WHEEL_UP, mask::WHEEL_DOWN, &mut clicks);
        Self::drain(&mut self.x, mask::WHEEL_LEFT, mask::WHEEL_RIGHT, &mut clicks);
        clicks
    }

    fn drain(acc: &mut f64, negative: u8, positive: u8, clicks: &mut Vec<u8>) {
        let mut n = 0;
        while acc.abs() >= WHEEL_STEP && n < MAX_CLICKS_PER_EVENT {
            if *acc < 0.0 {
                clicks.push(negative);
                *acc += WHEEL_STEP;
            } else {
                clicks.push(positive);
                *acc -= WHEEL_STEP;
            }
            n += 1;
        }
        // What the flood guard did not send is dropped, not saved for later.
        if acc.abs() >= WHEEL_STEP {
            *acc = acc.signum() * (WHEEL_STEP - 1.0);
        }
    }

    /// Forgets partial movement (e.g. on disconnect).
    pub fn reset(&mut self) {
        *self = WheelAccumulator::default();
    }
}

/// Maps a point `(x, y)` in CSS pixels relative to the displayed canvas of CSS size
/// `css_w`×`css_h` to framebuffer pixel coordinates of a `fb_w`×`fb_h` framebuffer, clamped to it.
pub fn to_framebuffer(x: f64, y: f64, css_w: f64, css_h: f64, fb_w: u16, fb_h: u16) -> (u16, u16) {
    let map = |v: f64, css: f64, fb: u16| -> u16 {
        if fb == 0 {
            return 0;
        }
        let max = f64::from(fb - 1);
        let scaled = if css > 0.0 && css.is_finite() { v * f64::from(fb) / css } else { v };
        if scaled.is_nan() { 0 } else { scaled.floor().clamp(0.0, max) as u16 }
    };
    (map(x, css_w, fb_w), map(y, css_h, fb_h))
}

/// CSS size of a `fb_w`×`fb_h` screen fitted into a `box_w`×`box_h` area, keeping the aspect
/// ratio (scaled up or down).
pub fn fit(fb_w: u16, fb_h: u16, box_w: f64, box_h: f64) -> (f64, f64) {
    let usable = |v: f64| v.is_finite() && v > 0.0;
    if fb_w == 0 || fb_h == 0 || !usable(box_w) || !usable(box_h) {
        return (f64::from(fb_w), f64::from(fb_h));
    }
    let scale = (box_w / f64::from(fb_w)).min(box_h / f64::from(fb_h));
    (f64::from(fb_w) * scale, f64::from(fb_h) * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons() {
        assert_eq!(mask_from_buttons(0), 0);
        assert_eq!(mask_from_buttons(1), mask::LEFT);
        assert_eq!(mask_from_buttons(2), mask::RIGHT);
        assert_eq!(mask_from_buttons(4), mask::MIDDLE);
        assert_eq!(mask_from_buttons(8), mask::BACK);
        assert_eq!(mask_from_buttons(16), 0);
        assert_eq!(mask_from_buttons(1 | 2 | 4), 7);
        assert_eq!(ext_mask_from_buttons(16), EXT_FORWARD);
        assert_eq!(ext_mask_from_buttons(1 | 8 | 16), 1 | 128 | EXT_FORWARD);
        assert_eq!(ext_mask_from_buttons(2), u16::from(mask::RIGHT));
        assert_eq!(mask_from_button(0), 1);
        assert_eq!(mask_from_button(1), 2);
        assert_eq!(mask_from_button(2), 4);
        assert_eq!(mask_from_button(3), 128);
        assert_eq!(mask_from_button(4), 0);
    }

    #[test]
    fn wheel_accumulates_pixels() {
        let mut w = WheelAccumulator::default();
        assert!(w.add(0.0, 30.0, 0).is_empty());
        assert_eq!(w.add(0.0, 30.0, 0), vec![mask::WHEEL_DOWN]);
        assert!(w.add(0.0, -20.0, 0).is_empty());
        assert_eq!(w.add(0.0, -100.0, 0), vec![mask::WHEEL_UP, mask::WHEEL_UP]);
        assert_eq!(w.add(-120.0, 0.0, 0), vec![mask::WHEEL_LEFT, mask::WHEEL_LEFT]);
        // -20 left over from the left clicks.
        assert!(w.add(60.0, 0.0, 0).is_empty());
        assert_eq!(w.add(10.0, 0.0, 0), vec![mask::WHEEL_RIGHT]);
    }

    #[test]
    fn wheel_lines_pages_and_floods() {
        let mut w = WheelAccumulator::default();
        // Firefox: 3 lines per notch = 57 px = one click.
        assert_eq!(w.add(0.0, 3.0, 1), vec![mask::WHEEL_DOWN]);
        let mut w = WheelAccumulator::default();
        assert_eq!(w.add(0.0, 1.0, 2).len(), 8);
        let mut w = WheelAccumulator::default();
        assert_eq!(w.add(0.0, 1e9, 0).len(), MAX_CLICKS_PER_EVENT as usize);
        // The rest of the flood is not replayed later.
        assert!(w.add(0.0, 0.0, 0).is_empty());
        assert!(w.add(f64::NAN, f64::INFINITY, 0).is_empty());
        w.reset();
        assert_eq!(w, WheelAccumulator::default());
    }

    #[test]
    fn coordinates_scale_and_clamp() {
        assert_eq!(to_framebuffer(10.0, 20.0, 1280.0, 720.0, 1280, 720), (10, 20));
        assert_eq!(to_framebuffer(320.0, 180.0, 640.0, 360.0, 1280, 720), (640, 360));
        assert_eq!(to_framebuffer(-5.0, 9999.0, 640.0, 360.0, 1280, 720), (0, 719));
        assert_eq!(to_framebuffer(639.9, 359.9, 640.0, 360.0, 1280, 720), (1279, 719));
        assert_eq!(to_framebuffer(5.0, 5.0, 0.0, 0.0, 0, 0), (0, 0));
        assert_eq!(to_framebuffer(f64::NAN, 1.0, 10.0, 10.0, 10, 10), (0, 1));
    }

    #[test]
    fn fit_keeps_aspect() {
        assert_eq!(fit(1280, 720, 640.0, 640.0), (640.0, 360.0));
        assert_eq!(fit(1280, 720, 2560.0, 720.0), (1280.0, 720.0));
        assert_eq!(fit(800, 600, 1600.0, 1600.0), (1600.0, 1200.0));
        assert_eq!(fit(800, 600, 0.0, 100.0), (800.0, 600.0));
    }
}
