//! The connection's side of the protocol extensions: SetDesktopSize, QEMU extended key events
//! and LED state, Fence and continuous updates, the extended clipboard, ExtendedMouseButtons,
//! the VMware cursor and XVP. Wire formats live in [`crate::extension`] and [`crate::extclip`].

use super::*;
use crate::extclip::{self, ClipMessage, ExtClipReader};
use crate::scancode;

impl Connection {
    /// Whether the server sent ExtendedDesktopSize, so [`Connection::set_desktop_size`] may be
    /// used.
    pub fn supports_set_desktop_size(&self) -> bool {
        self.ext_desktop_size
    }

    /// The server's screen layout from its last ExtendedDesktopSize rectangle.
    pub fn screens(&self) -> &[Screen] {
        &self.ext.screens
    }

    /// Asks the server to resize the desktop to `width`x`height`, keeping its screen layout (a
    /// single screen takes the new size). The answer is an [`Event::Resized`] or an
    /// [`Event::ResizeRefused`]. Returns false, sending nothing, when the server does not support
    /// it, the connection is not up or the size is 0 or over [`crate::MAX_DIMENSION`].
    pub fn set_desktop_size(&mut self, width: u16, height: u16) -> bool {
        if self.state() != State::Connected || !self.ext_desktop_size || !ext::valid_size(width, height) {
            return false;
        }
        let layout = ext::resized_layout(&self.ext.screens, width, height);
        ext::set_desktop_size(&mut self.out, width, height, &layout);
        true
    }

    /// Whether key events carry XT scancodes (the server acknowledged QEMU Extended Key Events).
    pub fn scancodes_enabled(&self) -> bool {
        self.ext.qemu_keys
    }

    /// Sends a key press or release with the physical key too: `code` is the browser's
    /// `KeyboardEvent.code` ("KeyA", "ShiftLeft"…). When the server takes scancodes and `code`
    /// has one, the server's keyboard layout decides the character; otherwise this is
    /// [`Connection::key`]. Ignored until connected.
    pub fn key_with_code(&mut self, keysym: u32, code: &str, down: bool) {
        if self.state() != State::Connected {
            return;
        }
        match scancode::xt_scancode(code).filter(|_| self.ext.qemu_keys) {
            Some(xt) => ext::qemu_key(&mut self.out, keysym, scancode::rfb_keycode(xt), down),
            None => self.key(keysym, down),
        }
    }

    /// Whether the server takes buttons 8 and 9 (it acknowledged ExtendedMouseButtons).
    pub fn extended_mouse_buttons(&self) -> bool {
        self.ext.mouse_buttons
    }

    /// Like [`Connection::pointer`], with bit 8 for forward (button 9). Back and forward use
    /// the extended PointerEvent when the server acknowledged ExtendedMouseButtons; without it
    /// back still goes as bit 7 and forward is dropped.
    pub fn pointer_ext(&mut self, x: u16, y: u16, buttons: u16) {
        if self.state() == State::Connected {
            let x = x.min(self.fb.width().saturating_sub(1));
            let y = y.min(self.fb.height().saturating_sub(1));
            let buttons = if self.ext.mouse_buttons { buttons & 0x1FF } else { buttons & 0xFF };
            ext::pointer(&mut self.out, x, y, buttons, self.ext.mouse_buttons);
        }
    }

    /// Whether continuous updates are on: the server sends updates as the screen changes and the
    /// engine no longer requests one after each.
    pub fn continuous_updates(&self) -> bool {
        self.ext.continuous
    }

    /// Whether the server accepts power actions (it sent XVP_INIT).
    pub fn xvp_supported(&self) -> bool {
        self.ext.xvp
    }

    /// Asks the server to shut down, reboot or reset the machine. A failure comes back as
    /// [`Event::PowerActionFailed`]. Returns false, sending nothing, when unsupported.
    pub fn xvp(&mut self, action: XvpAction) -> bool {
        if self.state() != State::Connected || !self.ext.xvp {
            return false;
        }
        ext::xvp(&mut self.out, action);
        true
    }

    /// Whether clipboard text travels as UTF-8 (the server sent extended clipboard caps).
    pub fn extended_clipboard(&self) -> bool {
        self.ext.clip_caps.is_some()
    }

    /// Sends `text` by the extended clipboard when the server has it; false when it has not.
    pub(super) fn extended_clipboard_text(&mut self, text: &str) -> bool {
        let Some((flags, limit)) = self.ext.clip_caps else {
            return false;
        };
        if flags & extclip::FORMAT_TEXT == 0 {
            return false;
        }
        let text = truncate_utf8(text, MAX_CLIPBOARD);
        if flags & extclip::ACTION_NOTIFY != 0 {
            // The server asks for the text when it wants it.
            extclip::notify(&mut self.out, true);
        } else if flags & extclip::ACTION_PROVIDE != 0 && limit.is_none_or(|l| text.len() < l as usize) {
            extclip::provide(&mut self.out, text);
        } else {
            return false;
        }
        self.ext.clip_text = Some(text.to_owned());
        true
    }

    pub(super) fn start_extended_clipboard(&mut self, len: u32) -> Result<(), Error> {
        self.ext.clip_reader = Some(ExtClipReader::new(len, MAX_CLIPBOARD)?);
        self.phase = Phase::ExtClipboard;
        Ok(())
    }

    /// Server messages of the extensions (type `t`, not yet consumed).
    pub(super) fn extension_message(&mut self, t: u8, input: &mut Input<'_>) -> Result<Step, Error> {
        match t {
            150 if self.offered(Encoding::ContinuousUpdates) => {
                input.advance(1);
                if self.ext.continuous {
                    // The server ended continuous updates: back to asking for each update.
                    self.ext.continuous = false;
                    self.request_update(true, None);
                } else {
                    self.ext.cu_supported = true;
                    self.try_continuous_updates();
                }
            }
            248 if self.offered(Encoding::Fence) => {
                let Some(head) = input.remaining().get(..9) else {
                    return Ok(Step::Wait);
                };
                let (flags, len) = (be32(head, 4), head[8]);
                if len > ext::MAX_FENCE_PAYLOAD {
                    return Err(Error::TooLong {
                        what: "fence payload",
                        len: len as u64,
                        limit: ext::MAX_FENCE_PAYLOAD as u64,
                    });
                }
                let Some(b) = input.take(9 + len as usize) else {
                    return Ok(Step::Wait);
                };
                if flags & ext::FENCE_REQUEST != 0 {
                    ext::fence_reply(&mut self.out, flags, &b[9..]);
                }
                if !self.ext.fence {
                    self.ext.fence = true;
                    self.try_continuous_updates();
                }
            }
            250 if self.offered(Encoding::Xvp) => {
                let Some(b) = input.take(4) else {
                    return Ok(Step::Wait);
                };
                match b[3] {
                    0 => self.events.push_back(Event::PowerActionFailed),
                    1 if !self.ext.xvp => {
                        self.ext.xvp = true;
                        self.events.push_back(Event::PowerControlAvailable);
                    }
                    // A repeated XVP_INIT, or a code from a later version: nothing to do.
                    _ => {}
                }
            }
            t => return Err(Error::UnknownMessage(t)),
        }
        Ok(Step::Continue)
    }

    /// Continuous updates start once the server has shown it supports them and fences (the
    /// server needs fences to pace what it sends).
    fn try_continuous_updates(&mut self) {
        if self.ext.cu_supported && self.ext.fence && !self.ext.continuous {
            self.ext.continuous = true;
            ext::enable_continuous_updates(&mut self.out, true, self.fb.width(), self.fb.height());
        }
    }

    /// The framebuffer is now `w`x`h`: continuous updates must cover all of it.
    pub(super) fn resized_continuous_updates(&mut self, w: u16, h: u16) {
        if self.ext.continuous {
            ext::enable_continuous_updates(&mut self.out, true, w, h);
        }
    }

    /// An ExtendedDesktopSize rectangle (its screens in `screens`).
    pub(super) fn extended_desktop_size(&mut self, rect: Rect, screens: &[u8]) -> Result<(), Error> {
        // x = reason, y = status: a refused client request changes nothing, and the rest of the
        // rectangle is undefined.
        if rect.x == 1 && rect.y != 0 {
            self.events.push_back(Event::ResizeRefused { status: rect.y, reason: ext::resize_refusal(rect.y) });
            return Ok(());
        }
        self.resize(rect.w, rect.h)?;
        self.ext.screens = screens.chunks_exact(16).map(Screen::parse).collect();
        Ok(())
    }

    /// A pseudo-rectangle of the extensions.
    pub(super) fn extension_rect(&mut self, rect: Rect, e: Encoding) -> Result<(), Error> {
        match e {
            Encoding::QemuExtendedKey => self.ext.qemu_keys = true,
            Encoding::ExtendedMouseButtons => self.ext.mouse_buttons = true,
            Encoding::QemuLedState => self.phase = Phase::LedState,
            Encoding::VmwareCursor => {
                if rect.w > MAX_CURSOR || rect.h > MAX_CURSOR {
                    return Err(Error::TooLong {
                        what: "cursor",
                        len: rect.area() as u64,
                        limit: MAX_CURSOR as u64 * MAX_CURSOR as u64,
                    });
                }
                self.phase = Phase::VmwareCursor(rect);
            }
            _ => return Err(Error::UnexpectedEncoding(e.number())),
        }
        Ok(())
    }

    /// Reads the data of an extension's pseudo-rectangle or message.
    pub(super) fn extension_phase(&mut self, input: &mut Input<'_>) -> Result<Step, Error> {
        match self.phase {
            Phase::LedState => {
                let Some(b) = input.take(1) else {
                    return Ok(Step::Wait);
                };
                self.events.push_back(Event::LedState {
                    scroll: b[0] & 1 != 0,
                    num: b[0] & 2 != 0,
                    caps: b[0] & 4 != 0,
                });
                self.phase = Phase::RectHeader;
            }
            Phase::VmwareCursor(rect) => {
                let Some(head) = input.remaining().get(..2) else {
                    return Ok(Step::Wait);
                };
                let kind = head[0];
                let len = ext::vmware_cursor_len(kind, rect.w, rect.h, self.pixels.bpp())?;
                let Some(b) = input.take(2 + len) else {
                    return Ok(Step::Wait);
                };
                let rgba = ext::vmware_cursor_rgba(kind, &b[2..], &self.pixels);
                self.events.push_back(Event::Cursor(Cursor {
                    width: rect.w,
                    height: rect.h,
                    hotspot_x: rect.x.min(rect.w.saturating_sub(1)),
                    hotspot_y: rect.y.min(rect.h.saturating_sub(1)),
                    rgba,
                }));
                self.phase = Phase::RectHeader;
            }
            Phase::ExtClipboard => {
                let Some(reader) = self.ext.clip_reader.as_mut() else {
                    return Err(Error::Closed);
                };
                let Some(message) = reader.feed(input)? else {
                    return Ok(Step::Wait);
                };
                self.ext.clip_reader = None;
                self.phase = Phase::Message;
                self.extended_clipboard_message(message);
            }
            _ => unreachable!("not an extension phase"),
        }
        Ok(Step::Continue)
    }

    fn extended_clipboard_message(&mut self, message: ClipMessage) {
        match message {
            ClipMessage::Caps { flags, text_limit } => {
                let first = self.ext.clip_caps.is_none();
                self.ext.clip_caps = Some((flags, text_limit));
                if first {
                    extclip::caps(&mut self.out, MAX_CLIPBOARD as u32);
                }
            }
            _ if self.ext.clip_caps.is_none() => {
                // Before its caps the server cannot know this client speaks the extension.
            }
            ClipMessage::Notify { flags } => {
                if flags & extclip::FORMAT_TEXT != 0 {
                    extclip::request(&mut self.out);
                }
            }
            ClipMessage::Request { flags } => {
                if let Some(text) = self.ext.clip_text.as_ref().filter(|_| flags & extclip::FORMAT_TEXT != 0) {
                    extclip::provide(&mut self.out, text);
                }
            }
            ClipMessage::Peek => {
                extclip::notify(&mut self.out, self.ext.clip_text.is_some());
            }
            ClipMessage::Provide { text: Some(text) } => {
                self.events.push_back(Event::Clipboard(text));
            }
            ClipMessage::Provide { text: None } | ClipMessage::Other => {}
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests;
