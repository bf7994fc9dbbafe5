//! Recorded RFB sessions (`.rfbrec`): reading them and recovering what the recording client asked
//! for, so a session can be replayed through a [`Connection`](crate::Connection) exactly as it was
//! received.
//!
//! A `.rfbrec` file is the magic `RFBREC01`, then records back to back: a direction byte (0 server
//! → client, 1 client → server), a big-endian u32 time in milliseconds, a big-endian u32 payload
//! length (1..=65536) and the payload. Concatenating the server → client payloads gives the byte
//! stream the server sent; the same for the client → server ones.
//!
//! Sans-IO like the rest of the crate: everything works on byte slices (no files), so the same
//! code serves native tests, benchmarks and the browser.
//!
//! - [`parse`] checks the container and returns its records;
//! - [`session`] follows both handshakes and the client's messages, giving the negotiated
//!   settings, the desktop and a [`Config`] that makes the engine ask for what the recording
//!   client asked for ([`client_config`] is the short form);
//! - [`rects`] frames every rectangle of the server stream (position, size, encoding, bytes)
//!   without decoding pixels: a cross-check of the recording, and the pixel count behind
//!   throughput figures.

use crate::connection::{Config, Credentials, PixelFormatChoice};
use crate::encoding::Encoding;
use crate::framebuffer::Rect;
use crate::pixel::PixelFormat;

/// The first 8 bytes of every `.rfbrec` file.
pub const MAGIC: &[u8; 8] = b"RFBREC01";
/// The longest payload one record may carry.
pub const MAX_PAYLOAD: u32 = 65536;
/// Bytes of a record header (direction, time, length).
const HEADER: usize = 9;

/// One record: bytes that crossed the connection in one direction at one time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Server → client (else client → server).
    pub from_server: bool,
    /// Milliseconds since the recording started.
    pub time_ms: u32,
    pub data: &'a [u8],
}

/// Why a recording could not be read or understood.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ReplayError {
    #[error("not an .rfbrec recording (the file does not start with \"RFBREC01\")")]
    BadMagic,
    #[error("the recording is truncated: record header at byte {offset} has {available} of 9 bytes")]
    TruncatedHeader { offset: usize, available: usize },
    #[error(
        "the recording is truncated: record at byte {offset} announces {len} payload bytes, {available} are present"
    )]
    TruncatedPayload { offset: usize, len: u32, available: usize },
    #[error("record at byte {offset} has direction byte {byte} (only 0 = server and 1 = client exist)")]
    BadDirection { offset: usize, byte: u8 },
    #[error("record at byte {offset} has a payload length of {len} (allowed: 1 to 65536)")]
    BadLength { offset: usize, len: u32 },
    #[error("record at byte {offset} is timed {time_ms} ms, before the previous record ({previous_ms} ms)")]
    TimeWentBack { offset: usize, time_ms: u32, previous_ms: u32 },
    #[error("the {side} stream ends at byte {offset} inside the {what}")]
    Incomplete { side: &'static str, what: &'static str, offset: usize },
    #[error("the {side} stream is not RFB at byte {offset}: {detail}")]
    Protocol { side: &'static str, offset: usize, detail: String },
    #[error("the session cannot be replayed: {0}")]
    Unreplayable(String),
    #[error("rectangle at server byte {offset} uses encoding {encoding}, whose data this reader cannot frame")]
    UnframedEncoding { offset: usize, encoding: i32 },
}

/// Reads a whole `.rfbrec` file, checking its magic, every record header and every payload.
pub fn parse(bytes: &[u8]) -> Result<Vec<Record<'_>>, ReplayError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(ReplayError::BadMagic);
    }
    let mut records = Vec::new();
    let mut pos = MAGIC.len();
    let mut previous_ms = 0;
    while pos < bytes.len() {
        let offset = pos;
        let Some(h) = bytes.get(pos..pos + HEADER) else {
            return Err(ReplayError::TruncatedHeader { offset, available: bytes.len() - pos });
        };
        let from_server = match h[0] {
            0 => true,
            1 => false,
            byte => return Err(ReplayError::BadDirection { offset, byte }),
        };
        let time_ms = u32::from_be_bytes([h[1], h[2], h[3], h[4]]);
        let len = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
        if len == 0 || len > MAX_PAYLOAD {
            return Err(ReplayError::BadLength { offset, len });
        }
        if time_ms < previous_ms {
            return Err(ReplayError::TimeWentBack { offset, time_ms, previous_ms });
        }
        previous_ms = time_ms;
        pos += HEADER;
        let Some(data) = bytes.get(pos..pos + len as usize) else {
            return Err(ReplayError::TruncatedPayload { offset, len, available: bytes.len() - pos });
        };
        pos += len as usize;
        records.push(Record { from_server, time_ms, data });
    }
    Ok(records)
}

/// The server → client payloads, in order.
pub fn server_records<'a>(records: &'a [Record<'a>]) -> impl Iterator<Item = &'a [u8]> + 'a {
    records.iter().filter(|r| r.from_server).map(|r| r.data)
}

/// Everything the server sent, as one stream.
pub fn server_stream(records: &[Record<'_>]) -> Vec<u8> {
    side_stream(records, true)
}

/// Everything the client sent, as one stream.
pub fn client_stream(records: &[Record<'_>]) -> Vec<u8> {
    side_stream(records, false)
}

/// One side's payloads joined, a record at a time (a byte-by-byte `flat_map` of the same took
/// 10 ms of a recording's replay setup in wasm).
fn side_stream(records: &[Record<'_>], from_server: bool) -> Vec<u8> {
    let side = || records.iter().filter(move |r| r.from_server == from_server);
    let mut out = Vec::with_capacity(side().map(|r| r.data.len()).sum());
    for r in side() {
        out.extend_from_slice(r.data);
    }
    out
}

/// What the handshakes and the client's messages of a recording say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The protocol version the client chose, as (major, minor).
    pub version: (u32, u32),
    /// The security type in use (1 None, 2 VNC authentication).
    pub security: u8,
    /// The ClientInit shared flag.
    pub shared: bool,
    pub width: u16,
    pub height: u16,
    pub name: String,
    /// The format of ServerInit.
    pub server_pixel_format: PixelFormat,
    /// The format the client asked for with SetPixelFormat, if it did.
    pub client_pixel_format: Option<PixelFormat>,
    /// The encoding numbers of the client's SetEncodings, in the order sent.
    pub encodings: Vec<i32>,
    /// Offset in the server stream of its first message after ServerInit.
    pub server_messages_at: usize,
}

impl Session {
    /// The format every FramebufferUpdate of the recording is in.
    pub fn pixel_format(&self) -> PixelFormat {
        self.client_pixel_format.unwrap_or(self.server_pixel_format)
    }

    /// A configuration under which the engine answers the handshake as the recording client did
    /// and asks for the same pixel format and encodings. For VNC authentication a placeholder
    /// password is set: the password is not in the recording, and the server's verdict is.
    pub fn config(&self) -> Config {
        Config {
            encodings: self.encodings.iter().map(|&n| Encoding::from_number(n)).collect(),
            shared: self.shared,
            pixel_format: match self.client_pixel_format {
                Some(pf) => PixelFormatChoice::Custom(pf),
                None => PixelFormatChoice::ServerNative,
            },
            credentials: (self.security == 2).then(Credentials::default),
            ..Config::default()
        }
    }
}

/// The [`Config`] of [`Session::config`]: the client's SetPixelFormat (as
/// [`PixelFormatChoice::Custom`]) and SetEncodings, shared flag and security answers.
pub fn client_config(records: &[Record<'_>]) -> Result<Config, ReplayError> {
    Ok(session(records)?.config())
}

/// Bounds-checked reads from one side's stream.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    side: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ReplayError> {
        let s = self.b.get(self.pos..self.pos.saturating_add(n)).ok_or(ReplayError::Incomplete {
            side: self.side,
            what,
            offset: self.b.len(),
        })?;
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, ReplayError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, ReplayError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, ReplayError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn protocol(&self, at: usize, detail: impl Into<String>) -> ReplayError {
        ReplayError::Protocol { side: self.side, offset: at, detail: detail.into() }
    }
    fn version(&mut self) -> Result<(u32, u32), ReplayError> {
        let at = self.pos;
        let b = self.take(12, "ProtocolVersion")?;
        let num =
            |s: &[u8]| std::str::from_utf8(s).ok().filter(|s| s.bytes().all(|c| c.is_ascii_digit()))?.parse().ok();
        match (b.starts_with(b"RFB ") && b[7] == b'.' && b[11] == b'\n', num(&b[4..7]), num(&b[8..11])) {
            (true, Some(major), Some(minor)) => Ok((major, minor)),
            _ => Err(self.protocol(at, format!("bad ProtocolVersion {:?}", String::from_utf8_lossy(b)))),
        }
    }
}

/// Follows the handshake on both streams (RFB 3.3, 3.7 and 3.8; security None and VNC
/// authentication), ServerInit, and every client message after ClientInit.
///
/// The first SetPixelFormat and SetEncodings count; a later one that changes either is an
/// [`ReplayError::Unreplayable`], since one [`Config`] could not reproduce the session.
pub fn session(records: &[Record<'_>]) -> Result<Session, ReplayError> {
    let server = server_stream(records);
    let client = client_stream(records);
    let mut s = Reader { b: &server, pos: 0, side: "server" };
    let mut c = Reader { b: &client, pos: 0, side: "client" };

    s.version()?;
    let at = c.pos;
    let version = c.version()?;
    let v33 = match version {
        (3, 3) => true,
        (3, 7) | (3, 8) => false,
        (major, minor) => {
            return Err(c.protocol(at, format!("the client asked for RFB {major}.{minor}")));
        }
    };
    let security = if v33 {
        let at = s.pos;
        match s.u32("security type")? {
            t @ (1 | 2) => t as u8,
            0 => {
                return Err(ReplayError::Unreplayable("the server refused the connection".into()));
            }
            t => return Err(s.protocol(at, format!("security type {t}"))),
        }
    } else {
        let at = s.pos;
        let n = s.u8("security types")?;
        if n == 0 {
            return Err(ReplayError::Unreplayable("the server refused the connection".into()));
        }
        let offered = s.take(n as usize, "security types")?.to_vec();
        let at_c = c.pos;
        let chosen = c.u8("security type choice")?;
        if !offered.contains(&chosen) {
            return Err(s.protocol(at, format!("the client chose type {chosen}, not offered in {offered:?}")));
        }
        if !matches!(chosen, 1 | 2) {
            return Err(
                c.protocol(at_c, format!("security type {chosen} (only None and VNC authentication are followed)"))
            );
        }
        chosen
    };
    if security == 2 {
        s.take(16, "VNC authentication challenge")?;
        c.take(16, "VNC authentication response")?;
    }
    if (security == 2 || version == (3, 8)) && s.u32("SecurityResult")? != 0 {
        return Err(ReplayError::Unreplayable("the server rejected the security handshake".into()));
    }
    let shared = c.u8("ClientInit")? != 0;
    let width = s.u16("ServerInit")?;
    let height = s.u16("ServerInit")?;
    let at = s.pos;
    let pf_bytes: [u8; 16] = s.take(16, "ServerInit")?.try_into().expect("16 bytes");
    let server_pixel_format = PixelFormat::parse(&pf_bytes).map_err(|e| s.protocol(at, e.to_string()))?;
    let len = s.u32("desktop name")?;
    let name = String::from_utf8_lossy(s.take(len as usize, "desktop name")?).into_owned();

    let mut client_pixel_format = None;
    let mut encodings: Option<Vec<i32>> = None;
    while c.pos < client.len() {
        let at = c.pos;
        match c.u8("message type")? {
            0 => {
                c.take(3, "SetPixelFormat")?;
                let b: [u8; 16] = c.take(16, "SetPixelFormat")?.try_into().expect("16 bytes");
                let pf = PixelFormat::parse(&b).map_err(|e| c.protocol(at, e.to_string()))?;
                match client_pixel_format {
                    None => client_pixel_format = Some(pf),
                    Some(first) if first != pf => {
                        return Err(ReplayError::Unreplayable(format!(
                            "the client changed its pixel format at client byte {at}"
                        )));
                    }
                    Some(_) => {}
                }
            }
            2 => {
                c.take(1, "SetEncodings")?;
                let n = c.u16("SetEncodings")? as usize;
                let list: Vec<i32> = c
                    .take(n * 4, "SetEncodings")?
                    .chunks_exact(4)
                    .map(|e| i32::from_be_bytes([e[0], e[1], e[2], e[3]]))
                    .collect();
                match &encodings {
                    None => encodings = Some(list),
                    Some(first) if *first != list => {
                        return Err(ReplayError::Unreplayable(format!(
                            "the client changed its encodings at client byte {at}"
                        )));
                    }
                    Some(_) => {}
                }
            }
            3 => {
                c.take(9, "FramebufferUpdateRequest")?;
            }
            4 => {
                c.take(7, "KeyEvent")?;
            }
            5 => {
                c.take(5, "PointerEvent")?;
            }
            6 => {
                c.take(3, "ClientCutText")?;
                let len = c.u32("ClientCutText")? as i32;
                // Extended clipboard messages carry a negative length: the size is its magnitude.
                c.take(len.unsigned_abs() as usize, "ClientCutText")?;
            }
            t => return Err(c.protocol(at, format!("client message type {t} is not followed"))),
        }
    }
    let encodings = encodings.ok_or_else(|| ReplayError::Unreplayable("the client never sent SetEncodings".into()))?;
    Ok(Session {
        version,
        security,
        shared,
        width,
        height,
        name,
        server_pixel_format,
        client_pixel_format,
        encodings,
        server_messages_at: s.pos,
    })
}

/// One rectangle of a FramebufferUpdate, as framed by [`rects`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RectInfo {
    /// Offset of the 12-byte rectangle header in the server stream.
    pub offset: usize,
    pub rect: Rect,
    pub encoding: i32,
    /// Bytes of encoded data after the header.
    pub len: usize,
}

/// What the server stream of a recording holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Framing {
    /// Every rectangle (pseudo-encodings included), in order.
    pub rects: Vec<RectInfo>,
    /// Completed FramebufferUpdate messages.
    pub updates: usize,
}

impl Framing {
    /// Pixels covered by the rectangles of pixel encodings (non-negative numbers, CopyRect
    /// included): what a client has to produce.
    pub fn pixels(&self) -> u64 {
        self.rects.iter().filter(|r| r.encoding >= 0).map(|r| r.rect.area() as u64).sum()
    }
}

/// Frames every server message after ServerInit without decoding any pixels. Knows the data
/// layout of Raw, CopyRect, RRE, Hextile, ZRLE, Zlib, TRLE, Tight and TightPNG and of the
/// pseudo-encodings DesktopSize,
/// LastRect, Cursor, DesktopName and ExtendedDesktopSize; any other encoding is an
/// [`ReplayError::UnframedEncoding`]. The stream must end on a message boundary.
pub fn rects(records: &[Record<'_>]) -> Result<Framing, ReplayError> {
    let session = session(records)?;
    let server = server_stream(records);
    let pf = session.pixel_format();
    let mut s = Reader { b: &server, pos: session.server_messages_at, side: "server" };
    let mut out = Framing::default();
    while s.pos < server.len() {
        let at = s.pos;
        match s.u8("message type")? {
            0 => {
                s.take(1, "FramebufferUpdate")?;
                let n = s.u16("FramebufferUpdate")?;
                for _ in 0..n {
                    let offset = s.pos;
                    let (x, y) = (s.u16("rectangle header")?, s.u16("rectangle header")?);
                    let (w, h) = (s.u16("rectangle header")?, s.u16("rectangle header")?);
                    let encoding = s.u32("rectangle header")? as i32;
                    let rect = Rect::new(x, y, w, h);
                    let start = s.pos;
                    frame_rect(&mut s, rect, encoding, &pf).map_err(|e| match e {
                        ReplayError::UnframedEncoding { .. } => ReplayError::UnframedEncoding { offset, encoding },
                        e => e,
                    })?;
                    out.rects.push(RectInfo { offset, rect, encoding, len: s.pos - start });
                    if encoding == Encoding::LastRect.number() {
                        break;
                    }
                }
                out.updates += 1;
            }
            1 => {
                s.take(3, "SetColourMapEntries")?;
                let n = s.u16("SetColourMapEntries")?;
                s.take(n as usize * 6, "SetColourMapEntries")?;
            }
            2 => {}
            3 => {
                s.take(3, "ServerCutText")?;
                let len = s.u32("ServerCutText")?;
                s.take(len as usize, "ServerCutText")?;
            }
            t => return Err(s.protocol(at, format!("server message type {t} is not followed"))),
        }
    }
    Ok(out)
}

fn frame_rect(s: &mut Reader<'_>, r: Rect, encoding: i32, pf: &PixelFormat) -> Result<(), ReplayError> {
    const WHAT: &str = "rectangle data";
    let bpp = pf.bytes_per_pixel();
    match Encoding::from_number(encoding) {
        Encoding::Raw => {
            s.take(r.area() * bpp, WHAT)?;
        }
        Encoding::CopyRect => {
            s.take(4, WHAT)?;
        }
        Encoding::Rre => {
            let n = s.u32(WHAT)? as usize;
            s.take(bpp, WHAT)?;
            s.take(n.saturating_mul(bpp + 8), WHAT)?;
        }
        Encoding::Hextile => {
            for ty in (0..r.h).step_by(16) {
                for tx in (0..r.w).step_by(16) {
                    let (tw, th) = ((r.w - tx).min(16) as usize, (r.h - ty).min(16) as usize);
                    let sub = s.u8(WHAT)?;
                    if sub & 1 != 0 {
                        s.take(tw * th * bpp, WHAT)?;
                        continue;
                    }
                    let colours = (sub & 2 != 0) as usize + (sub & 4 != 0) as usize;
                    s.take(colours * bpp, WHAT)?;
                    if sub & 8 != 0 {
                        let n = s.u8(WHAT)? as usize;
                        let each = if sub & 16 != 0 { bpp + 2 } else { 2 };
                        s.take(n * each, WHAT)?;
                    }
                }
            }
        }
        Encoding::Zrle | Encoding::Zlib => {
            let len = s.u32(WHAT)?;
            s.take(len as usize, WHAT)?;
        }
        Encoding::Trle => frame_trle(s, r, pf.cpixel().0)?,
        Encoding::Tight | Encoding::TightPng => frame_tight(s, r, pf)?,
        Encoding::Jpeg => {
            let rest = &s.b[s.pos..];
            let (mut pos, mut in_scan) = (0, false);
            match crate::decode::jpeg::walk(rest, &mut pos, &mut in_scan, |_, _| {}) {
                Ok(Some(end)) => {
                    s.take(end, WHAT)?;
                }
                Ok(None) => {
                    s.take(rest.len() + 1, WHAT)?;
                }
                Err(e) => return Err(s.protocol(s.pos, e.to_string())),
            }
        }
        Encoding::DesktopSize | Encoding::LastRect => {}
        Encoding::Cursor => {
            s.take(r.area() * bpp + (r.w as usize).div_ceil(8) * r.h as usize, WHAT)?;
        }
        Encoding::DesktopName => {
            let len = s.u32(WHAT)?;
            s.take(len as usize, WHAT)?;
        }
        Encoding::ExtendedDesktopSize => {
            let n = s.u8(WHAT)?;
            s.take(3 + 16 * n as usize, WHAT)?;
        }
        _ => {
            return Err(ReplayError::UnframedEncoding { offset: 0, encoding });
        }
    }
    Ok(())
}

/// Skips a Tight or TightPNG rectangle (see [`crate::decode::tight`]).
fn frame_tight(s: &mut Reader<'_>, r: Rect, pf: &PixelFormat) -> Result<(), ReplayError> {
    const WHAT: &str = "Tight rectangle";
    let tp = crate::decode::tight::tpixel_size(pf);
    let compact = |s: &mut Reader<'_>| -> Result<usize, ReplayError> {
        let mut len = 0;
        for i in 0..3 {
            let b = s.u8(WHAT)? as usize;
            if i == 2 {
                return Ok(len | b << 14);
            }
            len |= (b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                break;
            }
        }
        Ok(len)
    };
    let at = s.pos;
    let ctl = s.u8(WHAT)?;
    match ctl >> 4 {
        8 => {
            s.take(tp, WHAT)?;
        }
        9 | 10 => {
            let len = compact(s)?;
            s.take(len, WHAT)?;
        }
        kind @ 0..=7 => {
            let (w, h) = (r.w as usize, r.h as usize);
            let mut size = w * h * tp;
            if kind & 4 != 0 {
                match s.u8(WHAT)? {
                    0 | 2 => {}
                    1 => {
                        let n = s.u8(WHAT)? as usize + 1;
                        s.take(n * tp, WHAT)?;
                        size = if n <= 2 { w.div_ceil(8) * h } else { w * h };
                    }
                    f => return Err(s.protocol(at, format!("unknown Tight filter {f}"))),
                }
            }
            let len = if size < 12 { size } else { compact(s)? };
            s.take(len, WHAT)?;
        }
        _ => return Err(s.protocol(at, format!("Tight compression control {ctl:#04x}"))),
    }
    Ok(())
}

/// Skips a TRLE rectangle (16x16 tiles as in [`crate::decode::zrle`]) with `cp`-byte CPIXELs.
fn frame_trle(s: &mut Reader<'_>, r: Rect, cp: usize) -> Result<(), ReplayError> {
    const WHAT: &str = "TRLE tile";
    let mut pal = 0usize;
    for ty in (0..r.h).step_by(16) {
        for tx in (0..r.w).step_by(16) {
            let (tw, th) = ((r.w - tx).min(16) as usize, (r.h - ty).min(16) as usize);
            let at = s.pos;
            let sub = s.u8(WHAT)?;
            let runs = |s: &mut Reader<'_>, palette: bool| -> Result<(), ReplayError> {
                let mut left = tw * th;
                while left > 0 {
                    let run = if palette {
                        s.u8(WHAT)? & 128 != 0
                    } else {
                        s.take(cp, WHAT)?;
                        true
                    };
                    let mut n = 1;
                    if run {
                        loop {
                            let b = s.u8(WHAT)?;
                            n += b as usize;
                            if b != 255 || n > left {
                                break;
                            }
                        }
                    }
                    left = left.saturating_sub(n);
                }
                Ok(())
            };
            match sub {
                0 => {
                    s.take(tw * th * cp, WHAT)?;
                }
                1 => {
                    s.take(cp, WHAT)?;
                }
                2..=16 | 127 => {
                    if sub != 127 {
                        pal = sub as usize;
                        s.take(pal * cp, WHAT)?;
                    }
                    let bits = match pal {
                        0..=2 => 1,
                        3 | 4 => 2,
                        _ => 4,
                    };
                    s.take((tw * bits).div_ceil(8) * th, WHAT)?;
                }
                128 => runs(s, false)?,
                129..=255 => {
                    if sub != 129 {
                        pal = sub as usize - 128;
                        s.take(pal * cp, WHAT)?;
                    }
                    runs(s, true)?;
                }
                _ => return Err(s.protocol(at, format!("TRLE subencoding {sub}"))),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(dir: u8, ms: u32, data: &[u8]) -> Vec<u8> {
        let mut v = vec![dir];
        v.extend_from_slice(&ms.to_be_bytes());
        v.extend_from_slice(&(data.len() as u32).to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    fn file(records: &[(u8, u32, Vec<u8>)]) -> Vec<u8> {
        let mut f = MAGIC.to_vec();
        for (d, ms, data) in records {
            f.extend(record(*d, *ms, data));
        }
        f
    }

    fn set_encodings(list: &[i32]) -> Vec<u8> {
        let mut m = vec![2, 0];
        m.extend_from_slice(&(list.len() as u16).to_be_bytes());
        for n in list {
            m.extend_from_slice(&n.to_be_bytes());
        }
        m
    }

    fn server_init(w: u16, h: u16, name: &str) -> Vec<u8> {
        let xvnc = PixelFormat { red_shift: 16, green_shift: 8, blue_shift: 0, ..PixelFormat::RGBX32 };
        let mut m = w.to_be_bytes().to_vec();
        m.extend_from_slice(&h.to_be_bytes());
        m.extend_from_slice(&xvnc.to_bytes());
        m.extend_from_slice(&(name.len() as u32).to_be_bytes());
        m.extend_from_slice(name.as_bytes());
        m
    }

    fn set_pixel_format(pf: &PixelFormat) -> Vec<u8> {
        let mut m = vec![0, 0, 0, 0];
        m.extend_from_slice(&pf.to_bytes());
        m
    }

    fn fbur() -> Vec<u8> {
        vec![3, 0, 0, 0, 0, 0, 0, 8, 0, 4]
    }

    /// An RFB 3.8 session with security None, as the recorder makes them, with `updates`
    /// appended to the server stream.
    fn session_38(updates: &[u8]) -> Vec<u8> {
        file(
            &handshake_38()
                .into_iter()
                .chain([
                    (1, 2, set_pixel_format(&PixelFormat::RGBX32)),
                    (1, 2, set_encodings(&[16, 5, -223, -224, -26])),
                    (1, 2, fbur()),
                ])
                .chain((!updates.is_empty()).then(|| (0, 3, updates.to_vec())))
                .collect::<Vec<_>>(),
        )
    }

    /// The records of an RFB 3.8 handshake with security None, up to ServerInit (8x4, "rec").
    fn handshake_38() -> Vec<(u8, u32, Vec<u8>)> {
        vec![
            (0, 0, b"RFB 003.008\n".to_vec()),
            (1, 0, b"RFB 003.008\n".to_vec()),
            (0, 1, vec![1, 1]),
            (1, 1, vec![1]),
            (0, 1, vec![0, 0, 0, 0]),
            (1, 1, vec![1]),
            (0, 2, server_init(8, 4, "rec")),
        ]
    }

    #[test]
    fn parse_reads_records_in_order() {
        let f = file(&[(0, 0, b"RFB 003.008\n".to_vec()), (1, 5, vec![9; 65536]), (0, 5, vec![7])]);
        let r = parse(&f).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], Record { from_server: true, time_ms: 0, data: b"RFB 003.008\n" });
        assert!(!r[1].from_server);
        assert_eq!((r[1].time_ms, r[1].data.len()), (5, 65536));
        assert_eq!(r[2].data, &[7]);
        assert_eq!(server_stream(&r), b"RFB 003.008\n\x07");
        assert_eq!(server_records(&r).count(), 2);
        assert_eq!(client_stream(&r).len(), 65536);
        assert!(parse(MAGIC).unwrap().is_empty());
    }

    #[test]
    fn parse_rejects_every_malformation() {
        assert_eq!(parse(b""), Err(ReplayError::BadMagic));
        assert_eq!(parse(b"RFBREC0"), Err(ReplayError::BadMagic));
        assert_eq!(parse(b"RFBREC02"), Err(ReplayError::BadMagic));
        let good = file(&[(0, 1, vec![1, 2, 3])]);
        // Every cut inside the record is a truncation.
        for cut in 9..good.len() {
            let e = parse(&good[..cut]).unwrap_err();
            if cut < 8 + HEADER {
                assert_eq!(e, ReplayError::TruncatedHeader { offset: 8, available: cut - 8 });
            } else {
                assert_eq!(e, ReplayError::TruncatedPayload { offset: 8, len: 3, available: cut - 17 });
            }
        }
        let mut bad = good.clone();
        bad[8] = 2;
        assert_eq!(parse(&bad), Err(ReplayError::BadDirection { offset: 8, byte: 2 }));
        let mut huge = good.clone();
        huge[13..17].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(parse(&huge), Err(ReplayError::BadLength { offset: 8, len: u32::MAX }));
        let empty = [MAGIC.as_slice(), &[0, 0, 0, 0, 0, 0, 0, 0, 0]].concat();
        assert_eq!(parse(&empty), Err(ReplayError::BadLength { offset: 8, len: 0 }));
        let back = file(&[(0, 5, vec![1]), (1, 4, vec![1])]);
        assert_eq!(parse(&back), Err(ReplayError::TimeWentBack { offset: 18, time_ms: 4, previous_ms: 5 }));
        // The error says what happened.
        assert!(ReplayError::BadDirection { offset: 8, byte: 2 }.to_string().contains("direction byte 2"));
    }

    #[test]
    fn client_config_takes_the_clients_pixel_format_and_encodings() {
        let f = session_38(&[]);
        let r = parse(&f).unwrap();
        let c = client_config(&r).unwrap();
        assert_eq!(c.pixel_format, PixelFormatChoice::Custom(PixelFormat::RGBX32));
        assert_eq!(
            c.encodings,
            vec![
                Encoding::Zrle,
                Encoding::Hextile,
                Encoding::DesktopSize,
                Encoding::LastRect,
                Encoding::QualityLevel(6)
            ]
        );
        assert!(c.shared);
        assert_eq!(c.credentials, None);
        let s = session(&r).unwrap();
        assert_eq!((s.version, s.security, s.width, s.height, s.name.as_str()), ((3, 8), 1, 8, 4, "rec"));
        assert_eq!(s.server_pixel_format.red_shift, 16);
        assert_eq!(s.pixel_format(), PixelFormat::RGBX32);
        assert_eq!(s.server_messages_at, 12 + 2 + 4 + server_init(8, 4, "rec").len());
    }

    #[test]
    fn the_engine_answers_a_recorded_handshake_byte_for_byte() {
        let f = session_38(&[]);
        let r = parse(&f).unwrap();
        let mut conn = crate::Connection::new(client_config(&r).unwrap());
        for data in server_records(&r) {
            conn.receive(data).unwrap();
        }
        assert_eq!(conn.take_output(), client_stream(&r));
    }

    #[test]
    fn vnc_auth_and_rfb_33_are_followed() {
        // 3.3 with VNC authentication: the server picks the type, no choice byte from the client.
        let f = file(&[
            (0, 0, b"RFB 003.003\n".to_vec()),
            (1, 0, b"RFB 003.003\n".to_vec()),
            (0, 0, vec![0, 0, 0, 2]),
            (0, 0, vec![0xaa; 16]),
            (1, 0, vec![0x55; 16]),
            (0, 0, vec![0, 0, 0, 0]),
            (1, 0, vec![0]),
            (0, 0, server_init(4, 4, "")),
            (1, 0, set_encodings(&[0])),
        ]);
        let r = parse(&f).unwrap();
        let s = session(&r).unwrap();
        assert_eq!((s.version, s.security, s.shared), ((3, 3), 2, false));
        let c = s.config();
        assert_eq!(c.pixel_format, PixelFormatChoice::ServerNative);
        assert!(c.credentials.is_some());
        assert_eq!(c.encodings, vec![Encoding::Raw]);
        // The engine gets through the recorded handshake with the placeholder password.
        let mut conn = crate::Connection::new(c);
        conn.receive(&server_stream(&r)).unwrap();
        assert_eq!(conn.state(), crate::State::Connected);
    }

    #[test]
    fn session_errors_are_typed() {
        // Only the server greeting: the client stream is missing.
        let f = file(&[(0, 0, b"RFB 003.008\n".to_vec())]);
        assert!(matches!(session(&parse(&f).unwrap()), Err(ReplayError::Incomplete { side: "client", .. })));
        // No SetEncodings.
        let f = file(&handshake_38());
        assert!(matches!(session(&parse(&f).unwrap()), Err(ReplayError::Unreplayable(_))));
        // A second, different SetEncodings.
        let mut f2 = f.clone();
        f2.extend(record(1, 3, &set_encodings(&[0])));
        f2.extend(record(1, 3, &set_encodings(&[5])));
        assert!(matches!(session(&parse(&f2).unwrap()), Err(ReplayError::Unreplayable(_))));
        // An unknown client message.
        let mut f3 = f.clone();
        f3.extend(record(1, 3, &[200, 0]));
        assert!(matches!(session(&parse(&f3).unwrap()), Err(ReplayError::Protocol { side: "client", .. })));
        // Not RFB.
        let f4 = file(&[(0, 0, b"HTTP/1.1 200\n".to_vec())]);
        assert!(matches!(session(&parse(&f4).unwrap()), Err(ReplayError::Protocol { side: "server", offset: 0, .. })));
    }

    #[test]
    fn rects_frames_every_known_encoding() {
        let mut u = vec![0, 0, 0, 6];
        let hdr = |u: &mut Vec<u8>, x: u16, y: u16, w: u16, h: u16, e: i32| {
            for v in [x, y, w, h] {
                u.extend_from_slice(&v.to_be_bytes());
            }
            u.extend_from_slice(&e.to_be_bytes());
        };
        hdr(&mut u, 0, 0, 2, 1, 0); // raw: 2 pixels
        u.extend([1; 8]);
        hdr(&mut u, 0, 1, 8, 3, 16); // zrle: 5 bytes of (unchecked) data
        u.extend([0, 0, 0, 5, 1, 2, 3, 4, 5]);
        hdr(&mut u, 0, 0, 8, 4, 5); // hextile: bg + fg + 2 plain subrects
        u.extend([2 | 4 | 8, 1, 1, 1, 0, 2, 2, 2, 0, 2, 0x00, 0x11, 0x22, 0x11]);
        hdr(&mut u, 0, 0, 8, 4, -223); // desktop size
        hdr(&mut u, 0, 0, 0, 0, -224); // last rect: the 6th rectangle is never sent
        u.extend([2]); // bell
        u.extend([3, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']); // cut text
        let f = session_38(&u);
        let r = parse(&f).unwrap();
        let framing = rects(&r).unwrap();
        assert_eq!(framing.updates, 1);
        let encs: Vec<(i32, usize)> = framing.rects.iter().map(|r| (r.encoding, r.len)).collect();
        assert_eq!(encs, vec![(0, 8), (16, 9), (5, 14), (-223, 0), (-224, 0)]);
        assert_eq!(framing.pixels(), 2 + 24 + 32);
        let start = session(&r).unwrap().server_messages_at;
        assert_eq!(framing.rects[0].offset, start + 4);
        // Cut anywhere but after a whole message, the stream is incomplete.
        let fbu_end = framing.rects[4].offset + 12 - start;
        for cut in (1..u.len()).filter(|&c| c != fbu_end && c != fbu_end + 1) {
            let f = session_38(&u[..cut]);
            let e = rects(&parse(&f).unwrap()).unwrap_err();
            assert!(matches!(e, ReplayError::Incomplete { side: "server", .. }), "cut {cut}: {e:?}");
        }
        // An encoding the reader does not know cannot be framed.
        let mut t = vec![0, 0, 0, 1];
        hdr(&mut t, 0, 0, 1, 1, 99);
        let e = rects(&parse(&session_38(&t)).unwrap()).unwrap_err();
        assert_eq!(e, ReplayError::UnframedEncoding { offset: start + 4, encoding: 99 });
    }

    #[test]
    fn rects_frames_tight_and_trle() {
        let mut u = vec![0, 0, 0, 9];
        let hdr = |u: &mut Vec<u8>, w: u16, h: u16, e: i32| {
            for v in [0, 0, w, h] {
                u.extend_from_slice(&v.to_be_bytes());
            }
            u.extend_from_slice(&e.to_be_bytes());
        };
        // Tight with RGBX32: 3-byte TPIXELs
        hdr(&mut u, 4, 4, 7); // fill
        u.extend([0x80, 1, 2, 3]);
        hdr(&mut u, 2, 1, 7); // copy, 6 bytes uncompressed
        u.extend([0x00, 1, 2, 3, 4, 5, 6]);
        hdr(&mut u, 8, 8, 7); // palette of 2 on stream 1: 8 bytes uncompressed
        u.extend([0x50 | 0x02, 1, 1, 1, 1, 1, 2, 2, 2]);
        u.extend([0; 8]);
        hdr(&mut u, 8, 8, 7); // gradient: 192 bytes, a 2-byte compact length of 130
        u.extend([0x60, 2, 0x82, 0x01]);
        u.extend([0; 130]);
        hdr(&mut u, 4, 4, -260); // PNG: 5 bytes (unchecked)
        u.extend([0xa0, 5, 1, 2, 3, 4, 5]);
        // TRLE, 3-byte CPIXELs, a 17x2 rectangle: a 16x2 packed-palette tile of 3 colours
        // (2 bits, 4 bytes a row), then a 1x2 tile reusing it
        hdr(&mut u, 17, 2, 15);
        u.push(3);
        u.extend([0; 9 + 8]);
        u.extend([127, 0, 0]);
        // a 16x1 plain RLE tile: runs of 1 and 15
        hdr(&mut u, 16, 1, 15);
        u.extend([128, 1, 2, 3, 0, 4, 5, 6, 14]);
        // a 2x2 palette RLE tile of 2 colours: a single pixel, then a run of 3
        hdr(&mut u, 2, 2, 15);
        u.extend([130, 1, 1, 1, 2, 2, 2, 0, 0x81, 2]);
        // JPEG: SOI, an APP0 of 4 bytes, SOS, scan data with a stuffed 0xFF and a restart, EOI
        hdr(&mut u, 1, 1, 21);
        u.extend([0xff, 0xd8, 0xff, 0xe0, 0, 4, 9, 9, 0xff, 0xda, 0, 2]);
        u.extend([1, 0xff, 0, 2, 0xff, 0xd0, 3, 0xff, 0xd9]);
        let framing = rects(&parse(&session_38(&u)).unwrap()).unwrap();
        let encs: Vec<(i32, usize)> = framing.rects.iter().map(|r| (r.encoding, r.len)).collect();
        assert_eq!(
            encs,
            vec![(7, 4), (7, 7), (7, 17), (7, 134), (-260, 7), (15, 1 + 9 + 8 + 3), (15, 9), (15, 10), (21, 21)]
        );
        // an unknown Tight compression is a protocol error
        let mut t = vec![0, 0, 0, 1];
        hdr(&mut t, 1, 1, 7);
        t.push(0xc0);
        let e = rects(&parse(&session_38(&t)).unwrap()).unwrap_err();
        assert!(matches!(e, ReplayError::Protocol { .. }), "{e:?}");
    }
}
