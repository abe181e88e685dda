//! [`AtomicIntake`] on SQLite: the event and its pointer message in one writer operation, hence
//! one savepoint of one group-commit transaction. The body is compressed before the job reaches
//! the writer thread, which every write of the process shares.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::queue::{QueueKind, insert_message};
use super::store::put_new_in;
use super::writer::Writer;
use crate::codec;
use crate::model::NewEvent;
use crate::ports::{AtomicIntake, IntakeError, PutOutcome, check_message_size};

pub struct SqliteIntake {
    writer: Arc<Writer>,
    /// The main queue's long polls.
    notify: Arc<Notify>,
}

impl SqliteIntake {
    pub(super) fn new(writer: Arc<Writer>, notify: Arc<Notify>) -> Self {
        Self { writer, notify }
    }
}

#[async_trait]
impl AtomicIntake for SqliteIntake {
    async fn put_new_and_send(
        &self,
        event: &NewEvent,
        message: &str,
    ) -> Result<PutOutcome, IntakeError> {
        check_message_size(message)?;
        let body = codec::encode_body(&event.body);
        let event = event.clone();
        let message = message.to_owned();
        let queue = QueueKind::Main.name();
        let out = self
            .writer
            .write(move |conn| {
                let out = put_new_in(conn, &event, &body)?;
                if matches!(out, PutOutcome::Inserted) {
                    insert_message(conn, queue, &message)?;
                }
                Ok(out)
            })
            .await?;
        if matches!(out, PutOutcome::Inserted) {
            self.notify.notify_waiters();
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;

    use super::super::{DB_FILE, SqliteBackend};
    use crate::model::{DeliveryId, EventId, NewEvent, SourceName};
    use crate::ports::{IntakeError, PutOutcome, Queue};

    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Self {
            let p = std::env::temp_dir().join(format!(
                "hookgate-intake-{name}-{}-{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn open(dir: &Dir) -> SqliteBackend {
        super::super::open_for_tests(&dir.0, 3)
    }

    fn event(delivery: &str) -> NewEvent {
        let source = SourceName::parse("github").unwrap();
        let delivery_id = DeliveryId::parse(delivery).unwrap();
        let now = crate::clock::now_ms();
        let mut headers = BTreeMap::new();
        headers.insert("x-github-hook-id".to_owned(), "42".to_owned());
        NewEvent {
            event_id: EventId::derive(&source, &delivery_id),
            source,
            delivery_id,
            event_type: "push".to_owned(),
            received_at: now,
            content_type: Some("application/json".to_owned()),
            headers,
            body: Bytes::from(format!(
                r#"{{"delivery":"{delivery}","ref":"refs/heads/main"}}"#
            )),
            secret_label: Some("current".to_owned()),
            expires_at: now + 3_600_000,
            // As ingest stores it: with the lease for its first message.
            lease: Some(crate::model::Lease {
                token: crate::model::new_lease_token(),
                generation: 1,
                until: now + 30_000,
            }),
        }
    }

    /// Every message body in a queue, oldest first, without receiving.
    async fn bodies(q: Arc<dyn Queue>) -> Vec<String> {
        q.peek(100)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.body)
            .collect()
    }

    /// A raw connection to the backend's database, for sabotage.
    fn raw(dir: &Dir) -> rusqlite::Connection {
        rusqlite::Connection::open(dir.0.join(DB_FILE)).unwrap()
    }

    #[tokio::test]
    async fn stores_the_event_as_put_new_does_and_sends_its_message() {
        let (d1, d2) = (Dir::new("a"), Dir::new("b"));
        let (via_intake, via_put) = (open(&d1), open(&d2));
        let e = event("d-1");
        let out = via_intake
            .intake()
            .put_new_and_send(&e, "pointer-1")
            .await
            .unwrap();
        assert!(matches!(out, PutOutcome::Inserted));
        assert!(matches!(
            via_put.store().put_new(&e).await.unwrap(),
            PutOutcome::Inserted
        ));
        let a = via_intake.store().get(&e.event_id).await.unwrap().unwrap();
        let b = via_put.store().get(&e.event_id).await.unwrap().unwrap();
        assert_eq!(a, b, "the same event as put_new stores");
        assert_eq!(
            bodies(via_intake.queue()).await,
            vec!["pointer-1".to_owned()]
        );
        assert!(bodies(via_intake.dlq()).await.is_empty());
        // The message is receivable like any sent one.
        let got = via_intake
            .queue()
            .receive(10, Duration::ZERO, None)
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, "pointer-1");
        assert_eq!(got[0].receive_count, 1);
    }

    #[tokio::test]
    async fn a_duplicate_returns_the_stored_event_and_sends_nothing() {
        let dir = Dir::new("dup");
        let b = open(&dir);
        let e = event("d-2");
        b.intake().put_new_and_send(&e, "first").await.unwrap();
        let mut again = e.clone();
        again.body = Bytes::from_static(b"{\"other\":true}");
        match b.intake().put_new_and_send(&again, "second").await.unwrap() {
            PutOutcome::Duplicate(old) => {
                assert_eq!(old.event_id, e.event_id);
                assert_eq!(old.body, e.body, "the first body stays");
            }
            PutOutcome::Inserted => panic!("a duplicate was inserted"),
        }
        assert_eq!(bodies(b.queue()).await, vec!["first".to_owned()]);
    }

    #[tokio::test]
    async fn a_failed_send_leaves_no_event() {
        let dir = Dir::new("nosend");
        let b = open(&dir);
        raw(&dir)
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .unwrap();
        let e = event("d-3");
        let err = b.intake().put_new_and_send(&e, "m").await.unwrap_err();
        assert!(matches!(err, IntakeError::Store(_)), "{err:?}");
        assert!(b.store().get(&e.event_id).await.unwrap().is_none());
        assert!(bodies(b.queue()).await.is_empty());
        // Once sends work again, the same delivery goes in whole.
        raw(&dir).execute_batch("DROP TRIGGER refuse;").unwrap();
        let out = b.intake().put_new_and_send(&e, "m").await.unwrap();
        assert!(matches!(out, PutOutcome::Inserted));
        assert!(b.store().get(&e.event_id).await.unwrap().is_some());
        assert_eq!(bodies(b.queue()).await, vec!["m".to_owned()]);
    }

    #[tokio::test]
    async fn a_failed_put_sends_nothing() {
        let dir = Dir::new("noput");
        let b = open(&dir);
        raw(&dir)
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .unwrap();
        let e = event("d-4");
        assert!(b.intake().put_new_and_send(&e, "m").await.is_err());
        assert!(bodies(b.queue()).await.is_empty());
        assert!(b.store().get(&e.event_id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_oversized_message_writes_nothing() {
        let dir = Dir::new("big");
        let b = open(&dir);
        let e = event("d-5");
        let big = "x".repeat(crate::ports::MAX_MESSAGE_BYTES + 1);
        let err = b.intake().put_new_and_send(&e, &big).await.unwrap_err();
        assert!(matches!(err, IntakeError::Queue(_)), "{err:?}");
        assert!(b.store().get(&e.event_id).await.unwrap().is_none());
        assert!(bodies(b.queue()).await.is_empty());
    }

    #[tokio::test]
    async fn concurrent_deliveries_each_get_one_message() {
        let dir = Dir::new("many");
        let b = open(&dir);
        let intake = b.intake();
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let intake = intake.clone();
                tokio::spawn(async move {
                    // Each delivery twice, concurrently: one insert, one duplicate.
                    let e = event(&format!("c-{}", i % 25));
                    intake.put_new_and_send(&e, &format!("m-{}", i % 25)).await
                })
            })
            .collect();
        let mut inserted = 0;
        for t in tasks {
            if matches!(t.await.unwrap().unwrap(), PutOutcome::Inserted) {
                inserted += 1;
            }
        }
        assert_eq!(inserted, 25);
        let mut got = bodies(b.queue()).await;
        got.sort();
        got.dedup();
        assert_eq!(got.len(), 25);
        assert_eq!(bodies(b.queue()).await.len(), 25);
    }
}
