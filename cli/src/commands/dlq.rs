use std::process::ExitCode;
use std::sync::Arc;

use hookgate_shared::clock::{self, SystemClock};
use hookgate_shared::message::QueueMessage;
use hookgate_shared::replay::Replayer;
use serde_json::json;

use crate::args::{Cli, DlqCmd, OutputFormat};
use crate::{backend, output};

pub async fn run(cli: &Cli, cmd: &DlqCmd) -> anyhow::Result<ExitCode> {
    let loaded = backend::load_config(cli.config.as_deref())?;
    let b = backend::open(cli, &loaded.config, false).await?.backend;
    match cmd {
        DlqCmd::List { limit, output: fmt } => {
            let msgs = b.dlq.peek(*limit).await?;
            let mut rows = Vec::new();
            for m in &msgs {
                let pointer = QueueMessage::decode(&m.body).ok();
                let event = match &pointer {
                    Some(p) => b.store.get(&p.event_id).await?,
                    None => None,
                };
                rows.push(json!({
                    "message_id": m.message_id,
                    "event_id": pointer.as_ref().map(|p| p.event_id.to_string()),
                    "generation": pointer.as_ref().map(|p| p.generation.get()),
                    "receive_count": m.receive_count,
                    "sent_at": clock::rfc3339(m.sent_at),
                    "source": event.as_ref().map(|e| e.source.to_string()),
                    "event_type": event.as_ref().map(|e| e.event_type.clone()),
                    "status": event.as_ref().map(|e| e.status.to_string()),
                    "last_error": event.as_ref().and_then(|e| e.last_error.clone()),
                }));
            }
            match fmt {
                OutputFormat::Json => output::json(&json!({ "messages": rows }))?,
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
                    rows.iter()
                        .map(|r| {
                            let s = |k: &str| match &r[k] {
                                serde_json::Value::Null => String::new(),
                                serde_json::Value::String(s) => output::short(s, 60),
                                v => v.to_string(),
                            };
                            vec![
                                s("message_id"),
                                s("event_id"),
                                s("generation"),
                                s("receive_count"),
                                s("source"),
                                s("status"),
                                s("last_error"),
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
