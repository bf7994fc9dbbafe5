//! Keyboard: DOM `KeyboardEvent.key` / `.code` → X keysym, and the keys held down.
//!
//! Characters come from `key`, so the browser's keyboard layout has already done its work: shifted
//! characters, AltGr characters and composed (dead key) characters arrive as the character typed.
//! Named keys come from `key` too, with `code` telling left from right modifiers and the numeric
//! keypad from the main block. Pure code, tested natively and in the browser.

use std::collections::HashMap;

use oxvnc_rfb::keysym::{self, from_char, function_key};

/// Keysyms the engine's `keysym` module does not name.
pub mod sym {
    pub const LINEFEED: u32 = 0xff0a;
    pub const CLEAR: u32 = 0xff0b;
    pub const PAUSE: u32 = 0xff13;
    pub const SCROLL_LOCK: u32 = 0xff14;
    pub const SYS_REQ: u32 = 0xff15;
    pub const SELECT: u32 = 0xff60;
    pub const PRINT: u32 = 0xff61;
    pub const EXECUTE: u32 = 0xff62;
    pub const UNDO: u32 = 0xff65;
    pub const REDO: u32 = 0xff66;
    pub const MENU: u32 = 0xff67;
    pub const FIND: u32 = 0xff68;
    pub const CANCEL: u32 = 0xff69;
    pub const HELP: u32 = 0xff6a;
    pub const BREAK: u32 = 0xff6b;
    pub const MODE_SWITCH: u32 = 0xff7e;
    pub const NUM_LOCK: u32 = 0xff7f;
    pub const KP_ENTER: u32 = 0xff8d;
    pub const KP_HOME: u32 = 0xff95;
    pub const KP_LEFT: u32 = 0xff96;
    pub const KP_UP: u32 = 0xff97;
    pub const KP_RIGHT: u32 = 0xff98;
    pub const KP_DOWN: u32 = 0xff99;
    pub const KP_PRIOR: u32 = 0xff9a;
    pub const KP_NEXT: u32 = 0xff9b;
    pub const KP_END: u32 = 0xff9c;
    pub const KP_BEGIN: u32 = 0xff9d;
    pub const KP_INSERT: u32 = 0xff9e;
    pub const KP_DELETE: u32 = 0xff9f;
    pub const KP_MULTIPLY: u32 = 0xffaa;
    pub const KP_ADD: u32 = 0xffab;
    pub const KP_SEPARATOR: u32 = 0xffac;
    pub const KP_SUBTRACT: u32 = 0xffad;
    pub const KP_DECIMAL: u32 = 0xffae;
    pub const KP_DIVIDE: u32 = 0xffaf;
    pub const KP_0: u32 = 0xffb0;
    pub const KP_EQUAL: u32 = 0xffbd;
    pub const META_R: u32 = 0xffe8;
    pub const CAPS_LOCK: u32 = 0xffe5;
    pub const SUPER_R: u32 = 0xffec;
    pub const HYPER_L: u32 = 0xffed;
}

use sym::*;

/// The keysym a key event stands for, or `None` for events the console leaves to the browser
/// (dead keys waiting for their second key, IME composition, unknown keys).
pub fn keysym_for(key: &str, code: &str) -> Option<u32> {
    if let Some(k) = keypad(key, code) {
        return Some(k);
    }
    let right = code.ends_with("Right");
    let named = match key {
        "Shift" => Some(if right { keysym::SHIFT_R } else { keysym::SHIFT_L }),
        "Control" => Some(if right { keysym::CONTROL_R } else { keysym::CONTROL_L }),
        "Alt" => Some(if right { keysym::ALT_R } else { keysym::ALT_L }),
        "AltGraph" => Some(keysym::ISO_LEVEL3_SHIFT),
        "Meta" | "OS" | "Super" | "Win" => Some(if right { SUPER_R } else { keysym::SUPER_L }),
        "Hyper" => Some(HYPER_L),
        "ModeChange" => Some(MODE_SWITCH),
        "CapsLock" => Some(CAPS_LOCK),
        "NumLock" => Some(NUM_LOCK),
        "ScrollLock" | "Scroll" => Some(SCROLL_LOCK),
        "Enter" => Some(keysym::RETURN),
        "Tab" => Some(keysym::TAB),
        "Backspace" => Some(keysym::BACKSPACE),
        "Escape" | "Esc" => Some(keysym::ESCAPE),
        "Delete" | "Del" => Some(keysym::DELETE),
        "Insert" => Some(keysym::INSERT),
        "Home" => Some(keysym::HOME),
        "End" => Some(keysym::END),
        "PageUp" => Some(keysym::PAGE_UP),
        "PageDown" => Some(keysym::PAGE_DOWN),
        "ArrowLeft" | "Left" => Some(keysym::LEFT),
        "ArrowRight" | "Right" => Some(keysym::RIGHT),
        "ArrowUp" | "Up" => Some(keysym::UP),
        "ArrowDown" | "Down" => Some(keysym::DOWN),
        "ContextMenu" | "Apps" => Some(MENU),
        "Pause" => Some(PAUSE),
        "Break" => Some(BREAK),
        "PrintScreen" => Some(PRINT),
        "Clear" => Some(CLEAR),
        "Help" => Some(HELP),
        "Cancel" => Some(CANCEL),
        "Select" => Some(SELECT),
        "Execute" => Some(EXECUTE),
        "Undo" => Some(UNDO),
        "Redo" => Some(REDO),
        "Find" => Some(FIND),
        // Waiting for the second key of a dead-key sequence, or an IME at work: the character
        // arrives with a later event.
        "Dead" | "Process" | "Compose" => return None,
        _ => None,
    };
    if named.is_some() {
        return named;
    }
    if let Some(n) = key.strip_prefix('F').and_then(|n| n.parse::<u8>().ok()) {
        return function_key(n);
    }
    let mut chars = key.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Some(from_char(c));
    }
    // "Unidentified" (some virtual keyboards, old browsers): fall back to the US layout by code.
    us_layout(code).and_then(|k| keysym_for(k, ""))
}

/// `KeyboardEvent.keyCode` of a key the IME or a virtual keyboard is handling; its text arrives
/// with composition and `input` events instead.
pub const IME_KEY_CODE: u32 = 229;

/// [`keysym_for`] of a DOM keyboard event (`None` also while an IME is composing).
pub fn keysym_for_event(e: &web_sys::KeyboardEvent) -> Option<u32> {
    if e.is_composing() || e.key_code() == IME_KEY_CODE {
        return None;
    }
    keysym_for(&e.key(), &e.code())
}

/// Whether the browser runs on macOS or iOS (`navigator.platform`, e.g. `MacIntel`, `iPad`).
pub fn is_apple_platform(platform: &str) -> bool {
    platform.starts_with("Mac") || ["iPhone", "iPad", "iPod"].iter().any(|p| platform.starts_with(p))
}

/// One key press or release to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    pub keysym: u32,
    pub down: bool,
    /// The physical key (`KeyboardEvent.code`) for servers that take scancodes (QEMU); empty
    /// when the keysym alone must decide, as for characters composed with a dead key or the Mac
    /// Option key (the key's scancode would type the uncomposed character there).
    pub code: String,
}

impl PartialEq<(u32, bool)> for KeyEvent {
    fn eq(&self, other: &(u32, bool)) -> bool {
        (self.keysym, self.down) == *other
    }
}

/// What to do with one key event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyAction {
    /// Key presses and releases to send, in order.
    pub send: Vec<KeyEvent>,
    /// Whether the browser's default action is cancelled (it is left alone for keys the console
    /// does not send, so dead keys, IMEs and the browser's own shortcuts keep working).
    pub prevent_default: bool,
}

impl KeyAction {
    fn pass() -> KeyAction {
        KeyAction::default()
    }

    fn take(send: Vec<KeyEvent>) -> KeyAction {
        KeyAction { send, prevent_default: true }
    }
}

/// `(keysym, down)` pairs of one physical key as [`KeyEvent`]s.
fn with_code(keys: Vec<(u32, bool)>, code: &str) -> Vec<KeyEvent> {
    keys.into_iter().map(|(keysym, down)| KeyEvent { keysym, down, code: code.to_string() }).collect()
}

/// The `code` of a [`HeldKeys::id`] (empty for keys known only by their `key`).
fn code_of(id: &str) -> &str {
    if id.starts_with("key:") { "" } else { id }
}

/// The macOS Option key: held back until it is clear whether it composes a character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OptionKey {
    /// Down, not sent: characters typed now are the ones Option composed.
    Held(u32),
    /// Down and sent as Alt (a key without a character was pressed with it).
    Sent(u32),
}

/// The `code` of the Alt keysym `alt`.
fn alt_code(alt: u32) -> &'static str {
    if alt == keysym::ALT_R { "AltRight" } else { "AltLeft" }
}

/// The keyboard of one session: keys held down, and the platform's conventions.
///
/// On macOS (`mac`):
/// - **Option** works like AltGr: `key` already holds the character Option composed (Option+e
///   then e gives "é", Option+2 gives "™"), so that character is sent alone, without Alt. Option
///   is sent as Alt only with keys that have no character (arrows, Backspace, F-keys, Enter…),
///   where it means Alt to the remote desktop too.
/// - **Command** is sent as Super (the Windows/Meta key), except that Cmd+C, Cmd+V and Cmd+X stay
///   with the browser, so copy and paste between the Mac and the page keep working (a paste sets
///   the remote clipboard). macOS sends no key-up for keys released while Command is held, so
///   releasing Command releases every key.
///
/// Every key event carries its physical key (`code`) for servers that take scancodes, except
/// characters composed by a dead key or by Option, which only their keysym can describe.
#[derive(Debug, Default)]
pub struct Keyboard {
    held: HeldKeys,
    mac: bool,
    option: Option<OptionKey>,
    /// A dead key went down: the next character is composed.
    dead: bool,
}

impl Keyboard {
    pub fn new(mac: bool) -> Keyboard {
        Keyboard { held: HeldKeys::default(), mac, option: None, dead: false }
    }

    /// A keydown (also auto-repeat). `meta` is `KeyboardEvent.metaKey`.
    pub fn down(&mut self, key: &str, code: &str, meta: bool) -> KeyAction {
        if key == "Dead" {
            self.dead = true;
        }
        let Some(keysym) = keysym_for(key, code) else { return KeyAction::pass() };
        let id = HeldKeys::id(key, code);
        let composed = is_character(key) && std::mem::take(&mut self.dead);
        if !self.mac {
            let code = if composed { String::new() } else { code_of(&id).to_string() };
            return KeyAction::take(with_code(self.held.press_as(id, keysym, code.clone()), &code));
        }
        if key == "Alt" {
            // Sent later, if a key without a character follows.
            if !matches!(self.option, Some(OptionKey::Sent(_))) {
                self.option = Some(OptionKey::Held(keysym));
            }
            return KeyAction::take(Vec::new());
        }
        if meta && matches!(code, "KeyC" | "KeyV" | "KeyX") {
            return KeyAction::pass();
        }
        let mut send = Vec::new();
        let mut composed = composed;
        if let Some(OptionKey::Held(alt)) = self.option {
            if is_character(key) {
                composed = true;
            } else {
                send.push(KeyEvent { keysym: alt, down: true, code: alt_code(alt).into() });
                self.option = Some(OptionKey::Sent(alt));
            }
        }
        let code = if composed { "" } else { code_of(&id) }.to_string();
        send.extend(with_code(self.held.press_as(id, keysym, code.clone()), &code));
        KeyAction::take(send)
    }

    /// A keyup.
    pub fn up(&mut self, key: &str, code: &str) -> KeyAction {
        if self.mac && key == "Alt" {
            return match self.option.take() {
                Some(OptionKey::Sent(alt)) => {
                    KeyAction::take(vec![KeyEvent { keysym: alt, down: false, code: alt_code(alt).into() }])
                }
                Some(_) => KeyAction::take(Vec::new()),
                None => KeyAction::pass(),
            };
        }
        let id = HeldKeys::id(key, code);
        let Some((keysym, code)) = self.held.release(&id) else { return KeyAction::pass() };
        let mut send = vec![KeyEvent { keysym, down: false, code }];
        if self.mac && key == "Meta" {
            send.extend(self.release_all());
        }
        KeyAction::take(send)
    }

    /// A character that came with `keypress` only (see the session): sent by keysym.
    pub fn press_char(&mut self, key: &str, code: &str, keysym: u32) -> Vec<KeyEvent> {
        with_code(self.held.press_as(HeldKeys::id(key, code), keysym, String::new()), "")
    }

    /// Releases everything held (the page lost the focus).
    pub fn release_all(&mut self) -> Vec<KeyEvent> {
        let mut keys: Vec<KeyEvent> =
            self.held.release_all().into_iter().map(|(keysym, code)| KeyEvent { keysym, down: false, code }).collect();
        if let Some(OptionKey::Sent(alt)) = self.option.take() {
            keys.push(KeyEvent { keysym: alt, down: false, code: alt_code(alt).into() });
        }
        self.dead = false;
        keys
    }
}

/// Whether `key` (a `KeyboardEvent.key`) is one character rather than a key name.
fn is_character(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some() && chars.next().is_none()
}

/// The keysym that types character `c` (for `keypress` fallbacks and toolbar text).
pub fn keysym_for_char(c: char) -> u32 {
    from_char(c)
}

/// Keys of the numeric keypad, told apart by `code`; with NumLock off their `key` is the
/// navigation key they double as.
fn keypad(key: &str, code: &str) -> Option<u32> {
    let rest = code.strip_prefix("Numpad")?;
    Some(match rest {
        "Enter" => KP_ENTER,
        "Add" => KP_ADD,
        "Subtract" => KP_SUBTRACT,
        "Multiply" => KP_MULTIPLY,
        "Divide" => KP_DIVIDE,
        "Equal" => KP_EQUAL,
        "Comma" => KP_SEPARATOR,
        "Decimal" => match key {
            "Delete" | "Del" => KP_DELETE,
            _ => KP_DECIMAL,
        },
        d if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() => match key {
            "Insert" => KP_INSERT,
            "End" => KP_END,
            "ArrowDown" | "Down" => KP_DOWN,
            "PageDown" => KP_NEXT,
            "ArrowLeft" | "Left" => KP_LEFT,
            "Clear" | "Unidentified" => KP_BEGIN,
            "ArrowRight" | "Right" => KP_RIGHT,
            "Home" => KP_HOME,
            "ArrowUp" | "Up" => KP_UP,
            "PageUp" => KP_PRIOR,
            _ => KP_0 + u32::from(d.as_bytes()[0] - b'0'),
        },
        _ => return None,
    })
}

/// The unshifted US-layout `key` of a physical key `code`.
fn us_layout(code: &str) -> Option<&'static str> {
    const LETTERS: [&str; 26] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v",
        "w", "x", "y", "z",
    ];
    const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    if let Some(l) = code.strip_prefix("Key") {
        let b = *l.as_bytes().first()?;
        return (l.len() == 1 && b.is_ascii_uppercase()).then(|| LETTERS[(b - b'A') as usize]);
    }
    if let Some(d) = code.strip_prefix("Digit") {
        let b = *d.as_bytes().first()?;
        return (d.len() == 1 && b.is_ascii_digit()).then(|| DIGITS[(b - b'0') as usize]);
    }
    Some(match code {
        "Space" => " ",
        "Minus" => "-",
        "Equal" => "=",
        "BracketLeft" => "[",
        "BracketRight" => "]",
        "Backslash" => "\\",
        "Semicolon" => ";",
        "Quote" => "'",
        "Backquote" => "`",
        "Comma" => ",",
        "Period" => ".",
        "Slash" => "/",
        "Enter" => "Enter",
        "Tab" => "Tab",
        "Backspace" => "Backspace",
        "Escape" => "Escape",
        _ => return None,
    })
}

/// Which keysym each physical key pressed, so its release sends the same keysym even when the
/// modifiers changed in between (press Shift, press 2 → '@', release Shift, release 2 → '@' up),
/// and the `code` it was pressed with.
#[derive(Debug, Default)]
pub struct HeldKeys {
    held: HashMap<String, (u32, String)>,
}

impl HeldKeys {
    /// The identity of a physical key: its `code`, or its `key` when the browser gives no code.
    pub fn id(key: &str, code: &str) -> String {
        if code.is_empty() || code == "Unidentified" { format!("key:{key}") } else { code.to_string() }
    }

    /// A key went down (or repeats): the key events to send.
    pub fn press(&mut self, id: String, keysym: u32) -> Vec<(u32, bool)> {
        let code = code_of(&id).to_string();
        self.press_as(id, keysym, code)
    }

    /// [`HeldKeys::press`], remembering `code` as the code to release it with.
    pub fn press_as(&mut self, id: String, keysym: u32, code: String) -> Vec<(u32, bool)> {
        match self.held.insert(id, (keysym, code)) {
            // The same key now means another keysym: release the old one first.
            Some((old, _)) if old != keysym => vec![(old, false), (keysym, true)],
            _ => vec![(keysym, true)],
        }
    }

    /// A key went up: the keysym it pressed and its code, if it was held.
    pub fn release(&mut self, id: &str) -> Option<(u32, String)> {
        self.held.remove(id)
    }

    /// Releases everything (the page lost focus: the browser will not tell us about key-ups).
    pub fn release_all(&mut self) -> Vec<(u32, String)> {
        let mut keys: Vec<(u32, String)> = self.held.drain().map(|(_, k)| k).collect();
        keys.sort_unstable();
        keys.dedup_by_key(|k| k.0);
        keys
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_come_from_key() {
        assert_eq!(keysym_for("a", "KeyA"), Some(0x61));
        assert_eq!(keysym_for("A", "KeyA"), Some(0x41));
        assert_eq!(keysym_for("@", "Digit2"), Some(0x40));
        assert_eq!(keysym_for(" ", "Space"), Some(0x20));
        // AltGr+e on a German layout.
        assert_eq!(keysym_for("€", "KeyE"), Some(0x0100_20ac));
        assert_eq!(keysym_for("é", "Digit2"), Some(0xe9));
        assert_eq!(keysym_for("z", "KeyY"), Some(0x7a));
    }

    #[test]
    fn named_keys() {
        assert_eq!(keysym_for("Enter", "Enter"), Some(keysym::RETURN));
        assert_eq!(keysym_for("Backspace", "Backspace"), Some(keysym::BACKSPACE));
        assert_eq!(keysym_for("Tab", "Tab"), Some(keysym::TAB));
        assert_eq!(keysym_for("Escape", "Escape"), Some(keysym::ESCAPE));
        assert_eq!(keysym_for("ArrowLeft", "ArrowLeft"), Some(keysym::LEFT));
        assert_eq!(keysym_for("ArrowDown", "ArrowDown"), Some(keysym::DOWN));
        assert_eq!(keysym_for("PageUp", "PageUp"), Some(keysym::PAGE_UP));
        assert_eq!(keysym_for("End", "End"), Some(keysym::END));
        assert_eq!(keysym_for("Insert", "Insert"), Some(keysym::INSERT));
        assert_eq!(keysym_for("Delete", "Delete"), Some(keysym::DELETE));
        assert_eq!(keysym_for("F1", "F1"), Some(0xffbe));
        assert_eq!(keysym_for("F12", "F12"), Some(0xffc9));
        assert_eq!(keysym_for("ContextMenu", "ContextMenu"), Some(MENU));
    }

    #[test]
    fn modifiers_by_side() {
        assert_eq!(keysym_for("Shift", "ShiftLeft"), Some(keysym::SHIFT_L));
        assert_eq!(keysym_for("Shift", "ShiftRight"), Some(keysym::SHIFT_R));
        assert_eq!(keysym_for("Control", "ControlLeft"), Some(keysym::CONTROL_L));
        assert_eq!(keysym_for("Control", "ControlRight"), Some(keysym::CONTROL_R));
        assert_eq!(keysym_for("Alt", "AltLeft"), Some(keysym::ALT_L));
        assert_eq!(keysym_for("Alt", "AltRight"), Some(keysym::ALT_R));
        assert_eq!(keysym_for("AltGraph", "AltRight"), Some(keysym::ISO_LEVEL3_SHIFT));
        assert_eq!(keysym_for("Meta", "MetaLeft"), Some(keysym::SUPER_L));
        assert_eq!(keysym_for("Meta", "MetaRight"), Some(SUPER_R));
        assert_eq!(keysym_for("CapsLock", "CapsLock"), Some(CAPS_LOCK));
    }

    #[test]
    fn keypad_by_code() {
        assert_eq!(keysym_for("7", "Numpad7"), Some(0xffb7));
        assert_eq!(keysym_for("0", "Numpad0"), Some(0xffb0));
        assert_eq!(keysym_for("Home", "Numpad7"), Some(KP_HOME));
        assert_eq!(keysym_for("Clear", "Numpad5"), Some(KP_BEGIN));
        assert_eq!(keysym_for(".", "NumpadDecimal"), Some(KP_DECIMAL));
        assert_eq!(keysym_for(",", "NumpadDecimal"), Some(KP_DECIMAL));
        assert_eq!(keysym_for("Delete", "NumpadDecimal"), Some(KP_DELETE));
        assert_eq!(keysym_for("Enter", "NumpadEnter"), Some(KP_ENTER));
        assert_eq!(keysym_for("+", "NumpadAdd"), Some(KP_ADD));
        assert_eq!(keysym_for("/", "NumpadDivide"), Some(KP_DIVIDE));
        // The main block's 7 is not the keypad's.
        assert_eq!(keysym_for("7", "Digit7"), Some(0x37));
    }

    #[test]
    fn left_to_the_browser() {
        assert_eq!(keysym_for("Dead", "BracketLeft"), None);
        assert_eq!(keysym_for("Process", "KeyA"), None);
        assert_eq!(keysym_for("Unidentified", ""), None);
        assert_eq!(keysym_for("MediaPlayPause", "MediaPlayPause"), None);
        assert_eq!(keysym_for("Unidentified", "KeyQ"), Some(0x71));
        assert_eq!(keysym_for("Unidentified", "Digit5"), Some(0x35));
        assert_eq!(keysym_for("Fx", ""), None);
        assert_eq!(keysym_for("F0", "F0"), None);
    }

    #[test]
    fn release_sends_what_press_sent() {
        let mut held = HeldKeys::default();
        assert_eq!(held.press(HeldKeys::id("Shift", "ShiftLeft"), keysym::SHIFT_L), vec![(keysym::SHIFT_L, true)]);
        assert_eq!(held.press(HeldKeys::id("@", "Digit2"), 0x40), vec![(0x40, true)]);
        // Shift goes up first; the 2 key now reads "2" but must release '@'.
        assert_eq!(held.release(&HeldKeys::id("Shift", "ShiftLeft")), Some((keysym::SHIFT_L, "ShiftLeft".into())));
        assert_eq!(held.release(&HeldKeys::id("2", "Digit2")), Some((0x40, "Digit2".into())));
        assert!(held.is_empty());
        assert_eq!(held.release("Digit2"), None);
    }

    /// What an action sends, without codes, and whether it cancels the browser's default.
    fn sends(a: &KeyAction) -> (Vec<(u32, bool)>, bool) {
        (a.send.iter().map(|k| (k.keysym, k.down)).collect(), a.prevent_default)
    }

    fn codes(a: &KeyAction) -> Vec<&str> {
        a.send.iter().map(|k| k.code.as_str()).collect()
    }

    #[test]
    fn key_events_carry_their_physical_key() {
        let mut kb = Keyboard::new(false);
        assert_eq!(codes(&kb.down("Shift", "ShiftLeft", false)), ["ShiftLeft"]);
        assert_eq!(codes(&kb.down("@", "Digit2", false)), ["Digit2"]);
        assert_eq!(codes(&kb.up("2", "Digit2")), ["Digit2"]);
        // A dead key, then the character it composed: keysym only (the key's scancode would type
        // the plain letter), and only for that one character.
        assert_eq!(kb.down("Dead", "BracketLeft", false), KeyAction::pass());
        let e = kb.down("ê", "KeyE", false);
        assert_eq!((sends(&e), codes(&e)), ((vec![(0xea, true)], true), vec![""]));
        assert_eq!(codes(&kb.up("ê", "KeyE")), [""]);
        assert_eq!(codes(&kb.down("e", "KeyE", false)), ["KeyE"]);
        // No code known: keysym only.
        assert_eq!(codes(&kb.down("x", "", false)), [""]);
        let released = kb.release_all();
        assert_eq!(released.len(), 3);
        assert!(released.iter().all(|k| !k.down));
        // Mac: a character composed with Option goes by keysym, Alt with its own code.
        let mut mac = Keyboard::new(true);
        mac.down("Alt", "AltLeft", false);
        assert_eq!(codes(&mac.down("å", "KeyA", false)), [""]);
        assert_eq!(codes(&mac.down("ArrowUp", "ArrowUp", false)), ["AltLeft", "ArrowUp"]);
        assert_eq!(codes(&mac.up("Alt", "AltLeft")), ["AltLeft"]);
    }

    #[test]
    fn apple_platforms() {
        assert!(is_apple_platform("MacIntel"));
        assert!(is_apple_platform("iPad"));
        assert!(is_apple_platform("iPhone"));
        assert!(!is_apple_platform("Linux x86_64"));
        assert!(!is_apple_platform("Win32"));
        assert!(!is_apple_platform(""));
    }

    #[test]
    fn other_platforms_send_alt_and_meta_as_they_are() {
        let mut kb = Keyboard::new(false);
        assert_eq!(sends(&kb.down("Alt", "AltLeft", false)), (vec![(keysym::ALT_L, true)], true));
        assert_eq!(kb.down("a", "KeyA", false).send, vec![(0x61, true)]);
        assert_eq!(kb.up("a", "KeyA").send, vec![(0x61, false)]);
        assert_eq!(kb.up("Alt", "AltLeft").send, vec![(keysym::ALT_L, false)]);
        // Meta+C goes to the server like any key (Ctrl+C is the copy key there).
        assert_eq!(kb.down("Meta", "MetaLeft", true).send, vec![(keysym::SUPER_L, true)]);
        assert_eq!(sends(&kb.down("c", "KeyC", true)), (vec![(0x63, true)], true));
        // Keys the console does not know are left to the browser.
        assert_eq!(kb.down("Dead", "Quote", false), KeyAction::pass());
        assert_eq!(kb.down("Process", "KeyA", false), KeyAction::pass());
    }

    #[test]
    fn mac_option_composes_characters_without_alt() {
        let mut kb = Keyboard::new(true);
        // Option down: nothing sent yet, and the browser does nothing with it either.
        assert_eq!(sends(&kb.down("Alt", "AltLeft", false)), (vec![], true));
        // Option+2 types "™": the character alone.
        assert_eq!(sends(&kb.down("™", "Digit2", false)), (vec![(0x0100_2122, true)], true));
        assert_eq!(kb.up("™", "Digit2").send, vec![(0x0100_2122, false)]);
        // Option+e is a dead key: left to the browser; the next key brings "é".
        assert_eq!(kb.down("Dead", "KeyE", false), KeyAction::pass());
        assert_eq!(kb.up("Dead", "KeyE"), KeyAction::pass());
        assert_eq!(kb.down("é", "KeyE", false).send, vec![(0xe9, true)]);
        assert_eq!(kb.up("é", "KeyE").send, vec![(0xe9, false)]);
        // Option up: Alt was never sent, so it is not released either.
        assert_eq!(sends(&kb.up("Alt", "AltLeft")), (vec![], true));
    }

    #[test]
    fn mac_option_is_alt_for_keys_without_characters() {
        let mut kb = Keyboard::new(true);
        kb.down("Alt", "AltRight", false);
        // Option+Left (word left): Alt goes first, then the arrow.
        assert_eq!(kb.down("ArrowLeft", "ArrowLeft", false).send, vec![(keysym::ALT_R, true), (keysym::LEFT, true)]);
        assert_eq!(kb.up("ArrowLeft", "ArrowLeft").send, vec![(keysym::LEFT, false)]);
        // Alt is down now: repeated Option keydowns and further keys do not send it again.
        assert!(kb.down("Alt", "AltRight", false).send.is_empty());
        assert_eq!(kb.down("Backspace", "Backspace", false).send, vec![(keysym::BACKSPACE, true)]);
        assert_eq!(kb.up("Backspace", "Backspace").send, vec![(keysym::BACKSPACE, false)]);
        assert_eq!(kb.up("Alt", "AltRight").send, vec![(keysym::ALT_R, false)]);
        // Losing the focus with Option sent releases it.
        kb.down("Alt", "AltLeft", false);
        kb.down("F4", "F4", false);
        let released = kb.release_all();
        assert!(released.iter().any(|k| *k == (keysym::ALT_L, false)), "{released:?}");
        assert!(released.iter().any(|k| *k == (0xffc1, false)), "{released:?}");
    }

    #[test]
    fn mac_command_is_super_but_leaves_copy_and_paste_to_the_browser() {
        let mut kb = Keyboard::new(true);
        assert_eq!(sends(&kb.down("Meta", "MetaLeft", true)), (vec![(keysym::SUPER_L, true)], true));
        // Cmd+V / Cmd+C / Cmd+X: not sent, not cancelled, so the browser copies and pastes.
        assert_eq!(kb.down("v", "KeyV", true), KeyAction::pass());
        assert_eq!(kb.up("v", "KeyV"), KeyAction::pass());
        assert_eq!(kb.down("c", "KeyC", true), KeyAction::pass());
        assert_eq!(kb.down("x", "KeyX", true), KeyAction::pass());
        // Cmd+Tab-like shortcuts reach the remote desktop as Super+key.
        assert_eq!(kb.down("t", "KeyT", true).send, vec![(0x74, true)]);
        // macOS sends no keyup for T while Command is down: Command's release releases it.
        assert_eq!(kb.up("Meta", "MetaLeft").send, vec![(keysym::SUPER_L, false), (0x74, false)]);
        assert!(kb.release_all().is_empty());
    }

    #[test]
    fn repeat_and_changed_meaning() {
        let mut held = HeldKeys::default();
        let id = HeldKeys::id("a", "KeyA");
        assert_eq!(held.press(id.clone(), 0x61), vec![(0x61, true)]);
        assert_eq!(held.press(id.clone(), 0x61), vec![(0x61, true)]);
        assert_eq!(held.press(id.clone(), 0x41), vec![(0x61, false), (0x41, true)]);
        held.press(HeldKeys::id("x", ""), 0x78);
        assert_eq!(held.release_all(), vec![(0x41, "KeyA".into()), (0x78, String::new())]);
        assert!(held.is_empty());
    }
}
