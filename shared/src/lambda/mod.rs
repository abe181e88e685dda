//! The Lambda edges: API Gateway HTTP API (v2 payload) → ingest, SQS batch → processor, and the
//! replay function's JSON commands. Each function's `main.rs` only wires these to
//! `lambda_runtime`.
//!
//! The ingest edge reads the raw API Gateway event (not `lambda_http`): `lambda_http` decodes a
//! base64 body with `expect`, so a malformed body would abort the process; here it is a 400.

mod admin;
mod apigw;
#[cfg(feature = "aws")]
pub mod boot;
mod command;
mod sqs;

pub use aws_lambda_events as events;
pub use lambda_runtime as runtime;

pub use admin::replay_function;
pub use apigw::{ingest_apigw, reply_to_apigw};
pub use command::{Command, CommandError, run_command};
pub use sqs::process_sqs;

/// JSON logs to stdout (CloudWatch), one object per line, whatever the function's log format
/// setting: see [`log_subscriber`].
pub fn init_tracing() {
    use lambda_runtime::tracing::subscriber::util::SubscriberInitExt;
    log_subscriber(std::io::stdout).init();
}

/// The functions' subscriber: JSON lines (the event's fields, the current span and the span list,
/// so every line carries the request's or message's source, event id, delivery id and
/// generation), without timestamps (CloudWatch adds its own) or targets. Filtered by `RUST_LOG`
/// (`EnvFilter` syntax); the default level is `AWS_LAMBDA_LOG_LEVEL` when Lambda sets it, else
/// `info`.
///
/// Always JSON: lambda_runtime's default subscriber writes JSON only under Lambda's JSON log
/// format, which would also re-wrap the EMF metric lines the dashboard and alarms read.
pub fn log_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> lambda_runtime::tracing::subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use lambda_runtime::tracing::subscriber::{self, EnvFilter, filter::LevelFilter};
    let default = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let filter = EnvFilter::builder()
        .with_default_directive(default.into())
        .from_env_lossy();
    subscriber::fmt()
        .json()
        .with_target(false)
        .without_time()
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn logs_are_json_lines_carrying_the_span_fields() {
        let out = Buffer::default();
        let writer = out.clone();
        let subscriber = super::log_subscriber(move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "message",
                source = "github",
                event_id = "evt_x",
                generation = 2
            );
            let _entered = span.enter();
            tracing::info!(outcome = "succeeded", "processed");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields"]["message"], "processed");
        assert_eq!(line["fields"]["outcome"], "succeeded");
        assert_eq!(line["span"]["source"], "github");
        assert_eq!(line["span"]["event_id"], "evt_x");
        assert_eq!(line["spans"][0]["generation"], 2);
        assert!(line.get("timestamp").is_none(), "{line}");
    }
}
