//! `oxvnc-bench`: the oxvnc side of `cargo xtask bench client`, built for wasm32 and loaded by
//! `www/bench/index.html` next to noVNC.
//!
//! A [`Replayer`] is the console's receive path without the network: each recorded server →
//! client chunk arrives as the `ArrayBuffer` a WebSocket `message` event would carry, is copied
//! once into a reused buffer in wasm memory and handed to the `oxvnc-rfb` engine, exactly as
//! `oxvnc_client::session` does; the pixels go to the canvas through the console's own
//! [`Display`] (one `putImageData` of the damage bounds from a view of wasm memory).
//!
//! When to blit: the console blits once per animation frame (everything damaged since the last
//! one, complete updates or not), and so does the replayer by default: the page calls
//! [`Replayer::frame`] from `requestAnimationFrame` whenever [`Replayer::feed`] says something is
//! left to draw, as the console's session does. With [`Replayer::set_blit_per_update`] it blits at
//! the end of every complete FramebufferUpdate instead, as noVNC flips its canvas: never fewer
//! blits than the console would make (the benchmark's `--blits update`).

use std::ops::ControlFlow;

use js_sys::{ArrayBuffer, Uint8Array};
use oxvnc_client::display::Display;
use oxvnc_rfb::{Connection, Event, replay};
use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

/// One recorded session being replayed onto one canvas.
#[wasm_bindgen]
pub struct Replayer {
    conn: Connection,
    display: Display,
    /// The receive buffer in wasm memory, reused across messages (as the console's).
    rx: Vec<u8>,
    updates: u32,
    blits: u32,
    /// Milliseconds spent in the engine (`receive`, events) and in blits, for the report's
    /// breakdown of where oxvnc's time goes (`performance.now()`, a few calls per chunk).
    decode_ms: f64,
    blit_ms: f64,
    damage_px: f64,
    /// Blit at the end of every complete update instead of when the page calls `frame`.
    per_update: bool,
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance)]
    fn now() -> f64;
}

#[wasm_bindgen]
impl Replayer {
    /// A replayer for `recording` (a whole `.rfbrec` file) drawing on `canvas`. Only the
    /// recording's client → server records are read here: the engine offers the pixel format and
    /// encodings the recording client asked for, so it decodes the server's bytes as they were
    /// meant. The server → client chunks are then given to [`Replayer::feed`] one by one.
    #[wasm_bindgen(constructor)]
    pub fn new(recording: &[u8], canvas: HtmlCanvasElement) -> Result<Replayer, JsError> {
        let records = replay::parse(recording)?;
        let config = replay::client_config(&records)?;
        let display = Display::new(canvas).map_err(|e| JsError::new(&e))?;
        Ok(Replayer {
            conn: Connection::new(config),
            display,
            rx: Vec::new(),
            updates: 0,
            blits: 0,
            decode_ms: 0.0,
            blit_ms: 0.0,
            damage_px: 0.0,
            per_update: false,
        })
    }

    /// Blit at the end of every complete FramebufferUpdate (`true`) or only when the page calls
    /// [`Replayer::frame`] (`false`, the default: the console's way).
    pub fn set_blit_per_update(&mut self, per_update: bool) {
        self.per_update = per_update;
    }

    /// One WebSocket message's data: copied once into wasm memory and decoded (and, blitting per
    /// update, every FramebufferUpdate it completes drawn). Returns whether anything decoded is
    /// not drawn yet: the console then asks for an animation frame. An engine error (a recording
    /// this engine cannot decode) is thrown.
    pub fn feed(&mut self, buf: &ArrayBuffer) -> Result<bool, JsError> {
        let t0 = now();
        let src = Uint8Array::new(buf);
        let n = src.length() as usize;
        if self.rx.len() < n {
            self.rx.resize(n, 0);
        }
        src.copy_to(&mut self.rx[..n]);
        self.conn.receive(&self.rx[..n]).map_err(|e| JsError::new(&e.to_string()))?;
        // What the client would send (handshake answers, update requests) goes nowhere.
        if self.conn.has_output() {
            drop(self.conn.take_output());
        }
        let mut blit_ms = 0.0;
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::Connected { width, height, .. } | Event::Resized { width, height } => {
                    self.display.resize(width, height)
                }
                Event::UpdateComplete => {
                    self.updates += 1;
                    if self.per_update {
                        blit_ms += self.timed_blit()?;
                    }
                }
                Event::Disconnected(e) => return Err(JsError::new(&e.to_string())),
                _ => {}
            }
        }
        self.decode_ms += now() - t0 - blit_ms;
        Ok(self.conn.framebuffer().damage_bounds().is_some())
    }

    /// The animation frame: one blit of everything damaged since the last one, as the console's
    /// `frame` does.
    pub fn frame(&mut self) -> Result<(), JsError> {
        self.timed_blit().map(drop)
    }

    /// Draws whatever is damaged and not drawn yet, after the last chunk (blitting per update:
    /// nothing, when the recording ends on a complete update).
    pub fn finish(&mut self) -> Result<(), JsError> {
        self.frame()
    }

    /// Complete FramebufferUpdates decoded so far.
    #[wasm_bindgen(getter)]
    pub fn updates(&self) -> u32 {
        self.updates
    }

    /// `putImageData` calls made so far.
    #[wasm_bindgen(getter)]
    pub fn blits(&self) -> u32 {
        self.blits
    }

    /// Milliseconds in `feed` spent copying into wasm memory and decoding.
    #[wasm_bindgen(getter)]
    pub fn decode_ms(&self) -> f64 {
        self.decode_ms
    }

    /// Milliseconds in `feed` spent issuing blits (`putImageData`; Chromium may rasterise later).
    #[wasm_bindgen(getter)]
    pub fn blit_ms(&self) -> f64 {
        self.blit_ms
    }

    /// Pixels drawn by all blits together.
    #[wasm_bindgen(getter)]
    pub fn blit_px(&self) -> f64 {
        self.display.pixels_drawn() as f64
    }

    #[wasm_bindgen(getter)]
    pub fn damage_px(&self) -> f64 {
        self.damage_px
    }

    /// The framebuffer size, `[width, height]`.
    pub fn size(&self) -> Vec<u16> {
        let fb = self.conn.framebuffer();
        vec![fb.width(), fb.height()]
    }
}

impl Replayer {
    /// [`Replayer::blit`], its time added to `blit_ms` and returned (ms).
    fn timed_blit(&mut self) -> Result<f64, JsError> {
        let t = now();
        self.blit()?;
        let ms = now() - t;
        self.blit_ms += ms;
        Ok(ms)
    }

    fn blit(&mut self) -> Result<(), JsError> {
        if let Some(r) = self.conn.framebuffer().damage_bounds() {
            self.display.blit(self.conn.framebuffer(), r).map_err(|e| JsError::new(&e))?;
            self.damage_px += self.conn.framebuffer().damage().iter().map(|d| d.area() as f64).sum::<f64>();
            self.conn.framebuffer_mut().clear_damage();
            self.blits += 1;
        }
        Ok(())
    }
}

/// Replays the recording's server → client chunks through a fresh engine configured from its
/// client → server records (what the client would send goes nowhere), handing every event but a
/// disconnection (an error) to `each` with the index of the chunk that raised it, until `each`
/// breaks with a value or the chunks run out.
fn replay_events<B>(
    recording: &[u8],
    mut each: impl FnMut(usize, Event, &mut Connection) -> ControlFlow<B>,
) -> Result<Option<B>, JsError> {
    let records = replay::parse(recording)?;
    let mut conn = Connection::new(replay::client_config(&records)?);
    for (i, chunk) in replay::server_records(&records).enumerate() {
        conn.receive(chunk).map_err(|e| JsError::new(&e.to_string()))?;
        if conn.has_output() {
            drop(conn.take_output());
        }
        while let Some(event) = conn.poll_event() {
            if let Event::Disconnected(e) = event {
                return Err(JsError::new(&e.to_string()));
            }
            if let ControlFlow::Break(b) = each(i, event, &mut conn) {
                return Ok(Some(b));
            }
        }
    }
    Ok(None)
}

/// How many of the recording's server → client chunks make up the handshake: up to and including
/// the one that completes ServerInit, which gives the desktop's size (the canvas is sized then).
/// The page gives these to each client before its clock starts.
#[wasm_bindgen]
pub fn handshake_chunks(recording: &[u8]) -> Result<u32, JsError> {
    let connected = replay_events(recording, |i, event, _| match event {
        Event::Connected { .. } => ControlFlow::Break(i as u32 + 1),
        _ => ControlFlow::Continue(()),
    })?;
    connected.ok_or_else(|| JsError::new("the recording never completes the handshake"))
}

/// The engine alone on a whole recording (no canvas, no events beyond counting updates): every
/// server → client record decoded in its recorded chunks. For comparing builds of the decoders
/// (e.g. in Node, which runs the same wasm as the page); returns the complete updates.
#[wasm_bindgen]
pub fn decode_only(recording: &[u8]) -> Result<u32, JsError> {
    let mut updates = 0;
    replay_events::<()>(recording, |_, event, conn| {
        if let Event::UpdateComplete = event {
            updates += 1;
            conn.framebuffer_mut().clear_damage();
        }
        ControlFlow::Continue(())
    })?;
    Ok(updates)
}
