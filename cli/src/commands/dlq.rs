use std::process::ExitCode;
use std::sync::Arc;

use hookgate_shared::admin;
use hookgate_shared::clock::SystemClock;
use hookgate_shared::replay::Replayer;
use serde_json::json;

use crate::args::{Cli, DlqCmd, OutputFormat};
use crate::{backend, output};

pub async fn run(cli: &Cli, cmd: &DlqCmd) -> anyhow::Result<ExitCode> {
    let loaded = backend::load_config(cli.config.as_deref())?;
    let b = backend::open(cli, &loaded.config, false).await?.backend;
    match cmd {
        DlqCmd::List { limit, output: fmt } => {
            let msgs = admin::dlq_messages(&b, *limit).await?;
            match fmt {
                OutputFormat::Json => output::json(&json!({ "messages": msgs }))?,
                OutputFormat::Table => output::table(
                    &[
                        "message_id",
                        "event_id",
                        "gen",
                        "receives",
                        "source",
                        "status",
                        "last_error",
                    ],
                    msgs.iter()
                        .map(|m| {
                            let s = |v: &Option<String>| {
                                v.as_deref()
                                    .map(|s| output::short(s, 60))
                                    .unwrap_or_default()
                            };
                            vec![
                                m.message_id.clone(),
                                s(&m.event_id),
                                m.generation.map(|g| g.to_string()).unwrap_or_default(),
                                m.receive_count.to_string(),
                                s(&m.source),
                                s(&m.status),
                                s(&m.last_error),
                            ]
                        })
                        .collect(),
                ),
            }
        }
        DlqCmd::Redrive { output: fmt } => {
            let replayer = Replayer::new(b.store, b.queue, b.dlq, Arc::new(SystemClock));
            let report = replayer.redrive().await?;
            match fmt {
                OutputFormat::Json => output::json(&report)?,
                OutputFormat::Table => println!(
                    "moved {} message(s) back to the main queue ({:?})",
                    report.moved, report.method
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
