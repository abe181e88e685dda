//! The `eventbridge` and `lambda` handlers against moto server, built from config through
//! `Handlers::build` with the AWS factory; and `lambda` against a stand-in endpoint (the answers
//! moto cannot give without running functions: results, function errors, throttling), with its
//! requests' SigV4 signatures recomputed the way Lambda checks them.
#![cfg(all(feature = "aws", feature = "contract"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookgate_shared::adapters::aws::AwsHandlerFactory;
use hookgate_shared::config::Config;
use hookgate_shared::handlers::{ErrorKind, Event, Handlers};
use hookgate_shared::model::{DeliveryId, EventId, Generation, SourceName};
use hookgate_shared::moto::{MotoServer, unique_prefix};
use hookgate_shared::secrets::SecretResolver;

#[path = "support/stand_in.rs"]
mod stand_in;

fn event() -> Event {
    let source = SourceName::parse("github").unwrap();
    let delivery_id = DeliveryId::parse("eb-1").unwrap();
    Event {
        event_id: EventId::derive(&source, &delivery_id),
        source,
        delivery_id,
        event_type: "push".into(),
        generation: Generation::FIRST,
        received_at: 1_767_225_600_000,
        content_type: Some("application/json".into()),
        headers: BTreeMap::new(),
        body: Bytes::from_static(br#"{"ref":"refs/heads/main"}"#),
        payload: Some(serde_json::json!({"ref": "refs/heads/main"})),
    }
}

async fn handlers(toml: &str) -> Handlers {
    handlers_on(&MotoServer::shared().unwrap().sdk_config().await, toml)
}

/// The handlers `toml` configures, built by the AWS factory on `sdk`.
fn handlers_on(sdk: &aws_config::SdkConfig, toml: &str) -> Handlers {
    let factory = AwsHandlerFactory::new(sdk);
    let config = Config::parse(toml, "test").unwrap();
    Handlers::build(
        &config.handlers,
        Arc::new(SecretResolver::local()),
        &|n, c| factory.build(n, c),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_puts_the_event_on_the_bus_and_rules_route_it() {
    let sdk = MotoServer::shared().unwrap().sdk_config().await;
    let eb = aws_sdk_eventbridge::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let prefix = unique_prefix("eb");
    let bus = format!("{prefix}-bus");
    eb.create_event_bus().name(&bus).send().await.unwrap();
    let q = sqs
        .create_queue()
        .queue_name(format!("{prefix}-target"))
        .send()
        .await
        .unwrap();
    let q_url = q.queue_url().unwrap().to_owned();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&q_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let q_arn =
        attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    eb.put_rule()
        .name(format!("{prefix}-rule"))
        .event_bus_name(&bus)
        .event_pattern(r#"{"source":["hookgate.github"],"detail-type":["push"]}"#)
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule(format!("{prefix}-rule"))
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(&q_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let h = handlers(&format!(
        "[handlers.fanout]\nkind = \"eventbridge\"\nbus = \"{bus}\"\n"
    ))
    .await;
    let e = event();
    h.get("fanout").unwrap().handle(&e).await.unwrap();
    let got = sqs
        .receive_message()
        .queue_url(&q_url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let msg = got
        .messages()
        .first()
        .expect("the rule routed the event to the queue");
    let v: serde_json::Value = serde_json::from_str(msg.body().unwrap()).unwrap();
    assert_eq!(v["source"], "hookgate.github");
    assert_eq!(v["detail-type"], "push");
    assert_eq!(v["detail"]["event_id"], e.event_id.as_str());
    assert_eq!(v["detail"]["payload"]["ref"], "refs/heads/main");
}

fn eventbridge_handler(sdk: &aws_config::SdkConfig) -> Handlers {
    handlers_on(
        sdk,
        "[handlers.fanout]\nkind = \"eventbridge\"\nbus = \"orders\"\nsource = \"acme.hooks\"\n",
    )
}

/// `PutEvents` as EventBridge reads it (AWS JSON 1.1, signed for `events`), and its answers: a
/// failed entry (throttled: transient; anything else: permanent), a missing bus (permanent, not
/// retried), an unreadable answer (transient).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_puts_with_a_signed_json_request_and_reads_failed_entries() {
    let (url, seen) = stand_in::stand_in(vec![
        (
            200,
            r#"{"FailedEntryCount":0,"Entries":[{"EventId":"e-1"}]}"#,
            vec![],
        ),
        (
            200,
            r#"{"FailedEntryCount":1,"Entries":[{"ErrorCode":"ThrottlingException","ErrorMessage":"Rate exceeded"}]}"#,
            vec![],
        ),
        (
            200,
            r#"{"FailedEntryCount":1,"Entries":[{"ErrorCode":"MalformedDetail","ErrorMessage":"Detail is malformed."}]}"#,
            vec![],
        ),
        (
            400,
            r#"{"__type":"ResourceNotFoundException","message":"Event bus orders does not exist."}"#,
            vec![],
        ),
        (200, "<html></html>", vec![]),
    ])
    .await;
    let at = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let h = eventbridge_handler(&stand_in::sdk_for(&url, at));
    let f = h.get("fanout").unwrap();
    let e = event();
    f.handle(&e).await.unwrap();

    let first = seen.lock().unwrap()[0].clone();
    assert_eq!((first.method.as_str(), first.path.as_str()), ("POST", "/"));
    assert_eq!(first.header("x-amz-target"), Some("AWSEvents.PutEvents"));
    assert_eq!(
        first.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    let sent: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    let entry = &sent["Entries"][0];
    assert_eq!(entry["EventBusName"], "orders");
    assert_eq!(entry["Source"], "acme.hooks");
    assert_eq!(entry["DetailType"], "push");
    assert_eq!(entry["Time"], 1_767_225_600.0);
    let detail: serde_json::Value =
        serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["event_id"], e.event_id.as_str());
    let auth = first.header("authorization").unwrap();
    assert!(
        auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/events/aws4_request, "
        ),
        "{auth}"
    );
    let signature = auth.rsplit("Signature=").next().unwrap();
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    assert_eq!(
        signature,
        stand_in::expected_signature(&first, false, secret)
    );
    assert_ne!(
        signature,
        stand_in::expected_signature(&first, false, "other")
    );

    let err = f.handle(&e).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{}", err.message);
    assert!(
        err.message.contains("ThrottlingException: Rate exceeded"),
        "{}",
        err.message
    );
    let err = f.handle(&e).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent, "{}", err.message);
    assert!(err.message.contains("MalformedDetail"), "{}", err.message);
    let err = f.handle(&e).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent, "{}", err.message);
    assert!(err.message.contains("does not exist"), "{}", err.message);
    assert_eq!(err.http_status, Some(400));
    let err = f.handle(&e).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{}", err.message);
    assert_eq!(seen.lock().unwrap().len(), 5, "nothing was retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_refuses_an_oversized_event_permanently() {
    let h = handlers("[handlers.fanout]\nkind = \"eventbridge\"\nbus = \"default\"\n").await;
    let mut e = event();
    e.payload = Some(serde_json::json!({"blob": "x".repeat(300 * 1024)}));
    let err = h.get("fanout").unwrap().handle(&e).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(err.message.contains("entry limit"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_invoking_a_missing_function_is_permanent() {
    let h =
        handlers("[handlers.fn]\nkind = \"lambda\"\nfunction = \"hookgate-no-such-function\"\n")
            .await;
    let err = h.get("fn").unwrap().handle(&event()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent, "{}", err.message);
    assert!(err.message.contains("ResourceNotFound"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_transient() {
    let moto_sdk = MotoServer::shared().unwrap().sdk_config().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = moto_sdk
        .to_builder()
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .build();
    let factory = AwsHandlerFactory::new(&dead);
    let config = Config::parse(
        "[handlers.fanout]\nkind = \"eventbridge\"\nbus = \"b\"\n[handlers.fn]\nkind = \"lambda\"\nfunction = \"f\"\n",
        "t",
    )
    .unwrap();
    let h = Handlers::build(
        &config.handlers,
        Arc::new(SecretResolver::local()),
        &|n, c| factory.build(n, c),
    )
    .unwrap();
    for name in ["fanout", "fn"] {
        let err = h.get(name).unwrap().handle(&event()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Transient, "{name}: {}", err.message);
    }
}

fn lambda_handler(sdk: &aws_config::SdkConfig, function: &str) -> Handlers {
    handlers_on(
        sdk,
        &format!("[handlers.fn]\nkind = \"lambda\"\nfunction = \"{function}\"\n"),
    )
}

#[tokio::test]
async fn lambda_invokes_with_a_signed_request_and_reads_the_answer() {
    let arn = "arn:aws:lambda:eu-west-1:123456789012:function:on-push:live";
    let (url, seen) = stand_in::stand_in(vec![(
        200,
        r#"{"ok":true}"#,
        vec![("x-amz-executed-version", "7")],
    )])
    .await;
    let at = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let h = lambda_handler(&stand_in::sdk_for(&url, at), arn);
    let report = h.get("fn").unwrap().handle(&event()).await.unwrap();
    assert_eq!(report.http_status, Some(200));
    assert_eq!(report.output.as_deref(), Some(r#"{"ok":true}"#));

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.method, "POST");
    assert_eq!(
        s.path,
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Aon-push%3Alive/invocations"
    );
    assert_eq!(s.header("x-amz-invocation-type"), Some("RequestResponse"));
    let sent: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
    assert_eq!(sent["event_id"], event().event_id.to_string());
    assert_eq!(sent["payload"]["ref"], "refs/heads/main");
    let auth = s.header("authorization").unwrap();
    assert!(
        auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/lambda/aws4_request, "
        ),
        "{auth}"
    );
    let signature = auth.split("Signature=").nth(1).unwrap();
    assert_eq!(
        signature,
        stand_in::expected_signature(s, false, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    );
    // Signed as S3 signs (the path as sent) it would not match: the check tells them apart.
    assert_ne!(
        signature,
        stand_in::expected_signature(s, true, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    );
}

#[tokio::test]
async fn lambda_function_errors_throttling_and_refusals() {
    let permanent = r#"{"errorType":"PermanentFailure","errorMessage":"bad order id"}"#;
    let crash = r#"{"errorType":"Runtime.ExitError","errorMessage":"exit status 1"}"#;
    let throttled = r#"{"Type":"User","message":"Rate Exceeded."}"#;
    let missing = r#"{"Type":"User","message":"Function not found: f"}"#;
    let (url, seen) = stand_in::stand_in(vec![
        (200, permanent, vec![("x-amz-function-error", "Handled")]),
        (200, crash, vec![("x-amz-function-error", "Unhandled")]),
        (
            429,
            throttled,
            vec![("x-amzn-errortype", "TooManyRequestsException")],
        ),
        (200, "null", vec![]),
        (
            404,
            missing,
            vec![(
                "x-amzn-errortype",
                "ResourceNotFoundException:http://internal.amazon.com/",
            )],
        ),
    ])
    .await;
    let h = lambda_handler(&stand_in::sdk_for(&url, std::time::SystemTime::now()), "f");
    let f = h.get("fn").unwrap();

    let err = f.handle(&event()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent, "{}", err.message);
    assert!(
        err.message.contains("PermanentFailure: bad order id"),
        "{}",
        err.message
    );
    assert_eq!(err.output.as_deref(), Some(permanent));

    let err = f.handle(&event()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{}", err.message);
    assert!(
        err.message.contains("(Unhandled): Runtime.ExitError"),
        "{}",
        err.message
    );

    // Throttled, retried, then answered: one success, two requests.
    let report = f.handle(&event()).await.unwrap();
    assert_eq!(report.output.as_deref(), Some("null"));
    assert_eq!(seen.lock().unwrap().len(), 4);

    // A missing function: permanent, not retried.
    let err = f.handle(&event()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent, "{}", err.message);
    assert!(
        err.message.contains("ResourceNotFoundException"),
        "{}",
        err.message
    );
    assert_eq!(err.http_status, Some(404));
    assert_eq!(seen.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn lambda_without_a_region_fails_every_event_permanently_saying_why() {
    let no_region = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let h = lambda_handler(&no_region, "f");
    let err = h.get("fn").unwrap().handle(&event()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(err.message.contains("no AWS region"), "{}", err.message);
}
