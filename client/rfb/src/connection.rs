//! The connection state machine: handshake, security, and the server message loop.
//!
//! Push bytes with [`Connection::receive`]; pull bytes to send with [`Connection::take_output`]
//! and events with [`Connection::poll_event`]. Input of any length is accepted at any point: what
//! does not yet form a whole unit is kept (bounded) until the rest arrives.

use std::collections::VecDeque;

use crate::auth::vnc_auth_response;
use crate::decode::copyrect::CopyRectDecoder;
use crate::decode::hextile::HextileDecoder;
use crate::decode::jpeg::JpegDecoder;
use crate::decode::raw::RawDecoder;
use crate::decode::rre::RreDecoder;
use crate::decode::tight::TightDecoder;
use crate::decode::trle::TrleDecoder;
use crate::decode::zlib::ZlibDecoder;
use crate::decode::zrle::ZrleDecoder;
use crate::decode::{Decoder, Input, Progress, Target, be16, be32};
use crate::encoding::Encoding;
use crate::error::Error;
use crate::extension::{self as ext, Screen, XvpAction};
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::{PixelFormat, PixelTranslator};
use crate::tight_security as tight;
use crate::tls::{MAX_HELD, TlsConfig, TlsSession, Trust, format_fingerprint};
use crate::vencrypt::{self, Inner};

/// Longest desktop name, failure reason or similar string accepted.
pub const MAX_STRING: u32 = 1 << 20;
/// Clipboard text kept from one ServerCutText; the rest is read and dropped.
pub const MAX_CLIPBOARD: usize = 16 << 20;
/// Largest cursor shape accepted (each side).
pub const MAX_CURSOR: u16 = 1024;

/// What the client asks the server to send pixels as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormatChoice {
    /// 32 bpp true colour laid out as the framebuffer's RGBA bytes (the fastest to decode).
    Rgbx32,
    /// Keep the server's own format (no SetPixelFormat); colour-mapped servers need this.
    ServerNative,
    /// Any format of 8, 16 or 32 bpp.
    Custom(PixelFormat),
}

/// A password, and a user name for security types that need one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: String,
}

/// How the connection behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// Encodings offered in SetEncodings, in order of preference (pseudo-encodings included).
    pub encodings: Vec<Encoding>,
    /// Share the desktop with other clients (ClientInit shared flag).
    pub shared: bool,
    pub pixel_format: PixelFormatChoice,
    /// Used when the server asks for authentication; without them a
    /// [`Event::CredentialsRequired`] is raised.
    pub credentials: Option<Credentials>,
    /// JPEG quality level 0–9 offered to the server (QualityLevel pseudo-encoding). Servers only
    /// send JPEG (Tight, TightPNG) when one is offered, so `None` keeps the picture lossless.
    pub quality: Option<u8>,
    /// Compression level 0–9 offered to the server (CompressionLevel pseudo-encoding).
    pub compression: Option<u8>,
    /// Never offer JPEG or a quality level, even when `encodings` or `quality` name them.
    pub lossless: bool,
    /// TLS to the VNC server (VeNCrypt): how its certificate is checked.
    pub tls: TlsConfig,
    /// Let the caller provide the TLS session ([`Event::TlsRequired`], then
    /// [`Connection::start_tls`]) instead of starting the built-in one. Always the case when
    /// the crate is built without its `rustls` feature.
    pub external_tls: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            encodings: Encoding::PIXEL.iter().chain(Encoding::PSEUDO).copied().collect(),
            shared: true,
            pixel_format: PixelFormatChoice::Rgbx32,
            credentials: None,
            tls: TlsConfig::default(),
            external_tls: false,
            quality: None,
            compression: None,
            lossless: false,
        }
    }
}

impl Config {
    /// Offers exactly `pixel` (in that order) plus every supported pseudo-encoding.
    pub fn with_encodings(mut self, pixel: &[Encoding]) -> Config {
        self.encodings = pixel.iter().chain(Encoding::PSEUDO).copied().collect();
        self
    }

    /// What SetEncodings offers: `encodings`, then the quality and compression levels (which
    /// replace any listed in `encodings`); no JPEG and no quality level when `lossless`.
    pub fn offered_encodings(&self) -> Vec<Encoding> {
        let quality = self.quality.filter(|_| !self.lossless);
        let dropped = |e: &Encoding| match e {
            Encoding::Jpeg => self.lossless,
            Encoding::QualityLevel(_) => self.lossless || quality.is_some(),
            Encoding::CompressionLevel(_) => self.compression.is_some(),
            _ => false,
        };
        let levels = [quality.map(Encoding::QualityLevel), self.compression.map(Encoding::CompressionLevel)];
        (self.encodings.iter().filter(|e| !dropped(e)).copied()).chain(levels.into_iter().flatten()).collect()
    }
}

/// The cursor shape, RGBA with the mask as alpha (0 or 255).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub width: u16,
    pub height: u16,
    pub hotspot_x: u16,
    pub hotspot_y: u16,
    pub rgba: Vec<u8>,
}

/// Something the caller should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The server wants a password (and a user name when `username` is true); answer with
    /// [`Connection::send_credentials`].
    CredentialsRequired {
        username: bool,
    },
    /// The server's TLS certificate cannot be checked (no CA and no pinned fingerprint in
    /// [`Config::tls`]): show the fingerprint and answer with
    /// [`Connection::trust_certificate`] or [`Connection::reject_certificate`]. Nothing is sent
    /// inside the TLS session until then.
    CertificateUnknown {
        /// SHA-256 of the certificate, "AB:CD:…" (as `openssl x509 -fingerprint -sha256`).
        fingerprint_sha256: String,
    },
    /// VeNCrypt is about to start TLS and the caller provides the session
    /// ([`Config::external_tls`], or no built-in TLS): start one with this configuration (and
    /// `anonymous` for the TLS* sub-types) and hand it to [`Connection::start_tls`].
    TlsRequired {
        config: TlsConfig,
        anonymous: bool,
    },
    /// The handshake is done; the framebuffer has the server's size.
    Connected {
        width: u16,
        height: u16,
        name: String,
    },
    /// The framebuffer changed size (and is black until the server redraws it).
    Resized {
        width: u16,
        height: u16,
    },
    /// A FramebufferUpdate message is complete; its damage is in the framebuffer.
    UpdateComplete,
    Bell,
    /// Text the server put on its clipboard.
    Clipboard(String),
    /// A new cursor shape (empty when the server hides the cursor).
    Cursor(Cursor),
    DesktopName(String),
    /// The server refused a [`Connection::set_desktop_size`] request; nothing changed.
    ResizeRefused {
        status: u16,
        reason: String,
    },
    /// The keyboard LEDs of the remote machine (QEMU LED state).
    LedState {
        scroll: bool,
        num: bool,
        caps: bool,
    },
    /// The server accepts power actions ([`Connection::xvp`]): show a power menu.
    PowerControlAvailable,
    /// The server could not carry out the last power action.
    PowerActionFailed,
    /// The connection ended with this error; nothing more will happen.
    Disconnected(Error),
}

/// Where the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Negotiating version and security.
    Handshake,
    /// Waiting for [`Connection::send_credentials`].
    NeedCredentials,
    /// Waiting for [`Connection::trust_certificate`] (see [`Event::CertificateUnknown`]).
    NeedCertificateTrust,
    /// Running: input may be sent.
    Connected,
    /// Ended; see [`Connection::error`].
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V3_3,
    V3_7,
    V3_8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PixelDecoder {
    Raw,
    CopyRect,
    Rre,
    Hextile,
    Zrle,
    Zlib,
    Trle,
    Tight,
    TightPng,
    Jpeg,
}

#[derive(Debug)]
enum Phase {
    Version,
    SecurityTypes,
    SecurityType33,
    VncChallenge,
    AwaitCredentials([u8; 16]),
    VeNCryptVersion,
    VeNCryptVersionAck,
    VeNCryptSubTypes,
    VeNCryptTlsAck(vencrypt::SubType),
    /// Waiting for [`Connection::start_tls`] (see [`Event::TlsRequired`]).
    AwaitTls(vencrypt::SubType),
    /// TLS is being negotiated; then the inner authentication runs inside it.
    TlsHandshake(Inner),
    /// TLS is up with a certificate nobody vouched for: waiting for the caller.
    AwaitTrust(Inner),
    /// Plain authentication: send the user name and password.
    PlainAuth,
    AwaitPlainCredentials,
    TightTunnels,
    TightAuthTypes,
    /// Tight security's capability lists after ServerInit.
    TightInteraction,
    SecurityResult {
        authenticated: bool,
    },
    FailureReason {
        authenticated: bool,
        too_many: bool,
    },
    ServerInit,
    Message,
    RectHeader,
    Pixels(PixelDecoder),
    ExtendedDesktopSize(Rect),
    Cursor(Rect),
    DesktopName,
    LedState,
    VmwareCursor(Rect),
    ExtClipboard,
    ColourMap,
    CutText {
        left: u32,
    },
    Closed,
}

/// An RFB client connection, without I/O.
pub struct Connection {
    config: Config,
    phase: Phase,
    version: Version,
    events: VecDeque<Event>,
    out: Vec<u8>,
    /// Received bytes not yet consumed.
    pending: Vec<u8>,
    fb: Framebuffer,
    pixels: PixelTranslator,
    name: String,
    rects_left: u16,
    /// Pixels carried by the pixel rectangles of the update being read, and of the last one.
    update_area: u64,
    last_update_area: u64,
    clip: Vec<u8>,
    error: Option<Error>,
    offered: Vec<i32>,
    /// TLS to the server once VeNCrypt started it; from then on everything goes through it.
    tls: Option<Box<dyn TlsSession>>,
    /// Bytes for the wire that must go out before the TLS records (the clear handshake's end).
    wire: Vec<u8>,
    /// Tight security was used (the server sends capability lists after ServerInit).
    tight: bool,
    ext_desktop_size: bool,
    /// Protocol extensions the server agreed to, and their state (connection/extensions.rs).
    ext: ext::ExtState,
    raw: RawDecoder,
    copyrect: CopyRectDecoder,
    rre: RreDecoder,
    hextile: HextileDecoder,
    zrle: ZrleDecoder,
    zlib: ZlibDecoder,
    trle: TrleDecoder,
    /// Tight and TightPNG (one set of zlib streams for both, as servers keep).
    tight_decoder: TightDecoder,
    jpeg: JpegDecoder,
}

/// Outcome of one step of the parser.
enum Step {
    /// Consumed something; go on.
    Continue,
    /// Need more bytes (or user input) before going on.
    Wait,
}

impl Connection {
    pub fn new(config: Config) -> Connection {
        let offered = config.offered_encodings().iter().map(|e| e.number()).collect();
        Connection {
            config,
            phase: Phase::Version,
            version: Version::V3_8,
            events: VecDeque::new(),
            out: Vec::new(),
            pending: Vec::new(),
            fb: Framebuffer::default(),
            pixels: PixelTranslator::new(PixelFormat::RGBX32),
            name: String::new(),
            rects_left: 0,
            update_area: 0,
            last_update_area: 0,
            clip: Vec::new(),
            error: None,
            offered,
            tls: None,
            wire: Vec::new(),
            tight: false,
            ext_desktop_size: false,
            ext: ext::ExtState::default(),
            raw: RawDecoder::default(),
            copyrect: CopyRectDecoder::default(),
            rre: RreDecoder::default(),
            hextile: HextileDecoder::default(),
            zrle: ZrleDecoder::default(),
            zlib: ZlibDecoder::default(),
            trle: TrleDecoder::default(),
            tight_decoder: TightDecoder::default(),
            jpeg: JpegDecoder::default(),
        }
    }

    /// Feeds bytes from the server. An error closes the connection: it is returned here, raised
    /// as [`Event::Disconnected`], and every later call returns [`Error::Closed`].
    pub fn receive(&mut self, data: &[u8]) -> Result<(), Error> {
        if matches!(self.phase, Phase::Closed) {
            return Err(Error::Closed);
        }
        if self.tls.is_some() {
            return self.receive_tls(data);
        }
        self.receive_plain(data)?;
        if matches!(self.phase, Phase::AwaitTls(_)) && self.pending.len() > MAX_HELD {
            return Err(self.fail(Error::TooLong {
                what: "data sent before the TLS handshake",
                len: self.pending.len() as u64,
                limit: MAX_HELD as u64,
            }));
        }
        // TLS may have started part-way through `data`: what followed is TLS.
        if self.tls.is_some() && !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            return self.receive_tls(&rest);
        }
        Ok(())
    }

    /// Feeds TLS records; the RFB parser gets their plaintext once the certificate is trusted.
    fn receive_tls(&mut self, data: &[u8]) -> Result<(), Error> {
        let Some(tls) = self.tls.as_mut() else {
            return Err(Error::Closed);
        };
        let mut plain = Vec::new();
        let result = tls.receive(data, &mut plain);
        let (handshaking, trust) = (tls.is_handshaking(), crate::tls::trust(&**tls));
        if let Err(e) = result {
            return Err(self.fail(e));
        }
        if let Phase::TlsHandshake(inner) = self.phase {
            if !handshaking {
                match trust {
                    Trust::Verified => self.phase = inner_auth(inner),
                    Trust::Ask(fp) => {
                        self.events
                            .push_back(Event::CertificateUnknown { fingerprint_sha256: format_fingerprint(&fp) });
                        self.phase = Phase::AwaitTrust(inner);
                    }
                }
            }
        }
        if matches!(self.phase, Phase::TlsHandshake(_) | Phase::AwaitTrust(_)) {
            if self.pending.len() + plain.len() > MAX_HELD {
                return Err(self.fail(Error::TooLong {
                    what: "data sent before the certificate was trusted",
                    len: (self.pending.len() + plain.len()) as u64,
                    limit: MAX_HELD as u64,
                }));
            }
            self.pending.extend_from_slice(&plain);
            return Ok(());
        }
        if !self.pending.is_empty() {
            // Held while the certificate was checked; goes first.
            self.pending.extend_from_slice(&plain);
            return self.process_pending();
        }
        self.receive_plain(&plain)
    }

    /// Feeds RFB bytes (received in the clear, or the plaintext of TLS records).
    fn receive_plain(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.pending.is_empty() {
            // The common case: parse straight from the caller's buffer, keep only the tail.
            let used = self.process(data)?;
            self.pending.extend_from_slice(&data[used..]);
        } else {
            self.pending.extend_from_slice(data);
            self.process_pending()?;
        }
        Ok(())
    }

    fn process_pending(&mut self) -> Result<(), Error> {
        let pending = std::mem::take(&mut self.pending);
        let result = self.process(&pending);
        let mut pending = pending;
        match result {
            Ok(used) => {
                pending.drain(..used);
                self.pending = pending;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Runs the parser over `data`; returns how many bytes were consumed.
    fn process(&mut self, data: &[u8]) -> Result<usize, Error> {
        let mut input = Input::new(data);
        loop {
            match self.step(&mut input) {
                Ok(Step::Continue) => {}
                Ok(Step::Wait) => return Ok(input.consumed()),
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        self.phase = Phase::Closed;
        self.pending = Vec::new();
        self.error = Some(e.clone());
        self.events.push_back(Event::Disconnected(e.clone()));
        e
    }

    /// Bytes to send to the server (empties the queue).
    pub fn take_output(&mut self) -> Vec<u8> {
        if let Some(tls) = self.tls.as_mut() {
            if !self.out.is_empty() {
                tls.write(&self.out);
                self.out.clear();
            }
            tls.write_tls_into(&mut self.wire);
            return std::mem::take(&mut self.wire);
        }
        std::mem::take(&mut self.out)
    }

    /// Whether there are bytes to send.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty() || !self.wire.is_empty() || self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Accepts the server certificate shown by [`Event::CertificateUnknown`]; the handshake
    /// goes on. Does nothing at other times.
    pub fn trust_certificate(&mut self) -> Result<(), Error> {
        if let Phase::AwaitTrust(inner) = self.phase {
            self.phase = inner_auth(inner);
            return self.process_pending();
        }
        Ok(())
    }

    /// Refuses the server certificate shown by [`Event::CertificateUnknown`]: the connection
    /// ends with [`Error::CertificateRejected`]. Does nothing at other times.
    pub fn reject_certificate(&mut self) {
        if let Phase::AwaitTrust(_) = self.phase {
            let fingerprint = self.server_certificate_sha256().unwrap_or_default();
            self.fail(Error::CertificateRejected { fingerprint });
        }
    }

    /// Hands over the TLS session asked for by [`Event::TlsRequired`]; its ClientHello goes out
    /// with the next [`Connection::take_output`]. Does nothing at other times.
    pub fn start_tls(&mut self, session: Box<dyn TlsSession>) -> Result<(), Error> {
        let Phase::AwaitTls(sub) = self.phase else {
            return Ok(());
        };
        self.begin_tls(session, sub);
        // The server speaks after the ClientHello, but anything it sent already is TLS.
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            return self.receive_tls(&rest);
        }
        Ok(())
    }

    /// Ends the connection because the caller could not provide the TLS session asked for by
    /// [`Event::TlsRequired`].
    pub fn fail_tls(&mut self, e: Error) {
        if let Phase::AwaitTls(_) = self.phase {
            self.fail(e);
        }
    }

    fn begin_tls(&mut self, session: Box<dyn TlsSession>, sub: vencrypt::SubType) {
        // The clear part of the handshake goes out before the ClientHello.
        self.wire.append(&mut self.out);
        self.tls = Some(session);
        self.phase = Phase::TlsHandshake(sub.inner());
    }

    /// The built-in TLS session, unless the caller provides one.
    #[cfg(feature = "rustls")]
    fn built_in_tls(&self, sub: vencrypt::SubType) -> Result<Option<Box<dyn TlsSession>>, Error> {
        if self.config.external_tls {
            return Ok(None);
        }
        Ok(Some(Box::new(crate::tls::RustlsSession::start(&self.config.tls, sub.anonymous())?)))
    }

    #[cfg(not(feature = "rustls"))]
    fn built_in_tls(&self, _sub: vencrypt::SubType) -> Result<Option<Box<dyn TlsSession>>, Error> {
        Ok(None)
    }

    /// SHA-256 fingerprint ("AB:CD:…") of the server's TLS certificate, once it has shown one.
    pub fn server_certificate_sha256(&self) -> Option<String> {
        self.tls.as_ref().and_then(|t| t.fingerprint()).map(|fp| format_fingerprint(&fp))
    }

    /// Whether the connection runs inside TLS (VeNCrypt) with the handshake done.
    pub fn is_encrypted(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| !t.is_handshaking())
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The remote framebuffer (RGBA).
    pub fn framebuffer(&self) -> &Framebuffer {
        &self.fb
    }

    /// The remote framebuffer, mutable (to take damage after drawing it).
    pub fn framebuffer_mut(&mut self) -> &mut Framebuffer {
        &mut self.fb
    }

    /// The desktop name from ServerInit or the last DesktopName update.
    pub fn desktop_name(&self) -> &str {
        &self.name
    }

    /// The pixel format updates arrive in.
    pub fn pixel_format(&self) -> &PixelFormat {
        self.pixels.format()
    }

    /// The error that closed the connection, if it is closed.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// How many pixels the pixel rectangles of the last complete update carried (overlaps count
    /// twice; pseudo-rectangles count nothing). A non-incremental full-screen request is answered
    /// by an update carrying at least width × height.
    pub fn last_update_area(&self) -> u64 {
        self.last_update_area
    }

    /// Whether the server announced ExtendedDesktopSize (so it may accept SetDesktopSize).
    pub fn supports_desktop_resize(&self) -> bool {
        self.ext_desktop_size
    }

    pub fn state(&self) -> State {
        match self.phase {
            Phase::Closed => State::Closed,
            Phase::AwaitCredentials(_) | Phase::AwaitPlainCredentials => State::NeedCredentials,
            Phase::AwaitTrust(_) => State::NeedCertificateTrust,
            Phase::Version
            | Phase::SecurityTypes
            | Phase::SecurityType33
            | Phase::VncChallenge
            | Phase::SecurityResult { .. }
            | Phase::FailureReason { .. }
            | Phase::ServerInit
            | Phase::VeNCryptVersion
            | Phase::VeNCryptVersionAck
            | Phase::VeNCryptSubTypes
            | Phase::VeNCryptTlsAck(_)
            | Phase::AwaitTls(_)
            | Phase::TlsHandshake(_)
            | Phase::PlainAuth
            | Phase::TightTunnels
            | Phase::TightAuthTypes => State::Handshake,
            _ => State::Connected,
        }
    }

    /// Answers [`Event::CredentialsRequired`]. Credentials given before they are asked for are
    /// kept for when they are.
    pub fn send_credentials(&mut self, credentials: Credentials) -> Result<(), Error> {
        if let Phase::AwaitCredentials(challenge) = self.phase {
            self.out.extend_from_slice(&vnc_auth_response(&credentials.password, &challenge));
            self.config.credentials = Some(credentials);
            self.phase = Phase::SecurityResult { authenticated: true };
            // Anything the server sent meanwhile can now be parsed.
            if !self.pending.is_empty() {
                self.process_pending()?;
            }
        } else if let Phase::AwaitPlainCredentials = self.phase {
            self.config.credentials = Some(credentials);
            self.phase = Phase::PlainAuth;
            self.process_pending()?;
        } else {
            self.config.credentials = Some(credentials);
        }
        Ok(())
    }

    /// Sends a key press or release (X keysym; see [`crate::keysym`]). Ignored until connected.
    pub fn key(&mut self, keysym: u32, down: bool) {
        if self.state() == State::Connected {
            self.out.extend_from_slice(&[4, down as u8, 0, 0]);
            self.out.extend_from_slice(&keysym.to_be_bytes());
        }
    }

    /// Sends the pointer position (clamped to the framebuffer) and button mask (bit 0 left,
    /// 1 middle, 2 right, 3/4 wheel up/down, 5/6 wheel left/right, 7 back). Ignored until connected.
    /// [`Connection::pointer_ext`] also has forward.
    pub fn pointer(&mut self, x: u16, y: u16, buttons: u8) {
        self.pointer_ext(x, y, buttons as u16);
    }

    /// Puts text on the server's clipboard: as UTF-8 when the server has the extended clipboard,
    /// otherwise as ClientCutText, which is Latin-1 (other characters become '?', line ends
    /// become '\n'). Ignored until connected.
    pub fn clipboard(&mut self, text: &str) {
        if self.state() != State::Connected || self.extended_clipboard_text(text) {
            return;
        }
        let bytes: Vec<u8> =
            text.replace("\r\n", "\n").chars().map(|c| if (c as u32) < 256 { c as u8 } else { b'?' }).collect();
        self.out.extend_from_slice(&[6, 0, 0, 0]);
        self.out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        self.out.extend_from_slice(&bytes);
    }

    /// Asks for an update of `rect` (the whole screen when `None`).
    pub fn request_update(&mut self, incremental: bool, rect: Option<Rect>) {
        if self.state() != State::Connected {
            return;
        }
        let r = rect.unwrap_or(Rect::new(0, 0, self.fb.width(), self.fb.height()));
        self.out.extend_from_slice(&[3, incremental as u8]);
        for v in [r.x, r.y, r.w, r.h] {
            self.out.extend_from_slice(&v.to_be_bytes());
        }
    }

    fn offered(&self, e: Encoding) -> bool {
        self.offered.contains(&e.number())
    }

    fn step(&mut self, input: &mut Input<'_>) -> Result<Step, Error> {
        use Step::{Continue, Wait};
        match self.phase {
            Phase::Version => {
                let Some(b) = input.take(12) else {
                    return Ok(Wait);
                };
                self.version = parse_version(b)?;
                let reply: &[u8] = match self.version {
                    Version::V3_3 => b"RFB 003.003\n",
                    Version::V3_7 => b"RFB 003.007\n",
                    Version::V3_8 => b"RFB 003.008\n",
                };
                self.out.extend_from_slice(reply);
                self.phase = if self.version == Version::V3_3 { Phase::SecurityType33 } else { Phase::SecurityTypes };
            }
            Phase::SecurityTypes => {
                let Some(&n) = input.remaining().first() else {
                    return Ok(Wait);
                };
                if n == 0 {
                    // The server refuses and says why.
                    let Some(reason) = take_string(input, 1)? else {
                        return Ok(Wait);
                    };
                    return Err(Error::ConnectionRefused(reason));
                }
                let Some(b) = input.take(1 + n as usize) else {
                    return Ok(Wait);
                };
                let types = &b[1..];
                let Some(choice) = choose_security(types, self.config.tls.prefers_tls()) else {
                    return Err(Error::NoSupportedSecurity(types.to_vec()));
                };
                self.out.push(choice);
                self.phase = match (choice, self.version) {
                    (2, _) => Phase::VncChallenge,
                    (vencrypt::SECURITY_TYPE, _) => Phase::VeNCryptVersion,
                    (tight::SECURITY_TYPE, _) => {
                        self.tight = true;
                        Phase::TightTunnels
                    }
                    (_, Version::V3_8) => Phase::SecurityResult { authenticated: false },
                    _ => self.client_init(),
                };
            }
            Phase::SecurityType33 => {
                let Some(b) = input.remaining().get(..4) else {
                    return Ok(Wait);
                };
                match be32(b, 0) {
                    0 => {
                        let Some(reason) = take_string(input, 4)? else {
                            return Ok(Wait);
                        };
                        return Err(Error::ConnectionRefused(reason));
                    }
                    1 => {
                        input.advance(4);
                        self.phase = self.client_init();
                    }
                    2 => {
                        input.advance(4);
                        self.phase = Phase::VncChallenge;
                    }
                    t => return Err(Error::UnsupportedSecurity(t)),
                }
            }
            Phase::VncChallenge => {
                let Some(b) = input.take(16) else {
                    return Ok(Wait);
                };
                let challenge: [u8; 16] = b.try_into().expect("16 bytes");
                match &self.config.credentials {
                    Some(c) => {
                        self.out.extend_from_slice(&vnc_auth_response(&c.password, &challenge));
                        self.phase = Phase::SecurityResult { authenticated: true };
                    }
                    None => {
                        self.events.push_back(Event::CredentialsRequired { username: false });
                        self.phase = Phase::AwaitCredentials(challenge);
                    }
                }
            }
            Phase::AwaitCredentials(_) => return Ok(Wait),
            Phase::VeNCryptVersion => {
                let Some(b) = input.take(2) else {
                    return Ok(Wait);
                };
                if b[0] != 0 || b[1] < 2 {
                    return Err(Error::UnsupportedVeNCryptVersion(b[0], b[1]));
                }
                self.out.extend_from_slice(&[0, 2]);
                self.phase = Phase::VeNCryptVersionAck;
            }
            Phase::VeNCryptVersionAck => {
                let Some(b) = input.take(1) else {
                    return Ok(Wait);
                };
                if b[0] != 0 {
                    return Err(Error::UnsupportedVeNCryptVersion(0, 2));
                }
                self.phase = Phase::VeNCryptSubTypes;
            }
            Phase::VeNCryptSubTypes => {
                let Some(&n) = input.remaining().first() else {
                    return Ok(Wait);
                };
                let Some(b) = input.take(1 + 4 * n as usize) else {
                    return Ok(Wait);
                };
                let offered: Vec<u32> = b[1..].chunks_exact(4).map(|c| be32(c, 0)).collect();
                let Some(sub) = vencrypt::choose(&offered) else {
                    return Err(Error::NoCommonSubType { offered });
                };
                self.out.extend_from_slice(&sub.number().to_be_bytes());
                self.phase = if sub.uses_tls() { Phase::VeNCryptTlsAck(sub) } else { inner_auth(sub.inner()) };
            }
            Phase::VeNCryptTlsAck(sub) => {
                let Some(b) = input.take(1) else {
                    return Ok(Wait);
                };
                if b[0] != 1 {
                    return Err(Error::ConnectionRefused(format!(
                        "the server could not start TLS for VeNCrypt {}",
                        sub.name()
                    )));
                }
                match self.built_in_tls(sub)? {
                    Some(tls) => self.begin_tls(tls, sub),
                    None => {
                        self.events.push_back(Event::TlsRequired {
                            config: self.config.tls.clone(),
                            anonymous: sub.anonymous(),
                        });
                        self.phase = Phase::AwaitTls(sub);
                    }
                }
                // Whatever follows is TLS (see receive).
                return Ok(Wait);
            }
            Phase::AwaitTls(_) | Phase::TlsHandshake(_) | Phase::AwaitTrust(_) | Phase::AwaitPlainCredentials => {
                return Ok(Wait);
            }
            Phase::PlainAuth => match &self.config.credentials {
                Some(c) if c.username.is_some() => {
                    self.out.extend_from_slice(&vencrypt::plain_message(c));
                    self.phase = Phase::SecurityResult { authenticated: true };
                }
                _ => {
                    self.events.push_back(Event::CredentialsRequired { username: true });
                    self.phase = Phase::AwaitPlainCredentials;
                }
            },
            Phase::TightTunnels => {
                let Some(b) = input.remaining().get(..4) else {
                    return Ok(Wait);
                };
                let n = tight::check_count(be32(b, 0), "Tight tunnel list")?;
                let Some(b) = input.take(4 + n * tight::CAPABILITY_LEN) else {
                    return Ok(Wait);
                };
                if n > 0 {
                    let tunnel = tight::choose_tunnel(&tight::parse(&b[4..]))?;
                    self.out.extend_from_slice(&tunnel.to_be_bytes());
                }
                self.phase = Phase::TightAuthTypes;
            }
            Phase::TightAuthTypes => {
                let Some(b) = input.remaining().get(..4) else {
                    return Ok(Wait);
                };
                let n = tight::check_count(be32(b, 0), "Tight authentication list")?;
                let Some(b) = input.take(4 + n * tight::CAPABILITY_LEN) else {
                    return Ok(Wait);
                };
                let code = if n == 0 {
                    tight::AUTH_NONE
                } else {
                    let code = tight::choose_auth(&tight::parse(&b[4..]))?;
                    self.out.extend_from_slice(&code.to_be_bytes());
                    code
                };
                self.phase = match (code, self.version) {
                    (tight::AUTH_VNC, _) => Phase::VncChallenge,
                    (_, Version::V3_8) => Phase::SecurityResult { authenticated: false },
                    _ => self.client_init(),
                };
            }
            Phase::TightInteraction => {
                let Some(b) = input.remaining().get(..8) else {
                    return Ok(Wait);
                };
                let n = be16(b, 0) as usize + be16(b, 2) as usize + be16(b, 4) as usize;
                if input.take(8 + n * tight::CAPABILITY_LEN).is_none() {
                    return Ok(Wait);
                }
                self.phase = Phase::Message;
            }
            Phase::SecurityResult { authenticated } => {
                let Some(b) = input.take(4) else {
                    return Ok(Wait);
                };
                match be32(b, 0) {
                    0 => self.phase = self.client_init(),
                    status => {
                        let too_many = status == 2;
                        if self.version == Version::V3_8 {
                            self.phase = Phase::FailureReason { authenticated, too_many };
                        } else {
                            return Err(security_failure(authenticated, too_many, None));
                        }
                    }
                }
            }
            Phase::FailureReason { authenticated, too_many } => {
                let Some(reason) = take_string(input, 0)? else {
                    return Ok(Wait);
                };
                return Err(security_failure(authenticated, too_many, Some(reason)));
            }
            Phase::ServerInit => {
                let Some(head) = input.remaining().get(..24) else {
                    return Ok(Wait);
                };
                let (w, h) = (be16(head, 0), be16(head, 2));
                let server_pf_bytes: [u8; 16] = head[4..20].try_into().expect("16 bytes");
                let Some(name) = take_string(input, 20)? else {
                    return Ok(Wait);
                };
                // Everything is checked before the framebuffer (up to 1 GiB) is allocated.
                let pf = match self.config.pixel_format {
                    PixelFormatChoice::ServerNative => PixelFormat::parse(&server_pf_bytes)?,
                    PixelFormatChoice::Rgbx32 => PixelFormat::RGBX32,
                    PixelFormatChoice::Custom(pf) => {
                        pf.validate()?;
                        pf
                    }
                };
                self.fb = Framebuffer::new(w, h)?;
                self.pixels = PixelTranslator::new(pf);
                self.name = name.clone();
                self.events.push_back(Event::Connected { width: w, height: h, name });
                self.phase = if self.tight { Phase::TightInteraction } else { Phase::Message };
                if self.config.pixel_format != PixelFormatChoice::ServerNative {
                    self.out.extend_from_slice(&[0, 0, 0, 0]);
                    self.out.extend_from_slice(&pf.to_bytes());
                }
                self.out.extend_from_slice(&[2, 0]);
                self.out.extend_from_slice(&(self.offered.len() as u16).to_be_bytes());
                for n in &self.offered {
                    self.out.extend_from_slice(&n.to_be_bytes());
                }
                self.request_update(false, None);
            }
            Phase::Message => {
                let Some(&t) = input.remaining().first() else {
                    return Ok(Wait);
                };
                match t {
                    0 => {
                        let Some(b) = input.take(4) else {
                            return Ok(Wait);
                        };
                        self.rects_left = be16(b, 2);
                        self.phase = Phase::RectHeader;
                    }
                    1 => self.phase = Phase::ColourMap,
                    2 => {
                        input.advance(1);
                        self.events.push_back(Event::Bell);
                    }
                    3 => {
                        let Some(b) = input.take(8) else {
                            return Ok(Wait);
                        };
                        let len = be32(b, 4);
                        if len > i32::MAX as u32 && self.offered(Encoding::ExtendedClipboard) {
                            self.start_extended_clipboard(len.wrapping_neg())?;
                            return Ok(Continue);
                        }
                        if len > i32::MAX as u32 {
                            return Err(Error::invalid(
                                "ServerCutText",
                                "negative length (extended clipboard was not negotiated)",
                            ));
                        }
                        self.clip.clear();
                        self.phase = Phase::CutText { left: len };
                    }
                    t => return self.extension_message(t, input),
                }
            }
            Phase::ColourMap => {
                let Some(b) = input.remaining().get(..6) else {
                    return Ok(Wait);
                };
                let (first, count) = (be16(b, 2), be16(b, 4) as usize);
                if first as usize + count > 65536 {
                    return Err(Error::invalid("SetColourMapEntries", "entries past index 65535"));
                }
                let Some(b) = input.take(6 + count * 6) else {
                    return Ok(Wait);
                };
                let entries: Vec<[u16; 3]> =
                    b[6..].chunks_exact(6).map(|e| [be16(e, 0), be16(e, 2), be16(e, 4)]).collect();
                self.pixels.set_colour_map(first, &entries);
                self.phase = Phase::Message;
            }
            Phase::CutText { left } => {
                if left > 0 {
                    let n = (left as usize).min(input.len());
                    if n == 0 {
                        return Ok(Wait);
                    }
                    let b = input.take(n).expect("length checked");
                    let keep = n.min(MAX_CLIPBOARD.saturating_sub(self.clip.len()));
                    self.clip.extend_from_slice(&b[..keep]);
                    self.phase = Phase::CutText { left: left - n as u32 };
                } else {
                    // ClientCutText/ServerCutText carry ISO 8859-1.
                    let text: String = self.clip.iter().map(|&b| b as char).collect();
                    self.clip = Vec::new();
                    self.events.push_back(Event::Clipboard(text));
                    self.phase = Phase::Message;
                }
            }
            Phase::RectHeader => {
                if self.rects_left == 0 {
                    self.end_update();
                    return Ok(Continue);
                }
                let Some(b) = input.take(12) else {
                    return Ok(Wait);
                };
                self.rects_left -= 1;
                let rect = Rect::new(be16(b, 0), be16(b, 2), be16(b, 4), be16(b, 6));
                let enc = be32(b, 8) as i32;
                self.start_rect(rect, enc)?;
            }
            Phase::Pixels(which) => {
                let mut target = Target { fb: &mut self.fb, pixels: &self.pixels };
                let progress = match which {
                    PixelDecoder::Raw => self.raw.decode(input, &mut target)?,
                    PixelDecoder::CopyRect => self.copyrect.decode(input, &mut target)?,
                    PixelDecoder::Rre => self.rre.decode(input, &mut target)?,
                    PixelDecoder::Hextile => self.hextile.decode(input, &mut target)?,
                    PixelDecoder::Zrle => self.zrle.decode(input, &mut target)?,
                    PixelDecoder::Zlib => self.zlib.decode(input, &mut target)?,
                    PixelDecoder::Trle => self.trle.decode(input, &mut target)?,
                    PixelDecoder::Tight | PixelDecoder::TightPng => self.tight_decoder.decode(input, &mut target)?,
                    PixelDecoder::Jpeg => self.jpeg.decode(input, &mut target)?,
                };
                match progress {
                    Progress::Done => self.phase = Phase::RectHeader,
                    Progress::NeedMore => return Ok(Wait),
                }
            }
            Phase::ExtendedDesktopSize(rect) => {
                let Some(b) = input.remaining().get(..4) else {
                    return Ok(Wait);
                };
                let screens = b[0] as usize;
                let Some(b) = input.take(4 + 16 * screens) else {
                    return Ok(Wait);
                };
                self.ext_desktop_size = true;
                self.phase = Phase::RectHeader;
                self.extended_desktop_size(rect, &b[4..])?;
            }
            Phase::Cursor(rect) => {
                let bpp = self.pixels.bpp();
                let (w, h) = (rect.w as usize, rect.h as usize);
                let mask_row = w.div_ceil(8);
                let Some(b) = input.take(w * h * bpp + mask_row * h) else {
                    return Ok(Wait);
                };
                let (pix, mask) = b.split_at(w * h * bpp);
                let mut rgba = vec![0u8; w * h * 4];
                self.pixels.convert_row(pix, &mut rgba);
                for y in 0..h {
                    for x in 0..w {
                        let visible = mask[y * mask_row + x / 8] & (0x80 >> (x % 8)) != 0;
                        rgba[(y * w + x) * 4 + 3] = if visible { 255 } else { 0 };
                    }
                }
                self.events.push_back(Event::Cursor(Cursor {
                    width: rect.w,
                    height: rect.h,
                    hotspot_x: rect.x.min(rect.w.saturating_sub(1)),
                    hotspot_y: rect.y.min(rect.h.saturating_sub(1)),
                    rgba,
                }));
                self.phase = Phase::RectHeader;
            }
            Phase::DesktopName => {
                let Some(name) = take_string(input, 0)? else {
                    return Ok(Wait);
                };
                self.name = name.clone();
                self.events.push_back(Event::DesktopName(name));
                self.phase = Phase::RectHeader;
            }
            Phase::LedState | Phase::VmwareCursor(_) | Phase::ExtClipboard => {
                return self.extension_phase(input);
            }
            Phase::Closed => return Err(Error::Closed),
        }
        Ok(Continue)
    }

    fn client_init(&mut self) -> Phase {
        self.out.push(self.config.shared as u8);
        Phase::ServerInit
    }

    fn resize(&mut self, w: u16, h: u16) -> Result<(), Error> {
        if (w, h) != (self.fb.width(), self.fb.height()) {
            self.fb.resize(w, h)?;
            self.resized_continuous_updates(w, h);
            self.events.push_back(Event::Resized { width: w, height: h });
        }
        Ok(())
    }

    fn start_rect(&mut self, rect: Rect, enc: i32) -> Result<(), Error> {
        let e = Encoding::from_number(enc);
        // Raw is always allowed; everything else only when offered.
        if e != Encoding::Raw && !self.offered(e) {
            return Err(Error::UnexpectedEncoding(enc));
        }
        let which = match e {
            Encoding::Raw => PixelDecoder::Raw,
            Encoding::CopyRect => PixelDecoder::CopyRect,
            Encoding::Rre => PixelDecoder::Rre,
            Encoding::Hextile => PixelDecoder::Hextile,
            Encoding::Zrle => PixelDecoder::Zrle,
            Encoding::Zlib => PixelDecoder::Zlib,
            Encoding::Trle => PixelDecoder::Trle,
            Encoding::Tight => PixelDecoder::Tight,
            Encoding::TightPng => PixelDecoder::TightPng,
            Encoding::Jpeg => PixelDecoder::Jpeg,
            Encoding::LastRect => {
                self.rects_left = 0;
                return Ok(());
            }
            Encoding::DesktopSize => {
                self.resize(rect.w, rect.h)?;
                return Ok(());
            }
            Encoding::ExtendedDesktopSize => {
                self.phase = Phase::ExtendedDesktopSize(rect);
                return Ok(());
            }
            Encoding::Cursor => {
                if rect.w > MAX_CURSOR || rect.h > MAX_CURSOR {
                    return Err(Error::TooLong {
                        what: "cursor",
                        len: rect.area() as u64,
                        limit: MAX_CURSOR as u64 * MAX_CURSOR as u64,
                    });
                }
                self.phase = Phase::Cursor(rect);
                return Ok(());
            }
            Encoding::DesktopName => {
                self.phase = Phase::DesktopName;
                return Ok(());
            }
            Encoding::QemuExtendedKey
            | Encoding::QemuLedState
            | Encoding::ExtendedMouseButtons
            | Encoding::VmwareCursor => return self.extension_rect(rect, e),
            _ => return Err(Error::UnexpectedEncoding(enc)),
        };
        self.fb.check(&rect)?;
        self.update_area += rect.area() as u64;
        match which {
            PixelDecoder::Raw => self.raw.start(rect),
            PixelDecoder::CopyRect => self.copyrect.start(rect),
            PixelDecoder::Rre => self.rre.start(rect),
            PixelDecoder::Hextile => self.hextile.start(rect),
            PixelDecoder::Zrle => self.zrle.start(rect),
            PixelDecoder::Zlib => self.zlib.start(rect),
            PixelDecoder::Trle => self.trle.start(rect),
            PixelDecoder::Tight | PixelDecoder::TightPng => {
                (self.tight_decoder).set_png(which == PixelDecoder::TightPng);
                self.tight_decoder.start(rect);
            }
            PixelDecoder::Jpeg => self.jpeg.start(rect),
        }
        self.phase = Phase::Pixels(which);
        Ok(())
    }

    fn end_update(&mut self) {
        self.phase = Phase::Message;
        self.last_update_area = std::mem::take(&mut self.update_area);
        self.events.push_back(Event::UpdateComplete);
        if !self.ext.continuous {
            self.request_update(true, None);
        }
    }
}

/// Parses "RFB xxx.yyy\n" and picks the version to speak.
fn parse_version(b: &[u8]) -> Result<Version, Error> {
    let digits = |s: &[u8]| -> Option<u32> {
        if s.iter().all(u8::is_ascii_digit) { std::str::from_utf8(s).ok()?.parse().ok() } else { None }
    };
    let parsed = (b.starts_with(b"RFB ") && b[7] == b'.' && b[11] == b'\n')
        .then(|| Some((digits(&b[4..7])?, digits(&b[8..11])?)))
        .flatten();
    let Some((major, minor)) = parsed else {
        return Err(Error::NotRfb(String::from_utf8_lossy(b).into_owned()));
    };
    Ok(match (major, minor) {
        // 3.4/3.6 (UltraVNC) and 3.5 speak 3.3; 3.889 (Apple), 4.x and 5.0 (RealVNC) take 3.8.
        (3, 0..=6) => Version::V3_3,
        (3, 7) => Version::V3_7,
        (3, _) | (4..=5, _) => Version::V3_8,
        _ => return Err(Error::UnsupportedVersion(major, minor)),
    })
}

/// The security type to use from the server's list: VeNCrypt first when TLS is wanted, else
/// None, Tight, VNC authentication, and VeNCrypt when nothing else is offered.
fn choose_security(types: &[u8], prefer_tls: bool) -> Option<u8> {
    let order: [u8; 4] = if prefer_tls {
        [vencrypt::SECURITY_TYPE, 1, tight::SECURITY_TYPE, 2]
    } else {
        [1, tight::SECURITY_TYPE, 2, vencrypt::SECURITY_TYPE]
    };
    order.into_iter().find(|t| types.contains(t))
}

/// Where the inner authentication of a VeNCrypt sub-type starts.
fn inner_auth(inner: Inner) -> Phase {
    match inner {
        Inner::None => Phase::SecurityResult { authenticated: false },
        Inner::Vnc => Phase::VncChallenge,
        Inner::Plain => Phase::PlainAuth,
    }
}

fn security_failure(authenticated: bool, too_many: bool, reason: Option<String>) -> Error {
    let too_many = too_many || reason.as_deref().is_some_and(|r| r.to_ascii_lowercase().contains("too many"));
    if too_many {
        Error::TooManyAttempts
    } else if authenticated {
        Error::AuthenticationFailed(reason.filter(|r| !r.is_empty()))
    } else {
        Error::ConnectionRefused(reason.unwrap_or_else(|| "security handshake failed".into()))
    }
}

/// Takes `skip` bytes, then a u32 length and that many bytes of text, once all have arrived.
fn take_string(input: &mut Input<'_>, skip: usize) -> Result<Option<String>, Error> {
    let Some(head) = input.remaining().get(..skip + 4) else {
        return Ok(None);
    };
    let len = be32(head, skip);
    if len > MAX_STRING {
        return Err(Error::TooLong { what: "string", len: len as u64, limit: MAX_STRING as u64 });
    }
    let Some(b) = input.take(skip + 4 + len as usize) else {
        return Ok(None);
    };
    Ok(Some(String::from_utf8_lossy(&b[skip + 4..]).into_owned()))
}

mod extensions;

#[cfg(test)]
mod tests;
