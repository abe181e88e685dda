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
    // 2: messages without the two unique indexes on random values (message id, receipt): each
    // insert, receive and delete dirtied a random page of each, written to the WAL at every
    // commit. A receipt now names its row (`seq#random`), so deletes and visibility changes find
    // the message by its key. Receipts handed out before the upgrade stop working (as a newer
    // receive would make them); their messages come back when their visibility ends.
    r#"
    CREATE TABLE messages_v2 (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        message_id TEXT NOT NULL,
        body TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        visible_at INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        receipt TEXT
    );
    INSERT INTO messages_v2 (seq, queue, message_id, body, sent_at, visible_at, receive_count, receipt)
        SELECT seq, queue, message_id, body, sent_at, visible_at, receive_count, NULL FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_v2 RENAME TO messages;
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

/// Pragmas of the writer's connection: a page cache large enough for the indexes' hot pages.
///
/// Checkpoints stay automatic, run by the writer right after a commit: a checkpoint thread of its
/// own was tried, but its PASSIVE checkpoints, racing the writer, rarely finish, so the WAL never
/// restarts and grows by the size of everything written (~280 MB for 20 000 events).
pub fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("PRAGMA cache_size = -65536;")
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn version_1_messages_survive_the_move_to_version_2() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch("PRAGMA user_version = 1").unwrap();
        conn.execute_batch(
            "INSERT INTO messages (queue, message_id, body, sent_at, visible_at, receive_count, receipt) \
             VALUES ('main', 'm-1', 'one', 1, 2, 1, 'm-1#r'), ('dlq', 'm-2', 'two', 3, 4, 5, NULL); \
             DELETE FROM messages WHERE message_id = 'm-1'; \
             INSERT INTO messages (queue, message_id, body, sent_at, visible_at) VALUES ('main', 'm-3', 'three', 5, 6);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 2);
        let rows: Vec<(i64, String, String, i64, Option<String>)> = conn
            .prepare("SELECT seq, queue, body, receive_count, receipt FROM messages ORDER BY seq")
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (2, "dlq".into(), "two".into(), 5, None),
                (3, "main".into(), "three".into(), 0, None)
            ]
        );
        // Keys keep growing past every key ever used (AUTOINCREMENT), and the only index left is
        // the visibility one.
        conn.execute_batch(
            "DELETE FROM messages WHERE seq = 3; \
             INSERT INTO messages (queue, message_id, body, sent_at, visible_at) VALUES ('main', 'm-4', 'four', 7, 8);",
        )
        .unwrap();
        let last: i64 = conn
            .query_row("SELECT MAX(seq) FROM messages", [], |r| r.get(0))
            .unwrap();
        assert_eq!(last, 4);
        let indexes: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(indexes, vec!["messages_visible".to_owned()]);
        // Migrating again changes nothing.
        migrate(&mut conn).unwrap();
    }
}
