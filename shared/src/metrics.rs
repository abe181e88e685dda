//! The metrics every face emits, with the same names on both backends:
//!
//! | name (EMF, namespace `Hookgate`) | Prometheus (`/metrics`) | labels |
//! | --- | --- | --- |
//! | `received` | `hookgate_received_total` | source |
//! | `duplicate` | `hookgate_duplicate_total` | source |
//! | `rejected` | `hookgate_rejected_total` | source, reason |
//! | `processed` | `hookgate_processed_total` | source, outcome |
//! | `retries` | `hookgate_retries_total` | source |
//! | `dead` | `hookgate_dead_total` | source |
//! | `replayed` | `hookgate_replayed_total` | source |
//! | `handler_duration_ms` | `hookgate_handler_duration_ms` (histogram) | source |
//! | `end_to_end_latency_ms` | `hookgate_end_to_end_latency_ms` (histogram) | source |
//! | `queue_depth` | `hookgate_queue_depth` (gauge) | queue |
//! | `queue_oldest_age_seconds` | `hookgate_queue_oldest_age_seconds` (gauge) | queue |
//!
//! Labels are bounded: `source` is a configured source name (or `unknown`), `reason` an ingest
//! error code, `outcome` an event status, `queue` is `main` or `dlq`. Never error text.
//!
//! One in-process [`Registry`] records; the local stack renders it as Prometheus text, a Lambda
//! function drains it after each invocation as CloudWatch Embedded Metric Format lines (one JSON
//! object per dimension set, printed to stdout where the Lambda log agent picks it up).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};

use crate::model::Millis;

/// The EMF namespace (the dashboard in `infra/template.yaml` reads it).
pub const NAMESPACE: &str = "Hookgate";
/// Prefix of every Prometheus metric name.
pub const PROM_PREFIX: &str = "hookgate_";

pub const RECEIVED: &str = "received";
pub const DUPLICATE: &str = "duplicate";
pub const REJECTED: &str = "rejected";
pub const PROCESSED: &str = "processed";
pub const RETRIES: &str = "retries";
pub const DEAD: &str = "dead";
pub const REPLAYED: &str = "replayed";
pub const HANDLER_DURATION_MS: &str = "handler_duration_ms";
pub const END_TO_END_LATENCY_MS: &str = "end_to_end_latency_ms";
pub const QUEUE_DEPTH: &str = "queue_depth";
pub const QUEUE_OLDEST_AGE_SECONDS: &str = "queue_oldest_age_seconds";

/// Every counter, for documentation and tests.
pub const COUNTERS: [&str; 7] = [
    RECEIVED, DUPLICATE, REJECTED, PROCESSED, RETRIES, DEAD, REPLAYED,
];
pub const HISTOGRAMS: [&str; 2] = [HANDLER_DURATION_MS, END_TO_END_LATENCY_MS];
pub const GAUGES: [&str; 2] = [QUEUE_DEPTH, QUEUE_OLDEST_AGE_SECONDS];

/// Histogram bucket upper bounds, milliseconds.
const BUCKETS_MS: [f64; 14] = [
    5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0, 60000.0,
    300000.0,
];
/// EMF allows at most 100 values per metric per line; more are folded into counts.
const EMF_MAX_VALUES: usize = 100;

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    name: &'static str,
    labels: Labels,
}

#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: [u64; BUCKETS_MS.len()],
    count: u64,
    sum: f64,
    /// Observations since the last EMF drain: value → count.
    pending: BTreeMap<u64, u64>,
}

#[derive(Debug, Default)]
struct Inner {
    counters: BTreeMap<Key, (u64, u64)>,
    histograms: BTreeMap<Key, Histogram>,
    gauges: BTreeMap<Key, f64>,
}

/// Counters (total, and since the last EMF drain), histograms and gauges.
#[derive(Debug, Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide registry every recording function below writes to.
    pub fn global() -> &'static Registry {
        static R: OnceLock<Registry> = OnceLock::new();
        R.get_or_init(Registry::new)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut g)
    }

    pub fn count(&self, name: &'static str, labels: &[(&'static str, &str)], n: u64) {
        let key = key(name, labels);
        self.with(|i| {
            let c = i.counters.entry(key).or_default();
            c.0 += n;
            c.1 += n;
        });
    }

    pub fn observe_ms(&self, name: &'static str, labels: &[(&'static str, &str)], ms: f64) {
        let ms = if ms.is_finite() { ms.max(0.0) } else { 0.0 };
        let key = key(name, labels);
        self.with(|i| {
            let h = i.histograms.entry(key).or_default();
            h.count += 1;
            h.sum += ms;
            for (b, upper) in h.buckets.iter_mut().zip(BUCKETS_MS) {
                if ms <= upper {
                    *b += 1;
                }
            }
            *h.pending.entry(ms.round() as u64).or_default() += 1;
        });
    }

    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        let key = key(name, labels);
        self.with(|i| {
            i.gauges.insert(key, value);
        });
    }

    /// The current value of a counter (tests and the stats panel).
    pub fn counter_value(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.with(|i| {
            i.counters
                .iter()
                .filter(|(k, _)| {
                    k.name == name
                        && labels
                            .iter()
                            .all(|(ln, lv)| k.labels.iter().any(|(n, v)| n == ln && v == lv))
                })
                .map(|(_, c)| c.0)
                .sum()
        })
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render_prometheus(&self) -> String {
        self.with(|i| {
            let mut out = String::new();
            let mut last = "";
            for (k, (total, _)) in &i.counters {
                let name = format!("{PROM_PREFIX}{}_total", k.name);
                if k.name != last {
                    let _ = writeln!(out, "# HELP {name} {}", help(k.name));
                    let _ = writeln!(out, "# TYPE {name} counter");
                    last = k.name;
                }
                let _ = writeln!(out, "{name}{} {total}", prom_labels(&k.labels, None));
            }
            last = "";
            for (k, h) in &i.histograms {
                let name = format!("{PROM_PREFIX}{}", k.name);
                if k.name != last {
                    let _ = writeln!(out, "# HELP {name} {}", help(k.name));
                    let _ = writeln!(out, "# TYPE {name} histogram");
                    last = k.name;
                }
                for (b, upper) in h.buckets.iter().zip(BUCKETS_MS) {
                    let le = format!("{upper}");
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {b}",
                        prom_labels(&k.labels, Some(&le))
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    prom_labels(&k.labels, Some("+Inf")),
                    h.count
                );
                let _ = writeln!(out, "{name}_sum{} {}", prom_labels(&k.labels, None), h.sum);
                let _ = writeln!(
                    out,
                    "{name}_count{} {}",
                    prom_labels(&k.labels, None),
                    h.count
                );
            }
            last = "";
            for (k, v) in &i.gauges {
                let name = format!("{PROM_PREFIX}{}", k.name);
                if k.name != last {
                    let _ = writeln!(out, "# HELP {name} {}", help(k.name));
                    let _ = writeln!(out, "# TYPE {name} gauge");
                    last = k.name;
                }
                let _ = writeln!(out, "{name}{} {v}", prom_labels(&k.labels, None));
            }
            out
        })
    }

    /// Everything recorded since the last drain, as EMF JSON lines (one per dimension set), and
    /// resets the "since last drain" part. Nothing recorded → no lines.
    pub fn drain_emf(&self, now: Millis) -> Vec<String> {
        // Group by label set: one EMF object carries every metric sharing its dimensions.
        let mut groups: BTreeMap<Labels, Vec<(&'static str, &'static str, Value)>> =
            BTreeMap::new();
        self.with(|i| {
            for (k, c) in i.counters.iter_mut() {
                if c.1 > 0 {
                    groups
                        .entry(k.labels.clone())
                        .or_default()
                        .push((k.name, "Count", json!(c.1)));
                    c.1 = 0;
                }
            }
            for (k, h) in i.histograms.iter_mut() {
                if h.pending.is_empty() {
                    continue;
                }
                let pending = std::mem::take(&mut h.pending);
                let mut values = Vec::new();
                let mut counts = Vec::new();
                for (v, n) in pending {
                    if values.len() < EMF_MAX_VALUES {
                        values.push(v);
                        counts.push(n);
                    } else if let Some(last) = counts.last_mut() {
                        *last += n;
                    }
                }
                groups.entry(k.labels.clone()).or_default().push((
                    k.name,
                    "Milliseconds",
                    json!({ "Values": values, "Counts": counts }),
                ));
            }
            for (k, v) in &i.gauges {
                let unit = if k.name == QUEUE_OLDEST_AGE_SECONDS {
                    "Seconds"
                } else {
                    "Count"
                };
                groups
                    .entry(k.labels.clone())
                    .or_default()
                    .push((k.name, unit, json!(v)));
            }
            i.gauges.clear();
        });
        groups
            .into_iter()
            .map(|(labels, metrics)| {
                let dims: Vec<&str> = labels.iter().map(|(n, _)| *n).collect();
                let mut obj = serde_json::Map::new();
                obj.insert(
                    "_aws".into(),
                    json!({
                        "Timestamp": now,
                        "CloudWatchMetrics": [{
                            "Namespace": NAMESPACE,
                            "Dimensions": [dims],
                            "Metrics": metrics.iter().map(|(n, u, _)| json!({"Name": n, "Unit": u})).collect::<Vec<_>>(),
                        }],
                    }),
                );
                for (n, v) in labels {
                    obj.insert(n.to_owned(), Value::String(v));
                }
                for (n, _, v) in metrics {
                    obj.insert(n.to_owned(), v);
                }
                Value::Object(obj).to_string()
            })
            .collect()
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let mut labels: Labels = labels
        .iter()
        .map(|(n, v)| (*n, bounded(v).to_owned()))
        .collect();
    labels.sort();
    Key { name, labels }
}

/// Labels are names and codes; anything odd becomes `other`, so no caller can blow up the series.
fn bounded(v: &str) -> &str {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok { v } else { "other" }
}

fn prom_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels.iter().map(|(n, v)| format!("{n}=\"{v}\"")).collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn help(name: &str) -> &'static str {
    match name {
        RECEIVED => "Deliveries accepted and stored (new events).",
        DUPLICATE => "Deliveries whose (source, delivery id) was already stored.",
        REJECTED => "Deliveries refused at ingest, by reason.",
        PROCESSED => "Processing runs recorded, by resulting status.",
        RETRIES => "Processing runs that ended in a transient failure (retried with backoff).",
        DEAD => "Events that exhausted their receives and went to the dead-letter queue.",
        REPLAYED => "Events replayed by an operator (by id or filter).",
        HANDLER_DURATION_MS => "Duration of one handler run, milliseconds.",
        END_TO_END_LATENCY_MS => "Received to succeeded, milliseconds.",
        QUEUE_DEPTH => "Messages in the queue (visible + in flight + delayed).",
        QUEUE_OLDEST_AGE_SECONDS => "Age of the oldest message in the queue, seconds.",
        _ => "hookgate metric.",
    }
}

// Recording functions the library calls (global registry).

pub fn ingest_outcome(source: &str, code: Result<bool, &'static str>) {
    let r = Registry::global();
    match code {
        Ok(false) => r.count(RECEIVED, &[("source", source)], 1),
        Ok(true) => r.count(DUPLICATE, &[("source", source)], 1),
        Err(reason) => r.count(REJECTED, &[("source", source), ("reason", reason)], 1),
    }
}

pub fn processed(source: &str, outcome: &str) {
    let r = Registry::global();
    r.count(PROCESSED, &[("source", source), ("outcome", outcome)], 1);
    match outcome {
        "retrying" => r.count(RETRIES, &[("source", source)], 1),
        "dead" => r.count(DEAD, &[("source", source)], 1),
        _ => {}
    }
}

pub fn handler_duration(source: &str, ms: u64) {
    Registry::global().observe_ms(HANDLER_DURATION_MS, &[("source", source)], ms as f64);
}

pub fn end_to_end(source: &str, ms: i64) {
    Registry::global().observe_ms(END_TO_END_LATENCY_MS, &[("source", source)], ms as f64);
}

pub fn replayed(source: &str) {
    Registry::global().count(REPLAYED, &[("source", source)], 1);
}

pub fn queue(queue: &str, depth: u64, oldest_age_secs: Option<u64>) {
    let r = Registry::global();
    r.gauge(QUEUE_DEPTH, &[("queue", queue)], depth as f64);
    r.gauge(
        QUEUE_OLDEST_AGE_SECONDS,
        &[("queue", queue)],
        oldest_age_secs.unwrap_or(0) as f64,
    );
}

type Sink = Box<dyn Fn(&str) + Send + Sync>;

fn sink() -> &'static Mutex<Option<Sink>> {
    static SINK: OnceLock<Mutex<Option<Sink>>> = OnceLock::new();
    SINK.get_or_init(|| Mutex::new(None))
}

/// Sends EMF lines somewhere other than stdout (tests capture them this way).
pub fn set_emf_sink(f: impl Fn(&str) + Send + Sync + 'static) {
    let mut g = match sink().lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    *g = Some(Box::new(f));
}

/// Prints what was recorded since the last flush as EMF lines on stdout (a Lambda function calls
/// this after each invocation; CloudWatch turns the lines into metrics).
pub fn flush_emf() {
    let lines = Registry::global().drain_emf(crate::clock::now_ms());
    if lines.is_empty() {
        return;
    }
    let g = match sink().lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    for line in lines {
        match g.as_ref() {
            Some(f) => f(&line),
            None => println!("{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_counters_histograms_and_gauges_with_bounded_labels() {
        let r = Registry::new();
        r.count(RECEIVED, &[("source", "github")], 2);
        r.count(
            REJECTED,
            &[("source", "github"), ("reason", "bad signature!")],
            1,
        );
        r.observe_ms(END_TO_END_LATENCY_MS, &[("source", "github")], 42.0);
        r.gauge(QUEUE_DEPTH, &[("queue", "main")], 3.0);
        let text = r.render_prometheus();
        assert!(
            text.contains("hookgate_received_total{source=\"github\"} 2"),
            "{text}"
        );
        assert!(text.contains("# TYPE hookgate_received_total counter"));
        // Free text never becomes a label value.
        assert!(
            text.contains("hookgate_rejected_total{reason=\"other\",source=\"github\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("hookgate_end_to_end_latency_ms_bucket{source=\"github\",le=\"50\"} 1")
        );
        assert!(
            text.contains("hookgate_end_to_end_latency_ms_bucket{source=\"github\",le=\"25\"} 0")
        );
        assert!(text.contains("hookgate_end_to_end_latency_ms_count{source=\"github\"} 1"));
        assert!(text.contains("hookgate_queue_depth{queue=\"main\"} 3"));
        assert_eq!(r.counter_value(RECEIVED, &[("source", "github")]), 2);
    }

    #[test]
    fn emf_lines_group_by_dimensions_and_drain() {
        let r = Registry::new();
        r.count(RECEIVED, &[("source", "github")], 1);
        r.count(DUPLICATE, &[("source", "github")], 1);
        r.count(
            PROCESSED,
            &[("source", "github"), ("outcome", "succeeded")],
            1,
        );
        r.observe_ms(HANDLER_DURATION_MS, &[("source", "github")], 12.4);
        r.observe_ms(HANDLER_DURATION_MS, &[("source", "github")], 12.0);
        let lines = r.drain_emf(1_700_000_000_000);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let docs: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let by_source = docs.iter().find(|d| d.get("outcome").is_none()).unwrap();
        assert_eq!(
            by_source["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            NAMESPACE
        );
        assert_eq!(
            by_source["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["source"]])
        );
        assert_eq!(by_source["source"], "github");
        assert_eq!(by_source["received"], 1);
        assert_eq!(by_source["duplicate"], 1);
        assert_eq!(
            by_source["handler_duration_ms"],
            json!({"Values": [12], "Counts": [2]})
        );
        let processed = docs.iter().find(|d| d.get("outcome").is_some()).unwrap();
        assert_eq!(processed["processed"], 1);
        assert_eq!(
            processed["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["outcome", "source"]])
        );
        // Drained: nothing new, nothing printed; totals stay for Prometheus.
        assert!(r.drain_emf(0).is_empty());
        assert_eq!(r.counter_value(RECEIVED, &[]), 1);
    }
}
