//! Chooses the adapters at the edge: the embedded SQLite backend on the data dir, or AWS
//! (DynamoDB + SQS + Secrets Manager) with `--aws` / `serve --backend aws`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use hookgate_shared::adapters::aws::{AwsBackend, AwsHandlerFactory, load_sdk_config};
use hookgate_shared::adapters::sqlite::{SqliteBackend, SqliteOptions};
use hookgate_shared::app::{App, Backend};
use hookgate_shared::clock::SystemClock;
use hookgate_shared::config::{Config, HandlerConfig};
use hookgate_shared::handlers::Handler;
use hookgate_shared::ports::AtomicIntake;
use hookgate_shared::secrets::SecretResolver;

use crate::args::{AwsArgs, Cli};

/// The config in use and where it came from.
pub struct LoadedConfig {
    pub config: Config,
    pub origin: String,
    pub is_demo: bool,
}

pub fn load_config(path: Option<&Path>) -> anyhow::Result<LoadedConfig> {
    match path {
        Some(p) => Ok(LoadedConfig {
            config: Config::load(p)?,
            origin: p.display().to_string(),
            is_demo: false,
        }),
        None => Ok(LoadedConfig {
            config: Config::parse(
                &hookgate_shared::demo::config_text(),
                "built-in demo config",
            )?,
            origin: "built-in demo config".into(),
            is_demo: true,
        }),
    }
}

/// The ports plus what the app needs to build on them.
pub struct Opened {
    pub backend: Backend,
    pub secrets: Arc<SecretResolver>,
    pub description: String,
    /// `eventbridge` and `lambda` handlers, when the AWS environment is in use.
    pub aws_handlers: Option<AwsHandlerFactory>,
    /// The event and its message in one transaction (SQLite); AWS puts, then sends.
    pub intake: Option<Arc<dyn AtomicIntake>>,
}

/// Opens the backend the command line asks for.
pub async fn open(cli: &Cli, config: &Config, aws: bool) -> anyhow::Result<Opened> {
    if aws || cli.aws.aws {
        open_aws(&cli.aws).await
    } else {
        open_local(&cli.data_dir, config)
    }
}

pub fn open_local(data_dir: &Path, config: &Config) -> anyhow::Result<Opened> {
    let opts = SqliteOptions {
        max_receive_count: config.queue.max_receive_count,
        visibility_timeout: config.queue.visibility_timeout,
    };
    let b = SqliteBackend::open(data_dir, opts)
        .with_context(|| format!("cannot open the data dir {}", data_dir.display()))?;
    Ok(Opened {
        backend: Backend {
            store: b.store(),
            queue: b.queue(),
            dlq: b.dlq(),
        },
        secrets: Arc::new(SecretResolver::local()),
        description: format!("data dir {}", data_dir.display()),
        aws_handlers: None,
        intake: Some(b.intake()),
    })
}

async fn open_aws(a: &AwsArgs) -> anyhow::Result<Opened> {
    let sdk = load_sdk_config().await?;
    let (table, queue_url, dlq_url) = match &a.stack {
        Some(stack) => crate::stack::outputs(&sdk, stack, a).await?,
        None => match (&a.table, &a.queue_url, &a.dlq_url) {
            (Some(t), Some(q), Some(d)) => (t.clone(), q.clone(), d.clone()),
            _ => bail!(
                "--aws needs the table and queues: --table/--queue-url/--dlq-url, the HOOKGATE_TABLE/HOOKGATE_QUEUE_URL/HOOKGATE_DLQ_URL \
                 variables (eval \"$(hookgate aws init)\"), or --stack NAME"
            ),
        },
    };
    let description = format!("AWS table {table}, queue {queue_url}");
    let aws = AwsBackend::new(&sdk, table, queue_url, dlq_url)?;
    let secrets = Arc::new(SecretResolver::new(
        Some(aws.secrets.clone()),
        Duration::from_secs(300),
    ));
    Ok(Opened {
        backend: Backend {
            store: aws.store,
            queue: aws.queue,
            dlq: aws.dlq,
        },
        secrets,
        description,
        aws_handlers: Some(AwsHandlerFactory::new(&sdk)),
        intake: None,
    })
}

/// The whole app on the chosen backend.
pub async fn app(cli: &Cli, config: Config, aws: bool) -> anyhow::Result<(App, String)> {
    let opened = open(cli, &config, aws).await?;
    let wants_aws_handlers = config.handlers.values().any(|h| {
        matches!(
            h,
            HandlerConfig::Eventbridge { .. } | HandlerConfig::Lambda { .. }
        )
    });
    // The AWS handlers work from the local stack too (credentials and region from the standard
    // environment); the SDK is only loaded when the config uses them.
    let factory = match opened.aws_handlers {
        Some(f) => Some(f),
        None if wants_aws_handlers => Some(AwsHandlerFactory::new(&load_sdk_config().await?)),
        None => None,
    };
    let extra = |name: &str, cfg: &HandlerConfig| -> Option<Arc<dyn Handler>> {
        factory.as_ref()?.build(name, cfg)
    };
    let mut app = App::build(
        config,
        opened.backend,
        opened.secrets,
        &extra,
        Arc::new(SystemClock),
    )?;
    if let Some(intake) = opened.intake {
        app.ingest.set_intake(intake);
    }
    Ok((app, opened.description))
}
