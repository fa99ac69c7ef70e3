//! The `busbar` binary: parse the command line, run the subcommand, exit
//! with its status. Everything else lives in the library and in `cli`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    cli::run(cli::Cli::parse())
}
