//! The processor: one batch of pointer messages in, the ids of the messages to keep (retry) out.
//! Written once; the SQS Lambda returns the failures as `batchItemFailures`, the local loop deletes
//! the others.
//!
//! Per message: decode → (batch-loaded) event → claim generation → route → run the handlers not yet
//! done in this generation, concurrently and bounded → one conditional record. A new event's first
//! message skips the claim: ingest took the lease for it when it stored the event, so the happy
//! path costs one update per event (the record). Transient failures
//! get an exponential backoff with jitter through the visibility timeout; on the last receive the
//! event is `dead` and SQS moves the message to the DLQ.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::clock::Clock;
use crate::config::Config;
use crate::handlers::{ErrorKind, Event, Handlers};
use crate::message::QueueMessage;
use crate::model::{
    Attempt, AttemptOutcome, EventId, EventStatus, Millis, StoredEvent, new_lease_token,
};
use crate::ports::{ClaimOutcome, ClaimRequest, EventStore, Queue, RecordOutcome, RecordRequest};
use crate::routing::Router;

/// One message as the queue delivered it.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    pub receive_count: u32,
}

impl From<crate::ports::Received> for InboundMessage {
    fn from(m: crate::ports::Received) -> Self {
        Self {
            message_id: m.message_id,
            receipt: m.receipt,
            body: m.body,
            receive_count: m.receive_count,
        }
    }
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done with: delete the message.
    Ack(AckReason),
    /// Keep it: it comes back after its (possibly changed) visibility timeout.
    Retry(RetryReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckReason {
    Succeeded,
    Failed,
    Quarantined,
    AlreadyProcessed,
    Superseded,
    NotFound,
    Malformed,
    LeaseLost,
    /// Another message of the same batch carries the same event and generation; that one runs.
    DuplicateInBatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    Transient,
    /// Last receive used up: the queue moves it to the dead-letter queue.
    Dead,
    Leased,
    StoreUnavailable,
}

#[derive(Debug, Clone)]
pub struct MessageResult {
    pub message_id: String,
    pub receipt: String,
    pub event_id: Option<EventId>,
    pub disposition: Disposition,
}

#[derive(Debug, Clone, Default)]
pub struct BatchResult {
    pub results: Vec<MessageResult>,
}

impl BatchResult {
    /// Message ids to report as `batchItemFailures`.
    pub fn failures(&self) -> Vec<String> {
        self.results
            .iter()
            .filter(|r| matches!(r.disposition, Disposition::Retry(_)))
            .map(|r| r.message_id.clone())
            .collect()
    }

    /// Receipts of messages to delete (local loop).
    pub fn acked_receipts(&self) -> Vec<String> {
        self.results
            .iter()
            .filter(|r| matches!(r.disposition, Disposition::Ack(_)))
            .map(|r| r.receipt.clone())
            .collect()
    }
}

/// Tunables, from `[queue]` and `[retry]`.
#[derive(Debug, Clone)]
pub struct ProcessSettings {
    pub max_receive_count: u32,
    pub visibility_timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub handler_concurrency: usize,
}

impl ProcessSettings {
    pub fn from_config(c: &Config) -> Self {
        Self {
            max_receive_count: c.queue.max_receive_count,
            visibility_timeout: c.queue.visibility_timeout,
            backoff_base: c.retry.backoff_base,
            backoff_max: c.retry.backoff_max,
            handler_concurrency: c.queue.handler_concurrency,
        }
    }

    /// Exponential backoff with "equal jitter": half the exponential delay, plus up to that again.
    pub fn backoff(&self, receive_count: u32) -> Duration {
        let exp = receive_count.saturating_sub(1).min(30);
        let full = self
            .backoff_base
            .saturating_mul(1u32 << exp)
            .min(self.backoff_max);
        let half = full / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let jitter = Duration::from_millis(if jitter_ms == 0 {
            0
        } else {
            rand::random_range(0..=jitter_ms)
        });
        (half + jitter).max(Duration::from_secs(1))
    }
}

/// Errors longer than this are cut on the attempt and in `last_error`.
const MAX_ERROR_LEN: usize = 1000;

pub struct Processor {
    store: Arc<dyn EventStore>,
    queue: Arc<dyn Queue>,
    router: Router,
    handlers: Handlers,
    clock: Arc<dyn Clock>,
    settings: ProcessSettings,
    semaphore: Arc<Semaphore>,
}

impl Processor {
    pub fn new(
        store: Arc<dyn EventStore>,
        queue: Arc<dyn Queue>,
        router: Router,
        handlers: Handlers,
        clock: Arc<dyn Clock>,
        settings: ProcessSettings,
    ) -> Self {
        let semaphore = Arc::new(Semaphore::new(settings.handler_concurrency.max(1)));
        Self {
            store,
            queue,
            router,
            handlers,
            clock,
            settings,
            semaphore,
        }
    }

    pub fn settings(&self) -> &ProcessSettings {
        &self.settings
    }

    /// Processes one batch. Never fails as a whole: each message gets its own disposition.
    pub async fn process_batch(&self, batch: &[InboundMessage]) -> BatchResult {
        let decoded: Vec<Option<QueueMessage>> = batch
            .iter()
            .map(|m| match QueueMessage::decode(&m.body) {
                Ok(q) => Some(q),
                Err(e) => {
                    tracing::error!(message_id = %m.message_id, error = %e, "malformed queue message dropped");
                    None
                }
            })
            .collect();
        let mut ids: Vec<EventId> = decoded
            .iter()
            .flatten()
            .map(|q| q.event_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        let loaded: Result<HashMap<EventId, StoredEvent>, _> = if ids.is_empty() {
            Ok(HashMap::new())
        } else {
            self.store
                .get_many(&ids)
                .await
                .map(|v| v.into_iter().map(|e| (e.event_id.clone(), e)).collect())
        };
        let loaded = match loaded {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "batch load failed; every message will be retried");
                return BatchResult {
                    results: batch
                        .iter()
                        .zip(&decoded)
                        .map(|(m, q)| {
                            self.result(
                                m,
                                q.as_ref().map(|q| q.event_id.clone()),
                                Disposition::Retry(RetryReason::StoreUnavailable),
                            )
                        })
                        .collect(),
                };
            }
        };
        // Two pointers to the same generation in one batch (a provider retry plus the sweep, say):
        // only the first runs; the other is deleted, which is safe because the first stays in the
        // queue until its outcome is recorded.
        let mut seen = std::collections::HashSet::new();
        let futures = batch.iter().zip(decoded).map(|(m, q)| {
            let duplicate = q
                .as_ref()
                .is_some_and(|q| !seen.insert((q.event_id.clone(), q.generation)));
            let event = q.as_ref().and_then(|q| loaded.get(&q.event_id));
            async move {
                if duplicate {
                    let id = q.map(|q| q.event_id);
                    return self.result(m, id, Disposition::Ack(AckReason::DuplicateInBatch));
                }
                self.process_one(m, q, event).await
            }
        });
        BatchResult {
            results: join_all(futures).await,
        }
    }

    fn result(
        &self,
        m: &InboundMessage,
        event_id: Option<EventId>,
        disposition: Disposition,
    ) -> MessageResult {
        MessageResult {
            message_id: m.message_id.clone(),
            receipt: m.receipt.clone(),
            event_id,
            disposition,
        }
    }

    async fn process_one(
        &self,
        m: &InboundMessage,
        q: Option<QueueMessage>,
        event: Option<&StoredEvent>,
    ) -> MessageResult {
        let Some(q) = q else {
            return self.result(m, None, Disposition::Ack(AckReason::Malformed));
        };
        let span = tracing::info_span!(
            "process",
            event_id = %q.event_id,
            generation = q.generation.get(),
            source = tracing::field::Empty,
            delivery_id = tracing::field::Empty,
            receive_count = m.receive_count,
        );
        if let Some(e) = event {
            span.record("source", e.source.as_str());
            span.record("delivery_id", e.delivery_id.as_str());
        }
        let d = self.dispose(m, &q, event).instrument(span.clone()).await;
        span.in_scope(|| tracing::info!(disposition = ?d, "message done"));
        self.result(m, Some(q.event_id), d)
    }

    async fn dispose(
        &self,
        m: &InboundMessage,
        q: &QueueMessage,
        event: Option<&StoredEvent>,
    ) -> Disposition {
        let g = q.generation;
        match event {
            None => return Disposition::Ack(AckReason::NotFound),
            Some(e) if e.processed_generation >= g.get() => {
                return Disposition::Ack(AckReason::AlreadyProcessed);
            }
            Some(e) if e.generation > g => return Disposition::Ack(AckReason::Superseded),
            Some(_) => {}
        }
        let now = self.clock.now_ms();
        // A new event's first message runs on the lease ingest took when it stored the event:
        // no claim write (one AWS call less per event). Every other message claims.
        let (claimed, token, add_attempt) =
            match event.and_then(|e| self.ingest_lease(m, q, e, now)) {
                Some((e, token)) => (std::borrow::Cow::Borrowed(e), token, true),
                None => match self.claim(m, q, now).await {
                    Ok((e, token)) => (std::borrow::Cow::Owned(e), token, false),
                    Err(d) => return d,
                },
            };
        let run_started = self.clock.now_ms();
        let run = self.run(&claimed, g, m.receive_count).await;
        let retry_in = self.settings.backoff(m.receive_count);
        let now = self.clock.now_ms();
        let record = RecordRequest {
            event_id: q.event_id.clone(),
            generation: g,
            token,
            status: run.status,
            final_for_generation: run.final_for_generation,
            handlers_done: run.handlers_done,
            attempt_log: run.attempt_log,
            last_error: run.last_error,
            now,
            retry_at: (run.status == EventStatus::Retrying).then(|| now + millis(retry_in)),
            add_attempt,
        };
        match self.store.record(&record).await {
            Ok(RecordOutcome::Recorded) => observe(&claimed, &record, run_started),
            Ok(RecordOutcome::LeaseLost) => {
                tracing::warn!(
                    "lease lost while running (replayed or taken over); leaving it to the new owner"
                );
                return Disposition::Ack(AckReason::LeaseLost);
            }
            Err(e) => {
                tracing::warn!(error = %e, "recording the outcome failed; the message will be retried");
                self.set_visibility(m, self.settings.backoff(m.receive_count))
                    .await;
                return Disposition::Retry(RetryReason::StoreUnavailable);
            }
        }
        match run.status {
            EventStatus::Succeeded => Disposition::Ack(AckReason::Succeeded),
            EventStatus::Failed => Disposition::Ack(AckReason::Failed),
            EventStatus::Quarantined => Disposition::Ack(AckReason::Quarantined),
            EventStatus::Dead => {
                // Visible again at once, so the queue's next receive moves it to the DLQ.
                self.set_visibility(m, Duration::ZERO).await;
                Disposition::Retry(RetryReason::Dead)
            }
            _ => {
                self.set_visibility(m, retry_in).await;
                Disposition::Retry(RetryReason::Transient)
            }
        }
    }

    /// The lease ingest took for this message, when the processor may run on it without a claim:
    /// the message's first receive, carrying the token the (batch-loaded) event still holds on
    /// this generation, with at least half a visibility timeout left to run in. Anything else (a
    /// redelivery, the sweep's or a duplicate's message, a lease about to end) claims.
    fn ingest_lease<'e>(
        &self,
        m: &InboundMessage,
        q: &QueueMessage,
        e: &'e StoredEvent,
        now: Millis,
    ) -> Option<(&'e StoredEvent, String)> {
        let token = q.lease.as_deref()?;
        let lease = e.lease.as_ref()?;
        let usable = m.receive_count == 1
            && lease.token == token
            && lease.generation == q.generation.get()
            && e.generation == q.generation
            && lease.until - now >= millis(self.settings.visibility_timeout) / 2;
        usable.then(|| (e, token.to_owned()))
    }

    /// Claims generation `q.generation` for this run: the item after the claim and the lease's
    /// token, or what to do with the message.
    async fn claim(
        &self,
        m: &InboundMessage,
        q: &QueueMessage,
        now: Millis,
    ) -> Result<(StoredEvent, String), Disposition> {
        let claim = ClaimRequest {
            event_id: q.event_id.clone(),
            generation: q.generation,
            token: new_lease_token(),
            now,
            lease_until: now + millis(self.settings.visibility_timeout),
            // A first message that came too late to run on ingest's lease renews it here.
            held: q.lease.clone(),
        };
        match self.store.claim(&claim).await {
            Ok(ClaimOutcome::Claimed(e)) => Ok((*e, claim.token)),
            Ok(ClaimOutcome::AlreadyProcessed) => {
                Err(Disposition::Ack(AckReason::AlreadyProcessed))
            }
            Ok(ClaimOutcome::Superseded { .. }) => Err(Disposition::Ack(AckReason::Superseded)),
            Ok(ClaimOutcome::NotFound) => Err(Disposition::Ack(AckReason::NotFound)),
            Ok(ClaimOutcome::Leased { until }) => {
                let wait = Duration::from_millis(u64::try_from(until - now).unwrap_or(0))
                    + Duration::from_secs(1);
                self.set_visibility(m, wait).await;
                Err(Disposition::Retry(RetryReason::Leased))
            }
            Err(e) => {
                tracing::warn!(error = %e, "claim failed");
                self.set_visibility(m, self.settings.backoff(m.receive_count))
                    .await;
                Err(Disposition::Retry(RetryReason::StoreUnavailable))
            }
        }
    }

    async fn set_visibility(&self, m: &InboundMessage, d: Duration) {
        if let Err(e) = self.queue.change_visibility(&m.receipt, d).await {
            // Not fatal: the message still comes back after its current visibility timeout.
            tracing::warn!(error = %e, "could not change message visibility");
        }
    }

    /// Runs the routed handlers not yet done in generation `g` and decides the new status.
    async fn run(
        &self,
        e: &StoredEvent,
        g: crate::model::Generation,
        receive_count: u32,
    ) -> RunOutcome {
        let mut done: BTreeMap<String, AttemptOutcome> =
            e.done_in(g).map(|(k, v)| (k.clone(), *v)).collect();
        let mut log = e.attempt_log.clone();
        // The payload's value is built only when a route condition or a routed handler reads
        // it; a JSON body is checked either way (one that does not parse is quarantined).
        let routes_read = self.router.needs_payload(&e.source);
        let routed = |payload: Option<&Value>| -> Vec<String> {
            self.router
                .route(&e.source, &e.event_type, payload)
                .into_iter()
                .filter(|h| !done.contains_key(h))
                .collect()
        };
        let parsed = if routes_read {
            parse_payload(e, true).map(|p| {
                let names = routed(p.as_ref());
                (p, names)
            })
        } else {
            let names = routed(None);
            let build = names.iter().any(|n| self.handlers.reads_payload(n));
            parse_payload(e, build).map(|p| (p, names))
        };
        let (payload, names) = match parsed {
            Ok(p) => p,
            Err(reason) => {
                return RunOutcome {
                    status: EventStatus::Quarantined,
                    final_for_generation: true,
                    handlers_done: done,
                    attempt_log: log,
                    last_error: Some(reason),
                };
            }
        };
        let event = Event {
            event_id: e.event_id.clone(),
            source: e.source.clone(),
            delivery_id: e.delivery_id.clone(),
            event_type: e.event_type.clone(),
            generation: g,
            received_at: e.received_at,
            content_type: e.content_type.clone(),
            headers: e.headers.clone(),
            body: e.body.clone(),
            payload,
        };
        let attempts = join_all(names.iter().map(|n| self.run_handler(n, &event))).await;
        let mut transient = false;
        let mut errors = Vec::new();
        for a in attempts {
            match a.outcome {
                AttemptOutcome::Transient => transient = true,
                other => {
                    done.insert(a.handler.clone(), other);
                }
            }
            if let Some(err) = &a.error {
                errors.push(format!("{}: {err}", a.handler));
            }
            log.push(a);
        }
        let excess = log.len().saturating_sub(StoredEvent::MAX_ATTEMPTS_KEPT);
        log.drain(..excess);
        let any_permanent = done.values().any(|o| *o == AttemptOutcome::Permanent);
        let (status, final_for_generation) = if transient {
            if receive_count >= self.settings.max_receive_count {
                (EventStatus::Dead, false)
            } else {
                (EventStatus::Retrying, false)
            }
        } else if any_permanent {
            (EventStatus::Failed, true)
        } else {
            (EventStatus::Succeeded, true)
        };
        let last_error = if errors.is_empty() && status == EventStatus::Succeeded {
            None
        } else if errors.is_empty() {
            e.last_error.clone()
        } else {
            Some(cut(&errors.join("; "), MAX_ERROR_LEN))
        };
        RunOutcome {
            status,
            final_for_generation,
            handlers_done: done,
            attempt_log: log,
            last_error,
        }
    }

    async fn run_handler(&self, name: &str, event: &Event) -> Attempt {
        let started_at = self.clock.now_ms();
        let clock = Instant::now();
        let Some(h) = self.handlers.get(name) else {
            return Attempt {
                handler: name.to_owned(),
                generation: event.generation.get(),
                outcome: AttemptOutcome::Permanent,
                started_at,
                duration_ms: 0,
                error: Some(format!("no handler named `{name}` is configured")),
                exit_code: None,
                http_status: None,
                output: None,
            };
        };
        let result = {
            let _permit = self.semaphore.acquire().await;
            h.handle(event)
                .instrument(tracing::info_span!("handler", handler = name))
                .await
        };
        let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (outcome, error, exit_code, http_status, output) = match result {
            Ok(r) => (
                AttemptOutcome::Succeeded,
                None,
                r.exit_code,
                r.http_status,
                r.output,
            ),
            Err(err) => (
                match err.kind {
                    ErrorKind::Transient => AttemptOutcome::Transient,
                    ErrorKind::Permanent => AttemptOutcome::Permanent,
                },
                Some(cut(&err.message, MAX_ERROR_LEN)),
                err.exit_code,
                err.http_status,
                err.output,
            ),
        };
        tracing::info!(
            handler = name,
            outcome = outcome.as_str(),
            duration_ms,
            "handler finished"
        );
        Attempt {
            handler: name.to_owned(),
            generation: event.generation.get(),
            outcome,
            started_at,
            duration_ms,
            error,
            exit_code,
            http_status,
            output: output.map(|o| cut(&o, 2048)),
        }
    }
}

struct RunOutcome {
    status: EventStatus,
    final_for_generation: bool,
    handlers_done: BTreeMap<String, AttemptOutcome>,
    attempt_log: Vec<Attempt>,
    last_error: Option<String>,
}

/// The payload as JSON: JSON bodies parsed (a JSON content type that does not parse quarantines
/// the event), form bodies as an object of their fields, anything else none. Without `build`, a
/// JSON body is only checked (no value is built) and the answer is none.
fn parse_payload(e: &StoredEvent, build: bool) -> Result<Option<Value>, String> {
    let ct = e.content_type.as_deref().unwrap_or("").to_ascii_lowercase();
    let looks_json =
        ct.contains("json") || (ct.is_empty() && matches!(e.body.first(), Some(b'{' | b'[')));
    let not_json = |err: serde_json::Error| {
        format!("body is not valid JSON ({err}) although the content type says so")
    };
    if looks_json && !build {
        return serde_json::from_slice::<serde::de::IgnoredAny>(&e.body)
            .map(|_| None)
            .map_err(not_json);
    }
    if looks_json {
        return serde_json::from_slice(&e.body).map(Some).map_err(not_json);
    }
    if !build {
        return Ok(None);
    }
    if ct.starts_with("application/x-www-form-urlencoded") {
        let map: serde_json::Map<String, Value> = url::form_urlencoded::parse(&e.body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        return Ok(Some(Value::Object(map)));
    }
    Ok(None)
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn millis(d: Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The processing metrics of one recorded run: its outcome, the durations of the handlers it ran,
/// and, for a first delivery that succeeded, the end-to-end latency.
fn observe(e: &StoredEvent, record: &RecordRequest, run_started: Millis) {
    let source = e.source.as_str();
    crate::metrics::processed(source, record.status.as_str());
    for a in record
        .attempt_log
        .iter()
        .filter(|a| a.generation == record.generation.get() && a.started_at >= run_started)
    {
        crate::metrics::handler_duration(source, a.duration_ms);
    }
    // The first generation only: a replay's latency from the original delivery means nothing.
    if record.status == EventStatus::Succeeded && record.generation.get() == 1 {
        crate::metrics::end_to_end(source, record.now - e.received_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let s = ProcessSettings {
            max_receive_count: 5,
            visibility_timeout: Duration::from_secs(30),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(60),
            handler_concurrency: 4,
        };
        for _ in 0..50 {
            let b1 = s.backoff(1);
            assert!(
                b1 >= Duration::from_secs(1) && b1 <= Duration::from_secs(2),
                "{b1:?}"
            );
            let b3 = s.backoff(3);
            assert!(
                b3 >= Duration::from_secs(4) && b3 <= Duration::from_secs(8),
                "{b3:?}"
            );
            let b20 = s.backoff(20);
            assert!(
                b20 >= Duration::from_secs(30) && b20 <= Duration::from_secs(60),
                "{b20:?}"
            );
        }
        let samples: std::collections::BTreeSet<_> = (0..20).map(|_| s.backoff(5)).collect();
        assert!(samples.len() > 1, "jitter should vary the delay");
    }
}
