//! `oxvnc`: the relay (`oxvnc serve`) and the native headless client (`oxvnc snapshot`).

use clap::{Parser, Subcommand};

mod snapshot;

/// oxvnc — a browser console for VNC servers: relay, demo server and headless client.
#[derive(Parser, Debug)]
#[command(name = "oxvnc", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Connect to a VNC server, wait for one complete full-screen update and write it as a PNG.
    Snapshot(snapshot::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Snapshot(args) => snapshot::main(args),
    }
}
