//! The database schema, versioned with `PRAGMA user_version`.

use rusqlite::Connection;
use rusqlite::config::DbConfig;

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

/// Plans fixed when a statement is prepared (the query planner stability guarantee), on every
/// connection, the read pool's included. Without it, SQLite marks a statement for re-preparing
/// whenever a bound value could change its plan (`LIMIT ?`, a `col = ?` filter beside the key),
/// and expires it when its bindings are cleared, which rusqlite's statement cache does each time
/// a statement goes back: every receive was parsed and planned again on every call.
pub fn fix_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map(drop)
}

/// Pragmas for every connection that writes.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    fix_plans(conn)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )?;
    Ok(())
}

/// Pragmas of the writer's connection: a page cache large enough for the indexes' hot pages.
///
/// Checkpoints stay with the writer thread, which runs them between groups (`writer.rs`, after
/// answering the group whose commit took the WAL over the threshold): a checkpoint thread of its
/// own was tried, but its PASSIVE checkpoints, racing the writer, rarely finish, so the WAL never
/// restarts and grows by the size of everything written (~280 MB for 20 000 events).
///
/// Temporary storage in memory: each operation of a group runs in its own savepoint, whose
/// sub-journal (a copy of every page the operation changes that the group had already changed)
/// otherwise spills to a temporary file past 64 KiB, and then stays a file, so every page copy
/// became two `pwrite` calls; in memory it is truncated at each release.
pub fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;")
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
    use rusqlite::{StatementStatus, params};

    use super::*;

    /// Runs the queue's two `LIMIT ?` statements (a receive and its redrive check) three times
    /// each through the statement cache, with other values each time, and counts how often
    /// SQLite prepared them again.
    fn reprepares(conn: &mut Connection) -> [i32; 2] {
        migrate(conn).unwrap();
        let receive = "SELECT seq, message_id, body, sent_at, receive_count FROM messages \
                       WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, seq LIMIT ?3";
        let redrive = "UPDATE messages SET queue = 'dlq', visible_at = ?2, receipt = NULL \
                       WHERE receive_count >= ?1 AND seq IN (SELECT seq FROM messages \
                       WHERE queue = 'main' AND visible_at <= ?2 ORDER BY visible_at, seq LIMIT ?3)";
        for i in 0..3_i64 {
            let mut s = conn.prepare_cached(receive).unwrap();
            s.query_map(params!["main", i, 10 - i], |r| r.get::<_, i64>(0))
                .unwrap()
                .for_each(drop);
            let mut s = conn.prepare_cached(redrive).unwrap();
            s.execute(params![5, i, 10 - i]).unwrap();
        }
        [receive, redrive].map(|sql| {
            conn.prepare_cached(sql)
                .unwrap()
                .get_status(StatementStatus::RePrepare)
        })
    }

    #[test]
    fn cached_statements_are_not_prepared_again_for_new_values() {
        let mut conn = Connection::open_in_memory().unwrap();
        configure(&conn).unwrap();
        assert_eq!(reprepares(&mut conn), [0, 0]);
        // Without the setting, the same calls prepare both statements again each time (the check
        // above can fail).
        let mut plain = Connection::open_in_memory().unwrap();
        assert_eq!(reprepares(&mut plain), [3, 3]);
    }

    #[test]
    fn the_writer_keeps_temporary_storage_in_memory() {
        let conn = Connection::open_in_memory().unwrap();
        let store =
            |c: &Connection| -> i64 { c.query_row("PRAGMA temp_store", [], |r| r.get(0)).unwrap() };
        assert_eq!(store(&conn), 0, "the default: SQLite's build option");
        configure_writer(&conn).unwrap();
        assert_eq!(store(&conn), 2, "MEMORY");
    }

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
