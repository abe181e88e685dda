//! The DynamoDB item: attribute names, the serde shape (via `serde_dynamo`), conversion to and
//! from [`StoredEvent`], and DynamoDB's item-size arithmetic.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_dynamo::{from_item, to_item};

use super::dynamodb::AttributeValue;

use crate::codec::{decode_body, encode_body};
use crate::model::{
    Attempt, AttemptOutcome, DeliveryId, EventId, EventStatus, Generation, Lease, Millis, NewEvent,
    SourceName, StoredEvent,
};
use crate::ports::StoreError;

/// Attribute names used in expressions (the serde field names below must match).
pub mod attr {
    pub const EVENT_ID: &str = "event_id";
    pub const SOURCE: &str = "source";
    pub const RECEIVED_AT: &str = "received_at";
    pub const STATUS: &str = "status";
    pub const EVENT_TYPE: &str = "event_type";
    pub const DELIVERY_ID: &str = "delivery_id";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const GENERATION: &str = "generation";
    pub const PROCESSED_GENERATION: &str = "processed_generation";
    pub const ATTEMPTS: &str = "attempts";
    pub const LAST_ERROR: &str = "last_error";
    pub const HANDLERS_DONE: &str = "handlers_done";
    pub const HANDLERS_GENERATION: &str = "handlers_generation";
    pub const ATTEMPT_LOG: &str = "attempt_log";
    pub const LEASE_TOKEN: &str = "lease_token";
    pub const LEASE_GENERATION: &str = "lease_generation";
    pub const LEASE_UNTIL: &str = "lease_until";
    pub const REPLAY_RUN_ID: &str = "replay_run_id";
    pub const UPDATED_AT: &str = "updated_at";
    pub const FINISHED_AT: &str = "finished_at";
    pub const PENDING_SHARD: &str = "pending_shard";
    pub const PENDING_SINCE: &str = "pending_since";
    pub const BODY: &str = "body";
    pub const BODY_REF: &str = "body_ref";
    pub const CONTENT_TYPE: &str = "content_type";
    pub const HEADERS: &str = "headers";
    pub const SECRET_LABEL: &str = "secret_label";
    pub const EXPIRES_MS: &str = "expires_ms";
}

/// Index names (see `provision`).
pub const INDEX_BY_SOURCE: &str = "by_source";
pub const INDEX_PENDING: &str = "pending";

/// The sparse `pending` index is spread over this many partition keys, so the sweep's reads and
/// the ingest's writes never pile onto one partition.
pub const PENDING_SHARDS: u8 = 8;

/// The largest body a stored item may decode to (DynamoDB items are at most 400 KB; compressed
/// JSON expands at most ~20×, and ingest limits bodies far below this).
const MAX_DECODED_BODY: usize = 64 * 1024 * 1024;

/// The `pending` shard of an event: derived from its id, which is already a uniform hash.
pub fn pending_shard(id: &EventId) -> String {
    let b = id.as_str().as_bytes().last().copied().unwrap_or(0);
    (b % PENDING_SHARDS).to_string()
}

/// Every shard name, for the sweep.
pub fn pending_shards() -> impl Iterator<Item = String> {
    (0..PENDING_SHARDS).map(|s| s.to_string())
}

/// The item as stored. Optional and empty attributes are left out (smaller items, sparse indexes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Item {
    pub event_id: String,
    pub source: String,
    pub delivery_id: String,
    pub event_type: String,
    pub received_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// `crate::codec::encode_body`, stored as binary.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// With a payload bucket: the S3 key of the body (then `body` is empty until read back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_label: Option<String>,
    /// TTL attribute: epoch SECONDS, rounded up so the item never expires before the model says.
    pub expires_at: i64,
    /// The milliseconds below the second of the model's `expires_at` (absent when 0), so the
    /// model's value round-trips exactly.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub expires_ms: i64,
    pub status: EventStatus,
    pub generation: u32,
    pub processed_generation: u32,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub handlers_done: BTreeMap<String, AttemptOutcome>,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub handlers_generation: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempt_log: Vec<Attempt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_generation: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_run_id: Option<String>,
    pub updated_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Millis>,
    /// Present only while the event is `received` (sparse index `pending`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_shard: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_since: Option<Millis>,
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// Model milliseconds → (TTL seconds rounded up, remainder to add back when reading).
pub fn ttl_seconds(expires_at_ms: Millis) -> (i64, i64) {
    let secs = expires_at_ms.div_euclid(1000);
    let rem = expires_at_ms.rem_euclid(1000);
    if rem == 0 {
        (secs, 0)
    } else {
        // Stored as seconds + 1 with a negative offset: `(secs+1)*1000 - (1000-rem)` = the ms.
        (secs + 1, rem - 1000)
    }
}

impl Item {
    pub fn from_event(e: &StoredEvent) -> Self {
        let (expires_at, expires_ms) = ttl_seconds(e.expires_at);
        let pending = e.status == EventStatus::Received;
        Self {
            event_id: e.event_id.as_str().to_owned(),
            source: e.source.as_str().to_owned(),
            delivery_id: e.delivery_id.as_str().to_owned(),
            event_type: e.event_type.clone(),
            received_at: e.received_at,
            content_type: e.content_type.clone(),
            headers: e.headers.clone(),
            body: encode_body(&e.body),
            body_ref: None,
            secret_label: e.secret_label.clone(),
            expires_at,
            expires_ms,
            status: e.status,
            generation: e.generation.get(),
            processed_generation: e.processed_generation,
            attempts: e.attempts,
            last_error: e.last_error.clone(),
            handlers_done: e.handlers_done.clone(),
            handlers_generation: e.handlers_generation,
            attempt_log: e.attempt_log.clone(),
            lease_token: e.lease.as_ref().map(|l| l.token.clone()),
            // Left out when it is the event's generation (as read back), to keep the item small.
            lease_generation: e
                .lease
                .as_ref()
                .map(|l| l.generation)
                .filter(|g| *g != e.generation.get()),
            lease_until: e.lease.as_ref().map(|l| l.until),
            replay_run_id: e.replay_run_id.clone(),
            updated_at: e.updated_at,
            finished_at: e.finished_at,
            pending_shard: pending.then(|| pending_shard(&e.event_id)),
            // Stored with ingest's lease: pending once that lease ends (its message may still be
            // on the way until then), as a claim is.
            pending_since: pending.then(|| e.lease.as_ref().map_or(e.updated_at, |l| l.until)),
        }
    }

    pub fn into_event(self) -> Result<StoredEvent, StoreError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("item {}: {what}: {e}", self.event_id))
        };
        let event_id = EventId::parse(&self.event_id).map_err(|e| corrupt("event_id", &e))?;
        let source = SourceName::parse(&self.source).map_err(|e| corrupt("source", &e))?;
        let delivery_id =
            DeliveryId::parse(&self.delivery_id).map_err(|e| corrupt("delivery_id", &e))?;
        let generation = Generation::new(self.generation).map_err(|e| corrupt("generation", &e))?;
        // A body left in the bucket (not read back, e.g. for a claim's condition check) is empty.
        let body = if self.body_ref.is_some() && self.body.is_empty() {
            bytes::Bytes::new()
        } else {
            decode_body(&self.body, MAX_DECODED_BODY).map_err(|e| corrupt("body", &e))?
        };
        let lease = match (self.lease_token, self.lease_until) {
            (Some(token), Some(until)) => Some(Lease {
                token,
                generation: self.lease_generation.unwrap_or(self.generation),
                until,
            }),
            _ => None,
        };
        Ok(StoredEvent {
            event_id,
            source,
            delivery_id,
            event_type: self.event_type,
            received_at: self.received_at,
            content_type: self.content_type,
            headers: self.headers,
            body,
            secret_label: self.secret_label,
            expires_at: self
                .expires_at
                .saturating_mul(1000)
                .saturating_add(self.expires_ms),
            status: self.status,
            generation,
            processed_generation: self.processed_generation,
            attempts: self.attempts,
            last_error: self.last_error,
            handlers_done: self.handlers_done,
            handlers_generation: self.handlers_generation,
            attempt_log: self.attempt_log,
            lease,
            replay_run_id: self.replay_run_id,
            updated_at: self.updated_at,
            finished_at: self.finished_at,
        })
    }
}

/// A stored event as a DynamoDB item (the same attributes `put_new` writes).
pub fn event_to_item(e: &StoredEvent) -> Result<HashMap<String, AttributeValue>, StoreError> {
    to_item(Item::from_event(e)).map_err(|err| {
        StoreError::Invalid(format!("event {} cannot be encoded: {err}", e.event_id))
    })
}

/// The item `put_new` writes for a new event (body compressed): ingest's last step before I/O.
/// Built attribute by attribute rather than through serde (which cost about as much as the rest of
/// ingest's work on a small body); the test below holds it equal to [`event_to_item`] of the same
/// event.
pub fn new_event_item(e: &NewEvent) -> Result<HashMap<String, AttributeValue>, StoreError> {
    use AttributeValue::{B, M, N, S};
    let (expires_at, expires_ms) = ttl_seconds(e.expires_at);
    let mut item = HashMap::with_capacity(24);
    let mut put = |name: &str, value: AttributeValue| {
        item.insert(name.to_owned(), value);
    };
    put(attr::EVENT_ID, S(e.event_id.as_str().to_owned()));
    put(attr::SOURCE, S(e.source.as_str().to_owned()));
    put(attr::DELIVERY_ID, S(e.delivery_id.as_str().to_owned()));
    put(attr::EVENT_TYPE, S(e.event_type.clone()));
    put(attr::RECEIVED_AT, N(e.received_at.to_string()));
    if let Some(ct) = &e.content_type {
        put(attr::CONTENT_TYPE, S(ct.clone()));
    }
    if !e.headers.is_empty() {
        let headers = e
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), S(v.clone())))
            .collect();
        put(attr::HEADERS, M(headers));
    }
    put(attr::BODY, B(encode_body(&e.body)));
    if let Some(label) = &e.secret_label {
        put(attr::SECRET_LABEL, S(label.clone()));
    }
    put(attr::EXPIRES_AT, N(expires_at.to_string()));
    if expires_ms != 0 {
        put(attr::EXPIRES_MS, N(expires_ms.to_string()));
    }
    put(attr::STATUS, S(EventStatus::Received.as_str().to_owned()));
    put(attr::GENERATION, N(Generation::FIRST.get().to_string()));
    put(attr::PROCESSED_GENERATION, N("0".to_owned()));
    put(attr::ATTEMPTS, N("0".to_owned()));
    let mut pending_since = e.received_at;
    if let Some(lease) = &e.lease {
        put(attr::LEASE_TOKEN, S(lease.token.clone()));
        if lease.generation != Generation::FIRST.get() {
            put(attr::LEASE_GENERATION, N(lease.generation.to_string()));
        }
        put(attr::LEASE_UNTIL, N(lease.until.to_string()));
        pending_since = lease.until;
    }
    put(attr::UPDATED_AT, N(e.received_at.to_string()));
    put(attr::PENDING_SHARD, S(pending_shard(&e.event_id)));
    put(attr::PENDING_SINCE, N(pending_since.to_string()));
    Ok(item)
}

/// A DynamoDB item back into a stored event.
pub fn item_to_event(item: HashMap<String, AttributeValue>) -> Result<StoredEvent, StoreError> {
    let id = item
        .get(attr::EVENT_ID)
        .and_then(|v| match v {
            AttributeValue::S(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let parsed: Item = from_item(item)
        .map_err(|e| StoreError::Corrupt(format!("item {id} cannot be decoded: {e}")))?;
    parsed.into_event()
}

/// The size DynamoDB bills and limits an item by: for each attribute, the UTF-8 length of its
/// name plus the size of its value (see the Developer Guide, "Item sizes and formats").
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// The size of one attribute value by DynamoDB's rules.
pub fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(Vec::len).sum(),
        // Documents: 3 bytes of overhead, plus 1 byte per element, plus names and values.
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
    }
}

/// Numbers: about one byte per two significant digits, plus one. Trailing zeros are counted as
/// significant, so the estimate errs on the large side.
fn number_size(n: &str) -> usize {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').len();
    significant.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_round_trips_ms_and_rounds_up() {
        for ms in [0, 1, 999, 1000, 1001, 1_764_000_000_123, -1] {
            let (s, rem) = ttl_seconds(ms);
            assert!(s * 1000 >= ms, "{ms}: ttl {s}s must not be earlier");
            assert_eq!(s * 1000 + rem, ms);
        }
    }

    #[test]
    fn number_sizes() {
        assert_eq!(number_size("0"), 1);
        assert_eq!(number_size("1764000000"), 6); // 10 digits → 5 + 1 (trailing zeros counted)
        assert_eq!(number_size("12345"), 4);
        assert_eq!(number_size("-1.5"), 2);
    }

    /// `new_event_item` builds by hand what the serde path gives for the same event.
    #[test]
    fn new_event_item_is_the_serde_item_of_the_new_event() {
        let source = SourceName::parse("github").unwrap_or_else(|e| panic!("{e}"));
        let delivery_id = DeliveryId::parse("d-1").unwrap_or_else(|e| panic!("{e}"));
        let base = NewEvent {
            event_id: EventId::derive(&source, &delivery_id),
            source,
            delivery_id,
            event_type: "push".to_owned(),
            received_at: 1_764_000_000_123,
            content_type: Some("application/json".to_owned()),
            headers: BTreeMap::from([
                ("user-agent".to_owned(), "GitHub-Hookshot/abc".to_owned()),
                ("x-github-hook-id".to_owned(), "42".to_owned()),
            ]),
            body: bytes::Bytes::from_static(br#"{"ref":"refs/heads/main","n":[1,2,3]}"#),
            secret_label: Some("current".to_owned()),
            expires_at: 1_766_592_000_456,
            lease: None,
        };
        let bare = NewEvent {
            content_type: None,
            headers: BTreeMap::new(),
            secret_label: None,
            expires_at: 1_766_000_000_000,
            body: bytes::Bytes::from_static(b"x"),
            ..base.clone()
        };
        let leased = |generation, until| NewEvent {
            lease: Some(Lease {
                token: "0123456789abcdef".to_owned(),
                generation,
                until,
            }),
            ..base.clone()
        };
        let large = NewEvent {
            body: bytes::Bytes::from(vec![b'{'; 20_000]),
            ..base.clone()
        };
        for e in [
            base.clone(),
            bare,
            leased(1, 1_764_000_030_123),
            leased(3, 1_764_000_030_000),
            large,
        ] {
            let by_hand = new_event_item(&e).unwrap_or_else(|err| panic!("{err}"));
            let by_serde = event_to_item(&StoredEvent::from_new(e.clone()))
                .unwrap_or_else(|err| panic!("{err}"));
            assert_eq!(by_hand, by_serde, "{e:?}");
        }
    }

    #[test]
    fn shards_are_in_range() {
        let id = EventId::parse("evt_abcdefghijklmnopqrstuvwxyz").unwrap_or_else(|_| panic!());
        let s = pending_shard(&id);
        assert!(pending_shards().any(|x| x == s));
    }
}
