//! `oxvnc`: the relay (`oxvnc serve`) and the native headless client (`oxvnc snapshot`).

use clap::{Parser, Subcommand};

mod demo;
mod serve;
mod snapshot;
mod transport;

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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::main(*args),
        Command::Snapshot(args) => snapshot::main(*args),
    }
}
