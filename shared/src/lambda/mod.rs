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
    use tracing_subscriber::util::SubscriberInitExt;
    log_subscriber(std::io::stdout).init();
}

/// The functions' subscriber: JSON lines (the event's fields, the current span and the span list,
/// so every line carries the request's or message's source, event id, delivery id and
/// generation), without timestamps (CloudWatch adds its own) or targets.
///
/// Filtered by `RUST_LOG` as a list of `level` and `target=level` directives (e.g.
/// `info,hookgate_shared::process=debug`); the default level is `AWS_LAMBDA_LOG_LEVEL` when Lambda
/// sets it, else `info`. A `RUST_LOG` that does not parse is ignored (the default applies). Span
/// and field directives of `EnvFilter` are not supported: its regex engine would add about half a
/// megabyte to each bootstrap.
///
/// Always JSON: lambda_runtime's default subscriber writes JSON only under Lambda's JSON log
/// format, which would also re-wrap the EMF metric lines the dashboard and alarms read.
pub fn log_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = log_filter(
        std::env::var("RUST_LOG").ok().as_deref(),
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
    );
    use tracing_subscriber::layer::SubscriberExt;
    tracing_subscriber::registry().with(filter).with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_target(false)
            .without_time()
            .with_writer(writer),
    )
}

/// `RUST_LOG`'s directives on top of the default level (`AWS_LAMBDA_LOG_LEVEL`, else `info`).
fn log_filter(
    rust_log: Option<&str>,
    lambda_level: Option<&str>,
) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let default = lambda_level
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let directives = rust_log
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_default();
    let directives_default = directives.default_level();
    directives.with_default(directives_default.unwrap_or(default))
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

    #[test]
    fn rust_log_directives_over_the_lambda_level() {
        use tracing::Level;
        use tracing_subscriber::filter::LevelFilter;
        let f = super::log_filter(None, None);
        assert_eq!(f.default_level(), Some(LevelFilter::INFO));
        let f = super::log_filter(None, Some("WARN"));
        assert!(!f.would_enable("hookgate_shared::process", &Level::INFO));
        assert!(f.would_enable("hookgate_shared::process", &Level::WARN));
        let f = super::log_filter(Some("hookgate_shared::process=debug"), Some("error"));
        assert!(f.would_enable("hookgate_shared::process", &Level::DEBUG));
        assert!(!f.would_enable("hookgate_shared::ingest", &Level::WARN));
        assert!(f.would_enable("hookgate_shared::ingest", &Level::ERROR));
        let f = super::log_filter(Some("debug,aws_smithy_runtime=warn"), Some("error"));
        assert!(f.would_enable("hookgate_shared::ingest", &Level::DEBUG));
        assert!(!f.would_enable("aws_smithy_runtime::client", &Level::INFO));
        // Unparsable or empty: the default level applies.
        for bad in ["[{x}]=nope", "=", "   "] {
            let f = super::log_filter(Some(bad), Some("warn"));
            assert_eq!(f.default_level(), Some(LevelFilter::WARN), "{bad}");
        }
    }
}
