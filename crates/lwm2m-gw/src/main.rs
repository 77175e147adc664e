//! `lwm2m-gw`: the LwM2M Gateway binary. This file only wires the command line to the
//! subcommands; each subcommand lives in its own module.

use std::process::ExitCode;

use clap::Parser;

mod cli;
// `lwm2m-gw device` (simulated End-Devices).
mod device;
mod payload;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Decode(args) => payload::decode(&args),
        cli::Command::Encode(args) => payload::encode(&args),
        // `lwm2m-gw device`.
        cli::Command::Device(args) => device::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the chain of causes joined, so a user sees what and where at once.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
