//! An [`EventStore`] decorator that records the processing metrics (`processed{outcome}`,
//! `retries`, `dead`, handler durations, end-to-end latency) from the claims and records that pass
//! through it. Every processor writes its outcome through the store, so both backends (and every
//! face that processes: the local pollers, the processor Lambda) are measured in one place,
//! without the processor knowing about metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::metrics;
use crate::model::{EventId, EventStatus, Millis, NewEvent, StoredEvent};
use crate::ports::{
    AbandonRequest, ClaimOutcome, ClaimRequest, EventFilter, EventStore, Page, PageRequest,
    PendingEvent, PutOutcome, RecordOutcome, RecordRequest, ReplayMark, StoreError,
};

/// What a claim tells us that the record does not carry.
#[derive(Debug, Clone)]
struct Claimed {
    source: String,
    received_at: Millis,
    claimed_at: Millis,
}

/// Claims not yet recorded are forgotten past this many (a crashed run never records).
const MAX_OPEN_CLAIMS: usize = 10_000;

pub struct MeteredStore {
    inner: Arc<dyn EventStore>,
    open: Mutex<HashMap<String, Claimed>>,
}

impl MeteredStore {
    pub fn wrap(inner: Arc<dyn EventStore>) -> Arc<dyn EventStore> {
        Arc::new(Self {
            inner,
            open: Mutex::new(HashMap::new()),
        })
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<String, Claimed>> {
        match self.open.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

#[async_trait]
impl EventStore for MeteredStore {
    async fn put_new(&self, event: &NewEvent) -> Result<PutOutcome, StoreError> {
        self.inner.put_new(event).await
    }

    async fn get(&self, id: &EventId) -> Result<Option<StoredEvent>, StoreError> {
        self.inner.get(id).await
    }

    async fn get_many(&self, ids: &[EventId]) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.get_many(ids).await
    }

    async fn claim(&self, req: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        let out = self.inner.claim(req).await?;
        if let ClaimOutcome::Claimed(e) = &out {
            let mut open = self.open();
            if open.len() >= MAX_OPEN_CLAIMS {
                open.clear();
            }
            open.insert(
                req.token.clone(),
                Claimed {
                    source: e.source.to_string(),
                    received_at: e.received_at,
                    claimed_at: req.now,
                },
            );
        }
        Ok(out)
    }

    async fn record(&self, req: &RecordRequest) -> Result<RecordOutcome, StoreError> {
        let out = self.inner.record(req).await;
        let claimed = self.open().remove(&req.token);
        if let (Ok(RecordOutcome::Recorded), Some(c)) = (&out, claimed) {
            metrics::processed(&c.source, req.status.as_str());
            for a in req
                .attempt_log
                .iter()
                .filter(|a| a.generation == req.generation.get() && a.started_at >= c.claimed_at)
            {
                metrics::handler_duration(&c.source, a.duration_ms);
            }
            // The first generation only: a replay's latency from the original delivery means nothing.
            if req.status == EventStatus::Succeeded && req.generation.get() == 1 {
                metrics::end_to_end(&c.source, req.now - c.received_at);
            }
        }
        out
    }

    async fn mark_replay(&self, mark: &ReplayMark) -> Result<Option<StoredEvent>, StoreError> {
        self.inner.mark_replay(mark).await
    }

    async fn mark_abandoned(&self, req: &AbandonRequest) -> Result<bool, StoreError> {
        self.inner.mark_abandoned(req).await
    }

    async fn pending(
        &self,
        older_than: Millis,
        limit: usize,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        self.inner.pending(older_than, limit).await
    }

    async fn list(&self, filter: &EventFilter, page: &PageRequest) -> Result<Page, StoreError> {
        self.inner.list(filter, page).await
    }
}
