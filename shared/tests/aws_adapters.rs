//! The AWS adapters against a real moto server (`.venv/bin/moto_server`; `scripts/venv.sh`
//! creates it). Each test provisions its own fresh table and queues.
#![cfg(all(feature = "aws", feature = "contract"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ProjectionType, TimeToLiveStatus};
use bytes::Bytes;
use hookgate_shared::adapters::aws::{
    self, AwsBackend, DynamoStore, ProvisionOptions, QUEUE_ACTIONS, STORE_ACTIONS,
    SecretsManagerStore, SqsQueue, item_size,
};
use hookgate_shared::model::{
    Attempt, AttemptOutcome, DeliveryId, EventId, EventStatus, Generation, NewEvent, SourceName,
};
use hookgate_shared::moto::{
    MotoServer, MotoSubject, Recorder, fresh_subject, recorded_backend, unique_prefix,
};
use hookgate_shared::ports::{
    ClaimOutcome, ClaimRequest, EventFilter, EventStore, PageRequest, PutOutcome, Queue,
    QueueError, RecordOutcome, RecordRequest, ReplayMark, StoreError,
};
use hookgate_shared::secrets::SecretStore;

async fn subject(tag: &str) -> MotoSubject {
    fresh_subject(tag, 3, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A realistic GitHub `push` delivery body of about 2 KB, fields in the order GitHub sends them
/// (a real push carries the full repository object and is larger; this one is trimmed to ~2 KB).
fn github_push() -> Vec<u8> {
    let body = r#"{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"9049f1265b7d61be4a8904a9a27120d2064dab3b","repository":{"id":186853002,"node_id":"MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=","name":"hello-world","full_name":"octo-org/hello-world","private":false,"owner":{"name":"octo-org","login":"octo-org","id":6811672,"avatar_url":"https://avatars.githubusercontent.com/u/6811672?v=4","html_url":"https://github.com/octo-org","type":"Organization","site_admin":false},"html_url":"https://github.com/octo-org/hello-world","description":"My first repository on GitHub!","fork":false,"url":"https://api.github.com/repos/octo-org/hello-world","created_at":1557933565,"updated_at":"2026-11-20T09:12:44Z","pushed_at":1763892000,"clone_url":"https://github.com/octo-org/hello-world.git","language":"Rust","default_branch":"main","organization":"octo-org"},"pusher":{"name":"octocat","email":"octocat@github.com"},"sender":{"login":"octocat","id":583231,"node_id":"MDQ6VXNlcjU4MzIzMQ==","avatar_url":"https://avatars.githubusercontent.com/u/583231?v=4","html_url":"https://github.com/octocat","type":"User","site_admin":false},"created":false,"deleted":false,"forced":false,"base_ref":null,"compare":"https://github.com/octo-org/hello-world/compare/6113728f27ae...9049f1265b7d","commits":[{"id":"9049f1265b7d61be4a8904a9a27120d2064dab3b","tree_id":"f9d2a07e9488b91af2641b26b9407fe22a451433","distinct":true,"message":"Fix the webhook retry backoff\n\nCloses #42","timestamp":"2026-11-23T10:59:43+01:00","url":"https://github.com/octo-org/hello-world/commit/9049f1265b7d61be4a8904a9a27120d2064dab3b","author":{"name":"Mona Octocat","email":"octocat@github.com","username":"octocat"},"committer":{"name":"GitHub","email":"noreply@github.com","username":"web-flow"},"added":[],"removed":[],"modified":["src/retry.rs","README.md"]}],"head_commit":{"id":"9049f1265b7d61be4a8904a9a27120d2064dab3b","tree_id":"f9d2a07e9488b91af2641b26b9407fe22a451433","distinct":true,"message":"Fix the webhook retry backoff\n\nCloses #42","timestamp":"2026-11-23T10:59:43+01:00","url":"https://github.com/octo-org/hello-world/commit/9049f1265b7d61be4a8904a9a27120d2064dab3b","author":{"name":"Mona Octocat","email":"octocat@github.com","username":"octocat"},"committer":{"name":"GitHub","email":"noreply@github.com","username":"web-flow"},"added":[],"removed":[],"modified":["src/retry.rs","README.md"]}}"#;
    // It is the JSON GitHub sends.
    serde_json::from_str::<serde_json::Value>(body).expect("valid JSON");
    body.as_bytes().to_vec()
}

fn new_event(source: &str, delivery: &str, received_at: i64, body: Vec<u8>) -> NewEvent {
    let source = SourceName::parse(source).unwrap();
    let delivery_id = DeliveryId::parse(delivery).unwrap();
    NewEvent {
        event_id: EventId::derive(&source, &delivery_id),
        source,
        delivery_id,
        event_type: "push".into(),
        received_at,
        content_type: Some("application/json".into()),
        headers: BTreeMap::from([
            (
                "user-agent".to_owned(),
                "GitHub-Hookshot/044aadd".to_owned(),
            ),
            ("x-github-hook-id".to_owned(), "292430182".to_owned()),
        ]),
        body: Bytes::from(body),
        secret_label: Some("current".into()),
        expires_at: received_at + 30 * 86_400_000,
        lease: None,
    }
}

fn small(source: &str, delivery: &str, received_at: i64) -> NewEvent {
    new_event(
        source,
        delivery,
        received_at,
        format!(r#"{{"n":"{delivery}"}}"#).into_bytes(),
    )
}

async fn raw_item(s: &MotoSubject, id: &EventId) -> HashMap<String, AttributeValue> {
    aws_sdk_dynamodb::Client::new(&s.sdk)
        .get_item()
        .table_name(&s.resources.table)
        .key("event_id", AttributeValue::S(id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("item stored")
}

fn claim_req(id: &EventId, g: u32, token: &str, now: i64) -> ClaimRequest {
    ClaimRequest {
        held: None,
        event_id: id.clone(),
        generation: Generation::new(g).unwrap(),
        token: token.into(),
        now,
        lease_until: now + 30_000,
    }
}

fn record_req(id: &EventId, g: u32, token: &str, status: EventStatus, now: i64) -> RecordRequest {
    RecordRequest {
        event_id: id.clone(),
        generation: Generation::new(g).unwrap(),
        token: token.into(),
        status,
        final_for_generation: matches!(status, EventStatus::Succeeded | EventStatus::Failed),
        handlers_done: BTreeMap::from([("log".to_owned(), AttemptOutcome::Succeeded)]),
        attempt_log: vec![Attempt {
            handler: "log".into(),
            generation: g,
            outcome: AttemptOutcome::Succeeded,
            started_at: now - 5,
            duration_ms: 5,
            error: None,
            exit_code: None,
            http_status: Some(200),
            output: None,
        }],
        last_error: None,
        now,
        retry_at: None,
        add_attempt: false,
    }
}

#[tokio::test]
async fn github_push_item_is_under_one_kilobyte() {
    let s = subject("size").await;
    let body = github_push();
    assert!(
        (1800..=2400).contains(&body.len()),
        "payload should be a ~2 KB push, is {} bytes",
        body.len()
    );
    // As ingest stores it: with the lease it takes for the first message.
    let ev = NewEvent {
        lease: Some(hookgate_shared::model::Lease {
            token: hookgate_shared::model::new_lease_token(),
            generation: 1,
            until: 1_763_892_030_123,
        }),
        ..new_event(
            "github",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            1_763_892_000_123,
            body.clone(),
        )
    };
    assert_eq!(
        s.backend.store.put_new(&ev).await.unwrap(),
        PutOutcome::Inserted
    );
    let stored = raw_item(&s, &ev.event_id).await;
    // Read by the SDK's own client: the size of the item as DynamoDB holds it.
    let size = item_size(&serde_dynamo::Item::from(stored.clone()).into());
    let body_attr = stored["body"].as_b().unwrap().as_ref().len();
    println!(
        "stored item size of a {} byte GitHub push: {size} bytes (body attribute {body_attr} bytes, {} attributes)",
        body.len(),
        stored.len()
    );
    assert!(size <= 1024, "item is {size} bytes, over one write unit");
    // The stored item is what the adapter computes, and it reads back exactly.
    let back = s.backend.store.get(&ev.event_id).await.unwrap().unwrap();
    assert_eq!(back.body, Bytes::from(body));
    assert_eq!(
        item_size(&aws::event_to_item(&back).unwrap()),
        size,
        "re-encoding the read event gives the same item"
    );
}

#[tokio::test]
async fn table_has_ttl_gsis_and_stores_ttl_in_seconds() {
    let s = subject("schema").await;
    let ddb = aws_sdk_dynamodb::Client::new(&s.sdk);
    let ttl = ddb
        .describe_time_to_live()
        .table_name(&s.resources.table)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.time_to_live_status, Some(TimeToLiveStatus::Enabled));
    assert_eq!(ttl.attribute_name.as_deref(), Some("expires_at"));

    let table = ddb
        .describe_table()
        .table_name(&s.resources.table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let gsis: HashMap<String, _> = table
        .global_secondary_indexes
        .unwrap()
        .into_iter()
        .map(|g| (g.index_name.clone().unwrap(), g))
        .collect();
    let keys = |name: &str| -> Vec<String> {
        gsis[name]
            .key_schema
            .clone()
            .unwrap()
            .into_iter()
            .map(|k| k.attribute_name)
            .collect()
    };
    assert_eq!(keys("by_source"), ["source", "received_at"]);
    assert_eq!(keys("pending"), ["pending_shard", "pending_since"]);
    assert_eq!(
        gsis["by_source"]
            .projection
            .as_ref()
            .unwrap()
            .projection_type,
        Some(ProjectionType::All)
    );
    assert_eq!(
        table
            .billing_mode_summary
            .and_then(|b| b.billing_mode)
            .map(|b| b.as_str().to_owned()),
        Some("PAY_PER_REQUEST".to_owned())
    );

    let ev = small("github", "ttl-1", 1_763_892_000_123);
    s.backend.store.put_new(&ev).await.unwrap();
    let item = raw_item(&s, &ev.event_id).await;
    let ttl_secs: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    assert_eq!(
        ttl_secs,
        (ev.expires_at + 999) / 1000,
        "epoch seconds, rounded up"
    );
    let back = s.backend.store.get(&ev.event_id).await.unwrap().unwrap();
    assert_eq!(
        back.expires_at, ev.expires_at,
        "model milliseconds round-trip"
    );
}

#[tokio::test]
async fn duplicate_put_returns_the_old_item_in_one_request() {
    let s = subject("dup").await;
    let rec = Recorder::default();
    let b = recorded_backend(&s, &rec);
    let ev = small("github", "dup-1", 1_000_000);
    assert_eq!(b.store.put_new(&ev).await.unwrap(), PutOutcome::Inserted);
    assert_eq!(rec.take(), ["PutItem"]);

    // Change the stored item, then deliver the same id again: the answer is the item as stored.
    let claimed = b
        .store
        .claim(&claim_req(&ev.event_id, 1, "t1", 2_000_000))
        .await
        .unwrap();
    assert!(matches!(claimed, ClaimOutcome::Claimed(_)));
    rec.take();
    let mut again = ev.clone();
    again.body = Bytes::from_static(b"{\"different\":true}");
    match b.store.put_new(&again).await.unwrap() {
        PutOutcome::Duplicate(old) => {
            assert_eq!(old.event_id, ev.event_id);
            assert_eq!(old.body, ev.body, "the stored body, not the new one");
            assert_eq!(old.status, EventStatus::Processing);
            assert_eq!(old.attempts, 1);
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    assert_eq!(rec.take(), ["PutItem"], "no read before or after the write");
}

#[tokio::test]
async fn claim_classifies_failures_from_the_old_item() {
    let s = subject("claim").await;
    let st = &s.backend.store;
    let ev = small("github", "claim-1", 1_000);
    st.put_new(&ev).await.unwrap();
    let id = &ev.event_id;
    assert!(raw_item(&s, id).await.contains_key("pending_shard"));

    let ClaimOutcome::Claimed(c) = st.claim(&claim_req(id, 1, "a", 10_000)).await.unwrap() else {
        panic!("first claim must succeed");
    };
    assert_eq!(c.status, EventStatus::Processing);
    assert_eq!(c.attempts, 1);
    assert_eq!(
        c.lease.as_ref().map(|l| (l.token.as_str(), l.until)),
        Some(("a", 40_000))
    );
    // Until recorded it stays on the sweep's index, from the end of its lease.
    let raw = raw_item(&s, id).await;
    assert!(raw.contains_key("pending_shard"));
    assert_eq!(raw["pending_since"].as_n().unwrap(), "40000");

    // Live lease.
    assert_eq!(
        st.claim(&claim_req(id, 1, "b", 20_000)).await.unwrap(),
        ClaimOutcome::Leased { until: 40_000 }
    );
    // Expired lease: taken over; the first holder has lost it.
    let ClaimOutcome::Claimed(c2) = st.claim(&claim_req(id, 1, "b", 50_000)).await.unwrap() else {
        panic!("an expired lease can be taken over");
    };
    assert_eq!(c2.attempts, 2);
    assert_eq!(
        st.record(&record_req(id, 1, "a", EventStatus::Succeeded, 51_000))
            .await
            .unwrap(),
        RecordOutcome::LeaseLost
    );
    assert_eq!(
        st.record(&record_req(id, 1, "b", EventStatus::Succeeded, 52_000))
            .await
            .unwrap(),
        RecordOutcome::Recorded
    );
    let done = st.get(id).await.unwrap().unwrap();
    assert_eq!(done.status, EventStatus::Succeeded);
    assert_eq!(done.processed_generation, 1);
    assert_eq!(done.finished_at, Some(52_000));
    assert_eq!(done.lease, None);
    assert_eq!(done.handlers_generation, 1);
    assert_eq!(done.attempt_log.len(), 1);

    assert_eq!(
        st.claim(&claim_req(id, 1, "c", 60_000)).await.unwrap(),
        ClaimOutcome::AlreadyProcessed
    );
    let replayed = st
        .mark_replay(&ReplayMark {
            event_id: id.clone(),
            run_id: "run-1".into(),
            now: 70_000,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replayed.generation.get(), 2);
    assert_eq!(replayed.status, EventStatus::Received);
    assert_eq!(replayed.finished_at, None);
    assert_eq!(replayed.replay_run_id.as_deref(), Some("run-1"));
    assert!(raw_item(&s, id).await.contains_key("pending_shard"));
    // Generation 1 was processed before the replay: that answer comes first (as in the contract).
    assert_eq!(
        st.claim(&claim_req(id, 1, "d", 80_000)).await.unwrap(),
        ClaimOutcome::AlreadyProcessed
    );
    let missing = EventId::derive(
        &SourceName::parse("github").unwrap(),
        &DeliveryId::parse("nope").unwrap(),
    );
    assert_eq!(
        st.claim(&claim_req(&missing, 1, "e", 80_000))
            .await
            .unwrap(),
        ClaimOutcome::NotFound
    );
    assert_eq!(
        st.mark_replay(&ReplayMark {
            event_id: missing,
            run_id: "run-1".into(),
            now: 1
        })
        .await
        .unwrap(),
        None
    );
}

#[tokio::test]
async fn list_uses_the_source_index_or_a_scan() {
    let s = subject("list").await;
    let st = &s.backend.store;
    for i in 0..7i64 {
        st.put_new(&small("github", &format!("g{i}"), 1_000 + i * 10))
            .await
            .unwrap();
        st.put_new(&small("stripe", &format!("s{i}"), 1_005 + i * 10))
            .await
            .unwrap();
    }
    let gh = SourceName::parse("github").unwrap();
    let by_source = EventFilter {
        source: Some(gh.clone()),
        ..EventFilter::default()
    };
    // Paged through the GSI: newest first across pages.
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let p = st
            .list(&by_source, &PageRequest { cursor, limit: 3 })
            .await
            .unwrap();
        assert!(p.events.len() <= 3);
        pages += 1;
        seen.extend(p.events.iter().map(|e| e.received_at));
        assert!(p.events.iter().all(|e| e.source == gh));
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, [1060, 1050, 1040, 1030, 1020, 1010, 1000]);
    assert!(pages >= 3);

    // Time range (since inclusive, until exclusive) as key condition, type as filter.
    let ranged = EventFilter {
        source: Some(gh.clone()),
        since: Some(1010),
        until: Some(1040),
        ..EventFilter::default()
    };
    let p = st
        .list(
            &ranged,
            &PageRequest {
                cursor: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        p.events.iter().map(|e| e.received_at).collect::<Vec<_>>(),
        [1030, 1020, 1010]
    );
    let none = EventFilter {
        source: Some(gh.clone()),
        status: Some(EventStatus::Succeeded),
        ..EventFilter::default()
    };
    assert!(
        st.list(
            &none,
            &PageRequest {
                cursor: None,
                limit: 10
            }
        )
        .await
        .unwrap()
        .events
        .is_empty()
    );

    // Without a source: a scan, every page sorted newest first, all events reached.
    let all = EventFilter::default();
    let mut ids = HashSet::new();
    let mut cursor = None;
    loop {
        let p = st
            .list(&all, &PageRequest { cursor, limit: 4 })
            .await
            .unwrap();
        let times: Vec<i64> = p.events.iter().map(|e| e.received_at).collect();
        let mut sorted = times.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(times, sorted, "a scan page is sorted newest first");
        ids.extend(p.events.into_iter().map(|e| e.event_id));
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(ids.len(), 14);
    let typed = EventFilter {
        since: Some(1040),
        ..EventFilter::default()
    };
    let p = st
        .list(
            &typed,
            &PageRequest {
                cursor: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(p.events.len(), 6);
    assert!(p.next_cursor.is_none());

    // Cursors: garbage, or one from another kind of listing, is refused.
    let scan_cursor = st
        .list(
            &all,
            &PageRequest {
                cursor: None,
                limit: 2,
            },
        )
        .await
        .unwrap()
        .next_cursor
        .unwrap();
    for bad in ["not-a-cursor".to_owned(), scan_cursor] {
        let r = st
            .list(
                &by_source,
                &PageRequest {
                    cursor: Some(bad),
                    limit: 2,
                },
            )
            .await;
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    }
}

#[tokio::test]
async fn pending_reads_the_sparse_sharded_index() {
    let s = subject("pending").await;
    let st = &s.backend.store;
    let mut ids = Vec::new();
    for i in 0..16i64 {
        let ev = small("github", &format!("p{i}"), 1_000 + i);
        st.put_new(&ev).await.unwrap();
        ids.push(ev.event_id);
    }
    let shards: HashSet<String> = ids.iter().map(aws::pending_shard).collect();
    assert!(shards.len() > 1, "ids spread over several shards");
    // Claim the first 4: they stay on the index only from the end of their lease (35 000).
    for id in &ids[..4] {
        assert!(matches!(
            st.claim(&claim_req(id, 1, "t", 5_000)).await.unwrap(),
            ClaimOutcome::Claimed(_)
        ));
    }
    let p = st.pending(1_010, 100).await.unwrap();
    let got: Vec<_> = p.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(
        got,
        ids[4..10].to_vec(),
        "unclaimed, older than the bound, oldest first"
    );
    assert!(p.iter().all(|e| e.generation == Generation::FIRST));
    assert_eq!(p[0].since, 1_004);

    let limited = st.pending(i64::MAX, 5).await.unwrap();
    assert_eq!(
        limited
            .iter()
            .map(|e| e.event_id.clone())
            .collect::<Vec<_>>(),
        ids[4..9].to_vec()
    );
    // A replay puts a claimed event back, with its new generation.
    st.mark_replay(&ReplayMark {
        event_id: ids[0].clone(),
        run_id: "r".into(),
        now: 2_000,
    })
    .await
    .unwrap();
    let all = st.pending(i64::MAX, 100).await.unwrap();
    assert_eq!(all.len(), 16);
    for id in &ids[1..4] {
        let c = all.iter().find(|e| &e.event_id == id).unwrap();
        assert_eq!((c.status, c.since), (EventStatus::Processing, 35_000));
    }
    let back = all.iter().find(|e| e.event_id == ids[0]).unwrap();
    assert_eq!((back.generation.get(), back.since), (2, 2_000));
}

#[tokio::test]
async fn get_many_batches_and_skips_missing() {
    let s = subject("many").await;
    let st = &s.backend.store;
    let mut ids = Vec::new();
    for i in 0..130 {
        let ev = small("github", &format!("m{i}"), i);
        st.put_new(&ev).await.unwrap();
        ids.push(ev.event_id);
    }
    let missing = EventId::derive(
        &SourceName::parse("x").unwrap(),
        &DeliveryId::parse("y").unwrap(),
    );
    let mut ask = ids.clone();
    ask.insert(50, missing);
    ask.push(ids[0].clone());
    let got = st.get_many(&ask).await.unwrap();
    assert_eq!(
        got.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>(),
        ids,
        "all 130 (two chunks), in request order, missing and repeated ids dropped"
    );
}

#[tokio::test]
async fn oversized_item_is_too_large_and_dead_endpoint_is_unavailable() {
    let s = subject("limits").await;
    // Incompressible 420 KB: over DynamoDB's 400 KB item limit.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<u8> = (0..420 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let r = s
        .backend
        .store
        .put_new(&new_event("github", "big", 1, noise))
        .await;
    assert!(matches!(r, Err(StoreError::TooLarge(_))), "{r:?}");

    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = hookgate_shared::adapters::aws::http::SdkHttpClient::new(
        &hookgate_shared::adapters::aws::http::default_timeouts(),
        hookgate_shared::adapters::aws::SdkTrust::Mozilla,
    )
    .unwrap();
    let dead = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(client.shared())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "x", "x", None, None, "test",
        ))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let b = AwsBackend::new(
        &dead,
        "t".into(),
        format!("http://127.0.0.1:{port}/q"),
        "d".into(),
    )
    .unwrap();
    let r = b.store.put_new(&small("github", "d", 1)).await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    let r = b.queue.send("x").await;
    assert!(matches!(r, Err(QueueError::Unavailable(_))), "{r:?}");
}

#[tokio::test]
async fn sqs_redrives_to_the_dlq_after_max_receive_count() {
    let s = fresh_subject("redrive", 2, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let q = &s.backend.queue;
    let dlq = &s.backend.dlq;
    q.send(r#"{"v":1}"#).await.unwrap();
    let st = q.stats().await.unwrap();
    assert_eq!((st.visible, st.in_flight), (1, 0));
    for n in 1..=2u32 {
        let got = q
            .receive(10, Duration::ZERO, Some(Duration::ZERO))
            .await
            .unwrap();
        assert_eq!(got.len(), 1, "receive {n}");
        assert_eq!(got[0].receive_count, n);
        assert_eq!(got[0].body, r#"{"v":1}"#);
        assert!(got[0].sent_at > 1_700_000_000_000, "SentTimestamp in ms");
    }
    // The third receive finds it gone to the DLQ (SQS's RedrivePolicy).
    let got = q
        .receive(10, Duration::ZERO, Some(Duration::ZERO))
        .await
        .unwrap();
    assert!(got.is_empty(), "{got:?}");
    let peeked = dlq.peek(10).await.unwrap();
    assert_eq!(peeked.len(), 1);
    assert_eq!(peeked[0].body, r#"{"v":1}"#);
    // Peeking does not hide it.
    assert_eq!(dlq.peek(10).await.unwrap().len(), 1);
    assert_eq!(dlq.stats().await.unwrap().visible, 1);

    // moto has no StartMessageMoveTask: the library falls back to receive/send/delete.
    assert_eq!(dlq.native_redrive().await.unwrap(), None);
    assert_eq!(dlq.stats().await.unwrap().visible, 1, "nothing moved");
}

#[tokio::test]
async fn queue_visibility_delete_and_receipts() {
    let s = subject("vis").await;
    let q = &s.backend.queue;
    q.send("a").await.unwrap();
    let got = q.receive(1, Duration::from_secs(1), None).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(q.stats().await.unwrap().in_flight, 1);
    // Hidden by the queue default (30 s): nothing to receive now.
    assert!(q.receive(1, Duration::ZERO, None).await.unwrap().is_empty());
    q.change_visibility(&got[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    let again = q.receive(1, Duration::ZERO, None).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message_id, got[0].message_id);
    assert_eq!(again[0].receive_count, 2);
    q.delete(&again[0].receipt).await.unwrap();
    let st = q.stats().await.unwrap();
    assert_eq!((st.visible, st.in_flight), (0, 0));

    let r = q.change_visibility("bogus-receipt", Duration::ZERO).await;
    assert!(matches!(r, Err(QueueError::InvalidReceipt(_))), "{r:?}");
    let r = q.delete("bogus-receipt").await;
    assert!(matches!(r, Err(QueueError::InvalidReceipt(_))), "{r:?}");
}

#[tokio::test]
async fn provisioning_is_idempotent_and_converges() {
    let moto = MotoServer::shared().unwrap_or_else(|e| panic!("{e}"));
    let sdk = moto.sdk_config().await;
    let mut opts = ProvisionOptions::new(unique_prefix("prov"));
    opts.max_receive_count = 4;
    let first = aws::provision(&sdk, &opts).await.unwrap();
    assert!(first.table_created);
    assert!(first.dlq_arn.ends_with("-dlq"));
    opts.visibility_timeout = Duration::from_secs(123);
    let second = aws::provision(&sdk, &opts).await.unwrap();
    assert!(!second.table_created);
    assert_eq!(
        (&first.table, &first.queue_url, &first.dlq_url),
        (&second.table, &second.queue_url, &second.dlq_url)
    );
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&second.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    use aws_sdk_sqs::types::QueueAttributeName as Q;
    assert_eq!(attrs[&Q::VisibilityTimeout], "123");
    let redrive: serde_json::Value = serde_json::from_str(&attrs[&Q::RedrivePolicy]).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], second.dlq_arn.as_str());
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "4"
    );
    let dlq_attrs = sqs
        .get_queue_attributes()
        .queue_url(&second.dlq_url)
        .attribute_names(Q::MessageRetentionPeriod)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(dlq_attrs[&Q::MessageRetentionPeriod], "1209600");

    let bad = aws::provision(&sdk, &ProvisionOptions::new("no spaces")).await;
    assert!(matches!(bad, Err(aws::ProvisionError::InvalidPrefix(_))));
}

#[tokio::test]
async fn secrets_manager_store_reads_secret_strings() {
    let moto = MotoServer::shared().unwrap_or_else(|e| panic!("{e}"));
    let sdk = moto.sdk_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = unique_prefix("secret");
    sm.create_secret()
        .name(&name)
        .secret_string(r#"{"github":"gh-secret"}"#)
        .send()
        .await
        .unwrap();
    let store = SecretsManagerStore::from_sdk(&sdk);
    assert_eq!(
        store.fetch(&name).await.unwrap(),
        r#"{"github":"gh-secret"}"#
    );
    let err = store.fetch(&format!("{name}-missing")).await.unwrap_err();
    assert!(err.contains("ResourceNotFound"), "{err}");
    // Through the resolver, with a JSON key.
    let r = hookgate_shared::secrets::SecretResolver::new(
        Some(Arc::new(store)),
        Duration::from_secs(60),
    );
    let v = r
        .resolve(&hookgate_shared::secrets::SecretRef::parse(&format!(
            "secretsmanager:{name}#github"
        )))
        .await
        .unwrap();
    assert_eq!(v.expose(), "gh-secret");
}

/// Every method calls only the AWS actions the published tables list for it (the IAM template
/// is checked against those tables).
#[tokio::test]
async fn methods_call_only_their_published_actions() {
    let s = subject("iam").await;
    let rec = Recorder::default();
    let b = recorded_backend(&s, &rec);
    let check = |method: &str, table: aws::ActionTable, calls: Vec<String>| {
        let allowed = aws::actions_of(table, method).unwrap_or_else(|| panic!("{method} listed"));
        assert!(!calls.is_empty(), "{method} made no call");
        for c in calls {
            let service = if table == STORE_ACTIONS {
                "dynamodb"
            } else {
                "sqs"
            };
            assert!(
                allowed.contains(&format!("{service}:{c}").as_str()),
                "{method} calls {c}, not in {allowed:?}"
            );
        }
    };
    let ev = small("github", "iam-1", 1);
    let id = ev.event_id.clone();
    let st: &DynamoStore = &b.store;
    st.put_new(&ev).await.unwrap();
    check("put_new", STORE_ACTIONS, rec.take());
    st.get(&id).await.unwrap();
    check("get", STORE_ACTIONS, rec.take());
    st.get_many(std::slice::from_ref(&id)).await.unwrap();
    check("get_many", STORE_ACTIONS, rec.take());
    st.pending(10, 10).await.unwrap();
    check("pending", STORE_ACTIONS, rec.take());
    st.claim(&claim_req(&id, 1, "t", 5)).await.unwrap();
    check("claim", STORE_ACTIONS, rec.take());
    st.record(&record_req(&id, 1, "t", EventStatus::Succeeded, 6))
        .await
        .unwrap();
    check("record", STORE_ACTIONS, rec.take());
    st.mark_replay(&ReplayMark {
        event_id: id.clone(),
        run_id: "r".into(),
        now: 7,
    })
    .await
    .unwrap();
    check("mark_replay", STORE_ACTIONS, rec.take());
    let src = EventFilter {
        source: Some(ev.source.clone()),
        ..EventFilter::default()
    };
    for f in [src, EventFilter::default()] {
        st.list(
            &f,
            &PageRequest {
                cursor: None,
                limit: 5,
            },
        )
        .await
        .unwrap();
        check("list", STORE_ACTIONS, rec.take());
    }

    let q: &SqsQueue = &b.queue;
    q.send("m").await.unwrap();
    check("send", QUEUE_ACTIONS, rec.take());
    let m = q.receive(1, Duration::ZERO, None).await.unwrap();
    check("receive", QUEUE_ACTIONS, rec.take());
    q.change_visibility(&m[0].receipt, Duration::from_secs(5))
        .await
        .unwrap();
    check("change_visibility", QUEUE_ACTIONS, rec.take());
    q.delete(&m[0].receipt).await.unwrap();
    check("delete", QUEUE_ACTIONS, rec.take());
    q.stats().await.unwrap();
    check("stats", QUEUE_ACTIONS, rec.take());
    b.dlq.peek(5).await.unwrap();
    check("peek", QUEUE_ACTIONS, rec.take());
    b.dlq.native_redrive().await.unwrap();
    let calls = rec.take();
    assert!(
        calls.iter().any(|c| c == "StartMessageMoveTask"),
        "{calls:?}"
    );
    check("native_redrive", QUEUE_ACTIONS, calls);
}

/// The functions' SDK configuration (`sdk_config_from_vars`, Lambda's variables, without
/// aws-config's loader) reaches DynamoDB, SQS and Secrets Manager.
#[tokio::test]
async fn the_functions_environment_config_reaches_every_service() {
    let s = subject("envcfg").await;
    let moto = MotoServer::shared().unwrap_or_else(|e| panic!("{e}"));
    let vars = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
    ];
    let sdk = aws::sdk_config_from_vars(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let b = AwsBackend::new(
        &sdk,
        s.resources.table.clone(),
        s.resources.queue_url.clone(),
        s.resources.dlq_url.clone(),
    )
    .unwrap();
    let ev = small("github", "envcfg-1", 1);
    assert!(matches!(
        b.store.put_new(&ev).await.unwrap(),
        PutOutcome::Inserted
    ));
    assert!(b.store.get(&ev.event_id).await.unwrap().is_some());
    b.queue.send("envcfg").await.unwrap();
    let got = b
        .queue
        .receive(1, Duration::from_secs(1), None)
        .await
        .unwrap();
    assert_eq!(got[0].body, "envcfg");
    b.queue.delete(&got[0].receipt).await.unwrap();

    let name = unique_prefix("envcfg-secret");
    aws_sdk_secretsmanager::Client::new(&s.sdk)
        .create_secret()
        .name(&name)
        .secret_string("v")
        .send()
        .await
        .unwrap();
    assert_eq!(b.secrets.fetch(&name).await.unwrap(), "v");
}
