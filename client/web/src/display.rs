//! The canvas: blitting damage straight from the framebuffer in wasm memory, fitting the canvas
//! to the page, and the remote cursor as a CSS cursor.
//!
//! The blit is one `putImageData` of the damaged bounding box per animation frame. The
//! `ImageData` covers the whole framebuffer and is a view of wasm memory (no copy); it is made
//! again only when the framebuffer moved (resize) or wasm memory grew (which detaches every view
//! of the old buffer).

use oxvnc_rfb::connection::Cursor;
use oxvnc_rfb::{Framebuffer, Rect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlElement, ImageData};

use crate::pointer;
use crate::settings::ResizeMode;
use crate::transport::js_error_text;

/// `ImageData` over the framebuffer's bytes in wasm memory, and what it was made for.
struct View {
    image: ImageData,
    /// The wasm memory `ArrayBuffer` the view was made on.
    buffer: JsValue,
    ptr: usize,
    len: usize,
    width: u16,
    height: u16,
}

pub struct Display {
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    view: Option<View>,
    width: u16,
    height: u16,
    mode: ResizeMode,
    /// How many times an `ImageData` view was (re)made; for tests.
    views_made: u32,
}

impl Display {
    pub fn new(canvas: HtmlCanvasElement) -> Result<Display, String> {
        let ctx = canvas
            .get_context("2d")
            .map_err(js_error_text)?
            .ok_or("this browser gives no 2D canvas context")?
            .dyn_into::<CanvasRenderingContext2d>()
            .map_err(|_| "the canvas context is not a 2D context".to_string())?;
        Ok(Display { canvas, ctx, view: None, width: 0, height: 0, mode: ResizeMode::Off, views_made: 0 })
    }

    pub fn canvas(&self) -> &HtmlCanvasElement {
        &self.canvas
    }

    pub fn size(&self) -> (u16, u16) {
        (self.width, self.height)
    }

    /// Sizes the canvas to the framebuffer (which clears it; the framebuffer is all damage then).
    pub fn resize(&mut self, width: u16, height: u16) {
        if (width, height) != (self.width, self.height) {
            self.width = width;
            self.height = height;
            self.canvas.set_width(width.into());
            self.canvas.set_height(height.into());
            self.view = None;
        }
        self.fit();
    }

    pub fn set_mode(&mut self, mode: ResizeMode) {
        self.mode = mode;
        self.fit();
    }

    /// Sets the canvas's CSS size: the framebuffer size, or fitted into its parent element.
    pub fn fit(&self) {
        let (w, h) = match self.mode {
            ResizeMode::Off => (f64::from(self.width), f64::from(self.height)),
            // Remote: the server was asked for the area's size in device pixels, which this fits
            // to exactly the area; a server that did not resize is scaled like Scale.
            ResizeMode::Scale | ResizeMode::Remote => {
                let parent = self.canvas.parent_element().and_then(|p| p.dyn_into::<HtmlElement>().ok());
                let (bw, bh) =
                    parent.map_or((0.0, 0.0), |p| (f64::from(p.client_width()), f64::from(p.client_height())));
                pointer::fit(self.width, self.height, bw, bh)
            }
        };
        let style = self.canvas.style();
        let _ = style.set_property("width", &format!("{}px", w.floor() as i64));
        let _ = style.set_property("height", &format!("{}px", h.floor() as i64));
    }

    /// Draws `rect` of `fb` onto the canvas: one `putImageData` from a view of wasm memory.
    pub fn blit(&mut self, fb: &Framebuffer, rect: Rect) -> Result<(), String> {
        let (w, h) = (fb.width(), fb.height());
        if w == 0 || h == 0 || rect.is_empty() {
            return Ok(());
        }
        if (w, h) != (self.width, self.height) {
            self.resize(w, h);
        }
        let data = fb.data();
        let (ptr, len) = (data.as_ptr() as usize, data.len());
        let buffer = wasm_memory_buffer();
        let stale = match &self.view {
            Some(v) => {
                v.ptr != ptr || v.len != len || v.width != w || v.height != h || !js_sys::Object::is(&v.buffer, &buffer)
            }
            None => true,
        };
        if stale {
            // wasm-bindgen hands a borrowed slice to JS as a view of wasm memory (no copy); the
            // ImageData keeps that view, and stays valid until the checks above say otherwise.
            let image = ImageData::new_with_u8_clamped_array_and_sh(Clamped(data), w.into(), h.into())
                .map_err(js_error_text)?;
            self.view = Some(View { image, buffer, ptr, len, width: w, height: h });
            self.views_made += 1;
        }
        let view = self.view.as_ref().expect("made above");
        // Clip to the framebuffer: damage never lies outside it, but the blit must not trust that.
        let x = rect.x.min(w);
        let y = rect.y.min(h);
        let rw = (rect.right().min(u32::from(w)) - u32::from(x)) as f64;
        let rh = (rect.bottom().min(u32::from(h)) - u32::from(y)) as f64;
        self.ctx
            .put_image_data_with_dirty_x_and_dirty_y_and_dirty_width_and_dirty_height(
                &view.image,
                0.0,
                0.0,
                x.into(),
                y.into(),
                rw,
                rh,
            )
            .map_err(js_error_text)
    }

    /// How many `ImageData` views of wasm memory were made so far.
    pub fn views_made(&self) -> u32 {
        self.views_made
    }

    /// Shows the server's cursor shape as the canvas's CSS cursor; a hidden cursor becomes a
    /// small dot when `show_dot` is set, else no cursor at all.
    pub fn set_cursor(&self, cursor: &Cursor, show_dot: bool) {
        let css = if cursor_visible(cursor) {
            match cursor_url(cursor) {
                Ok(url) => format!("url(\"{url}\") {} {}, auto", cursor.hotspot_x, cursor.hotspot_y),
                Err(_) => "auto".into(),
            }
        } else if show_dot {
            dot_cursor().unwrap_or_else(|_| "auto".into())
        } else {
            "none".into()
        };
        let _ = self.canvas.style().set_property("cursor", &css);
    }

    /// Back to the browser's own cursor (no server cursor yet).
    pub fn reset_cursor(&self) {
        let _ = self.canvas.style().remove_property("cursor");
    }
}

/// The `ArrayBuffer` behind wasm memory right now (a new one after every growth).
fn wasm_memory_buffer() -> JsValue {
    wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>().buffer()
}

/// Whether any pixel of the cursor shows.
pub fn cursor_visible(c: &Cursor) -> bool {
    c.width > 0 && c.height > 0 && c.rgba.chunks_exact(4).any(|p| p[3] != 0)
}

/// A PNG `data:` URL of RGBA pixels, drawn with a scratch canvas.
fn rgba_data_url(width: u16, height: u16, rgba: &[u8]) -> Result<String, String> {
    let doc = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let canvas = doc
        .create_element("canvas")
        .map_err(js_error_text)?
        .dyn_into::<HtmlCanvasElement>()
        .map_err(|_| "not a canvas".to_string())?;
    canvas.set_width(width.into());
    canvas.set_height(height.into());
    let ctx = canvas
        .get_context("2d")
        .map_err(js_error_text)?
        .ok_or("no 2D context")?
        .dyn_into::<CanvasRenderingContext2d>()
        .map_err(|_| "not a 2D context".to_string())?;
    let image = ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), width.into(), height.into())
        .map_err(js_error_text)?;
    ctx.put_image_data(&image, 0.0, 0.0).map_err(js_error_text)?;
    canvas.to_data_url().map_err(js_error_text)
}

pub fn cursor_url(c: &Cursor) -> Result<String, String> {
    if c.rgba.len() != usize::from(c.width) * usize::from(c.height) * 4 {
        return Err("cursor size and pixels disagree".into());
    }
    rgba_data_url(c.width, c.height, &c.rgba)
}

/// A 5×5 black dot with a white ring, hotspot in the middle.
fn dot_cursor() -> Result<String, String> {
    const N: usize = 5;
    let mut rgba = vec![0u8; N * N * 4];
    for y in 0..N {
        for x in 0..N {
            let (dx, dy) = (x as i32 - 2, y as i32 - 2);
            let d = dx * dx + dy * dy;
            let px = &mut rgba[(y * N + x) * 4..][..4];
            if d <= 1 {
                px.copy_from_slice(&[0, 0, 0, 255]);
            } else if d <= 5 {
                px.copy_from_slice(&[255, 255, 255, 255]);
            }
        }
    }
    Ok(format!("url(\"{}\") 2 2, auto", rgba_data_url(N as u16, N as u16, &rgba)?))
}
