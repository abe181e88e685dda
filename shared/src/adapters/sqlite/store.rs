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

fn row_to_event(r: &Row<'_>) -> Result<StoredEvent, StoreError> {
    let get_s = |i: usize| r.get::<_, String>(i).map_err(db_err);
    let get_i = |i: usize| r.get::<_, i64>(i).map_err(db_err);
    let get_os = |i: usize| r.get::<_, Option<String>>(i).map_err(db_err);
    let get_oi = |i: usize| r.get::<_, Option<i64>>(i).map_err(db_err);
    let u32_of = |v: i64| u32::try_from(v).map_err(|e| corrupt("counter", e));
    let body: Vec<u8> = r.get(7).map_err(db_err)?;
    let lease = match (get_os(18)?, get_oi(19)?, get_oi(20)?) {
        (Some(token), Some(g), Some(until)) => Some(Lease {
            token,
            generation: u32_of(g)?,
            until,
        }),
        _ => None,
    };
    Ok(StoredEvent {
        event_id: EventId::parse(&get_s(0)?).map_err(|e| corrupt("event_id", e))?,
        source: SourceName::parse(&get_s(1)?).map_err(|e| corrupt("source", e))?,
        delivery_id: DeliveryId::parse(&get_s(2)?).map_err(|e| corrupt("delivery_id", e))?,
        event_type: get_s(3)?,
        received_at: get_i(4)?,
        content_type: get_os(5)?,
        headers: serde_json::from_str(&get_s(6)?).map_err(|e| corrupt("headers", e))?,
        body: codec::decode_body(&body, MAX_BODY).map_err(|e| corrupt("body", e))?,
        secret_label: get_os(8)?,
        expires_at: get_i(9)?,
        status: EventStatus::parse(&get_s(10)?)
            .ok_or_else(|| corrupt("status", "unknown value"))?,
        generation: Generation::new(u32_of(get_i(11)?)?).map_err(|e| corrupt("generation", e))?,
        processed_generation: u32_of(get_i(12)?)?,
        attempts: u32_of(get_i(13)?)?,
        last_error: get_os(14)?,
        handlers_done: serde_json::from_str(&get_s(15)?)
            .map_err(|e| corrupt("handlers_done", e))?,
        handlers_generation: u32_of(get_i(16)?)?,
        attempt_log: serde_json::from_str(&get_s(17)?).map_err(|e| corrupt("attempt_log", e))?,
        lease,
        replay_run_id: get_os(21)?,
        updated_at: get_i(22)?,
        finished_at: get_oi(23)?,
    })
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

    async fn get_many(&self, ids: &[EventId]) -> Result<Vec<StoredEvent>, StoreError> {
        let ids: Vec<String> = ids.iter().map(|i| i.as_str().to_owned()).collect();
        self.reads
            .read(move |conn| {
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
                        out.push(row_to_event(r)?);
                    }
                }
                Ok(out)
            })
            .await
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
