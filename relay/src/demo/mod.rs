//! The built-in demo VNC server of `oxvnc serve --demo`: one live desktop shared by every
//! session, so a newcomer can see the console work — an animation and a clock, the keys typed in
//! any viewer, and everyone's pointer.
//!
//! Each session speaks RFB 3.8 (3.3 and 3.7 clients are accepted) with security None, honours
//! any true-colour 8/16/32 bpp pixel format, and encodes with ZRLE (one zlib stream per session)
//! when offered, CopyRect for scrolling text and the moving sprite, Raw otherwise. Updates are
//! sent only when requested (RFC 6143 §7.5.3); an incremental request is answered with what
//! changed since the last update to that session, tracked as dirty 16x16 tiles fed from the
//! desktop's change journal.

mod desktop;
mod encode;
mod font;
mod pixfmt;
#[cfg(test)]
mod tests;
mod tracker;

use anyhow::{Context, Result, bail};
use desktop::Desktop;
use encode::Zrle;
use pixfmt::{Converter, PixelFormat};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};
use tracker::{Rect, Tracker};

/// The desktop name sent in ServerInit.
pub const NAME: &str = "oxvnc demo";
/// Largest desktop side accepted by [`Demo::new`] (larger values are clamped).
pub const MAX_SIDE: u16 = 4096;
/// Bytes of a ClientCutText kept (the rest is read and dropped).
const CUT_TEXT_KEPT: usize = 4096;

/// One live demo desktop; every session served from it sees (and types into) the same screen.
pub struct Demo {
    desktop: Mutex<Desktop>,
    /// The desktop's change counter, for sessions waiting on an incremental request.
    changes: watch::Sender<u64>,
}

impl Demo {
    /// A desktop of `width` x `height` (each clamped to 1..=[`MAX_SIDE`]).
    pub fn new(width: u16, height: u16) -> Arc<Demo> {
        let desktop = Desktop::new(width.clamp(1, MAX_SIDE), height.clamp(1, MAX_SIDE));
        let (changes, _) = watch::channel(desktop.seq());
        Arc::new(Demo { desktop: Mutex::new(desktop), changes })
    }

    fn lock(&self) -> MutexGuard<'_, Desktop> {
        // Drawing never leaves the desktop half-updated in a way that matters; keep serving.
        self.desktop.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the desktop and wakes the sessions if it changed anything.
    fn with<R>(&self, f: impl FnOnce(&mut Desktop) -> R) -> R {
        let (r, seq) = {
            let mut d = self.lock();
            let r = f(&mut d);
            (r, d.seq())
        };
        self.changes.send_if_modified(|s| std::mem::replace(s, seq) != seq);
        r
    }

    /// The desktop as RGBA bytes (alpha 255), with its width and height.
    #[cfg(test)]
    pub fn snapshot_rgba(&self) -> (u16, u16, Vec<u8>) {
        let d = self.lock();
        let rgba = d.pixels().iter().flat_map(|p| [(p >> 16) as u8, (p >> 8) as u8, *p as u8, 255]).collect();
        (d.width(), d.height(), rgba)
    }

    /// The text typed so far (as shown in the text area).
    #[cfg(test)]
    pub fn typed_text(&self) -> String {
        self.lock().text()
    }

    /// Stops (or restarts) the animation, so tests can compare pixels.
    #[cfg(test)]
    pub fn set_paused(&self, paused: bool) {
        self.with(|d| d.set_paused(paused));
    }

    /// Shows the next animation frame now.
    #[cfg(test)]
    pub fn step(&self) {
        self.with(|d| d.step());
    }

    /// Serves one RFB client on `stream` until it disconnects or errors; never panics on
    /// hostile input (protocol errors end the session with an error).
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send>(self: Arc<Self>, stream: S) -> Result<()> {
        let mut stream = stream;
        let (width, height) = {
            let d = self.lock();
            (d.width(), d.height())
        };
        let minor = handshake(&mut stream, width, height).await?;
        tracing::debug!(version = %format!("3.{minor}"), "demo session started");
        let _viewer = Viewer::new(&self);
        let (rd, wr) = tokio::io::split(stream);
        let (tx, rx) = mpsc::channel(64);
        tokio::try_join!(read_messages(&self, BufReader::new(rd), tx), write_updates(&self, wr, rx))?;
        Ok(())
    }

    fn tick(&self) {
        let now = std::time::Instant::now();
        self.with(|d| d.tick(now));
    }
}

/// Counts a session on the desktop's "viewers" line while it lives.
struct Viewer<'a>(&'a Demo);

impl<'a> Viewer<'a> {
    fn new(demo: &'a Demo) -> Viewer<'a> {
        demo.with(|d| d.viewers_changed(1));
        Viewer(demo)
    }
}

impl Drop for Viewer<'_> {
    fn drop(&mut self) {
        self.0.with(|d| d.viewers_changed(-1));
    }
}

/// Version, security (None) and initialisation; returns the minor version agreed (3, 7 or 8).
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, width: u16, height: u16) -> Result<u8> {
    s.write_all(b"RFB 003.008\n").await?;
    s.flush().await?;
    let mut v = [0u8; 12];
    s.read_exact(&mut v).await.context("reading the client's ProtocolVersion")?;
    let minor = parse_version(&v)?;
    if minor == 3 {
        s.write_all(&1u32.to_be_bytes()).await?;
    } else {
        s.write_all(&[1, 1]).await?;
        s.flush().await?;
        let choice = s.read_u8().await.context("reading the client's security type")?;
        if choice != 1 {
            if minor == 8 {
                let reason = b"the oxvnc demo server only offers security type None (1)";
                let mut msg = 1u32.to_be_bytes().to_vec();
                msg.extend_from_slice(&(reason.len() as u32).to_be_bytes());
                msg.extend_from_slice(reason);
                s.write_all(&msg).await?;
                s.flush().await?;
            }
            bail!("client chose security type {choice}; only None (1) is offered");
        }
        if minor == 8 {
            s.write_all(&0u32.to_be_bytes()).await?;
        }
    }
    s.flush().await?;
    let _shared = s.read_u8().await.context("reading ClientInit")?;
    let mut init = Vec::with_capacity(24 + NAME.len());
    init.extend_from_slice(&width.to_be_bytes());
    init.extend_from_slice(&height.to_be_bytes());
    init.extend_from_slice(&PixelFormat::NATIVE.to_bytes());
    init.extend_from_slice(&(NAME.len() as u32).to_be_bytes());
    init.extend_from_slice(NAME.as_bytes());
    s.write_all(&init).await?;
    s.flush().await?;
    Ok(minor)
}

/// "RFB 003.00x\n" → the minor version to speak: 8 for 3.8 and later, 7, or 3 for the rest.
fn parse_version(v: &[u8; 12]) -> Result<u8> {
    let digits = |b: &[u8]| -> Option<u32> {
        b.iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let (Some(major), Some(minor)) = (digits(&v[4..7]), digits(&v[8..11])) else {
        bail!("not an RFB client (ProtocolVersion {:?})", String::from_utf8_lossy(v));
    };
    if &v[..4] != b"RFB " || v[7] != b'.' || v[11] != b'\n' {
        bail!("not an RFB client (ProtocolVersion {:?})", String::from_utf8_lossy(v));
    }
    if major != 3 {
        bail!("unsupported RFB version {major}.{minor}; this server speaks 3.3, 3.7 and 3.8");
    }
    Ok(match minor {
        8.. => 8,
        7 => 7,
        _ => 3,
    })
}

/// What the reading half tells the writing half.
enum Ctl {
    PixelFormat(PixelFormat),
    Encodings { zrle: bool, copyrect: bool },
    Request { incremental: bool, area: Rect },
}

/// Reads client messages; input goes straight to the desktop, the rest to the writer.
async fn read_messages<R: AsyncRead + Unpin>(demo: &Demo, mut r: R, tx: mpsc::Sender<Ctl>) -> Result<()> {
    loop {
        let kind = match r.read_u8().await {
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let ctl = match kind {
            0 => {
                let mut b = [0u8; 19];
                r.read_exact(&mut b).await.context("reading SetPixelFormat")?;
                let mut pf = [0u8; 16];
                pf.copy_from_slice(&b[3..]);
                Ctl::PixelFormat(PixelFormat::from_bytes(&pf)?)
            }
            2 => {
                let mut b = [0u8; 3];
                r.read_exact(&mut b).await.context("reading SetEncodings")?;
                let (mut zrle, mut copyrect) = (false, false);
                for _ in 0..u16::from_be_bytes([b[1], b[2]]) {
                    match r.read_i32().await.context("reading SetEncodings")? {
                        1 => copyrect = true,
                        16 => zrle = true,
                        _ => {}
                    }
                }
                Ctl::Encodings { zrle, copyrect }
            }
            3 => {
                let mut b = [0u8; 9];
                r.read_exact(&mut b).await.context("reading FramebufferUpdateRequest")?;
                let n = |i: usize| i32::from(u16::from_be_bytes([b[i], b[i + 1]]));
                Ctl::Request { incremental: b[0] != 0, area: Rect::new(n(1), n(3), n(5), n(7)) }
            }
            4 => {
                let mut b = [0u8; 7];
                r.read_exact(&mut b).await.context("reading KeyEvent")?;
                let keysym = u32::from_be_bytes([b[3], b[4], b[5], b[6]]);
                demo.with(|d| d.key(b[0] != 0, keysym));
                continue;
            }
            5 => {
                let mut b = [0u8; 5];
                r.read_exact(&mut b).await.context("reading PointerEvent")?;
                let (x, y) = (u16::from_be_bytes([b[1], b[2]]), u16::from_be_bytes([b[3], b[4]]));
                demo.with(|d| d.pointer(x, y, b[0]));
                continue;
            }
            6 => {
                let mut b = [0u8; 7];
                r.read_exact(&mut b).await.context("reading ClientCutText")?;
                let len = u64::from(u32::from_be_bytes([b[3], b[4], b[5], b[6]]));
                let kept = len.min(CUT_TEXT_KEPT as u64);
                let mut text = vec![0u8; kept as usize];
                r.read_exact(&mut text).await.context("reading ClientCutText")?;
                let dropped = tokio::io::copy(&mut (&mut r).take(len - kept), &mut tokio::io::sink()).await?;
                if dropped != len - kept {
                    bail!("client closed the connection in the middle of ClientCutText");
                }
                demo.with(|d| d.paste(&text));
                continue;
            }
            k => bail!("unknown client message type {k}; closing the session"),
        };
        if tx.send(ctl).await.is_err() {
            return Ok(()); // the writer has stopped; its error is reported by it
        }
    }
}

/// Update requests waiting for an answer, merged.
#[derive(Default)]
struct Pending {
    /// Everything asked for.
    area: Rect,
    /// What was asked for non-incrementally (sent whole).
    full: Rect,
    non_incremental: bool,
}

/// A FramebufferUpdate worth of material, taken from the desktop under its lock.
struct Update {
    copy: Option<(Rect, i32, i32)>,
    rects: Vec<Rect>,
    /// The desktop pixels of `rects`, one after another.
    px: Vec<u32>,
}

/// One session's view of the protocol: format, encodings, what it has not been sent yet.
struct Session {
    conv: Converter,
    use_zrle: bool,
    zrle: Option<Zrle>,
    tracker: Tracker,
    seen: u64,
    pending: Option<Pending>,
}

impl Session {
    fn new(demo: &Demo) -> Session {
        let d = demo.lock();
        let mut tracker = Tracker::new(d.width(), d.height());
        // The client starts with no picture: an incremental first request gets everything.
        tracker.mark_all();
        Session {
            conv: Converter::new(&PixelFormat::NATIVE),
            use_zrle: false,
            zrle: None,
            tracker,
            seen: d.seq(),
            pending: None,
        }
    }

    fn handle(&mut self, ctl: Ctl) {
        match ctl {
            Ctl::PixelFormat(pf) => self.conv = Converter::new(&pf),
            Ctl::Encodings { zrle, copyrect } => {
                self.use_zrle = zrle;
                self.tracker.set_copy_enabled(copyrect);
            }
            Ctl::Request { incremental, area } => {
                let p = self.pending.get_or_insert_with(Pending::default);
                p.area = p.area.union(&area);
                if !incremental {
                    p.full = p.full.union(&area);
                    p.non_incremental = true;
                }
            }
        }
    }

    /// What to send for the pending request, if anything is due. It replays the journal even
    /// when no request is pending, so a quiet client does not fall so far behind that it needs
    /// a full repaint.
    fn prepare(&mut self, demo: &Demo) -> Option<Update> {
        let d = demo.lock();
        self.seen = d.replay(self.seen, &mut self.tracker);
        let pending = self.pending.as_ref()?;
        let bounds = Rect::new(0, 0, i32::from(d.width()), i32::from(d.height()));
        let area = pending.area.intersect(&bounds);
        self.tracker.mark(&pending.full.intersect(&bounds));
        let copy = self.tracker.take_copy(&area);
        let mut rects = self.tracker.take_dirty(&area);
        if copy.is_none() && rects.is_empty() && !pending.non_incremental {
            return None;
        }
        if rects.len() + usize::from(copy.is_some()) > usize::from(u16::MAX) {
            rects = vec![rects.iter().fold(Rect::default(), |a, r| a.union(r))];
        }
        let mut px = Vec::with_capacity(rects.iter().map(|r| (r.w * r.h) as usize).sum());
        for r in &rects {
            d.read(*r, &mut px);
        }
        drop(d);
        self.pending = None;
        Some(Update { copy, rects, px })
    }

    /// Writes the FramebufferUpdate message for `u` into `out`.
    fn encode(&mut self, u: &Update, out: &mut Vec<u8>) -> Result<()> {
        let header = |out: &mut Vec<u8>, r: &Rect, encoding: i32| {
            for v in [r.x, r.y, r.w, r.h] {
                out.extend_from_slice(&(v as u16).to_be_bytes());
            }
            out.extend_from_slice(&encoding.to_be_bytes());
        };
        out.clear();
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&((u.rects.len() + usize::from(u.copy.is_some())) as u16).to_be_bytes());
        if let Some((dest, sx, sy)) = &u.copy {
            header(out, dest, 1);
            out.extend_from_slice(&(*sx as u16).to_be_bytes());
            out.extend_from_slice(&(*sy as u16).to_be_bytes());
        }
        let mut at = 0;
        for r in &u.rects {
            let n = (r.w * r.h) as usize;
            let px = &u.px[at..at + n];
            at += n;
            if self.use_zrle {
                header(out, r, 16);
                self.zrle.get_or_insert_with(Zrle::new).encode(&self.conv, px, r.w as usize, r.h as usize, out)?;
            } else {
                header(out, r, 0);
                encode::raw(&self.conv, px, out);
            }
        }
        Ok(())
    }
}

/// Answers update requests, runs the animation clock and writes the updates.
async fn write_updates<W: AsyncWrite + Unpin>(demo: &Demo, mut w: W, mut rx: mpsc::Receiver<Ctl>) -> Result<()> {
    let mut changes = demo.changes.subscribe();
    let mut ticker = tokio::time::interval(desktop::FRAME);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut session = Session::new(demo);
    let mut out = Vec::new();
    loop {
        tokio::select! {
            ctl = rx.recv() => match ctl {
                Some(ctl) => session.handle(ctl),
                None => return Ok(()),
            },
            // The sender lives in `demo`, so this never fails while we run.
            _ = changes.changed() => {}
            _ = ticker.tick() => demo.tick(),
        }
        if let Some(update) = session.prepare(demo) {
            session.encode(&update, &mut out)?;
            w.write_all(&out).await?;
            w.flush().await?;
        }
    }
}
