//! The connect form (with its TLS section: the server's CA certificate, pasted or uploaded, and
//! its expected fingerprint), the credentials prompt and the certificate prompt.

use std::rc::Rc;

use oxvnc_rfb::Credentials;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::settings::{MAX_CA_BYTES, ResizeMode, Settings, check_ca_pem};

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
    /// JPEG quality level 0–9, or `None` for lossless pictures.
    pub quality: Option<u8>,
    /// Compression level 0–9, or `None` for the server's choice.
    pub compression: Option<u8>,
    /// The VNC server's CA certificate(s), PEM; empty for none.
    pub tls_ca: String,
    /// The expected SHA-256 fingerprint of the server's certificate; empty for none.
    pub tls_fingerprint: String,
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
            quality: s.quality.filter(|_| !s.lossless),
            compression: s.compression,
            tls_ca: s.tls_ca.clone().unwrap_or_default(),
            tls_fingerprint: s.tls_fingerprint.clone().unwrap_or_default(),
        }
    }

    /// `base` (the URL's settings) with the form's values. A CA in the form replaces the URL's
    /// `ca=` (which is then not fetched).
    pub fn apply(&self, base: &Settings) -> Settings {
        let tls_ca = Some(self.tls_ca.trim().to_string()).filter(|c| !c.is_empty());
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
            quality: self.quality,
            compression: self.compression,
            // "Lossless" in the form also keeps JPEG (21) from being offered.
            lossless: self.quality.is_none(),
            ca_url: if tls_ca.is_some() { None } else { base.ca_url.clone() },
            tls_ca,
            tls_fingerprint: Some(self.tls_fingerprint.trim().to_string()).filter(|f| !f.is_empty()),
            ..base.clone()
        }
    }
}

/// One change to the form's values (applied to the latest values, also after an upload that
/// finished while the person went on typing).
pub struct Edit(Rc<dyn Fn(&mut FormValues)>);

impl Reducible for FormValues {
    type Action = Edit;

    fn reduce(self: Rc<Self>, edit: Edit) -> Rc<Self> {
        let mut v = (*self).clone();
        (edit.0)(&mut v);
        Rc::new(v)
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

fn textarea_value(e: &InputEvent) -> String {
    e.target_unchecked_into::<HtmlTextAreaElement>().value()
}

fn checked(e: &Event) -> bool {
    e.target_unchecked_into::<HtmlInputElement>().checked()
}

/// A `<select>` of levels 0–9: `Some(level)`, or `None` for the first option (value "").
fn selected_level(e: &Event) -> Option<u8> {
    e.target_unchecked_into::<HtmlSelectElement>().value().parse().ok()
}

/// The options of a level `<select>`: `none` first, then 0–9 with the ends named.
fn level_options(none: &'static str, low: &'static str, high: &'static str, current: Option<u8>) -> Html {
    const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    html! {
        <>
            <option value="" selected={current.is_none()}>{ none }</option>
            { for DIGITS.iter().enumerate().map(|(i, d)| {
                let label = match i { 0 => format!("0 ({low})"), 9 => format!("9 ({high})"), _ => (*d).to_string() };
                html! { <option value={*d} selected={current == Some(i as u8)}>{ label }</option> }
            }) }
        </>
    }
}

/// The text of the file chosen in the file input `e` came from: `Ok(None)` when none was
/// chosen, `Err` (a sentence) when it cannot be a CA certificate.
async fn chosen_file_text(e: &Event) -> Result<Option<String>, String> {
    let get = |obj: &JsValue, key: &str| js_sys::Reflect::get(obj, &JsValue::from_str(key)).ok();
    let Some(input) = e.target().map(JsValue::from) else { return Ok(None) };
    let Some(files) = get(&input, "files").filter(|f| f.is_object()) else { return Ok(None) };
    let file = js_sys::Reflect::get(&files, &JsValue::from(0)).unwrap_or(JsValue::UNDEFINED);
    if !file.is_object() {
        return Ok(None);
    }
    let name = get(&file, "name").and_then(|n| n.as_string()).unwrap_or_default();
    let size = get(&file, "size").and_then(|s| s.as_f64()).unwrap_or(0.0);
    if size > MAX_CA_BYTES as f64 {
        // As an integer: formatting an f64 would link float formatting (~10 KB of wasm).
        let size = size as u64;
        return Err(format!("{name} is {size} bytes, more than the {MAX_CA_BYTES} a CA certificate file may have."));
    }
    let text = get(&file, "text")
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call0(&file).ok())
        .and_then(|p| p.dyn_into::<js_sys::Promise>().ok())
        .ok_or_else(|| format!("This browser cannot read {name}; paste the certificate instead."))?;
    let text = wasm_bindgen_futures::JsFuture::from(text)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .ok_or_else(|| format!("{name} could not be read; paste the certificate instead."))?;
    check_ca_pem(&text).map_err(|e| format!("{name}: {e}"))?;
    Ok(Some(text))
}

#[function_component(ConnectForm)]
pub fn connect_form(props: &ConnectFormProps) -> Html {
    let values = {
        let initial = props.initial.clone();
        use_reducer(move || FormValues::from_settings(&initial))
    };
    let upload_error = use_state(|| None::<String>);
    let edit = |set: fn(&mut FormValues, String), read: fn(&InputEvent) -> String| {
        let dispatcher = values.dispatcher();
        Callback::from(move |e: InputEvent| {
            let s = read(&e);
            dispatcher.dispatch(Edit(Rc::new(move |v| set(v, s.clone()))));
        })
    };
    let text = |set: fn(&mut FormValues, String)| edit(set, input_value);
    let flag = |set: fn(&mut FormValues, bool)| {
        let dispatcher = values.dispatcher();
        Callback::from(move |e: Event| {
            let b = checked(&e);
            dispatcher.dispatch(Edit(Rc::new(move |v| set(v, b))));
        })
    };
    let level = |set: fn(&mut FormValues, Option<u8>)| {
        let dispatcher = values.dispatcher();
        Callback::from(move |e: Event| {
            let l = selected_level(&e);
            dispatcher.dispatch(Edit(Rc::new(move |v| set(v, l))));
        })
    };
    let on_file = {
        let dispatcher = values.dispatcher();
        let upload_error = upload_error.clone();
        Callback::from(move |e: Event| {
            let dispatcher = dispatcher.clone();
            let upload_error = upload_error.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match chosen_file_text(&e).await {
                    Ok(Some(pem)) => {
                        upload_error.set(None);
                        dispatcher.dispatch(Edit(Rc::new(move |v| v.tls_ca = pem.clone())));
                    }
                    Ok(None) => {}
                    Err(message) => upload_error.set(Some(message)),
                }
            });
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
    let tls_open = !values.tls_ca.is_empty() || !values.tls_fingerprint.is_empty() || props.initial.ca_url.is_some();
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
                <label for="oxvnc-quality">{ "Picture" }</label>
                <select id="oxvnc-quality" onchange={level(|v, l| v.quality = l)}>
                    { level_options("Lossless", "JPEG, smallest", "JPEG, best", values.quality) }
                </select>
                <label for="oxvnc-compression">{ "Compression" }</label>
                <select id="oxvnc-compression" onchange={level(|v, l| v.compression = l)}>
                    { level_options("Server's choice", "fastest", "smallest", values.compression) }
                </select>
            </div>
            <div class="oxvnc-flags">
                <label><input type="checkbox" checked={values.encrypt} onchange={flag(|v, b| v.encrypt = b)}/>{ " Encrypt (wss://)" }</label>
                <label><input type="checkbox" checked={values.scale} onchange={flag(|v, b| v.scale = b)}/>{ " Scale to window" }</label>
                <label><input type="checkbox" checked={values.view_only} onchange={flag(|v, b| v.view_only = b)}/>{ " View only" }</label>
            </div>
            <details class="oxvnc-tls" open={tls_open}>
                <summary>{ "TLS: the VNC server's certificate" }</summary>
                <label for="oxvnc-tls-ca">{ "Server CA certificate (PEM)" }</label>
                <textarea id="oxvnc-tls-ca" rows="3" spellcheck="false" autocomplete="off"
                    placeholder={ if let Some(url) = &props.initial.ca_url { format!("fetched from {url}") } else { "-----BEGIN CERTIFICATE-----".to_string() } }
                    value={values.tls_ca.clone()} oninput={edit(|v, s| v.tls_ca = s, textarea_value)}/>
                <input id="oxvnc-tls-ca-file" type="file" aria-label="Upload the server CA certificate"
                    accept=".pem,.crt,.cer,application/x-pem-file,application/x-x509-ca-cert,text/plain" onchange={on_file}/>
                if let Some(message) = &*upload_error {
                    <p class="oxvnc-error" role="alert">{ message }</p>
                }
                <label for="oxvnc-tls-fingerprint">{ "Expected SHA-256 fingerprint" }</label>
                <input id="oxvnc-tls-fingerprint" type="text" autocomplete="off" spellcheck="false"
                    placeholder="AB:CD:… (optional)" value={values.tls_fingerprint.clone()}
                    oninput={text(|v, s| v.tls_fingerprint = s)}/>
                <p class="oxvnc-hint">{ "With neither, the console shows the certificate's fingerprint and asks whether to trust it." }</p>
            </details>
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::PageLocation;

    fn url_settings(query: &[(&str, &str)]) -> Settings {
        let page = PageLocation { protocol: "http:".into(), hostname: "relay".into(), port: "6080".into() };
        Settings::from_query(&page, query.iter().copied())
    }

    #[test]
    fn picture_and_compression_levels_round_trip_through_the_form() {
        let base = url_settings(&[("quality", "6"), ("compression", "2")]);
        let v = FormValues::from_settings(&base);
        assert_eq!((v.quality, v.compression), (Some(6), Some(2)));
        let s = v.apply(&base);
        assert_eq!((s.quality, s.compression, s.lossless), (Some(6), Some(2), false));

        // "Lossless" and "Server's choice": no quality level, and no lossy encoding at all.
        let s = FormValues { quality: None, compression: None, ..v }.apply(&base);
        assert_eq!((s.quality, s.compression, s.lossless), (None, None, true));
    }

    #[test]
    fn lossless_in_the_url_shows_as_lossless_whatever_the_quality() {
        let base = url_settings(&[("quality", "6"), ("lossless", "1")]);
        let v = FormValues::from_settings(&base);
        assert_eq!(v.quality, None);
        assert!(v.apply(&base).lossless);
    }
}
