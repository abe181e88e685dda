use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use hookgate_shared::clock::SystemClock;
use hookgate_shared::model::EventId;
use hookgate_shared::replay::{BulkOptions, ReplayOutcome, Replayer};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{Cli, OutputFormat, ReplayArgs};
use crate::{backend, output};

pub async fn run(cli: &Cli, a: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let loaded = backend::load_config(cli.config.as_deref())?;
    let b = backend::open(cli, &loaded.config, false).await?.backend;
    let replayer = Replayer::new(b.store, b.queue, b.dlq, Arc::new(SystemClock));
    let run_id = Replayer::new_run_id();
    if !a.event_ids.is_empty() {
        let ids = a
            .event_ids
            .iter()
            .map(|raw| EventId::parse(raw).with_context(|| format!("`{raw}`")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if a.dry_run {
            println!("would replay {} event(s)", ids.len());
            return Ok(ExitCode::SUCCESS);
        }
        let outcomes = replayer.replay_ids(&ids, &run_id).await;
        let failed = outcomes
            .iter()
            .any(|o| !matches!(o, ReplayOutcome::Replayed { .. }));
        match a.output {
            OutputFormat::Json => {
                output::json(&serde_json::json!({ "run_id": run_id, "results": outcomes }))?
            }
            OutputFormat::Table => output::table(
                &["event_id", "result", "generation / error"],
                outcomes
                    .iter()
                    .map(|o| match o {
                        ReplayOutcome::Replayed {
                            event_id,
                            generation,
                        } => {
                            vec![
                                event_id.to_string(),
                                "replayed".into(),
                                generation.to_string(),
                            ]
                        }
                        ReplayOutcome::MarkedNotSent {
                            event_id, error, ..
                        } => {
                            vec![
                                event_id.to_string(),
                                "marked, not sent (the sweep sends it)".into(),
                                error.clone(),
                            ]
                        }
                        ReplayOutcome::NotFound { event_id } => {
                            vec![event_id.to_string(), "not found".into(), String::new()]
                        }
                        ReplayOutcome::Error { event_id, error } => {
                            vec![event_id.to_string(), "error".into(), error.clone()]
                        }
                    })
                    .collect(),
            ),
        }
        return Ok(if failed {
            ExitCode::from(3)
        } else {
            ExitCode::SUCCESS
        });
    }
    let filter = super::parse_filter(&a.filter)?;
    if filter.is_everything() && !a.all {
        bail!(
            "give event ids, or a filter (--source, --status, --event-type, --since, …), or --all to replay everything"
        );
    }
    let opts = BulkOptions {
        dry_run: a.dry_run,
        rate_per_sec: a.rate,
        limit: a.limit,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let report = replayer
        .replay_filter(&filter, &opts, &run_id, &progress)
        .await?;
    bar.finish_and_clear();
    match a.output {
        OutputFormat::Json => output::json(&report)?,
        OutputFormat::Table if report.dry_run => {
            println!("dry run: {} event(s) match", report.matched)
        }
        OutputFormat::Table => println!(
            "replay run {}: {} matched, {} replayed, {} marked but not sent, {} errors",
            report.run_id, report.matched, report.replayed, report.not_sent, report.errors
        ),
    }
    Ok(if report.errors > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
