//! Touch gestures → remote pointer: a tap is a left click, a two-finger tap a right click, a
//! one-finger drag moves with the left button held, and a two-finger pan scrolls (vertical and
//! horizontal wheel clicks, accumulated like a touchpad's wheel events). Pure code: the session
//! feeds it pointer events of `pointerType == "touch"` in CSS pixels relative to the canvas.

use crate::pointer::{WheelAccumulator, mask};

/// How far (CSS pixels) a finger may wander before a tap becomes a drag or a pan.
pub const TAP_SLOP: f64 = 10.0;
// A pan must move further than the slop for one wheel click.
const _: () = assert!(crate::pointer::WHEEL_STEP > TAP_SLOP);

/// One pointer state to send: position (CSS pixels, relative to the canvas) and button mask.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PointerState {
    pub x: f64,
    pub y: f64,
    pub buttons: u8,
}

fn at((x, y): (f64, f64), buttons: u8) -> PointerState {
    PointerState { x, y, buttons }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Finger {
    id: i32,
    start: (f64, f64),
    pos: (f64, f64),
}

impl Finger {
    fn moved(&self) -> bool {
        let (dx, dy) = (self.pos.0 - self.start.0, self.pos.1 - self.start.1);
        dx * dx + dy * dy > TAP_SLOP * TAP_SLOP
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Gesture {
    Idle,
    /// One finger down, not moved yet: a tap or the start of a drag.
    One(Finger),
    /// One finger dragging with the left button held.
    Drag(Finger),
    /// Two fingers down, not moved yet: a right click or the start of a pan.
    Two(Finger, Finger),
    /// Two fingers scrolling; the pointer stays where the first finger landed.
    Pan {
        first: Finger,
        second: Finger,
        anchor: (f64, f64),
    },
    /// The gesture is over; waiting for the remaining fingers to lift.
    Done,
}

/// Recognises gestures from touch pointer events.
#[derive(Debug)]
pub struct TouchGestures {
    gesture: Gesture,
    /// Fingers on the screen (ids), whatever the gesture does with them.
    down: Vec<i32>,
    wheel: WheelAccumulator,
}

impl Default for TouchGestures {
    fn default() -> TouchGestures {
        TouchGestures { gesture: Gesture::Idle, down: Vec::new(), wheel: WheelAccumulator::default() }
    }
}

impl TouchGestures {
    /// A finger touched the screen.
    pub fn down(&mut self, id: i32, x: f64, y: f64) -> Vec<PointerState> {
        if !self.down.contains(&id) {
            self.down.push(id);
        }
        let finger = Finger { id, start: (x, y), pos: (x, y) };
        self.gesture = match std::mem::replace(&mut self.gesture, Gesture::Idle) {
            Gesture::Idle if self.down.len() == 1 => Gesture::One(finger),
            Gesture::One(first) => Gesture::Two(first, finger),
            // A third finger, or a finger added to a drag or pan: ignored.
            Gesture::Idle => Gesture::Done,
            other => other,
        };
        Vec::new()
    }

    /// A finger moved.
    pub fn moved(&mut self, id: i32, x: f64, y: f64) -> Vec<PointerState> {
        let pos = (x, y);
        match &mut self.gesture {
            Gesture::One(f) if f.id == id => {
                f.pos = pos;
                if f.moved() {
                    let f = *f;
                    self.gesture = Gesture::Drag(f);
                    return vec![at(f.start, 0), at(f.start, mask::LEFT), at(pos, mask::LEFT)];
                }
                Vec::new()
            }
            Gesture::Drag(f) if f.id == id => {
                f.pos = pos;
                vec![at(pos, mask::LEFT)]
            }
            Gesture::Two(a, b) if a.id == id || b.id == id => {
                if a.id == id {
                    a.pos = pos
                } else {
                    b.pos = pos
                }
                if a.moved() || b.moved() {
                    let (first, second) = (*a, *b);
                    let anchor = first.start;
                    self.gesture = Gesture::Pan { first, second, anchor };
                    let mut out = vec![at(anchor, 0)];
                    // The movement so far counts towards scrolling.
                    let start = ((first.start.0 + second.start.0) / 2.0, (first.start.1 + second.start.1) / 2.0);
                    let now = centroid(&first, &second);
                    out.extend(self.scroll(start, now, anchor));
                    return out;
                }
                Vec::new()
            }
            Gesture::Pan { first, second, anchor } if first.id == id || second.id == id => {
                let before = centroid(first, second);
                if first.id == id {
                    first.pos = pos
                } else {
                    second.pos = pos
                }
                let now = centroid(first, second);
                let anchor = *anchor;
                self.scroll(before, now, anchor)
            }
            _ => Vec::new(),
        }
    }

    /// A finger lifted.
    pub fn up(&mut self, id: i32, x: f64, y: f64) -> Vec<PointerState> {
        self.down.retain(|&d| d != id);
        let out = match std::mem::replace(&mut self.gesture, Gesture::Done) {
            Gesture::One(f) if f.id == id => {
                // A finger that wandered off between its last move and lifting still clicks
                // where it was.
                let lifted = Finger { pos: (x, y), ..f };
                let p = if lifted.moved() { f.pos } else { (x, y) };
                vec![at(p, 0), at(p, mask::LEFT), at(p, 0)]
            }
            Gesture::Drag(f) if f.id == id => vec![at((x, y), mask::LEFT), at((x, y), 0)],
            Gesture::Two(a, b) if a.id == id || b.id == id => {
                let p = a.start;
                vec![at(p, 0), at(p, mask::RIGHT), at(p, 0)]
            }
            Gesture::Pan { first, second, .. } if first.id == id || second.id == id => Vec::new(),
            other => {
                self.gesture = other;
                Vec::new()
            }
        };
        self.settle();
        out
    }

    /// The browser took the touch away (scrolling, a system gesture): a held button is released,
    /// nothing is clicked.
    pub fn cancel(&mut self, id: i32) -> Vec<PointerState> {
        self.down.retain(|&d| d != id);
        let out = match std::mem::replace(&mut self.gesture, Gesture::Done) {
            Gesture::Drag(f) => vec![at(f.pos, 0)],
            _ => Vec::new(),
        };
        self.settle();
        out
    }

    /// Forgets everything (the session ended).
    pub fn reset(&mut self) {
        *self = TouchGestures::default();
    }

    fn settle(&mut self) {
        if self.down.is_empty() {
            self.gesture = Gesture::Idle;
            self.wheel.reset();
        }
    }

    /// Wheel clicks for the fingers' centre moving from `before` to `now`: content follows the
    /// fingers, so fingers moving up scroll down.
    fn scroll(&mut self, before: (f64, f64), now: (f64, f64), anchor: (f64, f64)) -> Vec<PointerState> {
        let (dx, dy) = (before.0 - now.0, before.1 - now.1);
        self.wheel.add(dx, dy, 0).into_iter().flat_map(|bit| [at(anchor, bit), at(anchor, 0)]).collect()
    }
}

fn centroid(a: &Finger, b: &Finger) -> (f64, f64) {
    ((a.pos.0 + b.pos.0) / 2.0, (a.pos.1 + b.pos.1) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f64, y: f64, buttons: u8) -> PointerState {
        PointerState { x, y, buttons }
    }

    #[test]
    fn tap_is_a_left_click() {
        let mut t = TouchGestures::default();
        assert!(t.down(1, 100.0, 50.0).is_empty());
        // A little jitter is still a tap.
        assert!(t.moved(1, 103.0, 52.0).is_empty());
        assert_eq!(t.up(1, 103.0, 52.0), vec![p(103.0, 52.0, 0), p(103.0, 52.0, 1), p(103.0, 52.0, 0)]);
        // And again: the recogniser is back at rest.
        t.down(7, 10.0, 10.0);
        assert_eq!(t.up(7, 10.0, 10.0).len(), 3);
    }

    #[test]
    fn drag_holds_the_left_button() {
        let mut t = TouchGestures::default();
        t.down(1, 100.0, 100.0);
        assert!(t.moved(1, 105.0, 100.0).is_empty());
        // Past the slop: press where the finger landed, then follow it.
        assert_eq!(t.moved(1, 120.0, 100.0), vec![p(100.0, 100.0, 0), p(100.0, 100.0, 1), p(120.0, 100.0, 1)]);
        assert_eq!(t.moved(1, 150.0, 130.0), vec![p(150.0, 130.0, 1)]);
        // Moves of other fingers do not disturb it.
        assert!(t.down(2, 300.0, 300.0).is_empty());
        assert!(t.moved(2, 400.0, 300.0).is_empty());
        assert_eq!(t.up(1, 151.0, 131.0), vec![p(151.0, 131.0, 1), p(151.0, 131.0, 0)]);
        // The second finger lifting afterwards clicks nothing.
        assert!(t.up(2, 400.0, 300.0).is_empty());
        assert_eq!(t.down(3, 5.0, 5.0), vec![]);
        assert_eq!(t.up(3, 5.0, 5.0)[1], p(5.0, 5.0, 1));
    }

    #[test]
    fn two_finger_tap_is_a_right_click() {
        let mut t = TouchGestures::default();
        t.down(1, 200.0, 200.0);
        t.down(2, 260.0, 210.0);
        assert!(t.moved(2, 262.0, 211.0).is_empty());
        assert_eq!(t.up(2, 262.0, 211.0), vec![p(200.0, 200.0, 0), p(200.0, 200.0, 4), p(200.0, 200.0, 0)]);
        // The first finger lifting ends the gesture without another click.
        assert!(t.up(1, 200.0, 200.0).is_empty());
        assert_eq!(t.down(1, 0.0, 0.0), vec![]);
    }

    #[test]
    fn two_finger_pan_scrolls_with_accumulation() {
        let mut t = TouchGestures::default();
        t.down(1, 200.0, 400.0);
        t.down(2, 300.0, 400.0);
        // Both fingers move up 30 px: the centre moved 30 px up, which is less than a wheel step
        // (the pointer goes to the first finger, nothing is scrolled yet).
        assert_eq!(t.moved(1, 200.0, 370.0), vec![p(200.0, 400.0, 0)]);
        assert!(t.moved(2, 300.0, 370.0).is_empty());
        // Another 40 px up: the centre is 70 px up now, one wheel-down click (20 px left over).
        let mut out = t.moved(1, 200.0, 330.0);
        out.extend(t.moved(2, 300.0, 330.0));
        assert_eq!(out, vec![p(200.0, 400.0, mask::WHEEL_DOWN), p(200.0, 400.0, 0)]);
        // Fingers moving 100 px down and 100 px left: the content follows them, so the wheel
        // goes up (20 - 100 = -80: one click) and right (two clicks).
        let mut out = t.moved(1, 100.0, 430.0);
        out.extend(t.moved(2, 200.0, 430.0));
        let bits: Vec<u8> = out.iter().map(|s| s.buttons).filter(|&b| b != 0).collect();
        assert_eq!(bits, vec![mask::WHEEL_RIGHT, mask::WHEEL_UP, mask::WHEEL_RIGHT]);
        // Lifting the fingers clicks nothing.
        assert!(t.up(1, 100.0, 430.0).is_empty());
        assert!(t.up(2, 200.0, 430.0).is_empty());
    }

    #[test]
    fn cancel_releases_and_clicks_nothing() {
        let mut t = TouchGestures::default();
        t.down(1, 0.0, 0.0);
        assert!(t.cancel(1).is_empty());
        t.down(1, 0.0, 0.0);
        t.moved(1, 50.0, 0.0);
        assert_eq!(t.cancel(1), vec![p(50.0, 0.0, 0)]);
        // Unknown fingers and a third finger are ignored.
        assert!(t.up(9, 1.0, 1.0).is_empty());
        t.down(1, 0.0, 0.0);
        t.down(2, 10.0, 0.0);
        t.down(3, 20.0, 0.0);
        assert!(t.moved(3, 90.0, 90.0).is_empty());
        t.reset();
        assert_eq!(t.down(4, 1.0, 1.0), vec![]);
    }
}
