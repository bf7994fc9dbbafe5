//! Protocol extensions beyond RFC 6143 (rfbproto): the messages the client sends for them and
//! the parsing of their pseudo-rectangles, kept out of the connection's state machine.

use crate::decode::{be16, be32};
use crate::error::Error;
use crate::framebuffer::MAX_DIMENSION;
use crate::pixel::PixelTranslator;

/// Client message types.
pub(crate) const MSG_ENABLE_CONTINUOUS_UPDATES: u8 = 150;
pub(crate) const MSG_FENCE: u8 = 248;
pub(crate) const MSG_XVP: u8 = 250;
pub(crate) const MSG_SET_DESKTOP_SIZE: u8 = 251;
pub(crate) const MSG_QEMU: u8 = 255;

/// Fence flags (rfbproto "Fence").
pub const FENCE_BLOCK_BEFORE: u32 = 1 << 0;
pub const FENCE_BLOCK_AFTER: u32 = 1 << 1;
pub const FENCE_SYNC_NEXT: u32 = 1 << 2;
pub const FENCE_REQUEST: u32 = 1 << 31;
/// Longest fence payload the protocol allows.
pub const MAX_FENCE_PAYLOAD: u8 = 64;

/// What the server has agreed to, and the state the extensions keep.
#[derive(Default)]
pub(crate) struct ExtState {
    /// The screen layout from the last ExtendedDesktopSize rectangle.
    pub screens: Vec<Screen>,
    /// The server acknowledged QEMU Extended Key Events.
    pub qemu_keys: bool,
    /// The server acknowledged ExtendedMouseButtons.
    pub mouse_buttons: bool,
    /// The server sent a Fence.
    pub fence: bool,
    /// The server sent EndOfContinuousUpdates (so it takes EnableContinuousUpdates).
    pub cu_supported: bool,
    /// Continuous updates are on: no FramebufferUpdateRequest after each update.
    pub continuous: bool,
    /// The server sent XVP_INIT.
    pub xvp: bool,
    /// The server's extended clipboard flags and text size limit, once it sent its caps.
    pub clip_caps: Option<(u32, Option<u32>)>,
    /// The extended clipboard message being read.
    pub clip_reader: Option<crate::extclip::ExtClipReader>,
    /// The text last put on the server's clipboard, for when the server asks for it.
    pub clip_text: Option<String>,
}

/// One screen of the server's layout (ExtendedDesktopSize / SetDesktopSize).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Screen {
    pub id: u32,
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub height: u16,
    pub flags: u32,
}

impl Screen {
    pub(crate) fn parse(b: &[u8]) -> Screen {
        Screen {
            id: be32(b, 0),
            x: be16(b, 4),
            y: be16(b, 6),
            width: be16(b, 8),
            height: be16(b, 10),
            flags: be32(b, 12),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_be_bytes());
        for v in [self.x, self.y, self.width, self.height] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&self.flags.to_be_bytes());
    }
}

/// The layout to request for a `width`x`height` framebuffer, from the server's current one: a
/// single screen is stretched to the new size (its id and flags kept); several are clipped to it
/// (those left outside dropped); with none left, one screen covers the framebuffer.
pub(crate) fn resized_layout(current: &[Screen], width: u16, height: u16) -> Vec<Screen> {
    let full = |id, flags| Screen { id, x: 0, y: 0, width, height, flags };
    if let [one] = current {
        return vec![full(one.id, one.flags)];
    }
    let clipped: Vec<Screen> = current
        .iter()
        .filter(|s| s.x < width && s.y < height && s.width > 0 && s.height > 0)
        .map(|s| Screen { width: s.width.min(width - s.x), height: s.height.min(height - s.y), ..*s })
        .collect();
    if clipped.is_empty() {
        let first = current.first();
        vec![full(first.map_or(0, |s| s.id), first.map_or(0, |s| s.flags))]
    } else {
        clipped
    }
}

/// SetDesktopSize (251).
pub(crate) fn set_desktop_size(out: &mut Vec<u8>, width: u16, height: u16, screens: &[Screen]) {
    let screens = &screens[..screens.len().min(255)];
    out.extend_from_slice(&[MSG_SET_DESKTOP_SIZE, 0]);
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&[screens.len() as u8, 0]);
    for s in screens {
        s.write(out);
    }
}

/// Whether `width`x`height` is a size the client may ask for.
pub(crate) fn valid_size(width: u16, height: u16) -> bool {
    (1..=MAX_DIMENSION).contains(&width) && (1..=MAX_DIMENSION).contains(&height)
}

/// Why an ExtendedDesktopSize rectangle with status `status` refused the client's request.
pub(crate) fn resize_refusal(status: u16) -> String {
    match status {
        1 => "resizing is administratively prohibited".into(),
        2 => "the server is out of resources".into(),
        3 => "the screen layout is invalid".into(),
        s => format!("the server refused the new size (status {s})"),
    }
}

/// QEMU Extended Key Event (255, subtype 0).
pub(crate) fn qemu_key(out: &mut Vec<u8>, keysym: u32, keycode: u32, down: bool) {
    out.extend_from_slice(&[MSG_QEMU, 0, 0, down as u8]);
    out.extend_from_slice(&keysym.to_be_bytes());
    out.extend_from_slice(&keycode.to_be_bytes());
}

/// PointerEvent; with `extended` (ExtendedMouseButtons acknowledged), buttons 8 and 9 (mask bits
/// 7 and 8) travel in the extra byte the marker bit 7 announces.
pub(crate) fn pointer(out: &mut Vec<u8>, x: u16, y: u16, buttons: u16, extended: bool) {
    if extended && buttons > 0x7F {
        out.extend_from_slice(&[5, (buttons & 0x7F) as u8 | 0x80]);
        out.extend_from_slice(&x.to_be_bytes());
        out.extend_from_slice(&y.to_be_bytes());
        out.push((buttons >> 7) as u8);
    } else {
        out.extend_from_slice(&[5, buttons as u8]);
        out.extend_from_slice(&x.to_be_bytes());
        out.extend_from_slice(&y.to_be_bytes());
    }
}

/// The answer to a server's fence request: the same payload, the request bit cleared and only
/// the flags this client honours kept. The engine handles messages strictly in order and queues
/// its output in order, so BlockBefore, BlockAfter and SyncNext all hold when it answers at once.
pub(crate) fn fence_reply(out: &mut Vec<u8>, flags: u32, payload: &[u8]) {
    let flags = flags & (FENCE_BLOCK_BEFORE | FENCE_BLOCK_AFTER | FENCE_SYNC_NEXT);
    out.extend_from_slice(&[MSG_FENCE, 0, 0, 0]);
    out.extend_from_slice(&flags.to_be_bytes());
    out.push(payload.len() as u8);
    out.extend_from_slice(payload);
}

/// EnableContinuousUpdates (150).
pub(crate) fn enable_continuous_updates(out: &mut Vec<u8>, enable: bool, w: u16, h: u16) {
    out.extend_from_slice(&[MSG_ENABLE_CONTINUOUS_UPDATES, enable as u8, 0, 0, 0, 0]);
    out.extend_from_slice(&w.to_be_bytes());
    out.extend_from_slice(&h.to_be_bytes());
}

/// A power action for the machine behind the framebuffer (XVP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XvpAction {
    /// A clean shutdown.
    Shutdown,
    /// A clean reboot.
    Reboot,
    /// An abrupt reset.
    Reset,
}

impl XvpAction {
    fn code(self) -> u8 {
        match self {
            XvpAction::Shutdown => 2,
            XvpAction::Reboot => 3,
            XvpAction::Reset => 4,
        }
    }
}

/// XVP client message (250), version 1.
pub(crate) fn xvp(out: &mut Vec<u8>, action: XvpAction) {
    out.extend_from_slice(&[MSG_XVP, 0, 1, action.code()]);
}

/// Bytes of a VMware cursor rectangle's data after its 2-byte header, for cursor type `kind`.
pub(crate) fn vmware_cursor_len(kind: u8, w: u16, h: u16, bpp: usize) -> Result<usize, Error> {
    let px = w as usize * h as usize;
    match kind {
        0 => Ok(2 * px * bpp),
        1 => Ok(px * 4),
        k => Err(Error::invalid("VMware cursor", format!("unknown cursor type {k}"))),
    }
}

/// A VMware cursor's pixels (after the 2-byte header) as RGBA. The classic type has an AND and
/// an XOR mask in the pixel format: AND clear shows the XOR colour; AND set with XOR clear is
/// transparent; AND and XOR both set (screen inversion, which RGBA cannot express) shows black.
/// The alpha type is R, G, B, A bytes.
pub(crate) fn vmware_cursor_rgba(kind: u8, data: &[u8], pixels: &PixelTranslator) -> Vec<u8> {
    if kind == 1 {
        return data.to_vec();
    }
    let bpp = pixels.bpp();
    let (and, xor) = data.split_at(data.len() / 2);
    let mut rgba = vec![0u8; and.len() / bpp * 4];
    for ((a, x), out) in and.chunks_exact(bpp).zip(xor.chunks_exact(bpp)).zip(rgba.chunks_exact_mut(4)) {
        let and_set = a.iter().any(|&b| b != 0);
        let xor_set = x.iter().any(|&b| b != 0);
        match (and_set, xor_set) {
            (false, _) => {
                out.copy_from_slice(&pixels.rgba(x));
                out[3] = 255;
            }
            (true, false) => {}
            (true, true) => out.copy_from_slice(&[0, 0, 0, 255]),
        }
    }
    rgba
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixel::PixelFormat;

    fn scr(id: u32, x: u16, y: u16, w: u16, h: u16) -> Screen {
        Screen { id, x, y, width: w, height: h, flags: 0x8000_0001 }
    }

    #[test]
    fn layouts_follow_the_new_size() {
        assert_eq!(resized_layout(&[scr(7, 0, 0, 800, 600)], 1024, 768), vec![scr(7, 0, 0, 1024, 768)]);
        assert_eq!(
            resized_layout(&[scr(1, 0, 0, 800, 600), scr(2, 800, 0, 800, 600)], 1000, 500),
            vec![scr(1, 0, 0, 800, 500), scr(2, 800, 0, 200, 500)]
        );
        assert_eq!(
            resized_layout(&[scr(1, 900, 0, 10, 10), scr(2, 0, 900, 10, 10)], 100, 100),
            vec![scr(1, 0, 0, 100, 100)]
        );
        assert_eq!(
            resized_layout(&[], 640, 480),
            vec![Screen { id: 0, x: 0, y: 0, width: 640, height: 480, flags: 0 }]
        );
    }

    #[test]
    fn message_bytes() {
        let mut out = Vec::new();
        set_desktop_size(&mut out, 1024, 768, &[scr(7, 0, 0, 1024, 768)]);
        assert_eq!(out, [251, 0, 4, 0, 3, 0, 1, 0, 0, 0, 0, 7, 0, 0, 0, 0, 4, 0, 3, 0, 0x80, 0, 0, 1]);
        out.clear();
        qemu_key(&mut out, 0x61, 0x1E, true);
        assert_eq!(out, [255, 0, 0, 1, 0, 0, 0, 0x61, 0, 0, 0, 0x1E]);
        out.clear();
        pointer(&mut out, 1, 2, 0x181, true);
        assert_eq!(out, [5, 0x81, 0, 1, 0, 2, 3]);
        out.clear();
        pointer(&mut out, 1, 2, 0x181, false);
        assert_eq!(out, [5, 0x81, 0, 1, 0, 2], "bit 8 has nowhere to go");
        out.clear();
        pointer(&mut out, 1, 2, 0x05, true);
        assert_eq!(out, [5, 0x05, 0, 1, 0, 2], "no extra byte when not needed");
        out.clear();
        fence_reply(&mut out, FENCE_REQUEST | FENCE_BLOCK_BEFORE | 0x100, b"ab");
        assert_eq!(out, [248, 0, 0, 0, 0, 0, 0, 1, 2, b'a', b'b']);
        out.clear();
        enable_continuous_updates(&mut out, true, 640, 480);
        assert_eq!(out, [150, 1, 0, 0, 0, 0, 2, 128, 1, 224]);
        out.clear();
        xvp(&mut out, XvpAction::Reboot);
        assert_eq!(out, [250, 0, 1, 3]);
    }

    #[test]
    fn vmware_classic_cursor_masks() {
        let pixels = PixelTranslator::new(PixelFormat::RGBX32);
        // AND: clear, set, set; XOR: red, 0, white.
        let mut data = Vec::new();
        data.extend_from_slice(&[0, 0, 0, 0, 255, 255, 255, 0, 255, 255, 255, 0]);
        data.extend_from_slice(&[255, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 0]);
        assert_eq!(vmware_cursor_len(0, 3, 1, 4).unwrap(), data.len());
        assert_eq!(vmware_cursor_rgba(0, &data, &pixels), vec![255, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 255]);
        assert_eq!(vmware_cursor_rgba(1, &[1, 2, 3, 4], &pixels), vec![1, 2, 3, 4]);
        assert!(vmware_cursor_len(2, 1, 1, 4).is_err());
    }
}
