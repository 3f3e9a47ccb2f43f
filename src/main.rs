//! Entry point: parse the command line, run it, and turn an error into a message and exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = confab::cli::Cli::parse();
    match confab::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("confab: {err:#}");
            ExitCode::FAILURE
        }
    }
}
