//! `oxvnc websockify …` (or the binary run under the name `websockify`): websockify's own command
//! line, so a service unit or script that starts websockify can start oxvnc unchanged.
//!
//! The arguments are read as websockify 0.13 reads them and become the equivalent `oxvnc serve`
//! arguments, which are then parsed and checked as usual (so every `OXVNC_*` variable still
//! applies, e.g. `OXVNC_ALLOWED_ORIGINS`). What oxvnc does differently, or not at all, is an
//! error that names the option, never silently ignored: a relay that quietly dropped
//! `--ssl-ciphers` or an auth plugin would be less safe than the websockify it replaced.

use std::path::{Path, PathBuf};

use clap::{Args as ClapArgs, Parser};

/// websockify's options (0.13), with its spellings; `--opt=VALUE` and `--opt VALUE` both work.
#[derive(ClapArgs, Debug, Default)]
#[command(after_help = "\
Runs `oxvnc serve` with what these options mean: a source without an address listens on every \
IPv4 interface (and IPv6 too with -6), as websockify does; the token plugins TokenFile and \
ReadOnlyTokenFile (or --target-config), TokenFileName, TokenRedis, UnixDomainSocketDirectory, \
BaseTokenAPI / JSONTokenApi and JWTTokenApi become --token-file, --token-dir, --token-redis, \
--token-socket-dir, --token-api and --token-jwt (signed tokens only: encrypted JWTs are refused); the certificate (self.pem unless --cert) is used when the file exists. Unlike websockify, oxvnc checks \
each WebSocket's Origin: pages from the relay's own host are accepted, others only when listed in \
OXVNC_ALLOWED_ORIGINS. Options oxvnc does not implement (daemon, record, wrap and inetd modes, \
the ClientCertCNAuth plugin, syslog, TLS client certificates and cipher lists, ...) are refused with a message \
rather than ignored. See `oxvnc serve --help` for the relay itself.")]
pub struct Args {
    /// verbose messages (oxvnc's debug log)
    #[arg(short, long)]
    verbose: bool,
    /// per frame traffic (not implemented: refused)
    #[arg(long)]
    traffic: bool,
    /// record sessions to FILE.[session_number] (not implemented: refused)
    #[arg(long, value_name = "FILE")]
    record: Option<String>,
    /// become a daemon (not implemented: refused; run it under a service manager)
    #[arg(short = 'D', long)]
    daemon: bool,
    /// handle a single WebSocket connection and exit (not implemented: refused)
    #[arg(long)]
    run_once: bool,
    /// exit after TIMEOUT seconds when not connected (not implemented: refused)
    #[arg(long, value_name = "TIMEOUT")]
    timeout: Option<String>,
    /// exit after TIMEOUT seconds without active connections (not implemented: refused; oxvnc
    /// serve --idle-timeout closes idle sessions instead)
    #[arg(long, value_name = "IDLE_TIMEOUT")]
    idle_timeout: Option<String>,
    /// SSL certificate file, PEM; used when it exists
    #[arg(long, value_name = "CERT", default_value = "self.pem")]
    cert: PathBuf,
    /// SSL key file (if separate from cert)
    #[arg(long, value_name = "KEY")]
    key: Option<PathBuf>,
    /// SSL key password (not implemented: refused; give an unencrypted key)
    #[arg(long, value_name = "KEY_PASSWORD")]
    key_password: Option<String>,
    /// disallow non-encrypted client connections
    #[arg(long)]
    ssl_only: bool,
    /// connect to SSL target as SSL client (not implemented: refused)
    #[arg(long)]
    ssl_target: bool,
    /// require client certificates (not implemented: refused)
    #[arg(long)]
    verify_client: bool,
    /// certificate authorities for --verify-client (not implemented: refused)
    #[arg(long, value_name = "FILE")]
    cafile: Option<String>,
    /// minimum TLS version: default, tlsv1_1 and tlsv1_2 are accepted (oxvnc's TLS is 1.2 or
    /// newer); tlsv1_3 is refused
    #[arg(long, value_name = "SSL_VERSION")]
    ssl_version: Option<String>,
    /// cipher list (not implemented: refused; rustls offers only its own safe suites)
    #[arg(long, value_name = "SSL_CIPHERS")]
    ssl_ciphers: Option<String>,
    /// listen to unix socket (then no [source_addr:]source_port is given)
    #[arg(long, value_name = "FILE")]
    unix_listen: Option<String>,
    /// mode of --unix-listen's socket, octal (default 600)
    #[arg(long, value_name = "UNIX_LISTEN_MODE")]
    unix_listen_mode: Option<String>,
    /// connect to unix socket target
    #[arg(long, value_name = "FILE")]
    unix_target: Option<PathBuf>,
    /// inetd mode (not implemented: refused)
    #[arg(long)]
    inetd: bool,
    /// run webserver on same port. Serve files from DIR
    #[arg(long, value_name = "DIR")]
    web: Option<PathBuf>,
    /// require authentication to access webserver (with BasicHTTPAuth)
    #[arg(long)]
    web_auth: bool,
    /// action when the wrapped program exits (not implemented: refused)
    #[arg(long, value_name = "MODE")]
    wrap_mode: Option<String>,
    /// prefer IPv6 when resolving source_addr; with no source_addr, listen on IPv6 too
    #[arg(short = '6', long)]
    prefer_ipv6: bool,
    /// use Python library SocketServer engine (no effect)
    #[arg(long)]
    libserver: bool,
    /// token file or directory (deprecated in websockify: --token-plugin TokenFile)
    #[arg(long, value_name = "FILE")]
    target_config: Option<PathBuf>,
    /// TokenFile, ReadOnlyTokenFile, TokenFileName, TokenRedis, UnixDomainSocketDirectory,
    /// BaseTokenAPI, JSONTokenApi or JWTTokenApi (others are refused)
    #[arg(long, value_name = "CLASS")]
    token_plugin: Option<String>,
    /// the token plugin's argument: the token file or directory, the Redis source, the
    /// directory of Unix sockets or of token files, the token service's URL with %s, or the JWT
    /// key file
    #[arg(long, value_name = "ARG")]
    token_source: Option<String>,
    /// use the Host header as token instead of the token URL query parameter
    #[arg(long)]
    host_token: bool,
    /// auth plugin: BasicHTTPAuth or ExpectOrigin (others are refused)
    #[arg(long, value_name = "CLASS")]
    auth_plugin: Option<String>,
    /// the auth plugin's argument: USER:PASSWORD, or the allowed origins separated by spaces
    #[arg(long, value_name = "ARG")]
    auth_source: Option<String>,
    /// send a ping to the client every INTERVAL seconds
    #[arg(long, value_name = "INTERVAL")]
    heartbeat: Option<String>,
    /// file where logs will be saved (appended)
    #[arg(long, value_name = "FILE")]
    log_file: Option<String>,
    /// log to syslog (not implemented: refused)
    #[arg(long, value_name = "SERVER")]
    syslog: Option<String>,
    /// old syslog protocol (not implemented: refused)
    #[arg(long)]
    legacy_syslog: bool,
    /// disable directory listings (oxvnc never lists directories)
    #[arg(long)]
    file_only: bool,
    /// [source_addr:]source_port [target_addr:target_port]
    #[arg(value_name = "ADDR", num_args = 0..)]
    addrs: Vec<String>,
    /// -- WRAP_COMMAND_LINE (not implemented: refused)
    #[arg(last = true, value_name = "WRAP_COMMAND_LINE")]
    wrap: Vec<String>,
}

/// `oxvnc serve`'s options alone, to parse what [`serve_args`] made.
#[derive(Parser, Debug)]
#[command(name = "oxvnc serve")]
struct Serve {
    #[command(flatten)]
    args: crate::serve::Args,
}

/// Runs the relay as websockify would have run with these options; a usage error exits with 2.
pub fn main(args: Args) -> std::process::ExitCode {
    let argv = match serve_args(&args, |p| p.is_file()) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("oxvnc websockify: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match Serve::try_parse_from(std::iter::once("oxvnc serve".to_string()).chain(argv)) {
        Ok(serve) => crate::serve::main(serve.args),
        Err(e) => {
            let _ = e.print();
            std::process::ExitCode::from(2)
        }
    }
}

/// The `oxvnc serve` arguments that do what websockify does with `a`; `exists` tells whether a
/// certificate file is there (websockify uses its default `self.pem` only then).
pub fn serve_args(a: &Args, exists: impl Fn(&Path) -> bool) -> Result<Vec<String>, String> {
    refuse_unimplemented(a)?;
    let mut out = Vec::new();
    let mut addrs = a.addrs.iter();
    if let Some(socket) = &a.unix_listen {
        out.extend(["--listen".to_string(), format!("unix:{socket}")]);
        out.extend(["--unix-mode".to_string(), a.unix_listen_mode.clone().unwrap_or_else(|| "600".into())]);
    } else {
        if a.unix_listen_mode.is_some() {
            return Err("--unix-listen-mode needs --unix-listen".into());
        }
        let source = addrs.next().ok_or("too few arguments: give [source_addr:]source_port")?;
        for listen in listen_specs(source, a.prefer_ipv6)? {
            out.extend(["--listen".to_string(), listen]);
        }
    }
    if let Some(web) = &a.web {
        out.extend(["--web".to_string(), path_arg(web)?]);
    }
    out.extend(auth_args(a)?);

    // The target: a token plugin, a unix socket, or target_addr:target_port.
    let plugin = match (&a.token_plugin, &a.target_config) {
        (Some(_), Some(_)) => return Err("give --token-plugin or --target-config, not both".into()),
        (Some(p), None) => Some(class_name(p).to_string()),
        (None, Some(_)) => Some("TokenFile".to_string()),
        (None, None) => None,
    };
    let source_arg = match (&a.target_config, &a.token_source) {
        (Some(file), _) => Some(path_arg(file)?),
        (None, Some(s)) => Some(s.clone()),
        (None, None) => None,
    };
    if a.token_source.is_some() && a.token_plugin.is_none() {
        return Err("--token-source needs --token-plugin".into());
    }
    if a.host_token && plugin.is_none() {
        return Err("--host-token needs --token-plugin".into());
    }
    let remaining: Vec<&String> = addrs.collect();
    if let Some(plugin) = plugin {
        let source = source_arg.ok_or_else(|| format!("--token-plugin {plugin} needs --token-source"))?;
        match plugin.as_str() {
            // ReadOnlyTokenFile reads the file once; oxvnc re-reads it when it changes, which
            // only adds tokens sooner.
            "TokenFile" | "ReadOnlyTokenFile" => out.extend(["--token-file".to_string(), source]),
            "TokenRedis" => out.extend(["--token-redis".to_string(), source]),
            "UnixDomainSocketDirectory" => out.extend(["--token-socket-dir".to_string(), source]),
            "TokenFileName" => out.extend(["--token-dir".to_string(), source]),
            "BaseTokenAPI" => out.extend(["--token-api".to_string(), source]),
            "JSONTokenApi" => out.extend(["--token-api".to_string(), source, "--token-api-json".to_string()]),
            "JWTTokenApi" => out.extend(["--token-jwt".to_string(), source]),
            other => {
                return Err(format!(
                    "--token-plugin {other} is not implemented; oxvnc reads TokenFile, ReadOnlyTokenFile, \
                     TokenFileName, TokenRedis, UnixDomainSocketDirectory, BaseTokenAPI, JSONTokenApi and \
                     JWTTokenApi"
                ));
            }
        }
        if a.host_token {
            out.push("--host-token".into());
        }
        if a.unix_target.is_some() {
            return Err("give --token-plugin or --unix-target, not both".into());
        }
        if !remaining.is_empty() {
            return Err("too many arguments: a token plugin chooses the target".into());
        }
    } else if let Some(socket) = &a.unix_target {
        out.extend(["--vnc".to_string(), format!("unix_socket:{}", path_arg(socket)?)]);
        if !remaining.is_empty() {
            return Err("too many arguments: --unix-target is the target".into());
        }
    } else {
        match remaining.as_slice() {
            [] => return Err("too few arguments: give target_addr:target_port (or --token-plugin)".into()),
            [target] => out.extend(["--vnc".to_string(), target_spec(target)?]),
            _ => return Err("too many arguments".into()),
        }
    }

    // TLS: websockify uses the certificate when its file exists.
    if exists(&a.cert) {
        let key = a.key.as_ref().unwrap_or(&a.cert);
        out.extend(["--cert".to_string(), path_arg(&a.cert)?, "--key".to_string(), path_arg(key)?]);
        if a.ssl_only {
            out.push("--ssl-only".into());
        }
    } else if a.ssl_only {
        return Err(format!("SSL only and {} not found", a.cert.display()));
    } else if a.key.is_some() {
        return Err(format!("--key without a certificate: {} not found", a.cert.display()));
    }
    if let Some(v) = &a.ssl_version {
        match v.as_str() {
            "default" | "tlsv1_1" | "tlsv1_2" => {}
            other => return Err(format!("--ssl-version {other} is not implemented (oxvnc accepts TLS 1.2 and 1.3)")),
        }
    }
    if let Some(h) = &a.heartbeat {
        out.extend(["--heartbeat".to_string(), h.clone()]);
    }
    if a.verbose {
        out.extend(["--log".to_string(), "debug".to_string()]);
    }
    if let Some(file) = &a.log_file {
        out.extend(["--log-file".to_string(), file.clone()]);
    }
    Ok(out)
}

/// A plugin's class name: websockify takes `TokenFile` and `websockify.token_plugins.TokenFile`
/// alike.
fn class_name(plugin: &str) -> &str {
    plugin.rsplit('.').next().unwrap_or(plugin)
}

/// websockify's auth plugins BasicHTTPAuth (`--auth-source USER:PASSWORD`) and ExpectOrigin
/// (`--auth-source "ORIGIN ..."`), and `--web-auth`, as `oxvnc serve` options.
fn auth_args(a: &Args) -> Result<Vec<String>, String> {
    let plugin = a.auth_plugin.as_deref().map(class_name);
    if a.auth_source.is_some() && plugin.is_none() {
        return Err("--auth-source needs --auth-plugin".into());
    }
    if a.web_auth && plugin.is_none() {
        return Err("--web-auth needs --auth-plugin".into());
    }
    if a.web_auth && a.web.is_none() {
        return Err("--web-auth needs --web".into());
    }
    let mut out = Vec::new();
    match plugin {
        None => {}
        Some("BasicHTTPAuth") => {
            let source =
                a.auth_source.as_deref().ok_or("--auth-plugin BasicHTTPAuth needs --auth-source USER:PASSWORD")?;
            out.extend(["--basic-auth".to_string(), source.to_string()]);
            if a.web_auth {
                out.push("--web-auth".into());
            }
        }
        Some("ExpectOrigin") => {
            if a.web_auth {
                return Err("--web-auth with ExpectOrigin is not implemented by oxvnc (browsers send no Origin \
                            when they load a page, so it would refuse them)"
                    .into());
            }
            let origins: Vec<&str> = a.auth_source.as_deref().unwrap_or_default().split_whitespace().collect();
            if origins.is_empty() {
                return Err("--auth-plugin ExpectOrigin needs --auth-source with the allowed origins".into());
            }
            for origin in origins {
                out.extend(["--allowed-origin".to_string(), origin.to_string()]);
            }
            out.push("--require-origin".into());
        }
        Some(other) => {
            return Err(format!(
                "--auth-plugin {other} is not implemented by oxvnc; it reads BasicHTTPAuth and ExpectOrigin"
            ));
        }
    }
    Ok(out)
}

/// The options oxvnc does not implement, each refused by name.
fn refuse_unimplemented(a: &Args) -> Result<(), String> {
    let refused: &[(bool, &str, &str)] = &[
        (a.traffic, "--traffic", "oxvnc logs bytes each way when a session closes"),
        (a.record.is_some(), "--record", ""),
        (a.daemon, "--daemon", "run oxvnc in the foreground under a service manager"),
        (a.run_once, "--run-once", ""),
        (a.timeout.is_some(), "--timeout", ""),
        (a.idle_timeout.is_some(), "--idle-timeout", "`oxvnc serve --idle-timeout` closes idle sessions instead"),
        (a.key_password.is_some(), "--key-password", "give an unencrypted key"),
        (a.ssl_target, "--ssl-target", ""),
        (a.verify_client, "--verify-client", ""),
        (a.cafile.is_some(), "--cafile", ""),
        (a.ssl_ciphers.is_some(), "--ssl-ciphers", "rustls offers only its own safe cipher suites"),
        (a.inetd, "--inetd", ""),
        (a.wrap_mode.is_some() || !a.wrap.is_empty(), "wrap mode (-- COMMAND)", ""),
        (a.syslog.is_some() || a.legacy_syslog, "--syslog", "oxvnc logs to standard error"),
    ];
    match refused.iter().find(|(given, _, _)| *given) {
        Some((_, name, "")) => Err(format!("{name} is not implemented by oxvnc")),
        Some((_, name, instead)) => Err(format!("{name} is not implemented by oxvnc ({instead})")),
        None => Ok(()),
    }
}

/// websockify's `[source_addr:]source_port` as `--listen` values: no address is every IPv4
/// interface (and every IPv6 one too with -6, where websockify's `::` socket takes both).
fn listen_specs(source: &str, ipv6: bool) -> Result<Vec<String>, String> {
    let (host, port) = match source.rsplit_once(':') {
        Some((h, p)) => (h.trim_start_matches('[').trim_end_matches(']'), p),
        None => ("", source),
    };
    let port: u16 = port.parse().map_err(|_| format!("error parsing listen port in {source:?}"))?;
    Ok(match host {
        "" if ipv6 => vec![format!("[::]:{port}"), format!("0.0.0.0:{port}")],
        "" => vec![format!("0.0.0.0:{port}")],
        h if h.contains(':') => vec![format!("[{h}]:{port}")],
        h => vec![format!("{h}:{port}")],
    })
}

/// websockify's `target_addr:target_port` as oxvnc's `--vnc` value.
fn target_spec(target: &str) -> Result<String, String> {
    let (host, port) = target.rsplit_once(':').ok_or_else(|| format!("error parsing target {target:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| format!("error parsing target port in {target:?}"))?;
    Ok(if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") })
}

fn path_arg(p: &Path) -> Result<String, String> {
    p.to_str().map(str::to_string).ok_or_else(|| format!("{} is not UTF-8", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// websockify's argv (without the program name) as `oxvnc serve` arguments, with `self.pem`
    /// and `/etc/cert.pem` the only certificate files that exist.
    fn translate(argv: &[&str]) -> Result<Vec<String>, String> {
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let cli = Cli::try_parse_from(std::iter::once("websockify").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?;
        serve_args(&cli.args, |p| p == Path::new("/etc/cert.pem"))
    }

    fn ok(argv: &[&str]) -> String {
        translate(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}")).join(" ")
    }

    fn err(argv: &[&str]) -> String {
        translate(argv).expect_err(&format!("{argv:?} should be refused"))
    }

    #[test]
    fn websockify_command_lines_become_serve_arguments() {
        assert_eq!(ok(&["6080", "localhost:5900"]), "--listen 0.0.0.0:6080 --vnc localhost:5900");
        assert_eq!(ok(&["-6", "6080", "[::1]:5900"]), "--listen [::]:6080 --listen 0.0.0.0:6080 --vnc [::1]:5900");
        assert_eq!(ok(&["127.0.0.1:6080", "10.0.0.5:5901"]), "--listen 127.0.0.1:6080 --vnc 10.0.0.5:5901");
        assert_eq!(ok(&["[::1]:6080", "h:1"]), "--listen [::1]:6080 --vnc h:1");
        assert_eq!(
            ok(&["--web", "/usr/share/novnc", "--token-plugin", "TokenFile", "--token-source", "/etc/t", "6080"]),
            "--listen 0.0.0.0:6080 --web /usr/share/novnc --token-file /etc/t"
        );
        // `=` spellings, the module path, the deprecated --target-config, Redis, host tokens.
        assert_eq!(
            ok(&["--token-plugin=websockify.token_plugins.ReadOnlyTokenFile", "--token-source=/etc/t", "6080"]),
            "--listen 0.0.0.0:6080 --token-file /etc/t"
        );
        assert_eq!(ok(&["--target-config", "/etc/t", "6080"]), "--listen 0.0.0.0:6080 --token-file /etc/t");
        assert_eq!(
            ok(&["--token-plugin", "TokenRedis", "--token-source", "127.0.0.1:6379", "--host-token", "6080"]),
            "--listen 0.0.0.0:6080 --token-redis 127.0.0.1:6379 --host-token"
        );
        assert_eq!(
            ok(&["--unix-target", "/run/vnc.sock", "6080"]),
            "--listen 0.0.0.0:6080 --vnc unix_socket:/run/vnc.sock"
        );
        assert_eq!(
            ok(&["--token-plugin", "UnixDomainSocketDirectory", "--token-source", "/run/vms", "6080"]),
            "--listen 0.0.0.0:6080 --token-socket-dir /run/vms"
        );
        assert_eq!(
            ok(&["--token-plugin", "JSONTokenApi", "--token-source", "http://api/t/%s", "6080"]),
            "--listen 0.0.0.0:6080 --token-api http://api/t/%s --token-api-json"
        );
        assert_eq!(
            ok(&[
                "--auth-plugin",
                "BasicHTTPAuth",
                "--auth-source",
                "u:p:w",
                "--web",
                "/w",
                "--web-auth",
                "6080",
                "h:1"
            ]),
            "--listen 0.0.0.0:6080 --web /w --basic-auth u:p:w --web-auth --vnc h:1"
        );
        assert_eq!(
            ok(&[
                "--auth-plugin",
                "websockify.auth_plugins.ExpectOrigin",
                "--auth-source",
                "https://a http://b:8",
                "6080",
                "h:1"
            ]),
            "--listen 0.0.0.0:6080 --allowed-origin https://a --allowed-origin http://b:8 --require-origin --vnc h:1"
        );
        assert_eq!(
            ok(&["--token-plugin", "TokenFileName", "--token-source", "/etc/tokens.d", "6080"]),
            "--listen 0.0.0.0:6080 --token-dir /etc/tokens.d"
        );
        assert_eq!(
            ok(&["--token-plugin", "websockify.token_plugins.JWTTokenApi", "--token-source", "/etc/jwt.pem", "6080"]),
            "--listen 0.0.0.0:6080 --token-jwt /etc/jwt.pem"
        );
        assert_eq!(
            ok(&["--token-plugin", "BaseTokenAPI", "--token-source", "http://api/t?id=%s", "6080"]),
            "--listen 0.0.0.0:6080 --token-api http://api/t?id=%s"
        );
        // The certificate when its file exists (the key defaults to it), --ssl-only with it.
        assert_eq!(
            ok(&["--cert", "/etc/cert.pem", "--ssl-only", "6080", "h:1"]),
            "--listen 0.0.0.0:6080 --vnc h:1 --cert /etc/cert.pem --key /etc/cert.pem --ssl-only"
        );
        assert_eq!(
            ok(&["--cert=/etc/cert.pem", "--key=/etc/key.pem", "6080", "h:1"]),
            "--listen 0.0.0.0:6080 --vnc h:1 --cert /etc/cert.pem --key /etc/key.pem"
        );
        assert_eq!(ok(&["--cert", "/nowhere.pem", "6080", "h:1"]), "--listen 0.0.0.0:6080 --vnc h:1");
        assert_eq!(
            ok(&["-v", "--heartbeat", "15", "--file-only", "--libserver", "--ssl-version", "tlsv1_2", "6080", "h:1"]),
            "--listen 0.0.0.0:6080 --vnc h:1 --heartbeat 15 --log debug"
        );
        // A Unix socket to listen on takes the source's place.
        assert_eq!(
            ok(&["--unix-listen", "/run/ws.sock", "h:1"]),
            "--listen unix:/run/ws.sock --unix-mode 600 --vnc h:1"
        );
        assert_eq!(
            ok(&["--unix-listen=/run/ws.sock", "--unix-listen-mode=660", "--target-config", "/etc/t"]),
            "--listen unix:/run/ws.sock --unix-mode 660 --token-file /etc/t"
        );
        assert_eq!(
            ok(&["--log-file=/var/log/websockify.log", "6080", "h:1"]),
            "--listen 0.0.0.0:6080 --vnc h:1 --log-file /var/log/websockify.log"
        );
    }

    #[test]
    fn what_oxvnc_does_not_do_is_refused_by_name() {
        assert!(err(&["6080"]).contains("too few arguments"));
        assert!(err(&[]).contains("too few arguments"));
        assert!(err(&["6080", "h:1", "h:2"]).contains("too many"));
        assert!(err(&["--token-plugin", "TokenFile", "--token-source", "/t", "6080", "h:1"]).contains("too many"));
        assert!(err(&["--token-plugin", "TokenFile", "6080"]).contains("needs --token-source"));
        assert!(err(&["--token-source", "/t", "6080", "h:1"]).contains("needs --token-plugin"));
        assert!(err(&["--host-token", "6080", "h:1"]).contains("needs --token-plugin"));
        assert!(err(&["--token-plugin", "TokenLDAP", "--token-source", "k", "6080"]).contains("TokenLDAP"));
        assert!(err(&["--ssl-only", "6080", "h:1"]).contains("SSL only and self.pem not found"));
        assert!(err(&["x6080", "h:1"]).contains("listen port"));
        assert!(err(&["6080", "h"]).contains("target"));
        assert!(err(&["6080", "h:x"]).contains("target port"));
        assert!(err(&["--unix-listen-mode", "660", "6080", "h:1"]).contains("needs --unix-listen"));
        assert!(err(&["--auth-source", "u:p", "6080", "h:1"]).contains("needs --auth-plugin"));
        assert!(err(&["--auth-plugin", "BasicHTTPAuth", "6080", "h:1"]).contains("needs --auth-source"));
        assert!(
            err(&["--auth-plugin", "BasicHTTPAuth", "--auth-source", "u:p", "--web-auth", "6080", "h:1"])
                .contains("needs --web")
        );
        assert!(err(&["--auth-plugin", "ExpectOrigin", "6080", "h:1"]).contains("allowed origins"));
        assert!(err(&["--unix-listen", "/run/ws.sock", "6080", "h:1"]).contains("too many"));
        for (option, argv) in [
            ("--record", &["--record", "/tmp/r", "6080", "h:1"][..]),
            ("--daemon", &["-D", "6080", "h:1"][..]),
            ("--idle-timeout", &["--idle-timeout=60", "6080", "h:1"][..]),
            ("--ssl-ciphers", &["--ssl-ciphers", "ALL", "6080", "h:1"][..]),
            ("--auth-plugin", &["--auth-plugin", "ClientCertCNAuth", "--auth-source", "cn", "6080", "h:1"][..]),
            ("wrap mode", &["6080", "--", "x11vnc", "-rfbport", "5900"][..]),
            ("--inetd", &["--inetd", "h:1"][..]),
        ] {
            let e = err(argv);
            assert!(e.contains(option) && e.contains("not implemented"), "{argv:?}: {e}");
        }
        assert!(err(&["--ssl-version", "tlsv1_3", "6080", "h:1"]).contains("tlsv1_3"));
    }
}
