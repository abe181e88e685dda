use std::process::ExitCode;

use anyhow::Context;
use hookgate_shared::clock;
use hookgate_shared::model::{EventId, EventView};
use hookgate_shared::ports::PageRequest;
use serde_json::json;

use std::io::IsTerminal;

use hookgate_shared::admin::tail::{Change, Tail};
use hookgate_shared::admin::{BodyView, EventDetail};
use hookgate_shared::model::EventStatus;

use crate::args::{Cli, ColorChoice, EventsCmd, OutputFormat};
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
        EventsCmd::Tail {
            filter,
            lookback,
            interval,
            max_lines,
            output: fmt,
            color,
        } => {
            let filter = super::parse_filter(filter)?;
            let start = clock::now_ms() - i64::try_from(lookback.as_millis()).unwrap_or(i64::MAX);
            let mut tail = Tail::new(filter, start);
            let colour = match color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            if matches!(fmt, OutputFormat::Table) {
                eprintln!("tailing events (Ctrl-C to stop)…");
            }
            let mut lines = 0usize;
            loop {
                match tail.poll(b.store.as_ref()).await {
                    Ok(changes) => {
                        for c in changes {
                            match fmt {
                                OutputFormat::Json => println!("{}", tail_json(&c)),
                                OutputFormat::Table => println!("{}", tail_line(&c, colour)),
                            }
                            lines += 1;
                            if max_lines.is_some_and(|m| lines >= m) {
                                return Ok(ExitCode::SUCCESS);
                            }
                        }
                    }
                    Err(e) => eprintln!("poll failed (retrying): {e}"),
                }
                tokio::select! {
                    () = tokio::time::sleep(*interval) => {}
                    _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
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
            let doc = EventDetail::from(&e);
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
                    if let BodyView::Utf8 { text, pretty } = &doc.body {
                        println!("{}", output::short(pretty.as_deref().unwrap_or(text), 2000));
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn tail_json(c: &Change) -> String {
    let (kind, from) = match c {
        Change::New(_) => ("new", None),
        Change::Updated { from, .. } => ("updated", Some(from.as_str())),
    };
    json!({ "change": kind, "from": from, "event": c.event() }).to_string()
}

fn paint(s: &str, code: &str, colour: bool) -> String {
    if colour {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_owned()
    }
}

fn status_colour(s: EventStatus) -> &'static str {
    match s {
        EventStatus::Succeeded => "32",
        EventStatus::Failed | EventStatus::Dead => "31;1",
        EventStatus::Retrying | EventStatus::Processing => "33",
        EventStatus::Quarantined => "35",
        EventStatus::Received => "36",
    }
}

fn tail_line(c: &Change, colour: bool) -> String {
    let e = c.event();
    let time = e.updated_at.get(11..19).unwrap_or(&e.updated_at);
    let status = paint(e.status.as_str(), status_colour(e.status), colour);
    let what = match c {
        Change::New(_) => paint("-->", "1", colour),
        Change::Updated { from, .. } => paint(
            &format!("{} →", from.as_str()),
            status_colour(*from),
            colour,
        ),
    };
    let mut line = format!(
        "{time}  {what} {status:<12} {}  {}  {}  gen {} attempts {}",
        e.source, e.event_type, e.event_id, e.generation, e.attempts
    );
    if let Some(err) = &e.last_error
        && matches!(
            e.status,
            EventStatus::Retrying
                | EventStatus::Failed
                | EventStatus::Dead
                | EventStatus::Quarantined
        )
    {
        line.push_str(&format!(
            "  {}",
            paint(&output::short(err, 80), "2", colour)
        ));
    }
    line
}
