//! One module per command; each parses its arguments into library types and calls the library.

mod config;
mod dlq;
mod events;
mod replay;
mod send;
mod serve;

use std::process::ExitCode;

use anyhow::{Context, bail};
use hookgate_shared::clock;
use hookgate_shared::model::{DeliveryId, EventStatus, SourceName};
use hookgate_shared::ports::EventFilter;

use crate::args::{Cli, Command, FilterArgs};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Serve(a) => serve::run(&cli, a).await,
        Command::Events(c) => events::run(&cli, c).await,
        Command::Replay(a) => replay::run(&cli, a).await,
        Command::Dlq(c) => dlq::run(&cli, c).await,
        Command::Send(a) => send::run(&cli, a).await,
        Command::Config(c) => config::run(&cli, c),
    }
}

/// Parses CLI filter flags into the library's filter, with a clear error per bad flag.
pub fn parse_filter(f: &FilterArgs) -> anyhow::Result<EventFilter> {
    let now = clock::now_ms();
    let instant = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<i64>> {
        v.as_deref()
            .map(|raw| {
                clock::parse_instant_or_ago(raw, now).with_context(|| {
                    format!("--{flag} `{raw}`: expected an RFC 3339 instant or a duration like 1h")
                })
            })
            .transpose()
    };
    Ok(EventFilter {
        source: f
            .source
            .as_deref()
            .map(SourceName::parse)
            .transpose()
            .context("--source")?,
        status: match f.status.as_deref() {
            None => None,
            Some(s) => match EventStatus::parse(s) {
                Some(st) => Some(st),
                None => bail!(
                    "--status `{s}`: expected one of {}",
                    EventStatus::ALL.map(EventStatus::as_str).join(", ")
                ),
            },
        },
        event_type: f.event_type.clone(),
        delivery_id: f
            .delivery_id
            .as_deref()
            .map(DeliveryId::parse)
            .transpose()
            .context("--delivery-id")?,
        since: instant("since", &f.since)?,
        until: instant("until", &f.until)?,
    })
}

pub fn is_empty_filter(f: &EventFilter) -> bool {
    f.source.is_none()
        && f.status.is_none()
        && f.event_type.is_none()
        && f.delivery_id.is_none()
        && f.since.is_none()
        && f.until.is_none()
}
