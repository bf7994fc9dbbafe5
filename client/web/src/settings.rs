//! Connection settings from the page URL, compatible with the parameters of noVNC's `vnc.html`
//! (`host`, `port`, `path`, `encrypt`, `password`, `autoconnect`, `view_only`, `resize`, `shared`,
//! `reconnect`, `reconnect_delay`, `quality`, `compression`, `show_dot`, `token`, `lossless`) plus
//! oxvnc's own for the VNC
//! server's TLS certificate (`ca`, `fingerprint`), and the WebSocket URL and the engine's TLS
//! settings they make. Pure code: the browser glue passes in the page's location and query pairs.

use oxvnc_rfb::{TlsConfig, parse_fingerprint};

/// How the remote screen is fitted into the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ResizeMode {
    /// One framebuffer pixel per CSS pixel; the screen area scrolls.
    #[default]
    Off,
    /// Scaled (CSS) to fit the screen area, keeping the aspect ratio.
    Scale,
    /// The server is asked to make its desktop the screen area's size in device pixels
    /// (SetDesktopSize; CSS size × `devicePixelRatio`, so HiDPI screens show it 1:1 and crisp),
    /// again after the window is resized. Servers that cannot resize are scaled as with `Scale`.
    Remote,
}

impl ResizeMode {
    /// `resize=` values, as noVNC's: `off`, `scale`, `remote`.
    pub fn parse(s: &str) -> Option<ResizeMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "none" | "" => Some(ResizeMode::Off),
            "scale" => Some(ResizeMode::Scale),
            "remote" => Some(ResizeMode::Remote),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResizeMode::Off => "off",
            ResizeMode::Scale => "scale",
            ResizeMode::Remote => "remote",
        }
    }

    /// Whether the canvas is fitted into the screen area (scaled by CSS when it does not match).
    pub fn fits(self) -> bool {
        self != ResizeMode::Off
    }
}

/// The page the console was loaded from: defaults for host, port and encryption.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PageLocation {
    /// `location.protocol`, e.g. `https:`.
    pub protocol: String,
    /// `location.hostname` (IPv6 literals in brackets, as browsers give them).
    pub hostname: String,
    /// `location.port`; empty for the scheme's default port.
    pub port: String,
}

/// Whether the page at `pathname` connects without being asked: noVNC's `vnc_lite.html` and
/// `vnc_auto.html` do, and deployments link to them (nova's `novncproxy_base_url`, with the token
/// as `?path=%3Ftoken%3D…`); `oxvnc serve --web` serves the console under those names too.
pub fn autoconnects_by_name(pathname: &str) -> bool {
    let name = pathname.rsplit('/').next().unwrap_or_default();
    name.eq_ignore_ascii_case("vnc_lite.html") || name.eq_ignore_ascii_case("vnc_auto.html")
}

impl PageLocation {
    pub fn is_https(&self) -> bool {
        self.protocol.eq_ignore_ascii_case("https:")
    }

    /// The page's own port, or the scheme's default.
    pub fn effective_port(&self) -> String {
        if !self.port.is_empty() {
            self.port.clone()
        } else if self.is_https() {
            "443".into()
        } else {
            "80".into()
        }
    }
}

/// Everything needed to open one console session.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub host: String,
    pub port: String,
    /// WebSocket path without the leading slash; may carry a query (`websockify?token=…`).
    pub path: String,
    /// wss:// instead of ws://.
    pub encrypt: bool,
    pub password: Option<String>,
    pub autoconnect: bool,
    pub view_only: bool,
    pub resize: ResizeMode,
    pub shared: bool,
    pub reconnect: bool,
    /// Milliseconds between a lost connection and the next attempt.
    pub reconnect_delay_ms: u32,
    /// Show a small dot when the server hides its cursor.
    pub show_dot: bool,
    /// websockify / nova-novncproxy token, sent as `?token=` on the WebSocket URL.
    pub token: Option<String>,
    /// Ask for lossless pixels only: no JPEG encoding and no quality level is offered, whatever
    /// `quality` says.
    pub lossless: bool,
    /// JPEG quality level 0–9 offered to the server (`quality=`); `None` offers none, so Tight
    /// servers send lossless pictures.
    pub quality: Option<u8>,
    /// Compression level 0–9 offered to the server (`compression=`); `None` leaves it to the
    /// server.
    pub compression: Option<u8>,
    /// `ca=`: the URL of a PEM file with the CA certificate(s) the VNC server's TLS certificate
    /// must be signed by; the page fetches it before connecting (into `tls_ca`).
    pub ca_url: Option<String>,
    /// The CA certificate(s) as PEM text (pasted or uploaded in the form, `tlsCa` of the
    /// embedding API, or fetched from `ca_url`).
    pub tls_ca: Option<String>,
    /// `fingerprint=`: the SHA-256 fingerprint of the VNC server's certificate, as given (hex,
    /// with or without colons). That certificate is accepted without asking, any other refused.
    pub tls_fingerprint: Option<String>,
}

/// noVNC's default pause before reconnecting.
pub const DEFAULT_RECONNECT_DELAY_MS: u32 = 5000;

/// The longest pause between reconnect attempts (unless `reconnect_delay` itself is longer).
pub const MAX_RECONNECT_DELAY_MS: u32 = 60_000;

/// The pause before reconnect attempt `attempt` (0 for the first after a session ended):
/// `reconnect_delay` doubled for every attempt that failed since the desktop was last on screen,
/// at most [`MAX_RECONNECT_DELAY_MS`] (or `base` when that is longer).
pub fn reconnect_backoff(base_ms: u32, attempt: u32) -> u32 {
    let factor = 1u32 << attempt.min(20);
    base_ms.saturating_mul(factor).min(MAX_RECONNECT_DELAY_MS.max(base_ms))
}

impl Settings {
    /// Defaults for a page at `page`: same host and port, path `websockify`, encrypted when the
    /// page is.
    pub fn defaults(page: &PageLocation) -> Settings {
        Settings {
            host: page.hostname.clone(),
            port: page.effective_port(),
            path: "websockify".into(),
            encrypt: page.is_https(),
            password: None,
            autoconnect: false,
            view_only: false,
            resize: ResizeMode::Off,
            shared: true,
            reconnect: false,
            reconnect_delay_ms: DEFAULT_RECONNECT_DELAY_MS,
            show_dot: false,
            token: None,
            lossless: false,
            quality: None,
            compression: None,
            ca_url: None,
            tls_ca: None,
            tls_fingerprint: None,
        }
    }

    /// Defaults for `page`, overridden by the query parameters `pairs` (already URL-decoded).
    /// Unknown parameters and unparsable values are ignored (the default stays).
    pub fn from_query<'a, I>(page: &PageLocation, pairs: I) -> Settings
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut s = Settings::defaults(page);
        for (key, value) in pairs {
            match key {
                "host" if !value.trim().is_empty() => s.host = value.trim().to_string(),
                "port" if valid_port(value) => s.port = value.trim().to_string(),
                "path" => s.path = value.trim().trim_start_matches('/').to_string(),
                "encrypt" => set_bool(&mut s.encrypt, value),
                "password" => s.password = Some(value.to_string()),
                "autoconnect" => set_bool(&mut s.autoconnect, value),
                "view_only" => set_bool(&mut s.view_only, value),
                "resize" => {
                    if let Some(m) = ResizeMode::parse(value) {
                        s.resize = m;
                    }
                }
                "shared" => set_bool(&mut s.shared, value),
                "reconnect" => set_bool(&mut s.reconnect, value),
                "reconnect_delay" => {
                    if let Ok(ms) = value.trim().parse::<u32>() {
                        s.reconnect_delay_ms = ms;
                    }
                }
                "quality" => set_level(&mut s.quality, value),
                "compression" => set_level(&mut s.compression, value),
                "show_dot" => set_bool(&mut s.show_dot, value),
                "token" if !value.is_empty() => s.token = Some(value.to_string()),
                "lossless" => set_bool(&mut s.lossless, value),
                "ca" => s.ca_url = non_empty(value),
                "fingerprint" => s.tls_fingerprint = non_empty(value),
                _ => {}
            }
        }
        s
    }

    /// `ws://host:port/path` (or `wss://`), with `token=` added to the query when a token is set
    /// and the path does not carry one already.
    pub fn websocket_url(&self) -> Result<String, String> {
        let host = self.host.trim();
        if host.is_empty() {
            return Err("Enter the host name of the relay.".into());
        }
        if host.contains(['/', '?', '#', '@', ' ']) {
            return Err(format!(
                "\"{host}\" is not a host name; enter only the name or address, without a scheme or path."
            ));
        }
        if !valid_port(&self.port) {
            return Err(format!("\"{}\" is not a port number; enter a number from 1 to 65535.", self.port));
        }
        // A bare IPv6 address needs brackets in a URL.
        let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() };
        let scheme = if self.encrypt { "wss" } else { "ws" };
        let mut path = self.path.trim().trim_start_matches('/').to_string();
        if let Some(token) = &self.token {
            let has_token = path
                .split_once('?')
                .is_some_and(|(_, q)| q.split('&').any(|kv| kv == "token" || kv.starts_with("token=")));
            if !has_token {
                path.push(if path.contains('?') { '&' } else { '?' });
                path.push_str("token=");
                path.push_str(&encode_component(token));
            }
        }
        Ok(format!("{scheme}://{host}:{}/{path}", self.port.trim()))
    }
}

/// The largest CA file the page accepts (a CA bundle of a few hundred certificates fits).
pub const MAX_CA_BYTES: usize = 1 << 20;

impl Settings {
    /// How the engine checks the VNC server's TLS certificate: against `tls_ca`, or the pinned
    /// `tls_fingerprint` (which wins when both are given), or — with neither — by asking the
    /// person, showing the fingerprint. The certificate's name is not checked: the page only
    /// knows the relay's name, not the VNC server's. `Err` is a sentence for the page.
    pub fn tls_config(&self) -> Result<TlsConfig, String> {
        let pinned_sha256 = match self.tls_fingerprint.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            None => None,
            Some(text) => Some(parse_fingerprint(text).ok_or_else(|| fingerprint_error(text))?),
        };
        let ca_pem = match self.tls_ca.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(pem) => {
                check_ca_pem(pem)?;
                Some(pem.as_bytes().to_vec())
            }
        };
        Ok(TlsConfig { ca_pem, server_name: None, pinned_sha256, prefer_tls: false })
    }

    /// The CA still has to be fetched from `ca_url` before connecting.
    pub fn needs_ca_fetch(&self) -> bool {
        self.ca_url.is_some() && self.tls_ca.as_deref().is_none_or(|c| c.trim().is_empty())
    }
}

/// Why `text` is not a SHA-256 fingerprint, as a sentence.
pub fn fingerprint_error(text: &str) -> String {
    let shown: String = text.trim().chars().take(120).collect();
    format!(
        "\"{shown}\" is not a SHA-256 certificate fingerprint: give the 64 hexadecimal digits (colons between \
         pairs are allowed), as `openssl x509 -noout -fingerprint -sha256` prints them."
    )
}

/// Checks that `pem` looks like PEM certificates (the TLS module parses them for real); `Err` is
/// a sentence for the page.
pub fn check_ca_pem(pem: &str) -> Result<(), String> {
    if pem.len() > MAX_CA_BYTES {
        return Err(format!(
            "The server CA certificate is {} bytes long, more than the {MAX_CA_BYTES} this console accepts.",
            pem.len()
        ));
    }
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err("The server CA certificate is not a PEM certificate: it must contain a block that starts with \
                    -----BEGIN CERTIFICATE-----."
            .into());
    }
    Ok(())
}

fn non_empty(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// `quality=` and `compression=`: a level 0–9 as in noVNC; anything else keeps the default.
fn set_level(field: &mut Option<u8>, value: &str) {
    if let Ok(level @ 0..=9) = value.trim().parse::<u8>() {
        *field = Some(level);
    }
}

fn valid_port(s: &str) -> bool {
    s.trim().parse::<u16>().is_ok_and(|p| p != 0)
}

/// noVNC reads `1`/`true`/`yes`/`on` as true and `0`/`false`/`no`/`off` as false.
fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn set_bool(field: &mut bool, value: &str) {
    if let Some(b) = parse_bool(value) {
        *field = b;
    }
}

/// The desktop size to ask the server for in `resize=remote`: the screen area's CSS size times
/// the device pixel ratio, rounded, within 1..=`max` on each side; `None` when the area has no
/// usable size (hidden, not laid out yet).
pub fn remote_size(css_w: f64, css_h: f64, device_pixel_ratio: f64, max: u16) -> Option<(u16, u16)> {
    let dpr = if device_pixel_ratio.is_finite() && device_pixel_ratio > 0.0 { device_pixel_ratio } else { 1.0 };
    let side = |css: f64| -> Option<u16> {
        let px = (css * dpr).round();
        (px.is_finite() && px >= 1.0).then(|| px.min(f64::from(max)) as u16)
    };
    Some((side(css_w)?, side(css_h)?))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(protocol: &str, host: &str, port: &str) -> PageLocation {
        PageLocation { protocol: protocol.into(), hostname: host.into(), port: port.into() }
    }

    #[test]
    fn the_pages_novnc_links_to_connect_at_once() {
        assert!(autoconnects_by_name("/vnc_lite.html"));
        assert!(autoconnects_by_name("/console/vnc_auto.html"));
        assert!(!autoconnects_by_name("/vnc.html"));
        assert!(!autoconnects_by_name("/"));
        assert!(!autoconnects_by_name("/vnc_lite.html/other"));
        // nova's link: the token inside `path`, as noVNC 1.1+ takes it.
        let s = Settings::from_query(&page("http:", "relay", "6080"), [("autoconnect", "1"), ("path", "?token=abc")]);
        assert!(s.autoconnect);
        assert_eq!(s.websocket_url().unwrap(), "ws://relay:6080/?token=abc");
    }

    #[test]
    fn defaults_follow_the_page() {
        let s = Settings::defaults(&page("http:", "127.0.0.1", "6080"));
        assert_eq!(s.websocket_url().unwrap(), "ws://127.0.0.1:6080/websockify");
        let s = Settings::defaults(&page("https:", "console.example", ""));
        assert_eq!(s.port, "443");
        assert!(s.encrypt);
        assert_eq!(s.websocket_url().unwrap(), "wss://console.example:443/websockify");
        assert_eq!(Settings::defaults(&page("http:", "h", "")).port, "80");
    }

    #[test]
    fn novnc_parameters() {
        let p = page("http:", "relay", "6080");
        let s = Settings::from_query(
            &p,
            [
                ("host", "10.0.0.5"),
                ("port", "6090"),
                ("path", "/vnc/websockify"),
                ("encrypt", "1"),
                ("password", "secret"),
                ("autoconnect", "true"),
                ("view_only", "yes"),
                ("resize", "scale"),
                ("shared", "0"),
                ("reconnect", "1"),
                ("reconnect_delay", "250"),
                ("show_dot", "on"),
                ("lossless", "1"),
                ("quality", "6"),
                ("compression", " 0 "),
                ("unknown", "x"),
            ],
        );
        assert_eq!(s.host, "10.0.0.5");
        assert_eq!(s.port, "6090");
        assert_eq!(s.path, "vnc/websockify");
        assert!(s.encrypt && s.autoconnect && s.view_only && s.reconnect && s.show_dot && s.lossless);
        assert!(!s.shared);
        assert_eq!(s.password.as_deref(), Some("secret"));
        assert_eq!(s.resize, ResizeMode::Scale);
        assert_eq!(s.reconnect_delay_ms, 250);
        assert_eq!((s.quality, s.compression), (Some(6), Some(0)));
        assert_eq!(s.websocket_url().unwrap(), "wss://10.0.0.5:6090/vnc/websockify");
    }

    #[test]
    fn bad_values_keep_defaults() {
        let p = page("http:", "relay", "6080");
        let s = Settings::from_query(
            &p,
            [
                ("port", "70000"),
                ("resize", "sideways"),
                ("encrypt", "maybe"),
                ("reconnect_delay", "-1"),
                ("host", " "),
                ("quality", "10"),
                ("compression", "-1"),
                ("quality", "high"),
            ],
        );
        assert_eq!(s, Settings::defaults(&p));
        // `autoconnect` with no value (`?autoconnect`) means true, as in noVNC.
        assert!(Settings::from_query(&p, [("autoconnect", "")]).autoconnect);
        assert_eq!(ResizeMode::parse("remote"), Some(ResizeMode::Remote));
        assert_eq!(ResizeMode::parse(" Scale "), Some(ResizeMode::Scale));
        assert!(ResizeMode::Remote.fits() && ResizeMode::Scale.fits() && !ResizeMode::Off.fits());
    }

    #[test]
    fn remote_size_is_css_times_device_pixels() {
        assert_eq!(remote_size(1400.0, 860.0, 1.0, 16384), Some((1400, 860)));
        assert_eq!(remote_size(1000.0, 650.5, 2.0, 16384), Some((2000, 1301)));
        assert_eq!(remote_size(1280.0, 720.0, 1.25, 16384), Some((1600, 900)));
        assert_eq!(remote_size(9000.0, 100.0, 3.0, 16384), Some((16384, 300)));
        assert_eq!(remote_size(800.0, 600.0, f64::NAN, 16384), Some((800, 600)));
        assert_eq!(remote_size(0.0, 600.0, 1.0, 16384), None);
        assert_eq!(remote_size(800.0, f64::INFINITY, 1.0, 16384), None);
    }

    #[test]
    fn reconnect_backs_off_exponentially() {
        assert_eq!(reconnect_backoff(3000, 0), 3000);
        assert_eq!(reconnect_backoff(3000, 1), 6000);
        assert_eq!(reconnect_backoff(3000, 2), 12000);
        assert_eq!(reconnect_backoff(3000, 4), 48000);
        assert_eq!(reconnect_backoff(3000, 5), MAX_RECONNECT_DELAY_MS);
        assert_eq!(reconnect_backoff(3000, u32::MAX), MAX_RECONNECT_DELAY_MS);
        assert_eq!(reconnect_backoff(0, 7), 0);
        // A delay longer than the cap is kept as it is.
        assert_eq!(reconnect_backoff(90_000, 3), 90_000);
        assert_eq!(reconnect_backoff(u32::MAX, 3), u32::MAX);
    }

    #[test]
    fn token_goes_into_the_query() {
        let p = page("http:", "relay", "6080");
        let s = Settings::from_query(&p, [("token", "a b/c&d")]);
        assert_eq!(s.websocket_url().unwrap(), "ws://relay:6080/websockify?token=a%20b%2Fc%26d");
        let s = Settings::from_query(&p, [("token", "t1"), ("path", "websockify?x=1")]);
        assert_eq!(s.websocket_url().unwrap(), "ws://relay:6080/websockify?x=1&token=t1");
        // nova puts the token in the path itself; it is not added twice.
        let s = Settings::from_query(&p, [("token", "t1"), ("path", "websockify?token=t2")]);
        assert_eq!(s.websocket_url().unwrap(), "ws://relay:6080/websockify?token=t2");
    }

    const FP: &str = "00:07:0E:15:1C:23:2A:31:38:3F:46:4D:54:5B:62:69:70:77:7E:85:8C:93:9A:A1:A8:AF:B6:BD:C4:CB:D2:D9";

    fn fp_bytes() -> [u8; 32] {
        core::array::from_fn(|i| (i * 7) as u8)
    }

    #[test]
    fn tls_parameters() {
        let p = page("http:", "relay", "6080");
        let s = Settings::from_query(&p, [("ca", " /pki/ca.pem "), ("fingerprint", FP)]);
        assert_eq!(s.ca_url.as_deref(), Some("/pki/ca.pem"));
        assert!(s.needs_ca_fetch());
        let tls = s.tls_config().unwrap();
        assert_eq!(tls.pinned_sha256, Some(fp_bytes()));
        assert_eq!(tls.ca_pem, None);
        assert_eq!(tls.server_name, None);
        // A pinned fingerprint makes VeNCrypt preferred over the clear security types.
        assert!(tls.prefers_tls());

        // Lower case, no colons; and with spaces around.
        let bare = FP.replace(':', "").to_lowercase();
        let s = Settings::from_query(&p, [("fingerprint", format!(" {bare} ").as_str())]);
        assert_eq!(s.tls_config().unwrap().pinned_sha256, Some(fp_bytes()));

        // Nothing given: trust on first use, the clear types are not passed over.
        let s = Settings::from_query(&p, [("ca", ""), ("fingerprint", " ")]);
        assert_eq!(s, Settings::defaults(&p));
        assert!(!s.needs_ca_fetch());
        let tls = s.tls_config().unwrap();
        assert_eq!(tls, TlsConfig::default());
        assert!(!tls.prefers_tls());
    }

    #[test]
    fn a_bad_fingerprint_is_an_error_not_ignored() {
        let p = page("http:", "relay", "6080");
        for bad in [&FP[3..], "sha256:xyz", &FP.replace("0E", "0G"), "12345"] {
            let s = Settings::from_query(&p, [("fingerprint", bad)]);
            let e = s.tls_config().unwrap_err();
            assert!(e.contains("is not a SHA-256 certificate fingerprint"), "{e}");
            assert!(e.contains(bad.trim()), "{e}");
        }
        // A very long value is shortened in the message.
        let long = "a".repeat(10_000);
        let e = Settings::from_query(&p, [("fingerprint", long.as_str())]).tls_config().unwrap_err();
        assert!(e.len() < 400, "{e}");
    }

    #[test]
    fn ca_pem_is_checked() {
        let p = page("http:", "relay", "6080");
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let mut s = Settings::from_query(&p, [("ca", "ca.pem")]);
        s.tls_ca = Some(pem.into());
        assert!(!s.needs_ca_fetch());
        let tls = s.tls_config().unwrap();
        assert_eq!(tls.ca_pem.as_deref(), Some(pem.trim().as_bytes()));
        assert!(tls.prefers_tls());

        s.tls_ca = Some("hello".into());
        assert!(s.tls_config().unwrap_err().contains("not a PEM certificate"));
        s.tls_ca = Some(format!("{pem}{}", "x".repeat(MAX_CA_BYTES)));
        assert!(s.tls_config().unwrap_err().contains("more than the"));
        // Only blanks: no CA (a form's empty text area).
        s.tls_ca = Some("  \n".into());
        assert_eq!(s.tls_config().unwrap().ca_pem, None);
        assert!(s.needs_ca_fetch());
    }

    #[test]
    fn url_errors_and_ipv6() {
        let p = page("http:", "", "");
        assert!(Settings::defaults(&p).websocket_url().is_err());
        let mut s = Settings::defaults(&page("http:", "relay", "6080"));
        s.host = "ws://relay".into();
        assert!(s.websocket_url().is_err());
        s.host = "::1".into();
        assert_eq!(s.websocket_url().unwrap(), "ws://[::1]:6080/websockify");
        s.host = "[::1]".into();
        assert_eq!(s.websocket_url().unwrap(), "ws://[::1]:6080/websockify");
        s.port = "0".into();
        assert!(s.websocket_url().is_err());
    }
}
