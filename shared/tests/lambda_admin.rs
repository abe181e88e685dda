//! The replay function serves the admin API for API Gateway HTTP API events (the template's
//! `ANY /admin/api/{proxy+}` route, IAM-authorized), on DynamoDB + SQS (moto server); every AWS call
//! it makes there is granted to it in `infra/permissions.json`; and the Lambda edges emit
//! CloudWatch EMF lines with the same metric names as the local stack's `/metrics`.
//!
//! One test in its own binary: the EMF sink is process-wide.
#![cfg(all(feature = "aws", feature = "lambda", feature = "contract"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookgate_shared::app::{App, Backend};
use hookgate_shared::clock::SystemClock;
use hookgate_shared::config::Config;
use hookgate_shared::lambda::events::apigw::ApiGatewayV2httpRequest;
use hookgate_shared::lambda::events::sqs::SqsEvent;
use hookgate_shared::lambda::{ingest_apigw, process_sqs, replay_function};
use hookgate_shared::moto::{Recorder, fresh_subject, recorded_backend};
use hookgate_shared::ports::Queue;
use hookgate_shared::secrets::SecretResolver;
use hookgate_shared::{demo, metrics, samples, verify};
use serde_json::{Value, json};

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
                _ => "sqs",
            };
            format!("{service}:{op}")
        })
        .collect()
}

/// An API Gateway v2 request event for the admin route, as the HTTP API sends it with `AWS_IAM`.
fn admin_event(method: &str, path: &str, query: &str, body: Option<Value>) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "ANY /admin/api/{proxy+}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"content-type": "application/json", "host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "pathParameters": {"proxy": path.trim_start_matches("/admin/api/")},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "aws-cli"},
            "authorizer": {"iam": {"accessKey": "AKIA…", "accountId": "123456789012", "userArn": "arn:aws:iam::123456789012:user/operator"}},
            "requestId": "r-1", "routeKey": "ANY /admin/api/{proxy+}", "stage": "$default"
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

async fn call(
    app: &App,
    method: &str,
    path: &str,
    query: &str,
    body: Option<Value>,
) -> (i64, Value) {
    let res = replay_function(app, admin_event(method, path, query, body))
        .await
        .unwrap();
    let status = res["statusCode"].as_i64().unwrap();
    assert_eq!(res["headers"]["content-type"], "application/json", "{res}");
    let body: Value = serde_json::from_str(res["body"].as_str().unwrap()).unwrap();
    (status, body)
}

fn signed_push(delivery: &str) -> ApiGatewayV2httpRequest {
    let body = samples::github_push(delivery);
    let h = verify::verifier_for("github", &Default::default())
        .unwrap()
        .sign(demo::GITHUB_SECRET, &body, "", 0, delivery, "push");
    let headers: serde_json::Map<String, Value> = h
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v)))
        .collect();
    serde_json::from_value(json!({
        "version": "2.0", "rawPath": "/webhooks/github", "rawQueryString": "", "headers": headers,
        "pathParameters": {"source": "github"},
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/github", "sourceIp": "192.0.2.1"},
                           "domainName": "example.com", "requestId": delivery},
        "body": String::from_utf8(body).unwrap(), "isBase64Encoded": false
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_function_serves_the_admin_api_within_its_grants_and_emits_emf() {
    let emf: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = emf.clone();
    metrics::set_emf_sink(move |l| sink.lock().unwrap().push(l.to_owned()));

    let m = fresh_subject("admin", 2, Duration::from_secs(1))
        .await
        .unwrap();
    let rec = Recorder::default();
    let aws = recorded_backend(&m, &rec);
    let no_extra = |_: &str, _: &hookgate_shared::config::HandlerConfig| None;
    let app = App::build(
        Config::parse(&demo::config_text(), "demo").unwrap(),
        Backend {
            store: aws.store.clone(),
            queue: aws.queue.clone(),
            dlq: aws.dlq.clone(),
        },
        Arc::new(SecretResolver::local()),
        &no_extra,
        Arc::new(SystemClock),
    )
    .unwrap();

    // Two deliveries through the ingest edge, one duplicate, one forged; then the processor.
    for d in ["adm-1", "adm-2", "adm-1"] {
        ingest_apigw(&app, signed_push(d)).await;
    }
    let mut forged = signed_push("adm-3");
    forged.body = Some("{\"tampered\":true}".into());
    assert_eq!(ingest_apigw(&app, forged).await.status_code, 401);
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while records.len() < 2 && Instant::now() < deadline {
        for msg in m
            .backend
            .queue
            .receive(10, Duration::from_secs(1), None)
            .await
            .unwrap()
        {
            records.push(
                json!({"messageId": msg.message_id, "receiptHandle": msg.receipt,
                                "body": msg.body, "attributes": {"ApproximateReceiveCount": "1"}}),
            );
        }
    }
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    assert!(
        process_sqs(&app, event)
            .await
            .batch_item_failures
            .is_empty()
    );
    rec.take();

    // The admin routes.
    let (s, v) = call(
        &app,
        "GET",
        "/admin/api/events",
        "source=github&limit=1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["events"].as_array().unwrap().len(), 1);
    let cursor = v["next_cursor"].as_str().expect("a second page").to_owned();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("source", "github")
        .append_pair("cursor", &cursor)
        .finish();
    let (s, v2) = call(&app, "GET", "/admin/api/events", &q, None).await;
    assert_eq!(s, 200, "{v2}");
    let first = v["events"][0]["event_id"].as_str().unwrap().to_owned();
    assert_ne!(v2["events"][0]["event_id"], first.as_str());
    let (s, d) = call(&app, "GET", &format!("/admin/api/events/{first}"), "", None).await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["event"]["status"], "succeeded");
    assert_eq!(d["attempt_log"][0]["handler"], "log");
    let (s, r) = call(
        &app,
        "POST",
        &format!("/admin/api/events/{first}/replay"),
        "",
        None,
    )
    .await;
    assert_eq!(
        (s, r["result"]["generation"].as_u64()),
        (200, Some(2)),
        "{r}"
    );
    let (s, r) = call(
        &app,
        "POST",
        "/admin/api/replay",
        "",
        Some(json!({"filter": {"source": "github"}, "dry_run": true})),
    )
    .await;
    assert_eq!((s, r["matched"].as_u64()), (200, Some(2)), "{r}");
    let (s, st) = call(&app, "GET", "/admin/api/stats", "since=1h", None).await;
    assert_eq!((s, st["total"].as_u64()), (200, Some(2)), "{st}");
    let (s, dlq) = call(&app, "GET", "/admin/api/dlq", "", None).await;
    assert_eq!(
        (s, dlq["messages"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{dlq}"
    );
    let (s, rd) = call(&app, "POST", "/admin/api/dlq/redrive", "", None).await;
    assert_eq!(s, 200, "{rd}");
    let (s, c) = call(&app, "GET", "/admin/api/config", "", None).await;
    assert_eq!(s, 200);
    assert!(!c.to_string().contains(demo::GITHUB_SECRET), "{c}");
    let (s, e) = call(&app, "GET", "/admin/api/events", "status=bogus", None).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_filter")),
        "{e}"
    );
    let (s, _) = call(&app, "GET", "/admin/api/nowhere", "", None).await;
    assert_eq!(s, 404);
    let (s, _) = call(&app, "PUT", "/admin/api/stats", "", None).await;
    assert_eq!(s, 405);
    // On a named stage the raw path carries the stage's name.
    let mut staged = admin_event("GET", "/prod/admin/api/stats", "", None);
    staged["requestContext"]["stage"] = json!("prod");
    let res = replay_function(&app, staged).await.unwrap();
    assert_eq!(res["statusCode"], 200, "{res}");
    // A JSON command still works through the same entry point.
    let sweep = replay_function(&app, json!({"command": "sweep", "older_than": "0s"}))
        .await
        .unwrap();
    assert!(sweep["found"].is_u64(), "{sweep}");

    let admin_calls = as_actions(rec.take());
    assert!(
        admin_calls.is_subset(&granted("replay")),
        "admin calls {admin_calls:?}, granted {:?}",
        granted("replay")
    );

    // EMF: one line per dimension set, the dashboard's namespace and names.
    let lines = emf.lock().unwrap().clone();
    let docs: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sum = |name: &str, dims: &[(&str, &str)]| -> u64 {
        docs.iter()
            .filter(|d| dims.iter().all(|(k, v)| d[*k] == *v))
            .filter_map(|d| d[name].as_u64())
            .sum()
    };
    for d in &docs {
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            metrics::NAMESPACE,
            "{d}"
        );
    }
    assert_eq!(
        sum(metrics::RECEIVED, &[("source", "github")]),
        2,
        "{lines:?}"
    );
    assert_eq!(
        sum(metrics::DUPLICATE, &[("source", "github")]),
        1,
        "{lines:?}"
    );
    assert_eq!(
        sum(
            metrics::REJECTED,
            &[("source", "github"), ("reason", "unauthorized")]
        ),
        1,
        "{lines:?}"
    );
    assert_eq!(
        sum(
            metrics::PROCESSED,
            &[("source", "github"), ("outcome", "succeeded")]
        ),
        2,
        "{lines:?}"
    );
    assert_eq!(
        sum(metrics::REPLAYED, &[("source", "github")]),
        1,
        "{lines:?}"
    );
    assert!(
        docs.iter()
            .any(|d| d[metrics::END_TO_END_LATENCY_MS]["Values"].is_array()),
        "{lines:?}"
    );
    assert!(
        docs.iter()
            .any(|d| d[metrics::HANDLER_DURATION_MS]["Counts"].is_array()),
        "{lines:?}"
    );
}
