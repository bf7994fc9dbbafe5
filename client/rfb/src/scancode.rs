//! Browser `KeyboardEvent.code` values → XT (PC scan code set 1) key codes, for QEMU Extended
//! Key Events: with them the server's keyboard layout, not the browser's, decides the character.
//!
//! Codes name physical keys by their position on a US keyboard, so one table serves every layout.
//! Two-byte codes (the 0xE0 prefix) are written 0xE0xx, as QEMU's keymaps do; Pause, whose real
//! sequence has no release code, is 0xE046 like QEMU's. [`rfb_keycode`] turns a code into the
//! form the message carries.

/// The XT scan code of the key `code` (a `KeyboardEvent.code`), or `None` for keys with none.
pub fn xt_scancode(code: &str) -> Option<u16> {
    TABLE.iter().find(|(c, _)| *c == code).map(|&(_, v)| v)
}

/// The keycode field of a QEMU Extended Key Event for XT code `xt`: one-byte codes as they are,
/// 0xE0-prefixed ones with the high bit of the second byte set (0xE038 → 0xB8).
pub fn rfb_keycode(xt: u16) -> u32 {
    if xt >> 8 == 0xE0 { 0x80 | (xt as u32 & 0x7F) } else { xt as u32 }
}

/// `KeyboardEvent.code` → XT scan code. Older browser names (`OSLeft`, `VolumeUp`) are included.
const TABLE: &[(&str, u16)] = &[
    ("Escape", 0x01),
    ("Digit1", 0x02),
    ("Digit2", 0x03),
    ("Digit3", 0x04),
    ("Digit4", 0x05),
    ("Digit5", 0x06),
    ("Digit6", 0x07),
    ("Digit7", 0x08),
    ("Digit8", 0x09),
    ("Digit9", 0x0A),
    ("Digit0", 0x0B),
    ("Minus", 0x0C),
    ("Equal", 0x0D),
    ("Backspace", 0x0E),
    ("Tab", 0x0F),
    ("KeyQ", 0x10),
    ("KeyW", 0x11),
    ("KeyE", 0x12),
    ("KeyR", 0x13),
    ("KeyT", 0x14),
    ("KeyY", 0x15),
    ("KeyU", 0x16),
    ("KeyI", 0x17),
    ("KeyO", 0x18),
    ("KeyP", 0x19),
    ("BracketLeft", 0x1A),
    ("BracketRight", 0x1B),
    ("Enter", 0x1C),
    ("ControlLeft", 0x1D),
    ("KeyA", 0x1E),
    ("KeyS", 0x1F),
    ("KeyD", 0x20),
    ("KeyF", 0x21),
    ("KeyG", 0x22),
    ("KeyH", 0x23),
    ("KeyJ", 0x24),
    ("KeyK", 0x25),
    ("KeyL", 0x26),
    ("Semicolon", 0x27),
    ("Quote", 0x28),
    ("Backquote", 0x29),
    ("ShiftLeft", 0x2A),
    ("Backslash", 0x2B),
    ("KeyZ", 0x2C),
    ("KeyX", 0x2D),
    ("KeyC", 0x2E),
    ("KeyV", 0x2F),
    ("KeyB", 0x30),
    ("KeyN", 0x31),
    ("KeyM", 0x32),
    ("Comma", 0x33),
    ("Period", 0x34),
    ("Slash", 0x35),
    ("ShiftRight", 0x36),
    ("NumpadMultiply", 0x37),
    ("AltLeft", 0x38),
    ("Space", 0x39),
    ("CapsLock", 0x3A),
    ("F1", 0x3B),
    ("F2", 0x3C),
    ("F3", 0x3D),
    ("F4", 0x3E),
    ("F5", 0x3F),
    ("F6", 0x40),
    ("F7", 0x41),
    ("F8", 0x42),
    ("F9", 0x43),
    ("F10", 0x44),
    ("NumLock", 0x45),
    ("ScrollLock", 0x46),
    ("Numpad7", 0x47),
    ("Numpad8", 0x48),
    ("Numpad9", 0x49),
    ("NumpadSubtract", 0x4A),
    ("Numpad4", 0x4B),
    ("Numpad5", 0x4C),
    ("Numpad6", 0x4D),
    ("NumpadAdd", 0x4E),
    ("Numpad1", 0x4F),
    ("Numpad2", 0x50),
    ("Numpad3", 0x51),
    ("Numpad0", 0x52),
    ("NumpadDecimal", 0x53),
    ("IntlBackslash", 0x56),
    ("F11", 0x57),
    ("F12", 0x58),
    ("NumpadEqual", 0x59),
    ("F13", 0x64),
    ("F14", 0x65),
    ("F15", 0x66),
    ("F16", 0x67),
    ("F17", 0x68),
    ("F18", 0x69),
    ("F19", 0x6A),
    ("F20", 0x6B),
    ("F21", 0x6C),
    ("F22", 0x6D),
    ("F23", 0x6E),
    ("KanaMode", 0x70),
    ("IntlRo", 0x73),
    ("F24", 0x76),
    ("Convert", 0x79),
    ("NonConvert", 0x7B),
    ("IntlYen", 0x7D),
    ("NumpadComma", 0x7E),
    ("MediaTrackPrevious", 0xE010),
    ("MediaTrackNext", 0xE019),
    ("NumpadEnter", 0xE01C),
    ("ControlRight", 0xE01D),
    ("AudioVolumeMute", 0xE020),
    ("VolumeMute", 0xE020),
    ("LaunchApp2", 0xE021),
    ("MediaPlayPause", 0xE022),
    ("MediaStop", 0xE024),
    ("AudioVolumeDown", 0xE02E),
    ("VolumeDown", 0xE02E),
    ("AudioVolumeUp", 0xE030),
    ("VolumeUp", 0xE030),
    ("BrowserHome", 0xE032),
    ("NumpadDivide", 0xE035),
    ("PrintScreen", 0xE037),
    ("AltRight", 0xE038),
    ("Pause", 0xE046),
    ("Home", 0xE047),
    ("ArrowUp", 0xE048),
    ("PageUp", 0xE049),
    ("ArrowLeft", 0xE04B),
    ("ArrowRight", 0xE04D),
    ("End", 0xE04F),
    ("ArrowDown", 0xE050),
    ("PageDown", 0xE051),
    ("Insert", 0xE052),
    ("Delete", 0xE053),
    ("MetaLeft", 0xE05B),
    ("OSLeft", 0xE05B),
    ("MetaRight", 0xE05C),
    ("OSRight", 0xE05C),
    ("ContextMenu", 0xE05D),
    ("Power", 0xE05E),
    ("Sleep", 0xE05F),
    ("WakeUp", 0xE063),
    ("BrowserSearch", 0xE065),
    ("BrowserFavorites", 0xE066),
    ("BrowserRefresh", 0xE067),
    ("BrowserStop", 0xE068),
    ("BrowserForward", 0xE069),
    ("BrowserBack", 0xE06A),
    ("LaunchApp1", 0xE06B),
    ("LaunchMail", 0xE06C),
    ("MediaSelect", 0xE06D),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_their_xt_codes() {
        assert_eq!(xt_scancode("KeyA"), Some(0x1E));
        assert_eq!(xt_scancode("ShiftLeft"), Some(0x2A));
        assert_eq!(xt_scancode("Numpad1"), Some(0x4F));
        assert_eq!(xt_scancode("IntlBackslash"), Some(0x56));
        assert_eq!(xt_scancode("AltRight"), Some(0xE038));
        assert_eq!(xt_scancode("Enter"), Some(0x1C));
        assert_eq!(xt_scancode("NumpadEnter"), Some(0xE01C));
        assert_eq!(xt_scancode("Unidentified"), None);
        assert_eq!(xt_scancode(""), None);
        assert_eq!(xt_scancode("keya"), None, "codes are case-sensitive");
    }

    #[test]
    fn extended_codes_set_the_high_bit_on_the_wire() {
        assert_eq!(rfb_keycode(0x1E), 0x1E);
        assert_eq!(rfb_keycode(0xE038), 0xB8);
        assert_eq!(rfb_keycode(0xE01D), 0x9D);
        assert_eq!(rfb_keycode(0xE046), 0xC6);
    }

    #[test]
    fn the_table_has_no_duplicate_codes_and_no_clashing_keys() {
        for (i, (c, v)) in TABLE.iter().enumerate() {
            assert!(TABLE[..i].iter().all(|(o, _)| o != c), "{c} listed twice");
            assert!(*v < 0x80 || v >> 8 == 0xE0 && v & 0xFF < 0x80, "{c}: {v:#x}");
            // Two names for one key are allowed only for the legacy aliases.
            let same: Vec<_> = TABLE.iter().filter(|(_, o)| o == v).map(|(n, _)| *n).collect();
            assert!(same.len() <= 2, "{same:?} share {v:#x}");
        }
        assert!(TABLE.len() > 140);
    }
}
