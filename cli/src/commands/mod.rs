//! One module per command; each parses its arguments into library types and calls the library.

mod aws;
mod config;
mod dlq;
mod events;
mod providers;
mod replay;
mod send;
mod serve;
mod stats;

use std::process::ExitCode;

use hookgate_shared::clock;
use hookgate_shared::ports::EventFilter;
use hookgate_shared::query::FilterSpec;

use crate::args::{Cli, Command, FilterArgs};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Serve(a) => serve::run(&cli, a).await,
        Command::Events(c) => events::run(&cli, c).await,
        Command::Replay(a) => replay::run(&cli, a).await,
        Command::Dlq(c) => dlq::run(&cli, c).await,
        Command::Send(a) => send::run(&cli, a).await,
        Command::Config(c) => config::run(&cli, c),
        Command::Stats(a) => stats::run(&cli, a).await,
        Command::Providers { output } => providers::run(*output),
        Command::Aws(c) => aws::run(&cli, c).await,
    }
}

/// Parses CLI filter flags into the library's filter.
pub fn parse_filter(f: &FilterArgs) -> anyhow::Result<EventFilter> {
    let spec = FilterSpec {
        source: f.source.clone(),
        status: f.status.clone(),
        event_type: f.event_type.clone(),
        delivery_id: f.delivery_id.clone(),
        since: f.since.clone(),
        until: f.until.clone(),
    };
    Ok(spec.parse(clock::now_ms())?)
}
