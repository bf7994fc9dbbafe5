//! The canvas: blitting damage straight from the framebuffer in wasm memory, fitting the canvas
//! to the page, and the remote cursor as a CSS cursor.
//!
//! The blit is one `putImageData` of the damaged bounding box per animation frame, or a few (at
//! most [`MAX_BLITS`]) when the damage is spread out so that the box would redraw far more than
//! changed ([`blit_regions`]). The `ImageData` covers the whole framebuffer and is a view of wasm
//! memory (no copy); it is made again only when the framebuffer moved (resize) or wasm memory grew
//! (which detaches every view of the old buffer).

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
    /// Pixels drawn so far (`putImageData` areas); for tests and the benchmark.
    pixels_drawn: u64,
}

impl Display {
    pub fn new(canvas: HtmlCanvasElement) -> Result<Display, String> {
        // The framebuffer is opaque (alpha always 255), and an opaque canvas is cheaper to draw
        // on and to composite: `putImageData` into one took about half the time in headless
        // Chromium (docs/benchmarks.md).
        let options = js_sys::Object::new();
        js_sys::Reflect::set(&options, &"alpha".into(), &JsValue::FALSE).map_err(js_error_text)?;
        let ctx = canvas
            .get_context_with_context_options("2d", &options)
            .map_err(js_error_text)?
            .ok_or("this browser gives no 2D canvas context")?
            .dyn_into::<CanvasRenderingContext2d>()
            .map_err(|_| "the canvas context is not a 2D context".to_string())?;
        Ok(Display {
            canvas,
            ctx,
            view: None,
            width: 0,
            height: 0,
            mode: ResizeMode::Off,
            views_made: 0,
            pixels_drawn: 0,
        })
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

    /// Draws `rect` of `fb` onto the canvas: `putImageData` from a view of wasm memory. When
    /// `rect` is `fb`'s damage bounds ([`Framebuffer::damage_bounds`]), only the damaged parts of
    /// it are drawn: one call for the box, or up to [`MAX_BLITS`] for clusters of damage far
    /// apart ([`blit_regions`]).
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
        let mut regions = [Rect::default(); MAX_BLITS];
        let n = if fb.damage_bounds() == Some(rect) { blit_regions(fb.damage(), &mut regions) } else { 0 };
        let regions = if n == 0 { std::slice::from_ref(&rect) } else { &regions[..n] };
        for r in regions {
            // Clip to the framebuffer: damage never lies outside it, but the blit must not trust
            // that.
            let x = r.x.min(w);
            let y = r.y.min(h);
            let rw = (r.right().min(u32::from(w)) - u32::from(x)) as f64;
            let rh = (r.bottom().min(u32::from(h)) - u32::from(y)) as f64;
            self.pixels_drawn += (rw * rh) as u64;
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
                .map_err(js_error_text)?;
        }
        Ok(())
    }

    /// How many `ImageData` views of wasm memory were made so far.
    pub fn views_made(&self) -> u32 {
        self.views_made
    }

    /// How many pixels blits have drawn so far.
    pub fn pixels_drawn(&self) -> u64 {
        self.pixels_drawn
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

/// The most `putImageData` calls one blit makes.
pub const MAX_BLITS: usize = 6;

/// Pixels a separate `putImageData` must save to be worth its own call (a call costs about as
/// much as converting this many pixels; measured in headless Chromium).
const CALL_PX: i64 = 16 * 1024;

/// Groups `damage` (rectangles that may overlap) into at most [`MAX_BLITS`] rectangles covering
/// all of it, in `out`; returns how many. Two groups are drawn apart only when that saves at least
/// [`CALL_PX`] pixels over drawing their bounding box, so damage that is close together (or
/// overlapping) is drawn as one box, and a typical update (one region) is one call.
pub fn blit_regions(damage: &[Rect], out: &mut [Rect; MAX_BLITS]) -> usize {
    // What drawing the union of `a` and `b` costs over drawing both (negative if they overlap).
    let growth = |a: &Rect, b: &Rect| a.union(b).area() as i64 - a.area() as i64 - b.area() as i64;
    let mut n = 0;
    for r in damage.iter().filter(|r| !r.is_empty()) {
        let best = (0..n).map(|i| (i, growth(&out[i], r))).min_by_key(|&(_, g)| g);
        match best {
            Some((i, g)) if g <= CALL_PX || n == MAX_BLITS => out[i] = out[i].union(r),
            _ => {
                out[n] = *r;
                n += 1;
            }
        }
    }
    // Groups that grew may now be worth merging (or overlap): merge the first such pair, and
    // look again.
    let pair_to_merge = |out: &[Rect; MAX_BLITS], n: usize| {
        (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).find(|&(i, j)| growth(&out[i], &out[j]) <= CALL_PX)
    };
    while let Some((i, j)) = pair_to_merge(out, n) {
        out[i] = out[i].union(&out[j]);
        out.copy_within(j + 1..n, j);
        n -= 1;
    }
    n
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

#[cfg(test)]
mod tests {
    use super::*;

    fn regions(damage: &[Rect]) -> Vec<Rect> {
        let mut out = [Rect::default(); MAX_BLITS];
        let n = blit_regions(damage, &mut out);
        out[..n].to_vec()
    }

    /// Every damaged pixel is inside some region.
    fn covers(damage: &[Rect], regions: &[Rect]) -> bool {
        damage.iter().all(|d| {
            (d.y..d.y + d.h).all(|y| {
                (d.x..d.x + d.w).all(|x| {
                    regions
                        .iter()
                        .any(|r| x >= r.x && u32::from(x) < r.right() && y >= r.y && u32::from(y) < r.bottom())
                })
            })
        })
    }

    #[test]
    fn nearby_or_overlapping_damage_is_one_box() {
        assert_eq!(regions(&[]), vec![]);
        assert_eq!(regions(&[Rect::new(0, 0, 0, 5)]), vec![]);
        let one = [Rect::new(10, 10, 64, 64)];
        assert_eq!(regions(&one), one.to_vec());
        // Tiles of one region, overlapping rectangles, small gaps: the bounding box.
        let tiles: Vec<Rect> = (0..4).flat_map(|y| (0..4).map(move |x| Rect::new(x * 64, y * 64, 64, 64))).collect();
        assert_eq!(regions(&tiles), vec![Rect::new(0, 0, 256, 256)]);
        let overlap = [Rect::new(0, 0, 100, 100), Rect::new(50, 50, 100, 100)];
        assert_eq!(regions(&overlap), vec![Rect::new(0, 0, 150, 150)]);
        let gap = [Rect::new(0, 0, 100, 20), Rect::new(0, 30, 100, 20)];
        assert_eq!(regions(&gap), vec![Rect::new(0, 0, 100, 50)]);
    }

    #[test]
    fn far_apart_damage_is_drawn_apart() {
        // A clock in one corner and a cursor in the other: two small boxes, not the screen.
        let d = [Rect::new(0, 0, 80, 20), Rect::new(1800, 1000, 16, 16), Rect::new(70, 5, 20, 10)];
        let r = regions(&d);
        assert_eq!(r, vec![Rect::new(0, 0, 90, 20), Rect::new(1800, 1000, 16, 16)]);
        assert!(covers(&d, &r));
    }

    #[test]
    fn never_more_than_max_blits_and_always_covering() {
        // A grid of small damage far apart: at most MAX_BLITS calls, every pixel still drawn.
        let d: Vec<Rect> =
            (0..10u16).flat_map(|y| (0..10u16).map(move |x| Rect::new(x * 150, y * 90, 3 + x, 2 + y))).collect();
        let r = regions(&d);
        assert!(!r.is_empty() && r.len() <= MAX_BLITS, "{} regions", r.len());
        assert!(covers(&d, &r));
        let total: usize = r.iter().map(Rect::area).sum();
        let bounds = d.iter().fold(Rect::default(), |b, r| b.union(r));
        assert!(total <= bounds.area() + MAX_BLITS * CALL_PX as usize);
    }
}
