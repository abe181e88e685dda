//! CPU per request, without I/O, side by side with the floor it is judged against.
//!
//! * `ingest/pipeline/<size>`: what the ingest Lambda computes for one GitHub delivery once the
//!   bytes are in memory and before any network call: route and method, size, the HMAC check,
//!   delivery id and event type, the event id, the DynamoDB item (body compressed) and the queue
//!   message. It is the real code path: [`Ingest::prepare`] (which `Ingest::handle` runs around
//!   its secret lookup, write and send), [`new_event_item`] (what `DynamoStore::put_new` writes)
//!   and [`QueueMessage::encode`] (what `Ingest` sends).
//! * `ingest/hmac_sha256/<size>`: one bare HMAC-SHA256 over the same bytes: the least any
//!   verifying gateway must spend.
//! * `processor/batch_of_10`: one SQS event of ten pointer messages, JSON as Lambda hands it over,
//!   through `process_sqs` (decode, batch load, route, run on the lease ingest took, record, batch
//!   response) on a store that answers from memory with the DynamoDB items ingest wrote (decoded
//!   by the real `item_to_event`), and a handler that returns at once: CPU without I/O or handler
//!   time.
//!
//! `scripts/bench-ingest.sh` runs this and prints the ratios.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use hookgate_shared::adapters::aws::dynamodb::AttributeValue;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;
use sha2::Sha256;

use hookgate_shared::adapters::aws::{item_to_event, new_event_item};
use hookgate_shared::app::{App, Backend};
use hookgate_shared::clock::{Clock, SystemClock};
use hookgate_shared::config::Config;
use hookgate_shared::handlers::{Event, Handler, HandlerError, HandlerReport, Handlers};
use hookgate_shared::ingest::{IngestRequest, Prepared};
use hookgate_shared::message::QueueMessage;
use hookgate_shared::model::{EventId, EventStatus, Lease, Millis, NewEvent};
use hookgate_shared::ports::{
    AbandonRequest, ClaimOutcome, ClaimRequest, EventFilter, EventStore, Page, PageRequest,
    PendingEvent, PutOutcome, Queue, QueueError, QueueStats, Received, RecordOutcome,
    RecordRequest, ReplayMark, StoreError,
};
use hookgate_shared::secrets::{SecretResolver, SecretValue};
use hookgate_shared::verify::{KeyedSecret, verifier_for};

const SECRET: &str = "bench-github-secret-0123456789";
const SIZES: [(usize, &str); 3] = [(1024, "1KB"), (16 * 1024, "16KB"), (256 * 1024, "256KB")];

fn config() -> Config {
    let text = format!(
        r#"
[ingest]
max_body_bytes = 1048576

[[sources]]
name = "github"
provider = "github"
secrets = ["{SECRET}"]

[[routes]]
source = "github"
handlers = ["log"]

[handlers.log]
kind = "log"
"#
    );
    match Config::parse(&text, "bench") {
        Ok(c) => c,
        Err(e) => panic!("bench config: {e}"),
    }
}

/// A GitHub `push` body of about `len` bytes: the 2 KB sample's envelope with as many distinct
/// commits (ids, messages, files) as it takes, so a compressor sees realistic JSON, not one
/// repeated block.
fn push_body(delivery_id: &str, len: usize) -> Vec<u8> {
    let commit = |i: usize| {
        const NAMES: [&str; 3] = ["Mona Lisa", "Ada Lovelace", "Grace Hopper"];
        const KINDS: [&str; 4] = ["json", "toml", "yaml", "csv"];
        let name = NAMES[i % 3];
        let kind = KINDS[i % 4];
        let id = hex::encode(<Sha256 as sha2::Digest>::digest(i.to_le_bytes()));
        let id = &id[..40];
        json!({
            "id": id,
            "tree_id": hex::encode(<Sha256 as sha2::Digest>::digest((i + 7_919).to_le_bytes()))[..40],
            "distinct": true,
            "message": format!("Fix #{} in the {} parser: handle {} bytes", 1000 + i * 7, kind, 17 * i + 3),
            "timestamp": format!("2026-11-{:02}T{:02}:{:02}:00+00:00", 1 + i % 28, i % 24, (i * 13) % 60),
            "url": format!("https://github.com/octocat/hello-world/commit/{id}"),
            "author": {"name": name, "email": format!("dev{}@example.com", i % 5), "username": format!("dev{}", i % 5)},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
            "added": if i.is_multiple_of(3) { vec![format!("src/mod_{i}.rs")] } else { vec![] },
            "removed": [],
            "modified": [format!("src/lib_{}.rs", i % 11), "README.md"],
        })
    };
    let sample: serde_json::Value =
        match serde_json::from_slice(&hookgate_shared::samples::github_push(delivery_id)) {
            Ok(v) => v,
            Err(e) => panic!("sample push: {e}"),
        };
    let mut body = sample.clone();
    let mut commits = Vec::new();
    // Smaller than the sample: keep its first fields only.
    if len < sample.to_string().len() {
        body = json!({
            "ref": sample["ref"], "before": sample["before"], "after": sample["after"],
            "pusher": sample["pusher"], "sender": sample["sender"], "commits": [],
            "hook_delivery": delivery_id,
        });
    }
    loop {
        body["commits"] = serde_json::Value::Array(commits.clone());
        let text = body.to_string();
        if text.len() >= len {
            return text.into_bytes();
        }
        commits.push(commit(commits.len()));
    }
}

fn signed_headers(body: &[u8], delivery_id: &str) -> HeaderMap {
    let verifier = match verifier_for("github", &Default::default()) {
        Some(v) => v,
        None => panic!("github verifier"),
    };
    let mut headers = HeaderMap::new();
    for (k, v) in verifier.sign(SECRET, body, "", 0, delivery_id, "push") {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            headers.insert(k, v);
        }
    }
    headers
}

fn bench_ingest(c: &mut Criterion<ThreadCpu>) {
    let rt = runtime();
    let app = rt.block_on(app(Vec::new()));
    let keys = [KeyedSecret {
        label: "0".into(),
        value: SecretValue::new(SECRET),
    }];
    let mut group = c.benchmark_group("ingest");
    for (len, name) in SIZES {
        let delivery_id = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
        let body = push_body(delivery_id, len);
        let headers = signed_headers(&body, delivery_id);
        let req = IngestRequest {
            source: "github",
            method: "POST",
            url: "https://hooks.example.com/webhooks/github",
            headers: &headers,
            body: &body,
            peer_ip: None,
        };
        // The pipeline must accept the delivery (else it would be timing a rejection).
        assert!(matches!(
            app.ingest.prepare(&req, &keys, 0),
            Ok(Prepared::Event(_))
        ));
        group.bench_with_input(BenchmarkId::new("pipeline", name), &req, |b, req| {
            b.iter(|| {
                let now = SystemClock.now_ms();
                let Ok(Prepared::Event(event)) = app.ingest.prepare(black_box(req), &keys, now)
                else {
                    panic!("rejected")
                };
                let item = new_event_item(&event);
                let message = QueueMessage::first(&event).encode();
                black_box((item, message))
            });
        });
        // Where the pipeline's time goes (not part of the budget).
        let Ok(Prepared::Event(event)) = app.ingest.prepare(&req, &keys, 0) else {
            panic!("rejected")
        };
        group.bench_with_input(BenchmarkId::new("part_prepare", name), &req, |b, req| {
            b.iter(|| black_box(app.ingest.prepare(black_box(req), &keys, 0).is_ok()));
        });
        group.bench_with_input(
            BenchmarkId::new("part_encode_body", name),
            &body,
            |b, body| {
                b.iter(|| black_box(hookgate_shared::codec::encode_body(black_box(body))));
            },
        );
        group.bench_with_input(BenchmarkId::new("part_item", name), &event, |b, event| {
            b.iter(|| black_box(new_event_item(black_box(event))));
        });
        group.bench_with_input(BenchmarkId::new("hmac_sha256", name), &body, |b, body| {
            b.iter(|| {
                let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()) {
                    Ok(m) => m,
                    Err(_) => unreachable!(),
                };
                mac.update(black_box(body));
                black_box(mac.finalize().into_bytes())
            });
        });
    }
    group.finish();
}

fn bench_processor(c: &mut Criterion<ThreadCpu>) {
    let rt = runtime();
    let mut events = Vec::new();
    let mut records = Vec::new();
    let now = SystemClock.now_ms();
    let bench_app = rt.block_on(app(Vec::new()));
    for i in 0..10 {
        let delivery_id = format!("bench-delivery-{i}");
        let body = hookgate_shared::samples::github_push(&delivery_id);
        let headers = signed_headers(&body, &delivery_id);
        let keys = [KeyedSecret {
            label: "0".into(),
            value: SecretValue::new(SECRET),
        }];
        let req = IngestRequest {
            source: "github",
            method: "POST",
            url: "https://hooks.example.com/webhooks/github",
            headers: &headers,
            body: &body,
            peer_ip: None,
        };
        let Ok(Prepared::Event(event)) = bench_app.ingest.prepare(&req, &keys, now) else {
            panic!("sample rejected")
        };
        records.push(json!({
            "messageId": format!("059f36b4-87a3-44ab-83d2-661975830a7{i}"),
            "receiptHandle": format!("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a{i}"),
            "body": QueueMessage::first(&event).encode(),
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1545082649183",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1545082649185"
            },
            "messageAttributes": {},
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hookgate-events",
            "awsRegion": "us-east-1"
        }));
        events.push(event);
    }
    let sqs_event = json!({ "Records": records }).to_string();
    let events_for_parts = events.clone();
    let app = rt.block_on(app(events));
    let item = match new_event_item(&events_for_parts[0]) {
        Ok(i) => i,
        Err(e) => panic!("item: {e}"),
    };
    c.bench_function("processor_part/item_to_event", |b| {
        b.iter(|| black_box(item_to_event(black_box(item.clone())).is_ok()));
    });
    c.bench_function("processor_part/sqs_event_json", |b| {
        b.iter(|| {
            black_box(
                serde_json::from_str::<hookgate_shared::lambda::events::sqs::SqsEvent>(black_box(
                    &sqs_event,
                ))
                .is_ok(),
            )
        });
    });
    c.bench_function("processor/batch_of_10", |b| {
        b.iter(|| {
            rt.block_on(async {
                let event: hookgate_shared::lambda::events::sqs::SqsEvent =
                    match serde_json::from_str(black_box(&sqs_event)) {
                        Ok(e) => e,
                        Err(e) => panic!("sqs event: {e}"),
                    };
                let response = hookgate_shared::lambda::process_sqs(&app, event).await;
                assert!(response.batch_item_failures.is_empty());
                black_box(serde_json::to_vec(&response).map(|v| v.len()))
            })
        });
    });
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    }
}

/// The app on the in-memory backend below, with `log` replaced by a handler that does nothing.
async fn app(events: Vec<NewEvent>) -> App {
    let store = MemStore::new(&events);
    let backend = Backend {
        store: Arc::new(store),
        queue: Arc::new(NullQueue),
        dlq: Arc::new(NullQueue),
    };
    let mut handlers = Handlers::default();
    handlers.insert("log", Arc::new(Instant));
    match App::with_handlers(
        config(),
        backend,
        Arc::new(SecretResolver::local()),
        handlers,
        Arc::new(SystemClock),
    ) {
        Ok(app) => app,
        Err(e) => panic!("app: {e}"),
    }
}

struct Instant;

#[async_trait]
impl Handler for Instant {
    async fn handle(&self, _: &Event) -> Result<HandlerReport, HandlerError> {
        Ok(HandlerReport::default())
    }
}

/// Holds the DynamoDB items ingest wrote and answers like DynamoDB would, minus the network:
/// `BatchGetItem` and the claim's `ALL_NEW` return values decode the item with the adapter's own
/// `item_to_event` (body decompression included); the record update succeeds.
struct MemStore {
    items: HashMap<EventId, HashMap<String, AttributeValue>>,
}

impl MemStore {
    fn new(events: &[NewEvent]) -> Self {
        let items = events
            .iter()
            .map(|e| match new_event_item(e) {
                Ok(item) => (e.event_id.clone(), item),
                Err(err) => panic!("item: {err}"),
            })
            .collect();
        Self { items }
    }
}

fn outside_the_benchmark() -> StoreError {
    StoreError::Invalid("not used by the benchmark".into())
}

#[async_trait]
impl EventStore for MemStore {
    async fn put_new(&self, _: &NewEvent) -> Result<PutOutcome, StoreError> {
        Err(outside_the_benchmark())
    }
    async fn get(
        &self,
        _: &EventId,
    ) -> Result<Option<hookgate_shared::model::StoredEvent>, StoreError> {
        Err(outside_the_benchmark())
    }
    async fn get_many(
        &self,
        ids: &[EventId],
    ) -> Result<Vec<hookgate_shared::model::StoredEvent>, StoreError> {
        ids.iter()
            .filter_map(|id| self.items.get(id))
            .map(|item| item_to_event(item.clone()))
            .collect()
    }
    async fn claim(&self, req: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        let Some(item) = self.items.get(&req.event_id) else {
            return Ok(ClaimOutcome::NotFound);
        };
        let mut e = item_to_event(item.clone())?;
        e.status = EventStatus::Processing;
        e.attempts += 1;
        e.lease = Some(Lease {
            token: req.token.clone(),
            generation: req.generation.get(),
            until: req.lease_until,
        });
        Ok(ClaimOutcome::Claimed(Box::new(e)))
    }
    async fn record(&self, _: &RecordRequest) -> Result<RecordOutcome, StoreError> {
        Ok(RecordOutcome::Recorded)
    }
    async fn mark_replay(
        &self,
        _: &ReplayMark,
    ) -> Result<Option<hookgate_shared::model::StoredEvent>, StoreError> {
        Err(outside_the_benchmark())
    }
    async fn release(&self, _: &EventId, _: &str) -> Result<bool, StoreError> {
        Err(outside_the_benchmark())
    }
    async fn mark_abandoned(&self, _: &AbandonRequest) -> Result<bool, StoreError> {
        Err(outside_the_benchmark())
    }
    async fn pending(&self, _: Millis, _: usize) -> Result<Vec<PendingEvent>, StoreError> {
        Err(outside_the_benchmark())
    }
    async fn list(&self, _: &EventFilter, _: &PageRequest) -> Result<Page, StoreError> {
        Err(outside_the_benchmark())
    }
}

/// The happy path sends nothing from the processor (the Lambda runtime deletes acked messages).
struct NullQueue;

#[async_trait]
impl Queue for NullQueue {
    async fn send(&self, _: &str) -> Result<(), QueueError> {
        Ok(())
    }
    async fn receive(
        &self,
        _: u32,
        _: Duration,
        _: Option<Duration>,
    ) -> Result<Vec<Received>, QueueError> {
        Ok(Vec::new())
    }
    async fn delete(&self, _: &str) -> Result<(), QueueError> {
        Ok(())
    }
    async fn change_visibility(&self, _: &str, _: Duration) -> Result<(), QueueError> {
        Ok(())
    }
    async fn stats(&self) -> Result<QueueStats, QueueError> {
        Ok(QueueStats::default())
    }
    async fn peek(&self, _: usize) -> Result<Vec<Received>, QueueError> {
        Ok(Vec::new())
    }
    async fn native_redrive(&self) -> Result<Option<u64>, QueueError> {
        Ok(None)
    }
}

/// Criterion measurement: CPU time of the benchmarking thread (`CLOCK_THREAD_CPUTIME_ID`). Every
/// benchmark here runs on that one thread (the processor's on a current-thread runtime), and time
/// it spends descheduled — other processes on a shared machine — is not counted, so a ratio of two
/// benchmarks measured a few seconds apart stays meaningful while the machine's load changes.
struct ThreadCpu;

fn thread_cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, started: Duration) -> Duration {
        thread_cpu_now().saturating_sub(started)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuNanos
    }
}

/// Nanoseconds of CPU, shown like wall time.
struct CpuNanos;

impl ValueFormatter for CpuNanos {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical < 1e3 {
            (1.0, "ns cpu")
        } else if typical < 1e6 {
            (1e-3, "µs cpu")
        } else if typical < 1e9 {
            (1e-6, "ms cpu")
        } else {
            (1e-9, "s cpu")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }
    fn scale_throughputs(
        &self,
        _: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let per = match throughput {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => *n,
            _ => 1,
        };
        values
            .iter_mut()
            .for_each(|v| *v = per as f64 * 1e9 / v.max(1.0));
        "per cpu second"
    }
    fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
        "ns"
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .with_measurement(ThreadCpu)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_ingest, bench_processor
}
criterion_main!(benches);
