//! The event store on SQLite, with the port's DynamoDB-shaped semantics: the conditional logic runs
//! inside the writer's transaction, so each operation is atomic.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::db_err;
use super::pool::ReadPool;
use super::writer::Writer;
use crate::codec;
use crate::model::{
    DeliveryId, EventId, EventStatus, Generation, Lease, Millis, NewEvent, SourceName, StoredEvent,
};
use crate::ports::{
    AbandonRequest, ClaimOutcome, ClaimRequest, EventFilter, EventStore, Page, PageRequest,
    PendingEvent, PutOutcome, RecordOutcome, RecordRequest, ReplayMark, StoreError,
};

/// Largest body a stored item may decode to.
const MAX_BODY: usize = 64 * 1024 * 1024;
const COLUMNS: &str = "event_id, source, delivery_id, event_type, received_at, content_type, headers, body, \
    secret_label, expires_at, status, generation, processed_generation, attempts, last_error, handlers_done, \
    handlers_generation, attempt_log, lease_token, lease_generation, lease_until, replay_run_id, updated_at, finished_at";

pub struct SqliteStore {
    writer: Arc<Writer>,
    reads: Arc<ReadPool>,
}

impl SqliteStore {
    pub(super) fn new(writer: Arc<Writer>, reads: Arc<ReadPool>) -> Self {
        Self { writer, reads }
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// An event's row as stored: read on the connection's thread, turned into a [`StoredEvent`] by
/// [`RawEvent::decode`] (the body decompressed, the JSON columns parsed) on the caller's.
struct RawEvent {
    event_id: String,
    source: String,
    delivery_id: String,
    event_type: String,
    received_at: i64,
    content_type: Option<String>,
    headers: String,
    body: Vec<u8>,
    secret_label: Option<String>,
    expires_at: i64,
    status: String,
    generation: i64,
    processed_generation: i64,
    attempts: i64,
    last_error: Option<String>,
    handlers_done: String,
    handlers_generation: i64,
    attempt_log: String,
    lease: (Option<String>, Option<i64>, Option<i64>),
    replay_run_id: Option<String>,
    updated_at: i64,
    finished_at: Option<i64>,
}

impl RawEvent {
    /// The [`COLUMNS`] of a row, in their order.
    fn read(r: &Row<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            event_id: r.get(0).map_err(db_err)?,
            source: r.get(1).map_err(db_err)?,
            delivery_id: r.get(2).map_err(db_err)?,
            event_type: r.get(3).map_err(db_err)?,
            received_at: r.get(4).map_err(db_err)?,
            content_type: r.get(5).map_err(db_err)?,
            headers: r.get(6).map_err(db_err)?,
            body: r.get(7).map_err(db_err)?,
            secret_label: r.get(8).map_err(db_err)?,
            expires_at: r.get(9).map_err(db_err)?,
            status: r.get(10).map_err(db_err)?,
            generation: r.get(11).map_err(db_err)?,
            processed_generation: r.get(12).map_err(db_err)?,
            attempts: r.get(13).map_err(db_err)?,
            last_error: r.get(14).map_err(db_err)?,
            handlers_done: r.get(15).map_err(db_err)?,
            handlers_generation: r.get(16).map_err(db_err)?,
            attempt_log: r.get(17).map_err(db_err)?,
            lease: (
                r.get(18).map_err(db_err)?,
                r.get(19).map_err(db_err)?,
                r.get(20).map_err(db_err)?,
            ),
            replay_run_id: r.get(21).map_err(db_err)?,
            updated_at: r.get(22).map_err(db_err)?,
            finished_at: r.get(23).map_err(db_err)?,
        })
    }

    fn decode(self) -> Result<StoredEvent, StoreError> {
        let u32_of = |v: i64| u32::try_from(v).map_err(|e| corrupt("counter", e));
        let lease = match self.lease {
            (Some(token), Some(g), Some(until)) => Some(Lease {
                token,
                generation: u32_of(g)?,
                until,
            }),
            _ => None,
        };
        Ok(StoredEvent {
            event_id: EventId::parse(&self.event_id).map_err(|e| corrupt("event_id", e))?,
            source: SourceName::parse(&self.source).map_err(|e| corrupt("source", e))?,
            delivery_id: DeliveryId::parse(&self.delivery_id)
                .map_err(|e| corrupt("delivery_id", e))?,
            event_type: self.event_type,
            received_at: self.received_at,
            content_type: self.content_type,
            headers: serde_json::from_str(&self.headers).map_err(|e| corrupt("headers", e))?,
            body: codec::decode_body(&self.body, MAX_BODY).map_err(|e| corrupt("body", e))?,
            secret_label: self.secret_label,
            expires_at: self.expires_at,
            status: EventStatus::parse(&self.status)
                .ok_or_else(|| corrupt("status", "unknown value"))?,
            generation: Generation::new(u32_of(self.generation)?)
                .map_err(|e| corrupt("generation", e))?,
            processed_generation: u32_of(self.processed_generation)?,
            attempts: u32_of(self.attempts)?,
            last_error: self.last_error,
            handlers_done: serde_json::from_str(&self.handlers_done)
                .map_err(|e| corrupt("handlers_done", e))?,
            handlers_generation: u32_of(self.handlers_generation)?,
            attempt_log: serde_json::from_str(&self.attempt_log)
                .map_err(|e| corrupt("attempt_log", e))?,
            lease,
            replay_run_id: self.replay_run_id,
            updated_at: self.updated_at,
            finished_at: self.finished_at,
        })
    }
}

fn row_to_event(r: &Row<'_>) -> Result<StoredEvent, StoreError> {
    RawEvent::read(r)?.decode()
}

fn load(conn: &Connection, id: &str) -> Result<Option<StoredEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM events WHERE event_id = ?1"))
        .map_err(db_err)?;
    let mut rows = stmt.query(params![id]).map_err(db_err)?;
    match rows.next().map_err(db_err)? {
        Some(r) => row_to_event(r).map(Some),
        None => Ok(None),
    }
}

fn insert(conn: &Connection, e: &NewEvent) -> Result<bool, StoreError> {
    insert_encoded(conn, e, &codec::encode_body(&e.body))
}

/// [`insert`] with the body already encoded (`codec::encode_body`), so that callers can compress
/// before their job reaches the writer thread.
fn insert_encoded(conn: &Connection, e: &NewEvent, body: &[u8]) -> Result<bool, StoreError> {
    // An expired item is gone, as DynamoDB's TTL would have removed it: it no longer dedupes.
    conn.prepare_cached("DELETE FROM events WHERE event_id = ?1 AND expires_at < ?2")
        .map_err(db_err)?
        .execute(params![e.event_id.as_str(), crate::clock::now_ms()])
        .map_err(db_err)?;
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO events (event_id, source, delivery_id, event_type, received_at, content_type, \
             headers, body, secret_label, expires_at, status, generation, processed_generation, attempts, \
             handlers_done, handlers_generation, attempt_log, updated_at, pending_since, lease_token, \
             lease_generation, lease_until) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'received', 1, 0, 0, '{}', 0, '[]', ?5, COALESCE(?13, ?5), ?11, ?12, ?13)",
        )
        .map_err(db_err)?
        .execute(params![
            e.event_id.as_str(),
            e.source.as_str(),
            e.delivery_id.as_str(),
            e.event_type,
            e.received_at,
            e.content_type,
            to_json(&e.headers)?,
            body,
            e.secret_label,
            e.expires_at,
            e.lease.as_ref().map(|l| l.token.as_str()),
            e.lease.as_ref().map(|l| l.generation),
            e.lease.as_ref().map(|l| l.until),
        ])
        .map_err(db_err)?;
    Ok(n == 1)
}

/// What `put_new` does, inside the caller's writer transaction, with the body already encoded:
/// insert the event unless its id is stored (and unexpired), else return the stored one.
/// Keep in step with `SqliteStore::put_new` (the intake's tests compare what both store).
pub(super) fn put_new_in(
    conn: &Connection,
    e: &NewEvent,
    encoded_body: &[u8],
) -> Result<PutOutcome, StoreError> {
    if insert_encoded(conn, e, encoded_body)? {
        return Ok(PutOutcome::Inserted);
    }
    let old = load(conn, e.event_id.as_str())?
        .ok_or_else(|| StoreError::Unavailable("row vanished inside a transaction".into()))?;
    Ok(PutOutcome::Duplicate(Box::new(old)))
}

/// Keyset cursor: newest-first position `(received_at, event_id)`.
fn encode_cursor(at: Millis, id: &str) -> String {
    B64.encode(format!("{at}:{id}"))
}

fn decode_cursor(c: &str) -> Result<(Millis, String), StoreError> {
    let bad = || StoreError::Invalid("cursor was not issued by this store".into());
    let raw = B64.decode(c).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    let id = EventId::parse(id).map_err(|_| bad())?;
    Ok((at.parse().map_err(|_| bad())?, id.as_str().to_owned()))
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn put_new(&self, event: &NewEvent) -> Result<PutOutcome, StoreError> {
        let e = event.clone();
        self.writer
            .write(move |conn| {
                if insert(conn, &e)? {
                    return Ok(PutOutcome::Inserted);
                }
                let old = load(conn, e.event_id.as_str())?.ok_or_else(|| {
                    StoreError::Unavailable("row vanished inside a transaction".into())
                })?;
                Ok(PutOutcome::Duplicate(Box::new(old)))
            })
            .await
    }

    async fn get(&self, id: &EventId) -> Result<Option<StoredEvent>, StoreError> {
        let id = id.as_str().to_owned();
        self.reads.read(move |conn| load(conn, &id)).await
    }

    /// On the writer's connection, unlike the other reads: the processor calls it for the events
    /// of a batch it has just received, whose pages the writer has just written and still holds.
    /// A read connection drops its whole page cache whenever another connection has committed
    /// (WAL), which the writer does several hundred times a second under load, so there every
    /// batch read its pages back through `pread` into a fresh cache: the local stack spent ~18 %
    /// more CPU per event that way (README, Local throughput). The rows are decoded (bodies
    /// decompressed) after the answer, off the writer's thread.
    async fn get_many(&self, ids: &[EventId]) -> Result<Vec<StoredEvent>, StoreError> {
        let ids: Vec<String> = ids.iter().map(|i| i.as_str().to_owned()).collect();
        let rows = self
            .writer
            .write(move |conn| {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let marks = vec!["?"; chunk.len()].join(",");
                    // Cached per list length: a processor batch (up to 10 ids) parses none.
                    let mut stmt = conn
                        .prepare_cached(&format!(
                            "SELECT {COLUMNS} FROM events WHERE event_id IN ({marks})"
                        ))
                        .map_err(db_err)?;
                    let mut rows = stmt.query(params_from_iter(chunk.iter())).map_err(db_err)?;
                    while let Some(r) = rows.next().map_err(db_err)? {
                        out.push(RawEvent::read(r)?);
                    }
                }
                Ok(out)
            })
            .await?;
        rows.into_iter().map(RawEvent::decode).collect()
    }

    async fn claim(&self, req: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        let req = req.clone();
        self.writer
            .write(move |conn| {
                let Some(e) = load(conn, req.event_id.as_str())? else {
                    return Ok(ClaimOutcome::NotFound);
                };
                let g = req.generation.get();
                if e.processed_generation >= g {
                    return Ok(ClaimOutcome::AlreadyProcessed);
                }
                if e.generation.get() > g {
                    return Ok(ClaimOutcome::Superseded { current: e.generation });
                }
                if e.generation.get() < g {
                    return Err(StoreError::Invalid(format!("generation {g} was never enqueued")));
                }
                if let Some(l) = &e.lease
                    && l.until >= req.now
                    && req.held.as_deref() != Some(l.token.as_str())
                {
                    return Ok(ClaimOutcome::Leased { until: l.until });
                }
                // Until recorded, the event stays on the sweep's index from the end of its lease.
                conn.prepare_cached(
                    "UPDATE events SET status = 'processing', attempts = attempts + 1, lease_token = ?2, \
                     lease_generation = ?3, lease_until = ?4, updated_at = ?5, pending_since = ?4 WHERE event_id = ?1",
                )
                .map_err(db_err)?
                .execute(params![req.event_id.as_str(), req.token, g, req.lease_until, req.now])
                .map_err(db_err)?;
                let after = load(conn, req.event_id.as_str())?
                    .ok_or_else(|| StoreError::Unavailable("row vanished inside a transaction".into()))?;
                Ok(ClaimOutcome::Claimed(Box::new(after)))
            })
            .await
    }

    async fn record(&self, req: &RecordRequest) -> Result<RecordOutcome, StoreError> {
        let req = req.clone();
        let done = to_json(&req.handlers_done)?;
        let log = to_json(&req.attempt_log)?;
        self.writer
            .write(move |conn| {
                let held: Option<(Option<String>, u32)> = conn
                    .prepare_cached("SELECT lease_token, generation FROM events WHERE event_id = ?1")
                    .map_err(db_err)?
                    .query_row(params![req.event_id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(db_err)?;
                match held {
                    Some((Some(token), g)) if token == req.token && g == req.generation.get() => {}
                    _ => return Ok(RecordOutcome::LeaseLost),
                }
                let g = req.generation.get();
                let processed: Option<u32> = req.final_for_generation.then_some(g);
                let finished: Option<Millis> = req.status.is_final().then_some(req.now);
                conn.prepare_cached(
                    "UPDATE events SET status = ?2, last_error = ?3, handlers_done = ?4, handlers_generation = ?5, \
                     attempt_log = ?6, updated_at = ?7, processed_generation = COALESCE(?8, processed_generation), \
                     finished_at = COALESCE(?9, finished_at), lease_token = NULL, lease_generation = NULL, \
                     lease_until = NULL, pending_since = ?10, attempts = attempts + ?11 WHERE event_id = ?1",
                )
                .map_err(db_err)?
                .execute(params![
                    req.event_id.as_str(),
                    req.status.as_str(),
                    req.last_error,
                    done,
                    g,
                    log,
                    req.now,
                    processed,
                    finished,
                    req.retry_at,
                    u32::from(req.add_attempt)
                ])
                .map_err(db_err)?;
                Ok(RecordOutcome::Recorded)
            })
            .await
    }

    async fn mark_replay(&self, mark: &ReplayMark) -> Result<Option<StoredEvent>, StoreError> {
        let mark = mark.clone();
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "UPDATE events SET generation = generation + 1, status = 'received', replay_run_id = ?2, \
                         updated_at = ?3, pending_since = ?3, finished_at = NULL, lease_token = NULL, \
                         lease_generation = NULL, lease_until = NULL WHERE event_id = ?1",
                    )
                    .map_err(db_err)?
                    .execute(params![mark.event_id.as_str(), mark.run_id, mark.now])
                    .map_err(db_err)?;
                if n == 0 {
                    return Ok(None);
                }
                load(conn, mark.event_id.as_str())
            })
            .await
    }

    async fn release(&self, id: &EventId, token: &str) -> Result<bool, StoreError> {
        let (id, token) = (id.as_str().to_owned(), token.to_owned());
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "UPDATE events SET lease_token = NULL, lease_generation = NULL, lease_until = NULL, \
                         pending_since = received_at WHERE event_id = ?1 AND lease_token = ?2 AND status = 'received'",
                    )
                    .map_err(db_err)?
                    .execute(params![id, token])
                    .map_err(db_err)?;
                Ok(n == 1)
            })
            .await
    }

    async fn mark_abandoned(&self, req: &AbandonRequest) -> Result<bool, StoreError> {
        let req = req.clone();
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "UPDATE events SET status = 'dead', last_error = ?3, updated_at = ?4, finished_at = ?4, \
                         lease_token = NULL, lease_generation = NULL, lease_until = NULL, pending_since = NULL \
                         WHERE event_id = ?1 AND status IN ('processing', 'retrying') AND generation = ?2 \
                         AND pending_since = ?5 AND pending_since < ?4",
                    )
                    .map_err(db_err)?
                    .execute(params![req.event_id.as_str(), req.generation.get(), req.reason, req.now, req.since])
                    .map_err(db_err)?;
                Ok(n == 1)
            })
            .await
    }

    async fn pending(
        &self,
        older_than: Millis,
        limit: usize,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        let now = crate::clock::now_ms();
        // Expired events go, as DynamoDB's TTL would remove them.
        self.writer
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM events WHERE expires_at < ?1")
                    .map_err(db_err)?
                    .execute(params![now])
                    .map_err(db_err)
            })
            .await?;
        self.reads
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT event_id, generation, pending_since, status FROM events \
                         WHERE pending_since IS NOT NULL AND pending_since < ?1 AND status IN ('received', 'processing', 'retrying') \
                         ORDER BY pending_since LIMIT ?2",
                    )
                    .map_err(db_err)?;
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let mut rows = stmt.query(params![older_than, limit]).map_err(db_err)?;
                let mut out = Vec::new();
                while let Some(r) = rows.next().map_err(db_err)? {
                    let id: String = r.get(0).map_err(db_err)?;
                    let g: i64 = r.get(1).map_err(db_err)?;
                    out.push(PendingEvent {
                        event_id: EventId::parse(&id).map_err(|e| corrupt("event_id", e))?,
                        generation: u32::try_from(g)
                            .ok()
                            .and_then(|g| Generation::new(g).ok())
                            .ok_or_else(|| corrupt("generation", g))?,
                        since: r.get(2).map_err(db_err)?,
                        status: {
                            let st: String = r.get(3).map_err(db_err)?;
                            EventStatus::parse(&st)
                                .ok_or_else(|| corrupt("status", "unknown value"))?
                        },
                    });
                }
                Ok(out)
            })
            .await
    }

    async fn list(&self, filter: &EventFilter, page: &PageRequest) -> Result<Page, StoreError> {
        let after = page.cursor.as_deref().map(decode_cursor).transpose()?;
        let limit = page.limit.clamp(1, 1000);
        let f = filter.clone();
        self.reads
            .read(move |conn| {
                let mut clauses: Vec<&str> = Vec::new();
                let mut args: Vec<SqlValue> = Vec::new();
                if let Some(s) = &f.source {
                    clauses.push("source = ?");
                    args.push(SqlValue::Text(s.to_string()));
                }
                if let Some(s) = f.status {
                    clauses.push("status = ?");
                    args.push(SqlValue::Text(s.as_str().into()));
                }
                if let Some(t) = &f.event_type {
                    clauses.push("event_type = ?");
                    args.push(SqlValue::Text(t.clone()));
                }
                if let Some(d) = &f.delivery_id {
                    clauses.push("delivery_id = ?");
                    args.push(SqlValue::Text(d.to_string()));
                }
                if let Some(t) = f.since {
                    clauses.push("received_at >= ?");
                    args.push(SqlValue::Integer(t));
                }
                if let Some(t) = f.until {
                    clauses.push("received_at < ?");
                    args.push(SqlValue::Integer(t));
                }
                if let Some((at, id)) = &after {
                    clauses.push("(received_at < ? OR (received_at = ? AND event_id < ?))");
                    args.push(SqlValue::Integer(*at));
                    args.push(SqlValue::Integer(*at));
                    args.push(SqlValue::Text(id.clone()));
                }
                let where_ = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
                args.push(SqlValue::Integer(i64::try_from(limit + 1).unwrap_or(i64::MAX)));
                let sql = format!("SELECT {COLUMNS} FROM events {where_} ORDER BY received_at DESC, event_id DESC LIMIT ?");
                let mut stmt = conn.prepare(&sql).map_err(db_err)?;
                let mut rows = stmt.query(params_from_iter(args.iter())).map_err(db_err)?;
                let mut events = Vec::new();
                while let Some(r) = rows.next().map_err(db_err)? {
                    events.push(row_to_event(r)?);
                }
                let next_cursor = if events.len() > limit {
                    events.truncate(limit);
                    events.last().map(|e| encode_cursor(e.received_at, e.event_id.as_str()))
                } else {
                    None
                };
                Ok(Page { events, next_cursor })
            })
            .await
    }
}

// The fixtures are the contract suite's (feature `contract`, on in every test run of the workspace).
#[cfg(all(test, feature = "contract"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use rusqlite::Connection;

    use super::super::DB_FILE;
    use crate::contract::fixtures;
    use crate::ports::StoreError;

    fn open(dir: &std::path::Path) -> super::super::SqliteBackend {
        super::super::open_for_tests(dir, 3)
    }

    /// A batch read goes through the writer's connection: it must see what another process
    /// committed (the CLI beside `serve`), not a snapshot the writer kept.
    #[tokio::test]
    async fn a_batch_read_sees_what_another_process_stored() {
        let dir = tempfile::tempdir().unwrap();
        let here = open(dir.path()).store();
        let before = fixtures::event("github", "d-before", crate::clock::now_ms());
        here.put_new(&before).await.unwrap();
        assert_eq!(
            here.get_many(std::slice::from_ref(&before.event_id))
                .await
                .unwrap()
                .len(),
            1
        );

        let elsewhere = open(dir.path()).store();
        let after = fixtures::event("github", "d-after", crate::clock::now_ms());
        elsewhere.put_new(&after).await.unwrap();

        let got = here
            .get_many(&[before.event_id.clone(), after.event_id.clone()])
            .await
            .unwrap();
        let mut ids: Vec<_> = got.iter().map(|e| e.event_id.as_str().to_owned()).collect();
        ids.sort();
        let mut want = vec![
            before.event_id.as_str().to_owned(),
            after.event_id.as_str().to_owned(),
        ];
        want.sort();
        assert_eq!(ids, want);
        let stored = got.iter().find(|e| e.event_id == after.event_id).unwrap();
        assert_eq!(stored.body, after.body, "the body comes back decompressed");
    }

    /// A row whose body no longer decodes is reported as corrupt by both read paths (the batch
    /// read decodes after the writer answered, a single read on a read connection), and the
    /// other events still read.
    #[tokio::test]
    async fn a_row_that_does_not_decode_is_corrupt_on_both_read_paths() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).store();
        let now = crate::clock::now_ms();
        let (broken, intact) = (
            fixtures::event("github", "d-broken", now),
            fixtures::event("github", "d-intact", now),
        );
        store.put_new(&broken).await.unwrap();
        store.put_new(&intact).await.unwrap();
        Connection::open(dir.path().join(DB_FILE))
            .unwrap()
            .execute(
                "UPDATE events SET body = x'7f00' WHERE event_id = ?1",
                [broken.event_id.as_str()],
            )
            .unwrap();

        let is_body = |e: &StoreError| matches!(e, StoreError::Corrupt(m) if m.starts_with("body"));
        let err = store
            .get_many(&[broken.event_id.clone(), intact.event_id.clone()])
            .await
            .unwrap_err();
        assert!(is_body(&err), "{err:?}");
        let err = store.get(&broken.event_id).await.unwrap_err();
        assert!(is_body(&err), "{err:?}");
        let got = store
            .get_many(std::slice::from_ref(&intact.event_id))
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, intact.body);
    }
}
