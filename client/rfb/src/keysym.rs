//! X keysyms (the key codes of RFB KeyEvent): named keys and the mapping from characters.

pub const BACKSPACE: u32 = 0xff08;
pub const TAB: u32 = 0xff09;
pub const RETURN: u32 = 0xff0d;
pub const ESCAPE: u32 = 0xff1b;
pub const DELETE: u32 = 0xffff;
pub const HOME: u32 = 0xff50;
pub const LEFT: u32 = 0xff51;
pub const UP: u32 = 0xff52;
pub const RIGHT: u32 = 0xff53;
pub const DOWN: u32 = 0xff54;
pub const PAGE_UP: u32 = 0xff55;
pub const PAGE_DOWN: u32 = 0xff56;
pub const END: u32 = 0xff57;
pub const INSERT: u32 = 0xff63;
pub const F1: u32 = 0xffbe;
pub const SHIFT_L: u32 = 0xffe1;
pub const SHIFT_R: u32 = 0xffe2;
pub const CONTROL_L: u32 = 0xffe3;
pub const CONTROL_R: u32 = 0xffe4;
pub const META_L: u32 = 0xffe7;
pub const ALT_L: u32 = 0xffe9;
pub const ALT_R: u32 = 0xffea;
pub const SUPER_L: u32 = 0xffeb;
pub const ISO_LEVEL3_SHIFT: u32 = 0xfe03;

/// Keysym of function key F`n` (1..=35).
pub fn function_key(n: u8) -> Option<u32> {
    (1..=35).contains(&n).then(|| F1 + n as u32 - 1)
}

/// The keysym that types `c`: Latin-1 characters are their own keysym, control characters map to
/// their keys, everything else is a Unicode keysym (0x0100_0000 + code point).
pub fn from_char(c: char) -> u32 {
    match c {
        '\n' | '\r' => RETURN,
        '\t' => TAB,
        '\u{8}' => BACKSPACE,
        '\u{1b}' => ESCAPE,
        '\u{7f}' => DELETE,
        ' '..='~' | '\u{a0}'..='\u{ff}' => c as u32,
        c => 0x0100_0000 + c as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chars() {
        assert_eq!(from_char('a'), 0x61);
        assert_eq!(from_char('~'), 0x7e);
        assert_eq!(from_char('é'), 0xe9);
        assert_eq!(from_char('€'), 0x0100_20ac);
        assert_eq!(from_char('\n'), RETURN);
        assert_eq!(function_key(12), Some(0xffc9));
        assert_eq!(function_key(0), None);
    }
}
