//! Time: one place that reads the wall clock, and formatting of stored timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::Millis;

/// The wall clock, behind a trait so tests can pin "now".
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> Millis;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        now_ms()
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// RFC 3339 with millisecond precision, UTC (`2026-11-23T22:37:05.123Z`).
pub fn rfc3339(ms: Millis) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => {
            let fmt = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            );
            t.format(&fmt).unwrap_or_else(|_| ms.to_string())
        }
        Err(_) => ms.to_string(),
    }
}

/// Parses RFC 3339 (`2026-11-23T10:00:00Z`) into epoch milliseconds.
pub fn parse_rfc3339(raw: &str) -> Option<Millis> {
    let t =
        time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Parses either an RFC 3339 instant or a duration ago (`90s`, `1h`, `7d`) relative to `now`.
pub fn parse_instant_or_ago(raw: &str, now: Millis) -> Option<Millis> {
    if let Some(t) = parse_rfc3339(raw) {
        return Some(t);
    }
    let d = humantime::parse_duration(raw).ok()?;
    Some(now - i64::try_from(d.as_millis()).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_instant_or_ago("1h", 7_200_000), Some(3_600_000));
        assert_eq!(parse_instant_or_ago("nonsense", 0), None);
    }
}
