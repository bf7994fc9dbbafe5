//! `oxvnc-client`: the browser console. WebSocket transport, canvas display, keyboard / pointer /
//! clipboard input and a Yew UI around the sans-IO `oxvnc-rfb` engine.
//!
//! From JavaScript: `import init, { mount } from "./pkg/oxvnc_client.js"; await init();
//! mount(document.getElementById("oxvnc"));` — settings come from the page URL, with the same
//! parameters as noVNC's `vnc.html` (see [`settings`]). The page ([`ui`]) is built from the
//! [`component::VncConsole`] Yew component, which embedders use as well (docs/embedding.md;
//! `examples/yew_app.rs`).

pub mod api;
pub mod clipboard;
pub mod component;
pub mod display;
pub mod fatal;
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
    fatal::install();
    ui::mount(root);
}

#[cfg(test)]
mod tests {
    /// docs/embedding.md shows `examples/yew_app.rs` (which `cargo test` compiles) unchanged,
    /// from its first `use` to the end.
    #[test]
    fn the_yew_example_in_the_docs_is_the_one_that_compiles() {
        let docs = include_str!("../../../docs/embedding.md");
        let example = include_str!("../examples/yew_app.rs");
        let code = &example[example.find("use oxvnc_client").expect("the example starts with its uses")..];
        assert!(
            docs.contains(&format!("```rust\n{code}```\n")),
            "docs/embedding.md does not show examples/yew_app.rs:\n{code}"
        );
    }
}
