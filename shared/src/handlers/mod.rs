//! Handlers: what runs for a routed event. A [`Handler`] reports success, or an error that is
//! transient (retried with backoff) or permanent (recorded, not retried). Registered by name from
//! `[handlers.NAME]`.
//!
//! `log` is always built in; `forward` and `exec` are the cargo features `handler-forward` and
//! `handler-exec` of this crate, and the AWS kinds come from the `extra` factory
//! ([`crate::adapters::aws::AwsHandlerFactory`]). A binary built without a kind refuses a config
//! that names it, at start-up ([`Handlers::build`]).

#[cfg(feature = "handler-exec")]
mod exec;
#[cfg(feature = "handler-forward")]
mod forward;
mod log;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;

use crate::config::HandlerConfig;
use crate::model::{DeliveryId, EventId, Generation, Millis, SourceName};
use crate::secrets::SecretResolver;

#[cfg(feature = "handler-exec")]
pub use exec::{EX_TEMPFAIL, ExecHandler, OUTPUT_TAIL_BYTES};
#[cfg(feature = "handler-forward")]
pub use forward::{ForwardHandler, RESPONSE_SNIPPET_BYTES, webhook_id};
pub use log::LogHandler;

/// The event as a handler sees it.
#[derive(Debug, Clone)]
pub struct Event {
    pub event_id: EventId,
    pub source: SourceName,
    pub delivery_id: DeliveryId,
    pub event_type: String,
    pub generation: Generation,
    pub received_at: Millis,
    pub content_type: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub body: Bytes,
    /// The body parsed as JSON, when it is JSON.
    pub payload: Option<Value>,
}

impl Event {
    /// The JSON document `exec` gets on stdin and `lambda`/`eventbridge` send: metadata plus the
    /// payload (or the body as text when it is not JSON).
    pub fn envelope(&self) -> Value {
        serde_json::json!({
            "event_id": self.event_id,
            "source": self.source,
            "delivery_id": self.delivery_id,
            "event_type": self.event_type,
            "generation": self.generation,
            "received_at": crate::clock::rfc3339(self.received_at),
            "content_type": self.content_type,
            "headers": self.headers,
            "payload": self.payload.clone().unwrap_or_else(|| Value::String(String::from_utf8_lossy(&self.body).into_owned())),
        })
    }
}

/// What a successful run reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandlerReport {
    pub http_status: Option<u16>,
    pub exit_code: Option<i32>,
    pub output: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Worth retrying (timeouts, 5xx, 429, EX_TEMPFAIL…).
    Transient,
    /// Will not succeed by retrying (4xx, bad exit code…).
    Permanent,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    pub kind: ErrorKind,
    pub message: String,
    pub http_status: Option<u16>,
    pub exit_code: Option<i32>,
    pub output: Option<String>,
}

impl HandlerError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Transient,
            message: message.into(),
            http_status: None,
            exit_code: None,
            output: None,
        }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Permanent,
            message: message.into(),
            http_status: None,
            exit_code: None,
            output: None,
        }
    }
}

#[async_trait]
pub trait Handler: Send + Sync {
    async fn handle(&self, event: &Event) -> Result<HandlerReport, HandlerError>;

    /// Whether the handler reads [`Event::payload`]. When no routed handler does (and no route
    /// condition does), the processor only checks that a JSON body parses, without building
    /// the value, and the handlers see `payload: None`.
    fn reads_payload(&self) -> bool {
        true
    }
}

/// Builds handlers of kinds this module does not know (the AWS ones); returns `None` to refuse.
pub type ExtraFactory<'a> = &'a (dyn Fn(&str, &HandlerConfig) -> Option<Arc<dyn Handler>> + Sync);

/// Handlers by name.
#[derive(Clone, Default)]
pub struct Handlers {
    by_name: BTreeMap<String, Arc<dyn Handler>>,
}

#[derive(Debug, thiserror::Error)]
#[error("handler `{name}` cannot be built: {message}")]
pub struct BuildError {
    pub name: String,
    pub message: String,
}

impl Handlers {
    /// Builds every configured handler. Nothing here touches the network or resolves a secret
    /// (`forward` resolves its signing secret, cached by the resolver, when it runs).
    pub fn build(
        config: &BTreeMap<String, HandlerConfig>,
        secrets: Arc<SecretResolver>,
        extra: ExtraFactory<'_>,
    ) -> Result<Self, BuildError> {
        #[cfg(not(feature = "handler-forward"))]
        let _ = secrets; // only `forward` signs
        let mut by_name: BTreeMap<String, Arc<dyn Handler>> = BTreeMap::new();
        for (name, cfg) in config {
            let h: Arc<dyn Handler> = match cfg {
                HandlerConfig::Log { level } => Arc::new(LogHandler::new(name, *level)),
                #[cfg(feature = "handler-forward")]
                HandlerConfig::Forward {
                    url,
                    secret,
                    timeout,
                    headers,
                } => Arc::new(ForwardHandler::new(
                    name,
                    url,
                    secret.clone(),
                    *timeout,
                    headers,
                    Arc::clone(&secrets),
                )?),
                #[cfg(feature = "handler-exec")]
                HandlerConfig::Exec {
                    command,
                    args,
                    env,
                    timeout,
                    working_dir,
                } => Arc::new(ExecHandler::new(
                    name,
                    command,
                    args,
                    env,
                    *timeout,
                    working_dir.as_deref(),
                )?),
                other => extra(name, other).ok_or_else(|| BuildError {
                    name: name.clone(),
                    message: format!(
                        "handler kind `{}` is not built into this binary (hookgate-shared \
                         feature `handler-{}`; the processor function and the CLI have every kind)",
                        other.kind(),
                        other.kind()
                    ),
                })?,
            };
            by_name.insert(name.clone(), h);
        }
        Ok(Self { by_name })
    }

    /// Registers (or replaces) a handler by name: for tests and embedders.
    pub fn insert(&mut self, name: impl Into<String>, handler: Arc<dyn Handler>) {
        self.by_name.insert(name.into(), handler);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Handler>> {
        self.by_name.get(name)
    }

    /// Whether the handler `name` reads the payload (an unknown name: yes, to be safe).
    pub fn reads_payload(&self, name: &str) -> bool {
        self.by_name.get(name).is_none_or(|h| h.reads_payload())
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.by_name.keys()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn build(toml: &str, extra: ExtraFactory<'_>) -> Result<Handlers, BuildError> {
        let cfg = Config::parse(toml, "test.toml").expect("config");
        Handlers::build(&cfg.handlers, Arc::new(SecretResolver::local()), extra)
    }

    #[test]
    fn a_kind_nobody_builds_is_refused_by_name() {
        let err = build(
            "[handlers.bus]\nkind = \"eventbridge\"\nbus = \"default\"\n",
            &|_, _| None,
        )
        .err()
        .expect("refused");
        assert_eq!(err.name, "bus");
        assert!(
            err.message
                .contains("`eventbridge` is not built into this binary"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("handler-eventbridge"),
            "{}",
            err.message
        );
    }

    #[test]
    fn log_is_always_built_in() {
        let h = build("[handlers.l]\nkind = \"log\"\n", &|_, _| None).expect("built");
        assert!(h.get("l").is_some());
    }

    #[cfg(not(feature = "handler-forward"))]
    #[test]
    fn forward_is_refused_without_its_feature() {
        let err = build(
            "[handlers.f]\nkind = \"forward\"\nurl = \"https://example.com/hook\"\n",
            &|_, _| None,
        )
        .err()
        .expect("refused");
        assert!(err.message.contains("handler-forward"), "{}", err.message);
    }

    #[cfg(not(feature = "handler-exec"))]
    #[test]
    fn exec_is_refused_without_its_feature() {
        let err = build(
            "[handlers.x]\nkind = \"exec\"\ncommand = [\"true\"]\n",
            &|_, _| None,
        )
        .err()
        .expect("refused");
        assert!(err.message.contains("handler-exec"), "{}", err.message);
    }
}
