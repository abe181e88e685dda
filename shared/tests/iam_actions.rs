//! Every AWS call each Lambda function's code makes is granted to that function in
//! `infra/permissions.json` (the file the SAM template must match exactly). The calls are recorded
//! by the signed clients' observer while each function's handler runs on moto, through its success and
//! failure paths.
#![cfg(all(feature = "aws", feature = "lambda", feature = "contract"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hookgate_shared::app::{App, Backend};
use hookgate_shared::clock::SystemClock;
use hookgate_shared::config::Config;
use hookgate_shared::lambda::events::apigw::ApiGatewayV2httpRequest;
use hookgate_shared::lambda::events::sqs::SqsEvent;
use hookgate_shared::lambda::{ingest_apigw, process_sqs, run_command};
use hookgate_shared::moto::{Recorder, fresh_subject, recorded_backend};
use hookgate_shared::ports::Queue;
use hookgate_shared::secrets::SecretResolver;
use hookgate_shared::{demo, samples, verify};
use serde_json::{Value, json};

/// `service:Operation` granted to a function in infra/permissions.json.
fn granted(function: &str) -> BTreeSet<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/permissions.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = BTreeSet::new();
    for (service, ops) in v[function]["actions"].as_object().unwrap() {
        for op in ops.as_array().unwrap() {
            out.insert(format!("{service}:{}", op.as_str().unwrap()));
        }
    }
    out
}

fn as_actions(ops: Vec<String>) -> BTreeSet<String> {
    ops.into_iter()
        .map(|op| {
            let service = match op.as_str() {
                "PutItem" | "GetItem" | "UpdateItem" | "BatchGetItem" | "Query" | "Scan" => {
                    "dynamodb"
                }
                "PutObject" | "GetObject" => "s3",
                _ => "sqs",
            };
            format!("{service}:{op}")
        })
        .collect()
}

fn apigw(delivery: &str, body: &[u8], headers: Vec<(String, String)>) -> ApiGatewayV2httpRequest {
    let h: serde_json::Map<String, Value> = headers
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v)))
        .collect();
    serde_json::from_value(json!({
        "version": "2.0", "rawPath": "/webhooks/github", "rawQueryString": "", "headers": h,
        "pathParameters": {"source": "github"},
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/github", "sourceIp": "192.0.2.1"},
                           "domainName": "example.com", "requestId": delivery},
        "body": String::from_utf8(body.to_vec()).unwrap(), "isBase64Encoded": false
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_function_calls_only_what_it_is_granted() {
    let m = fresh_subject("iam", 2, Duration::from_secs(1))
        .await
        .unwrap();
    let rec = Recorder::default();
    let aws = recorded_backend(&m, &rec);
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
        Arc::new(SystemClock),
    )
    .unwrap();
    let v = verify::verifier_for("github", &Default::default()).unwrap();

    // ingest: new, duplicate, bad signature.
    let body = samples::github_push("iam-1");
    for _ in 0..2 {
        let h = v.sign(demo::GITHUB_SECRET, &body, "", 0, "iam-1", "push");
        ingest_apigw(&app, apigw("iam-1", &body, h)).await;
    }
    let h = v.sign("wrong", &body, "", 0, "iam-2", "push");
    ingest_apigw(&app, apigw("iam-2", &body, h)).await;
    // ...and a send that fails (no such queue): ingest gives its lease up (UpdateItem).
    let missing_queue = hookgate_shared::adapters::aws::SqsQueue::new(
        rec.sqs_client(&m.sdk),
        format!("{}-missing", m.resources.queue_url),
    );
    let broken = App::build(
        Config::parse(&demo::config_text(), "demo").unwrap(),
        Backend {
            store: aws.store.clone(),
            queue: Arc::new(missing_queue),
            dlq: aws.dlq.clone(),
        },
        Arc::new(SecretResolver::local()),
        &no_extra,
        Arc::new(SystemClock),
    )
    .unwrap();
    let body3 = samples::github_push("iam-3");
    let h = v.sign(demo::GITHUB_SECRET, &body3, "", 0, "iam-3", "push");
    assert_eq!(
        ingest_apigw(&broken, apigw("iam-3", &body3, h))
            .await
            .status_code,
        503
    );
    let ingest = as_actions(rec.take());
    assert!(
        ingest.contains("dynamodb:UpdateItem"),
        "the failed send released the lease: {ingest:?}"
    );
    assert!(
        ingest.is_subset(&granted("ingest")),
        "ingest calls {ingest:?}, granted {:?}",
        granted("ingest")
    );
    assert!(!ingest.is_empty());

    // processor: a batch with the event twice and a poison record.
    let mut records = Vec::new();
    for msg in m
        .backend
        .queue
        .receive(10, Duration::from_secs(2), None)
        .await
        .unwrap()
    {
        records.push(
            json!({"messageId": msg.message_id, "receiptHandle": msg.receipt, "body": msg.body,
                            "attributes": {"ApproximateReceiveCount": "1"}}),
        );
    }
    records.push(
        json!({"messageId": "poison", "receiptHandle": "x", "body": "nope", "attributes": {}}),
    );
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    process_sqs(&app, event).await;
    let processor = as_actions(rec.take());
    assert!(
        processor.is_subset(&granted("processor")),
        "processor calls {processor:?}, granted {:?}",
        granted("processor")
    );
    assert!(processor.contains("dynamodb:UpdateItem"));

    // replay: every command.
    for cmd in [
        json!({"command": "replay_filter", "filter": {"source": "github"}, "dry_run": true}),
        json!({"command": "replay_filter", "filter": {"status": "succeeded"}, "dry_run": true}),
        json!({"command": "replay_filter", "filter": {"source": "github"}}),
        json!({"command": "redrive"}),
        json!({"command": "sweep", "older_than": "0s"}),
    ] {
        run_command(&app, cmd).await.unwrap();
    }
    let id = hookgate_shared::model::EventId::derive(
        &hookgate_shared::model::SourceName::parse("github").unwrap(),
        &hookgate_shared::model::DeliveryId::parse("iam-1").unwrap(),
    );
    run_command(&app, json!({"command": "replay", "event_ids": [id]}))
        .await
        .unwrap();
    let replay = as_actions(rec.take());
    assert!(
        replay.is_subset(&granted("replay")),
        "replay calls {replay:?}, granted {:?}",
        granted("replay")
    );
    assert!(
        replay.contains("dynamodb:Query")
            && replay.contains("dynamodb:Scan")
            && replay.contains("sqs:ReceiveMessage")
    );
}
