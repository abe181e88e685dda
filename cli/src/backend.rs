//! Chooses the adapters at the edge: the embedded SQLite backend on the data dir.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use hookgate_shared::adapters::sqlite::{SqliteBackend, SqliteOptions};
use hookgate_shared::app::{App, Backend};
use hookgate_shared::clock::SystemClock;
use hookgate_shared::config::Config;
use hookgate_shared::secrets::SecretResolver;

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

pub fn open_local(data_dir: &Path, config: &Config) -> anyhow::Result<Backend> {
    let opts = SqliteOptions {
        max_receive_count: config.queue.max_receive_count,
        visibility_timeout: config.queue.visibility_timeout,
    };
    let b = SqliteBackend::open(data_dir, opts)
        .with_context(|| format!("cannot open the data dir {}", data_dir.display()))?;
    Ok(Backend {
        store: b.store(),
        queue: b.queue(),
        dlq: b.dlq(),
    })
}

/// The whole app on the local backend.
pub fn local_app(data_dir: &Path, config: Config) -> anyhow::Result<App> {
    let backend = open_local(data_dir, &config)?;
    let secrets = Arc::new(SecretResolver::local());
    let no_extra = |_: &str, _: &hookgate_shared::config::HandlerConfig| None;
    Ok(App::build(
        config,
        backend,
        secrets,
        &no_extra,
        Arc::new(SystemClock),
    )?)
}
