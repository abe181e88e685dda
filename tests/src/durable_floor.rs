//! The durable floor of `hookgate-load`: what any server must pay to answer a delivery only after
//! it is durably committed, and to work through what it committed at least once, with nothing
//! else (no signature, no ids, no compression, no indexes for queries, no logs).
//!
//! One thread owns a SQLite connection with hookgate's durability settings (WAL,
//! `synchronous = FULL`, the same page cache) and commits in groups, as hookgate's writer does:
//! it takes every operation waiting on its channel, runs them in one transaction, commits, and
//! only then answers each caller. An operation either stores one delivery (its id and body) or
//! takes up to `max` stored deliveries not yet taken, oldest first: it reads their bodies and
//! moves a cursor past them in the same transaction, one small write per take whatever its size.
//! That is the least a consumer can do and still never skip a delivery (a log and an offset, as a
//! Kafka consumer keeps); marking each delivery taken instead rewrote each row and its page once
//! more, about as much again as storing it (`hookgate-load`'s first runs of this floor).

use std::path::Path;
use std::sync::mpsc;

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

type Answer<T> = oneshot::Sender<Result<T, String>>;

enum Op {
    Store {
        delivery_id: String,
        body: bytes::Bytes,
        done: Answer<()>,
    },
    Take {
        max: usize,
        done: Answer<usize>,
    },
}

/// Operations per transaction at most, as in hookgate's writer.
const MAX_GROUP: usize = 512;

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
";

const STORE: &str = "INSERT INTO deliveries (delivery_id, body) VALUES (?1, ?2)";
const TAKE: &str = "SELECT id, length(body) FROM deliveries \
     WHERE id > (SELECT pos FROM cursor) ORDER BY id LIMIT ?1";
const ADVANCE: &str = "UPDATE cursor SET pos = ?1";

/// Deliveries stored and not yet taken, read on a connection of the caller's.
pub const PENDING: &str = "SELECT count(*) FROM deliveries WHERE id > (SELECT pos FROM cursor)";
/// The delivery ids stored.
pub const STORED_IDS: &str = "SELECT delivery_id FROM deliveries";

/// The group-commit writer.
#[derive(Clone)]
pub struct DurableFloor {
    tx: mpsc::Sender<Op>,
}

impl DurableFloor {
    /// Opens (or creates) the database at `path` and starts the writer thread.
    pub fn open(path: &Path) -> Result<Self, String> {
        let conn = Connection::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("floor-writer".into())
            .spawn(move || run(&conn, &rx))
            .map_err(|e| format!("cannot start the writer thread: {e}"))?;
        Ok(Self { tx })
    }

    /// Stores one delivery; resolves once its group has committed.
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
    pub async fn take(&self, max: usize) -> Result<usize, String> {
        let (done, answer) = oneshot::channel();
        self.send(Op::Take { max, done })?;
        answer.await.map_err(|_| "the writer dropped the take")?
    }

    fn send(&self, op: Op) -> Result<(), String> {
        self.tx
            .send(op)
            .map_err(|_| "the writer has stopped".to_owned())
    }
}

/// What one operation produced before its group committed.
enum Ran {
    Stored(Answer<()>, Result<(), String>),
    Took(Answer<usize>, Result<usize, String>),
}

fn run(conn: &Connection, rx: &mpsc::Receiver<Op>) {
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
        let ran: Vec<Ran> = group
            .into_iter()
            .map(|op| match op {
                Op::Store {
                    delivery_id,
                    body,
                    done,
                } => {
                    let r = began.clone().and_then(|()| {
                        conn.prepare_cached(STORE)
                            .and_then(|mut s| s.execute(params![delivery_id, &body[..]]))
                            .map(drop)
                            .map_err(|e| format!("store: {e}"))
                    });
                    Ran::Stored(done, r)
                }
                Op::Take { max, done } => {
                    let r = began.clone().and_then(|()| take(conn, max));
                    Ran::Took(done, r)
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
        for r in ran {
            match r {
                Ran::Stored(done, r) => {
                    let _ = done.send(committed.clone().and(r));
                }
                Ran::Took(done, r) => {
                    let _ = done.send(committed.clone().and(r));
                }
            }
        }
    }
}

/// Takes up to `max` pending deliveries (reading each body's length, which reads the body) and
/// moves the cursor past the last.
fn take(conn: &Connection, max: usize) -> Result<usize, String> {
    let failed = |e: rusqlite::Error| format!("take: {e}");
    let rows = conn
        .prepare_cached(TAKE)
        .and_then(|mut s| {
            s.query_map([max as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
        .map_err(failed)?;
    if let Some((last, _)) = rows.last() {
        conn.prepare_cached(ADVANCE)
            .and_then(|mut s| s.execute([last]))
            .map_err(failed)?;
    }
    Ok(rows.len())
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

    #[tokio::test]
    async fn stores_are_committed_when_answered_and_taken_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("floor.db");
        let floor = DurableFloor::open(&path).unwrap();
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
        assert_eq!(count(&path, PENDING), 25);
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
        assert_eq!(count(&path, PENDING), 0);
        assert_eq!(count(&path, "SELECT count(*) FROM deliveries"), 25);
        // Reopened (a restart), nothing is taken twice and nothing is lost.
        drop(floor);
        let again = DurableFloor::open(&path).unwrap();
        assert_eq!(again.take(10).await.unwrap(), 0);
        assert_eq!(
            count(&path, "SELECT count(DISTINCT delivery_id) FROM deliveries"),
            25
        );
    }
}
