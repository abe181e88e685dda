//! The local stack's processor loop (`worker::run_poller`) on the embedded SQLite backend: an idle
//! loop holds one long receive instead of asking again and again, a long receive does not delay
//! an event that arrives meanwhile, and stopping does not wait for the receive to end.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hookgate_shared::adapters::sqlite::{SqliteBackend, SqliteOptions};
use hookgate_shared::app::{App, Backend};
use hookgate_shared::clock::{Clock, SystemClock};
use hookgate_shared::config::Config;
use hookgate_shared::ingest::{Accepted, IngestRequest};
use hookgate_shared::model::EventStatus;
use hookgate_shared::ports::{Queue, QueueError, QueueStats, Received};
use hookgate_shared::secrets::SecretResolver;
use hookgate_shared::worker::{POLL_WAIT, run_poller};
use tokio_util::sync::CancellationToken;

const CONFIG: &str = r#"
[[sources]]
name = "github"
provider = "github"
secrets = ["s3cret"]
[[routes]]
source = "github"
handlers = ["log"]
[handlers.log]
kind = "log"
"#;

/// The real SQLite queue, with every receive's wait written down.
struct Recording {
    inner: Arc<dyn Queue>,
    waits: Mutex<Vec<Duration>>,
}

#[async_trait]
impl Queue for Recording {
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

fn app(dir: &tempfile::TempDir) -> (Arc<App>, Arc<Recording>) {
    let b = SqliteBackend::open(
        dir.path(),
        SqliteOptions {
            max_receive_count: 3,
            visibility_timeout: Duration::from_secs(30),
        },
    )
    .unwrap();
    let queue = Arc::new(Recording {
        inner: b.queue(),
        waits: Mutex::new(Vec::new()),
    });
    let backend = Backend {
        store: b.store(),
        queue: queue.clone(),
        dlq: b.dlq(),
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let app = App::build(
        Config::parse(CONFIG, "test").unwrap(),
        backend,
        Arc::new(SecretResolver::local()),
        &|_, _| None,
        clock,
    )
    .unwrap();
    (Arc::new(app), queue)
}

async fn ingest(app: &App, delivery: &str) -> Accepted {
    let body = hookgate_shared::samples::github_push(delivery);
    let v = hookgate_shared::verify::verifier_for("github", &Default::default()).unwrap();
    let mut h = http::HeaderMap::new();
    for (k, val) in v.sign("s3cret", &body, "", 0, delivery, "push") {
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
            body: &body,
            peer_ip: None,
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn an_idle_loop_holds_one_long_receive_that_an_event_ends_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (app, queue) = app(&dir);
    let stop = CancellationToken::new();
    let poller = tokio::spawn(run_poller(app.clone(), stop.clone()));

    // Idle for longer than the old one-second wait: still the first receive.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(*queue.waits.lock().unwrap(), [POLL_WAIT]);
    assert_eq!(POLL_WAIT, Duration::from_secs(20), "SQS's longest poll");

    // An event sent during that receive is processed without waiting for it to time out.
    let sent = Instant::now();
    let Accepted::New { event_id } = ingest(&app, "worker-1").await else {
        panic!("a new event was expected");
    };
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

    // Stopping drops the receive in progress instead of waiting for its 20 s.
    let stopping = Instant::now();
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), poller)
        .await
        .expect("the loop stops without waiting for its receive")
        .unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(5));
}
