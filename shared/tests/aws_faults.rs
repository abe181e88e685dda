//! Fault injection against the AWS adapters (moto server): an unreachable DynamoDB or SQS, a crash
//! between the store write and the send, a processor that dies holding a claim, and a DLQ redrive
//! while processors run. The promise under test: nothing acknowledged is lost, nothing runs twice
//! after success.
#![cfg(all(feature = "aws", feature = "contract"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hookgate_shared::adapters::aws::{DynamoStore, SqsQueue};
use hookgate_shared::app::{App, Backend};
use hookgate_shared::clock::SystemClock;
use hookgate_shared::config::Config;
use hookgate_shared::handlers::{Event, Handler, HandlerError, HandlerReport, Handlers};
use hookgate_shared::http::ingest_reply;
use hookgate_shared::ingest::IngestRequest;
use hookgate_shared::model::{EventId, EventStatus, Generation};
use hookgate_shared::moto::{MotoSubject, fresh_subject};
use hookgate_shared::ports::{ClaimOutcome, ClaimRequest, EventStore, Queue};
use hookgate_shared::process::InboundMessage;
use hookgate_shared::secrets::SecretResolver;

const SECRET: &str = "fault-secret";
const CONFIG: &str = r#"
[queue]
max_receive_count = 3
visibility_timeout = "2s"
[retry]
backoff_base = "1s"
backoff_max = "1s"
[[sources]]
name = "github"
provider = "github"
secrets = ["fault-secret"]
[[routes]]
source = "github"
handlers = ["count"]
[handlers.count]
kind = "log"
"#;

/// Counts successful runs per (event, generation); fails transiently while `down` is set.
#[derive(Default)]
struct Counting {
    runs: Mutex<HashMap<(String, u32), u32>>,
    down: AtomicBool,
}

#[async_trait]
impl Handler for Counting {
    async fn handle(&self, e: &Event) -> Result<HandlerReport, HandlerError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(HandlerError::transient("downstream down"));
        }
        *self
            .runs
            .lock()
            .unwrap()
            .entry((e.event_id.to_string(), e.generation.get()))
            .or_default() += 1;
        Ok(HandlerReport::default())
    }
}

impl Counting {
    fn runs_of(&self, id: &EventId) -> Vec<u32> {
        let runs = self.runs.lock().unwrap();
        let mut v: Vec<u32> = runs
            .iter()
            .filter(|((e, _), _)| e == id.as_str())
            .map(|(_, n)| *n)
            .collect();
        v.sort_unstable();
        v
    }
}

fn app_on(
    store: Arc<dyn EventStore>,
    queue: Arc<dyn Queue>,
    dlq: Arc<dyn Queue>,
    counter: Arc<Counting>,
) -> App {
    let mut handlers = Handlers::default();
    handlers.insert("count", counter);
    App::with_handlers(
        Config::parse(CONFIG, "faults").unwrap(),
        Backend { store, queue, dlq },
        Arc::new(SecretResolver::local()),
        handlers,
        Arc::new(SystemClock),
    )
    .unwrap()
}

/// An SDK config whose endpoint refuses every connection, with few retries.
async fn dead_sdk(m: &MotoSubject) -> aws_config::SdkConfig {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    m.sdk
        .to_builder()
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
        .build()
}

async fn deliver(app: &App, delivery: &str) -> (u16, Option<String>, Option<String>) {
    let body = hookgate_shared::samples::github_push(delivery);
    let v = hookgate_shared::verify::verifier_for("github", &Default::default()).unwrap();
    let mut h = http::HeaderMap::new();
    for (k, val) in v.sign(SECRET, &body, "", 0, delivery, "push") {
        h.insert(
            http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).unwrap(),
            val.parse().unwrap(),
        );
    }
    let res = app
        .ingest
        .handle(&IngestRequest {
            source: "github",
            method: "POST",
            url: "",
            headers: &h,
            body: &body,
            peer_ip: None,
        })
        .await;
    let reply = ingest_reply(&res);
    let retry_after = reply
        .headers
        .iter()
        .find(|(n, _)| *n == "retry-after")
        .map(|(_, v)| v.clone());
    (
        reply.status,
        reply.body["event_id"].as_str().map(str::to_owned),
        retry_after,
    )
}

/// Receives and processes like the event source mapping until `until` holds or `limit` passes.
async fn run_processor(app: &App, limit: Duration, until: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && !until() {
        let msgs = app
            .backend
            .queue
            .receive(10, Duration::from_secs(1), None)
            .await
            .unwrap();
        if msgs.is_empty() {
            continue;
        }
        let batch: Vec<InboundMessage> = msgs.into_iter().map(InboundMessage::from).collect();
        let r = app.processor.process_batch(&batch).await;
        for receipt in r.acked_receipts() {
            let _ = app.backend.queue.delete(&receipt).await;
        }
    }
}

async fn status(app: &App, id: &EventId) -> EventStatus {
    app.backend.store.get(id).await.unwrap().unwrap().status
}

async fn subject(tag: &str) -> MotoSubject {
    fresh_subject(tag, 3, Duration::from_secs(2)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_unreachable_answers_503_and_enqueues_nothing() {
    let m = subject("ddb-down").await;
    let dead = DynamoStore::new(
        hookgate_shared::adapters::aws::dynamodb::DynamoDb::from_sdk(&dead_sdk(&m).await).unwrap(),
        m.resources.table.clone(),
    );
    let app = app_on(
        Arc::new(dead),
        m.backend.queue.clone(),
        m.backend.dlq.clone(),
        Arc::default(),
    );
    let (status, id, retry_after) = deliver(&app, "ddb-1").await;
    assert_eq!((status, id, retry_after.as_deref()), (503, None, Some("5")));
    let stats = m.backend.queue.stats().await.unwrap();
    assert_eq!(
        (stats.visible, stats.in_flight),
        (0, 0),
        "nothing may be enqueued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_unreachable_after_the_write_is_503_then_the_retry_or_the_sweep_enqueues() {
    let m = subject("sqs-down").await;
    let counter = Arc::new(Counting::default());
    let dead_q =
        Arc::new(SqsQueue::from_sdk(&dead_sdk(&m).await, m.resources.queue_url.clone()).unwrap());
    let broken = app_on(
        m.backend.store.clone(),
        dead_q,
        m.backend.dlq.clone(),
        counter.clone(),
    );
    let (s1, _, ra) = deliver(&broken, "sqs-1").await;
    let (s2, _, _) = deliver(&broken, "sqs-2").await;
    assert_eq!((s1, s2, ra.as_deref()), (503, 503, Some("5")));
    let healthy = app_on(
        m.backend.store.clone(),
        m.backend.queue.clone(),
        m.backend.dlq.clone(),
        counter.clone(),
    );
    // The provider retries sqs-1: stored and still `received`, so it is sent now.
    let (s, id1, _) = deliver(&healthy, "sqs-1").await;
    assert_eq!(s, 200, "a retry of a stored delivery is a duplicate");
    let id1 = EventId::parse(&id1.unwrap()).unwrap();
    assert_eq!(m.backend.queue.stats().await.unwrap().visible, 1);
    // sqs-2 is never retried: the sweep finds it.
    let swept = healthy.replayer.sweep(Duration::ZERO, 100).await.unwrap();
    assert_eq!((swept.found, swept.requeued), (2, 2), "{swept:?}");
    run_processor(&healthy, Duration::from_secs(20), || {
        counter.runs.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(status(&healthy, &id1).await, EventStatus::Succeeded);
    tokio::time::sleep(Duration::from_secs(1)).await;
    run_processor(&healthy, Duration::from_secs(3), || false).await;
    assert_eq!(
        counter.runs_of(&id1),
        vec![1],
        "the extra message from the sweep ran nothing"
    );
    assert_eq!(counter.runs.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_write_and_send_is_recovered_by_the_sweep() {
    let m = subject("crash-send").await;
    let counter = Arc::new(Counting::default());
    let app = app_on(
        m.backend.store.clone(),
        m.backend.queue.clone(),
        m.backend.dlq.clone(),
        counter.clone(),
    );
    // The write happens, the process dies before the send: the item exists, no message does.
    let e = hookgate_shared::contract::fixtures::event(
        "github",
        "crash-1",
        hookgate_shared::clock::now_ms() - 10_000,
    );
    m.backend.store.put_new(&e).await.unwrap();
    assert_eq!(m.backend.queue.stats().await.unwrap().visible, 0);
    let swept = app
        .replayer
        .sweep(Duration::from_secs(5), 100)
        .await
        .unwrap();
    assert_eq!(swept.requeued, 1);
    run_processor(&app, Duration::from_secs(20), || {
        !counter.runs.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(counter.runs_of(&e.event_id), vec![1]);
    assert_eq!(status(&app, &e.event_id).await, EventStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_dying_after_its_claim_is_processed_once_after_the_lease() {
    let m = subject("claim-crash").await;
    let counter = Arc::new(Counting::default());
    let app = app_on(
        m.backend.store.clone(),
        m.backend.queue.clone(),
        m.backend.dlq.clone(),
        counter.clone(),
    );
    let (s, id, _) = deliver(&app, "lease-1").await;
    assert_eq!(s, 202);
    let id = EventId::parse(&id.unwrap()).unwrap();
    // A processor receives the message, claims, and dies before recording (its message is not deleted).
    let msgs = m
        .backend
        .queue
        .receive(10, Duration::from_secs(1), Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(msgs.len(), 1);
    let sent = hookgate_shared::message::QueueMessage::decode(&msgs[0].body).unwrap();
    assert!(
        sent.lease.is_some(),
        "ingest's message carries its lease token"
    );
    let now = hookgate_shared::clock::now_ms();
    let claim = ClaimRequest {
        held: sent.lease.clone(),
        event_id: id.clone(),
        generation: Generation::FIRST,
        token: "dead-processor".into(),
        now,
        lease_until: now + 3_000,
    };
    assert!(matches!(
        m.backend.store.claim(&claim).await.unwrap(),
        ClaimOutcome::Claimed(_)
    ));
    // The message comes back; while the lease lives nothing runs; after it, exactly once.
    run_processor(&app, Duration::from_secs(25), || {
        !counter.runs.lock().unwrap().is_empty()
    })
    .await;
    assert!(
        hookgate_shared::clock::now_ms() >= now + 3_000,
        "ran before the dead processor's lease expired"
    );
    run_processor(&app, Duration::from_secs(3), || false).await;
    assert_eq!(counter.runs_of(&id), vec![1]);
    let e = m.backend.store.get(&id).await.unwrap().unwrap();
    assert_eq!((e.status, e.attempts), (EventStatus::Succeeded, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dlq_redrive_while_processors_run_processes_each_message_once() {
    let m = subject("redrive").await;
    let counter = Arc::new(Counting::default());
    counter.down.store(true, Ordering::SeqCst);
    let app = Arc::new(app_on(
        m.backend.store.clone(),
        m.backend.queue.clone(),
        m.backend.dlq.clone(),
        counter.clone(),
    ));
    let mut ids = Vec::new();
    for i in 0..6 {
        let (s, id, _) = deliver(&app, &format!("dead-{i}")).await;
        assert_eq!(s, 202);
        ids.push(EventId::parse(&id.unwrap()).unwrap());
    }
    // Downstream down: every event is retried to death and its message moves to the DLQ.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        run_processor(&app, Duration::from_secs(2), || false).await;
        let dead = m.backend.dlq.stats().await.unwrap();
        if dead.visible + dead.in_flight >= 6 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "messages never reached the DLQ: {dead:?}"
        );
    }
    for id in &ids {
        assert_eq!(status(&app, id).await, EventStatus::Dead);
    }
    counter.down.store(false, Ordering::SeqCst);
    // Two processors run while the redrive moves the messages back.
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..2 {
        let (app, stop) = (app.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            run_processor(&app, Duration::from_secs(60), || {
                stop.load(Ordering::SeqCst)
            })
            .await
        }));
    }
    let report = app.replayer.redrive().await.unwrap();
    assert_eq!(report.moved, 6, "{report:?}");
    let deadline = Instant::now() + Duration::from_secs(40);
    while counter.runs.lock().unwrap().len() < 6 {
        assert!(Instant::now() < deadline, "not every redriven event ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    for id in &ids {
        assert_eq!(counter.runs_of(id), vec![1], "{id}");
        assert_eq!(status(&app, id).await, EventStatus::Succeeded);
    }
}
