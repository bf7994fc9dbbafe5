//! `oxvnc-client`: the browser console. WebSocket transport, canvas display, keyboard / pointer /
//! clipboard input and a Yew UI around the sans-IO `oxvnc-rfb` engine.
//!
//! From JavaScript: `import init, { mount } from "./pkg/oxvnc_client.js"; await init();
//! mount(document.getElementById("oxvnc"));` — settings come from the page URL, with the same
//! parameters as noVNC's `vnc.html` (see [`settings`]).

pub mod api;
pub mod clipboard;
pub mod component;
pub mod display;
pub mod keys;
pub mod messages;
pub mod pointer;
pub mod session;
pub mod settings;
pub mod text_input;
pub mod tls;
pub mod touch;
pub mod transport;
pub mod ui;

use wasm_bindgen::prelude::*;

/// Mounts the console UI into `root` (an element of the page).
#[wasm_bindgen]
pub fn mount(root: web_sys::Element) {
    console_error_panic_hook::set_once();
    ui::mount(root);
}
