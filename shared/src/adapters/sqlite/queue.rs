//! Two queues in the same database, with SQS semantics: a receive hides a message for the
//! visibility timeout and counts the receive; a main-queue message already received
//! `max_receive_count` times moves to the DLQ when a receive would have returned it (as SQS's
//! redrive policy does); receipts are valid for the latest receive only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{Connection, params};
use tokio::sync::Notify;

use super::SqliteOptions;
use super::pool::ReadPool;
use super::writer::Writer;
use crate::clock::now_ms;
use crate::ports::{Queue, QueueError, QueueStats, Received, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    Main,
    Dead,
}

impl QueueKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::Dead => "dlq",
        }
    }
}

/// SQS's longest visibility timeout.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);
/// What one look at a queue found.
struct Polled {
    messages: Vec<Received>,
    /// When none was visible: when the earliest message of the queue becomes visible (epoch ms).
    next_visible_at: Option<i64>,
    /// Messages this look moved to the DLQ (main queue only).
    dead_lettered: usize,
}

pub struct SqliteQueue {
    kind: QueueKind,
    opts: SqliteOptions,
    writer: Arc<Writer>,
    reads: Arc<ReadPool>,
    /// Wakes long polls of this process when a message is sent or made visible.
    notify: Arc<Notify>,
    /// Looks at the table (`receive_once` calls), for the tests of long polls.
    #[cfg(test)]
    looks: std::sync::atomic::AtomicUsize,
}

fn q_err(e: StoreError) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

fn sql_err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl SqliteQueue {
    pub(super) fn new(
        kind: QueueKind,
        opts: SqliteOptions,
        writer: Arc<Writer>,
        reads: Arc<ReadPool>,
        notify: Arc<Notify>,
    ) -> Self {
        Self {
            kind,
            opts,
            writer,
            reads,
            notify,
            #[cfg(test)]
            looks: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    async fn receive_once(&self, max: u32, visibility: Duration) -> Result<Polled, QueueError> {
        #[cfg(test)]
        self.looks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let queue = self.kind.name();
        let redrive_after = (self.kind == QueueKind::Main).then_some(self.opts.max_receive_count);
        self.writer
            .write(move |conn| {
                let now = now_ms();
                let mut dead_lettered = 0;
                if let Some(max_receives) = redrive_after {
                    // Only where this receive would look (the first `max` visible messages), until
                    // none there is due for the DLQ: O(batch), not a scan of the whole backlog.
                    loop {
                        let moved = conn
                            .prepare_cached(
                                "UPDATE messages SET queue = 'dlq', visible_at = ?2, receipt = NULL \
                                 WHERE receive_count >= ?1 AND seq IN (SELECT seq FROM messages \
                                 WHERE queue = 'main' AND visible_at <= ?2 ORDER BY visible_at, seq LIMIT ?3)",
                            )
                            .map_err(sql_err)?
                            .execute(params![max_receives, now, max])
                            .map_err(sql_err)?;
                        if moved == 0 {
                            break;
                        }
                        dead_lettered += moved;
                    }
                }
                let picked: Vec<(i64, String, String, i64, u32)> = {
                    let mut stmt = conn
                        .prepare_cached(
                            "SELECT seq, message_id, body, sent_at, receive_count FROM messages \
                             WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, seq LIMIT ?3",
                        )
                        .map_err(sql_err)?;
                    let rows = stmt
                        .query_map(params![queue, now, max], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                        .map_err(sql_err)?;
                    rows.collect::<Result<_, _>>().map_err(sql_err)?
                };
                let mut out = Vec::with_capacity(picked.len());
                for (seq, message_id, body, sent_at, count) in picked {
                    let receipt = format!("{seq}#{}", crate::model::random_uuid());
                    conn.prepare_cached(
                        "UPDATE messages SET receive_count = receive_count + 1, visible_at = ?2, receipt = ?3 WHERE seq = ?1",
                    )
                    .map_err(sql_err)?
                    .execute(params![seq, now.saturating_add(ms(visibility)), receipt])
                    .map_err(sql_err)?;
                    out.push(Received { message_id, receipt, body, receive_count: count + 1, sent_at });
                }
                let next_visible_at = if out.is_empty() {
                    conn.prepare_cached("SELECT MIN(visible_at) FROM messages WHERE queue = ?1")
                        .map_err(sql_err)?
                        .query_row(params![queue], |r| r.get(0))
                        .map_err(sql_err)?
                } else {
                    None
                };
                Ok(Polled { messages: out, next_visible_at, dead_lettered })
            })
            .await
            .map_err(q_err)
    }

    fn check_visibility(t: Duration) -> Result<(), QueueError> {
        if t > MAX_VISIBILITY {
            return Err(QueueError::Invalid(
                "visibility timeout is at most 12 hours".into(),
            ));
        }
        Ok(())
    }
}

/// The row a receipt (`seq#random`) names; a receipt of another shape names none (-1: no row has
/// that key).
fn seq_of(receipt: &str) -> i64 {
    receipt
        .split_once('#')
        .and_then(|(seq, _)| seq.parse().ok())
        .unwrap_or(-1)
}

/// Sends `body` to `queue` ("main" or "dlq") inside the caller's writer transaction.
pub(super) fn insert_message(conn: &Connection, queue: &str, body: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO messages (queue, message_id, body, sent_at, visible_at, receive_count) VALUES (?1, ?2, ?3, ?4, ?4, 0)",
    )
    .map_err(sql_err)?
    .execute(params![queue, crate::model::random_uuid(), body, now_ms()])
    .map_err(sql_err)?;
    Ok(())
}

fn count(conn: &Connection, sql: &str, queue: &str, now: i64) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached(sql)
        .map_err(sql_err)?
        .query_row(params![queue, now], |r| r.get(0))
        .map_err(sql_err)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        crate::ports::check_message_size(body)?;
        let queue = self.kind.name();
        let body = body.to_owned();
        self.writer
            .write(move |conn| insert_message(conn, queue, &body))
            .await
            .map_err(q_err)?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<Received>, QueueError> {
        if !(1..=10).contains(&max) {
            return Err(QueueError::Invalid(
                "a receive takes 1 to 10 messages".into(),
            ));
        }
        let visibility = visibility.unwrap_or(self.opts.visibility_timeout);
        Self::check_visibility(visibility)?;
        let deadline = Instant::now() + wait;
        loop {
            // Registered before the look, so a send between the look and the sleep still wakes it.
            let notified = self.notify.notified();
            let polled = self.receive_once(max, visibility).await?;
            if polled.dead_lettered > 0 {
                // A long poll of the DLQ may be waiting for them.
                self.notify.notify_waiters();
            }
            let now = Instant::now();
            if !polled.messages.is_empty() || now >= deadline {
                return Ok(polled.messages);
            }
            // Asleep until a message becomes visible (a visibility timeout or a retry's delay
            // ends), a send or visibility change of this process or, within the writer's
            // `WATCH_EVERY`, a write of another process wakes it, or the wait ends.
            let until = match polled.next_visible_at {
                Some(at) => {
                    let ms = u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0);
                    deadline.min(now + Duration::from_millis(ms))
                }
                None => deadline,
            };
            let _ = tokio::time::timeout_at(until.into(), notified).await;
        }
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        let mut out = self.delete_many(&[receipt.to_owned()]).await;
        out.pop().unwrap_or_else(|| {
            Err(QueueError::Unavailable(
                "the database writer gave no answer".into(),
            ))
        })
    }

    /// One writer operation for all of them (one savepoint-free step of a group commit).
    async fn delete_many(&self, receipts: &[String]) -> Vec<Result<(), QueueError>> {
        if receipts.is_empty() {
            return Vec::new();
        }
        let queue = self.kind.name();
        let all = receipts.to_vec();
        let deleted = self
            .writer
            .write(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "DELETE FROM messages WHERE seq = ?1 AND queue = ?2 AND receipt = ?3",
                    )
                    .map_err(sql_err)?;
                all.iter()
                    .map(|r| stmt.execute(params![seq_of(r), queue, r]).map_err(sql_err))
                    .collect::<Result<Vec<usize>, _>>()
            })
            .await;
        match deleted {
            Ok(counts) => counts
                .into_iter()
                .map(|n| {
                    if n == 0 {
                        Err(QueueError::InvalidReceipt(
                            "no message holds this receipt (received again, deleted or moved)"
                                .into(),
                        ))
                    } else {
                        Ok(())
                    }
                })
                .collect(),
            Err(e) => {
                let e = q_err(e);
                receipts.iter().map(|_| Err(e.clone())).collect()
            }
        }
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError> {
        Self::check_visibility(timeout)?;
        let queue = self.kind.name();
        let receipt = receipt.to_owned();
        let n = self
            .writer
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE messages SET visible_at = ?4 WHERE seq = ?1 AND queue = ?2 AND receipt = ?3",
                )
                .map_err(sql_err)?
                .execute(params![
                    seq_of(&receipt),
                    queue,
                    receipt,
                    now_ms().saturating_add(ms(timeout))
                ])
                .map_err(sql_err)
            })
            .await
            .map_err(q_err)?;
        if n == 0 {
            return Err(QueueError::InvalidReceipt(
                "no message holds this receipt (received again, deleted or moved)".into(),
            ));
        }
        // A shorter timeout makes the message visible sooner than a sleeping long poll expects.
        self.notify.notify_waiters();
        Ok(())
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let queue = self.kind.name();
        self.reads
            .read(move |conn| {
                let now = now_ms();
                let visible = count(conn, "SELECT COUNT(*) FROM messages WHERE queue = ?1 AND visible_at <= ?2", queue, now)?;
                let in_flight = count(
                    conn,
                    "SELECT COUNT(*) FROM messages WHERE queue = ?1 AND visible_at > ?2 AND receive_count > 0",
                    queue,
                    now,
                )?;
                let delayed = count(
                    conn,
                    "SELECT COUNT(*) FROM messages WHERE queue = ?1 AND visible_at > ?2 AND receive_count = 0",
                    queue,
                    now,
                )?;
                let oldest: Option<i64> = conn
                    .prepare_cached("SELECT MIN(sent_at) FROM messages WHERE queue = ?1")
                    .map_err(sql_err)?
                    .query_row(params![queue], |r| r.get(0))
                    .map_err(sql_err)?;
                Ok(QueueStats {
                    visible,
                    in_flight,
                    delayed,
                    oldest_age_secs: oldest.map(|t| u64::try_from((now - t) / 1000).unwrap_or(0)),
                })
            })
            .await
            .map_err(q_err)
    }

    async fn peek(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        let queue = self.kind.name();
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        self.reads
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT message_id, body, sent_at, receive_count FROM messages WHERE queue = ?1 ORDER BY seq LIMIT ?2",
                    )
                    .map_err(sql_err)?;
                let rows = stmt
                    .query_map(params![queue, limit], |r| {
                        Ok(Received {
                            message_id: r.get(0)?,
                            receipt: String::new(),
                            body: r.get(1)?,
                            sent_at: r.get(2)?,
                            receive_count: r.get(3)?,
                        })
                    })
                    .map_err(sql_err)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(sql_err)
            })
            .await
            .map_err(q_err)
    }

    async fn native_redrive(&self) -> Result<Option<u64>, QueueError> {
        if self.kind != QueueKind::Dead {
            return Ok(None);
        }
        let n = self
            .writer
            .write(|conn| {
                conn.prepare_cached(
                    "UPDATE messages SET queue = 'main', receive_count = 0, visible_at = ?1, receipt = NULL WHERE queue = 'dlq'",
                )
                .map_err(sql_err)?
                .execute(params![now_ms()])
                .map_err(sql_err)
            })
            .await
            .map_err(q_err)?;
        self.notify.notify_waiters();
        Ok(Some(n as u64))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use tokio::task::JoinHandle;

    use super::SqliteQueue;
    use crate::ports::{Queue, QueueError, Received};

    use super::super::open_for_tests as open;

    /// A 20 s long poll of `q`, started now.
    fn long_poll(q: Arc<SqliteQueue>) -> (Instant, JoinHandle<Result<Vec<Received>, QueueError>>) {
        let started = Instant::now();
        let waiting =
            tokio::spawn(async move { q.receive(10, Duration::from_secs(20), None).await });
        (started, waiting)
    }

    /// Checks that the long poll returned `body` alone, long before its wait would have ended.
    async fn returns_soon(
        (started, waiting): (Instant, JoinHandle<Result<Vec<Received>, QueueError>>),
        body: &str,
    ) {
        let got = waiting.await.unwrap().unwrap();
        let took = started.elapsed();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, body);
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    /// An idle long poll looks at the table when it starts and when its wait ends, not every
    /// 100 ms in between (sixteen idle processor loops made ~160 writer operations a second).
    #[tokio::test]
    async fn an_idle_long_poll_looks_twice() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), 5);
        let started = Instant::now();
        let got = b
            .queue
            .receive(10, Duration::from_secs(2), None)
            .await
            .unwrap();
        assert!(got.is_empty());
        assert!(started.elapsed() >= Duration::from_secs(2));
        assert_eq!(b.queue.looks.load(Ordering::Relaxed), 2);
    }

    /// A long poll sleeps until the earliest message becomes visible: a message received and not
    /// deleted comes back to it when its visibility timeout ends, with no write to wake it.
    #[tokio::test]
    async fn a_long_poll_wakes_when_a_visibility_timeout_ends() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), 5);
        b.queue.send("again").await.unwrap();
        let first = b
            .queue
            .receive(1, Duration::ZERO, Some(Duration::from_millis(800)))
            .await
            .unwrap();
        assert_eq!(first.len(), 1);
        let started = Instant::now();
        let got = b
            .queue
            .receive(1, Duration::from_secs(10), None)
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, "again");
        assert_eq!(got[0].receive_count, 2);
        assert!(took >= Duration::from_millis(600), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        // The first receive's look, then one before the sleep and one after it (and one more
        // at most, should the timer and the wall clock disagree by a millisecond).
        let looks = b.queue.looks.load(Ordering::Relaxed);
        assert!((3..=4).contains(&looks), "{looks} looks");
    }

    /// Shortening a received message's visibility wakes a long poll that was asleep until the
    /// old timeout.
    #[tokio::test]
    async fn a_shorter_visibility_wakes_a_sleeping_long_poll() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), 5);
        b.queue.send("soon").await.unwrap();
        let first = b.queue.receive(1, Duration::ZERO, None).await.unwrap();
        let poll = long_poll(b.queue.clone());
        tokio::time::sleep(Duration::from_millis(200)).await;
        b.queue
            .change_visibility(&first[0].receipt, Duration::from_millis(300))
            .await
            .unwrap();
        returns_soon(poll, "soon").await;
    }

    /// A message sent by another process (another connection to the same database, whose sends
    /// cannot notify this process) still ends a long poll soon: the writer sees the other
    /// connection's commit within `WATCH_EVERY`.
    #[tokio::test]
    async fn another_process_send_wakes_a_long_poll() {
        let dir = tempfile::tempdir().unwrap();
        let here = open(dir.path(), 5);
        let there = open(dir.path(), 5);
        let poll = long_poll(here.queue.clone());
        tokio::time::sleep(Duration::from_millis(300)).await;
        there.queue.send("from the CLI").await.unwrap();
        returns_soon(poll, "from the CLI").await;
    }

    /// A receive of the main queue that moves a message to the DLQ wakes a long poll of the DLQ.
    #[tokio::test]
    async fn dead_lettering_wakes_a_long_poll_of_the_dlq() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), 1);
        b.queue.send("poison").await.unwrap();
        let first = b.queue.receive(1, Duration::ZERO, None).await.unwrap();
        b.queue
            .change_visibility(&first[0].receipt, Duration::ZERO)
            .await
            .unwrap();
        let poll = long_poll(b.dlq.clone());
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Received once already: this receive moves it to the DLQ and returns nothing.
        assert!(
            b.queue
                .receive(1, Duration::ZERO, None)
                .await
                .unwrap()
                .is_empty()
        );
        returns_soon(poll, "poison").await;
    }

    /// A message past `max_receive_count` behind a backlog is never returned: it moves to the DLQ
    /// when a receive reaches it, whatever the batch size.
    #[tokio::test]
    async fn over_received_messages_move_to_the_dlq_when_a_receive_reaches_them() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), 2);
        let (q, dlq) = (b.queue(), b.dlq());
        for i in 0..3 {
            q.send(&format!("poison-{i}")).await.unwrap();
        }
        // Each received twice, made visible again at once.
        for _ in 0..2 {
            let got = q.receive(10, Duration::ZERO, None).await.unwrap();
            assert_eq!(got.len(), 3);
            for m in got {
                q.change_visibility(&m.receipt, Duration::ZERO)
                    .await
                    .unwrap();
            }
        }
        for i in 0..25 {
            q.send(&format!("fresh-{i}")).await.unwrap();
        }
        let mut fresh = Vec::new();
        for batch in [1, 10, 3, 10, 10] {
            let got = q.receive(batch, Duration::ZERO, None).await.unwrap();
            assert!(got.len() <= batch as usize);
            for m in got {
                assert!(m.body.starts_with("fresh-"), "{} returned", m.body);
                assert_eq!(m.receive_count, 1);
                fresh.push(m.body);
            }
        }
        fresh.sort();
        fresh.dedup();
        assert_eq!(fresh.len(), 25, "every fresh message, once");
        let dead: Vec<String> = dlq
            .peek(10)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.body)
            .collect();
        assert_eq!(dead, vec!["poison-0", "poison-1", "poison-2"]);
        assert!(
            q.receive(10, Duration::ZERO, None)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
