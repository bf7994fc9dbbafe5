//! `oxvnc snapshot`: a native headless client around the engine. Connects, waits for one complete
//! full-screen update and writes the framebuffer as a PNG.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Args as ClapArgs;
use oxvnc_rfb::{
    Config, Connection, Credentials, Encoding, Error as RfbError, Event, PixelFormat, PixelFormatChoice, TlsConfig,
};

use crate::transport::Transport;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The VNC server: tcp://HOST:PORT, or through a websockify-compatible relay
    /// ws://HOST:PORT/PATH?token=TOKEN or wss://…
    #[arg(value_name = "TARGET")]
    target: String,
    /// Where to write the PNG
    #[arg(value_name = "OUT.png")]
    out: PathBuf,
    /// Encodings to offer, comma-separated, best first (raw, copyrect, rre, hextile, zrle, zlib,
    /// trle, tight, tightpng, jpeg); the pseudo-encodings are always offered
    #[arg(long, value_name = "LIST", env = "OXVNC_ENCODINGS", default_value = "zrle,hextile,rre,copyrect,raw")]
    encodings: String,
    /// JPEG quality level 0–9 to offer (Tight, TightPNG); without one servers send no JPEG and
    /// the snapshot is lossless
    #[arg(long, value_name = "N", env = "OXVNC_QUALITY", value_parser = clap::value_parser!(u8).range(0..=9))]
    quality: Option<u8>,
    /// Compression level 0–9 to offer (zlib effort for Tight, Zlib, ZRLE where the server heeds it)
    #[arg(long, value_name = "N", env = "OXVNC_COMPRESSION", value_parser = clap::value_parser!(u8).range(0..=9))]
    compression: Option<u8>,
    /// File whose first line is the VNC password
    #[arg(long, value_name = "FILE", env = "OXVNC_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
    /// Pixel format to ask the server for: rgbx32 (32 bpp, the default), rgb565 (16 bpp),
    /// rgb565be (16 bpp big-endian), bgr233 (8 bpp), native (whatever the server uses, including
    /// colour maps); the PNG is the same RGBA whichever is chosen
    #[arg(long, value_name = "FORMAT", env = "OXVNC_PIXEL_FORMAT", default_value = "rgbx32")]
    pixel_format: String,
    /// User name for security types that need one (VeNCrypt Plain, TLSPlain, X509Plain)
    #[arg(long, value_name = "NAME", env = "OXVNC_USERNAME")]
    username: Option<String>,
    /// PEM file of certificates to trust for wss:// (besides the usual public roots) and for the
    /// VNC server's own TLS (VeNCrypt X509*), which is then preferred
    #[arg(long, value_name = "FILE", env = "OXVNC_CA")]
    ca: Option<PathBuf>,
    /// Accept the VNC server's TLS certificate with this SHA-256 fingerprint (AB:CD:… as the
    /// error for an unverified certificate prints it), without a CA
    #[arg(long, value_name = "SHA256", env = "OXVNC_TLS_FINGERPRINT")]
    tls_fingerprint: Option<String>,
    /// Name the VNC server's TLS certificate must be issued for (default: the host of a tcp://
    /// target; not checked for ws:// targets unless given)
    #[arg(long, value_name = "NAME", env = "OXVNC_TLS_SERVER_NAME")]
    tls_server_name: Option<String>,
    /// Give up after this many seconds
    #[arg(long, value_name = "SECS", env = "OXVNC_TIMEOUT", default_value_t = 10.0)]
    timeout: f64,
}

/// Why a snapshot failed, mapped to distinct exit codes.
#[derive(Debug)]
enum Failure {
    Usage(anyhow::Error),
    Connect(anyhow::Error),
    Auth(RfbError),
    Protocol(anyhow::Error),
    Timeout(f64),
    Output(anyhow::Error),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Connect(_) => 3,
            Failure::Auth(_) => 4,
            Failure::Protocol(_) => 5,
            Failure::Timeout(_) => 6,
            Failure::Output(_) => 7,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Usage(e) | Failure::Connect(e) | Failure::Protocol(e) | Failure::Output(e) => write!(f, "{e:#}"),
            Failure::Auth(e) => write!(f, "{e}"),
            Failure::Timeout(secs) => write!(
                f,
                "timed out after {secs} s waiting for the server's screen (is it a VNC server? try a longer --timeout)"
            ),
        }
    }
}

pub fn main(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oxvnc snapshot: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok((w, h)) => {
            eprintln!("oxvnc snapshot: wrote {w}x{h} to {}", args.out.display());
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("oxvnc snapshot: {f}");
            ExitCode::from(f.code())
        }
    }
}

fn parse_pixel_format(name: &str) -> anyhow::Result<PixelFormatChoice> {
    Ok(match name {
        "rgbx32" => PixelFormatChoice::Rgbx32,
        "rgb565" => PixelFormatChoice::Custom(PixelFormat::RGB565),
        "rgb565be" => PixelFormatChoice::Custom(PixelFormat { big_endian: true, ..PixelFormat::RGB565 }),
        "bgr233" => PixelFormatChoice::Custom(PixelFormat::BGR233),
        "native" => PixelFormatChoice::ServerNative,
        other => bail!("unknown pixel format {other:?} (known: rgbx32, rgb565, rgb565be, bgr233, native)"),
    })
}

/// Parses a comma-separated encoding list.
fn parse_encodings(list: &str) -> anyhow::Result<Vec<Encoding>> {
    let encodings = list
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|name| {
            Encoding::from_name(name)
                .ok_or_else(|| anyhow!("unknown encoding {:?} (known: {})", name.trim(), Encoding::NAMES.join(", ")))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if encodings.is_empty() {
        bail!("--encodings is empty (known: {})", Encoding::NAMES.join(", "));
    }
    Ok(encodings)
}

fn read_password(path: &Path) -> anyhow::Result<Credentials> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the password file {}", path.display()))?;
    let password = text.lines().next().unwrap_or("").to_string();
    Ok(Credentials { username: None, password })
}

/// The engine's TLS settings for the VNC server's own TLS (VeNCrypt).
fn tls_config(args: &Args) -> anyhow::Result<TlsConfig> {
    let ca_pem = match &args.ca {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("cannot read the CA file {}", path.display()))?),
        None => None,
    };
    let pinned_sha256 = match &args.tls_fingerprint {
        Some(text) => Some(oxvnc_rfb::parse_fingerprint(text).ok_or_else(|| {
            anyhow!("--tls-fingerprint {text:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
        })?),
        None => None,
    };
    // tcp://HOST:PORT names the VNC server itself; a relay's host is not it.
    let tcp_host = args.target.strip_prefix("tcp://").and_then(|rest| {
        let host = rest.rsplit_once(':').map_or(rest, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (!host.is_empty()).then(|| host.to_string())
    });
    Ok(TlsConfig { ca_pem, server_name: args.tls_server_name.clone().or(tcp_host), pinned_sha256, prefer_tls: false })
}

async fn run(args: &Args) -> Result<(u16, u16), Failure> {
    let encodings = parse_encodings(&args.encodings).map_err(Failure::Usage)?;
    let mut credentials = args.password_file.as_deref().map(read_password).transpose().map_err(Failure::Usage)?;
    if let Some(c) = credentials.as_mut() {
        c.username = args.username.clone();
    }
    let tls = tls_config(args).map_err(Failure::Usage)?;
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return Err(Failure::Usage(anyhow!("--timeout must be a positive number of seconds")));
    }
    let pixel_format = parse_pixel_format(&args.pixel_format).map_err(Failure::Usage)?;
    let config = Config {
        credentials,
        pixel_format,
        quality: args.quality,
        compression: args.compression,
        tls,
        ..Config::default()
    }
    .with_encodings(&encodings);
    let work = async {
        let mut stream = Transport::connect(&args.target, args.ca.as_deref()).await.map_err(Failure::Connect)?;
        let mut conn = Connection::new(config);
        let have = (args.password_file.is_some(), args.username.is_some());
        let (w, h) = capture(&mut conn, &mut stream, have).await?;
        stream.close().await;
        write_png(&args.out, conn.framebuffer()).map_err(Failure::Output)?;
        Ok((w, h))
    };
    match tokio::time::timeout(Duration::from_secs_f64(args.timeout), work).await {
        Ok(r) => r,
        Err(_) => Err(Failure::Timeout(args.timeout)),
    }
}

/// Drives the connection until one complete full-screen update has arrived.
async fn capture(
    conn: &mut Connection,
    stream: &mut Transport,
    (have_password, have_username): (bool, bool),
) -> Result<(u16, u16), Failure> {
    let mut buf = Vec::new();
    // Servers may first answer with updates that carry only pseudo-rectangles (TigerVNC sends the
    // screen layout and cursor that way); the screen is complete once the pixel rectangles of the
    // updates since the last size change add up to the whole framebuffer.
    let mut covered = 0u64;
    let mut connected = false;
    loop {
        let n = stream
            .recv(&mut buf)
            .await
            .map_err(|e| Failure::Protocol(anyhow!("reading from the server failed: {e:#}")))?;
        if n == 0 {
            let during = if connected { "before sending its screen" } else { "during the handshake" };
            return Err(Failure::Protocol(anyhow!("the server closed the connection {during}")));
        }
        let result = conn.receive(&buf[..n]);
        while let Some(event) = conn.poll_event() {
            match event {
                Event::CredentialsRequired { username: true } if !have_password || !have_username => {
                    return Err(Failure::Usage(anyhow!(
                        "the server requires a user name and password: pass --username NAME and --password-file FILE"
                    )));
                }
                Event::CredentialsRequired { .. } if !have_password => {
                    return Err(Failure::Usage(anyhow!(
                        "the server requires a password: pass it with --password-file FILE"
                    )));
                }
                Event::CertificateUnknown { fingerprint_sha256 } => {
                    return Err(Failure::Auth(RfbError::Tls(format!(
                        "the server's certificate (SHA-256 fingerprint {fingerprint_sha256}) cannot be verified: pass the CA that signed it with --ca FILE, or trust this certificate with --tls-fingerprint {fingerprint_sha256}"
                    ))));
                }
                Event::Connected { .. } => connected = true,
                Event::Resized { .. } => {
                    // The new framebuffer starts black: ask for all of it.
                    conn.request_update(false, None);
                    covered = 0;
                }
                Event::UpdateComplete => {
                    covered += conn.last_update_area();
                    let fb = conn.framebuffer();
                    if covered >= fb.width() as u64 * fb.height() as u64 {
                        return Ok((fb.width(), fb.height()));
                    }
                }
                _ => {}
            }
        }
        if let Err(e) = result {
            return Err(match e {
                RfbError::AuthenticationFailed(_)
                | RfbError::TooManyAttempts
                | RfbError::CertificateUnknown { .. }
                | RfbError::CertificateNameMismatch { .. }
                | RfbError::CertificateExpired { .. }
                | RfbError::CertificatePinMismatch { .. }
                | RfbError::CertificateRejected { .. } => Failure::Auth(e),
                RfbError::ConnectionRefused(_) => Failure::Connect(anyhow!(e)),
                e => Failure::Protocol(anyhow!(e)),
            });
        }
        let out = conn.take_output();
        if !out.is_empty() {
            stream.send(&out).await.map_err(|e| Failure::Protocol(anyhow!("writing to the server failed: {e:#}")))?;
        }
    }
}

fn write_png(path: &Path, fb: &oxvnc_rfb::Framebuffer) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), fb.width() as u32, fb.height() as u32);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header().with_context(|| format!("cannot write {}", path.display()))?;
    writer.write_image_data(fb.data()).with_context(|| format!("cannot write {}", path.display()))?;
    writer.finish().with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_lists() {
        assert_eq!(parse_encodings("raw, copyrect").unwrap(), vec![Encoding::Raw, Encoding::CopyRect]);
        assert!(parse_encodings("raw,tightish").unwrap_err().to_string().contains("unknown encoding"));
        assert!(parse_encodings(",").is_err());
        assert_eq!(
            parse_encodings("tight,tightpng,zlib,trle,zrle").unwrap(),
            vec![Encoding::Tight, Encoding::TightPng, Encoding::Zlib, Encoding::Trle, Encoding::Zrle]
        );
    }

    #[test]
    fn quality_and_compression_levels() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let parse = |extra: &[&str]| {
            Cli::try_parse_from(["snapshot", "tcp://h:1", "out.png"].iter().chain(extra)).map(|c| c.args)
        };
        let a = parse(&["--quality", "6", "--compression", "0"]).unwrap();
        assert_eq!((a.quality, a.compression), (Some(6), Some(0)));
        let a = parse(&[]).unwrap();
        assert_eq!((a.quality, a.compression), (None, None));
        assert!(parse(&["--quality", "10"]).is_err());
        assert!(parse(&["--compression", "-1"]).is_err());
    }
}
