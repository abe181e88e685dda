//! The pipeline (ingest → store → queue → processor → replay) through the library's public API on
//! the embedded SQLite backend, with an in-process handler that counts its runs.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hookgate_shared::adapters::sqlite::{SqliteBackend, SqliteOptions};
use hookgate_shared::app::{App, Backend};
use hookgate_shared::clock::{Clock, SystemClock};
use hookgate_shared::config::Config;
use hookgate_shared::handlers::{Event, Handler, HandlerError, HandlerReport, Handlers};
use hookgate_shared::ingest::{Accepted, IngestRequest};
use hookgate_shared::message::QueueMessage;
use hookgate_shared::model::{EventId, EventStatus, Generation};
use hookgate_shared::ports::{Queue, QueueError, QueueStats, Received};
use hookgate_shared::process::{AckReason, Disposition, InboundMessage};
use hookgate_shared::secrets::SecretResolver;
use hookgate_shared::worker::{POLL_WAIT, run_poller};
use tokio_util::sync::CancellationToken;

/// Counts runs per (event, generation); fails transiently `fail_first` times per event.
#[derive(Default)]
struct Counting {
    runs: Mutex<HashMap<(String, u32), u32>>,
    fail_first: AtomicU32,
    /// The call (per event) that never returns, as if the process died inside the handler.
    hang_on_call: AtomicU32,
    calls: Mutex<HashMap<String, u32>>,
}

#[async_trait]
impl Handler for Counting {
    async fn handle(&self, e: &Event) -> Result<HandlerReport, HandlerError> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            let c = calls.entry(e.event_id.to_string()).or_default();
            *c += 1;
            *c
        };
        if n == self.hang_on_call.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if n <= self.fail_first.load(Ordering::SeqCst) {
            return Err(HandlerError::transient(format!("try {n}")));
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
secrets = ["s3cret"]
[[routes]]
source = "github"
handlers = ["count"]
[handlers.count]
kind = "log"
"#;

struct Fixture {
    app: App,
    counter: Arc<Counting>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let counter = Arc::new(Counting::default());
    let (app, dir) = app_with(counter.clone());
    Fixture {
        app,
        counter,
        _dir: dir,
    }
}

/// The app of [`CONFIG`], with `handler` as its one routed handler ("count").
fn app_with(handler: Arc<dyn Handler>) -> (App, tempfile::TempDir) {
    app_with_queue(handler, |q| q)
}

/// Like [`app_with`], with the main queue wrapped by `wrap`.
fn app_with_queue(
    handler: Arc<dyn Handler>,
    wrap: impl FnOnce(Arc<dyn Queue>) -> Arc<dyn Queue>,
) -> (App, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(CONFIG, "test").unwrap();
    let b = SqliteBackend::open(
        dir.path(),
        SqliteOptions {
            max_receive_count: 3,
            visibility_timeout: Duration::from_secs(2),
        },
    )
    .unwrap();
    let backend = Backend {
        store: b.store(),
        queue: wrap(b.queue()),
        dlq: b.dlq(),
    };
    let mut handlers = Handlers::default();
    handlers.insert("count", handler);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let app = App::with_handlers(
        config,
        backend,
        Arc::new(SecretResolver::local()),
        handlers,
        clock,
    )
    .unwrap();
    (app, dir)
}

async fn ingest(app: &App, delivery: &str) -> Accepted {
    let body = hookgate_shared::samples::github_push(delivery);
    ingest_body(app, delivery, &body).await
}

/// A signed GitHub `push` delivery of `body`, sent as `application/json`.
async fn ingest_body(app: &App, delivery: &str, body: &[u8]) -> Accepted {
    let v = hookgate_shared::verify::verifier_for("github", &Default::default()).unwrap();
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().unwrap(),
    );
    for (k, val) in v.sign("s3cret", body, "", 0, delivery, "push") {
        h.insert(
            http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).unwrap(),
            val.parse().unwrap(),
        );
    }
    app.ingest
        .handle(&IngestRequest {
            source: "github",
            method: "POST",
            url: "",
            headers: &h,
            body,
            peer_ip: None,
        })
        .await
        .unwrap()
}

/// Takes the one queued message away, as if the process had died between the write and the send.
async fn lose_the_message(app: &App) {
    let msgs = app
        .backend
        .queue
        .receive(10, Duration::from_secs(1), None)
        .await
        .unwrap();
    assert_eq!(msgs.len(), 1);
    app.backend.queue.delete(&msgs[0].receipt).await.unwrap();
}

/// Receives and processes until the queue is idle for `idle`.
async fn drain(app: &App, idle: Duration) {
    let mut quiet = std::time::Instant::now();
    while quiet.elapsed() < idle {
        let msgs = app
            .backend
            .queue
            .receive(10, Duration::from_millis(200), None)
            .await
            .unwrap();
        if msgs.is_empty() {
            continue;
        }
        quiet = std::time::Instant::now();
        let batch: Vec<InboundMessage> = msgs.into_iter().map(InboundMessage::from).collect();
        let r = app.processor.process_batch(&batch).await;
        for receipt in r.acked_receipts() {
            app.backend.queue.delete(&receipt).await.unwrap();
        }
    }
}

fn id(a: &Accepted) -> EventId {
    match a {
        Accepted::New { event_id } | Accepted::Duplicate { event_id } => event_id.clone(),
        Accepted::Handshake(_) => panic!("not a handshake"),
    }
}

#[tokio::test]
async fn a_redelivered_message_of_a_processed_generation_runs_nothing() {
    let f = fixture();
    let a = ingest(&f.app, "d1").await;
    assert!(matches!(a, Accepted::New { .. }));
    drain(&f.app, Duration::from_millis(500)).await;
    let e = f.app.backend.store.get(&id(&a)).await.unwrap().unwrap();
    assert_eq!(e.status, EventStatus::Succeeded);
    // The same pointer message again (SQS at-least-once delivery).
    f.app
        .backend
        .queue
        .send(&QueueMessage::new(id(&a), Generation::FIRST).encode())
        .await
        .unwrap();
    let msgs = f
        .app
        .backend
        .queue
        .receive(10, Duration::from_secs(1), None)
        .await
        .unwrap();
    let batch: Vec<InboundMessage> = msgs.into_iter().map(InboundMessage::from).collect();
    let r = f.app.processor.process_batch(&batch).await;
    assert_eq!(
        r.results[0].disposition,
        Disposition::Ack(AckReason::AlreadyProcessed)
    );
    assert_eq!(f.counter.runs.lock().unwrap()[&(id(&a).to_string(), 1)], 1);
}

#[tokio::test]
async fn poison_and_unknown_messages_do_not_fail_the_batch() {
    let f = fixture();
    let a = ingest(&f.app, "d2").await;
    f.app.backend.queue.send("not json").await.unwrap();
    f.app
        .backend
        .queue
        .send(r#"{"v":1,"event_id":"evt_aaaaaaaaaaaaaaaaaaaaaaaaaa","generation":1}"#)
        .await
        .unwrap();
    let msgs = f
        .app
        .backend
        .queue
        .receive(10, Duration::from_secs(1), None)
        .await
        .unwrap();
    assert_eq!(msgs.len(), 3);
    let batch: Vec<InboundMessage> = msgs.into_iter().map(InboundMessage::from).collect();
    let r = f.app.processor.process_batch(&batch).await;
    assert!(r.failures().is_empty(), "{:?}", r.results);
    let reasons: Vec<_> = r.results.iter().map(|m| m.disposition.clone()).collect();
    assert!(reasons.contains(&Disposition::Ack(AckReason::Malformed)));
    assert!(reasons.contains(&Disposition::Ack(AckReason::NotFound)));
    assert!(reasons.contains(&Disposition::Ack(AckReason::Succeeded)));
    assert_eq!(
        f.app
            .backend
            .store
            .get(&id(&a))
            .await
            .unwrap()
            .unwrap()
            .status,
        EventStatus::Succeeded
    );
}

#[tokio::test]
async fn transient_failures_retry_then_dead_then_redrive_runs_once() {
    let f = fixture();
    f.counter.fail_first.store(3, Ordering::SeqCst);
    let a = ingest(&f.app, "d3").await;
    drain(&f.app, Duration::from_millis(2500)).await;
    let e = f.app.backend.store.get(&id(&a)).await.unwrap().unwrap();
    assert_eq!(e.status, EventStatus::Dead, "{e:?}");
    assert_eq!(e.attempts, 3);
    assert_eq!(f.app.backend.dlq.peek(10).await.unwrap().len(), 1);
    let report = f.app.replayer.redrive().await.unwrap();
    assert_eq!(report.moved, 1);
    drain(&f.app, Duration::from_millis(500)).await;
    let e = f.app.backend.store.get(&id(&a)).await.unwrap().unwrap();
    assert_eq!(e.status, EventStatus::Succeeded);
    assert_eq!(f.counter.runs.lock().unwrap()[&(id(&a).to_string(), 1)], 1);
}

#[tokio::test]
async fn a_process_killed_on_the_last_receive_leaves_the_event_dead_not_processing() {
    let f = fixture();
    // Two transient failures, then the third (last allowed) receive never finishes.
    f.counter.fail_first.store(2, Ordering::SeqCst);
    f.counter.hang_on_call.store(3, Ordering::SeqCst);
    let a = ingest(&f.app, "d-killed").await;
    let mut killed = false;
    let started = std::time::Instant::now();
    while !killed && started.elapsed() < Duration::from_secs(20) {
        let msgs = f
            .app
            .backend
            .queue
            .receive(10, Duration::from_millis(200), None)
            .await
            .unwrap();
        if msgs.is_empty() {
            continue;
        }
        let batch: Vec<InboundMessage> = msgs.into_iter().map(InboundMessage::from).collect();
        // Dropping the future mid-handler is the kill: nothing is recorded or deleted.
        match tokio::time::timeout(
            Duration::from_millis(500),
            f.app.processor.process_batch(&batch),
        )
        .await
        {
            Ok(r) => {
                for receipt in r.acked_receipts() {
                    f.app.backend.queue.delete(&receipt).await.unwrap();
                }
            }
            Err(_) => killed = true,
        }
    }
    assert!(killed, "the third receive should have hung");
    let e = f.app.backend.store.get(&id(&a)).await.unwrap().unwrap();
    assert_eq!(e.status, EventStatus::Processing);
    // Before the lease ends the sweep leaves it alone.
    let early = f.app.replayer.sweep(Duration::ZERO, 100).await.unwrap();
    assert_eq!(early.marked_dead, 0, "{early:?}");
    // The lease (the 2 s visibility timeout) ends; the next receive moves the message to the DLQ.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    drain(&f.app, Duration::from_millis(300)).await;
    assert_eq!(f.app.backend.dlq.peek(10).await.unwrap().len(), 1);
    let r = f.app.replayer.sweep(Duration::ZERO, 100).await.unwrap();
    assert_eq!((r.found, r.marked_dead, r.requeued), (1, 1, 0), "{r:?}");
    let e = f.app.backend.store.get(&id(&a)).await.unwrap().unwrap();
    assert_eq!(e.status, EventStatus::Dead, "{e:?}");
    assert_eq!(
        e.last_error.as_deref(),
        Some(hookgate_shared::replay::ABANDONED_REASON)
    );
    // Nothing is left for the sweep, and a redrive runs it once.
    let again = f.app.replayer.sweep(Duration::ZERO, 100).await.unwrap();
    assert_eq!(again.found, 0);
    f.counter.hang_on_call.store(0, Ordering::SeqCst);
    assert_eq!(f.app.replayer.redrive().await.unwrap().moved, 1);
    drain(&f.app, Duration::from_millis(500)).await;
    let e = f.app.backend.store.get(&id(&a)).await.unwrap().unwrap();
    assert_eq!(e.status, EventStatus::Succeeded);
    assert_eq!(f.counter.runs.lock().unwrap()[&(id(&a).to_string(), 1)], 1);
}

#[tokio::test]
async fn replay_bumps_the_generation_and_an_old_generation_message_is_superseded() {
    let f = fixture();
    let a = ingest(&f.app, "d4").await;
    drain(&f.app, Duration::from_millis(500)).await;
    let out = f.app.replayer.replay_one(&id(&a), "rpl_test").await;
    assert!(
        matches!(out, hookgate_shared::replay::ReplayOutcome::Replayed { generation, .. } if generation.get() == 2),
        "{out:?}"
    );
    // A stale generation-1 message arrives too.
    f.app
        .backend
        .queue
        .send(&QueueMessage::new(id(&a), Generation::FIRST).encode())
        .await
        .unwrap();
    drain(&f.app, Duration::from_millis(500)).await;
    let runs = f.counter.runs.lock().unwrap().clone();
    assert_eq!(runs[&(id(&a).to_string(), 1)], 1);
    assert_eq!(runs[&(id(&a).to_string(), 2)], 1);
    let e = f.app.backend.store.get(&id(&a)).await.unwrap().unwrap();
    assert_eq!(
        (e.status, e.generation.get(), e.replay_run_id.as_deref()),
        (EventStatus::Succeeded, 2, Some("rpl_test"))
    );
}

#[tokio::test]
async fn a_provider_retry_resends_a_lost_pointer_once_ingests_lease_has_ended() {
    let f = fixture();
    let a = ingest(&f.app, "d6").await;
    assert!(matches!(a, Accepted::New { .. }), "{a:?}");
    lose_the_message(&f.app).await;
    // While ingest's lease lasts (2 s here) a retry sends nothing: the pointer would only wait.
    let again = ingest(&f.app, "d6").await;
    assert!(matches!(again, Accepted::Duplicate { .. }), "{again:?}");
    assert_eq!(f.app.backend.queue.stats().await.unwrap().visible, 0);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let again = ingest(&f.app, "d6").await;
    assert!(matches!(again, Accepted::Duplicate { .. }), "{again:?}");
    assert_eq!(f.app.backend.queue.stats().await.unwrap().visible, 1);
    drain(&f.app, Duration::from_millis(500)).await;
    let e = f.app.backend.store.get(&id(&a)).await.unwrap().unwrap();
    assert_eq!((e.status, e.attempts), (EventStatus::Succeeded, 1));
    assert_eq!(f.counter.runs.lock().unwrap()[&(id(&a).to_string(), 1)], 1);
}

#[tokio::test]
async fn the_sweep_enqueues_an_event_stored_but_never_sent() {
    let f = fixture();
    let a = ingest(&f.app, "d5").await;
    lose_the_message(&f.app).await;
    // Until the lease ingest took for that message ends (one visibility timeout, 2 s here), the
    // message may still be on its way: the sweep leaves the event alone.
    let r = f.app.replayer.sweep(Duration::ZERO, 100).await.unwrap();
    assert_eq!((r.found, r.requeued), (0, 0));
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let r = f.app.replayer.sweep(Duration::ZERO, 100).await.unwrap();
    assert_eq!((r.found, r.requeued), (1, 1));
    drain(&f.app, Duration::from_millis(500)).await;
    assert_eq!(
        f.app
            .backend
            .store
            .get(&id(&a))
            .await
            .unwrap()
            .unwrap()
            .status,
        EventStatus::Succeeded
    );
    let r = f.app.replayer.sweep(Duration::ZERO, 100).await.unwrap();
    assert_eq!(r.found, 0, "a claimed event is no longer pending");
}

#[tokio::test]
async fn two_pointers_to_one_generation_in_a_batch_run_it_once() {
    let f = fixture();
    let a = ingest(&f.app, "d6").await;
    // A second pointer, as a provider retry or the sweep would add.
    f.app
        .backend
        .queue
        .send(&QueueMessage::new(id(&a), Generation::FIRST).encode())
        .await
        .unwrap();
    let msgs = f
        .app
        .backend
        .queue
        .receive(10, Duration::from_secs(1), None)
        .await
        .unwrap();
    assert_eq!(msgs.len(), 2);
    let batch: Vec<InboundMessage> = msgs.into_iter().map(InboundMessage::from).collect();
    let r = f.app.processor.process_batch(&batch).await;
    let reasons: Vec<_> = r.results.iter().map(|m| m.disposition.clone()).collect();
    assert!(
        reasons.contains(&Disposition::Ack(AckReason::Succeeded)),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&Disposition::Ack(AckReason::DuplicateInBatch)),
        "{reasons:?}"
    );
    assert_eq!(f.counter.runs.lock().unwrap()[&(id(&a).to_string(), 1)], 1);
}

/// Records the payload each run saw; says whether it reads the payload as told.
struct Recording {
    reads: bool,
    seen: Mutex<Vec<Option<serde_json::Value>>>,
}

impl Recording {
    fn new(reads: bool) -> Arc<Self> {
        Arc::new(Self {
            reads,
            seen: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl Handler for Recording {
    async fn handle(&self, e: &Event) -> Result<HandlerReport, HandlerError> {
        self.seen.lock().unwrap().push(e.payload.clone());
        Ok(HandlerReport::default())
    }

    fn reads_payload(&self) -> bool {
        self.reads
    }
}

#[tokio::test]
async fn the_payload_value_is_built_only_for_a_handler_that_reads_it() {
    for reads in [false, true] {
        let h = Recording::new(reads);
        let (app, _dir) = app_with(h.clone());
        let a = ingest(&app, &format!("payload-{reads}")).await;
        drain(&app, Duration::from_millis(300)).await;
        let e = app.backend.store.get(&id(&a)).await.unwrap().unwrap();
        assert_eq!(e.status, EventStatus::Succeeded, "{e:?}");
        let seen = h.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "reads {reads}");
        match &seen[0] {
            Some(v) => {
                assert!(reads, "built for a handler that does not read it");
                assert_eq!(v["ref"], "refs/heads/main");
            }
            None => assert!(!reads, "not built for a handler that reads it"),
        }
    }
}

#[tokio::test]
async fn a_json_body_that_does_not_parse_is_quarantined_whether_its_value_is_needed_or_not() {
    for reads in [false, true] {
        let h = Recording::new(reads);
        let (app, _dir) = app_with(h.clone());
        let a = ingest_body(&app, &format!("broken-{reads}"), br#"{"ref": "refs/heads/"#).await;
        drain(&app, Duration::from_millis(300)).await;
        let e = app.backend.store.get(&id(&a)).await.unwrap().unwrap();
        assert_eq!(e.status, EventStatus::Quarantined, "reads {reads}: {e:?}");
        assert!(
            e.last_error
                .as_deref()
                .is_some_and(|m| m.contains("not valid JSON")),
            "{e:?}"
        );
        assert!(h.seen.lock().unwrap().is_empty(), "a handler ran");
    }
}

/// The real SQLite queue, with every receive's wait written down.
struct RecordingWaits {
    inner: Arc<dyn Queue>,
    waits: Arc<Mutex<Vec<Duration>>>,
}

#[async_trait]
impl Queue for RecordingWaits {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        self.inner.send(body).await
    }
    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<Received>, QueueError> {
        self.waits.lock().unwrap().push(wait);
        self.inner.receive(max, wait, visibility).await
    }
    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.inner.delete(receipt).await
    }
    async fn delete_many(&self, receipts: &[String]) -> Vec<Result<(), QueueError>> {
        self.inner.delete_many(receipts).await
    }
    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError> {
        self.inner.change_visibility(receipt, timeout).await
    }
    async fn stats(&self) -> Result<QueueStats, QueueError> {
        self.inner.stats().await
    }
    async fn peek(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        self.inner.peek(max).await
    }
    async fn native_redrive(&self) -> Result<Option<u64>, QueueError> {
        self.inner.native_redrive().await
    }
}

/// The local stack's processor loop (`worker::run_poller`): an idle loop holds one long receive
/// instead of asking again and again, an event arriving meanwhile is processed without waiting
/// for that receive to time out, and stopping does not wait for it either.
#[tokio::test]
async fn an_idle_loop_holds_one_long_receive_that_an_event_ends_at_once() {
    let counter = Arc::new(Counting::default());
    let waits = Arc::new(Mutex::new(Vec::new()));
    let (app, _dir) = app_with_queue(counter.clone(), |inner| {
        Arc::new(RecordingWaits {
            inner,
            waits: waits.clone(),
        })
    });
    let app = Arc::new(app);
    let stop = CancellationToken::new();
    let poller = tokio::spawn(run_poller(app.clone(), stop.clone()));

    // Idle for longer than the old one-second wait: still the first receive.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(*waits.lock().unwrap(), [POLL_WAIT]);
    assert_eq!(POLL_WAIT, Duration::from_secs(20), "SQS's longest poll");

    // An event sent during that receive is processed without waiting for it to time out.
    let sent = std::time::Instant::now();
    let event_id = id(&ingest(&app, "worker-1").await);
    loop {
        let e = app.backend.store.get(&event_id).await.unwrap().unwrap();
        if e.status == EventStatus::Succeeded {
            break;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "not processed within 10 s of its arrival: {:?}",
            e.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counter.runs.lock().unwrap().len(), 1);

    // Stopping drops the receive in progress instead of waiting for its 20 s.
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), poller)
        .await
        .expect("the loop stops without waiting for its receive")
        .unwrap();
}
