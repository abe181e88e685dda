//! The group-commit writer: one thread owns the write connection, takes every operation waiting
//! on its channel, runs each in its own savepoint inside ONE transaction, commits, and only then
//! answers each caller. A failing operation rolls back alone; a failing commit fails them all.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{db_err, schema};
use crate::ports::StoreError;

/// Answers a caller once the fate of the transaction is known.
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Deliver + Send>;

/// Operations per transaction at most (bounds latency of one group).
const MAX_GROUP: usize = 512;

pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    pub fn start(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path).map_err(db_err)?;
        schema::configure(&conn).map_err(db_err)?;
        schema::migrate(&mut conn).map_err(db_err)?;
        schema::configure_writer(&conn).map_err(db_err)?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { tx })
    }

    /// Runs `f` inside the next group's transaction; resolves after the commit.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |conn: &Connection| {
            let result = in_savepoint(conn, f);
            Box::new(move |commit: Result<(), String>| {
                let out = match commit {
                    Ok(()) => result,
                    Err(e) => Err(StoreError::Unavailable(format!("commit failed: {e}"))),
                };
                let _ = done_tx.send(out);
            })
        });
        self.tx
            .send(job)
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        done_rx.await.map_err(|_| {
            StoreError::Unavailable("the database writer dropped the operation".into())
        })?
    }
}

fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    // Cached statements: every operation runs these two.
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

/// How often the writer reports its commits and operations (at `debug`).
const REPORT_EVERY: Duration = Duration::from_secs(5);

fn run(conn: Connection, rx: mpsc::Receiver<Job>) {
    let (mut commits, mut ops, mut since) = (0u64, 0u64, Instant::now());
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let msg = e.to_string();
            for j in jobs {
                // Not run: answer with the failure without touching the connection.
                drop(j);
                tracing::error!(error = %msg, "sqlite: cannot begin a transaction");
            }
            continue;
        }
        let delivers: Vec<Deliver> = jobs.into_iter().map(|j| j(&conn)).collect();
        let commit = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        commits += 1;
        ops += delivers.len() as u64;
        for d in delivers {
            d(commit.clone());
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
