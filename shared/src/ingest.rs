//! Ingest: the order of checks from `../shared/DESIGN.md`, written once for every edge.
//!
//! 1. source → 404; size → 413 (the edge enforces it while reading; checked again here);
//! 2. signature over the raw bytes → 401; 3. delivery id and event type;
//! 4. one conditional write (the dedupe); 5. send the pointer message; 6. 202 / 200 duplicate.
//!
//! Store down → 503, nothing written. Send failed after the write → 503 so the provider retries;
//! a retry that finds the item still `received` once the lease ingest took for the first message
//! has ended re-sends (the sweep does too).
//!
//! The stored event carries that lease (one visibility timeout) and the message its token: on its
//! first receive the processor runs on it without a claim write of its own.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use tracing::Instrument;

use crate::clock::Clock;
use crate::config::{Config, SecretConfig};
use crate::message::QueueMessage;
use crate::model::{
    DeliveryId, EventId, EventStatus, Generation, Lease, Millis, NewEvent, SourceName,
};
use crate::ports::{
    AtomicIntake, EventStore, IntakeError, PutOutcome, Queue, QueueError, StoreError,
};
use crate::secrets::{SecretError, SecretResolver};
use crate::verify::{Handshake, KeyedSecret, Verifier, VerifyError, VerifyRequest, verifier_for};

/// What an edge hands to ingest.
#[derive(Debug, Clone, Copy)]
pub struct IngestRequest<'a> {
    /// The raw `{source}` path segment, not yet parsed.
    pub source: &'a str,
    pub method: &'a str,
    /// The public URL the provider posted to.
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub peer_ip: Option<IpAddr>,
}

/// What the I/O-free steps of ingest decided (see [`Ingest::prepare`]).
#[derive(Debug)]
pub enum Prepared {
    /// Verified: the event to store.
    Event(NewEvent),
    /// A provider's handshake, verified: answered without storing anything.
    Handshake(Handshake),
    /// Signed correctly but with a timestamp out of tolerance: a duplicate if the event is
    /// already stored (a late provider retry), else `error` (401).
    Stale {
        event_id: EventId,
        error: VerifyError,
    },
}

/// A delivery that was stored (now or before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    New {
        event_id: EventId,
    },
    Duplicate {
        event_id: EventId,
    },
    /// A verified provider handshake (Slack, Zoom, Discord, Twitch), answered as is; no event.
    Handshake(Handshake),
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no source named `{0}`")]
    UnknownSource(String),
    #[error("method {0} is not allowed; providers must POST")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("body is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("{0}")]
    Unauthorized(#[from] VerifyError),
    #[error("delivery id from the provider is not usable: {0}")]
    BadDeliveryId(String),
    #[error("source secret unavailable: {0}")]
    SecretUnavailable(#[from] SecretError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("event stored but not enqueued: {0}")]
    Queue(#[from] QueueError),
}

impl IngestError {
    /// A short, bounded label for metrics and the JSON `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownSource(_) => "unknown_source",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Forbidden(_) => "forbidden",
            Self::TooLarge { .. } => "payload_too_large",
            Self::Unauthorized(_) => "unauthorized",
            Self::BadDeliveryId(_) => "bad_delivery_id",
            Self::SecretUnavailable(_) => "secret_unavailable",
            Self::Store(StoreError::TooLarge(_)) => "payload_too_large",
            Self::Store(_) => "store_unavailable",
            Self::Queue(_) => "queue_unavailable",
        }
    }
}

/// A configured source, ready to verify.
struct SourceRuntime {
    name: SourceName,
    verifier: Box<dyn Verifier>,
    secrets: Vec<SecretConfig>,
    tolerance: Duration,
    keep_headers: Vec<String>,
    allow_ips: Vec<ipnet::IpNet>,
    public_url: Option<String>,
}

/// Ingest, built once at start-up (no network calls).
pub struct Ingest {
    sources: HashMap<String, SourceRuntime>,
    store: Arc<dyn EventStore>,
    queue: Arc<dyn Queue>,
    /// The store and queue's one-transaction put + send, when the backend has it.
    intake: Option<Arc<dyn AtomicIntake>>,
    secrets: Arc<SecretResolver>,
    clock: Arc<dyn Clock>,
    max_body: usize,
    retention_ms: i64,
    /// How long the lease ingest takes for a new event's first message lasts: the queue's
    /// visibility timeout, as a processor's claim.
    lease_ms: i64,
}

const MAX_KEPT_HEADER_LEN: usize = 1024;

impl Ingest {
    pub fn new(
        config: &Config,
        store: Arc<dyn EventStore>,
        queue: Arc<dyn Queue>,
        secrets: Arc<SecretResolver>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let mut sources = HashMap::new();
        for s in &config.sources {
            let verifier = verifier_for(&s.provider, &s.options)
                .ok_or_else(|| format!("source `{}`: unknown provider `{}`", s.name, s.provider))?;
            let mut keep: Vec<String> = config
                .ingest
                .keep_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect();
            keep.extend(verifier.kept_headers().iter().map(|h| (*h).to_owned()));
            keep.sort();
            keep.dedup();
            sources.insert(
                s.name.to_string(),
                SourceRuntime {
                    name: s.name.clone(),
                    verifier,
                    secrets: s.secrets.clone(),
                    tolerance: s.tolerance,
                    keep_headers: keep,
                    allow_ips: s.allow_ips.clone(),
                    public_url: s.public_url.clone(),
                },
            );
        }
        Ok(Self {
            sources,
            store,
            queue,
            intake: None,
            secrets,
            clock,
            max_body: config.ingest.max_body_bytes,
            retention_ms: i64::try_from(config.ingest.retention.as_millis()).unwrap_or(i64::MAX),
            lease_ms: i64::try_from(config.queue.visibility_timeout.as_millis())
                .unwrap_or(i64::MAX),
        })
    }

    /// Stores new events and their messages through `intake` (one transaction) instead of
    /// `put_new` then `send`. `intake` must write to this ingest's store and main queue.
    pub fn set_intake(&mut self, intake: Arc<dyn AtomicIntake>) {
        self.intake = Some(intake);
    }

    /// The body limit the edge enforces while reading.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// Whether a source exists (edges may check before reading a body).
    pub fn has_source(&self, raw: &str) -> bool {
        self.sources.contains_key(raw)
    }

    pub async fn handle(&self, req: &IngestRequest<'_>) -> Result<Accepted, IngestError> {
        let span = tracing::info_span!(
            "ingest",
            source = %req.source,
            event_id = tracing::field::Empty,
            delivery_id = tracing::field::Empty,
            generation = tracing::field::Empty,
        );
        let result = self.handle_inner(req).instrument(span.clone()).await;
        let label = self
            .sources
            .get(req.source)
            .map_or("unknown", |s| s.name.as_str());
        match &result {
            // A provider's handshake is not a delivery.
            Ok(Accepted::Handshake(_)) => {}
            Ok(a) => {
                crate::metrics::ingest_outcome(label, Ok(matches!(a, Accepted::Duplicate { .. })))
            }
            Err(e) => crate::metrics::ingest_outcome(label, Err(e.code())),
        }
        match &result {
            Ok(Accepted::Handshake(_)) => span.in_scope(|| tracing::info!("handshake answered")),
            // The span already carries the event id (recorded where it was derived): recording it
            // again would print it twice.
            Ok(Accepted::New { .. } | Accepted::Duplicate { .. }) => {
                let dup = matches!(result, Ok(Accepted::Duplicate { .. }));
                span.in_scope(|| tracing::info!(duplicate = dup, "accepted"));
            }
            Err(e) => span.in_scope(|| tracing::warn!(error = e.code(), reason = %e, "rejected")),
        }
        result
    }

    async fn handle_inner(&self, req: &IngestRequest<'_>) -> Result<Accepted, IngestError> {
        let source = self.admit(req)?;
        let now = self.clock.now_ms();
        let keys = self.resolve_secrets(source, now).await?;
        let event = match self.build(source, req, &keys, now)? {
            Prepared::Event(event) => event,
            Prepared::Handshake(reply) => return Ok(Accepted::Handshake(reply)),
            // A genuine but late retry of a delivery we already hold is a duplicate, not a 401.
            Prepared::Stale { event_id, error } => {
                return if self.store.get(&event_id).await?.is_some() {
                    Ok(Accepted::Duplicate { event_id })
                } else {
                    Err(error.into())
                };
            }
        };
        let event_id = event.event_id.clone();
        // Where the backend offers it, the event and its message are one transaction (one commit
        // to wait for); elsewhere put, then send.
        let outcome = match &self.intake {
            Some(intake) => {
                let message = QueueMessage::first(&event).encode();
                intake
                    .put_new_and_send(&event, &message)
                    .await
                    .map_err(|e| match e {
                        IntakeError::Store(e) => IngestError::Store(e),
                        IntakeError::Queue(e) => IngestError::Queue(e),
                    })?
            }
            None => self.store.put_new(&event).await?,
        };
        match outcome {
            PutOutcome::Inserted => {
                tracing::Span::current().record("generation", 1);
                if self.intake.is_none()
                    && let Err(e) = self.queue.send(&QueueMessage::first(&event).encode()).await
                {
                    // Nothing will run on the lease taken for that message: give it up, so the
                    // provider's retry re-sends at once. If this fails too, the sweep re-sends
                    // once the lease has ended.
                    if let Some(lease) = &event.lease
                        && let Err(release) = self.store.release(&event_id, &lease.token).await
                    {
                        tracing::warn!(error = %release, "could not release the lease after a failed send");
                    }
                    return Err(e.into());
                }
                Ok(Accepted::New { event_id })
            }
            PutOutcome::Duplicate(existing) => {
                // Stored before but maybe never enqueued (the send failed): send again, without
                // ingest's lease; a second message for the same generation is harmless, claims
                // dedupe it. Not while a lease lasts: its holder's message is on its way or
                // running (it comes back if that run dies), and a pointer sent now would only
                // wait for the lease. Once it has ended, a retry re-sends, as the sweep does.
                let leased = existing.lease.as_ref().is_some_and(|l| l.until >= now);
                if existing.status == EventStatus::Received && !leased {
                    self.enqueue(&event_id, existing.generation).await?;
                }
                Ok(Accepted::Duplicate { event_id })
            }
        }
    }

    /// Every step of ingest that does no I/O, in order: route, method, allowlist and size;
    /// signature; handshake; delivery id and event type; the event to store. `handle` runs exactly
    /// these steps around its secret lookup, store write and queue send; benchmarks and the fuzz
    /// target run them alone.
    pub fn prepare(
        &self,
        req: &IngestRequest<'_>,
        keys: &[KeyedSecret],
        now: Millis,
    ) -> Result<Prepared, IngestError> {
        let source = self.admit(req)?;
        self.build(source, req, keys, now)
    }

    /// Route, method, source address and size: before any secret is resolved.
    fn admit(&self, req: &IngestRequest<'_>) -> Result<&SourceRuntime, IngestError> {
        let source = self
            .sources
            .get(req.source)
            .ok_or_else(|| IngestError::UnknownSource(truncate(req.source, 64)))?;
        if !req.method.eq_ignore_ascii_case("POST") {
            return Err(IngestError::MethodNotAllowed(truncate(req.method, 16)));
        }
        if !source.allow_ips.is_empty() {
            // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d.
            let allowed = req
                .peer_ip
                .map(|ip| ip.to_canonical())
                .is_some_and(|ip| source.allow_ips.iter().any(|n| n.contains(&ip)));
            if !allowed {
                return Err(IngestError::Forbidden(match req.peer_ip {
                    Some(ip) => format!("source address {ip} is not allowed for this source"),
                    None => "the source address is unknown and this source has an allowlist".into(),
                }));
            }
        }
        if req.body.len() > self.max_body {
            return Err(IngestError::TooLarge {
                size: req.body.len(),
                limit: self.max_body,
            });
        }
        Ok(source)
    }

    /// Signature, handshake, ids, and the event to store.
    fn build(
        &self,
        source: &SourceRuntime,
        req: &IngestRequest<'_>,
        keys: &[KeyedSecret],
        now: Millis,
    ) -> Result<Prepared, IngestError> {
        // The URL the provider signed: the configured public URL plus the request's query.
        let public_url = source
            .public_url
            .as_ref()
            .map(|base| match req.url.split_once('?') {
                Some((_, q)) => format!("{base}?{q}"),
                None => base.clone(),
            });
        let vreq = VerifyRequest {
            method: req.method,
            url: public_url.as_deref().unwrap_or(req.url),
            headers: req.headers,
            body: req.body,
            now,
        };
        // A signature, id or timestamp header sent twice is ambiguous: which one was signed?
        if let Some(h) = source
            .verifier
            .expected_headers()
            .into_iter()
            .find(|h| req.headers.get_all(h.as_str()).iter().nth(1).is_some())
        {
            return Err(VerifyError::MalformedHeader {
                header: h,
                reason: "sent more than once".to_owned(),
            }
            .into());
        }
        let verified = source.verifier.verify(&vreq, keys, source.tolerance);
        // Unauthenticated requests learn nothing more (not even that their delivery id is bad).
        if let Err(e) = &verified
            && !matches!(e, VerifyError::StaleTimestamp { .. })
        {
            return Err(e.clone().into());
        }
        if let Ok(label) = &verified
            && let Some(key) = keys.iter().find(|k| &k.label == label)
            && let Some(reply) = source.verifier.handshake(&vreq, key)
        {
            return Ok(Prepared::Handshake(reply));
        }
        let identity = source.verifier.identify(&vreq);
        let delivery_id = match identity.delivery_id.as_deref() {
            Some(raw) => {
                DeliveryId::parse(raw).map_err(|e| IngestError::BadDeliveryId(e.to_string()))?
            }
            None => DeliveryId::from_body(req.body),
        };
        let event_id = EventId::derive(&source.name, &delivery_id);
        tracing::Span::current().record("delivery_id", delivery_id.as_str());
        tracing::Span::current().record("event_id", event_id.as_str());

        let secret_label = match verified {
            Ok(label) => label,
            Err(error @ VerifyError::StaleTimestamp { .. }) => {
                return Ok(Prepared::Stale { event_id, error });
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Prepared::Event(NewEvent {
            event_id,
            source: source.name.clone(),
            delivery_id,
            event_type: identity
                .event_type
                .filter(|t| !t.is_empty())
                .map_or_else(|| "unknown".to_owned(), |t| truncate(&t, 128)),
            received_at: now,
            content_type: header_text(req.headers, "content-type"),
            headers: kept_headers(req.headers, &source.keep_headers),
            body: bytes::Bytes::copy_from_slice(req.body),
            secret_label: Some(secret_label),
            expires_at: now.saturating_add(self.retention_ms),
            lease: Some(Lease {
                token: crate::model::new_lease_token(),
                generation: crate::model::Generation::FIRST.get(),
                until: now.saturating_add(self.lease_ms),
            }),
        }))
    }

    async fn enqueue(&self, id: &EventId, g: Generation) -> Result<(), QueueError> {
        self.queue
            .send(&QueueMessage::new(id.clone(), g).encode())
            .await
    }

    async fn resolve_secrets(
        &self,
        source: &SourceRuntime,
        now: i64,
    ) -> Result<Vec<KeyedSecret>, IngestError> {
        let mut keys = Vec::with_capacity(source.secrets.len());
        for s in source
            .secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|t| t > now))
        {
            keys.push(KeyedSecret {
                label: s.label.clone(),
                value: self.secrets.resolve(&s.reference).await?,
            });
        }
        if keys.is_empty() {
            return Err(VerifyError::NoSecret.into());
        }
        Ok(keys)
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| truncate(v, MAX_KEPT_HEADER_LEN))
}

fn kept_headers(headers: &HeaderMap, keep: &[String]) -> BTreeMap<String, String> {
    keep.iter()
        .filter_map(|name| header_text(headers, name).map(|v| (name.clone(), v)))
        .collect()
}
