use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use hookgate_shared::clock;
use hookgate_shared::model::{EventId, EventView};
use hookgate_shared::ports::PageRequest;
use serde_json::json;

use crate::args::{Cli, EventsCmd, OutputFormat};
use crate::{backend, output};

pub async fn run(cli: &Cli, cmd: &EventsCmd) -> anyhow::Result<ExitCode> {
    let loaded = backend::load_config(cli.config.as_deref())?;
    let b = backend::open(cli, &loaded.config, false).await?.backend;
    match cmd {
        EventsCmd::List {
            filter,
            limit,
            cursor,
            output: fmt,
        } => {
            let filter = super::parse_filter(filter)?;
            let page = b
                .store
                .list(
                    &filter,
                    &PageRequest {
                        cursor: cursor.clone(),
                        limit: (*limit).clamp(1, 1000),
                    },
                )
                .await?;
            let views: Vec<EventView> = page.events.iter().map(EventView::from).collect();
            match fmt {
                OutputFormat::Json => {
                    output::json(&json!({ "events": views, "next_cursor": page.next_cursor }))?
                }
                OutputFormat::Table => {
                    output::events_table(&views);
                    if let Some(c) = page.next_cursor {
                        println!("more: --cursor {c}");
                    }
                }
            }
        }
        EventsCmd::Show {
            event_id,
            output: fmt,
        } => {
            let id = EventId::parse(event_id).with_context(|| format!("`{event_id}`"))?;
            let Some(e) = b.store.get(&id).await? else {
                eprintln!("no event {id}");
                return Ok(ExitCode::from(3));
            };
            let body = match std::str::from_utf8(&e.body) {
                Ok(s) => json!({ "encoding": "utf-8", "text": s }),
                Err(_) => {
                    json!({ "encoding": "base64", "data": base64::engine::general_purpose::STANDARD.encode(&e.body) })
                }
            };
            let doc = json!({
                "event": EventView::from(&e),
                "headers": e.headers,
                "body": body,
                "handlers_done": e.handlers_done,
                "attempt_log": e.attempt_log,
            });
            match fmt {
                OutputFormat::Json => output::json(&doc)?,
                OutputFormat::Table => {
                    let v = EventView::from(&e);
                    output::events_table(std::slice::from_ref(&v));
                    output::table(
                        &[
                            "handler",
                            "gen",
                            "outcome",
                            "started_at",
                            "ms",
                            "exit",
                            "http",
                            "error",
                        ],
                        e.attempt_log
                            .iter()
                            .map(|a| {
                                vec![
                                    a.handler.clone(),
                                    a.generation.to_string(),
                                    a.outcome.as_str().to_owned(),
                                    clock::rfc3339(a.started_at),
                                    a.duration_ms.to_string(),
                                    a.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                                    a.http_status.map(|c| c.to_string()).unwrap_or_default(),
                                    a.error
                                        .as_deref()
                                        .map(|s| output::short(s, 60))
                                        .unwrap_or_default(),
                                ]
                            })
                            .collect(),
                    );
                    if let Some(text) = body.get("text").and_then(|t| t.as_str()) {
                        println!("{}", output::short(text, 2000));
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
