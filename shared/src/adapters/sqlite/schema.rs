//! The database schema, versioned with `PRAGMA user_version`.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: events and messages.
    r#"
    CREATE TABLE events (
        event_id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        content_type TEXT,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        secret_label TEXT,
        expires_at INTEGER NOT NULL,
        status TEXT NOT NULL,
        generation INTEGER NOT NULL,
        processed_generation INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        last_error TEXT,
        handlers_done TEXT NOT NULL,
        handlers_generation INTEGER NOT NULL,
        attempt_log TEXT NOT NULL,
        lease_token TEXT,
        lease_generation INTEGER,
        lease_until INTEGER,
        replay_run_id TEXT,
        updated_at INTEGER NOT NULL,
        finished_at INTEGER,
        pending_since INTEGER
    );
    CREATE INDEX events_by_time ON events (received_at DESC, event_id DESC);
    CREATE INDEX events_by_source ON events (source, received_at DESC, event_id DESC);
    CREATE INDEX events_by_status ON events (status, received_at DESC);
    CREATE INDEX events_pending ON events (pending_since) WHERE pending_since IS NOT NULL;
    CREATE INDEX events_expiry ON events (expires_at);

    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        message_id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        visible_at INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        receipt TEXT UNIQUE
    );
    CREATE INDEX messages_visible ON messages (queue, visible_at, seq);
    "#,
];

/// Pragmas for every connection.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )?;
    Ok(())
}

/// Pragmas of the writer's connection: checkpoints are left to the checkpoint thread (the WAL is
/// still synced at every commit), and a page cache large enough for the indexes' hot pages.
pub fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -65536;")
}

/// Applies the migrations this database has not seen yet.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()
}
