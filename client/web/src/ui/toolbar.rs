//! The toolbar (keys a browser would keep for itself, clipboard, fullscreen, disconnect) and the
//! clipboard panel.

use oxvnc_rfb::{XvpAction, keysym};
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ToolbarProps {
    pub view_only: bool,
    pub clipboard_open: bool,
    /// Key presses and releases to send, in order.
    pub on_keys: Callback<Vec<(u32, bool)>>,
    pub on_toggle_clipboard: Callback<()>,
    pub on_fullscreen: Callback<()>,
    /// Focuses the console's keyboard input (brings up the on-screen keyboard of touch screens).
    pub on_keyboard: Callback<()>,
    /// The server accepts power actions (XVP).
    pub power: bool,
    pub on_power: Callback<XvpAction>,
    pub on_disconnect: Callback<()>,
}

/// A power action's button label and the question asked before it is sent.
fn power_action(action: XvpAction) -> (&'static str, &'static str) {
    match action {
        XvpAction::Shutdown => ("Shut down", "Shut down the remote machine?"),
        XvpAction::Reboot => ("Reboot", "Reboot the remote machine?"),
        XvpAction::Reset => {
            ("Reset", "Reset the remote machine? Like pressing its reset button, unsaved work is lost.")
        }
    }
}

/// Presses `keys` in order and releases them in reverse.
pub fn chord(keys: &[u32]) -> Vec<(u32, bool)> {
    keys.iter().map(|&k| (k, true)).chain(keys.iter().rev().map(|&k| (k, false))).collect()
}

#[function_component(Toolbar)]
pub fn toolbar(props: &ToolbarProps) -> Html {
    let send = |keys: Vec<u32>| {
        let on_keys = props.on_keys.clone();
        Callback::from(move |_: MouseEvent| on_keys.emit(chord(&keys)))
    };
    let clip = props.on_toggle_clipboard.reform(|_: MouseEvent| ());
    let full = props.on_fullscreen.reform(|_: MouseEvent| ());
    let keyboard = props.on_keyboard.reform(|_: MouseEvent| ());
    let disconnect = props.on_disconnect.reform(|_: MouseEvent| ());
    let power_button = |action: XvpAction| {
        let on_power = props.on_power.clone();
        let (label, question) = power_action(action);
        let onclick = Callback::from(move |_: MouseEvent| {
            let confirmed = web_sys::window().and_then(|w| w.confirm_with_message(question).ok()).unwrap_or(false);
            if confirmed {
                on_power.emit(action);
            }
        });
        html! { <button type="button" data-power={label.to_ascii_lowercase()} {onclick}>{ label }</button> }
    };
    html! {
        <nav class="oxvnc-tools" aria-label="Console tools">
            <button type="button" disabled={props.view_only} title="Send Ctrl-Alt-Del"
                onclick={send(vec![keysym::CONTROL_L, keysym::ALT_L, keysym::DELETE])}>{ "Ctrl-Alt-Del" }</button>
            <button type="button" disabled={props.view_only} title="Send Escape"
                onclick={send(vec![keysym::ESCAPE])}>{ "Esc" }</button>
            <button type="button" disabled={props.view_only} title="Send Tab"
                onclick={send(vec![keysym::TAB])}>{ "Tab" }</button>
            <button type="button" data-tool="clipboard" aria-pressed={props.clipboard_open.to_string()} onclick={clip}>{ "Clipboard" }</button>
            <button type="button" data-tool="keyboard" disabled={props.view_only} title="Show the on-screen keyboard"
                onclick={keyboard}>{ "Keyboard" }</button>
            <button type="button" onclick={full}>{ "Fullscreen" }</button>
            if props.power && !props.view_only {
                <details class="oxvnc-power">
                    <summary>{ "Power" }</summary>
                    <div class="oxvnc-power-menu">
                        { power_button(XvpAction::Shutdown) }
                        { power_button(XvpAction::Reboot) }
                        { power_button(XvpAction::Reset) }
                    </div>
                </details>
            }
            <button type="button" class="oxvnc-danger" onclick={disconnect}>{ "Disconnect" }</button>
        </nav>
    }
}

#[derive(Properties, PartialEq)]
pub struct ClipboardProps {
    pub text: String,
    pub view_only: bool,
    pub on_edit: Callback<String>,
    pub on_send: Callback<String>,
}

#[function_component(ClipboardPanel)]
pub fn clipboard_panel(props: &ClipboardProps) -> Html {
    let oninput = props.on_edit.reform(|e: InputEvent| e.target_unchecked_into::<HtmlTextAreaElement>().value());
    // Sent when the text area loses focus after an edit, and by the button.
    let onchange = props.on_send.reform(|e: Event| e.target_unchecked_into::<HtmlTextAreaElement>().value());
    let onclick = {
        let (text, on_send) = (props.text.clone(), props.on_send.clone());
        Callback::from(move |_: MouseEvent| on_send.emit(text.clone()))
    };
    html! {
        <aside class="oxvnc-clipboard" aria-label="Clipboard">
            <label for="oxvnc-clipboard-text">{ "Clipboard" }</label>
            <p class="oxvnc-hint">{ "Text copied on the remote desktop appears here. Edit it to paste it there." }</p>
            <textarea id="oxvnc-clipboard-text" value={props.text.clone()} readonly={props.view_only} {oninput} {onchange}/>
            <button type="button" data-tool="send-clipboard" disabled={props.view_only} {onclick}>{ "Send to remote" }</button>
        </aside>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chord_releases_in_reverse() {
        assert_eq!(chord(&[1, 2, 3]), vec![(1, true), (2, true), (3, true), (3, false), (2, false), (1, false)]);
    }
}
