//! The sample Lambda events in `events/` run through each function's handler, on DynamoDB + SQS
//! (moto server). The files are generated here (deterministically, signed with the demo secrets at
//! a fixed time); this test fails if they drift from what the code generates. Regenerate with
//! `HOOKGATE_REGENERATE_EVENTS=1 cargo test -p hookgate-shared --all-features --test lambda_events`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(all(feature = "aws", feature = "lambda", feature = "contract"))]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hookgate_shared::app::{App, Backend};
use hookgate_shared::clock::Clock;
use hookgate_shared::config::Config;
use hookgate_shared::lambda::events::apigw::ApiGatewayV2httpRequest;
use hookgate_shared::lambda::events::sqs::SqsEvent;
use hookgate_shared::lambda::{ingest_apigw, process_sqs, run_command};
use hookgate_shared::model::{DeliveryId, EventId, EventStatus, SourceName};
use hookgate_shared::ports::{EventStore, Queue};
use hookgate_shared::secrets::SecretResolver;
use hookgate_shared::{demo, samples, verify};
use serde_json::{Value, json};

/// When the sample deliveries were signed: 2026-01-01T00:00:00Z.
const SIGNED_AT_MS: i64 = 1_767_225_600_000;

struct Fixed(i64);
impl Clock for Fixed {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("events")
}

fn apigw(source: &str, headers: &[(String, String)], body: &[u8], base64: bool) -> Value {
    let mut h = serde_json::Map::new();
    for (k, v) in headers {
        h.insert(k.to_ascii_lowercase(), Value::String(v.clone()));
    }
    h.insert(
        "host".into(),
        "abc123.execute-api.us-east-1.amazonaws.com".into(),
    );
    let body = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        String::from_utf8(body.to_vec()).unwrap()
    };
    json!({
        "version": "2.0",
        "routeKey": "POST /webhooks/{source}",
        "rawPath": format!("/webhooks/{source}"),
        "rawQueryString": "",
        "headers": h,
        "pathParameters": {"source": source},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": "POST", "path": format!("/webhooks/{source}"), "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.10", "userAgent": "GitHub-Hookshot/abc"},
            "requestId": "req-1",
            "routeKey": "POST /webhooks/{source}",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": SIGNED_AT_MS
        },
        "body": body,
        "isBase64Encoded": base64
    })
}

fn sign(
    provider: &str,
    secret: &str,
    body: &[u8],
    delivery: &str,
    event_type: &str,
) -> Vec<(String, String)> {
    verify::verifier_for(provider, &Default::default())
        .unwrap()
        .sign(secret, body, "", SIGNED_AT_MS, delivery, event_type)
}

fn event_id(source: &str, delivery: &str) -> EventId {
    EventId::derive(
        &SourceName::parse(source).unwrap(),
        &DeliveryId::parse(delivery).unwrap(),
    )
}

fn sqs_record(message_id: &str, body: &str) -> Value {
    json!({
        "messageId": message_id,
        "receiptHandle": format!("rh-{message_id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": SIGNED_AT_MS.to_string()},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hookgate-queue",
        "awsRegion": "us-east-1"
    })
}

/// Every sample, by file name.
fn samples_by_name() -> Vec<(&'static str, Value)> {
    let push = samples::github_push("72d3162e-cc78-11e3-81ab-4c9367dc0958");
    let gh = sign(
        "github",
        demo::GITHUB_SECRET,
        &push,
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "push",
    );
    let (_, stripe) = samples::sample("stripe", "evt_1QDemoStripeEvent");
    let (_, sw) = samples::sample("standard-webhooks", "msg_2DemoStandardWebhooks");
    let mut tampered = push.clone();
    tampered[20] ^= 1;
    let gh_id = event_id("github", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    let pointer = json!({"v": 1, "event_id": gh_id, "generation": 1}).to_string();
    vec![
        ("apigw-github-push.json", apigw("github", &gh, &push, false)),
        (
            "apigw-stripe-invoice-paid.json",
            apigw(
                "stripe",
                &sign("stripe", demo::STRIPE_SECRET, &stripe, "", ""),
                &stripe,
                false,
            ),
        ),
        (
            "apigw-standard-webhooks.json",
            apigw(
                "standard-webhooks",
                &sign(
                    "standard-webhooks",
                    demo::STANDARD_WEBHOOKS_SECRET,
                    &sw,
                    "msg_2DemoStandardWebhooks",
                    "",
                ),
                &sw,
                false,
            ),
        ),
        (
            "apigw-github-tampered.json",
            apigw("github", &gh, &tampered, false),
        ),
        (
            "apigw-github-base64-body.json",
            apigw("github", &gh, &push, true),
        ),
        ("apigw-bad-base64.json", {
            let mut v = apigw("github", &gh, &push, true);
            v["body"] = Value::String("%%% not base64 %%%".into());
            v
        }),
        (
            "sqs-batch-with-poison-record.json",
            json!({"Records": [
                sqs_record("11111111-1111-1111-1111-111111111111", &pointer),
                sqs_record("22222222-2222-2222-2222-222222222222", "this is not a hookgate pointer"),
            ]}),
        ),
        (
            "replay-ids.json",
            json!({"command": "replay", "event_ids": [gh_id]}),
        ),
        (
            "replay-filter-dry-run.json",
            json!({"command": "replay_filter", "filter": {"source": "github", "status": "succeeded"}, "dry_run": true}),
        ),
        ("redrive.json", json!({"command": "redrive"})),
        (
            "sweep.json",
            json!({"command": "sweep", "older_than": "2m"}),
        ),
    ]
}

#[test]
fn sample_event_files_are_current() {
    let dir = events_dir();
    let regenerate = std::env::var_os("HOOKGATE_REGENERATE_EVENTS").is_some();
    for (name, value) in samples_by_name() {
        let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
        let path = dir.join(name);
        if regenerate {
            std::fs::write(&path, &text).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            on_disk,
            text,
            "{} is out of date: regenerate (see the module docs)",
            path.display()
        );
    }
}

fn load(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(events_dir().join(name)).unwrap()).unwrap()
}

async fn app() -> App {
    let m = hookgate_shared::moto::fresh_subject("lambda", 3, Duration::from_secs(2))
        .await
        .unwrap();
    let config = Config::parse(&demo::config_text(), "demo").unwrap();
    let backend = Backend {
        store: m.backend.store.clone(),
        queue: m.backend.queue.clone(),
        dlq: m.backend.dlq.clone(),
    };
    let secrets = Arc::new(SecretResolver::new(
        Some(m.backend.secrets.clone()),
        Duration::from_secs(60),
    ));
    let no_extra = |_: &str, _: &hookgate_shared::config::HandlerConfig| None;
    App::build(
        config,
        backend,
        secrets,
        &no_extra,
        Arc::new(Fixed(SIGNED_AT_MS + 1000)),
    )
    .unwrap()
}

/// The SQS sample with its good record's body replaced by the pointer ingest actually sent, which
/// carries the token of the lease ingest took (the sample's bare pointer is what a redelivery
/// looks like: it would wait for that lease).
async fn poison_sample_with_the_queued_pointer(app: &App) -> SqsEvent {
    let sent = app
        .backend
        .queue
        .receive(1, Duration::from_secs(1), None)
        .await
        .unwrap();
    assert_eq!(sent.len(), 1);
    let mut sample = load("sqs-batch-with-poison-record.json");
    let sample_pointer: Value =
        serde_json::from_str(sample["Records"][0]["body"].as_str().unwrap()).unwrap();
    let mut sent_pointer: Value = serde_json::from_str(&sent[0].body).unwrap();
    assert!(sent_pointer["lease"].is_string(), "{sent_pointer}");
    sent_pointer.as_object_mut().unwrap().remove("lease");
    assert_eq!(
        sent_pointer, sample_pointer,
        "the sample points at that event"
    );
    sample["Records"][0]["body"] = Value::String(sent[0].body.clone());
    serde_json::from_value(sample).unwrap()
}

async fn ingest(app: &App, name: &str) -> (i64, Value) {
    let req: ApiGatewayV2httpRequest = serde_json::from_value(load(name)).unwrap();
    let res = ingest_apigw(app, req).await;
    let body = match res.body {
        Some(hookgate_shared::lambda::events::encodings::Body::Text(t)) => {
            serde_json::from_str(&t).unwrap()
        }
        other => panic!("unexpected body {other:?}"),
    };
    assert_eq!(res.headers["content-type"], "application/json");
    (res.status_code, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_gateway_samples_through_the_ingest_handler() {
    let app = app().await;
    let (s, v) = ingest(&app, "apigw-github-push.json").await;
    assert_eq!((s, v["status"].as_str()), (202, Some("accepted")), "{v}");
    assert_eq!(
        v["event_id"],
        event_id("github", "72d3162e-cc78-11e3-81ab-4c9367dc0958").as_str()
    );
    let (s, v) = ingest(&app, "apigw-github-base64-body.json").await;
    assert_eq!(
        (s, v["status"].as_str()),
        (200, Some("duplicate")),
        "same delivery, base64-encoded: {v}"
    );
    let (s, v) = ingest(&app, "apigw-stripe-invoice-paid.json").await;
    assert_eq!((s, v["status"].as_str()), (202, Some("accepted")), "{v}");
    let (s, v) = ingest(&app, "apigw-standard-webhooks.json").await;
    assert_eq!((s, v["status"].as_str()), (202, Some("accepted")), "{v}");
    let (s, v) = ingest(&app, "apigw-github-tampered.json").await;
    assert_eq!((s, v["error"].as_str()), (401, Some("unauthorized")), "{v}");
    let (s, v) = ingest(&app, "apigw-bad-base64.json").await;
    assert_eq!((s, v["error"].as_str()), (400, Some("bad_request")), "{v}");
    assert!(v["reason"].as_str().unwrap().contains("base64"));
    // Three events are stored; three pointer messages wait: the duplicate arrived while the lease
    // ingest took for its event's first message lasted, so nothing was sent again.
    let stats = app.backend.queue.stats().await.unwrap();
    assert_eq!(stats.visible, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_sample_with_a_poison_record_through_the_processor_handler() {
    let app = app().await;
    ingest(&app, "apigw-github-push.json").await;
    let event = poison_sample_with_the_queued_pointer(&app).await;
    let res = process_sqs(&app, event).await;
    assert!(
        res.batch_item_failures.is_empty(),
        "the poison record is dropped, the good one succeeds"
    );
    let e = app
        .backend
        .store
        .get(&event_id("github", "72d3162e-cc78-11e3-81ab-4c9367dc0958"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.status, EventStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_command_samples_through_the_replay_handler() {
    let app = app().await;
    ingest(&app, "apigw-github-push.json").await;
    let event = poison_sample_with_the_queued_pointer(&app).await;
    assert!(
        process_sqs(&app, event)
            .await
            .batch_item_failures
            .is_empty()
    );
    let v = run_command(&app, load("replay-filter-dry-run.json"))
        .await
        .unwrap();
    assert_eq!(
        (v["matched"].as_u64(), v["dry_run"].as_bool()),
        (Some(1), Some(true)),
        "{v}"
    );
    let v = run_command(&app, load("replay-ids.json")).await.unwrap();
    assert_eq!(v["results"][0]["result"], "replayed", "{v}");
    assert_eq!(v["results"][0]["generation"], 2);
    let v = run_command(&app, load("redrive.json")).await.unwrap();
    assert_eq!(
        (v["method"].as_str(), v["moved"].as_u64()),
        (Some("receive_send_delete"), Some(0)),
        "{v}"
    );
    let v = run_command(&app, load("sweep.json")).await.unwrap();
    assert!(v["found"].is_u64(), "{v}");
    let err = run_command(&app, json!({"command": "explode"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid command"), "{err}");
    let err = run_command(&app, json!({"command": "replay_filter", "filter": {}}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("every event"), "{err}");
}

/// AWS calls per event on the happy path, counted by the clients' observer: 10 deliveries through the
/// ingest handler, then one SQS batch of 10 through the processor handler (receiving and deleting
/// the messages is the event source mapping's work, not the function's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_calls_per_event_on_the_happy_path() {
    let m = hookgate_shared::moto::fresh_subject("calls", 3, Duration::from_secs(30))
        .await
        .unwrap();
    let rec = hookgate_shared::moto::Recorder::default();
    let aws = hookgate_shared::moto::recorded_backend(&m, &rec);
    let config = Config::parse(&demo::config_text(), "demo").unwrap();
    let backend = Backend {
        store: aws.store.clone(),
        queue: aws.queue.clone(),
        dlq: aws.dlq.clone(),
    };
    let no_extra = |_: &str, _: &hookgate_shared::config::HandlerConfig| None;
    let app = App::build(
        config,
        backend,
        Arc::new(SecretResolver::local()),
        &no_extra,
        Arc::new(hookgate_shared::clock::SystemClock),
    )
    .unwrap();
    const N: usize = 10;
    for i in 0..N {
        let delivery = format!("calls-{i}");
        let body = samples::github_push(&delivery);
        let h = sign("github", demo::GITHUB_SECRET, &body, &delivery, "push");
        let req: ApiGatewayV2httpRequest =
            serde_json::from_value(apigw("github", &h, &body, false)).unwrap();
        assert_eq!(ingest_apigw(&app, req).await.status_code, 202);
    }
    let ingest_calls = rec.take();
    // Item sizes for the cost model (scripts/cost.py): as stored by ingest, and once processed.
    let id0 = EventId::derive(
        &SourceName::parse("github").unwrap(),
        &DeliveryId::parse("calls-0").unwrap(),
    );
    let item_bytes = |e: hookgate_shared::model::StoredEvent| {
        hookgate_shared::adapters::aws::item_size(
            &hookgate_shared::adapters::aws::event_to_item(&e).unwrap(),
        )
    };
    let received_item = item_bytes(aws.store.get(&id0).await.unwrap().unwrap());
    rec.take();
    // The event source mapping's part: receive the batch (not counted).
    let mut records = Vec::new();
    while records.len() < N {
        for msg in m
            .backend
            .queue
            .receive(10, Duration::from_secs(1), None)
            .await
            .unwrap()
        {
            let mut r = sqs_record(&msg.message_id, &msg.body);
            r["receiptHandle"] = Value::String(msg.receipt.clone());
            records.push(r);
        }
    }
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    let res = process_sqs(&app, event).await;
    assert!(res.batch_item_failures.is_empty());
    let process_calls = rec.take();
    let count = |calls: &[String], op: &str| calls.iter().filter(|c| *c == op).count();
    assert_eq!(
        (
            count(&ingest_calls, "PutItem"),
            count(&ingest_calls, "SendMessage"),
            ingest_calls.len()
        ),
        (N, N, 2 * N),
        "{ingest_calls:?}"
    );
    assert_eq!(
        count(&process_calls, "BatchGetItem"),
        1,
        "{process_calls:?}"
    );
    // The first receive runs on the lease ingest took: no claim, one update that records.
    assert_eq!(
        count(&process_calls, "UpdateItem"),
        N,
        "one record per event: {process_calls:?}"
    );
    assert_eq!(process_calls.len(), N + 1, "{process_calls:?}");
    let per_event = (ingest_calls.len() + process_calls.len()) as f64 / N as f64;
    println!(
        "AWS calls per event, happy path: {per_event:.1} (ingest: PutItem + SendMessage; processor: BatchGetItem/10 + UpdateItem record on ingest's lease)"
    );
    assert!(per_event <= 3.2, "{per_event} calls per event");
    let done = aws.store.get(&id0).await.unwrap().unwrap();
    assert_eq!(
        (done.status, done.attempts, done.lease.is_none()),
        (hookgate_shared::model::EventStatus::Succeeded, 1, true)
    );
    let done_item = item_bytes(aws.store.get(&id0).await.unwrap().unwrap());
    // One line scripts/cost.py reads: the measured counts and sizes its model prices.
    println!(
        "cost-model: events={N} PutItem={} SendMessage={} BatchGetItem={} UpdateItem={} body_bytes={} item_bytes_received={received_item} item_bytes_processed={done_item}",
        count(&ingest_calls, "PutItem"),
        count(&ingest_calls, "SendMessage"),
        count(&process_calls, "BatchGetItem"),
        count(&process_calls, "UpdateItem"),
        samples::github_push("calls-0").len(),
    );
}

/// The hostile corpus at the Lambda edge: what API Gateway can hand the ingest function. Every
/// case gets a JSON 4xx with a reason and nothing is stored or enqueued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_api_gateway_requests_get_json_4xx_and_store_nothing() {
    let app = app().await;
    let body = samples::github_push("hostile-apigw");
    let ok = sign(
        "github",
        demo::GITHUB_SECRET,
        &body,
        "hostile-apigw",
        "push",
    );
    let sig = ok
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-hub-signature-256"))
        .map(|(_, v)| v.clone())
        .unwrap();
    let base = apigw("github", &ok, &body, false);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        v
    };
    let mut cases: Vec<(&str, Value, i64)> = vec![
        (
            "invalid base64",
            with(&|v| {
                v["isBase64Encoded"] = json!(true);
                v["body"] = json!("%%%");
            }),
            400,
        ),
        (
            "truncated base64",
            with(&|v| {
                v["isBase64Encoded"] = json!(true);
                v["body"] = json!("eyJh");
            }),
            401,
        ),
        (
            "non-UTF-8 bytes, base64",
            with(&|v| {
                v["isBase64Encoded"] = json!(true);
                v["body"] =
                    json!(base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, 0, 0x80]));
            }),
            401,
        ),
        (
            "body over the limit",
            with(&|v| {
                v["body"] = json!("a".repeat(2 * 1024 * 1024));
            }),
            413,
        ),
        ("no body", with(&|v| v["body"] = Value::Null), 401),
        (
            "repeated signature headers, joined by API Gateway",
            with(&|v| {
                v["headers"]["x-hub-signature-256"] = json!(format!("{sig},{sig}"));
            }),
            401,
        ),
        (
            "huge signature header",
            with(&|v| {
                v["headers"]["x-hub-signature-256"] =
                    json!(format!("sha256={}", "ab".repeat(50_000)));
            }),
            401,
        ),
        (
            "lookalike header name",
            with(&|v| {
                let s = v["headers"]["x-hub-signature-256"].take();
                v["headers"]["x-hub-signature256"] = s;
                v["headers"]
                    .as_object_mut()
                    .unwrap()
                    .remove("x-hub-signature-256");
            }),
            401,
        ),
        (
            "wrong content type, unsigned",
            with(&|v| {
                v["headers"] = json!({"content-type": "text/plain"});
            }),
            401,
        ),
        (
            "deeply nested JSON, unsigned",
            with(&|v| {
                v["headers"] = json!({"content-type": "application/json"});
                v["body"] = json!(format!("{}{}", "[".repeat(50_000), "]".repeat(50_000)));
            }),
            401,
        ),
        (
            "missing path parameter and raw path",
            with(&|v| {
                v["pathParameters"] = json!({});
                v["rawPath"] = Value::Null;
            }),
            404,
        ),
    ];
    for method in ["GET", "PUT", "DELETE"] {
        cases.push((
            "non-POST method",
            with(&|v| {
                v["requestContext"]["http"]["method"] = json!(method);
            }),
            405,
        ));
    }
    for source in [
        "../admin",
        "github\u{0}",
        "GitHub",
        "",
        "a".repeat(8_000).leak(),
    ] {
        cases.push((
            "odd source",
            with(&|v| {
                v["pathParameters"]["source"] = json!(source);
                v["rawPath"] = json!(format!("/webhooks/{source}"));
            }),
            404,
        ));
    }
    let mut failures = Vec::new();
    for (name, event, want) in cases {
        let req: ApiGatewayV2httpRequest = match serde_json::from_value(event) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: not an API Gateway event: {e}"));
                continue;
            }
        };
        let res = ingest_apigw(&app, req).await;
        let doc: Value = match &res.body {
            Some(hookgate_shared::lambda::events::encodings::Body::Text(t)) => {
                serde_json::from_str(t).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        };
        if res.status_code != want
            || doc["error"].as_str().is_none()
            || doc["reason"].as_str().is_none_or(str::is_empty)
        {
            failures.push(format!(
                "{name}: want {want}, got {} {doc}",
                res.status_code
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let page = app
        .backend
        .store
        .list(
            &Default::default(),
            &hookgate_shared::ports::PageRequest {
                cursor: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert!(page.events.is_empty(), "nothing stored");
    let q = app.backend.queue.stats().await.unwrap();
    assert_eq!(q.visible + q.in_flight + q.delayed, 0, "nothing enqueued");
    // The untouched request still goes through.
    let req: ApiGatewayV2httpRequest = serde_json::from_value(base).unwrap();
    assert_eq!(ingest_apigw(&app, req).await.status_code, 202);
}
