//! Provider features through ingest on the embedded SQLite backend: handshakes answered without an
//! event, the per-source IP allowlist (403), the public URL a provider signed, rotation labels,
//! and a stale genuine retry of a stored delivery answered as a duplicate.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hookgate_shared::adapters::sqlite::{SqliteBackend, SqliteOptions};
use hookgate_shared::app::{App, Backend};
use hookgate_shared::clock::{Clock, SystemClock};
use hookgate_shared::config::Config;
use hookgate_shared::handlers::Handlers;
use hookgate_shared::http::ingest_reply;
use hookgate_shared::ingest::{Accepted, IngestError, IngestRequest};
use hookgate_shared::ports::{EventFilter, PageRequest};
use hookgate_shared::secrets::SecretResolver;
use hookgate_shared::verify::verifier_for;

const CONFIG: &str = r#"
[[sources]]
name = "slack"
provider = "slack"
secrets = [{ label = "old", secret = "slack-old" }, { label = "new", secret = "slack-new" }]

[[sources]]
name = "twilio"
provider = "twilio"
secrets = ["12345"]
allow_ips = ["54.172.60.0/23", "127.0.0.1"]
public_url = "https://hooks.example.com/webhooks/twilio"

[[sources]]
name = "stripe"
provider = "stripe"
secrets = ["whsec_x"]
tolerance = "1m"

[[routes]]
source = "slack"
handlers = ["log"]
[handlers.log]
kind = "log"
"#;

struct Fixture {
    app: App,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
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
        queue: b.queue(),
        dlq: b.dlq(),
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let app = App::with_handlers(
        config,
        backend,
        Arc::new(SecretResolver::local()),
        Handlers::default(),
        clock,
    )
    .unwrap();
    Fixture { app, _dir: dir }
}

fn header_map(pairs: Vec<(String, String)>) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

async fn post(
    app: &App,
    source: &str,
    url: &str,
    h: &http::HeaderMap,
    body: &[u8],
    peer: &str,
) -> Result<Accepted, IngestError> {
    app.ingest
        .handle(&IngestRequest {
            source,
            method: "POST",
            url,
            headers: h,
            body,
            peer_ip: Some(peer.parse::<IpAddr>().unwrap()),
        })
        .await
}

async fn stored(app: &App) -> usize {
    app.backend
        .store
        .list(
            &EventFilter::default(),
            &PageRequest {
                cursor: None,
                limit: 100,
            },
        )
        .await
        .unwrap()
        .events
        .len()
}

fn now() -> i64 {
    hookgate_shared::clock::now_ms()
}

#[tokio::test]
async fn slack_url_verification_is_answered_without_an_event() {
    let f = fixture();
    let v = verifier_for("slack", &Default::default()).unwrap();
    let body = br#"{"token":"t","challenge":"ch-123","type":"url_verification"}"#;
    let h = header_map(v.sign("slack-new", body, "", now(), "", ""));
    let r = post(
        &f.app,
        "slack",
        "http://x/webhooks/slack",
        &h,
        body,
        "10.0.0.1",
    )
    .await;
    let reply = ingest_reply(&r);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body_bytes(), br#"{"challenge":"ch-123"}"#);
    assert_eq!(stored(&f.app).await, 0);
    // An unsigned handshake is refused like anything else.
    let r = post(
        &f.app,
        "slack",
        "http://x",
        &http::HeaderMap::new(),
        body,
        "10.0.0.1",
    )
    .await;
    assert_eq!(ingest_reply(&r).status, 401);
    // A real event is stored, with the label of the secret that matched (rotation).
    let ev = br#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}"#;
    let h = header_map(v.sign("slack-old", ev, "", now(), "", ""));
    let r = post(&f.app, "slack", "http://x", &h, ev, "10.0.0.1")
        .await
        .unwrap();
    let Accepted::New { event_id } = r else {
        panic!("{r:?}")
    };
    let e = f.app.backend.store.get(&event_id).await.unwrap().unwrap();
    assert_eq!(e.secret_label.as_deref(), Some("old"));
    assert_eq!(e.event_type, "app_mention");
    assert_eq!(e.delivery_id.as_str(), "Ev1");
}

#[tokio::test]
async fn allowlist_and_public_url() {
    let f = fixture();
    let v = verifier_for("twilio", &Default::default()).unwrap();
    let body = b"MessageSid=SM1&MessageStatus=delivered";
    // Twilio signed the public URL (with the query), not the internal one we received on.
    let public = "https://hooks.example.com/webhooks/twilio?a=1";
    let h = header_map(v.sign("12345", body, public, now(), "tok-1", ""));
    let internal = "http://127.0.0.1:3000/webhooks/twilio?a=1";
    let r = post(&f.app, "twilio", internal, &h, body, "54.172.61.9").await;
    assert!(matches!(r, Ok(Accepted::New { .. })), "{r:?}");
    // IPv4-mapped IPv6 peer (dual-stack socket) inside the allowlist.
    let r = post(&f.app, "twilio", internal, &h, body, "::ffff:127.0.0.1").await;
    assert!(matches!(r, Ok(Accepted::Duplicate { .. })), "{r:?}");
    // Outside the allowlist: 403 JSON, before the signature is even looked at.
    let r = post(&f.app, "twilio", internal, &h, body, "203.0.113.7").await;
    let reply = ingest_reply(&r);
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body["error"], "forbidden");
    // The query is part of what Twilio signed.
    let other_query = "http://127.0.0.1:3000/webhooks/twilio?a=2";
    let r = post(&f.app, "twilio", other_query, &h, body, "127.0.0.1").await;
    assert_eq!(ingest_reply(&r).status, 401);
}

#[tokio::test]
async fn stale_genuine_retry_of_a_stored_delivery_is_a_duplicate() {
    let f = fixture();
    let v = verifier_for("stripe", &Default::default()).unwrap();
    let body = br#"{"id":"evt_9","type":"invoice.paid"}"#;
    let h = header_map(v.sign("whsec_x", body, "", now(), "", ""));
    let r = post(&f.app, "stripe", "http://x", &h, body, "10.0.0.1").await;
    assert!(matches!(r, Ok(Accepted::New { .. })));
    // Signed 10 minutes ago (tolerance is 1m): the stored delivery answers as a duplicate…
    let old = header_map(v.sign("whsec_x", body, "", now() - 600_000, "", ""));
    let r = post(&f.app, "stripe", "http://x", &old, body, "10.0.0.1").await;
    assert!(matches!(r, Ok(Accepted::Duplicate { .. })), "{r:?}");
    // … and a stale delivery never stored is 401 with the reason.
    let body2 = br#"{"id":"evt_10","type":"invoice.paid"}"#;
    let old = header_map(v.sign("whsec_x", body2, "", now() - 600_000, "", ""));
    let r = post(&f.app, "stripe", "http://x", &old, body2, "10.0.0.1").await;
    let reply = ingest_reply(&r);
    assert_eq!(reply.status, 401);
    assert!(
        reply.body["reason"]
            .as_str()
            .unwrap()
            .contains("outside the 60s tolerance")
    );
}
