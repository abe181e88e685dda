use std::process::ExitCode;

use hookgate_shared::admin::stats;
use hookgate_shared::clock;

use crate::args::{Cli, OutputFormat, StatsArgs};
use crate::{backend, output};

pub async fn run(cli: &Cli, args: &StatsArgs) -> anyhow::Result<ExitCode> {
    let loaded = backend::load_config(cli.config.as_deref())?;
    let b = backend::open(cli, &loaded.config, false).await?.backend;
    let s = stats::compute(&b, &args.since, clock::now_ms()).await?;
    match args.output {
        OutputFormat::Json => output::json(&s)?,
        OutputFormat::Table => {
            println!("{} → {}: {} event(s)", s.since, s.until, s.total);
            let statuses: Vec<&str> = s.by_status.keys().map(String::as_str).collect();
            let mut header = vec!["source"];
            header.extend(statuses.iter().copied());
            let mut rows: Vec<Vec<String>> = s
                .by_source
                .iter()
                .map(|(source, counts)| {
                    let mut r = vec![source.clone()];
                    r.extend(
                        statuses
                            .iter()
                            .map(|st| counts.get(*st).copied().unwrap_or(0).to_string()),
                    );
                    r
                })
                .collect();
            let mut total = vec!["(all)".to_owned()];
            total.extend(s.by_status.values().map(u64::to_string));
            rows.push(total);
            output::table(&header, rows);
            let ms = |v: Option<i64>| v.map_or("–".to_owned(), |v| format!("{v} ms"));
            println!(
                "success rate: {}",
                s.success_rate
                    .map_or("– (nothing finished)".to_owned(), |r| format!(
                        "{:.1} %",
                        r * 100.0
                    ))
            );
            println!(
                "end-to-end latency (received → succeeded, {} event(s)): p50 {}, p99 {}",
                s.latency_ms.count,
                ms(s.latency_ms.p50),
                ms(s.latency_ms.p99)
            );
            println!(
                "queue: {} (visible {}, in flight {}, delayed {}{}); dead-letter queue: {}",
                s.queue.depth,
                s.queue.visible,
                s.queue.in_flight,
                s.queue.delayed,
                s.queue
                    .oldest_age_secs
                    .map_or(String::new(), |a| format!(", oldest {a} s")),
                s.dlq.depth
            );
            if s.truncated {
                println!(
                    "(only the newest {} events of the window were counted)",
                    stats::MAX_EVENTS
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
