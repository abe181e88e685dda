//! Contract cases for [`EventStore`](crate::ports::EventStore).

use std::collections::BTreeSet;

use bytes::Bytes;

use super::Subject;
use super::fixtures::{LEASE_MS, T0, claim, event, gen_of, leased_event, page, record, replay};
use crate::model::{EventId, EventStatus, Generation, Lease, NewEvent, StoredEvent};
use crate::ports::{ClaimOutcome, EventFilter, PutOutcome, RecordOutcome, StoreError};

async fn put(s: &Subject, e: &NewEvent) {
    let out = s.store.put_new(e).await.expect("put_new");
    assert_eq!(out, PutOutcome::Inserted, "{} should be new", e.event_id);
}

async fn get(s: &Subject, id: &EventId) -> StoredEvent {
    s.store
        .get(id)
        .await
        .expect("get")
        .expect("event is stored")
}

async fn claimed(s: &Subject, id: &EventId, g: Generation, token: &str, now: i64) -> StoredEvent {
    match s
        .store
        .claim(&claim(id, g, token, now))
        .await
        .expect("claim")
    {
        ClaimOutcome::Claimed(e) => *e,
        other => panic!("expected Claimed, got {other:?}"),
    }
}

pub async fn store_put_new_inserts_and_round_trips_every_field(s: &Subject) {
    let e = event("github", "d-1", T0);
    put(s, &e).await;
    assert_eq!(get(s, &e.event_id).await, StoredEvent::from_new(e.clone()));

    // Optional fields absent round-trip as absent.
    let mut bare = event("github", "d-2", T0 + 1);
    bare.content_type = None;
    bare.secret_label = None;
    bare.headers.clear();
    put(s, &bare).await;
    assert_eq!(get(s, &bare.event_id).await, StoredEvent::from_new(bare));
}

pub async fn store_put_new_on_existing_id_returns_the_stored_item(s: &Subject) {
    let first = event("github", "d-1", T0);
    put(s, &first).await;
    // Move the stored item on, so "the stored item" differs from what a put would write.
    let after_claim = claimed(s, &first.event_id, Generation::FIRST, "tok", T0 + 5).await;

    let mut again = first.clone();
    again.received_at = T0 + 60_000;
    again.body = Bytes::from_static(b"{\"retry\":true}");
    match s.store.put_new(&again).await.expect("put_new") {
        PutOutcome::Duplicate(stored) => assert_eq!(*stored, after_claim),
        PutOutcome::Inserted => panic!("a second put of the same id must not insert"),
    }
    assert_eq!(
        get(s, &first.event_id).await,
        after_claim,
        "duplicate put changed the item"
    );
}

pub async fn store_round_trips_binary_empty_and_large_bodies(s: &Subject) {
    let binary: Vec<u8> = (0..=255u8).chain([0xff, 0xfe, 0xc3, 0x28, 0x00]).collect();
    assert!(std::str::from_utf8(&binary).is_err());
    let json_256k: Vec<u8> =
        br#"{"k":"value","n":12345},"#.iter().copied().cycle().take(256 * 1024).collect();
    let noise_256k: Vec<u8> = (0..256 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).rotate_left(7) >> 11) as u8)
        .collect();
    for (i, body) in [binary, Vec::new(), json_256k, noise_256k]
        .into_iter()
        .enumerate()
    {
        let mut e = event("binary", &format!("body-{i}"), T0 + i as i64);
        e.body = Bytes::from(body);
        put(s, &e).await;
        let got = get(s, &e.event_id).await;
        assert_eq!(got.body.len(), e.body.len(), "body {i} length");
        assert!(got.body == e.body, "body {i} differs after a round trip");
    }
}

pub async fn store_get_missing_is_none(s: &Subject) {
    let missing = event("github", "never-stored", T0).event_id;
    assert_eq!(s.store.get(&missing).await.expect("get"), None);
}

pub async fn store_get_many_returns_present_ids_once(s: &Subject) {
    let a = event("github", "a", T0);
    let b = event("stripe", "b", T0 + 1);
    put(s, &a).await;
    put(s, &b).await;
    let missing = event("github", "missing", T0).event_id;
    let ids = [
        a.event_id.clone(),
        missing,
        b.event_id.clone(),
        a.event_id.clone(),
    ];
    let mut got = s.store.get_many(&ids).await.expect("get_many");
    got.sort_by(|x, y| x.event_id.cmp(&y.event_id));
    let mut want = vec![StoredEvent::from_new(a), StoredEvent::from_new(b)];
    want.sort_by(|x, y| x.event_id.cmp(&y.event_id));
    assert_eq!(got, want);
    assert!(
        s.store
            .get_many(&[])
            .await
            .expect("get_many of nothing")
            .is_empty()
    );
}

pub async fn store_claim_of_unknown_event_is_not_found(s: &Subject) {
    let missing = event("github", "missing", T0).event_id;
    let out = s
        .store
        .claim(&claim(&missing, Generation::FIRST, "t", T0))
        .await;
    assert_eq!(out.expect("claim"), ClaimOutcome::NotFound);
}

pub async fn store_claim_takes_the_lease_and_counts_the_attempt(s: &Subject) {
    let e = event("github", "d-1", T0);
    put(s, &e).await;
    let now = T0 + 1_000;
    let got = claimed(s, &e.event_id, Generation::FIRST, "tok-1", now).await;
    let mut want = StoredEvent::from_new(e.clone());
    want.status = EventStatus::Processing;
    want.attempts = 1;
    want.updated_at = now;
    want.lease = Some(Lease {
        token: "tok-1".to_owned(),
        generation: 1,
        until: now + LEASE_MS,
    });
    assert_eq!(got, want, "the item after the claim");
    assert_eq!(get(s, &e.event_id).await, want, "the claim is stored");
}

pub async fn store_claim_while_leased_waits_for_the_lease_to_expire(s: &Subject) {
    let e = event("github", "d-1", T0);
    put(s, &e).await;
    let first = claimed(s, &e.event_id, Generation::FIRST, "tok-1", T0).await;
    let until = first.lease.expect("lease").until;
    for now in [T0 + 1, until] {
        let out = s
            .store
            .claim(&claim(&e.event_id, Generation::FIRST, "tok-2", now))
            .await;
        assert_eq!(
            out.expect("claim"),
            ClaimOutcome::Leased { until },
            "at {now}"
        );
    }
    // Once `until < now` the lease is dead and a second processor may take over.
    let second = claimed(s, &e.event_id, Generation::FIRST, "tok-2", until + 1).await;
    assert_eq!(second.attempts, 2);
    assert_eq!(second.lease.expect("lease").token, "tok-2");
}

/// Ingest stores a new event with the lease for its first message: that message's run records
/// with the lease's token and no claim (counting the attempt), while any other message's claim
/// waits for the lease as for a processor's.
pub async fn store_ingest_lease_runs_the_first_message_without_a_claim(s: &Subject) {
    let e = leased_event("github", "d-1", T0, "ingest-1");
    put(s, &e).await;
    let stored = get(s, &e.event_id).await;
    assert_eq!(
        stored,
        StoredEvent::from_new(e.clone()),
        "stored with its lease"
    );
    assert_eq!(stored.status, EventStatus::Received);
    let until = T0 + LEASE_MS;
    // Pending for the sweep only once the lease has ended: its message may be on the way.
    assert!(
        s.store
            .pending(until, 10)
            .await
            .expect("pending")
            .is_empty()
    );
    let pending = s.store.pending(until + 1, 10).await.expect("pending");
    assert_eq!(
        pending
            .iter()
            .map(|p| (&p.event_id, p.since))
            .collect::<Vec<_>>(),
        vec![(&e.event_id, until)]
    );
    assert_eq!(
        s.store
            .claim(&claim(&e.event_id, Generation::FIRST, "tok-2", T0 + 5))
            .await
            .expect("claim"),
        ClaimOutcome::Leased { until },
        "another message waits for ingest's lease"
    );
    let mut wrong = record(
        &e.event_id,
        Generation::FIRST,
        "tok-2",
        EventStatus::Succeeded,
        T0 + 10,
    );
    wrong.add_attempt = true;
    assert_eq!(
        s.store.record(&wrong).await.expect("record"),
        RecordOutcome::LeaseLost
    );
    let mut rec = record(
        &e.event_id,
        Generation::FIRST,
        "ingest-1",
        EventStatus::Succeeded,
        T0 + 10,
    );
    rec.add_attempt = true;
    assert_eq!(
        s.store.record(&rec).await.expect("record"),
        RecordOutcome::Recorded
    );
    let after = get(s, &e.event_id).await;
    assert_eq!(after.status, EventStatus::Succeeded);
    assert_eq!(after.attempts, 1, "the record counted the attempt");
    assert_eq!(after.processed_generation, 1);
    assert_eq!(after.lease, None);
    assert_eq!(after.attempt_log, rec.attempt_log);
    // The same message delivered twice: its second run cannot record again.
    assert_eq!(
        s.store.record(&rec).await.expect("record"),
        RecordOutcome::LeaseLost
    );
    assert_eq!(get(s, &e.event_id).await.attempts, 1);
    assert_eq!(
        s.store
            .claim(&claim(&e.event_id, Generation::FIRST, "tok-3", T0 + 20))
            .await
            .expect("claim"),
        ClaimOutcome::AlreadyProcessed
    );
}

/// A first message received too late to run on ingest's lease claims with the lease's token: it
/// takes its own lease over (renewed) while another token still waits.
pub async fn store_claim_holding_the_token_takes_over_a_live_lease(s: &Subject) {
    let e = leased_event("github", "d-1", T0, "ingest-1");
    put(s, &e).await;
    let mut other = claim(&e.event_id, Generation::FIRST, "tok-2", T0 + 20_000);
    other.held = Some("ingest-0".to_owned());
    assert_eq!(
        s.store.claim(&other).await.expect("claim"),
        ClaimOutcome::Leased {
            until: T0 + LEASE_MS
        }
    );
    let mut own = claim(&e.event_id, Generation::FIRST, "tok-3", T0 + 20_000);
    own.held = Some("ingest-1".to_owned());
    let got = match s.store.claim(&own).await.expect("claim") {
        ClaimOutcome::Claimed(e) => *e,
        other => panic!("expected Claimed, got {other:?}"),
    };
    assert_eq!(got.status, EventStatus::Processing);
    assert_eq!(got.attempts, 1);
    assert_eq!(
        got.lease,
        Some(Lease {
            token: "tok-3".to_owned(),
            generation: 1,
            until: T0 + 20_000 + LEASE_MS,
        })
    );
    // The token is the claim's now: presenting ingest's again is someone else's.
    let mut again = claim(&e.event_id, Generation::FIRST, "tok-4", T0 + 20_001);
    again.held = Some("ingest-1".to_owned());
    assert_eq!(
        s.store.claim(&again).await.expect("claim"),
        ClaimOutcome::Leased {
            until: T0 + 20_000 + LEASE_MS
        }
    );
}

/// Ingest gives its lease up when its message could not be sent: the event is pending for the
/// sweep from when it was received and claimable at once; only the lease's token and only while
/// the event is `received`.
pub async fn store_release_gives_up_ingests_lease(s: &Subject) {
    let e = leased_event("github", "d-1", T0, "ingest-1");
    put(s, &e).await;
    assert!(
        !s.store
            .release(&e.event_id, "ingest-0")
            .await
            .expect("release")
    );
    assert!(get(s, &e.event_id).await.lease.is_some());
    assert!(
        s.store
            .release(&e.event_id, "ingest-1")
            .await
            .expect("release")
    );
    let after = get(s, &e.event_id).await;
    assert_eq!(after, StoredEvent::from_new(event("github", "d-1", T0)));
    let pending = s.store.pending(T0 + 1, 10).await.expect("pending");
    assert_eq!(
        pending
            .iter()
            .map(|p| (&p.event_id, p.since))
            .collect::<Vec<_>>(),
        vec![(&e.event_id, T0)]
    );
    assert!(
        !s.store
            .release(&e.event_id, "ingest-1")
            .await
            .expect("release")
    );
    claimed(s, &e.event_id, Generation::FIRST, "tok-2", T0 + 5).await;
    assert!(
        !s.store
            .release(&e.event_id, "tok-2")
            .await
            .expect("release"),
        "a claim's lease stays"
    );
    let missing = event("github", "d-404", T0).event_id;
    assert!(
        !s.store
            .release(&missing, "ingest-1")
            .await
            .expect("release")
    );
}

/// Once ingest's lease ended unrecorded (the run died), a claim takes over and the first run can
/// no longer record.
pub async fn store_ingest_lease_ended_is_taken_over_by_a_claim(s: &Subject) {
    let e = leased_event("github", "d-1", T0, "ingest-1");
    put(s, &e).await;
    let until = T0 + LEASE_MS;
    let c = claimed(s, &e.event_id, Generation::FIRST, "tok-2", until + 1).await;
    assert_eq!(c.status, EventStatus::Processing);
    assert_eq!(c.attempts, 1);
    let mut late = record(
        &e.event_id,
        Generation::FIRST,
        "ingest-1",
        EventStatus::Succeeded,
        until + 2,
    );
    late.add_attempt = true;
    assert_eq!(
        s.store.record(&late).await.expect("record"),
        RecordOutcome::LeaseLost
    );
    let rec = record(
        &e.event_id,
        Generation::FIRST,
        "tok-2",
        EventStatus::Succeeded,
        until + 3,
    );
    assert_eq!(
        s.store.record(&rec).await.expect("record"),
        RecordOutcome::Recorded
    );
    assert_eq!(
        get(s, &e.event_id).await.attempts,
        1,
        "one attempt, the claim's"
    );
}

pub async fn store_claim_after_final_record_is_already_processed(s: &Subject) {
    let e = event("github", "d-1", T0);
    put(s, &e).await;
    claimed(s, &e.event_id, Generation::FIRST, "tok", T0).await;
    let rec = record(
        &e.event_id,
        Generation::FIRST,
        "tok",
        EventStatus::Succeeded,
        T0 + 10,
    );
    assert_eq!(
        s.store.record(&rec).await.expect("record"),
        RecordOutcome::Recorded
    );
    let again = s
        .store
        .claim(&claim(&e.event_id, Generation::FIRST, "t2", T0 + 20))
        .await;
    assert_eq!(again.expect("claim"), ClaimOutcome::AlreadyProcessed);

    // Still processed after a replay moved the event on: the old message must not run.
    s.store
        .mark_replay(&replay(&e.event_id, "run-1", T0 + 30))
        .await
        .expect("replay");
    let old = s
        .store
        .claim(&claim(&e.event_id, Generation::FIRST, "t3", T0 + 40))
        .await;
    assert_eq!(old.expect("claim"), ClaimOutcome::AlreadyProcessed);
}

pub async fn store_claim_of_replaced_generation_is_superseded(s: &Subject) {
    let e = event("github", "d-1", T0);
    put(s, &e).await;
    let replayed = s
        .store
        .mark_replay(&replay(&e.event_id, "run-1", T0 + 5))
        .await;
    assert_eq!(
        replayed.expect("replay").expect("exists").generation,
        gen_of(2)
    );
    let old = s
        .store
        .claim(&claim(&e.event_id, Generation::FIRST, "t", T0 + 10))
        .await;
    assert_eq!(
        old.expect("claim"),
        ClaimOutcome::Superseded { current: gen_of(2) }
    );
    let new = claimed(s, &e.event_id, gen_of(2), "t", T0 + 10).await;
    assert_eq!(new.lease.expect("lease").generation, 2);
}

pub async fn store_record_with_the_lease_token_applies_the_outcome(s: &Subject) {
    let e = event("github", "d-1", T0);
    put(s, &e).await;
    let before = claimed(s, &e.event_id, Generation::FIRST, "tok", T0).await;
    for (status, delivery) in [
        (EventStatus::Succeeded, "d-1"),
        (EventStatus::Failed, "d-2"),
        (EventStatus::Quarantined, "d-3"),
    ] {
        let (id, before) = if delivery == "d-1" {
            (e.event_id.clone(), before.clone())
        } else {
            let other = event("github", delivery, T0);
            put(s, &other).await;
            let c = claimed(s, &other.event_id, Generation::FIRST, "tok", T0).await;
            (other.event_id, c)
        };
        let now = T0 + 500;
        let rec = record(&id, Generation::FIRST, "tok", status, now);
        assert_eq!(
            s.store.record(&rec).await.expect("record"),
            RecordOutcome::Recorded
        );
        let mut want = before;
        want.status = status;
        want.last_error = rec.last_error.clone();
        want.handlers_done = rec.handlers_done.clone();
        want.handlers_generation = 1;
        want.attempt_log = rec.attempt_log.clone();
        want.updated_at = now;
        want.processed_generation = 1;
        want.finished_at = Some(now);
        want.lease = None;
        assert_eq!(get(s, &id).await, want, "after recording {status}");
        // The lease is gone: the same token cannot record twice.
        assert_eq!(
            s.store.record(&rec).await.expect("record"),
            RecordOutcome::LeaseLost
        );
    }
}

pub async fn store_record_with_a_wrong_token_is_lease_lost(s: &Subject) {
    let e = event("github", "d-1", T0);
    put(s, &e).await;
    let before = claimed(s, &e.event_id, Generation::FIRST, "right", T0).await;
    let rec = record(
        &e.event_id,
        Generation::FIRST,
        "wrong",
        EventStatus::Succeeded,
        T0 + 9,
    );
    assert_eq!(
        s.store.record(&rec).await.expect("record"),
        RecordOutcome::LeaseLost
    );
    assert_eq!(
        get(s, &e.event_id).await,
        before,
        "a lost record must change nothing"
    );

    // Never claimed at all: no lease to present.
    let other = event("github", "d-2", T0);
    put(s, &other).await;
    let rec = record(
        &other.event_id,
        Generation::FIRST,
        "any",
        EventStatus::Succeeded,
        T0,
    );
    assert_eq!(
        s.store.record(&rec).await.expect("record"),
        RecordOutcome::LeaseLost
    );
}

pub async fn store_record_after_lease_taken_over_is_lease_lost(s: &Subject) {
    let e = event("github", "d-1", T0);
    put(s, &e).await;
    let first = claimed(s, &e.event_id, Generation::FIRST, "slow", T0).await;
    let until = first.lease.expect("lease").until;
    claimed(s, &e.event_id, Generation::FIRST, "fast", until + 1).await;
    let late = record(
        &e.event_id,
        Generation::FIRST,
        "slow",
        EventStatus::Succeeded,
        until + 2,
    );
    assert_eq!(
        s.store.record(&late).await.expect("record"),
        RecordOutcome::LeaseLost
    );
    let ok = record(
        &e.event_id,
        Generation::FIRST,
        "fast",
        EventStatus::Succeeded,
        until + 3,
    );
    assert_eq!(
        s.store.record(&ok).await.expect("record"),
        RecordOutcome::Recorded
    );

    // A replay clears the lease too.
    let r = event("github", "d-2", T0);
    put(s, &r).await;
    claimed(s, &r.event_id, Generation::FIRST, "mine", T0).await;
    s.store
        .mark_replay(&replay(&r.event_id, "run", T0 + 1))
        .await
        .expect("replay");
    let rec = record(
        &r.event_id,
        Generation::FIRST,
        "mine",
        EventStatus::Succeeded,
        T0 + 2,
    );
    assert_eq!(
        s.store.record(&rec).await.expect("record"),
        RecordOutcome::LeaseLost
    );
}

pub async fn store_non_final_record_lets_the_generation_run_again(s: &Subject) {
    let e = event("github", "d-1", T0);
    put(s, &e).await;
    claimed(s, &e.event_id, Generation::FIRST, "t1", T0).await;
    let retry = record(
        &e.event_id,
        Generation::FIRST,
        "t1",
        EventStatus::Retrying,
        T0 + 10,
    );
    assert_eq!(
        s.store.record(&retry).await.expect("record"),
        RecordOutcome::Recorded
    );
    let got = get(s, &e.event_id).await;
    assert_eq!(got.status, EventStatus::Retrying);
    assert_eq!(got.processed_generation, 0);
    assert_eq!(got.finished_at, None, "retrying is not final");
    assert_eq!(got.lease, None);
    assert_eq!(got.last_error.as_deref(), Some("forward broke"));
    assert_eq!(got.handlers_done, retry.handlers_done);
    assert_eq!(got.handlers_generation, 1);

    // Dead is a final status (finished_at) but not final for the generation: a redrive runs it.
    let again = claimed(s, &e.event_id, Generation::FIRST, "t2", T0 + 20).await;
    assert_eq!(again.attempts, 2);
    let dead = record(
        &e.event_id,
        Generation::FIRST,
        "t2",
        EventStatus::Dead,
        T0 + 30,
    );
    assert_eq!(
        s.store.record(&dead).await.expect("record"),
        RecordOutcome::Recorded
    );
    let got = get(s, &e.event_id).await;
    assert_eq!(got.status, EventStatus::Dead);
    assert_eq!(got.processed_generation, 0);
    assert_eq!(got.finished_at, Some(T0 + 30));
    let third = claimed(s, &e.event_id, Generation::FIRST, "t3", T0 + 40).await;
    assert_eq!(third.attempts, 3);
    assert_eq!(third.status, EventStatus::Processing);
}

pub async fn store_mark_replay_starts_a_new_generation(s: &Subject) {
    let e = event("github", "d-1", T0);
    put(s, &e).await;
    claimed(s, &e.event_id, Generation::FIRST, "t", T0).await;
    let done = record(
        &e.event_id,
        Generation::FIRST,
        "t",
        EventStatus::Succeeded,
        T0 + 10,
    );
    s.store.record(&done).await.expect("record");
    let before = get(s, &e.event_id).await;

    let now = T0 + 60_000;
    let after = s
        .store
        .mark_replay(&replay(&e.event_id, "run-7", now))
        .await;
    let after = after.expect("mark_replay").expect("the event exists");
    let mut want = before;
    want.generation = gen_of(2);
    want.status = EventStatus::Received;
    want.lease = None;
    want.finished_at = None;
    want.replay_run_id = Some("run-7".to_owned());
    want.updated_at = now;
    assert_eq!(after, want, "the item after the replay mark");
    assert_eq!(get(s, &e.event_id).await, want);

    // Pending again, for the new generation, since the replay.
    let pending = s.store.pending(now + 1, 10).await.expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].event_id, e.event_id);
    assert_eq!(pending[0].generation, gen_of(2));
    assert_eq!(pending[0].since, now);
    assert!(
        s.store.pending(now, 10).await.expect("pending").is_empty(),
        "since < older_than"
    );

    let c = claimed(s, &e.event_id, gen_of(2), "t2", now + 5).await;
    assert_eq!(c.attempts, 2);
}

pub async fn store_mark_replay_of_unknown_event_is_none(s: &Subject) {
    let missing = event("github", "missing", T0).event_id;
    let out = s.store.mark_replay(&replay(&missing, "run", T0)).await;
    assert_eq!(out.expect("mark_replay"), None);
    assert_eq!(
        s.store.get(&missing).await.expect("get"),
        None,
        "no item is created"
    );
}

pub async fn store_pending_lists_unclaimed_events_older_than(s: &Subject) {
    let events: Vec<NewEvent> = (0..4)
        .map(|i| event("github", &format!("p-{i}"), T0 + i * 1_000))
        .collect();
    for e in &events {
        put(s, e).await;
    }
    let ids = |v: &[crate::ports::PendingEvent]| -> BTreeSet<EventId> {
        v.iter().map(|p| p.event_id.clone()).collect()
    };
    // Strictly older than: the event received at T0 + 3000 is not included.
    let got = s.store.pending(T0 + 3_000, 100).await.expect("pending");
    assert_eq!(
        ids(&got),
        events[..3].iter().map(|e| e.event_id.clone()).collect()
    );
    for p in &got {
        let e = events
            .iter()
            .find(|e| e.event_id == p.event_id)
            .expect("known");
        assert_eq!(p.since, e.received_at);
        assert_eq!(p.generation, Generation::FIRST);
    }
    // A claimed event is not pending while its lease lasts (it is back, as `processing`, once
    // the lease has ended unrecorded: see the abandoned-claim case).
    claimed(s, &events[1].event_id, Generation::FIRST, "t", T0 + 10_000).await;
    let got = s
        .store
        .pending(T0 + 10_000 + LEASE_MS, 100)
        .await
        .expect("pending");
    let want: BTreeSet<EventId> = [0, 2, 3]
        .iter()
        .map(|&i| events[i].event_id.clone())
        .collect();
    assert_eq!(ids(&got), want);
    // The limit holds.
    let one = s
        .store
        .pending(T0 + 10_000 + LEASE_MS, 1)
        .await
        .expect("pending");
    assert_eq!(one.len(), 1);
    assert!(want.contains(&one[0].event_id));
    assert!(s.store.pending(T0, 100).await.expect("pending").is_empty());
}

pub async fn store_abandoned_claim_is_swept_dead(s: &Subject) {
    let e = event("github", "last-1", T0);
    let kept = event("github", "last-2", T0);
    put(s, &e).await;
    put(s, &kept).await;
    let ids = |v: &[crate::ports::PendingEvent]| -> BTreeSet<EventId> {
        v.iter().map(|p| p.event_id.clone()).collect()
    };
    // Both are claimed; only `kept` is ever recorded.
    let now = T0 + 1_000;
    for (ev, token) in [(&e, "dies"), (&kept, "lives")] {
        let c = claim(&ev.event_id, Generation::FIRST, token, now);
        assert!(matches!(
            s.store.claim(&c).await.expect("claim"),
            ClaimOutcome::Claimed(_)
        ));
    }
    let rec = record(
        &kept.event_id,
        Generation::FIRST,
        "lives",
        EventStatus::Dead,
        now + 10,
    );
    assert_eq!(
        s.store.record(&rec).await.expect("record"),
        RecordOutcome::Recorded
    );
    let lease_end = now + LEASE_MS;
    // Listed only once the lease has ended, as `processing`, since the lease's end.
    let early = s.store.pending(lease_end, 100).await.expect("pending");
    assert!(!ids(&early).contains(&e.event_id), "{early:?}");
    let late = s.store.pending(lease_end + 1, 100).await.expect("pending");
    assert_eq!(ids(&late), [e.event_id.clone()].into_iter().collect());
    assert_eq!(late[0].status, EventStatus::Processing);
    assert_eq!(late[0].since, lease_end);
    assert_eq!(late[0].generation, Generation::FIRST);
    // While the lease is live it cannot be settled; after, exactly once.
    let abandon = |at| crate::ports::AbandonRequest {
        event_id: e.event_id.clone(),
        generation: Generation::FIRST,
        since: lease_end,
        now: at,
        reason: "stopped on the last receive".to_owned(),
    };
    assert!(
        !s.store
            .mark_abandoned(&abandon(now + 5))
            .await
            .expect("abandon")
    );
    assert_eq!(get(s, &e.event_id).await.status, EventStatus::Processing);
    assert!(
        s.store
            .mark_abandoned(&abandon(lease_end + 1))
            .await
            .expect("abandon")
    );
    assert!(
        !s.store
            .mark_abandoned(&abandon(lease_end + 2))
            .await
            .expect("abandon")
    );
    let dead = get(s, &e.event_id).await;
    assert_eq!(dead.status, EventStatus::Dead);
    assert_eq!(
        dead.last_error.as_deref(),
        Some("stopped on the last receive")
    );
    assert_eq!(dead.lease, None);
    assert_eq!(dead.processed_generation, 0, "a redrive must run it again");
    assert!(
        s.store
            .pending(T0 + 10_000_000, 100)
            .await
            .expect("pending")
            .is_empty()
    );
    // The recorded one is not touched.
    let mut k = abandon(lease_end + 1);
    k.event_id = kept.event_id.clone();
    assert!(!s.store.mark_abandoned(&k).await.expect("abandon"));
    // A DLQ redrive's message claims the dead event again.
    claimed(
        s,
        &e.event_id,
        Generation::FIRST,
        "redrive",
        lease_end + 100,
    )
    .await;

    // Retrying: on the index from when its message is due back; settled once that has passed.
    let r = event("github", "last-3", T0);
    put(s, &r).await;
    claimed(s, &r.event_id, Generation::FIRST, "r", now).await;
    let mut rec = record(
        &r.event_id,
        Generation::FIRST,
        "r",
        EventStatus::Retrying,
        now + 10,
    );
    let due = now + 5_000;
    rec.retry_at = Some(due);
    assert_eq!(
        s.store.record(&rec).await.expect("record"),
        RecordOutcome::Recorded
    );
    assert!(s.store.pending(due, 100).await.expect("pending").is_empty());
    let got = s.store.pending(due + 1, 100).await.expect("pending");
    assert_eq!(ids(&got), [r.event_id.clone()].into_iter().collect());
    assert_eq!((got[0].status, got[0].since), (EventStatus::Retrying, due));
    let settle = |since, at| crate::ports::AbandonRequest {
        event_id: r.event_id.clone(),
        generation: Generation::FIRST,
        since,
        now: at,
        reason: "never came back".to_owned(),
    };
    // A stale reading of the index (another `since`) or a time before `due` changes nothing.
    assert!(
        !s.store
            .mark_abandoned(&settle(due - 1, due + 1))
            .await
            .expect("abandon")
    );
    assert!(
        !s.store
            .mark_abandoned(&settle(due, due - 1))
            .await
            .expect("abandon")
    );
    assert!(
        s.store
            .mark_abandoned(&settle(due, due + 1))
            .await
            .expect("abandon")
    );
    assert_eq!(get(s, &r.event_id).await.status, EventStatus::Dead);
}

/// All pages of a listing, asserting each respects the limit; stops on a missing cursor.
async fn list_all(s: &Subject, filter: &EventFilter, limit: usize) -> Vec<StoredEvent> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let p = s
            .store
            .list(filter, &page(cursor, limit))
            .await
            .expect("list");
        assert!(p.events.len() <= limit, "a page holds at most the limit");
        out.extend(p.events);
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
    panic!("listing did not end after 100 pages");
}

fn ids_of(events: &[StoredEvent]) -> Vec<EventId> {
    events.iter().map(|e| e.event_id.clone()).collect()
}

pub async fn store_list_filters_narrow(s: &Subject) {
    // Distinct received_at values, so newest-first order is fully determined.
    let mut all = Vec::new();
    for (i, (src, typ)) in [
        ("github", "push"),
        ("stripe", "invoice.paid"),
        ("github", "pull_request"),
        ("github", "push"),
        ("stripe", "invoice.paid"),
        ("shopify", "orders/create"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = event(src, &format!("{src}-{i}"), T0 + i as i64 * 1_000);
        e.event_type = typ.to_owned();
        put(s, &e).await;
        all.push(e);
    }
    // Move two events on, so status filters have something to tell apart.
    claimed(s, &all[0].event_id, Generation::FIRST, "t", T0 + 9_000).await;
    claimed(s, &all[4].event_id, Generation::FIRST, "t", T0 + 9_000).await;

    let newest_first = |pick: &dyn Fn(usize, &NewEvent) -> bool| -> Vec<EventId> {
        let mut v: Vec<(i64, EventId)> = all
            .iter()
            .enumerate()
            .filter(|(i, e)| pick(*i, e))
            .map(|(_, e)| (e.received_at, e.event_id.clone()))
            .collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|(_, id)| id).collect()
    };
    let cases: Vec<(&str, EventFilter, Vec<EventId>)> = vec![
        ("none", EventFilter::default(), newest_first(&|_, _| true)),
        (
            "source",
            EventFilter {
                source: Some(super::fixtures::source("github")),
                ..Default::default()
            },
            newest_first(&|_, e| e.source.as_str() == "github"),
        ),
        (
            "status processing",
            EventFilter {
                status: Some(EventStatus::Processing),
                ..Default::default()
            },
            newest_first(&|i, _| i == 0 || i == 4),
        ),
        (
            "status received",
            EventFilter {
                status: Some(EventStatus::Received),
                ..Default::default()
            },
            newest_first(&|i, _| i != 0 && i != 4),
        ),
        (
            "event type",
            EventFilter {
                event_type: Some("invoice.paid".to_owned()),
                ..Default::default()
            },
            newest_first(&|_, e| e.event_type == "invoice.paid"),
        ),
        (
            "delivery id",
            EventFilter {
                delivery_id: Some(all[2].delivery_id.clone()),
                ..Default::default()
            },
            vec![all[2].event_id.clone()],
        ),
        (
            "since inclusive, until exclusive",
            EventFilter {
                since: Some(T0 + 1_000),
                until: Some(T0 + 4_000),
                ..Default::default()
            },
            newest_first(&|i, _| (1..4).contains(&i)),
        ),
        (
            "source and type and time",
            EventFilter {
                source: Some(super::fixtures::source("github")),
                event_type: Some("push".to_owned()),
                since: Some(T0 + 1),
                ..Default::default()
            },
            vec![all[3].event_id.clone()],
        ),
        (
            "matches nothing",
            EventFilter {
                source: Some(super::fixtures::source("nobody")),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (name, filter, want) in cases {
        let got = list_all(s, &filter, 100).await;
        assert_eq!(ids_of(&got), want, "filter: {name}");
        assert!(got.iter().all(|e| filter.matches(e)), "filter: {name}");
    }
}

pub async fn store_list_pages_newest_first_without_gaps_or_duplicates(s: &Subject) {
    // 25 events over 20 distinct instants (some share one), two sources.
    let mut all = Vec::new();
    for i in 0..25i64 {
        let src = if i % 3 == 0 { "stripe" } else { "github" };
        let e = event(src, &format!("page-{i}"), T0 + (i % 20) * 1_000);
        put(s, &e).await;
        all.push(e);
    }
    for (filter, limit) in [
        (EventFilter::default(), 7),
        (EventFilter::default(), 1),
        (EventFilter::default(), 25),
        (
            EventFilter {
                source: Some(super::fixtures::source("github")),
                ..Default::default()
            },
            7,
        ),
    ] {
        let want: Vec<&NewEvent> = all
            .iter()
            .filter(|e| filter.source.as_ref().is_none_or(|src| *src == e.source))
            .collect();
        let got = list_all(s, &filter, limit).await;
        let unique: BTreeSet<&EventId> = got.iter().map(|e| &e.event_id).collect();
        assert_eq!(
            unique.len(),
            got.len(),
            "a page repeated an event (limit {limit})"
        );
        let want_ids: BTreeSet<&EventId> = want.iter().map(|e| &e.event_id).collect();
        assert_eq!(unique, want_ids, "pages missed events (limit {limit})");
        let mut want_times: Vec<i64> = want.iter().map(|e| e.received_at).collect();
        want_times.sort_unstable_by(|a, b| b.cmp(a));
        let got_times: Vec<i64> = got.iter().map(|e| e.received_at).collect();
        if filter.source.is_some() || s.global_order {
            assert_eq!(got_times, want_times, "not newest first (limit {limit})");
        }
    }
    // A first page is full when more events exist.
    let first = s
        .store
        .list(&EventFilter::default(), &page(None, 7))
        .await
        .expect("list");
    assert!(
        first.next_cursor.is_some(),
        "25 events do not fit on a page of 7"
    );
}

pub async fn store_list_rejects_a_foreign_cursor(s: &Subject) {
    put(s, &event("github", "d-1", T0)).await;
    for bad in ["not a cursor", "eyJoZWxsbyI6IndvcmxkIn0", "%%%"] {
        let out = s
            .store
            .list(&EventFilter::default(), &page(Some(bad.to_owned()), 10))
            .await;
        assert!(
            matches!(out, Err(StoreError::Invalid(_))),
            "cursor {bad:?} gave {out:?}"
        );
    }
}
