//! Start-up of a Lambda function: configuration from the environment, AWS clients built once
//! (no network call, one HTTP client shared by all), the app assembled. See `infra/README.md` for
//! the environment contract.
//!
//! Each function links only what its role runs (cargo features of this crate, set in its
//! `Cargo.toml`): ingest and replay run no handler, so they build none (a handler's config is
//! checked where it runs: the processor, which has every kind).

use std::sync::Arc;
use std::time::Duration;

use crate::adapters::aws::{AwsBackend, sdk_config_from_env};
use crate::app::{App, Backend};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::handlers::Handlers;
use crate::secrets::SecretResolver;

/// Which function is starting (each reads only what it needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Ingest,
    Processor,
    Replay,
}

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("environment variable `{0}` is not set")]
    MissingEnv(&'static str),
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    App(#[from] crate::app::AppError),
    /// The payload bucket, SQS or DynamoDB cannot be used (no region, an invalid bucket name or
    /// endpoint URL).
    #[error("{0}")]
    Backend(#[from] crate::adapters::aws::BackendError),
    #[error("{0}")]
    SdkConfig(#[from] crate::adapters::aws::EnvConfigError),
}

/// How long a secret fetched from Secrets Manager is reused.
const SECRET_TTL: Duration = Duration::from_secs(300);

fn env(name: &'static str) -> Result<String, BootError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(BootError::MissingEnv(name))
}

/// `HOOKGATE_CONFIG`: the config text itself, or the path of a file bundled with the function.
pub fn config_from_env() -> Result<Config, BootError> {
    let raw = env("HOOKGATE_CONFIG")?;
    if raw.contains('\n') || raw.contains('=') {
        Ok(Config::parse(&raw, "HOOKGATE_CONFIG")?)
    } else {
        Ok(Config::load(std::path::Path::new(&raw))?)
    }
}

/// The app on DynamoDB + SQS + Secrets Manager, from `HOOKGATE_TABLE`, `HOOKGATE_QUEUE_URL`,
/// `HOOKGATE_DLQ_URL` and `HOOKGATE_CONFIG`.
pub async fn app_from_env(role: Role) -> Result<App, BootError> {
    let config = config_from_env()?;
    let table = env("HOOKGATE_TABLE")?;
    let queue_url = env("HOOKGATE_QUEUE_URL")?;
    let dlq_url = if role == Role::Replay {
        env("HOOKGATE_DLQ_URL")?
    } else {
        std::env::var("HOOKGATE_DLQ_URL").unwrap_or_default()
    };
    let sdk = sdk_config_from_env()?;
    let aws = AwsBackend::new(&sdk, table, queue_url, dlq_url)?;
    let backend = Backend {
        store: aws.store,
        queue: aws.queue,
        dlq: aws.dlq,
    };
    let secrets = Arc::new(SecretResolver::new(Some(aws.secrets), SECRET_TTL));
    let handlers = match role {
        Role::Processor => {
            let aws_handlers = crate::adapters::aws::AwsHandlerFactory::new(&sdk);
            let extra =
                |name: &str, cfg: &crate::config::HandlerConfig| aws_handlers.build(name, cfg);
            Handlers::build(&config.handlers, secrets.clone(), &extra)
                .map_err(|e| crate::app::AppError(e.to_string()))?
        }
        Role::Ingest | Role::Replay => Handlers::default(),
    };
    Ok(App::with_handlers(
        config,
        backend,
        secrets,
        handlers,
        Arc::new(SystemClock),
    )?)
}
