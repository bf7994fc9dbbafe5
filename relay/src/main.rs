//! `oxvnc`: the relay (`oxvnc serve`) and the native headless client (`oxvnc snapshot`).

use clap::{Parser, Subcommand};

mod demo;
mod serve;
mod snapshot;
mod transport;
mod websockify;

/// oxvnc — a browser console for VNC servers: relay, demo server and headless client.
#[derive(Parser, Debug)]
#[command(name = "oxvnc", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Relay browser WebSockets to VNC servers (drop-in for websockify / nova-novncproxy),
    /// serve the web client's static files and, with --demo, a built-in demo desktop.
    Serve(Box<serve::Args>),
    /// Connect to a VNC server, wait for one complete full-screen update and write it as a PNG.
    Snapshot(Box<snapshot::Args>),
    /// websockify's command line (`oxvnc websockify [options] [source_addr:]source_port
    /// [target_addr:target_port]`), run as the equivalent `oxvnc serve`; also what the binary
    /// does when it is run under the name `websockify`.
    Websockify(Box<websockify::Args>),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse_from(argv(std::env::args_os()));
    match cli.command {
        Command::Serve(args) => serve::main(*args),
        Command::Snapshot(args) => snapshot::main(*args),
        Command::Websockify(args) => websockify::main(*args),
    }
}

/// The command line, with `websockify` inserted when the binary runs under that name (a link
/// named `websockify` in place of websockify's script), so its arguments are websockify's.
fn argv(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut args: Vec<_> = args.collect();
    let as_websockify =
        args.first().and_then(|a0| std::path::Path::new(a0).file_name()).is_some_and(|name| name == "websockify");
    if as_websockify {
        args.insert(1, "websockify".into());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_as_websockify_reads_websockify_arguments() {
        let parse = |line: &[&str]| Cli::try_parse_from(argv(line.iter().map(Into::into))).map(|c| c.command);
        assert!(matches!(parse(&["/usr/bin/websockify", "6080", "localhost:5900"]), Ok(Command::Websockify(_))));
        assert!(matches!(parse(&["oxvnc", "websockify", "6080", "localhost:5900"]), Ok(Command::Websockify(_))));
        assert!(matches!(parse(&["/usr/bin/oxvnc", "serve", "--demo"]), Ok(Command::Serve(_))));
        // Only the name `websockify` switches: a copy named otherwise is oxvnc.
        assert!(parse(&["/usr/bin/websockify-old", "6080", "localhost:5900"]).is_err());
    }
}
