//! The event store port, shaped after DynamoDB: a conditional put that returns the old item, batch
//! get, conditional updates. No operation needs a read before a write.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::model::{
    Attempt, AttemptOutcome, DeliveryId, EventId, EventStatus, Generation, Millis, NewEvent,
    SourceName, StoredEvent,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or timed out: the caller may retry (ingest answers 503).
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// A stored item could not be read back.
    #[error("stored event is corrupt: {0}")]
    Corrupt(String),
    /// The request itself is wrong (e.g. a cursor that was not issued by this store).
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// The item is larger than the backend accepts.
    #[error("event too large to store: {0}")]
    TooLarge(String),
}

/// Result of the one conditional write at ingest.
#[derive(Debug, Clone, PartialEq)]
pub enum PutOutcome {
    Inserted,
    /// The id was already stored: the item as it is now (DynamoDB's `ALL_OLD`).
    Duplicate(Box<StoredEvent>),
}

/// A processor's request to run generation `generation` of an event.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    pub event_id: EventId,
    pub generation: Generation,
    /// Random per claim (see [`crate::model::new_lease_token`]); `record` must present it.
    pub token: String,
    pub now: Millis,
    /// Until it is recorded, the claimed event stays on the sweep's index from this instant: if
    /// the process dies or times out and the message does not come back (its receives were used
    /// up and the queue moved it to the dead-letter queue), the sweep marks it `dead` (see
    /// [`EventStore::mark_abandoned`]).
    pub lease_until: Millis,
    /// The lease token the message carries (ingest's, on a new event's first message): a lease
    /// with this token is this message's own, and the claim takes it over even while it lasts.
    pub held: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// Status is now `processing`, `attempts` + 1, the lease is ours. The item after the update.
    Claimed(Box<StoredEvent>),
    /// `processed_generation >= generation`: this generation already reached a final outcome.
    AlreadyProcessed,
    /// The event was replayed since: its generation is newer than the message's.
    Superseded {
        current: Generation,
    },
    /// Another processor holds a live lease until then.
    Leased {
        until: Millis,
    },
    NotFound,
}

/// The outcome of one processing run, written in one conditional update.
#[derive(Debug, Clone)]
pub struct RecordRequest {
    pub event_id: EventId,
    pub generation: Generation,
    pub token: String,
    pub status: EventStatus,
    /// True when this generation is done (succeeded/failed/quarantined): sets
    /// `processed_generation`. False for `retrying` and `dead` (a DLQ redrive must run it again).
    pub final_for_generation: bool,
    /// The full map of handlers that reached a final outcome in this generation.
    pub handlers_done: BTreeMap<String, AttemptOutcome>,
    /// The full attempt log to store (already trimmed to `StoredEvent::MAX_ATTEMPTS_KEPT`).
    pub attempt_log: Vec<Attempt>,
    pub last_error: Option<String>,
    pub now: Millis,
    /// For `retrying`: when the message becomes visible again. Until a new claim, the event stays
    /// on the sweep's index from then: if that receive is used up before it claims (a kill) and it
    /// was the last, the message is in the dead-letter queue and the sweep marks the event `dead`.
    pub retry_at: Option<Millis>,
    /// True when the run held ingest's lease rather than a claim (a new event's first message):
    /// the record counts the attempt, as a claim does otherwise.
    pub add_attempt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    Recorded,
    /// The lease was taken over or cleared (lease expired and another claim, or a replay).
    LeaseLost,
}

/// A replay's mark: generation + 1, status back to `received`, lease cleared.
#[derive(Debug, Clone)]
pub struct ReplayMark {
    pub event_id: EventId,
    pub run_id: String,
    pub now: Millis,
}

/// An event the sweep must look at: `received` and never claimed (it re-enqueues it), or
/// `processing` / `retrying` whose message never came back to be claimed (it marks it dead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    pub event_id: EventId,
    pub generation: Generation,
    /// When it was stored or replayed (`received`; stored with ingest's lease: when that lease
    /// ends), when its lease ended (`processing`), or when its message was due back (`retrying`).
    pub since: Millis,
    pub status: EventStatus,
}

/// The sweep's settlement of a claim whose lease ended long ago and was never recorded.
#[derive(Debug, Clone)]
pub struct AbandonRequest {
    pub event_id: EventId,
    pub generation: Generation,
    /// The `since` the sweep read: the update applies only if nothing moved the event since.
    pub since: Millis,
    pub now: Millis,
    pub reason: String,
}

/// Filters for listing; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub source: Option<SourceName>,
    pub status: Option<EventStatus>,
    pub event_type: Option<String>,
    pub delivery_id: Option<DeliveryId>,
    /// Inclusive lower bound on `received_at`.
    pub since: Option<Millis>,
    /// Exclusive upper bound on `received_at`.
    pub until: Option<Millis>,
}

impl EventFilter {
    pub fn matches(&self, e: &StoredEvent) -> bool {
        self.source.as_ref().is_none_or(|s| *s == e.source)
            && self.status.is_none_or(|s| s == e.status)
            && self.event_type.as_ref().is_none_or(|t| *t == e.event_type)
            && self
                .delivery_id
                .as_ref()
                .is_none_or(|d| *d == e.delivery_id)
            && self.since.is_none_or(|t| e.received_at >= t)
            && self.until.is_none_or(|t| e.received_at < t)
    }
}

#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Opaque, from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    pub limit: usize,
}

/// Newest first (`received_at` descending).
#[derive(Debug, Clone)]
pub struct Page {
    pub events: Vec<StoredEvent>,
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// One conditional write: inserts unless the id exists, and then returns the stored item.
    async fn put_new(&self, event: &NewEvent) -> Result<PutOutcome, StoreError>;

    async fn get(&self, id: &EventId) -> Result<Option<StoredEvent>, StoreError>;

    /// The events of a processor batch in one call; missing ids are simply absent.
    async fn get_many(&self, ids: &[EventId]) -> Result<Vec<StoredEvent>, StoreError>;

    /// Conditional: `generation == g && processed_generation < g` and no live lease other than
    /// the one the message holds (`held`).
    async fn claim(&self, req: &ClaimRequest) -> Result<ClaimOutcome, StoreError>;

    /// Conditional on `token` still holding the lease (a claim's, or ingest's for a new event's
    /// first message) on generation `g`; clears the lease.
    async fn record(&self, req: &RecordRequest) -> Result<RecordOutcome, StoreError>;

    /// Gives up ingest's lease when the message it was taken for could not be sent: conditional on
    /// `token` holding the lease and the event still `received`. Clears the lease and puts the
    /// event back on the sweep's index from when it was received, so a provider's retry re-sends
    /// at once (and the sweep finds it). False when the condition does not hold.
    async fn release(&self, id: &EventId, token: &str) -> Result<bool, StoreError>;

    /// Marks an event for replay; `None` when it does not exist. Returns the item after the update.
    async fn mark_replay(&self, mark: &ReplayMark) -> Result<Option<StoredEvent>, StoreError>;

    /// Conditional: `status` is `processing` or `retrying`, `generation == g`, and the event is
    /// still on the sweep's index at `since` (nothing claimed, recorded or replayed it since), and
    /// `since` is before `now` (the lease ended, or the message was due back). Sets
    /// `dead` with `reason` as the last error, clears the lease and the sweep index. False when the
    /// condition does not hold.
    async fn mark_abandoned(&self, req: &AbandonRequest) -> Result<bool, StoreError>;

    /// Events the sweep must look at since before `older_than`, oldest first: `received` ones
    /// (stored or replayed, never claimed) and claims whose lease ended unrecorded.
    async fn pending(
        &self,
        older_than: Millis,
        limit: usize,
    ) -> Result<Vec<PendingEvent>, StoreError>;

    async fn list(&self, filter: &EventFilter, page: &PageRequest) -> Result<Page, StoreError>;
}
