//! The event store on DynamoDB.
//!
//! Table: partition key `event_id` (S). GSI `by_source` (`source` S, `received_at` N, all
//! attributes) for listing and bulk replay. Sparse GSI `pending` (`pending_shard` S,
//! `pending_since` N, plus `generation`): its attributes exist only while an event is `received`.
//! TTL on `expires_at` (epoch seconds). Every port method is one DynamoDB call (plus paging), and
//! none reads before it writes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use serde::Deserialize;
use serde_dynamo::{from_item, to_attribute_value};

use super::dynamodb::{AttributeValue, DynamoDb, KeysAndAttributes, Request, Written};
use super::error::AwsError;
use super::item::{
    INDEX_BY_SOURCE, INDEX_PENDING, attr, item_size, item_to_event, new_event_item, pending_shard,
    pending_shards,
};
use super::payloads::{ITEM_BUDGET, PayloadBucket};
use crate::model::{EventId, EventStatus, Generation, Millis, NewEvent, StoredEvent};
use crate::ports::{
    AbandonRequest, ClaimOutcome, ClaimRequest, EventFilter, EventStore, Page, PageRequest,
    PendingEvent, PutOutcome, RecordOutcome, RecordRequest, ReplayMark, StoreError,
};

/// `BatchGetItem` takes at most this many keys.
const BATCH_GET_MAX: usize = 100;
/// How many times `get_many` re-asks for `UnprocessedKeys` before giving up.
const UNPROCESSED_RETRIES: u32 = 5;
/// The largest page DynamoDB is asked for at once.
const MAX_PAGE: usize = 1000;

/// The DynamoDB event store.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: DynamoDb,
    table: String,
    payloads: Option<PayloadBucket>,
}

impl DynamoStore {
    /// No network call: the client is used as it is.
    pub fn new(client: DynamoDb, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            payloads: None,
        }
    }

    /// Bodies too large for an item go to this bucket (the claim check); without one they are
    /// refused as too large (413 at ingest).
    pub fn with_payloads(mut self, payloads: Option<PayloadBucket>) -> Self {
        self.payloads = payloads;
        self
    }

    /// Moves the body of an oversized item to the payload bucket, leaving its key.
    async fn offload_body(
        &self,
        id: &EventId,
        item: &mut HashMap<String, AttributeValue>,
    ) -> Result<(), StoreError> {
        let Some(p) = &self.payloads else {
            return Ok(());
        };
        if item_size(item) <= ITEM_BUDGET {
            return Ok(());
        }
        let Some(AttributeValue::B(stored)) = item.remove(attr::BODY) else {
            return Err(StoreError::Invalid(format!("item {id} has no body")));
        };
        let key = PayloadBucket::key(id, &stored);
        p.put(&key, stored).await?;
        item.insert(attr::BODY.to_owned(), AttributeValue::B(Vec::new()));
        item.insert(attr::BODY_REF.to_owned(), s(&key));
        Ok(())
    }

    /// One conditional `UpdateItem`: the item's attributes as asked (`ReturnValue`), or `None` when
    /// the condition did not hold.
    async fn update_if(
        &self,
        id: &EventId,
        up: &Update,
        cond: String,
        ex: &Expr,
        returns: &'static str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let key = Self::key(id);
        let update = up.render();
        let request = Request {
            key: Some(&key),
            update_expression: Some(&update),
            condition_expression: Some(&cond),
            return_values: Some(returns),
            ..ex.request(&self.table)
        };
        match self.client.write("UpdateItem", &request).await? {
            Written::Done(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Written::ConditionFailed(_) => Ok(None),
        }
    }

    /// An item back into an event, reading its body from the payload bucket if it is there.
    async fn to_event(
        &self,
        mut item: HashMap<String, AttributeValue>,
    ) -> Result<StoredEvent, StoreError> {
        if let Some(AttributeValue::S(key)) = item.get(attr::BODY_REF) {
            let Some(p) = &self.payloads else {
                return Err(StoreError::Corrupt(format!(
                    "the body is in the payload bucket under {key}, but no bucket is configured \
                     (HOOKGATE_PAYLOAD_BUCKET)"
                )));
            };
            let stored = p.get(key).await?;
            item.insert(attr::BODY.to_owned(), AttributeValue::B(stored.to_vec()));
        }
        item_to_event(item)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &DynamoDb {
        &self.client
    }

    fn key(id: &EventId) -> HashMap<String, AttributeValue> {
        HashMap::from([(attr::EVENT_ID.to_owned(), s(id.as_str()))])
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Collects `#name` placeholders and `:value`s for one expression.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    /// `#attr`, registered.
    fn n(&mut self, attr: &str) -> String {
        let p = format!("#{attr}");
        self.names.insert(p.clone(), attr.to_owned());
        p
    }
    /// `:key`, registered with its value.
    fn v(&mut self, key: &str, value: AttributeValue) -> String {
        let p = format!(":{key}");
        self.values.insert(p.clone(), value);
        p
    }
    /// A request on `table` with this expression's names and values.
    fn request<'a>(&'a self, table: &'a str) -> Request<'a> {
        Request {
            table_name: table,
            expression_attribute_names: (!self.names.is_empty()).then_some(&self.names),
            expression_attribute_values: (!self.values.is_empty()).then_some(&self.values),
            ..Request::default()
        }
    }
}

/// Builds `SET a, b REMOVE c, d`.
#[derive(Default)]
struct Update {
    set: Vec<String>,
    remove: Vec<String>,
}

impl Update {
    fn render(&self) -> String {
        let mut out = String::new();
        if !self.set.is_empty() {
            out.push_str("SET ");
            out.push_str(&self.set.join(", "));
        }
        if !self.remove.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str("REMOVE ");
            out.push_str(&self.remove.join(", "));
        }
        out
    }
}

fn status_value(st: EventStatus) -> AttributeValue {
    s(st.as_str())
}

fn encode_err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("{what} cannot be encoded: {e}"))
}

/// Puts the event on the sweep's sparse `pending` index from `since_v` (a value placeholder).
fn on_sweep_index(ex: &mut Expr, up: &mut Update, id: &EventId, since_v: &str) {
    up.set.push(format!(
        "{} = {}",
        ex.n(attr::PENDING_SHARD),
        ex.v("shard", s(pending_shard(id)))
    ));
    up.set
        .push(format!("{} = {since_v}", ex.n(attr::PENDING_SINCE)));
}

/// Why a claim's condition failed, read from the item as it was (`ALL_OLD`).
pub(crate) fn classify_claim(old: &StoredEvent, g: Generation, now: Millis) -> ClaimOutcome {
    if old.processed_generation >= g.get() {
        ClaimOutcome::AlreadyProcessed
    } else if old.generation > g {
        ClaimOutcome::Superseded {
            current: old.generation,
        }
    } else if old.generation < g {
        // The message names a generation the stored event never reached (the item expired and
        // the delivery was stored anew): that generation does not exist.
        ClaimOutcome::NotFound
    } else {
        match &old.lease {
            Some(l) if l.until >= now => ClaimOutcome::Leased { until: l.until },
            // Unreachable while the condition mirrors the checks above; report the lease state
            // rather than invent a success.
            Some(l) => ClaimOutcome::Leased { until: l.until },
            None => ClaimOutcome::Leased { until: now },
        }
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn put_new(&self, event: &NewEvent) -> Result<PutOutcome, StoreError> {
        let mut item = new_event_item(event)?;
        self.offload_body(&event.event_id, &mut item).await?;
        let mut ex = Expr::default();
        let cond = format!("attribute_not_exists({})", ex.n(attr::EVENT_ID));
        let request = Request {
            item: Some(&item),
            condition_expression: Some(&cond),
            return_values_on_condition_check_failure: Some("ALL_OLD"),
            ..ex.request(&self.table)
        };
        match self.client.write("PutItem", &request).await? {
            Written::Done(_) => Ok(PutOutcome::Inserted),
            Written::ConditionFailed(old) => {
                let old = old.ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "{} exists but the conditional check returned no item",
                        event.event_id
                    ))
                })?;
                // Not read back from the payload bucket: ingest needs the state, not the body
                // (and its role has no s3:GetObject).
                Ok(PutOutcome::Duplicate(Box::new(item_to_event(old)?)))
            }
        }
    }

    async fn get(&self, id: &EventId) -> Result<Option<StoredEvent>, StoreError> {
        let key = Self::key(id);
        let request = Request {
            table_name: &self.table,
            key: Some(&key),
            consistent_read: Some(true),
            ..Request::default()
        };
        let out = self.client.call("GetItem", &request).await?;
        match out.item {
            Some(item) => Ok(Some(self.to_event(item).await?)),
            None => Ok(None),
        }
    }

    async fn get_many(&self, ids: &[EventId]) -> Result<Vec<StoredEvent>, StoreError> {
        let mut seen = HashSet::new();
        let unique: Vec<&EventId> = ids.iter().filter(|id| seen.insert(*id)).collect();
        let mut found: HashMap<String, StoredEvent> = HashMap::new();
        for chunk in unique.chunks(BATCH_GET_MAX) {
            let keys: Vec<HashMap<String, AttributeValue>> =
                chunk.iter().map(|id| Self::key(id)).collect();
            let mut pending = Some(KeysAndAttributes {
                keys,
                consistent_read: Some(true),
            });
            let mut round = 0u32;
            while let Some(request) = pending.take() {
                if round > 0 {
                    if round > UNPROCESSED_RETRIES {
                        return Err(StoreError::Unavailable(format!(
                            "BatchGetItem left keys unprocessed after {UNPROCESSED_RETRIES} retries"
                        )));
                    }
                    let backoff = 20u64.saturating_mul(1 << round.min(6));
                    tokio::time::sleep(Duration::from_millis(backoff)).await;
                }
                round += 1;
                let out = self.client.batch_get(&self.table, &request).await?;
                if let Some(mut responses) = out.responses
                    && let Some(items) = responses.remove(&self.table)
                {
                    for item in items {
                        let ev = self.to_event(item).await?;
                        found.insert(ev.event_id.as_str().to_owned(), ev);
                    }
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
            }
        }
        Ok(unique
            .into_iter()
            .filter_map(|id| found.remove(id.as_str()))
            .collect())
    }

    async fn claim(&self, req: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        let mut ex = Expr::default();
        let g = req.generation.get();
        let (gen_n, proc_n, lease_n) = (
            ex.n(attr::GENERATION),
            ex.n(attr::PROCESSED_GENERATION),
            ex.n(attr::LEASE_UNTIL),
        );
        let (g_v, now_v) = (ex.v("g", n(g)), ex.v("now", n(req.now)));
        let until_v = ex.v("until", n(req.lease_until));
        let mut cond = format!(
            "{gen_n} = {g_v} AND {proc_n} < {g_v} AND \
             (attribute_not_exists({lease_n}) OR {lease_n} < {now_v}"
        );
        match &req.held {
            Some(held) => cond.push_str(&format!(
                " OR {} = {})",
                ex.n(attr::LEASE_TOKEN),
                ex.v("held", s(held))
            )),
            None => cond.push(')'),
        }
        let mut up = Update::default();
        up.set.push(format!(
            "{} = {}",
            ex.n(attr::STATUS),
            ex.v("processing", status_value(EventStatus::Processing))
        ));
        up.set.push(format!(
            "{} = {}",
            ex.n(attr::LEASE_TOKEN),
            ex.v("token", s(&req.token))
        ));
        up.set
            .push(format!("{} = {g_v}", ex.n(attr::LEASE_GENERATION)));
        up.set.push(format!("{lease_n} = {until_v}"));
        let attempts = ex.n(attr::ATTEMPTS);
        up.set
            .push(format!("{attempts} = {attempts} + {}", ex.v("one", n(1))));
        up.set.push(format!("{} = {now_v}", ex.n(attr::UPDATED_AT)));
        // Until recorded, the event stays on the sweep's index from the end of its lease.
        on_sweep_index(&mut ex, &mut up, &req.event_id, &until_v);

        let key = Self::key(&req.event_id);
        let update = up.render();
        let request = Request {
            key: Some(&key),
            update_expression: Some(&update),
            condition_expression: Some(&cond),
            return_values: Some("ALL_NEW"),
            return_values_on_condition_check_failure: Some("ALL_OLD"),
            ..ex.request(&self.table)
        };
        match self.client.write("UpdateItem", &request).await? {
            Written::Done(out) => {
                let item = out.attributes.ok_or_else(|| {
                    StoreError::Corrupt(format!("claim of {} returned no item", req.event_id))
                })?;
                Ok(ClaimOutcome::Claimed(Box::new(self.to_event(item).await?)))
            }
            Written::ConditionFailed(None) => Ok(ClaimOutcome::NotFound),
            Written::ConditionFailed(Some(old)) => Ok(classify_claim(
                &item_to_event(old)?,
                req.generation,
                req.now,
            )),
        }
    }

    async fn record(&self, req: &RecordRequest) -> Result<RecordOutcome, StoreError> {
        let mut ex = Expr::default();
        let g = req.generation.get();
        let g_v = ex.v("g", n(g));
        let now_v = ex.v("now", n(req.now));
        let cond = format!(
            "{} = {} AND {} = {g_v}",
            ex.n(attr::LEASE_TOKEN),
            ex.v("token", s(&req.token)),
            ex.n(attr::GENERATION)
        );
        let mut up = Update::default();
        up.set.push(format!(
            "{} = {}",
            ex.n(attr::STATUS),
            ex.v("status", status_value(req.status))
        ));
        up.set.push(format!("{} = {now_v}", ex.n(attr::UPDATED_AT)));
        up.set
            .push(format!("{} = {g_v}", ex.n(attr::HANDLERS_GENERATION)));
        if req.handlers_done.is_empty() {
            up.remove.push(ex.n(attr::HANDLERS_DONE));
        } else {
            let done: BTreeMap<&str, &str> = req
                .handlers_done
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let val = to_attribute_value(done).map_err(|e| encode_err("handlers_done", e))?;
            up.set.push(format!(
                "{} = {}",
                ex.n(attr::HANDLERS_DONE),
                ex.v("done", val)
            ));
        }
        if req.attempt_log.is_empty() {
            up.remove.push(ex.n(attr::ATTEMPT_LOG));
        } else {
            let val =
                to_attribute_value(&req.attempt_log).map_err(|e| encode_err("attempt_log", e))?;
            up.set.push(format!(
                "{} = {}",
                ex.n(attr::ATTEMPT_LOG),
                ex.v("log", val)
            ));
        }
        match &req.last_error {
            Some(err) => up.set.push(format!(
                "{} = {}",
                ex.n(attr::LAST_ERROR),
                ex.v("err", s(err))
            )),
            None => up.remove.push(ex.n(attr::LAST_ERROR)),
        }
        if req.final_for_generation {
            up.set
                .push(format!("{} = {g_v}", ex.n(attr::PROCESSED_GENERATION)));
        }
        if req.status.is_final() {
            up.set
                .push(format!("{} = {now_v}", ex.n(attr::FINISHED_AT)));
        }
        for a in [attr::LEASE_TOKEN, attr::LEASE_GENERATION, attr::LEASE_UNTIL] {
            up.remove.push(ex.n(a));
        }
        if req.add_attempt {
            let attempts = ex.n(attr::ATTEMPTS);
            up.set
                .push(format!("{attempts} = {attempts} + {}", ex.v("one", n(1))));
        }
        match req.retry_at {
            // Retrying: on the sweep's index from when the message is due back.
            Some(at) => {
                let at_v = ex.v("retry_at", n(at));
                on_sweep_index(&mut ex, &mut up, &req.event_id, &at_v);
            }
            None => {
                up.remove.push(ex.n(attr::PENDING_SHARD));
                up.remove.push(ex.n(attr::PENDING_SINCE));
            }
        }

        match self
            .update_if(&req.event_id, &up, cond, &ex, "NONE")
            .await?
        {
            Some(_) => Ok(RecordOutcome::Recorded),
            None => Ok(RecordOutcome::LeaseLost),
        }
    }

    async fn mark_replay(&self, mark: &ReplayMark) -> Result<Option<StoredEvent>, StoreError> {
        let mut ex = Expr::default();
        let cond = format!("attribute_exists({})", ex.n(attr::EVENT_ID));
        let now_v = ex.v("now", n(mark.now));
        let mut up = Update::default();
        let gen_n = ex.n(attr::GENERATION);
        up.set
            .push(format!("{gen_n} = {gen_n} + {}", ex.v("one", n(1))));
        up.set.push(format!(
            "{} = {}",
            ex.n(attr::STATUS),
            ex.v("received", status_value(EventStatus::Received))
        ));
        up.set.push(format!(
            "{} = {}",
            ex.n(attr::REPLAY_RUN_ID),
            ex.v("run", s(&mark.run_id))
        ));
        on_sweep_index(&mut ex, &mut up, &mark.event_id, &now_v);
        up.set.push(format!("{} = {now_v}", ex.n(attr::UPDATED_AT)));
        for a in [
            attr::LEASE_TOKEN,
            attr::LEASE_GENERATION,
            attr::LEASE_UNTIL,
            attr::FINISHED_AT,
        ] {
            up.remove.push(ex.n(a));
        }
        match self
            .update_if(&mark.event_id, &up, cond, &ex, "ALL_NEW")
            .await?
        {
            Some(item) if !item.is_empty() => Ok(Some(self.to_event(item).await?)),
            Some(_) => Err(StoreError::Corrupt(format!(
                "replay of {} returned no item",
                mark.event_id
            ))),
            None => Ok(None),
        }
    }

    async fn release(&self, id: &EventId, token: &str) -> Result<bool, StoreError> {
        let mut ex = Expr::default();
        let cond = format!(
            "{} = {} AND {} = {}",
            ex.n(attr::LEASE_TOKEN),
            ex.v("token", s(token)),
            ex.n(attr::STATUS),
            ex.v("received", status_value(EventStatus::Received))
        );
        let mut up = Update::default();
        for a in [attr::LEASE_TOKEN, attr::LEASE_GENERATION, attr::LEASE_UNTIL] {
            up.remove.push(ex.n(a));
        }
        let received_n = ex.n(attr::RECEIVED_AT);
        on_sweep_index(&mut ex, &mut up, id, &received_n);
        Ok(self.update_if(id, &up, cond, &ex, "NONE").await?.is_some())
    }

    async fn mark_abandoned(&self, req: &AbandonRequest) -> Result<bool, StoreError> {
        let mut ex = Expr::default();
        let now_v = ex.v("now", n(req.now));
        let cond = format!(
            "{st} IN ({}, {}) AND {} = {} AND {ps} = {} AND {ps} < {now_v}",
            ex.v("processing", status_value(EventStatus::Processing)),
            ex.v("retrying", status_value(EventStatus::Retrying)),
            ex.n(attr::GENERATION),
            ex.v("g", n(req.generation.get())),
            ex.v("since", n(req.since)),
            st = ex.n(attr::STATUS),
            ps = ex.n(attr::PENDING_SINCE),
        );
        let mut up = Update::default();
        up.set.push(format!(
            "{} = {}",
            ex.n(attr::STATUS),
            ex.v("dead", status_value(EventStatus::Dead))
        ));
        up.set.push(format!(
            "{} = {}",
            ex.n(attr::LAST_ERROR),
            ex.v("err", s(&req.reason))
        ));
        up.set.push(format!("{} = {now_v}", ex.n(attr::UPDATED_AT)));
        up.set
            .push(format!("{} = {now_v}", ex.n(attr::FINISHED_AT)));
        for a in [
            attr::LEASE_TOKEN,
            attr::LEASE_GENERATION,
            attr::LEASE_UNTIL,
            attr::PENDING_SHARD,
            attr::PENDING_SINCE,
        ] {
            up.remove.push(ex.n(a));
        }
        Ok(self
            .update_if(&req.event_id, &up, cond, &ex, "NONE")
            .await?
            .is_some())
    }

    async fn pending(
        &self,
        older_than: Millis,
        limit: usize,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            event_id: String,
            generation: u32,
            pending_since: Millis,
            status: String,
        }
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut all = Vec::new();
        for shard in pending_shards() {
            // Each shard is read oldest first, at most `limit` rows; the merge keeps the oldest.
            let mut got = 0usize;
            let mut start: Option<HashMap<String, AttributeValue>> = None;
            loop {
                let mut ex = Expr::default();
                let cond = format!(
                    "{} = {} AND {} < {}",
                    ex.n(attr::PENDING_SHARD),
                    ex.v("shard", s(&shard)),
                    ex.n(attr::PENDING_SINCE),
                    ex.v("before", n(older_than))
                );
                let request = Request {
                    index_name: Some(INDEX_PENDING),
                    key_condition_expression: Some(&cond),
                    scan_index_forward: Some(true),
                    limit: Some(page_limit(limit - got)),
                    exclusive_start_key: start.as_ref(),
                    ..ex.request(&self.table)
                };
                let out = self.client.call("Query", &request).await?;
                for item in out.items.unwrap_or_default() {
                    let row: Row = from_item(item)
                        .map_err(|e| StoreError::Corrupt(format!("pending index row: {e}")))?;
                    let event_id = EventId::parse(&row.event_id)
                        .map_err(|e| StoreError::Corrupt(format!("pending index row: {e}")))?;
                    let generation = Generation::new(row.generation)
                        .map_err(|e| StoreError::Corrupt(format!("pending index row: {e}")))?;
                    let status = EventStatus::parse(&row.status).ok_or_else(|| {
                        StoreError::Corrupt(format!("pending index row: status {}", row.status))
                    })?;
                    all.push(PendingEvent {
                        event_id,
                        generation,
                        since: row.pending_since,
                        status,
                    });
                    got += 1;
                }
                start = out.last_evaluated_key.filter(|k| !k.is_empty());
                if start.is_none() || got >= limit {
                    break;
                }
            }
        }
        all.sort_by(|a, b| a.since.cmp(&b.since).then(a.event_id.cmp(&b.event_id)));
        all.truncate(limit);
        Ok(all)
    }

    async fn list(&self, filter: &EventFilter, page: &PageRequest) -> Result<Page, StoreError> {
        let mode = if filter.source.is_some() {
            CursorMode::Query
        } else {
            CursorMode::Scan
        };
        let had_cursor = page.cursor.is_some();
        let mut start = match &page.cursor {
            Some(c) => Some(decode_cursor(c, mode, filter)?),
            None => None,
        };
        if page.limit == 0 {
            return Ok(Page {
                events: Vec::new(),
                next_cursor: page.cursor.clone(),
            });
        }
        // An empty time range matches nothing (and cannot be a key condition).
        if let (Some(a), Some(b)) = (filter.since, filter.until)
            && b <= a
        {
            return Ok(Page {
                events: Vec::new(),
                next_cursor: None,
            });
        }
        let mut events = Vec::new();
        let next_cursor = loop {
            let remaining = page.limit - events.len();
            let (items, last) = match &filter.source {
                Some(source) => {
                    let mut ex = Expr::default();
                    let src = ex.n(attr::SOURCE);
                    let mut key = format!("{src} = {}", ex.v("source", s(source.as_str())));
                    let at = if filter.since.is_some() || filter.until.is_some() {
                        ex.n(attr::RECEIVED_AT)
                    } else {
                        String::new()
                    };
                    match (filter.since, filter.until) {
                        (Some(a), Some(b)) => key.push_str(&format!(
                            " AND {at} BETWEEN {} AND {}",
                            ex.v("since", n(a)),
                            ex.v("until", n(b - 1))
                        )),
                        (Some(a), None) => {
                            key.push_str(&format!(" AND {at} >= {}", ex.v("since", n(a))))
                        }
                        (None, Some(b)) => {
                            key.push_str(&format!(" AND {at} < {}", ex.v("until", n(b))))
                        }
                        (None, None) => {}
                    }
                    let filter_expr = non_key_filter(&mut ex, filter, false);
                    let request = Request {
                        index_name: Some(INDEX_BY_SOURCE),
                        key_condition_expression: Some(&key),
                        filter_expression: filter_expr.as_deref(),
                        scan_index_forward: Some(false),
                        limit: Some(page_limit(remaining)),
                        exclusive_start_key: start.as_ref(),
                        ..ex.request(&self.table)
                    };
                    let out = self
                        .client
                        .call("Query", &request)
                        .await
                        .map_err(|e| list_error(e, had_cursor))?;
                    (out.items.unwrap_or_default(), out.last_evaluated_key)
                }
                None => {
                    let mut ex = Expr::default();
                    let filter_expr = non_key_filter(&mut ex, filter, true);
                    let request = Request {
                        filter_expression: filter_expr.as_deref(),
                        consistent_read: Some(true),
                        limit: Some(page_limit(remaining)),
                        exclusive_start_key: start.as_ref(),
                        ..ex.request(&self.table)
                    };
                    let out = self
                        .client
                        .call("Scan", &request)
                        .await
                        .map_err(|e| list_error(e, had_cursor))?;
                    (out.items.unwrap_or_default(), out.last_evaluated_key)
                }
            };
            for item in items {
                events.push(self.to_event(item).await?);
            }
            start = last.filter(|k| !k.is_empty());
            match &start {
                None => break None,
                Some(k) if events.len() >= page.limit => break Some(encode_cursor(mode, k)?),
                Some(_) => {}
            }
        };
        if mode == CursorMode::Scan {
            // A scan has no order: each page is sorted, newest first. A global order needs a
            // source (the `by_source` index).
            events.sort_by(|a, b| {
                b.received_at
                    .cmp(&a.received_at)
                    .then(b.event_id.cmp(&a.event_id))
            });
        }
        Ok(Page {
            events,
            next_cursor,
        })
    }
}

/// A `Limit` for one request: what is still wanted, within DynamoDB's range.
fn page_limit(remaining: usize) -> i32 {
    i32::try_from(remaining.clamp(1, MAX_PAGE)).unwrap_or(1)
}

/// Filters DynamoDB applies after reading (they do not reduce the read cost).
fn non_key_filter(ex: &mut Expr, f: &EventFilter, with_time: bool) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(st) = f.status {
        parts.push(format!(
            "{} = {}",
            ex.n(attr::STATUS),
            ex.v("f_status", status_value(st))
        ));
    }
    if let Some(t) = &f.event_type {
        parts.push(format!(
            "{} = {}",
            ex.n(attr::EVENT_TYPE),
            ex.v("f_type", s(t))
        ));
    }
    if let Some(d) = &f.delivery_id {
        parts.push(format!(
            "{} = {}",
            ex.n(attr::DELIVERY_ID),
            ex.v("f_delivery", s(d.as_str()))
        ));
    }
    if with_time {
        if let Some(a) = f.since {
            let at = ex.n(attr::RECEIVED_AT);
            parts.push(format!("{at} >= {}", ex.v("f_since", n(a))));
        }
        if let Some(b) = f.until {
            let at = ex.n(attr::RECEIVED_AT);
            parts.push(format!("{at} < {}", ex.v("f_until", n(b))));
        }
    }
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

/// A start key DynamoDB refuses is a cursor this listing did not issue.
fn list_error(e: AwsError, had_cursor: bool) -> StoreError {
    if had_cursor && e.code_is("ValidationException") {
        StoreError::Invalid(format!("cursor does not fit this listing: {e}"))
    } else {
        e.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CursorMode {
    Query,
    Scan,
}

impl CursorMode {
    fn tag(self) -> &'static str {
        match self {
            Self::Query => "q",
            Self::Scan => "s",
        }
    }
}

/// Cursor = base64url(JSON `{"m": "q"|"s", "k": {attr: {"S"|"N": value}}}`) of LastEvaluatedKey.
fn encode_cursor(
    mode: CursorMode,
    key: &HashMap<String, AttributeValue>,
) -> Result<String, StoreError> {
    let mut k = serde_json::Map::new();
    for (name, v) in key {
        let typed = match v {
            AttributeValue::S(x) => serde_json::json!({ "S": x }),
            AttributeValue::N(x) => serde_json::json!({ "N": x }),
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unexpected key attribute type for {name}: {other:?}"
                )));
            }
        };
        k.insert(name.clone(), typed);
    }
    let doc = serde_json::json!({ "m": mode.tag(), "k": k });
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(doc.to_string()))
}

fn decode_cursor(
    raw: &str,
    mode: CursorMode,
    filter: &EventFilter,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let invalid = |why: &str| StoreError::Invalid(format!("invalid cursor: {why}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| invalid("not base64url"))?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid("not JSON"))?;
    if doc.get("m").and_then(|m| m.as_str()) != Some(mode.tag()) {
        return Err(invalid("issued for a listing of another kind"));
    }
    let obj = doc
        .get("k")
        .and_then(|k| k.as_object())
        .ok_or_else(|| invalid("no key"))?;
    let mut key = HashMap::new();
    for (name, v) in obj {
        let av = match (
            v.get("S").and_then(|x| x.as_str()),
            v.get("N").and_then(|x| x.as_str()),
        ) {
            (Some(x), None) => s(x),
            (None, Some(x)) if x.parse::<i64>().is_ok() => n(x),
            _ => return Err(invalid("bad key attribute")),
        };
        key.insert(name.clone(), av);
    }
    let id_ok = key
        .get(attr::EVENT_ID)
        .is_some_and(|v| matches!(v, AttributeValue::S(id) if EventId::parse(id).is_ok()));
    if !id_ok {
        return Err(invalid("no event id"));
    }
    let expected_len = match mode {
        CursorMode::Scan => 1,
        CursorMode::Query => 3,
    };
    if key.len() != expected_len {
        return Err(invalid("wrong key shape"));
    }
    if mode == CursorMode::Query {
        let src = match key.get(attr::SOURCE) {
            Some(AttributeValue::S(src)) => Some(src.as_str()),
            _ => None,
        };
        let want = filter.source.as_ref().map(|x| x.as_str());
        if src != want || !key.contains_key(attr::RECEIVED_AT) {
            return Err(invalid("issued for another source"));
        }
    }
    Ok(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::SourceName;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let key = HashMap::from([
            (
                attr::EVENT_ID.to_owned(),
                s("evt_abcdefghijklmnopqrstuvwxyz"),
            ),
            (attr::SOURCE.to_owned(), s("github")),
            (attr::RECEIVED_AT.to_owned(), n(1234)),
        ]);
        let f = EventFilter {
            source: Some(SourceName::parse("github").unwrap()),
            ..EventFilter::default()
        };
        let c = encode_cursor(CursorMode::Query, &key).unwrap();
        assert_eq!(decode_cursor(&c, CursorMode::Query, &f).unwrap(), key);
        assert!(decode_cursor(&c, CursorMode::Scan, &EventFilter::default()).is_err());
        let other = EventFilter {
            source: Some(SourceName::parse("stripe").unwrap()),
            ..EventFilter::default()
        };
        assert!(decode_cursor(&c, CursorMode::Query, &other).is_err());
        for bad in ["", "!!!", "e30", "bm90IGpzb24"] {
            assert!(matches!(
                decode_cursor(bad, CursorMode::Scan, &f),
                Err(StoreError::Invalid(_))
            ));
        }
    }
}
