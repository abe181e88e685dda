//! Provider features through the API Gateway (HTTP API v2) edge: the source IP comes from
//! `requestContext.http.sourceIp` (allowlist → 403 JSON), the URL a provider signed is rebuilt
//! from the source's `public_url` plus the raw query string, and a handshake answer (Twitch's
//! text/plain challenge) goes out as is, with no event stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(all(feature = "lambda", feature = "sqlite"))]

use std::sync::Arc;
use std::time::Duration;

use hookgate_shared::adapters::sqlite::{SqliteBackend, SqliteOptions};
use hookgate_shared::app::{App, Backend};
use hookgate_shared::clock::{Clock, SystemClock};
use hookgate_shared::config::Config;
use hookgate_shared::handlers::Handlers;
use hookgate_shared::lambda::events::apigw::ApiGatewayV2httpRequest;
use hookgate_shared::lambda::events::encodings::Body;
use hookgate_shared::lambda::ingest_apigw;
use hookgate_shared::ports::{EventFilter, PageRequest};
use hookgate_shared::secrets::SecretResolver;
use hookgate_shared::verify::verifier_for;
use serde_json::{Value, json};

const CONFIG: &str = r#"
[[sources]]
name = "twilio"
provider = "twilio"
secrets = ["12345"]
allow_ips = ["54.172.60.0/23"]
public_url = "https://hooks.example.com/webhooks/twilio"

[[sources]]
name = "twitch"
provider = "twitch"
secrets = ["s3cre77890ab"]
"#;

fn app(dir: &std::path::Path) -> App {
    let b = SqliteBackend::open(
        dir,
        SqliteOptions {
            max_receive_count: 3,
            visibility_timeout: Duration::from_secs(2),
        },
    )
    .unwrap();
    let backend = Backend {
        store: b.store(),
        queue: b.queue(),
        dlq: b.dlq(),
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    App::with_handlers(
        Config::parse(CONFIG, "test").unwrap(),
        backend,
        Arc::new(SecretResolver::local()),
        Handlers::default(),
        clock,
    )
    .unwrap()
}

fn request(
    source: &str,
    query: &str,
    headers: &[(String, String)],
    body: &[u8],
    ip: &str,
) -> ApiGatewayV2httpRequest {
    let h: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone())))
        .collect();
    serde_json::from_value(json!({
        "version": "2.0",
        "routeKey": "POST /webhooks/{source}",
        "rawPath": format!("/webhooks/{source}"),
        "rawQueryString": query,
        "headers": h,
        "pathParameters": {"source": source},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": "POST", "path": format!("/webhooks/{source}"), "protocol": "HTTP/1.1",
                     "sourceIp": ip, "userAgent": "test"},
            "requestId": "req-1", "routeKey": "POST /webhooks/{source}", "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0
        },
        "body": String::from_utf8(body.to_vec()).unwrap(),
        "isBase64Encoded": false
    }))
    .unwrap()
}

fn text(b: Option<Body>) -> String {
    match b {
        Some(Body::Text(t)) => t,
        other => panic!("{other:?}"),
    }
}

async fn stored(app: &App) -> usize {
    let page = PageRequest {
        cursor: None,
        limit: 10,
    };
    let filter = EventFilter::default();
    let list = app.backend.store.list(&filter, &page);
    list.await.unwrap().events.len()
}

#[tokio::test]
async fn allowlist_public_url_and_handshake_through_api_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let now = hookgate_shared::clock::now_ms();

    // Twilio signed its configured URL (with the query); API Gateway sees another host.
    let v = verifier_for("twilio", &Default::default()).unwrap();
    let body = b"MessageSid=SM1&MessageStatus=delivered";
    let signed = v.sign(
        "12345",
        body,
        "https://hooks.example.com/webhooks/twilio?tenant=7",
        now,
        "tok-1",
        "",
    );
    let res = ingest_apigw(
        &app,
        request("twilio", "tenant=7", &signed, body, "54.172.61.20"),
    )
    .await;
    assert_eq!(res.status_code, 202, "{:?}", res.body);
    let res = ingest_apigw(
        &app,
        request("twilio", "tenant=7", &signed, body, "198.51.100.4"),
    )
    .await;
    assert_eq!(res.status_code, 403);
    let err: Value = serde_json::from_str(&text(res.body)).unwrap();
    assert_eq!(err["error"], "forbidden");
    assert!(err["reason"].as_str().unwrap().contains("198.51.100.4"));
    let res = ingest_apigw(
        &app,
        request("twilio", "tenant=8", &signed, body, "54.172.61.20"),
    )
    .await;
    assert_eq!(res.status_code, 401);

    // Twitch's webhook_callback_verification: the raw challenge, text/plain, no event.
    let t = verifier_for("twitch", &Default::default()).unwrap();
    let body = br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"type":"channel.follow"}}"#;
    let mut signed = t.sign("s3cre77890ab", body, "", now, "m-1", "channel.follow");
    for (k, v) in &mut signed {
        if k == "Twitch-Eventsub-Message-Type" {
            *v = "webhook_callback_verification".into();
        }
    }
    let before = stored(&app).await;
    let res = ingest_apigw(&app, request("twitch", "", &signed, body, "192.0.2.1")).await;
    assert_eq!(res.status_code, 200);
    assert_eq!(res.headers["content-type"], "text/plain");
    assert_eq!(text(res.body), "pogchamp-kappa-360noscope-vohiyo");
    assert_eq!(stored(&app).await, before);
}
