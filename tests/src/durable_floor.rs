//! The durable floor of `hookgate-load`: what any server must pay to answer a delivery only after
//! it is durably committed, and to work through what it committed at least once, with nothing
//! else (no signature, no ids, no compression, no indexes for queries, no logs).
//!
//! One thread owns a SQLite connection with hookgate's durability settings (WAL,
//! `synchronous = FULL`, the same page cache) and commits in groups, as hookgate's writer does:
//! it takes every operation waiting on its channel, runs them in one transaction, commits, and
//! only then answers each caller. Deliveries (an id and a body) are taken by consumers in one of
//! two ways ([`Consume`]):
//!
//! - [`Consume::Cursor`]: read the next deliveries after a cursor and move it, in one operation:
//!   one small write per take whatever its size. The least a consumer can do and still never
//!   skip a delivery (a log and an offset, as a Kafka consumer keeps). Marking each delivery
//!   taken instead rewrote each row and its page once more, about as much again as storing it
//!   (`hookgate-load`'s first runs of this floor).
//! - [`Consume::Queue`]: the least a queue with SQS semantics does. Storing a delivery also
//!   stores its message; a receive makes each message it returns invisible for a while and counts
//!   the receive (so an unacknowledged message comes back, and could be dead-lettered), and a
//!   second operation deletes the messages once handled: a write per message in each.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

type Answer<T> = oneshot::Sender<Result<T, String>>;

/// How consumers take what was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consume {
    /// In order, after a cursor.
    Cursor,
    /// Through a queue with visibility timeouts, receive counts and per-message deletes.
    Queue,
}

impl Consume {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "cursor" => Ok(Self::Cursor),
            "queue" => Ok(Self::Queue),
            other => Err(format!("unknown way to consume {other:?}: cursor or queue")),
        }
    }

    /// The name [`Consume::parse`] reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cursor => "cursor",
            Self::Queue => "queue",
        }
    }

    /// Deliveries stored and not yet taken (a query the caller runs on its own connection).
    pub fn pending_sql(self) -> &'static str {
        match self {
            Self::Cursor => "SELECT count(*) FROM deliveries WHERE id > (SELECT pos FROM cursor)",
            Self::Queue => "SELECT count(*) FROM messages",
        }
    }
}

enum Op {
    Store {
        delivery_id: String,
        body: bytes::Bytes,
        done: Answer<()>,
    },
    TakeAfterCursor {
        max: usize,
        done: Answer<usize>,
    },
    Receive {
        max: usize,
        done: Answer<Vec<i64>>,
    },
    Delete {
        seqs: Vec<i64>,
        done: Answer<()>,
    },
}

/// Operations per transaction at most, as in hookgate's writer.
const MAX_GROUP: usize = 512;

/// How long a received message stays invisible.
const VISIBILITY_MS: i64 = 30_000;

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA cache_size = -65536;
    CREATE TABLE IF NOT EXISTS deliveries (
        id INTEGER PRIMARY KEY,
        delivery_id TEXT NOT NULL,
        body BLOB NOT NULL
    );
    CREATE TABLE IF NOT EXISTS cursor (one INTEGER PRIMARY KEY CHECK (one = 1), pos INTEGER NOT NULL);
    INSERT OR IGNORE INTO cursor (one, pos) VALUES (1, 0);
    CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY,
        delivery INTEGER NOT NULL,
        visible_at INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS messages_visible ON messages (visible_at, seq);
";

const STORE: &str = "INSERT INTO deliveries (delivery_id, body) VALUES (?1, ?2)";
const SEND: &str = "INSERT INTO messages (delivery, visible_at) VALUES (?1, 0)";
const TAKE: &str = "SELECT id, length(body) FROM deliveries \
     WHERE id > (SELECT pos FROM cursor) ORDER BY id LIMIT ?1";
const ADVANCE: &str = "UPDATE cursor SET pos = ?1";
const RECEIVE: &str = "SELECT m.seq, length(d.body) FROM messages m \
     JOIN deliveries d ON d.id = m.delivery \
     WHERE m.visible_at <= ?1 ORDER BY m.visible_at, m.seq LIMIT ?2";
const HIDE: &str =
    "UPDATE messages SET visible_at = ?1, receive_count = receive_count + 1 WHERE seq = ?2";
const DELETE: &str = "DELETE FROM messages WHERE seq = ?1";

/// The delivery ids stored.
pub const STORED_IDS: &str = "SELECT delivery_id FROM deliveries";

/// The group-commit writer.
#[derive(Clone)]
pub struct DurableFloor {
    tx: mpsc::Sender<Op>,
    consume: Consume,
}

impl DurableFloor {
    /// Opens (or creates) the database at `path` and starts the writer thread.
    pub fn open(path: &Path, consume: Consume) -> Result<Self, String> {
        let conn = Connection::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("floor-writer".into())
            .spawn(move || run(&conn, &rx, consume))
            .map_err(|e| format!("cannot start the writer thread: {e}"))?;
        Ok(Self { tx, consume })
    }

    /// Stores one delivery (and, for a queue, its message); resolves once its group has
    /// committed.
    pub async fn store(&self, delivery_id: String, body: bytes::Bytes) -> Result<(), String> {
        let (done, answer) = oneshot::channel();
        self.send(Op::Store {
            delivery_id,
            body,
            done,
        })?;
        answer.await.map_err(|_| "the writer dropped the store")?
    }

    /// Takes up to `max` stored deliveries not yet taken; resolves to how many, once committed.
    /// From a queue: receives them, then deletes them (two operations, two commits).
    pub async fn take(&self, max: usize) -> Result<usize, String> {
        match self.consume {
            Consume::Cursor => {
                let (done, answer) = oneshot::channel();
                self.send(Op::TakeAfterCursor { max, done })?;
                answer.await.map_err(|_| "the writer dropped the take")?
            }
            Consume::Queue => {
                let (done, answer) = oneshot::channel();
                self.send(Op::Receive { max, done })?;
                let seqs = answer
                    .await
                    .map_err(|_| "the writer dropped the receive")??;
                let n = seqs.len();
                if n > 0 {
                    let (done, answer) = oneshot::channel();
                    self.send(Op::Delete { seqs, done })?;
                    answer
                        .await
                        .map_err(|_| "the writer dropped the delete")??;
                }
                Ok(n)
            }
        }
    }

    fn send(&self, op: Op) -> Result<(), String> {
        self.tx
            .send(op)
            .map_err(|_| "the writer has stopped".to_owned())
    }
}

/// An operation's answer, kept until its group has committed.
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;

fn reply<T: Send + 'static>(done: Answer<T>, result: Result<T, String>) -> Reply {
    Box::new(move |committed| {
        let _ = done.send(committed.and(result));
    })
}

fn run(conn: &Connection, rx: &mpsc::Receiver<Op>, consume: Consume) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        let began = conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| format!("begin: {e}"));
        let replies: Vec<Reply> = group
            .into_iter()
            .map(|op| match op {
                Op::Store {
                    delivery_id,
                    body,
                    done,
                } => reply(
                    done,
                    began
                        .clone()
                        .and_then(|()| store(conn, &delivery_id, &body, consume)),
                ),
                Op::TakeAfterCursor { max, done } => reply(
                    done,
                    began.clone().and_then(|()| take_after_cursor(conn, max)),
                ),
                Op::Receive { max, done } => {
                    reply(done, began.clone().and_then(|()| receive(conn, max)))
                }
                Op::Delete { seqs, done } => {
                    reply(done, began.clone().and_then(|()| delete(conn, &seqs)))
                }
            })
            .collect();
        let committed = began.and_then(|()| {
            conn.execute_batch("COMMIT")
                .map_err(|e| format!("commit: {e}"))
        });
        if committed.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for r in replies {
            r(committed.clone());
        }
    }
}

fn failed(what: &'static str) -> impl Fn(rusqlite::Error) -> String {
    move |e| format!("{what}: {e}")
}

fn store(
    conn: &Connection,
    delivery_id: &str,
    body: &[u8],
    consume: Consume,
) -> Result<(), String> {
    conn.prepare_cached(STORE)
        .and_then(|mut s| s.execute(params![delivery_id, body]))
        .map_err(failed("store"))?;
    if consume == Consume::Queue {
        conn.prepare_cached(SEND)
            .and_then(|mut s| s.execute([conn.last_insert_rowid()]))
            .map_err(failed("send"))?;
    }
    Ok(())
}

/// Takes up to `max` pending deliveries (reading each body's length, which reads the body) and
/// moves the cursor past the last.
fn take_after_cursor(conn: &Connection, max: usize) -> Result<usize, String> {
    let rows = conn
        .prepare_cached(TAKE)
        .and_then(|mut s| {
            s.query_map([max as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
        .map_err(failed("take"))?;
    if let Some((last, _)) = rows.last() {
        conn.prepare_cached(ADVANCE)
            .and_then(|mut s| s.execute([last]))
            .map_err(failed("take"))?;
    }
    Ok(rows.len())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Up to `max` visible messages (reading each one's body), each hidden for [`VISIBILITY_MS`] and
/// its receive counted.
fn receive(conn: &Connection, max: usize) -> Result<Vec<i64>, String> {
    let now = now_ms();
    let seqs = conn
        .prepare_cached(RECEIVE)
        .and_then(|mut s| {
            s.query_map(params![now, max as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
        .map_err(failed("receive"))?;
    let mut hide = conn.prepare_cached(HIDE).map_err(failed("receive"))?;
    for (seq, _) in &seqs {
        hide.execute(params![now + VISIBILITY_MS, seq])
            .map_err(failed("receive"))?;
    }
    Ok(seqs.into_iter().map(|(seq, _)| seq).collect())
}

fn delete(conn: &Connection, seqs: &[i64]) -> Result<(), String> {
    let mut stmt = conn.prepare_cached(DELETE).map_err(failed("delete"))?;
    for seq in seqs {
        stmt.execute([seq]).map_err(failed("delete"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(path: &Path, sql: &str) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }

    async fn stores_are_committed_when_answered_and_taken_once_each(consume: Consume) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("floor.db");
        let floor = DurableFloor::open(&path, consume).unwrap();
        let stores = (0..25).map(|i| {
            let floor = floor.clone();
            async move {
                floor
                    .store(format!("d-{i}"), bytes::Bytes::from(vec![b'x'; 100 + i]))
                    .await
            }
        });
        for r in futures::future::join_all(stores).await {
            r.unwrap();
        }
        // Answered, so committed: another connection sees all of them.
        assert_eq!(count(&path, consume.pending_sql()), 25);
        // Bounded: a take that never moved on must fail, not hang.
        let mut taken = Vec::new();
        for _ in 0..10 {
            let n = floor.take(10).await.unwrap();
            if n == 0 {
                break;
            }
            taken.push(n);
        }
        assert_eq!(taken, [10, 10, 5]);
        assert_eq!(count(&path, consume.pending_sql()), 0);
        assert_eq!(count(&path, "SELECT count(*) FROM deliveries"), 25);
        // Reopened (a restart), nothing is taken twice and nothing is lost.
        drop(floor);
        let again = DurableFloor::open(&path, consume).unwrap();
        assert_eq!(again.take(10).await.unwrap(), 0);
        assert_eq!(
            count(&path, "SELECT count(DISTINCT delivery_id) FROM deliveries"),
            25
        );
    }

    #[tokio::test]
    async fn after_a_cursor() {
        stores_are_committed_when_answered_and_taken_once_each(Consume::Cursor).await;
    }

    #[tokio::test]
    async fn through_a_queue() {
        stores_are_committed_when_answered_and_taken_once_each(Consume::Queue).await;
    }

    /// A received message that is never deleted stays out of sight until its visibility ends, and
    /// its receive is counted.
    #[tokio::test]
    async fn a_received_message_is_hidden_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("floor.db");
        let floor = DurableFloor::open(&path, Consume::Queue).unwrap();
        floor
            .store("d-1".into(), bytes::Bytes::from_static(b"{}"))
            .await
            .unwrap();
        let (done, answer) = oneshot::channel();
        floor.send(Op::Receive { max: 10, done }).unwrap();
        assert_eq!(answer.await.unwrap().unwrap().len(), 1);
        assert_eq!(floor.take(10).await.unwrap(), 0, "hidden while received");
        assert_eq!(
            count(&path, "SELECT receive_count FROM messages"),
            1,
            "the receive is counted"
        );
        assert_eq!(count(&path, Consume::Queue.pending_sql()), 1, "not deleted");
    }

    #[test]
    fn ways_to_consume_parse() {
        assert_eq!(Consume::parse("cursor").unwrap(), Consume::Cursor);
        assert_eq!(Consume::parse("queue").unwrap(), Consume::Queue);
        assert!(Consume::parse("kafka").is_err());
        for c in [Consume::Cursor, Consume::Queue] {
            assert_eq!(Consume::parse(c.as_str()).unwrap(), c);
        }
    }
}
