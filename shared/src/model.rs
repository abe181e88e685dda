//! The event model: parse-don't-validate newtypes and the stored event.
//!
//! Every identifier that crosses a boundary (URL path, queue message, CLI argument, store item) is
//! parsed once into one of these types; code past the boundary never re-checks it.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error(
        "source name must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit"
    )]
    SourceName,
    #[error("event id must look like evt_ followed by 26 base32 characters")]
    EventId,
    #[error("delivery id must be 1-256 printable characters")]
    DeliveryId,
    #[error("generation must be a whole number of at least 1")]
    Generation,
}

/// The name of an inbound endpoint: the `{source}` in `POST /webhooks/{source}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SourceName(String);

impl SourceName {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ok_len = (1..=64).contains(&raw.len());
        let mut chars = raw.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok_len && first_ok && rest_ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdError::SourceName)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for SourceName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The provider's own id for one delivery (`X-GitHub-Delivery`, Stripe's `id`, `webhook-id`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct DeliveryId(String);

impl DeliveryId {
    pub const MAX_LEN: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ok =
            !raw.is_empty() && raw.len() <= Self::MAX_LEN && raw.chars().all(|c| !c.is_control());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdError::DeliveryId)
        }
    }

    /// The fallback when a provider sends no id: the hex SHA-256 of the body.
    pub fn from_body(body: &[u8]) -> Self {
        Self(format!("sha256:{}", hex::encode(Sha256::digest(body))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for DeliveryId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `evt_` + the first 26 characters of the lowercase base32 of SHA-256(source NUL delivery id).
///
/// Derived, never random: the same delivery always maps to the same id, so the store's conditional
/// write is the dedupe.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    const PREFIX: &'static str = "evt_";
    const LEN: usize = 26;

    pub fn derive(source: &SourceName, delivery: &DeliveryId) -> Self {
        let mut h = Sha256::new();
        h.update(source.as_str().as_bytes());
        h.update([0u8]);
        h.update(delivery.as_str().as_bytes());
        let digest = h.finalize();
        let b32 = data_encoding::BASE32_NOPAD
            .encode(&digest)
            .to_ascii_lowercase();
        Self(format!("{}{}", Self::PREFIX, &b32[..Self::LEN]))
    }

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let body = raw.strip_prefix(Self::PREFIX).ok_or(IdError::EventId)?;
        let ok = body.len() == Self::LEN
            && body
                .chars()
                .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdError::EventId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many times an event has been (re)enqueued on purpose; starts at 1, replay adds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Generation(u32);

impl Generation {
    pub const FIRST: Generation = Generation(1);

    pub fn new(n: u32) -> Result<Self, IdError> {
        if n >= 1 {
            Ok(Self(n))
        } else {
            Err(IdError::Generation)
        }
    }
    pub fn get(self) -> u32 {
        self.0
    }
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl<'de> Deserialize<'de> for Generation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        Self::new(n).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where an event is in its life. See `../shared/DESIGN.md`, "Status machine".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Received,
    Processing,
    Retrying,
    Succeeded,
    Failed,
    Dead,
    Quarantined,
}

impl EventStatus {
    pub const ALL: [EventStatus; 7] = [
        Self::Received,
        Self::Processing,
        Self::Retrying,
        Self::Succeeded,
        Self::Failed,
        Self::Dead,
        Self::Quarantined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Processing => "processing",
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Dead => "dead",
            Self::Quarantined => "quarantined",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Final states: nothing more happens to the event unless an operator replays it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Dead | Self::Quarantined
        )
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

/// A random id in the 8-4-4-4-12 hex layout of a UUID (message ids, sample delivery ids).
pub fn random_uuid() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// What ingest hands the store: one verified delivery, not yet stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_id: EventId,
    pub source: SourceName,
    pub delivery_id: DeliveryId,
    pub event_type: String,
    pub received_at: Millis,
    pub content_type: Option<String>,
    /// The few request headers a handler may need (lowercase names), never signature headers.
    pub headers: BTreeMap<String, String>,
    pub body: Bytes,
    /// Label of the secret that verified the signature (never the value).
    pub secret_label: Option<String>,
    /// TTL: the end of the dedupe window.
    pub expires_at: Millis,
    /// The lease ingest takes for the pointer message it sends right after storing the event: on
    /// that message's first receive the processor runs on this lease and records the outcome in
    /// one update, with no claim write of its own (see `Processor`). `None`: the first receive
    /// claims as every later one does.
    pub lease: Option<Lease>,
}

/// How one handler's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Succeeded,
    Transient,
    Permanent,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Transient => "transient",
            Self::Permanent => "permanent",
        }
    }
}

/// One handler run, kept on the event (the newest [`StoredEvent::MAX_ATTEMPTS_KEPT`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub handler: String,
    pub generation: u32,
    pub outcome: AttemptOutcome,
    pub started_at: Millis,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Tail of a program's stdout/stderr (exec handler), truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// An event as stored. The body is always the raw bytes as received (adapters compress it).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub event_id: EventId,
    pub source: SourceName,
    pub delivery_id: DeliveryId,
    pub event_type: String,
    pub received_at: Millis,
    pub content_type: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub body: Bytes,
    pub secret_label: Option<String>,
    pub expires_at: Millis,
    pub status: EventStatus,
    /// The generation the newest queue message carries.
    pub generation: Generation,
    /// The newest generation whose processing reached a final outcome (0: none).
    pub processed_generation: u32,
    /// Processing attempts (claims) over the event's whole life.
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Handlers that already ran to a final outcome in `handlers_generation`.
    pub handlers_done: BTreeMap<String, AttemptOutcome>,
    pub handlers_generation: u32,
    pub attempt_log: Vec<Attempt>,
    /// Held while a processor runs the event; `None` when nobody does.
    pub lease: Option<Lease>,
    pub replay_run_id: Option<String>,
    pub updated_at: Millis,
    /// When processing reached a final state (succeeded/failed/dead/quarantined), for latency.
    pub finished_at: Option<Millis>,
}

impl StoredEvent {
    /// How many attempts the item keeps (the oldest are dropped): bounds the item size.
    pub const MAX_ATTEMPTS_KEPT: usize = 20;

    pub fn from_new(new: NewEvent) -> Self {
        Self {
            event_id: new.event_id,
            source: new.source,
            delivery_id: new.delivery_id,
            event_type: new.event_type,
            received_at: new.received_at,
            content_type: new.content_type,
            headers: new.headers,
            body: new.body,
            secret_label: new.secret_label,
            expires_at: new.expires_at,
            status: EventStatus::Received,
            generation: Generation::FIRST,
            processed_generation: 0,
            attempts: 0,
            last_error: None,
            handlers_done: BTreeMap::new(),
            handlers_generation: 0,
            attempt_log: Vec::new(),
            lease: new.lease,
            replay_run_id: None,
            updated_at: new.received_at,
            finished_at: None,
        }
    }

    /// Handlers that already reached a final outcome in generation `g`.
    pub fn done_in(&self, g: Generation) -> impl Iterator<Item = (&String, &AttemptOutcome)> {
        let same = self.handlers_generation == g.get();
        self.handlers_done.iter().filter(move |_| same)
    }
}

/// A fresh random lease token (64 bits, hex): one per claim, and one per new event's first message.
pub fn new_lease_token() -> String {
    let bytes: [u8; 8] = rand::random();
    hex::encode(bytes)
}

/// A processor's claim on one generation of an event (or ingest's, taken for its first message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub token: String,
    pub generation: u32,
    pub until: Millis,
}

/// The JSON shape every face (CLI `--output json`, admin API) shows for an event.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub event_id: String,
    pub source: String,
    pub delivery_id: String,
    pub event_type: String,
    pub status: EventStatus,
    pub generation: u32,
    pub processed_generation: u32,
    pub attempts: u32,
    pub received_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub last_error: Option<String>,
    pub secret_label: Option<String>,
    pub content_type: Option<String>,
    pub replay_run_id: Option<String>,
    pub size_bytes: usize,
}

impl From<&StoredEvent> for EventView {
    fn from(e: &StoredEvent) -> Self {
        Self {
            event_id: e.event_id.to_string(),
            source: e.source.to_string(),
            delivery_id: e.delivery_id.to_string(),
            event_type: e.event_type.clone(),
            status: e.status,
            generation: e.generation.get(),
            processed_generation: e.processed_generation,
            attempts: e.attempts,
            received_at: crate::clock::rfc3339(e.received_at),
            updated_at: crate::clock::rfc3339(e.updated_at),
            finished_at: e.finished_at.map(crate::clock::rfc3339),
            last_error: e.last_error.clone(),
            secret_label: e.secret_label.clone(),
            content_type: e.content_type.clone(),
            replay_run_id: e.replay_run_id.clone(),
            size_bytes: e.body.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_is_deterministic_and_parses_back() {
        let s = SourceName::parse("github").unwrap();
        let d = DeliveryId::parse("72d3162e-cc78-11e3-81ab-4c9367dc0958").unwrap();
        let a = EventId::derive(&s, &d);
        let b = EventId::derive(&s, &d);
        assert_eq!(a, b);
        assert_eq!(a.as_str().len(), 30);
        assert_eq!(EventId::parse(a.as_str()).unwrap(), a);
        let other = EventId::derive(&SourceName::parse("stripe").unwrap(), &d);
        assert_ne!(a, other);
    }

    #[test]
    fn source_and_delivery_boundaries() {
        assert!(SourceName::parse("github-prod_2").is_ok());
        for bad in ["", "GitHub", "../etc", "a/b", "-x", "a b", &"a".repeat(65)] {
            assert_eq!(SourceName::parse(bad), Err(IdError::SourceName), "{bad:?}");
        }
        assert!(DeliveryId::parse("x").is_ok());
        assert!(DeliveryId::parse("").is_err());
        assert!(DeliveryId::parse("a\nb").is_err());
        assert!(DeliveryId::parse(&"a".repeat(257)).is_err());
        assert!(EventId::parse("evt_abc").is_err());
        assert!(EventId::parse("evt_AAAAAAAAAAAAAAAAAAAAAAAAAA").is_err());
        assert!(Generation::new(0).is_err());
    }

    #[test]
    fn status_round_trips() {
        for s in EventStatus::ALL {
            assert_eq!(EventStatus::parse(s.as_str()), Some(s));
        }
    }
}
