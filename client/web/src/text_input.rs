//! Text that arrives without a usable key event: IME composition (`compositionstart` /
//! `compositionend` on the hidden text area that holds the keyboard focus) and virtual keyboards
//! (`keydown` with `keyCode` 229 and the text in an `input` event). The text is sent as keysyms:
//! each character pressed and released, Unicode keysyms (`0x0100_0000 + code point`) for
//! characters outside Latin-1. Pure code.
//!
//! Nothing is sent twice: key events during composition are not keys (they carry
//! `isComposing` or `keyCode` 229 and the session leaves them alone), the composition's own
//! `input` events are ignored, and the text a composition committed is sent once even when the
//! browser repeats it as an `insertText` input afterwards.

use oxvnc_rfb::keysym;

/// Key presses and releases that type `text`: `\n` (or `\r\n`) is Return, `\t` is Tab, other
/// control characters are dropped.
pub fn text_keysyms(text: &str) -> Vec<(u32, bool)> {
    let mut out = Vec::with_capacity(text.len() * 2);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let k = match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                keysym::RETURN
            }
            '\n' => keysym::RETURN,
            '\t' => keysym::TAB,
            c if c.is_control() => continue,
            c => keysym::from_char(c),
        };
        out.push((k, true));
        out.push((k, false));
    }
    out
}

/// Composition and `input` events of one text area.
#[derive(Debug, Default)]
pub struct TextInput {
    composing: bool,
    /// What the last composition committed, until the next key or input event.
    committed: Option<String>,
}

impl TextInput {
    /// Whether an IME composition is under way (the text area's contents belong to the IME).
    pub fn composing(&self) -> bool {
        self.composing
    }

    /// `compositionstart`.
    pub fn composition_start(&mut self) {
        self.composing = true;
        self.committed = None;
    }

    /// `compositionend` with its `data`, the text the user chose: sent now.
    pub fn composition_end(&mut self, data: &str) -> Vec<(u32, bool)> {
        self.composing = false;
        if data.is_empty() {
            // Cancelled (Escape): nothing was typed.
            self.committed = None;
            return Vec::new();
        }
        self.committed = Some(data.to_string());
        text_keysyms(data)
    }

    /// [`TextInput::composition_end`] of a DOM `compositionend` event.
    pub fn composition_end_event(&mut self, e: &web_sys::CompositionEvent) -> Vec<(u32, bool)> {
        self.composition_end(&e.data().unwrap_or_default())
    }

    /// [`TextInput::input`] of a DOM `input` event.
    pub fn input_event(&mut self, e: &web_sys::InputEvent) -> Vec<(u32, bool)> {
        self.input(&e.input_type(), e.data().as_deref(), e.is_composing())
    }

    /// A key the console handled itself went down: a later `insertText` is new text.
    pub fn key_down(&mut self) {
        self.committed = None;
    }

    /// An `input` event (`inputType`, `data`, `isComposing`): the keys it stands for.
    pub fn input(&mut self, input_type: &str, data: Option<&str>, is_composing: bool) -> Vec<(u32, bool)> {
        if is_composing || self.composing {
            return Vec::new();
        }
        let committed = self.committed.take();
        let press = |k: u32| vec![(k, true), (k, false)];
        match input_type {
            // Firefox reports the committed composition once more after compositionend.
            "insertCompositionText" => Vec::new(),
            "insertText" | "insertReplacementText" | "insertFromComposition" => match data {
                Some(d) if committed.as_deref() == Some(d) => Vec::new(),
                Some(d) => text_keysyms(d),
                None => Vec::new(),
            },
            "insertLineBreak" | "insertParagraph" => press(keysym::RETURN),
            "deleteContentBackward" | "deleteWordBackward" => press(keysym::BACKSPACE),
            "deleteContentForward" | "deleteWordForward" => press(keysym::DELETE),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(keys: &[(u32, bool)]) -> Vec<u32> {
        keys.iter().filter(|(_, down)| *down).map(|&(k, _)| k).collect()
    }

    #[test]
    fn text_becomes_keysyms() {
        assert_eq!(text_keysyms("aé"), vec![(0x61, true), (0x61, false), (0xe9, true), (0xe9, false)]);
        // Outside Latin-1: Unicode keysyms.
        assert_eq!(typed(&text_keysyms("日本語")), vec![0x0100_65e5, 0x0100_672c, 0x0100_8a9e]);
        assert_eq!(typed(&text_keysyms("€😀")), vec![0x0100_20ac, 0x0101_f600]);
        assert_eq!(
            typed(&text_keysyms("a\r\nb\nc\td\u{7}")),
            vec![0x61, keysym::RETURN, 0x62, keysym::RETURN, 0x63, keysym::TAB, 0x64]
        );
        assert!(text_keysyms("").is_empty());
    }

    #[test]
    fn composition_sends_the_committed_text_once() {
        let mut t = TextInput::default();
        t.composition_start();
        assert!(t.composing());
        // Chrome: input events during composition carry isComposing.
        assert!(t.input("insertCompositionText", Some("にほ"), true).is_empty());
        assert!(t.input("insertCompositionText", Some("日本"), false).is_empty());
        assert_eq!(typed(&t.composition_end("日本")), vec![0x0100_65e5, 0x0100_672c]);
        assert!(!t.composing());
        // Firefox: the committed text once more, after compositionend.
        assert!(t.input("insertCompositionText", Some("日本"), false).is_empty());
        // Some browsers repeat it as insertText.
        t.composition_start();
        assert_eq!(t.composition_end("語").len(), 2);
        assert!(t.input("insertText", Some("語"), false).is_empty());
        // …but the same text typed again later is new text.
        assert_eq!(typed(&t.input("insertText", Some("語"), false)), vec![0x0100_8a9e]);
    }

    #[test]
    fn cancelled_composition_sends_nothing() {
        let mut t = TextInput::default();
        t.composition_start();
        assert!(t.composition_end("").is_empty());
        assert!(t.input("insertText", Some("x"), false).len() == 2);
    }

    #[test]
    fn virtual_keyboards() {
        let mut t = TextInput::default();
        // Android: keydown with keyCode 229 (left alone), then the text as an input event.
        assert_eq!(typed(&t.input("insertText", Some("ü"), false)), vec![0xfc]);
        assert_eq!(typed(&t.input("insertLineBreak", None, false)), vec![keysym::RETURN]);
        assert_eq!(typed(&t.input("deleteContentBackward", None, false)), vec![keysym::BACKSPACE]);
        assert_eq!(typed(&t.input("deleteContentForward", None, false)), vec![keysym::DELETE]);
        assert!(t.input("historyUndo", None, false).is_empty());
        assert!(t.input("insertText", None, false).is_empty());
        // A key the console sent itself in between: the next insertText is not a repeat.
        t.composition_start();
        t.composition_end("a");
        t.key_down();
        assert_eq!(typed(&t.input("insertText", Some("a"), false)), vec![0x61]);
    }
}
