//! Stats over a time window: counts by source and status, success rate, end-to-end latency
//! percentiles, and the queues. Computed from the store's listing (newest first, bounded), so it
//! works the same on every backend; the report says when the bound cut the window short.

use std::collections::BTreeMap;

use serde::Serialize;

use super::AdminError;
use crate::app::Backend;
use crate::clock;
use crate::model::{EventStatus, Millis};
use crate::ports::{PageRequest, QueueStats};
use crate::query::FilterSpec;

/// The window when none is given.
pub const DEFAULT_SINCE: &str = "1h";
/// Events examined at most.
pub const MAX_EVENTS: usize = 100_000;
const PAGE: usize = 500;

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub since: String,
    pub until: String,
    pub total: u64,
    pub by_status: BTreeMap<String, u64>,
    pub by_source: BTreeMap<String, BTreeMap<String, u64>>,
    /// succeeded / (succeeded + failed + dead + quarantined); `null` when none finished.
    pub success_rate: Option<f64>,
    /// Received → finished, first generation of succeeded events, milliseconds.
    pub latency_ms: Latency,
    pub queue: QueueView,
    pub dlq: QueueView,
    /// True when more than [`MAX_EVENTS`] events fell in the window (only the newest counted).
    pub truncated: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: Option<i64>,
    pub p99: Option<i64>,
    pub max: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct QueueView {
    pub depth: u64,
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
    pub oldest_age_secs: Option<u64>,
}

impl From<QueueStats> for QueueView {
    fn from(q: QueueStats) -> Self {
        Self {
            depth: q.visible + q.in_flight + q.delayed,
            visible: q.visible,
            in_flight: q.in_flight,
            delayed: q.delayed,
            oldest_age_secs: q.oldest_age_secs,
        }
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

pub async fn compute(backend: &Backend, since: &str, now: Millis) -> Result<Stats, AdminError> {
    let filter = FilterSpec {
        since: Some(since.to_owned()),
        ..Default::default()
    }
    .parse(now)?;
    let mut by_status: BTreeMap<String, u64> = EventStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    let mut by_source: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut latencies = Vec::new();
    let mut total = 0u64;
    let mut cursor = None;
    let mut truncated = false;
    loop {
        let page = backend
            .store
            .list(
                &filter,
                &PageRequest {
                    cursor,
                    limit: PAGE,
                },
            )
            .await?;
        for e in &page.events {
            total += 1;
            *by_status.entry(e.status.as_str().to_owned()).or_default() += 1;
            *by_source
                .entry(e.source.to_string())
                .or_default()
                .entry(e.status.as_str().to_owned())
                .or_default() += 1;
            if e.status == EventStatus::Succeeded
                && e.generation.get() == 1
                && let Some(f) = e.finished_at
            {
                latencies.push((f - e.received_at).max(0));
            }
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
        if total as usize >= MAX_EVENTS {
            truncated = true;
            break;
        }
    }
    latencies.sort_unstable();
    let count = |s: EventStatus| by_status.get(s.as_str()).copied().unwrap_or(0);
    let finished = count(EventStatus::Succeeded)
        + count(EventStatus::Failed)
        + count(EventStatus::Dead)
        + count(EventStatus::Quarantined);
    let queue = backend.queue.stats().await?;
    let dlq = backend.dlq.stats().await?;
    Ok(Stats {
        since: clock::rfc3339(filter.since.unwrap_or(now)),
        until: clock::rfc3339(now),
        total,
        success_rate: (finished > 0)
            .then(|| count(EventStatus::Succeeded) as f64 / finished as f64),
        latency_ms: Latency {
            count: latencies.len() as u64,
            p50: percentile(&latencies, 50.0),
            p99: percentile(&latencies, 99.0),
            max: latencies.last().copied(),
        },
        by_status,
        by_source,
        queue: queue.into(),
        dlq: dlq.into(),
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1, 2, 3], 50.0), Some(2));
    }
}
