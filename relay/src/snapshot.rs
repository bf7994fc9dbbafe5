//! TODO: oxvnc snapshot
use clap::Args as ClapArgs;

#[derive(ClapArgs, Debug)]
pub struct Args {}

pub fn main(_args: Args) -> std::process::ExitCode {
    std::process::ExitCode::FAILURE
}
