//! `hookgate`: the local stack and the operator's CLI. Wiring only: the logic lives in
//! `hookgate-shared`.

mod admin_routes;
mod args;
mod backend;
mod commands;
mod logging;
mod output;
mod serve;
mod stack;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: under `serve`'s load, glibc's allocator (`_int_malloc`,
/// `_int_free`, `malloc_consolidate`) took about a quarter of the request threads' time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let log = logging::init(cli.log_format, cli.command.is_server());
    let result = commands::run(cli).await;
    // Every queued log line out before the last word.
    drop(log);
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
