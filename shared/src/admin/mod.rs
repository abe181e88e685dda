//! The admin API, written once and served by every face: the local stack mounts it under
//! `/admin/api/…` behind a bearer token, the replay Lambda serves the same routes from API
//! Gateway (IAM-authorized), the web page and the CLI call [`Admin`]'s operations directly.
//!
//! Routes (all JSON; errors are `{"error": code, "reason": …}`):
//!
//! | method + path | what |
//! | --- | --- |
//! | `GET /admin/api/events?source&status&event_type&delivery_id&since&until&where&limit&cursor` | newest first, cursor paging; `where` is a JSONPath condition over the payload |
//! | `GET /admin/api/events/{id}` | one event: headers, body, attempts |
//! | `POST /admin/api/events/{id}/replay` | replay one event |
//! | `POST /admin/api/replay` | replay by filter (`{"filter":{…},"dry_run":true}` counts first) |
//! | `GET /admin/api/dlq?limit` | dead-letter messages with their events |
//! | `POST /admin/api/dlq/redrive` | move every dead-letter message back |
//! | `GET /admin/api/stats?since` | counts by source and status, success rate, latency, queues |
//! | `GET /admin/api/config` | the effective config, secrets redacted |

pub mod auth;
#[cfg(feature = "admin-page")]
pub mod page;
pub mod stats;
pub mod tail;

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::{App, Backend};
use crate::clock;
use crate::http::HttpReply;
use crate::message::QueueMessage;
use crate::model::{Attempt, AttemptOutcome, EventId, EventView, StoredEvent};
use crate::ports::{EventFilter, PageRequest, QueueError, StoreError};
use crate::query::{FilterError, FilterSpec};
use crate::replay::{BulkOptions, BulkReport, RedriveReport, ReplayError, ReplayOutcome, Replayer};
use crate::routing::Condition;

pub use stats::Stats;

/// Where every admin route lives.
pub const PREFIX: &str = "/admin/api";
/// Events per page when the caller does not say.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;
/// Events examined at most for one page of a payload (`where`) search; the page then ends early
/// with a cursor to continue from.
pub const MAX_SCAN_PER_PAGE: usize = 5_000;
/// Bounds of a bulk replay's pace, events per second.
pub const MIN_RATE: f64 = 0.1;
pub const MAX_RATE: f64 = 10_000.0;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("missing or wrong admin token")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("use {0}")]
    MethodNotAllowed(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Filter(#[from] FilterError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Queue(#[from] QueueError),
}

impl From<ReplayError> for AdminError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::Store(s) => Self::Store(s),
            ReplayError::Queue(q) => Self::Queue(q),
        }
    }
}

impl AdminError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::BadRequest(_) => "bad_request",
            Self::Filter(_) => "invalid_filter",
            Self::Store(StoreError::Invalid(_)) => "invalid_cursor",
            Self::Store(_) => "store_unavailable",
            Self::Queue(QueueError::Invalid(_)) => "bad_request",
            Self::Queue(_) => "queue_unavailable",
        }
    }
}

/// A listing request as it arrives (query string, form, CLI flags).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: FilterSpec,
    /// RFC 9535 JSONPath logical expression over the payload, e.g. `$.ref == "refs/heads/main"`.
    pub payload: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

impl ListQuery {
    /// From query-string pairs (`source`, `status`, `event_type`, `delivery_id`, `since`, `until`,
    /// `where`, `limit`, `cursor`); empty values mean "not given".
    pub fn from_query(raw: Option<&str>) -> Result<Self, AdminError> {
        let p: ListParams = from_pairs(parse_query(raw)?, &LIST_KEYS)?;
        Ok(Self {
            filter: FilterSpec {
                source: p.source,
                status: p.status,
                event_type: p.event_type,
                delivery_id: p.delivery_id,
                since: p.since,
                until: p.until,
            },
            payload: p.payload,
            limit: p.limit,
            cursor: p.cursor,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListParams {
    source: Option<String>,
    status: Option<String>,
    event_type: Option<String>,
    delivery_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    #[serde(rename = "where")]
    payload: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListResult {
    pub events: Vec<EventView>,
    pub next_cursor: Option<String>,
    /// Events examined (more than returned when `where` filters the payload).
    pub scanned: usize,
}

/// One event with everything an operator needs to judge it.
#[derive(Debug, Clone, Serialize)]
pub struct EventDetail {
    pub event: EventView,
    pub headers: BTreeMap<String, String>,
    pub body: BodyView,
    pub handlers_done: BTreeMap<String, AttemptOutcome>,
    pub attempt_log: Vec<Attempt>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "encoding", rename_all = "kebab-case")]
pub enum BodyView {
    /// `pretty` is the JSON body re-indented, when the body is JSON.
    #[serde(rename = "utf-8")]
    Utf8 {
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pretty: Option<String>,
    },
    Base64 {
        data: String,
    },
}

impl BodyView {
    pub fn of(body: &[u8]) -> Self {
        match std::str::from_utf8(body) {
            Ok(s) => Self::Utf8 {
                text: s.to_owned(),
                pretty: serde_json::from_str::<Value>(s)
                    .ok()
                    .and_then(|v| serde_json::to_string_pretty(&v).ok()),
            },
            Err(_) => Self::Base64 {
                data: base64::engine::general_purpose::STANDARD.encode(body),
            },
        }
    }
}

impl From<&StoredEvent> for EventDetail {
    fn from(e: &StoredEvent) -> Self {
        Self {
            event: EventView::from(e),
            headers: e.headers.clone(),
            body: BodyView::of(&e.body),
            handlers_done: e.handlers_done.clone(),
            attempt_log: e.attempt_log.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayOneResult {
    pub run_id: String,
    pub result: ReplayOutcome,
}

/// Replay by filter, as the API and the page receive it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayFilterRequest {
    #[serde(default)]
    pub filter: FilterSpec,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub rate: Option<f64>,
    #[serde(default)]
    pub limit: Option<usize>,
    /// Required to replay with an empty filter.
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DlqMessage {
    pub message_id: String,
    pub event_id: Option<String>,
    pub generation: Option<u32>,
    pub receive_count: u32,
    pub sent_at: String,
    pub source: Option<String>,
    pub event_type: Option<String>,
    pub status: Option<String>,
    pub last_error: Option<String>,
}

/// The admin operations over one app.
pub struct Admin<'a> {
    app: &'a App,
}

impl<'a> Admin<'a> {
    pub fn new(app: &'a App) -> Self {
        Self { app }
    }

    pub fn app(&self) -> &App {
        self.app
    }

    /// Events newest first. With `where`, pages of the store are examined until `limit` events
    /// match or [`MAX_SCAN_PER_PAGE`] were examined; the cursor continues after the last page
    /// examined, so paging never skips an event.
    pub async fn list(&self, q: &ListQuery) -> Result<ListResult, AdminError> {
        let filter = q.filter.parse(clock::now_ms())?;
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AdminError::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        let cond = match q.payload.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(expr) => Some(Condition::parse(expr).map_err(|e| {
                AdminError::BadRequest(format!("where: not a JSONPath condition: {e}"))
            })?),
        };
        let Some(cond) = cond else {
            let page = self
                .app
                .backend
                .store
                .list(
                    &filter,
                    &PageRequest {
                        cursor: q.cursor.clone(),
                        limit,
                    },
                )
                .await?;
            return Ok(ListResult {
                scanned: page.events.len(),
                events: page.events.iter().map(EventView::from).collect(),
                next_cursor: page.next_cursor,
            });
        };
        let mut events = Vec::new();
        let mut scanned = 0;
        let mut cursor = q.cursor.clone();
        loop {
            let page = self
                .app
                .backend
                .store
                .list(
                    &filter,
                    &PageRequest {
                        cursor: cursor.clone(),
                        limit: limit.max(100),
                    },
                )
                .await?;
            scanned += page.events.len();
            events.extend(
                page.events
                    .iter()
                    .filter(|e| {
                        serde_json::from_slice::<Value>(&e.body).is_ok_and(|v| cond.matches(&v))
                    })
                    .map(EventView::from),
            );
            cursor = page.next_cursor;
            if cursor.is_none() || events.len() >= limit || scanned >= MAX_SCAN_PER_PAGE {
                break;
            }
        }
        Ok(ListResult {
            events,
            next_cursor: cursor,
            scanned,
        })
    }

    pub async fn event(&self, id: &str) -> Result<EventDetail, AdminError> {
        let id = parse_id(id)?;
        match self.app.backend.store.get(&id).await? {
            Some(e) => Ok(EventDetail::from(&e)),
            None => Err(AdminError::NotFound(format!("no event {id}"))),
        }
    }

    pub async fn replay_one(&self, id: &str) -> Result<ReplayOneResult, AdminError> {
        let id = parse_id(id)?;
        let run_id = Replayer::new_run_id();
        match self.app.replayer.replay_one(&id, &run_id).await {
            ReplayOutcome::NotFound { event_id } => {
                Err(AdminError::NotFound(format!("no event {event_id}")))
            }
            ReplayOutcome::Error { error, .. } => {
                Err(AdminError::Store(StoreError::Unavailable(error)))
            }
            result => Ok(ReplayOneResult { run_id, result }),
        }
    }

    /// Counts (dry run) or replays every event matching the filter.
    pub async fn replay_filter(&self, req: &ReplayFilterRequest) -> Result<BulkReport, AdminError> {
        let filter: EventFilter = req.filter.parse(clock::now_ms())?;
        if filter.is_everything() && !req.all {
            return Err(AdminError::BadRequest(
                "an empty filter selects every event; set \"all\": true to mean it".into(),
            ));
        }
        if req
            .rate
            .is_some_and(|r| !(MIN_RATE..=MAX_RATE).contains(&r))
        {
            return Err(AdminError::BadRequest(format!(
                "rate must be between {MIN_RATE} and {MAX_RATE} events per second"
            )));
        }
        let opts = BulkOptions {
            dry_run: req.dry_run,
            rate_per_sec: req.rate,
            limit: req.limit,
        };
        Ok(self
            .app
            .replayer
            .replay_filter(&filter, &opts, &Replayer::new_run_id(), &|_, _| {})
            .await?)
    }

    /// Dead-letter messages (not hidden or counted by looking), with their events.
    pub async fn dlq(&self, limit: usize) -> Result<Vec<DlqMessage>, AdminError> {
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AdminError::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        dlq_messages(&self.app.backend, limit).await
    }

    pub async fn redrive(&self) -> Result<RedriveReport, AdminError> {
        Ok(self.app.replayer.redrive().await?)
    }

    pub async fn stats(&self, since: Option<&str>) -> Result<Stats, AdminError> {
        stats::compute(
            &self.app.backend,
            since.unwrap_or(stats::DEFAULT_SINCE),
            clock::now_ms(),
        )
        .await
    }

    /// The effective config with every secret redacted (references are shown, literal values
    /// never; header values of `forward` handlers are hidden too, as they often carry tokens).
    pub fn config(&self) -> Value {
        redacted_config(&self.app.config)
    }

    /// Routes one HTTP request (already authorized by the edge) to an operation.
    pub async fn handle(&self, req: &AdminRequest<'_>) -> HttpReply {
        match self.route(req).await {
            Ok((status, body)) => HttpReply::json(status, body),
            Err(e) => crate::http::admin_error_reply(&e),
        }
    }

    async fn route(&self, req: &AdminRequest<'_>) -> Result<(u16, Value), AdminError> {
        let Some(rest) = req.path.strip_prefix(PREFIX) else {
            return Err(AdminError::NotFound(format!(
                "no admin route {}",
                short(req.path)
            )));
        };
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let get = req.method.eq_ignore_ascii_case("GET");
        let post = req.method.eq_ignore_ascii_case("POST");
        let query = || parse_query(req.query);
        let ok = |v: Value| Ok((200, v));
        match segments.as_slice() {
            ["events"] if get => {
                let q = ListQuery::from_query(req.query)?;
                ok(json!(self.list(&q).await?))
            }
            ["events"] => Err(AdminError::MethodNotAllowed("GET")),
            ["events", id] if get => ok(json!(self.event(id).await?)),
            ["events", _] => Err(AdminError::MethodNotAllowed("GET")),
            ["events", id, "replay"] if post => ok(json!(self.replay_one(id).await?)),
            ["events", _, "replay"] => Err(AdminError::MethodNotAllowed("POST")),
            ["replay"] if post => {
                let body: ReplayFilterRequest = if req.body.iter().all(u8::is_ascii_whitespace) {
                    ReplayFilterRequest::default()
                } else {
                    serde_json::from_slice(req.body).map_err(|e| {
                        AdminError::BadRequest(format!("body is not a replay request: {e}"))
                    })?
                };
                ok(json!(self.replay_filter(&body).await?))
            }
            ["replay"] => Err(AdminError::MethodNotAllowed("POST")),
            ["dlq"] if get => {
                let q: LimitQuery = from_pairs(query()?, &["limit"])?;
                let messages = self.dlq(q.limit.unwrap_or(DEFAULT_LIMIT)).await?;
                ok(json!({ "messages": messages }))
            }
            ["dlq"] => Err(AdminError::MethodNotAllowed("GET")),
            ["dlq", "redrive"] if post => ok(json!(self.redrive().await?)),
            ["dlq", "redrive"] => Err(AdminError::MethodNotAllowed("POST")),
            ["stats"] if get => {
                let q: SinceQuery = from_pairs(query()?, &["since"])?;
                ok(json!(self.stats(q.since.as_deref()).await?))
            }
            ["stats"] => Err(AdminError::MethodNotAllowed("GET")),
            ["config"] if get => ok(self.config()),
            ["config"] => Err(AdminError::MethodNotAllowed("GET")),
            _ => Err(AdminError::NotFound(format!(
                "no admin route {} {}",
                short(req.method),
                short(req.path)
            ))),
        }
    }
}

/// The dead-letter queue's first `limit` messages with their events (the CLI's `dlq list` too).
pub async fn dlq_messages(backend: &Backend, limit: usize) -> Result<Vec<DlqMessage>, AdminError> {
    let msgs = backend.dlq.peek(limit).await?;
    let mut out = Vec::with_capacity(msgs.len());
    for m in msgs {
        let pointer = QueueMessage::decode(&m.body).ok();
        let event = match &pointer {
            Some(p) => backend.store.get(&p.event_id).await?,
            None => None,
        };
        out.push(DlqMessage {
            message_id: m.message_id,
            event_id: pointer.as_ref().map(|p| p.event_id.to_string()),
            generation: pointer.as_ref().map(|p| p.generation.get()),
            receive_count: m.receive_count,
            sent_at: clock::rfc3339(m.sent_at),
            source: event.as_ref().map(|e| e.source.to_string()),
            event_type: event.as_ref().map(|e| e.event_type.clone()),
            status: event.as_ref().map(|e| e.status.to_string()),
            last_error: event.as_ref().and_then(|e| e.last_error.clone()),
        });
    }
    Ok(out)
}

/// One admin HTTP request, framework-neutral.
#[derive(Debug, Clone, Copy)]
pub struct AdminRequest<'a> {
    pub method: &'a str,
    /// The full path, starting with [`PREFIX`].
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

const LIST_KEYS: [&str; 9] = [
    "source",
    "status",
    "event_type",
    "delivery_id",
    "since",
    "until",
    "where",
    "limit",
    "cursor",
];

#[derive(Debug, Deserialize)]
struct LimitQuery {
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct SinceQuery {
    #[serde(default)]
    since: Option<String>,
}

fn parse_id(raw: &str) -> Result<EventId, AdminError> {
    EventId::parse(raw).map_err(|e| AdminError::BadRequest(format!("`{}`: {e}", short(raw))))
}

fn short(s: &str) -> String {
    s.chars().take(100).collect()
}

/// Query pairs (later duplicates are refused: one value per key).
pub fn parse_query(raw: Option<&str>) -> Result<BTreeMap<String, String>, AdminError> {
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(AdminError::BadRequest(format!(
                "query parameter `{}` given more than once",
                short(&k)
            )));
        }
    }
    Ok(out)
}

/// Known keys into a typed query: empty values mean "not given"; numbers are parsed; an unknown
/// key is a 400 naming it.
pub fn from_pairs<T: serde::de::DeserializeOwned>(
    pairs: BTreeMap<String, String>,
    known: &[&str],
) -> Result<T, AdminError> {
    let mut obj = serde_json::Map::new();
    for (k, v) in pairs {
        if !known.contains(&k.as_str()) {
            return Err(AdminError::BadRequest(format!(
                "unknown query parameter `{}` (known: {})",
                short(&k),
                known.join(", ")
            )));
        }
        if v.is_empty() {
            continue;
        }
        let value = if k == "limit" {
            let n: usize = v.parse().map_err(|_| {
                AdminError::BadRequest(format!("limit `{}`: expected a whole number", short(&v)))
            })?;
            json!(n)
        } else {
            Value::String(v)
        };
        obj.insert(k, value);
    }
    serde_json::from_value(Value::Object(obj))
        .map_err(|e| AdminError::BadRequest(format!("query: {e}")))
}

/// The config as JSON with secrets redacted (see [`Admin::config`]).
pub fn redacted_config(config: &crate::config::Config) -> Value {
    let mut v = serde_json::to_value(config).unwrap_or(Value::Null);
    if let Some(handlers) = v.get_mut("handlers").and_then(Value::as_object_mut) {
        for h in handlers.values_mut() {
            if let Some(headers) = h.get_mut("headers").and_then(Value::as_object_mut) {
                for value in headers.values_mut() {
                    *value = Value::String("<redacted>".into());
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_typed_and_unknown_keys_named() {
        let q = ListQuery::from_query(Some(
            "source=github&status=dead&limit=5&where=%24.a%20%3D%3D%201&since=",
        ))
        .unwrap();
        assert_eq!(q.filter.source.as_deref(), Some("github"));
        assert_eq!(q.filter.status.as_deref(), Some("dead"));
        assert_eq!(q.filter.since, None);
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.payload.as_deref(), Some("$.a == 1"));
        let e = ListQuery::from_query(Some("color=red")).unwrap_err();
        assert!(e.to_string().contains("color"), "{e}");
        let e = ListQuery::from_query(Some("limit=lots")).unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
        assert!(parse_query(Some("a=1&a=2")).is_err());
    }

    #[test]
    fn body_view_pretty_prints_json_and_base64s_binary() {
        match BodyView::of(br#"{"a":1}"#) {
            BodyView::Utf8 { pretty, .. } => assert_eq!(pretty.unwrap(), "{\n  \"a\": 1\n}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            BodyView::of(&[0xff, 0xfe]),
            BodyView::Base64 { .. }
        ));
    }

    #[test]
    fn config_redacts_literal_secrets_and_forward_headers() {
        let text = r#"
[[sources]]
name = "github"
provider = "github"
secrets = ["very-secret-literal"]

[[routes]]
source = "github"
events = ["*"]
handlers = ["mirror"]

[handlers.mirror]
kind = "forward"
url = "http://127.0.0.1:9/x"
headers = { authorization = "Bearer top-secret-token" }
"#;
        let c = crate::config::Config::parse(text, "test").unwrap();
        let shown = redacted_config(&c).to_string();
        assert!(!shown.contains("very-secret-literal"), "{shown}");
        assert!(!shown.contains("top-secret-token"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
        assert!(shown.contains("github"));
    }
}
