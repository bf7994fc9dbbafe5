//! The browser's clipboard: server clipboard text is offered to the system clipboard where the
//! browser allows it (a secure context with permission); the clipboard panel covers the rest.

use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// Tries to put `text` on the system clipboard. Silently does nothing where the browser does not
/// allow it (no `navigator.clipboard` on plain-http pages, or no permission / focus).
pub fn write_system(text: &str) {
    let Some(window) = web_sys::window() else { return };
    let navigator = window.navigator();
    // `navigator.clipboard` is undefined outside secure contexts; calling into it would throw.
    let Ok(clipboard) = js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard")) else { return };
    if clipboard.is_undefined() || clipboard.is_null() {
        return;
    }
    let clipboard: web_sys::Clipboard = clipboard.unchecked_into();
    let promise = clipboard.write_text(text);
    // A refusal (no permission, page not focused) is expected and harmless.
    wasm_bindgen_futures::spawn_local(async move {
        let _ = JsFuture::from(promise).await;
    });
}
