//! Replay, DLQ redrive and the sweep: one module used by the replay Lambda, the admin API and the
//! CLI.
//!
//! - Replay marks an event (generation + 1, status `received`, a replay-run id) and sends a new
//!   pointer message. If the send fails the event stays `received` and the sweep sends it later.
//! - Redrive moves every dead-letter message back to the main queue: natively where the backend can
//!   (`StartMessageMoveTask`), else by receive → send → delete. A crash between send and delete
//!   leaves a duplicate message, which claims absorb.
//! - The sweep re-sends events left `received` (a crash between the store write and the send), and
//!   marks `dead` an event whose processor stopped (crash, timeout) holding the lease when the
//!   lease ended more than `older_than` ago without the message coming back: its receives were
//!   used up (a kill during, or before the claim of, the last one) and the queue moved it to the
//!   dead-letter queue, so without the sweep the event would stay `processing` forever. Should the
//!   message still come back (a backlog), its claim takes the event from `dead` and runs it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::clock::Clock;
use crate::message::QueueMessage;
use crate::model::EventStatus;
use crate::model::{EventId, Generation};
use crate::ports::{
    AbandonRequest, EventFilter, EventStore, PageRequest, PendingEvent, Queue, QueueError,
    ReplayMark, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Queue(#[from] QueueError),
}

/// One event's replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ReplayOutcome {
    /// Marked and enqueued at this generation.
    Replayed {
        event_id: EventId,
        generation: Generation,
    },
    /// Marked, but the send failed: the sweep will enqueue it.
    MarkedNotSent {
        event_id: EventId,
        generation: Generation,
        error: String,
    },
    NotFound {
        event_id: EventId,
    },
    Error {
        event_id: EventId,
        error: String,
    },
}

/// Options for a replay by filter.
#[derive(Debug, Clone, Default)]
pub struct BulkOptions {
    /// Only count what would be replayed.
    pub dry_run: bool,
    /// Events per second at most (None: as fast as the backend goes).
    pub rate_per_sec: Option<f64>,
    /// Stop after this many events.
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BulkReport {
    pub run_id: String,
    pub dry_run: bool,
    pub matched: usize,
    pub replayed: usize,
    pub not_sent: usize,
    pub errors: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RedriveMethod {
    /// The backend moved the messages itself (SQS `StartMessageMoveTask`, SQLite in one transaction).
    Native,
    /// receive → send → delete.
    ReceiveSendDelete,
}

#[derive(Debug, Clone, Serialize)]
pub struct RedriveReport {
    pub method: RedriveMethod,
    /// Messages moved (for a native task on SQS, the number it reported or estimated).
    pub moved: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SweepReport {
    pub found: usize,
    /// `received` events sent to the queue again.
    pub requeued: usize,
    /// Claims never recorded whose message did not come back, marked `dead`.
    pub marked_dead: usize,
    pub errors: usize,
}

/// The last error of an event the sweep marks dead.
pub const ABANDONED_REASON: &str = "the processor stopped (crash or timeout) holding the lease \
and the message did not come back: its receives are used up and it is in the dead-letter queue \
(redrive or replay runs it again)";

pub struct Replayer {
    store: Arc<dyn EventStore>,
    queue: Arc<dyn Queue>,
    dlq: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
}

/// Events listed per page while collecting a filter's matches.
const PAGE: usize = 200;

impl Replayer {
    pub fn new(
        store: Arc<dyn EventStore>,
        queue: Arc<dyn Queue>,
        dlq: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            queue,
            dlq,
            clock,
        }
    }

    /// A fresh replay-run id, recorded on every event the run touches.
    pub fn new_run_id() -> String {
        let bytes: [u8; 10] = rand::random();
        format!(
            "rpl_{}",
            data_encoding::BASE32_NOPAD
                .encode(&bytes)
                .to_ascii_lowercase()
        )
    }

    pub async fn replay_one(&self, id: &EventId, run_id: &str) -> ReplayOutcome {
        let mark = ReplayMark {
            event_id: id.clone(),
            run_id: run_id.to_owned(),
            now: self.clock.now_ms(),
        };
        let event = match self.store.mark_replay(&mark).await {
            Ok(Some(e)) => e,
            Ok(None) => {
                return ReplayOutcome::NotFound {
                    event_id: id.clone(),
                };
            }
            Err(e) => {
                return ReplayOutcome::Error {
                    event_id: id.clone(),
                    error: e.to_string(),
                };
            }
        };
        let g = event.generation;
        let span = tracing::info_span!("replay", event_id = %id, generation = g.get(), source = %event.source, run_id);
        let _guard = span.enter();
        match self
            .queue
            .send(&QueueMessage::new(id.clone(), g).encode())
            .await
        {
            Ok(()) => {
                tracing::info!("replayed");
                crate::metrics::replayed(event.source.as_str());
                ReplayOutcome::Replayed {
                    event_id: id.clone(),
                    generation: g,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "replay marked but not sent; the sweep will send it");
                ReplayOutcome::MarkedNotSent {
                    event_id: id.clone(),
                    generation: g,
                    error: e.to_string(),
                }
            }
        }
    }

    pub async fn replay_ids(&self, ids: &[EventId], run_id: &str) -> Vec<ReplayOutcome> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.replay_one(id, run_id).await);
        }
        out
    }

    /// Every event id matching a filter, newest first.
    pub async fn matching(
        &self,
        filter: &EventFilter,
        limit: Option<usize>,
    ) -> Result<Vec<EventId>, StoreError> {
        let mut ids = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .list(
                    filter,
                    &PageRequest {
                        cursor,
                        limit: PAGE,
                    },
                )
                .await?;
            ids.extend(page.events.into_iter().map(|e| e.event_id));
            if limit.is_some_and(|l| ids.len() >= l) {
                ids.truncate(limit.unwrap_or(usize::MAX));
                break;
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(ids)
    }

    /// Replays every event matching `filter` (collected first, so marking cannot disturb paging),
    /// paced, calling `progress(done, total)` after each.
    pub async fn replay_filter(
        &self,
        filter: &EventFilter,
        opts: &BulkOptions,
        run_id: &str,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<BulkReport, ReplayError> {
        let ids = self.matching(filter, opts.limit).await?;
        let mut report = BulkReport {
            run_id: run_id.to_owned(),
            dry_run: opts.dry_run,
            matched: ids.len(),
            ..Default::default()
        };
        if opts.dry_run {
            return Ok(report);
        }
        let interval = opts
            .rate_per_sec
            .filter(|r| *r > 0.0)
            .and_then(|r| Duration::try_from_secs_f64(1.0 / r).ok());
        let started = Instant::now();
        for (i, id) in ids.iter().enumerate() {
            if let Some(iv) = interval {
                let due = started + iv.mul_f64(i as f64);
                tokio::time::sleep_until(due.into()).await;
            }
            match self.replay_one(id, run_id).await {
                ReplayOutcome::Replayed { .. } => report.replayed += 1,
                ReplayOutcome::MarkedNotSent { .. } => report.not_sent += 1,
                ReplayOutcome::NotFound { .. } | ReplayOutcome::Error { .. } => report.errors += 1,
            }
            progress(i + 1, ids.len());
        }
        Ok(report)
    }

    /// Moves every dead-letter message back to the main queue.
    pub async fn redrive(&self) -> Result<RedriveReport, QueueError> {
        if let Some(moved) = self.dlq.native_redrive().await? {
            tracing::info!(moved, "dead-letter queue redriven natively");
            return Ok(RedriveReport {
                method: RedriveMethod::Native,
                moved,
            });
        }
        let mut moved = 0u64;
        // Bounded: a processor may be adding to the DLQ while we drain it.
        let start = self.dlq.stats().await?;
        let budget = (start.visible + start.in_flight + start.delayed)
            .saturating_mul(2)
            .max(10);
        while moved < budget {
            let batch = self
                .dlq
                .receive(10, Duration::ZERO, Some(Duration::from_secs(30)))
                .await?;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                self.queue.send(&m.body).await?;
                self.dlq.delete(&m.receipt).await?;
                moved += 1;
            }
        }
        tracing::info!(moved, "dead-letter queue redriven by receive/send/delete");
        Ok(RedriveReport {
            method: RedriveMethod::ReceiveSendDelete,
            moved,
        })
    }

    /// Re-sends events still `received` after `older_than`.
    pub async fn sweep(
        &self,
        older_than: Duration,
        limit: usize,
    ) -> Result<SweepReport, StoreError> {
        let cutoff =
            self.clock.now_ms() - i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
        let pending = self.store.pending(cutoff, limit).await?;
        let mut report = SweepReport {
            found: pending.len(),
            ..Default::default()
        };
        for p in pending {
            if matches!(p.status, EventStatus::Processing | EventStatus::Retrying) {
                self.settle_abandoned(&p, &mut report).await;
                continue;
            }
            match self
                .queue
                .send(&QueueMessage::new(p.event_id.clone(), p.generation).encode())
                .await
            {
                Ok(()) => {
                    tracing::info!(event_id = %p.event_id, generation = p.generation.get(), "sweep re-enqueued a stuck event");
                    report.requeued += 1;
                }
                Err(e) => {
                    tracing::warn!(event_id = %p.event_id, error = %e, "sweep could not enqueue");
                    report.errors += 1;
                }
            }
        }
        Ok(report)
    }

    /// A claim whose lease ended `older_than` ago unrecorded, and whose message was not received
    /// again since (a new claim would have moved it): the queue moved the message to the
    /// dead-letter queue, so the event is dead.
    async fn settle_abandoned(&self, p: &PendingEvent, report: &mut SweepReport) {
        let req = AbandonRequest {
            event_id: p.event_id.clone(),
            generation: p.generation,
            since: p.since,
            now: self.clock.now_ms(),
            reason: ABANDONED_REASON.to_owned(),
        };
        match self.store.mark_abandoned(&req).await {
            Ok(true) => {
                tracing::warn!(event_id = %p.event_id, generation = p.generation.get(), "sweep marked an abandoned claim dead");
                report.marked_dead += 1;
                // Rare: one read for the metric's source label.
                if let Ok(Some(e)) = self.store.get(&p.event_id).await {
                    crate::metrics::processed(e.source.as_str(), "dead");
                }
            }
            Ok(false) => {
                tracing::info!(event_id = %p.event_id, "abandoned claim moved on before the sweep");
            }
            Err(e) => {
                tracing::warn!(event_id = %p.event_id, error = %e, "sweep could not mark an abandoned claim dead");
                report.errors += 1;
            }
        }
    }
}
