//! The group-commit writer: one thread owns the write connection, takes every operation waiting
//! on its channel, runs them all inside ONE transaction, commits, and only then answers each
//! caller. A failing operation rolls back alone; a failing commit fails them all.
//!
//! A group first runs without savepoints: a savepoint per operation copies, before the operation
//! changes it, every page an earlier operation of the group already changed (its sub-journal),
//! and running without them gave the local stack 9-19 % more requests per second
//! (docs/performance-history.md, Local throughput). When an operation fails,
//! its partial changes cannot be undone alone, so the whole group is rolled back and runs once
//! more, each operation in a savepoint of its own: the failure rolls back alone, as before, and
//! every operation's answer comes from that second run. Operations are therefore closures that
//! can run more than once (`Fn`); what they change is in the transaction, which the first run's
//! rollback undid.
//!
//! The writer also watches for writes of other processes (the CLI beside `hookgate serve`):
//! every [`WATCH_EVERY`] it reads its connection's `PRAGMA data_version`, which changes only when
//! another connection has committed, and calls the `on_external_write` it was started with.

use std::ffi::c_int;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::hooks::Wal;
use tokio::sync::oneshot;

use super::{db_err, schema};
use crate::ports::StoreError;

/// One caller's operation, waiting for its group's commit.
trait Op: Send {
    /// Runs the operation (in a savepoint of its own when `isolated`) and keeps its result;
    /// false when it failed.
    fn run(&mut self, conn: &Connection, isolated: bool) -> bool;
    /// Answers the caller: the operation's result once its group committed, else the failure.
    fn answer(self: Box<Self>, outcome: Result<(), String>);
}

struct Pending<T, F> {
    f: F,
    result: Option<Result<T, StoreError>>,
    done: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Op for Pending<T, F>
where
    T: Send,
    F: Fn(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection, isolated: bool) -> bool {
        let result = if isolated {
            in_savepoint(conn, &self.f)
        } else {
            (self.f)(conn)
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, outcome: Result<(), String>) {
        let out = match (outcome, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Unavailable(
                "the database writer did not run the operation".into(),
            )),
            (Err(e), _) => Err(StoreError::Unavailable(e)),
        };
        let _ = self.done.send(out);
    }
}

/// Operations per transaction at most (bounds latency of one group).
const MAX_GROUP: usize = 512;

/// WAL frames after which the writer checkpoints: SQLite's own automatic checkpoint threshold.
/// The writer runs the checkpoint itself, after answering the group whose commit crossed it,
/// instead of inside that commit, where its callers waited for the copy and the database file's
/// `fsync`.
const CHECKPOINT_FRAMES: i32 = 1000;

/// How often the writer looks for commits of other processes. Long polls of this process sleep
/// until a message may be visible and are woken by the writes that can make one visible sooner:
/// this process's (the queues notify them) and, within this period, another's.
pub const WATCH_EVERY: Duration = Duration::from_millis(100);

/// Called on the writer thread when another connection has committed since the last look.
pub type OnExternalWrite = Box<dyn Fn() + Send>;

pub struct Writer {
    tx: mpsc::Sender<Box<dyn Op>>,
}

impl Writer {
    pub fn start(path: &Path, on_external_write: OnExternalWrite) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path).map_err(db_err)?;
        schema::configure(&conn).map_err(db_err)?;
        schema::migrate(&mut conn).map_err(db_err)?;
        schema::configure_writer(&conn).map_err(db_err)?;
        // Replaces SQLite's automatic checkpoint, which is itself a WAL hook.
        let frames = Arc::new(AtomicI32::new(0));
        let seen = frames.clone();
        conn.wal_hook(Some(move |_: &mut Wal, n: c_int| {
            seen.store(n, Ordering::Relaxed);
            Ok(())
        }))
        .map_err(db_err)?;
        let (tx, rx) = mpsc::channel::<Box<dyn Op>>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx, frames, on_external_write))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { tx })
    }

    /// Runs `f` inside the next group's transaction; resolves after the commit. `f` may run
    /// twice (see the module documentation); only the last run's changes and result count.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (done, done_rx) = oneshot::channel::<Result<T, StoreError>>();
        let op = Pending {
            f,
            result: None,
            done,
        };
        self.tx
            .send(Box::new(op))
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        done_rx.await.map_err(|_| {
            StoreError::Unavailable("the database writer dropped the operation".into())
        })?
    }
}

fn in_savepoint<T>(
    conn: &Connection,
    f: impl Fn(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    // Cached statements: every operation of a retried group runs these two.
    conn.prepare_cached("SAVEPOINT op")
        .and_then(|mut s| s.execute([]))
        .map_err(db_err)?;
    let out = f(conn);
    let end = if out.is_ok() {
        conn.prepare_cached("RELEASE op")
            .and_then(|mut s| s.execute([]))
            .map(drop)
    } else {
        conn.execute_batch("ROLLBACK TO op; RELEASE op")
    };
    match end {
        Ok(()) => out,
        Err(e) => Err(db_err(e)),
    }
}

fn begin(conn: &Connection) -> Result<(), String> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| format!("cannot begin a transaction: {e}"))
}

/// Runs a group in one open transaction: all at once, or, when one fails, all again after a
/// rollback, each in its own savepoint. Err when the transaction could not be begun again.
fn run_group(conn: &Connection, ops: &mut [Box<dyn Op>]) -> Result<(), String> {
    if ops.iter_mut().all(|op| op.run(conn, false)) {
        return Ok(());
    }
    // Some errors (a full disk, say) end the transaction themselves.
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")
            .map_err(|e| format!("cannot roll back a failed group: {e}"))?;
    }
    begin(conn)?;
    for op in ops.iter_mut() {
        op.run(conn, true);
    }
    Ok(())
}

/// How often the writer reports its commits and operations (at `debug`).
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// The connection's `PRAGMA data_version`: it changes when another connection commits, never for
/// this connection's own commits. `None` when it cannot be read (counted as unchanged).
fn data_version(conn: &Connection) -> Option<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0)).ok()
}

fn run(
    conn: Connection,
    rx: mpsc::Receiver<Box<dyn Op>>,
    wal_frames: Arc<AtomicI32>,
    on_external_write: OnExternalWrite,
) {
    let (mut commits, mut ops, mut since) = (0u64, 0u64, Instant::now());
    let (mut version, mut watched) = (data_version(&conn), Instant::now());
    loop {
        let next = rx.recv_timeout(WATCH_EVERY.saturating_sub(watched.elapsed()));
        // Between groups, so never inside a transaction of this connection, and also while
        // groups follow each other without a pause.
        if watched.elapsed() >= WATCH_EVERY {
            watched = Instant::now();
            let now = data_version(&conn);
            if now.is_some() && now != version {
                version = now;
                on_external_write();
            }
        }
        let first = match next {
            Ok(op) => op,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        let outcome = begin(&conn).and_then(|()| run_group(&conn, &mut group));
        let commit = match outcome {
            Ok(()) => conn
                .execute_batch("COMMIT")
                .map_err(|e| format!("commit failed: {e}")),
            Err(e) => {
                tracing::error!(error = %e, "sqlite: a group was not run");
                Err(e)
            }
        };
        if commit.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        commits += u64::from(commit.is_ok());
        ops += group.len() as u64;
        for op in group {
            op.answer(commit.clone());
        }
        // As SQLite's automatic checkpoint would (PASSIVE, after every commit while the WAL is
        // over the threshold), but with the callers already answered.
        if wal_frames.swap(0, Ordering::Relaxed) >= CHECKPOINT_FRAMES
            && let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)")
        {
            tracing::warn!(error = %e, "sqlite: checkpoint failed");
        }
        if since.elapsed() >= REPORT_EVERY {
            tracing::debug!(
                commits,
                ops,
                seconds = since.elapsed().as_secs_f64(),
                "sqlite writer"
            );
            (commits, ops, since) = (0, 0, Instant::now());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rusqlite::params;

    use super::*;

    struct Db {
        dir: tempfile::TempDir,
        writer: Arc<Writer>,
    }

    impl Db {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let writer =
                Arc::new(Writer::start(&dir.path().join("w.db"), Box::new(|| {})).unwrap());
            Self { dir, writer }
        }

        /// The rows of table `t`, read on a connection of its own.
        fn rows(&self) -> Vec<String> {
            let conn = Connection::open(self.dir.path().join("w.db")).unwrap();
            conn.prepare("SELECT x FROM t ORDER BY x")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }

        /// Queues `ops` behind an operation that holds the writer until all of them are in its
        /// channel, so that they make one group, then waits for their answers.
        async fn one_group(&self, ops: Vec<Insert>) -> Vec<Result<(), StoreError>> {
            type Answer = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;
            let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
            let (release, held) = std::sync::mpsc::channel::<()>();
            let held = std::sync::Mutex::new(held);
            let w = self.writer.clone();
            let mut gate: Answer = Box::pin(async move {
                w.write(move |conn| {
                    let _ = entered_tx.send(());
                    // Bounded: a run twice must not hang the test.
                    let _ = held.lock().unwrap().recv_timeout(Duration::from_secs(5));
                    conn.execute_batch("CREATE TABLE IF NOT EXISTS t (x TEXT NOT NULL)")
                        .map_err(db_err)
                })
                .await
            });
            // A first poll sends the operation; the writer thread then runs it alone.
            assert!(futures::poll!(gate.as_mut()).is_pending());
            entered.recv_timeout(Duration::from_secs(5)).unwrap();
            let mut answers: Vec<Answer> = ops
                .into_iter()
                .map(|op| {
                    let w = self.writer.clone();
                    Box::pin(async move { w.write(move |conn| op.apply(conn)).await }) as Answer
                })
                .collect();
            for a in &mut answers {
                assert!(futures::poll!(a.as_mut()).is_pending());
            }
            release.send(()).unwrap();
            gate.await.unwrap();
            let mut out = Vec::new();
            for a in answers {
                out.push(a.await);
            }
            out
        }
    }

    /// Inserts a row, then fails if told to (after writing), counting its runs.
    struct Insert {
        value: &'static str,
        fail_after_write: bool,
        runs: Arc<AtomicUsize>,
    }

    impl Insert {
        fn new(value: &'static str, fail_after_write: bool) -> (Self, Arc<AtomicUsize>) {
            let runs = Arc::new(AtomicUsize::new(0));
            let op = Self {
                value,
                fail_after_write,
                runs: runs.clone(),
            };
            (op, runs)
        }

        fn apply(&self, conn: &Connection) -> Result<(), StoreError> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            conn.execute("INSERT INTO t (x) VALUES (?1)", params![self.value])
                .map_err(db_err)?;
            if self.fail_after_write {
                return Err(StoreError::Invalid(format!("{} refused", self.value)));
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_wal_is_checkpointed_and_starts_over() {
        let db = Db::new();
        db.writer
            .write(|conn| {
                conn.execute_batch("CREATE TABLE IF NOT EXISTS big (b BLOB NOT NULL)")
                    .map_err(db_err)
            })
            .await
            .unwrap();
        // 150 commits of 16 pages each: 2 400 frames without a checkpoint.
        for _ in 0..150 {
            db.writer
                .write(|conn| {
                    conn.execute("INSERT INTO big (b) VALUES (zeroblob(65536))", [])
                        .map(drop)
                        .map_err(db_err)
                })
                .await
                .unwrap();
        }
        let conn = Connection::open(db.dir.path().join("w.db")).unwrap();
        let (busy, frames): (i64, i64) = conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(busy, 0);
        assert!(
            frames < i64::from(CHECKPOINT_FRAMES) + 100,
            "the WAL holds {frames} frames: it was never checkpointed and restarted"
        );
    }

    #[tokio::test]
    async fn a_group_without_failures_runs_each_operation_once() {
        let db = Db::new();
        let (a, a_runs) = Insert::new("a", false);
        let (b, b_runs) = Insert::new("b", false);
        let answers = db.one_group(vec![a, b]).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        assert_eq!(db.rows(), ["a", "b"]);
        assert_eq!(
            (a_runs.load(Ordering::SeqCst), b_runs.load(Ordering::SeqCst)),
            (1, 1)
        );
    }

    #[tokio::test]
    async fn a_failing_operation_rolls_back_alone_and_the_others_commit_once() {
        let db = Db::new();
        let (a, a_runs) = Insert::new("a", false);
        let (b, _) = Insert::new("b", true);
        let (c, c_runs) = Insert::new("c", false);
        let answers = db.one_group(vec![a, b, c]).await;
        assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
        assert!(
            matches!(&answers[1], Err(StoreError::Invalid(m)) if m == "b refused"),
            "{answers:?}"
        );
        // b's row, written before it failed, is gone; a's and c's are there once each.
        assert_eq!(db.rows(), ["a", "c"]);
        // The group ran twice: a before b failed, then all in savepoints; c only then.
        assert_eq!(
            (a_runs.load(Ordering::SeqCst), c_runs.load(Ordering::SeqCst)),
            (2, 1)
        );
    }

    /// The writer calls `on_external_write` after another connection commits (another process,
    /// for SQLite), within about `WATCH_EVERY`, and never for its own commits.
    #[tokio::test]
    async fn another_connections_commit_is_seen_and_the_writers_own_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        let writer = Writer::start(
            &path,
            Box::new(move || {
                count.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
        for i in 0..5 {
            writer
                .write(move |conn| {
                    conn.execute_batch("CREATE TABLE IF NOT EXISTS t (x TEXT NOT NULL)")
                        .and_then(|()| conn.execute("INSERT INTO t (x) VALUES (?1)", [i]).map(drop))
                        .map_err(db_err)
                })
                .await
                .unwrap();
        }
        tokio::time::sleep(WATCH_EVERY * 3).await;
        assert_eq!(seen.load(Ordering::SeqCst), 0, "its own commits");
        let other = Connection::open(&path).unwrap();
        other.busy_timeout(Duration::from_secs(5)).unwrap();
        other
            .execute("INSERT INTO t (x) VALUES ('from elsewhere')", [])
            .unwrap();
        let started = Instant::now();
        while seen.load(Ordering::SeqCst) == 0 && started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(seen.load(Ordering::SeqCst), 1, "{:?}", started.elapsed());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // Seen once: nothing changed since.
        tokio::time::sleep(WATCH_EVERY * 3).await;
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }
}
