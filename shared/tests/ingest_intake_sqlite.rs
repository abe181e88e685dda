//! Ingest on the embedded SQLite backend with and without its one-transaction intake
//! (`Ingest::set_intake`): the same answers, the same events and the same messages.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use hookgate_shared::adapters::sqlite::{SqliteBackend, SqliteOptions};
use hookgate_shared::app::{App, Backend};
use hookgate_shared::clock::{Clock, SystemClock};
use hookgate_shared::config::Config;
use hookgate_shared::handlers::Handlers;
use hookgate_shared::ingest::{Accepted, IngestRequest};
use hookgate_shared::message::QueueMessage;
use hookgate_shared::model::Generation;
use hookgate_shared::secrets::SecretResolver;
use hookgate_shared::verify::verifier_for;

const SECRET: &str = "gh-secret";

fn config() -> Config {
    Config::parse(
        &format!(
            r#"
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
        ),
        "test",
    )
    .unwrap()
}

fn app(dir: &std::path::Path, with_intake: bool) -> App {
    let b = SqliteBackend::open(
        dir,
        SqliteOptions {
            max_receive_count: 3,
            visibility_timeout: Duration::from_secs(30),
        },
    )
    .unwrap();
    let backend = Backend {
        store: b.store(),
        queue: b.queue(),
        dlq: b.dlq(),
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut app = App::with_handlers(
        config(),
        backend,
        Arc::new(SecretResolver::local()),
        Handlers::default(),
        clock,
    )
    .unwrap();
    if with_intake {
        app.ingest.set_intake(b.intake());
    }
    app
}

async fn deliver(app: &App, delivery: &str, secret: &str) -> Result<Accepted, String> {
    let verifier = verifier_for("github", &Default::default()).unwrap();
    let body = hookgate_shared::samples::github_push(delivery);
    let mut h = http::HeaderMap::new();
    for (k, v) in verifier.sign(secret, &body, "", 0, delivery, "push") {
        h.insert(
            http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    app.ingest
        .handle(&IngestRequest {
            source: "github",
            method: "POST",
            url: "/webhooks/github",
            headers: &h,
            body: &body,
            peer_ip: None,
        })
        .await
        .map_err(|e| e.code().to_owned())
}

async fn messages(app: &App) -> Vec<QueueMessage> {
    app.backend
        .queue
        .peek(100)
        .await
        .unwrap()
        .iter()
        .map(|m| QueueMessage::decode(&m.body).unwrap())
        .collect()
}

/// What one scenario left behind: answers, then (event ids, messages).
async fn scenario(with_intake: bool) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), with_intake);
    let mut seen = Vec::new();
    // New; a retry while the lease ingest took lasts (nothing re-sent); a bad signature.
    for (delivery, secret) in [("d-1", SECRET), ("d-1", SECRET), ("d-2", "wrong")] {
        let a = deliver(&app, delivery, secret).await;
        seen.push(match a {
            Ok(Accepted::New { .. }) => "new".to_owned(),
            Ok(Accepted::Duplicate { .. }) => "duplicate".to_owned(),
            Ok(Accepted::Handshake(_)) => "handshake".to_owned(),
            Err(code) => code,
        });
        for m in messages(&app).await {
            assert_eq!(m.generation, Generation::FIRST);
            let e = app.backend.store.get(&m.event_id).await.unwrap();
            let e = e.expect("every message points to a stored event");
            let lease = e.lease.expect("stored with ingest's lease");
            assert_eq!(m.lease, Some(lease.token), "the message carries its token");
        }
        seen.push(format!("messages={}", messages(&app).await.len()));
    }
    seen
}

#[tokio::test]
async fn the_intake_answers_and_writes_as_put_then_send_does() {
    let plain = scenario(false).await;
    let one_tx = scenario(true).await;
    assert_eq!(
        plain,
        vec![
            "new",
            "messages=1",
            "duplicate",
            "messages=1",
            "unauthorized",
            "messages=1"
        ]
    );
    assert_eq!(one_tx, plain);
}
