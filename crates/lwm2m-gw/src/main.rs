//! `lwm2m-gw`: the LwM2M Gateway binary. This file only wires the command line to the
//! subcommands; each subcommand lives in its own module.

use std::process::ExitCode;

use clap::Parser;

mod allocator;
// `lwm2m-gw bench` (hidden benchmark).
mod bench;
mod cli;
mod database;
// `lwm2m-gw run` (the gateway daemon).
mod daemon;
// `lwm2m-gw demo`.
mod demo;
// `lwm2m-gw device` (simulated End-Devices).
mod device;
mod payload;
mod rest;
mod server;
mod store;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Decode(args) => payload::decode(&args),
        cli::Command::Encode(args) => payload::encode(&args),
        // `lwm2m-gw device`.
        cli::Command::Device(args) => device::run(&args),
        cli::Command::Server(args) => {
            init_logging();
            allocator::return_large_blocks();
            server::run(&args)
        }
        cli::Command::Run(args) => {
            init_logging();
            allocator::return_large_blocks();
            daemon::run(&args)
        }
        cli::Command::Demo(args) => demo::run(&args),
        cli::Command::Bench(args) => {
            init_logging();
            bench::run(&args)
        }
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

/// Logs to stderr, level from RUST_LOG (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
