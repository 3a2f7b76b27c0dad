//! `postmix`: offline use of the Postmix DSP.

mod audio;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Postmix command-line tools.
#[derive(Parser)]
#[command(name = "postmix", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {}
}
