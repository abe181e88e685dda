//! Command-line arguments (clap). Every command and flag has `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "hookgate",
    version,
    about = "Inbound webhook gateway: verify, store, queue, process, retry, replay."
)]
pub struct Cli {
    /// Where the local stack keeps its database.
    #[arg(
        long,
        global = true,
        env = "HOOKGATE_DATA_DIR",
        default_value = ".hookgate"
    )]
    pub data_dir: PathBuf,

    /// hookgate.toml to use (default: the built-in demo config).
    #[arg(long, short = 'c', global = true, env = "HOOKGATE_CONFIG_FILE")]
    pub config: Option<PathBuf>,

    /// Log line format (logs go to stderr).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "HOOKGATE_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub aws: AwsArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Where `--aws` commands find the deployment: flags, the environment (`eval "$(hookgate aws init)"`),
/// or a CloudFormation stack's outputs. Credentials, region and `AWS_ENDPOINT_URL` come from the
/// standard AWS environment.
#[derive(Debug, Args, Clone, Default)]
pub struct AwsArgs {
    /// Use the AWS deployment (DynamoDB + SQS) instead of the local data dir.
    #[arg(long, global = true)]
    pub aws: bool,
    /// DynamoDB table.
    #[arg(long, global = true, env = "HOOKGATE_TABLE")]
    pub table: Option<String>,
    /// Main SQS queue URL.
    #[arg(long, global = true, env = "HOOKGATE_QUEUE_URL")]
    pub queue_url: Option<String>,
    /// Dead-letter SQS queue URL.
    #[arg(long, global = true, env = "HOOKGATE_DLQ_URL")]
    pub dlq_url: Option<String>,
    /// Read table and queues from this CloudFormation stack's outputs (TableName, QueueUrl, DlqUrl).
    #[arg(long, global = true, env = "HOOKGATE_STACK")]
    pub stack: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the local stack: HTTP ingest, the processor loop and the sweep, on the data dir.
    Serve(ServeArgs),
    /// List and inspect stored events.
    #[command(subcommand)]
    Events(EventsCmd),
    /// Replay events by id, or every event matching a filter.
    Replay(ReplayArgs),
    /// Inspect and redrive the dead-letter queue.
    #[command(subcommand)]
    Dlq(DlqCmd),
    /// Sign a sample (or given) payload the way a source's provider would, and POST it.
    Send(SendArgs),
    /// Validate or print the configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Counts by source and status, success rate, end-to-end latency, queue depths.
    Stats(StatsArgs),
    /// List the provider kinds, the headers each expects and what each signs.
    Providers {
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        output: OutputFormat,
    },
    /// Set up AWS resources for `cargo lambda deploy` or an emulator.
    #[command(subcommand)]
    Aws(AwsCmd),
}

#[derive(Debug, Subcommand)]
pub enum AwsCmd {
    /// Create (or reuse) the table with its indexes and TTL, the queue and the DLQ with its redrive
    /// policy; print `export HOOKGATE_TABLE=… HOOKGATE_QUEUE_URL=… HOOKGATE_DLQ_URL=…` for `eval`.
    Init {
        /// Resource name prefix: PREFIX-events, PREFIX-queue, PREFIX-dlq.
        #[arg(long, default_value = "hookgate")]
        prefix: String,
    },
}

impl Command {
    pub fn is_server(&self) -> bool {
        matches!(self, Self::Serve(_))
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOOKGATE_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Store and queues: the embedded SQLite data dir, or AWS (DynamoDB + SQS, see --table/--stack).
    #[arg(long, value_enum, default_value = "sqlite")]
    pub backend: BackendKind,
    /// How long a client has to send a request's headers (a silent connection is closed after it).
    #[arg(long, env = "HOOKGATE_HEADER_TIMEOUT", value_parser = humantime::parse_duration, default_value = "10s")]
    pub header_timeout: std::time::Duration,
    /// How long a client has to send a request's body once its headers arrived (else 408).
    #[arg(long, env = "HOOKGATE_BODY_TIMEOUT", value_parser = humantime::parse_duration, default_value = "30s")]
    pub body_timeout: std::time::Duration,
    /// Store and queue deliveries without processing them: no processor loops, no sweep. Events
    /// wait in the queue (status `received`) until a `serve` without this flag runs on the same
    /// store. To pause processing while still taking every delivery, or to measure ingest alone.
    #[arg(long, env = "HOOKGATE_INGEST_ONLY", value_parser = clap::builder::BoolishValueParser::new())]
    pub ingest_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    Sqlite,
    Aws,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
}

/// Filters shared by listing and bulk replay.
#[derive(Debug, Args, Clone, Default)]
pub struct FilterArgs {
    #[arg(long)]
    pub source: Option<String>,
    /// received, processing, retrying, succeeded, failed, dead, quarantined
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub event_type: Option<String>,
    #[arg(long)]
    pub delivery_id: Option<String>,
    /// Received at or after: RFC 3339 instant or a duration ago (`1h`, `30m`, `7d`).
    #[arg(long)]
    pub since: Option<String>,
    /// Received before: RFC 3339 instant or a duration ago.
    #[arg(long)]
    pub until: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum EventsCmd {
    /// Newest first.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Continue from a previous page's cursor.
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        output: OutputFormat,
    },
    /// A live stream of new events and their outcomes (Ctrl-C to stop): every event received
    /// since the tail started (or within --lookback), when it arrives and each time its status,
    /// generation or attempts change.
    Tail {
        #[command(flatten)]
        filter: FilterArgs,
        /// Also show events received this long before the tail started.
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        lookback: std::time::Duration,
        /// How often to poll.
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
        /// Stop after this many lines (default: run until interrupted).
        #[arg(long)]
        max_lines: Option<usize>,
        /// `json`: one JSON object per line.
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        output: OutputFormat,
        #[arg(long, value_enum, default_value = "auto")]
        color: ColorChoice,
    },
    /// One event with its headers, body and attempts.
    Show {
        event_id: String,
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        output: OutputFormat,
    },
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Event ids to replay. Without ids, a filter selects the events.
    pub event_ids: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Only count what would be replayed.
    #[arg(long)]
    pub dry_run: bool,
    /// Events per second at most.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Replay at most this many events.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Allow a filter that selects every event.
    #[arg(long)]
    pub all: bool,
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    pub output: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum DlqCmd {
    /// Messages in the dead-letter queue, with their events.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        output: OutputFormat,
    },
    /// Move every dead-letter message back to the main queue.
    Redrive {
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        output: OutputFormat,
    },
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Source name (from the config).
    pub source: String,
    /// JSON body to send (default: a realistic sample for the source's provider; `-` for stdin).
    pub file: Option<PathBuf>,
    /// Full URL to post to (default: http://127.0.0.1:3000/webhooks/SOURCE).
    #[arg(long)]
    pub url: Option<String>,
    /// Delivery id to use (default: random). Send the same one twice to see a duplicate.
    #[arg(long)]
    pub delivery_id: Option<String>,
    /// Event type header for providers that send one (default: the sample's).
    #[arg(long)]
    pub event_type: Option<String>,
    /// Secret to sign with (default: the source's `options.signing_key` if set, else its first
    /// secret; asymmetric kinds (discord, sendgrid, standard-webhooks v1a) need the private key).
    #[arg(long, env = "HOOKGATE_SEND_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate a config file: every problem with its key and line.
    Check,
    /// Print the effective config (secrets redacted) as JSON.
    Show,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The window: a duration ago (`1h`, `30m`, `7d`) or an RFC 3339 instant.
    #[arg(long, default_value = "1h")]
    pub since: String,
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}
