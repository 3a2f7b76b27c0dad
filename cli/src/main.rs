//! `postmix`: offline use of the Postmix DSP.

mod audio;
mod measure;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Postmix command-line tools: the plugins' DSP, offline.
#[derive(Parser)]
#[command(name = "postmix", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure loudness (EBU R 128 / ITU-R BS.1770): integrated, loudness range, true peak,
    /// sample peak, max momentary and max short-term. Reads WAV and FLAC, mono to 5.1.
    Measure {
        /// Audio files to measure (several are measured in parallel).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// How many files to measure at once (default: one per CPU core).
        #[arg(long, short)]
        jobs: Option<usize>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Measure { files, json, jobs } => {
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            if measure::run(&files, json, jobs) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
