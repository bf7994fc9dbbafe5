//! In-browser tests: `wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver client/web`
//! (or `cargo test -p oxvnc-client --target wasm32-unknown-unknown` with wasm-bindgen-test-runner
//! as the runner); `cargo xtask test` runs them with `oxvnc serve --demo` for tests/transport.rs.
//! Real DOM events, a real canvas, pixels read back with getImageData.
#![cfg(target_arch = "wasm32")]

use oxvnc_client::display::Display;
use oxvnc_client::keys::{keysym_for_event, sym};
use oxvnc_client::text_input::{TextInput, text_keysyms};
use oxvnc_rfb::connection::Cursor;
use oxvnc_rfb::keysym;
use oxvnc_rfb::{Framebuffer, Rect};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{
    CanvasRenderingContext2d, CompositionEvent, CompositionEventInit, HtmlCanvasElement, HtmlElement, InputEvent,
    InputEventInit, KeyboardEvent, KeyboardEventInit,
};

wasm_bindgen_test_configure!(run_in_browser);

fn key_event(kind: &str, key: &str, code: &str) -> KeyboardEvent {
    let init = KeyboardEventInit::new();
    init.set_key(key);
    init.set_code(code);
    KeyboardEvent::new_with_keyboard_event_init_dict(kind, &init).unwrap()
}

#[wasm_bindgen_test]
fn keysyms_from_dom_keyboard_events() {
    let cases: &[(&str, &str, u32)] = &[
        ("a", "KeyA", 0x61),
        ("A", "KeyA", 0x41),
        ("!", "Digit1", 0x21),
        ("€", "KeyE", 0x0100_20ac),
        ("ß", "Minus", 0xdf),
        ("Enter", "Enter", keysym::RETURN),
        ("Backspace", "Backspace", keysym::BACKSPACE),
        ("Tab", "Tab", keysym::TAB),
        ("Escape", "Escape", keysym::ESCAPE),
        ("ArrowUp", "ArrowUp", keysym::UP),
        ("PageDown", "PageDown", keysym::PAGE_DOWN),
        ("Delete", "Delete", keysym::DELETE),
        ("F5", "F5", 0xffc2),
        ("Shift", "ShiftRight", keysym::SHIFT_R),
        ("Control", "ControlLeft", keysym::CONTROL_L),
        ("AltGraph", "AltRight", keysym::ISO_LEVEL3_SHIFT),
        ("Meta", "MetaLeft", keysym::SUPER_L),
        ("3", "Numpad3", sym::KP_0 + 3),
        ("PageDown", "Numpad3", sym::KP_NEXT),
        ("Enter", "NumpadEnter", sym::KP_ENTER),
        ("*", "NumpadMultiply", sym::KP_MULTIPLY),
    ];
    for &(key, code, want) in cases {
        for kind in ["keydown", "keyup"] {
            let e = key_event(kind, key, code);
            assert_eq!(keysym_for_event(&e), Some(want), "{kind} key={key:?} code={code:?}");
        }
    }
    assert_eq!(keysym_for_event(&key_event("keydown", "Dead", "BracketLeft")), None);
    assert_eq!(keysym_for_event(&key_event("keydown", "AudioVolumeUp", "AudioVolumeUp")), None);
}

#[wasm_bindgen_test]
fn keys_of_a_composition_are_left_to_the_ime() {
    let init = KeyboardEventInit::new();
    init.set_key("n");
    init.set_code("KeyN");
    init.set_is_composing(true);
    let e = KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    assert_eq!(keysym_for_event(&e), None);
}

fn composition(kind: &str, data: &str) -> CompositionEvent {
    let init = CompositionEventInit::new();
    init.set_data(data);
    CompositionEvent::new_with_event_init_dict(kind, &init).unwrap()
}

fn input(input_type: &str, data: Option<&str>, composing: bool) -> InputEvent {
    let init = InputEventInit::new();
    init.set_input_type(input_type);
    init.set_data(data);
    init.set_is_composing(composing);
    InputEvent::new_with_event_init_dict("input", &init).unwrap()
}

#[wasm_bindgen_test]
fn composed_text_from_dom_events_becomes_keysyms() {
    let mut t = TextInput::default();
    t.composition_start();
    assert!(t.input_event(&input("insertCompositionText", Some("日本"), true)).is_empty());
    let keys = t.composition_end_event(&composition("compositionend", "日本語"));
    assert_eq!(keys, text_keysyms("日本語"));
    let down: Vec<u32> = keys.iter().filter(|k| k.1).map(|k| k.0).collect();
    assert_eq!(down, vec![0x0100_65e5, 0x0100_672c, 0x0100_8a9e]);
    // Firefox's input after compositionend, and a repeat as insertText: not sent again.
    assert!(t.input_event(&input("insertCompositionText", Some("日本語"), false)).is_empty());
    // A virtual keyboard's text (keyCode 229 keydown, then input).
    assert_eq!(t.input_event(&input("insertText", Some("ü€"), false)), text_keysyms("ü€"));
    assert_eq!(text_keysyms("ü€"), vec![(0xfc, true), (0xfc, false), (0x0100_20ac, true), (0x0100_20ac, false)]);
    assert_eq!(
        t.input_event(&input("insertLineBreak", None, false)),
        vec![(keysym::RETURN, true), (keysym::RETURN, false)]
    );
}

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// A canvas attached to the page, inside a sized parent (for the fit tests).
fn canvas(parent_w: u32, parent_h: u32) -> HtmlCanvasElement {
    let doc = document();
    let parent = doc.create_element("div").unwrap().dyn_into::<HtmlElement>().unwrap();
    parent.style().set_property("width", &format!("{parent_w}px")).unwrap();
    parent.style().set_property("height", &format!("{parent_h}px")).unwrap();
    let canvas = doc.create_element("canvas").unwrap().dyn_into::<HtmlCanvasElement>().unwrap();
    parent.append_child(&canvas).unwrap();
    doc.body().unwrap().append_child(&parent).unwrap();
    canvas
}

/// The canvas's pixels, RGBA, read back through the 2D context.
fn read_back(canvas: &HtmlCanvasElement) -> Vec<u8> {
    let ctx = canvas.get_context("2d").unwrap().unwrap().dyn_into::<CanvasRenderingContext2d>().unwrap();
    ctx.get_image_data(0.0, 0.0, canvas.width().into(), canvas.height().into()).unwrap().data().0
}

/// A framebuffer where every pixel's colour encodes its position (and a `salt`).
fn pattern(fb: &mut Framebuffer, salt: u8) {
    let (w, h) = (fb.width(), fb.height());
    for y in 0..h {
        for x in 0..w {
            fb.fill(&Rect::new(x, y, 1, 1), [x as u8 ^ salt, y as u8, (x >> 8) as u8 ^ (y >> 8) as u8 ^ salt, 255]);
        }
    }
}

fn memory_buffer() -> wasm_bindgen::JsValue {
    wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>().buffer()
}

/// Counts how many ImageData views a display should have made: one at the first blit, and one
/// more at every blit after wasm memory grew (tests allocate, e.g. when reading pixels back).
#[derive(Default)]
struct ViewCount {
    last: Option<wasm_bindgen::JsValue>,
    expected: u32,
}

impl ViewCount {
    fn blit(&mut self, display: &mut Display, fb: &Framebuffer, r: Rect) {
        let now = memory_buffer();
        if self.last.as_ref().is_none_or(|last| !js_sys::Object::is(last, &now)) {
            self.expected += 1;
        }
        self.last = Some(now);
        display.blit(fb, r).unwrap();
    }
}

#[wasm_bindgen_test]
fn blit_draws_the_damaged_rectangle_only() {
    let canvas = canvas(800, 600);
    let mut display = Display::new(canvas.clone()).unwrap();
    let mut views = ViewCount::default();
    let mut fb = Framebuffer::new(97, 61).unwrap();
    pattern(&mut fb, 0);
    views.blit(&mut display, &fb, Rect::new(0, 0, 97, 61));
    assert_eq!((canvas.width(), canvas.height()), (97, 61));
    assert_eq!(read_back(&canvas), fb.data(), "a full blit shows the whole framebuffer");

    // Change everything, but blit only a sub-rectangle: only it may change on the canvas.
    let before = fb.data().to_vec();
    pattern(&mut fb, 0x5a);
    let dirty = Rect::new(13, 7, 40, 20);
    views.blit(&mut display, &fb, dirty);
    let shown = read_back(&canvas);
    for y in 0..61usize {
        for x in 0..97usize {
            let i = (y * 97 + x) * 4;
            let inside = (13..53).contains(&x) && (7..27).contains(&y);
            let want = if inside { &fb.data()[i..i + 4] } else { &before[i..i + 4] };
            assert_eq!(&shown[i..i + 4], want, "pixel {x},{y} (inside the damage: {inside})");
        }
    }
    views.blit(&mut display, &fb, dirty);
    views.blit(&mut display, &fb, Rect::new(0, 0, 1, 1));
    assert_eq!(display.views_made(), views.expected, "the ImageData view is reused while memory stays put");
    assert!(views.expected < 4);
}

#[wasm_bindgen_test]
fn blit_survives_wasm_memory_growth_and_resize() {
    let canvas = canvas(800, 600);
    let mut display = Display::new(canvas.clone()).unwrap();
    let mut fb = Framebuffer::new(64, 48).unwrap();
    pattern(&mut fb, 1);
    display.blit(&fb, Rect::new(0, 0, 64, 48)).unwrap();
    let memory = wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>();
    let old_buffer = memory.buffer();

    // Grow wasm memory: every view of the old buffer is detached.
    let old_len = old_buffer.unchecked_ref::<js_sys::ArrayBuffer>().byte_length();
    let big: Vec<u8> = vec![7; 64 << 20];
    std::hint::black_box(&big);
    let new_len = memory.buffer().unchecked_ref::<js_sys::ArrayBuffer>().byte_length();
    assert!(
        !js_sys::Object::is(&old_buffer, &memory.buffer()),
        "64 MiB more must grow wasm memory ({old_len} -> {new_len} bytes)"
    );
    pattern(&mut fb, 2);
    display.blit(&fb, Rect::new(0, 0, 64, 48)).unwrap();
    assert_eq!(read_back(&canvas), fb.data(), "drawn from the grown memory");
    assert_eq!(display.views_made(), 2, "a new view after growth");
    // The old view's buffer is detached: drawing from it would have shown nothing or thrown.
    assert_eq!(old_buffer.unchecked_ref::<js_sys::ArrayBuffer>().byte_length(), 0);
    drop(big);

    // A resize moves the pixels; the canvas follows the framebuffer's size.
    let views_before = display.views_made();
    fb.resize(130, 20).unwrap();
    pattern(&mut fb, 3);
    display.blit(&fb, Rect::new(0, 0, 130, 20)).unwrap();
    assert_eq!((canvas.width(), canvas.height()), (130, 20));
    assert_eq!(read_back(&canvas), fb.data());
    assert_eq!(display.views_made(), views_before + 1);
}

#[wasm_bindgen_test]
fn scale_mode_fits_the_parent_keeping_aspect() {
    let canvas = canvas(400, 400);
    let mut display = Display::new(canvas.clone()).unwrap();
    display.resize(1280, 720);
    assert_eq!(canvas.style().get_property_value("width").unwrap(), "1280px");
    display.set_mode(oxvnc_client::settings::ResizeMode::Scale);
    assert_eq!(canvas.style().get_property_value("width").unwrap(), "400px");
    assert_eq!(canvas.style().get_property_value("height").unwrap(), "225px");
}

#[wasm_bindgen_test]
fn cursor_becomes_a_css_cursor() {
    let canvas = canvas(100, 100);
    let display = Display::new(canvas.clone()).unwrap();
    let mut rgba = vec![0u8; 4 * 4 * 4];
    for px in rgba.chunks_exact_mut(4).take(5) {
        px.copy_from_slice(&[255, 0, 0, 255]);
    }
    let shape = Cursor { width: 4, height: 4, hotspot_x: 1, hotspot_y: 2, rgba };
    display.set_cursor(&shape, false);
    let css = canvas.style().get_property_value("cursor").unwrap();
    assert!(css.starts_with("url(\"data:image/png;base64,"), "{css}");
    assert!(css.ends_with(" 1 2, auto"), "{css}");

    let hidden = Cursor { width: 4, height: 4, hotspot_x: 0, hotspot_y: 0, rgba: vec![0; 64] };
    display.set_cursor(&hidden, false);
    assert_eq!(canvas.style().get_property_value("cursor").unwrap(), "none");
    display.set_cursor(&hidden, true);
    let css = canvas.style().get_property_value("cursor").unwrap();
    assert!(css.starts_with("url(\"data:image/png;base64,") && css.ends_with(" 2 2, auto"), "{css}");
}

/// The engine's RGB → RGBA row conversion (ZRLE and Tight pixels) takes a SIMD path in the
/// browser build: every length around its 16-pixel step gives what the plain loop gives.
#[wasm_bindgen_test]
fn rgb_rows_convert_the_same_in_simd() {
    let src: Vec<u8> = (0..3 * 70u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for n in 0..=70 {
        let mut got = vec![7u8; n * 4 + 4];
        oxvnc_rfb::decode::zrle::rgb_row(&src[..n * 3], &mut got[..n * 4]);
        let want: Vec<u8> = src[..n * 3].chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        assert_eq!(&got[..n * 4], &want[..], "{n} pixels");
        assert_eq!(&got[n * 4..], &[7u8; 4], "{n} pixels: wrote past the row");
    }
}

/// Raw rectangles in the console's RGBX format are one SIMD copy with alpha set in the browser
/// build: every length around its four-pixel step gives opaque RGBA of the same colours, and
/// nothing past the row is written.
#[wasm_bindgen_test]
fn rgbx_rows_convert_the_same_in_simd() {
    let src: Vec<u8> = (0..4 * 40u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for n in 0..=40 {
        let mut got = vec![7u8; n * 4 + 4];
        oxvnc_rfb::pixel::rgbx_row(&src[..n * 4], &mut got[..n * 4]);
        let want: Vec<u8> = src[..n * 4].chunks_exact(4).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        assert_eq!(&got[..n * 4], &want[..], "{n} pixels");
        assert_eq!(&got[n * 4..], &[7u8; 4], "{n} pixels: wrote past the row");
    }
}

/// The engine supplies `memcmp` to the browser build (eight bytes a step, then bytes); slice
/// comparison calls it. Every length around its steps, every place of the first difference,
/// both directions, at unaligned starts: the same order as a byte-by-byte comparison.
#[wasm_bindgen_test]
fn slice_comparison_through_the_engines_memcmp() {
    let base: Vec<u8> = (0..80u8).map(|i| i.wrapping_mul(37)).collect();
    let bytewise =
        |a: &[u8], b: &[u8]| a.iter().zip(b).find(|(x, y)| x != y).map_or(a.len().cmp(&b.len()), |(x, y)| x.cmp(y));
    for start in 0..3 {
        for n in 0..=70 {
            let a = &base[start..start + n];
            assert_eq!(std::hint::black_box(a).cmp(std::hint::black_box(a)), std::cmp::Ordering::Equal);
            for at in 0..n {
                for delta in [1u8, 128, 255] {
                    let mut b = a.to_vec();
                    b[at] = b[at].wrapping_add(delta);
                    let (a, b) = (std::hint::black_box(a), std::hint::black_box(&b[..]));
                    assert_eq!(a.cmp(b), bytewise(a, b), "n {n} at {at} delta {delta}");
                    assert_eq!(b.cmp(a), bytewise(b, a), "n {n} at {at} delta {delta}, reversed");
                    assert!(a != b, "n {n} at {at}: unequal");
                }
            }
        }
    }
}

/// A small deterministic generator for the SIMD checks below.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    /// Uniform in `-r..=r`.
    fn signed(&mut self, r: i32) -> i32 {
        (self.next() % (2 * r as u32 + 1)) as i32 - r
    }
}

/// Tight's JPEG is decoded by zune-jpeg with WebAssembly SIMD kernels added for the IDCT
/// (vendor/zune-jpeg): on blocks with only a DC term, a few terms, every term small or large,
/// it gives exactly the scalar IDCT's samples.
#[wasm_bindgen_test]
fn jpeg_idct_is_the_same_in_simd() {
    let mut rng = Lcg(1);
    for i in 0..4000 {
        let mut c = [0i32; 64];
        match i % 4 {
            0 => c[0] = rng.signed(2047),
            1 => {
                for _ in 0..3 {
                    c[rng.next() as usize % 64] = rng.signed(1023);
                }
            }
            2 => c.iter_mut().for_each(|v| *v = rng.signed(64)),
            _ => c.iter_mut().for_each(|v| *v = rng.signed(4095)),
        }
        let (simd, scalar) = zune_jpeg::wasm_simd_check::idct(&c);
        assert_eq!(simd, scalar, "block {i}: {c:?}");
    }
}

/// ... and for YCbCr → RGBA: the extremes of every channel and random pixels.
#[wasm_bindgen_test]
fn jpeg_colour_conversion_is_the_same_in_simd() {
    let mut rng = Lcg(2);
    let edges = [0i16, 1, 127, 128, 129, 254, 255];
    let mut groups: Vec<[[i16; 16]; 3]> = Vec::new();
    for (k, &y) in edges.iter().enumerate() {
        let mut g = [[y; 16]; 3];
        for i in 0..16 {
            g[1][i] = edges[(i + k) % edges.len()];
            g[2][i] = edges[(i * 3 + k) % edges.len()];
        }
        groups.push(g);
    }
    for _ in 0..4000 {
        let mut g = [[0i16; 16]; 3];
        g.iter_mut().flatten().for_each(|v| *v = (rng.next() % 256) as i16);
        groups.push(g);
    }
    for [y, cb, cr] in groups {
        let (simd, scalar) = zune_jpeg::wasm_simd_check::ycbcr_to_rgba(&y, &cb, &cr);
        assert_eq!(simd, scalar, "y {y:?} cb {cb:?} cr {cr:?}");
    }
}
