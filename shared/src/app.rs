//! Wiring: a validated [`Config`] plus a backend (store, queue, DLQ) become the ingest, processor
//! and replayer every edge uses. Built once at start-up, with no network calls.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::handlers::{ExtraFactory, Handlers};
use crate::ingest::Ingest;
use crate::ports::{EventStore, Queue};
use crate::process::{ProcessSettings, Processor};
use crate::replay::Replayer;
use crate::routing::Router;
use crate::secrets::SecretResolver;

/// The three ports, from one backend.
#[derive(Clone)]
pub struct Backend {
    pub store: Arc<dyn EventStore>,
    pub queue: Arc<dyn Queue>,
    pub dlq: Arc<dyn Queue>,
}

pub struct App {
    pub config: Arc<Config>,
    pub backend: Backend,
    pub ingest: Ingest,
    pub processor: Processor,
    pub replayer: Replayer,
    pub secrets: Arc<SecretResolver>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot start: {0}")]
pub struct AppError(pub String);

impl App {
    pub fn build(
        config: Config,
        backend: Backend,
        secrets: Arc<SecretResolver>,
        extra_handlers: ExtraFactory<'_>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AppError> {
        let handlers = Handlers::build(&config.handlers, secrets.clone(), extra_handlers)
            .map_err(|e| AppError(e.to_string()))?;
        Self::with_handlers(config, backend, secrets, handlers, clock)
    }

    /// Like [`App::build`] with handlers already built (tests and embedders add their own).
    pub fn with_handlers(
        config: Config,
        backend: Backend,
        secrets: Arc<SecretResolver>,
        handlers: Handlers,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AppError> {
        let router = Router::new(&config.routes).map_err(AppError)?;
        let ingest = Ingest::new(
            &config,
            backend.store.clone(),
            backend.queue.clone(),
            secrets.clone(),
            clock.clone(),
        )
        .map_err(AppError)?;
        let processor = Processor::new(
            backend.store.clone(),
            backend.queue.clone(),
            router,
            handlers,
            clock.clone(),
            ProcessSettings::from_config(&config),
        );
        let replayer = Replayer::new(
            backend.store.clone(),
            backend.queue.clone(),
            backend.dlq.clone(),
            clock,
        );
        Ok(Self {
            config: Arc::new(config),
            backend,
            ingest,
            processor,
            replayer,
            secrets,
        })
    }
}
