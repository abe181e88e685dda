//! The replay function's JSON commands (the schedule sends `{"command":"sweep"}`):
//!
//! ```json
//! {"command": "replay", "event_ids": ["evt_…"]}
//! {"command": "replay_filter", "filter": {"source": "github", "status": "dead"}, "dry_run": true, "rate": 20, "limit": 1000}
//! {"command": "redrive"}
//! {"command": "sweep", "older_than": "2m"}
//! ```

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::model::EventId;
use crate::query::FilterSpec;
use crate::replay::{BulkOptions, Replayer};

#[derive(Debug, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    Replay {
        event_ids: Vec<String>,
    },
    ReplayFilter {
        #[serde(default)]
        filter: FilterSpec,
        #[serde(default)]
        dry_run: bool,
        #[serde(default)]
        rate: Option<f64>,
        #[serde(default)]
        limit: Option<usize>,
        /// Required to replay with an empty filter.
        #[serde(default)]
        all: bool,
    },
    Redrive,
    Sweep {
        #[serde(default, with = "humantime_serde")]
        older_than: Option<Duration>,
        #[serde(default)]
        limit: Option<usize>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("invalid command: {0}")]
    Invalid(String),
    #[error("{0}")]
    Failed(String),
}

/// Runs one command and returns its JSON report.
pub async fn run_command(app: &App, input: Value) -> Result<Value, CommandError> {
    let cmd: Command =
        serde_json::from_value(input).map_err(|e| CommandError::Invalid(e.to_string()))?;
    let span = tracing::info_span!("command", command = ?std::mem::discriminant(&cmd));
    let _g = span.enter();
    match cmd {
        Command::Replay { event_ids } => {
            let ids = event_ids
                .iter()
                .map(|raw| {
                    EventId::parse(raw).map_err(|e| CommandError::Invalid(format!("`{raw}`: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let run_id = Replayer::new_run_id();
            let results = app.replayer.replay_ids(&ids, &run_id).await;
            Ok(json!({ "run_id": run_id, "results": results }))
        }
        Command::ReplayFilter {
            filter,
            dry_run,
            rate,
            limit,
            all,
        } => {
            let filter = filter
                .parse(crate::clock::now_ms())
                .map_err(|e| CommandError::Invalid(e.to_string()))?;
            if filter.is_everything() && !all {
                return Err(CommandError::Invalid(
                    "an empty filter selects every event; set \"all\": true to mean it".into(),
                ));
            }
            let opts = BulkOptions {
                dry_run,
                rate_per_sec: rate,
                limit,
            };
            let report = app
                .replayer
                .replay_filter(&filter, &opts, &Replayer::new_run_id(), &|_, _| {})
                .await
                .map_err(|e| CommandError::Failed(e.to_string()))?;
            Ok(json!(report))
        }
        Command::Redrive => {
            let report = app
                .replayer
                .redrive()
                .await
                .map_err(|e| CommandError::Failed(e.to_string()))?;
            Ok(json!(report))
        }
        Command::Sweep { older_than, limit } => {
            let older = older_than.unwrap_or(app.config.sweep.older_than);
            let report = app
                .replayer
                .sweep(older, limit.unwrap_or(1000))
                .await
                .map_err(|e| CommandError::Failed(e.to_string()))?;
            Ok(json!(report))
        }
    }
}
