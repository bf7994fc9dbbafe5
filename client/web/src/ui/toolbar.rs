//! The toolbar (keys a browser would keep for itself, Ctrl/Alt/Win held down by a click,
//! clipboard, view mode, view-only, fullscreen, disconnect) and the clipboard panel.

use oxvnc_rfb::{XvpAction, keysym};
use web_sys::{HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::settings::ResizeMode;

#[derive(Properties, PartialEq)]
pub struct ToolbarProps {
    pub view_only: bool,
    pub resize: ResizeMode,
    /// View-only or the view mode chosen here: (view_only, resize).
    pub on_view: Callback<(bool, ResizeMode)>,
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

/// The modifier keys the toolbar can hold down: label, keysym.
pub const HELD_KEYS: [(&str, u32); 3] = [("Ctrl", keysym::CONTROL_L), ("Alt", keysym::ALT_L), ("Win", keysym::SUPER_L)];

/// The view modes offered: value, label.
const VIEW_MODES: [(ResizeMode, &str); 3] =
    [(ResizeMode::Off, "1:1"), (ResizeMode::Scale, "Fit"), (ResizeMode::Remote, "Resize remote")];

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
    // Ctrl, Alt and Win stay down from one click to the next (for chords the browser or the
    // local system would take, typed with the real keyboard meanwhile); all are released when
    // view-only goes on or the toolbar goes away (the session ended).
    let held = use_mut_ref(|| [false; HELD_KEYS.len()]);
    let pressed = use_state(|| [false; HELD_KEYS.len()]);
    let release_held = {
        let (held, on_keys) = (held.clone(), props.on_keys.clone());
        move || {
            let was = std::mem::take(&mut *held.borrow_mut());
            let keys: Vec<(u32, bool)> =
                HELD_KEYS.iter().zip(was).filter(|&(_, h)| h).map(|(&(_, k), _)| (k, false)).collect();
            if !keys.is_empty() {
                on_keys.emit(keys);
            }
        }
    };
    {
        let release_held = release_held.clone();
        use_effect_with((), move |_| release_held);
    }
    let hold = |i: usize| {
        let (held, pressed, on_keys) = (held.clone(), pressed.clone(), props.on_keys.clone());
        Callback::from(move |_: MouseEvent| {
            let down = {
                let mut h = held.borrow_mut();
                h[i] = !h[i];
                pressed.set(*h);
                h[i]
            };
            on_keys.emit(vec![(HELD_KEYS[i].1, down)]);
        })
    };
    let toggle_view_only = {
        let (on_view, resize, view_only, release_held, pressed) =
            (props.on_view.clone(), props.resize, props.view_only, release_held.clone(), pressed.clone());
        Callback::from(move |_: MouseEvent| {
            if !view_only {
                release_held();
                pressed.set([false; HELD_KEYS.len()]);
            }
            on_view.emit((!view_only, resize));
        })
    };
    let choose_mode = {
        let (on_view, view_only) = (props.on_view.clone(), props.view_only);
        Callback::from(move |e: Event| {
            if let Some(mode) = ResizeMode::parse(&e.target_unchecked_into::<HtmlSelectElement>().value()) {
                on_view.emit((view_only, mode));
            }
        })
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
            { for HELD_KEYS.iter().enumerate().map(|(i, &(label, _))| html! {
                <button type="button" data-hold={label.to_ascii_lowercase()} disabled={props.view_only}
                    aria-pressed={pressed[i].to_string()} title={format!("Hold {label} down (click again to release)")}
                    onclick={hold(i)}>{ label }</button>
            }) }
            <button type="button" data-tool="clipboard" aria-pressed={props.clipboard_open.to_string()} onclick={clip}>{ "Clipboard" }</button>
            <button type="button" data-tool="keyboard" disabled={props.view_only} title="Show the on-screen keyboard"
                onclick={keyboard}>{ "Keyboard" }</button>
            <select data-tool="view-mode" aria-label="View mode" title="View mode" onchange={choose_mode}>
                { for VIEW_MODES.iter().map(|&(mode, label)| html! {
                    <option value={mode.as_str()} selected={props.resize == mode}>{ label }</option>
                }) }
            </select>
            <button type="button" data-tool="view-only" aria-pressed={props.view_only.to_string()}
                title="Show the screen only: no keys, pointer or clipboard reach the server"
                onclick={toggle_view_only}>{ "View only" }</button>
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
    // What the text area holds now: an edit's re-render may not have happened yet.
    let area = use_node_ref();
    let onclick = {
        let (area, text, on_send) = (area.clone(), props.text.clone(), props.on_send.clone());
        Callback::from(move |_: MouseEvent| {
            let now = area.cast::<HtmlTextAreaElement>().map_or_else(|| text.clone(), |a| a.value());
            on_send.emit(now)
        })
    };
    html! {
        <aside class="oxvnc-clipboard" aria-label="Clipboard">
            <label for="oxvnc-clipboard-text">{ "Clipboard" }</label>
            <p class="oxvnc-hint">{ "Text copied on the remote desktop appears here. Edit it to paste it there." }</p>
            <textarea id="oxvnc-clipboard-text" ref={area} value={props.text.clone()} readonly={props.view_only} {oninput} {onchange}/>
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
