//! The Yew example of docs/embedding.md: a dashboard with one console, its status and a
//! Ctrl-Alt-Del button. `cargo test` builds it (examples are compiled), and a unit test of the
//! crate checks that docs/embedding.md shows this file as it is. For the browser:
//! `cargo build -p oxvnc-client --example yew_app --target wasm32-unknown-unknown`, then
//! `wasm-bindgen --target web` on the `.wasm` and a page that imports it (the relay serves the
//! page and `/websockify`).

use oxvnc_client::component::{ConsoleHandle, Disconnect, VncConsole};
use oxvnc_client::settings::ResizeMode;
use yew::prelude::*;

#[function_component(Dashboard)]
fn dashboard() -> Html {
    let status = use_state(|| String::from("connecting"));
    let handle = use_state(|| None::<ConsoleHandle>);
    let on_connect = {
        let status = status.clone();
        Callback::from(move |()| status.set("connected".into()))
    };
    let on_disconnect = {
        let status = status.clone();
        Callback::from(move |d: Disconnect| status.set(format!("disconnected: {}", d.reason)))
    };
    let on_ready = {
        let handle = handle.clone();
        Callback::from(move |h: ConsoleHandle| handle.set(Some(h)))
    };
    let cad = {
        let handle = handle.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(h) = handle.as_ref() {
                h.send_ctrl_alt_del();
            }
        })
    };
    html! {
        <>
            <p>{ (*status).clone() } <button onclick={cad}>{ "Ctrl-Alt-Del" }</button></p>
            <VncConsole url="/websockify?token=vm1" resize={ResizeMode::Scale}
                on_connect={on_connect} on_disconnect={on_disconnect} on_ready={on_ready}
                style="width: 1024px; height: 768px"/>
        </>
    }
}

fn main() {
    yew::Renderer::<Dashboard>::new().render();
}
