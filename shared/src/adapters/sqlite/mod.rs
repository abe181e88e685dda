//! The embedded, persistent backend of the local stack: one SQLite database (WAL,
//! `synchronous=FULL`) holding the event store and two queues (main and dead-letter) with SQS
//! semantics — visibility timeout, receive count, `ChangeMessageVisibility`, redrive to the DLQ after
//! `max_receive_count` receives, batches of up to 10.
//!
//! Every write goes through one writer thread that commits groups of operations together (group
//! commit): a caller's `Ok` means its operation is on disk, and concurrent callers share one fsync.
//! Reads use separate connections. Ingest stores a new event and its pointer message as one
//! operation (`SqliteBackend::intake`, the optional `AtomicIntake` capability). Several processes may open the same data dir (the CLI while
//! `hookgate serve` runs): SQLite's locking and a busy timeout serialize their writes.

mod intake;
mod pool;
mod queue;
mod schema;
mod store;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::ports::{AtomicIntake, EventStore, Queue, StoreError};

pub use intake::SqliteIntake;
pub use queue::{QueueKind, SqliteQueue};
pub use store::SqliteStore;

/// Queue settings (the SQS queue attributes of the local stack).
#[derive(Debug, Clone, Copy)]
pub struct SqliteOptions {
    /// Receives after which a main-queue message moves to the DLQ.
    pub max_receive_count: u32,
    /// Default visibility timeout of a receive.
    pub visibility_timeout: Duration,
}

/// The database file inside a data dir.
pub const DB_FILE: &str = "hookgate.db";

#[derive(Clone)]
pub struct SqliteBackend {
    store: Arc<SqliteStore>,
    queue: Arc<SqliteQueue>,
    dlq: Arc<SqliteQueue>,
    intake: Arc<SqliteIntake>,
}

impl SqliteBackend {
    /// Opens (creating and migrating as needed) `data_dir/hookgate.db`.
    pub fn open(data_dir: &Path, opts: SqliteOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path: PathBuf = data_dir.join(DB_FILE);
        // Wakes this process's long polls: on its own sends (the queues and intake notify it)
        // and, through the writer's watch, on another process's writes.
        let notify = Arc::new(tokio::sync::Notify::new());
        let woken = notify.clone();
        let writer = Arc::new(writer::Writer::start(
            &path,
            Box::new(move || woken.notify_waiters()),
        )?);
        let reads = Arc::new(pool::ReadPool::new(path));
        Ok(Self {
            store: Arc::new(SqliteStore::new(writer.clone(), reads.clone())),
            intake: Arc::new(SqliteIntake::new(writer.clone(), notify.clone())),
            queue: Arc::new(SqliteQueue::new(
                QueueKind::Main,
                opts,
                writer.clone(),
                reads.clone(),
                notify.clone(),
            )),
            dlq: Arc::new(SqliteQueue::new(
                QueueKind::Dead,
                opts,
                writer,
                reads,
                notify,
            )),
        })
    }

    pub fn store(&self) -> Arc<dyn EventStore> {
        self.store.clone()
    }

    pub fn queue(&self) -> Arc<dyn Queue> {
        self.queue.clone()
    }

    pub fn dlq(&self) -> Arc<dyn Queue> {
        self.dlq.clone()
    }

    /// The event and its pointer message in one transaction (see [`AtomicIntake`]); for ingest
    /// on this backend's store and main queue.
    pub fn intake(&self) -> Arc<dyn AtomicIntake> {
        self.intake.clone()
    }
}

/// The backend the module's tests open: main-queue messages move to the DLQ after
/// `max_receive_count` receives; 30 s visibility timeout.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(super) fn open_for_tests(dir: &Path, max_receive_count: u32) -> SqliteBackend {
    SqliteBackend::open(
        dir,
        SqliteOptions {
            max_receive_count,
            visibility_timeout: Duration::from_secs(30),
        },
    )
    .unwrap()
}

pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}
