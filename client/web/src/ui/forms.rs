//! The connect form and the credentials prompt.

use oxvnc_rfb::Credentials;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::settings::{ResizeMode, Settings};

/// What the connect form edits.
#[derive(Clone, Debug, PartialEq)]
pub struct FormValues {
    pub host: String,
    pub port: String,
    pub path: String,
    pub password: String,
    pub encrypt: bool,
    pub view_only: bool,
    pub scale: bool,
}

impl FormValues {
    fn from_settings(s: &Settings) -> FormValues {
        FormValues {
            host: s.host.clone(),
            port: s.port.clone(),
            path: s.path.clone(),
            password: s.password.clone().unwrap_or_default(),
            encrypt: s.encrypt,
            view_only: s.view_only,
            scale: s.resize.fits(),
        }
    }

    /// `base` (the URL's settings) with the form's values.
    pub fn apply(&self, base: &Settings) -> Settings {
        Settings {
            host: self.host.trim().to_string(),
            port: self.port.trim().to_string(),
            path: self.path.trim().trim_start_matches('/').to_string(),
            password: (!self.password.is_empty()).then(|| self.password.clone()),
            encrypt: self.encrypt,
            view_only: self.view_only,
            resize: match (self.scale, base.resize) {
                (false, _) => ResizeMode::Off,
                (true, ResizeMode::Remote) => ResizeMode::Remote,
                (true, _) => ResizeMode::Scale,
            },
            ..base.clone()
        }
    }
}

#[derive(Properties, PartialEq)]
pub struct ConnectFormProps {
    pub initial: Settings,
    pub error: Option<String>,
    pub on_connect: Callback<FormValues>,
}

fn input_value(e: &InputEvent) -> String {
    e.target_unchecked_into::<HtmlInputElement>().value()
}

fn checked(e: &Event) -> bool {
    e.target_unchecked_into::<HtmlInputElement>().checked()
}

#[function_component(ConnectForm)]
pub fn connect_form(props: &ConnectFormProps) -> Html {
    let values = {
        let initial = props.initial.clone();
        use_state(move || FormValues::from_settings(&initial))
    };
    let text = |set: fn(&mut FormValues, String)| {
        let values = values.clone();
        Callback::from(move |e: InputEvent| {
            let mut v = (*values).clone();
            set(&mut v, input_value(&e));
            values.set(v);
        })
    };
    let flag = |set: fn(&mut FormValues, bool)| {
        let values = values.clone();
        Callback::from(move |e: Event| {
            let mut v = (*values).clone();
            set(&mut v, checked(&e));
            values.set(v);
        })
    };
    let onsubmit = {
        let values = values.clone();
        let on_connect = props.on_connect.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            on_connect.emit((*values).clone());
        })
    };
    html! {
        <form class="oxvnc-panel oxvnc-connect" onsubmit={onsubmit}>
            <h1>{ "Connect to a VNC console" }</h1>
            if let Some(error) = &props.error {
                <p class="oxvnc-error" role="alert">{ error }</p>
            }
            <div class="oxvnc-grid">
                <label for="oxvnc-host">{ "Host" }</label>
                <input id="oxvnc-host" type="text" autocomplete="off" spellcheck="false" value={values.host.clone()}
                    oninput={text(|v, s| v.host = s)}/>
                <label for="oxvnc-port">{ "Port" }</label>
                <input id="oxvnc-port" type="text" inputmode="numeric" value={values.port.clone()}
                    oninput={text(|v, s| v.port = s)}/>
                <label for="oxvnc-path">{ "Path" }</label>
                <input id="oxvnc-path" type="text" autocomplete="off" spellcheck="false" value={values.path.clone()}
                    oninput={text(|v, s| v.path = s)}/>
                <label for="oxvnc-password">{ "Password" }</label>
                <input id="oxvnc-password" type="password" autocomplete="current-password" value={values.password.clone()}
                    placeholder="asked for when needed" oninput={text(|v, s| v.password = s)}/>
            </div>
            <div class="oxvnc-flags">
                <label><input type="checkbox" checked={values.encrypt} onchange={flag(|v, b| v.encrypt = b)}/>{ " Encrypt (wss://)" }</label>
                <label><input type="checkbox" checked={values.scale} onchange={flag(|v, b| v.scale = b)}/>{ " Scale to window" }</label>
                <label><input type="checkbox" checked={values.view_only} onchange={flag(|v, b| v.view_only = b)}/>{ " View only" }</label>
            </div>
            <button type="submit" class="oxvnc-primary">{ "Connect" }</button>
        </form>
    }
}

#[derive(Properties, PartialEq)]
pub struct CredentialsProps {
    /// Also ask for a user name.
    pub username: bool,
    pub on_submit: Callback<Credentials>,
}

#[function_component(CredentialsForm)]
pub fn credentials_form(props: &CredentialsProps) -> Html {
    let user = use_state(String::new);
    let password = use_state(String::new);
    let password_ref = use_node_ref();
    {
        let password_ref = password_ref.clone();
        use_effect_with((), move |_| {
            if let Some(input) = password_ref.cast::<HtmlInputElement>() {
                let _ = input.focus();
            }
        });
    }
    let onsubmit = {
        let (user, password) = (user.clone(), password.clone());
        let on_submit = props.on_submit.clone();
        let want_user = props.username;
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            on_submit.emit(Credentials { username: want_user.then(|| (*user).clone()), password: (*password).clone() });
        })
    };
    let on_user = {
        let user = user.clone();
        Callback::from(move |e: InputEvent| user.set(input_value(&e)))
    };
    let on_password = {
        let password = password.clone();
        Callback::from(move |e: InputEvent| password.set(input_value(&e)))
    };
    html! {
        <form class="oxvnc-panel oxvnc-credentials" onsubmit={onsubmit}>
            <h1>{ "The server asks for a password" }</h1>
            <div class="oxvnc-grid">
                if props.username {
                    <label for="oxvnc-user">{ "User" }</label>
                    <input id="oxvnc-user" type="text" autocomplete="username" value={(*user).clone()} oninput={on_user}/>
                }
                <label for="oxvnc-cred-password">{ "Password" }</label>
                <input id="oxvnc-cred-password" ref={password_ref} type="password" autocomplete="current-password"
                    value={(*password).clone()} oninput={on_password}/>
            </div>
            <button type="submit" class="oxvnc-primary">{ "Send" }</button>
        </form>
    }
}

#[derive(Properties, PartialEq)]
pub struct CertificateProps {
    /// SHA-256 fingerprint of the server's certificate, "AB:CD:…".
    pub fingerprint: String,
    /// `true`: trust it and go on; `false`: close the connection.
    pub on_answer: Callback<bool>,
}

/// The VNC server's TLS certificate is not signed by a known CA: show its fingerprint, so it can
/// be compared with the server's own (`openssl x509 -fingerprint -sha256`), and ask.
#[function_component(CertificateForm)]
pub fn certificate_form(props: &CertificateProps) -> Html {
    let trust = props.on_answer.reform(|_: MouseEvent| true);
    let reject = props.on_answer.reform(|_: MouseEvent| false);
    html! {
        <div class="oxvnc-panel oxvnc-certificate" role="dialog" aria-labelledby="oxvnc-cert-title">
            <h1 id="oxvnc-cert-title">{ "Trust this VNC server?" }</h1>
            <p>{ "The server's certificate is not signed by an authority this console knows. Trust it only if its \
                  SHA-256 fingerprint is the one the server's administrator gave you:" }</p>
            <p class="oxvnc-fingerprint"><code>{ props.fingerprint.clone() }</code></p>
            <div class="oxvnc-actions">
                <button type="button" class="oxvnc-primary" data-answer="trust" onclick={trust}>{ "Trust and connect" }</button>
                <button type="button" data-answer="reject" onclick={reject}>{ "Cancel" }</button>
            </div>
        </div>
    }
}
