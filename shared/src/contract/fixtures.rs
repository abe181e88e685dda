//! Builders for the values the cases store and send.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

use crate::model::{
    Attempt, AttemptOutcome, DeliveryId, EventId, EventStatus, Generation, Lease, Millis, NewEvent,
    SourceName,
};
use crate::ports::{ClaimRequest, PageRequest, Queue, Received, RecordRequest, ReplayMark};

/// An instant every case counts from (2023-11-14T22:13:20Z).
pub const T0: Millis = 1_700_000_000_000;
/// A lease length.
pub const LEASE_MS: Millis = 30_000;

pub fn source(name: &str) -> SourceName {
    SourceName::parse(name).expect("valid source name")
}

/// A fully populated event: every optional field set, so a round trip shows every field.
pub fn event(source_name: &str, delivery: &str, received_at: Millis) -> NewEvent {
    let source = source(source_name);
    let delivery_id = DeliveryId::parse(delivery).expect("valid delivery id");
    let mut headers = BTreeMap::new();
    headers.insert("user-agent".to_owned(), "GitHub-Hookshot/abc".to_owned());
    headers.insert("x-github-hook-id".to_owned(), "42".to_owned());
    NewEvent {
        event_id: EventId::derive(&source, &delivery_id),
        source,
        delivery_id,
        event_type: "push".to_owned(),
        received_at,
        content_type: Some("application/json".to_owned()),
        headers,
        body: Bytes::from(format!(
            r#"{{"delivery":"{delivery}","ref":"refs/heads/main","n":[1,2,3]}}"#
        )),
        secret_label: Some("current".to_owned()),
        // Far ahead: backends expire items by the wall clock (TTL), and T0 is in the past.
        expires_at: received_at + 20 * 365 * 24 * 3600 * 1000,
        lease: None,
    }
}

/// `event` as ingest stores it: with the lease it takes for the first message (`token`, one lease
/// length from `received_at`).
pub fn leased_event(
    source_name: &str,
    delivery: &str,
    received_at: Millis,
    token: &str,
) -> NewEvent {
    NewEvent {
        lease: Some(Lease {
            token: token.to_owned(),
            generation: 1,
            until: received_at + LEASE_MS,
        }),
        ..event(source_name, delivery, received_at)
    }
}

pub fn claim(id: &EventId, generation: Generation, token: &str, now: Millis) -> ClaimRequest {
    ClaimRequest {
        event_id: id.clone(),
        generation,
        token: token.to_owned(),
        now,
        lease_until: now + LEASE_MS,
        held: None,
    }
}

pub fn attempt(handler: &str, generation: u32, outcome: AttemptOutcome, at: Millis) -> Attempt {
    Attempt {
        handler: handler.to_owned(),
        generation,
        outcome,
        started_at: at,
        duration_ms: 12,
        error: (outcome != AttemptOutcome::Succeeded).then(|| format!("{handler} broke")),
        exit_code: Some(0),
        http_status: Some(503),
        output: Some("tail of output".to_owned()),
    }
}

/// A record request for `status`; `final_for_generation` follows the processor's rule
/// (succeeded/failed/quarantined are final, retrying/dead are not).
pub fn record(
    id: &EventId,
    generation: Generation,
    token: &str,
    status: EventStatus,
    now: Millis,
) -> RecordRequest {
    let outcome = match status {
        EventStatus::Succeeded => AttemptOutcome::Succeeded,
        EventStatus::Failed | EventStatus::Quarantined => AttemptOutcome::Permanent,
        _ => AttemptOutcome::Transient,
    };
    let mut handlers_done = BTreeMap::new();
    handlers_done.insert("log".to_owned(), AttemptOutcome::Succeeded);
    if outcome != AttemptOutcome::Transient {
        handlers_done.insert("forward".to_owned(), outcome);
    }
    RecordRequest {
        event_id: id.clone(),
        generation,
        token: token.to_owned(),
        status,
        final_for_generation: matches!(
            status,
            EventStatus::Succeeded | EventStatus::Failed | EventStatus::Quarantined
        ),
        handlers_done,
        attempt_log: vec![
            attempt("log", generation.get(), AttemptOutcome::Succeeded, now - 20),
            attempt("forward", generation.get(), outcome, now - 10),
        ],
        last_error: (outcome != AttemptOutcome::Succeeded).then(|| "forward broke".to_owned()),
        now,
        retry_at: None,
        add_attempt: false,
    }
}

pub fn replay(id: &EventId, run_id: &str, now: Millis) -> ReplayMark {
    ReplayMark {
        event_id: id.clone(),
        run_id: run_id.to_owned(),
        now,
    }
}

pub fn page(cursor: Option<String>, limit: usize) -> PageRequest {
    PageRequest { cursor, limit }
}

pub fn gen_of(n: u32) -> Generation {
    Generation::new(n).expect("generation >= 1")
}

/// Receives until `want` messages arrived or `within` passed (SQS may return fewer than asked
/// per call).
pub async fn receive_n(
    queue: &dyn Queue,
    want: usize,
    visibility: Duration,
    within: Duration,
) -> Vec<Received> {
    let deadline = tokio::time::Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < want && tokio::time::Instant::now() < deadline {
        let max = u32::try_from((want - got.len()).min(10)).expect("at most 10");
        let batch = queue
            .receive(max, Duration::from_secs(1), Some(visibility))
            .await
            .expect("receive");
        assert!(
            batch.len() <= max as usize,
            "receive returned more than asked"
        );
        got.extend(batch);
    }
    got
}
