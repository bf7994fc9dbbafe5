//! Extended clipboard (pseudo-encoding 0xC0A1E5CE): UTF-8 text both ways.
//!
//! A ClientCutText/ServerCutText whose length is negative carries, in its absolute length, a
//! u32 of flags (formats in the low 16 bits, one action in bits 24–28) and the action's data.
//! The client announces its capabilities when the server sends its own, then: a *notify* says
//! which formats the sender has, a *request* asks for them, a *provide* carries them (zlib, one
//! stream per message: for each format a u32 size and the data; text is UTF-8 with CRLF line
//! ends and a terminating NUL), a *peek* asks for a notify. Only text is handled here.

use flate2::{Decompress, FlushDecompress, Status};

use crate::decode::{Input, be32};
use crate::error::Error;

pub const FORMAT_TEXT: u32 = 1 << 0;
pub const ACTION_CAPS: u32 = 1 << 24;
pub const ACTION_REQUEST: u32 = 1 << 25;
pub const ACTION_PEEK: u32 = 1 << 26;
pub const ACTION_NOTIFY: u32 = 1 << 27;
pub const ACTION_PROVIDE: u32 = 1 << 28;

/// Bytes of a non-provide message kept (flags and up to 16 format sizes); the rest is skipped.
const HEADER_KEEP: usize = 4 + 16 * 4;

/// What the server told the client in one extended clipboard message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ClipMessage {
    /// The server's formats and actions, and the largest text it takes unasked (when given).
    Caps {
        flags: u32,
        text_limit: Option<u32>,
    },
    Request {
        flags: u32,
    },
    Peek,
    Notify {
        flags: u32,
    },
    /// Text, when the provided formats include it.
    Provide {
        text: Option<String>,
    },
    /// No action bit this client knows.
    Other,
}

/// Reads one extended clipboard message's payload as it arrives, without holding more than the
/// text limit (`max_text` bytes) however long the message or its decompressed form is.
pub(crate) struct ExtClipReader {
    left: u32,
    flags: Option<u32>,
    header: Vec<u8>,
    inflate: Decompress,
    inflated: Vec<u8>,
    stream_end: bool,
    max_text: usize,
}

impl ExtClipReader {
    /// Starts a message of `len` bytes (the absolute value of the cut text length).
    pub fn new(len: u32, max_text: usize) -> Result<ExtClipReader, Error> {
        if len < 4 {
            return Err(Error::invalid("extended clipboard", format!("message of {len} bytes has no flags")));
        }
        Ok(ExtClipReader {
            left: len,
            flags: None,
            header: Vec::new(),
            inflate: Decompress::new(true),
            inflated: Vec::new(),
            stream_end: false,
            max_text,
        })
    }

    /// Consumes what has arrived; returns the message once all of it has.
    pub fn feed(&mut self, input: &mut Input<'_>) -> Result<Option<ClipMessage>, Error> {
        if self.flags.is_none() {
            let Some(b) = input.take(4) else {
                return Ok(None);
            };
            self.left -= 4;
            self.flags = Some(be32(b, 0));
        }
        let flags = self.flags.unwrap_or_default();
        let provide = action(flags) == ACTION_PROVIDE;
        while self.left > 0 {
            let n = (self.left as usize).min(input.len());
            if n == 0 {
                return Ok(None);
            }
            let b = input.take(n).expect("length checked");
            self.left -= n as u32;
            if provide {
                self.inflate_some(b)?;
            } else {
                let keep = n.min((HEADER_KEEP - 4).saturating_sub(self.header.len()));
                self.header.extend_from_slice(&b[..keep]);
            }
        }
        Ok(Some(self.finish(flags)))
    }

    /// Whether what has been inflated already holds all the text that will be kept.
    fn have_text(&self) -> bool {
        if self.stream_end {
            return true;
        }
        let Some(len) = self.inflated.get(..4).map(|b| be32(b, 0) as usize) else {
            return false;
        };
        self.inflated.len() >= 4 + len.min(self.max_text + 1)
    }

    fn inflate_some(&mut self, mut data: &[u8]) -> Result<(), Error> {
        let mut buf = [0u8; 8192];
        while !data.is_empty() && !self.have_text() {
            let (before_in, before_out) = (self.inflate.total_in(), self.inflate.total_out());
            let status = self
                .inflate
                .decompress(data, &mut buf, FlushDecompress::None)
                .map_err(|e| Error::Zlib(format!("extended clipboard: {e}")))?;
            let used = (self.inflate.total_in() - before_in) as usize;
            let made = (self.inflate.total_out() - before_out) as usize;
            data = &data[used..];
            let room = (4 + self.max_text + 1).saturating_sub(self.inflated.len());
            self.inflated.extend_from_slice(&buf[..made.min(room)]);
            if status == Status::StreamEnd {
                self.stream_end = true;
            } else if used == 0 && made == 0 {
                break;
            }
        }
        Ok(())
    }

    fn finish(&mut self, flags: u32) -> ClipMessage {
        match action(flags) {
            ACTION_CAPS => {
                // One u32 size per format bit, in bit order: text's is the first if present.
                let text_limit = (flags & FORMAT_TEXT != 0).then(|| self.header.get(..4).map(|b| be32(b, 0))).flatten();
                ClipMessage::Caps { flags, text_limit }
            }
            ACTION_REQUEST => ClipMessage::Request { flags },
            ACTION_PEEK => ClipMessage::Peek,
            ACTION_NOTIFY => ClipMessage::Notify { flags },
            ACTION_PROVIDE => {
                let text = (flags & FORMAT_TEXT != 0)
                    .then(|| {
                        let len = be32(self.inflated.get(..4)?, 0) as usize;
                        let end = self.inflated.len().min(4 + len.min(self.max_text));
                        Some(text_from_wire(&self.inflated[4..end]))
                    })
                    .flatten();
                ClipMessage::Provide { text }
            }
            _ => ClipMessage::Other,
        }
    }
}

/// The action of a message: the lowest action bit set (a message carries one).
fn action(flags: u32) -> u32 {
    let actions = flags & 0xFF00_0000;
    actions & actions.wrapping_neg()
}

/// Text as sent: up to the first NUL, CRLF → LF, invalid UTF-8 replaced.
fn text_from_wire(b: &[u8]) -> String {
    let b = b.split(|&c| c == 0).next().unwrap_or_default();
    String::from_utf8_lossy(b).replace("\r\n", "\n")
}

/// Appends a ClientCutText carrying an extended clipboard `payload`.
fn message(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&[6, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as i32).wrapping_neg().to_be_bytes());
    out.extend_from_slice(payload);
}

/// The client's capabilities: text, every action, texts up to `max_text` bytes unasked.
pub(crate) fn caps(out: &mut Vec<u8>, max_text: u32) {
    let flags = ACTION_CAPS | ACTION_REQUEST | ACTION_PEEK | ACTION_NOTIFY | ACTION_PROVIDE | FORMAT_TEXT;
    let mut p = flags.to_be_bytes().to_vec();
    p.extend_from_slice(&max_text.to_be_bytes());
    message(out, &p);
}

/// Says whether the client has text.
pub(crate) fn notify(out: &mut Vec<u8>, has_text: bool) {
    let flags = ACTION_NOTIFY | if has_text { FORMAT_TEXT } else { 0 };
    message(out, &flags.to_be_bytes());
}

/// Asks the server for its text.
pub(crate) fn request(out: &mut Vec<u8>) {
    message(out, &(ACTION_REQUEST | FORMAT_TEXT).to_be_bytes());
}

/// Sends `text` (line ends become CRLF, a NUL ends it), zlib-compressed.
pub(crate) fn provide(out: &mut Vec<u8>, text: &str) {
    let mut wire = text.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes();
    wire.push(0);
    let mut data = (wire.len() as u32).to_be_bytes().to_vec();
    data.append(&mut wire);
    // fdeflate (already here for PNG) rather than zlib-rs's compressor: clipboard text is
    // small, and the browser console is spared zlib-rs's deflate code (~30 KB of wasm).
    let mut p = (ACTION_PROVIDE | FORMAT_TEXT).to_be_bytes().to_vec();
    p.extend_from_slice(&fdeflate::compress_to_vec(&data));
    message(out, &p);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::{Compression, write::ZlibEncoder};
    use std::io::Write;

    /// A server's provide message payload for `text` (already in wire form), deflated.
    pub(crate) fn provide_payload(flags: u32, wire_text: &[u8], extra: &[u8]) -> Vec<u8> {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&(wire_text.len() as u32).to_be_bytes()).unwrap();
        z.write_all(wire_text).unwrap();
        z.write_all(extra).unwrap();
        let mut p = (ACTION_PROVIDE | flags).to_be_bytes().to_vec();
        p.extend_from_slice(&z.finish().unwrap());
        p
    }

    fn read_all(payload: &[u8], max: usize, chunk: usize) -> Result<ClipMessage, Error> {
        let mut r = ExtClipReader::new(payload.len() as u32, max)?;
        let mut pending = Vec::new();
        for c in payload.chunks(chunk) {
            pending.extend_from_slice(c);
            let mut input = Input::new(&pending);
            let got = r.feed(&mut input)?;
            let used = input.consumed();
            pending.drain(..used);
            if let Some(m) = got {
                assert!(pending.is_empty());
                return Ok(m);
            }
        }
        panic!("message never completed");
    }

    #[test]
    fn provide_round_trips_at_every_split() {
        let mut out = Vec::new();
        provide(&mut out, "h\u{e9}llo\nw\u{f6}rld \u{1F600}");
        assert_eq!(&out[..4], &[6, 0, 0, 0]);
        let len = (i32::from_be_bytes(out[4..8].try_into().unwrap())).unsigned_abs() as usize;
        let payload = &out[8..];
        assert_eq!(payload.len(), len);
        for chunk in 1..=payload.len() {
            assert_eq!(
                read_all(payload, 1 << 20, chunk).unwrap(),
                ClipMessage::Provide { text: Some("h\u{e9}llo\nw\u{f6}rld \u{1F600}".into()) }
            );
        }
    }

    #[test]
    fn caps_and_small_messages() {
        let mut out = Vec::new();
        caps(&mut out, 1000);
        assert_eq!(out, [6, 0, 0, 0, 0xff, 0xff, 0xff, 0xf8, 0x1f, 0, 0, 1, 0, 0, 0x03, 0xe8]);
        let server_caps =
            [&(ACTION_CAPS | ACTION_NOTIFY | 0b101).to_be_bytes()[..], &[0, 0, 0, 9], &[0, 0, 0, 1]].concat();
        assert_eq!(
            read_all(&server_caps, 100, 1).unwrap(),
            ClipMessage::Caps { flags: ACTION_CAPS | ACTION_NOTIFY | 0b101, text_limit: Some(9) }
        );
        let only_html = [&(ACTION_CAPS | 0b100).to_be_bytes()[..], &[0, 0, 0, 9]].concat();
        assert_eq!(
            read_all(&only_html, 100, 3).unwrap(),
            ClipMessage::Caps { flags: ACTION_CAPS | 0b100, text_limit: None }
        );
        let notify = (ACTION_NOTIFY | FORMAT_TEXT).to_be_bytes();
        assert_eq!(read_all(&notify, 100, 1).unwrap(), ClipMessage::Notify { flags: ACTION_NOTIFY | FORMAT_TEXT });
        assert_eq!(read_all(&ACTION_PEEK.to_be_bytes(), 1, 2).unwrap(), ClipMessage::Peek);
        assert_eq!(read_all(&0x20u32.to_be_bytes(), 1, 2).unwrap(), ClipMessage::Other);
        // Two actions: the lowest wins.
        let two = (ACTION_REQUEST | ACTION_NOTIFY | FORMAT_TEXT).to_be_bytes();
        assert!(matches!(read_all(&two, 1, 4).unwrap(), ClipMessage::Request { .. }));
    }

    #[test]
    fn text_is_truncated_at_the_limit_and_a_bomb_is_not_inflated() {
        let text = vec![b'a'; 100_000];
        let p = provide_payload(FORMAT_TEXT, &text, &[]);
        let Ok(ClipMessage::Provide { text: Some(t) }) = read_all(&p, 1000, 4096) else { panic!() };
        assert_eq!(t.len(), 1000);
        // 16 MiB of one letter claimed as text: only the limit is ever inflated.
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        z.write_all(&(16u32 << 20).to_be_bytes()).unwrap();
        let zeros = vec![b'x'; 1 << 20];
        for _ in 0..16 {
            z.write_all(&zeros).unwrap();
        }
        let mut p = (ACTION_PROVIDE | FORMAT_TEXT).to_be_bytes().to_vec();
        p.extend_from_slice(&z.finish().unwrap());
        let mut r = ExtClipReader::new(p.len() as u32, 4096).unwrap();
        let m = r.feed(&mut Input::new(&p)).unwrap().unwrap();
        assert!(r.inflated.len() <= 4 + 4096 + 1);
        assert!(r.inflate.total_out() < 1 << 20, "{}", r.inflate.total_out());
        assert_eq!(m, ClipMessage::Provide { text: Some("x".repeat(4096)) });
    }

    #[test]
    fn hostile_messages_are_typed_errors() {
        assert!(matches!(ExtClipReader::new(3, 10), Err(Error::InvalidData { .. })));
        let mut bad = (ACTION_PROVIDE | FORMAT_TEXT).to_be_bytes().to_vec();
        bad.extend_from_slice(b"not zlib at all");
        assert!(matches!(read_all(&bad, 10, 1), Err(Error::Zlib(_))));
        // A provide without text, and one whose stream is cut short, give no text / what came.
        let p = provide_payload(0b10, b"{\\rtf}", &[]);
        assert_eq!(read_all(&p, 10, 5).unwrap(), ClipMessage::Provide { text: None });
        let empty = (ACTION_PROVIDE | FORMAT_TEXT).to_be_bytes();
        assert_eq!(read_all(&empty, 10, 5).unwrap(), ClipMessage::Provide { text: None });
    }

    #[test]
    fn wire_text_conversion() {
        assert_eq!(text_from_wire(b"a\r\nb\0junk"), "a\nb");
        assert_eq!(text_from_wire(b"\xffz"), "\u{fffd}z");
        let mut out = Vec::new();
        notify(&mut out, true);
        assert_eq!(out, [6, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc, 0x08, 0, 0, 1]);
        out.clear();
        request(&mut out);
        assert_eq!(out, [6, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc, 0x02, 0, 0, 1]);
    }
}
