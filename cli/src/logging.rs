//! Logs to stderr: text for people, JSON for machines. `RUST_LOG` / `HOOKGATE_LOG` filter them.
//!
//! A server (`serve`) hands its lines to a writer thread of its own, which writes them out in
//! batches (one `write` per batch, flushed as soon as the queue is empty): request and
//! processing tasks never wait on stderr (a slow terminal or pipe would stall the runtime's
//! worker threads), and a line no longer costs a system call. No line is dropped: when the queue
//! is full, the logging task waits. [`LogGuard`] writes out what is queued when it is dropped, at
//! the end of `main`; only a process killed outright (`kill -9`) can lose the last lines, which
//! its writer thread had not written yet.

use std::io::BufWriter;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::args::LogFormat;

/// Holds the server's log writer thread; dropping it writes out every queued line.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard(#[allow(dead_code)] Option<WorkerGuard>);

pub fn init(format: LogFormat, server: bool) -> LogGuard {
    let default = if server { "info" } else { "warn" };
    let filter = std::env::var("HOOKGATE_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    // Colour codes only for a terminal: a log file or a collector gets plain text (fewer bytes
    // to format and write per line).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = if server {
        let (writer, guard) = NonBlockingBuilder::default()
            .lossy(false)
            .thread_name("hookgate-log")
            .finish(BufWriter::new(std::io::stderr()));
        (BoxMakeWriter::new(writer), Some(guard))
    } else {
        (BoxMakeWriter::new(std::io::stderr), None)
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Text => builder.with_target(false).init(),
    }
    LogGuard(guard)
}
