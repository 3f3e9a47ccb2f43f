//! Entry point: parse the command line, run it, and turn an error into a message and exit code.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than glibc's allocator: a room listing frees hundreds of small strings and
/// one large buffer per request, and glibc's free-list work was the tail of `GET /api/rooms`
/// (p99 3x p50; 1.8-2.4x with mimalloc), with less CPU per request and per delivered frame and
/// half the memory. Numbers in docs/performance.md ("Read markers in memory, shared frames and
/// the allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
