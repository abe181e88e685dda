//! Filters as operators write them (strings from CLI flags, JSON commands, admin query strings),
//! parsed once into the store's [`EventFilter`] with a clear error per bad field.

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::model::{DeliveryId, EventStatus, Millis, SourceName};
use crate::ports::EventFilter;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub event_type: Option<String>,
    #[serde(default)]
    pub delivery_id: Option<String>,
    /// RFC 3339 instant, or a duration ago (`1h`, `30m`, `7d`).
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub until: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} `{value}`: {expected}")]
pub struct FilterError {
    pub field: &'static str,
    pub value: String,
    pub expected: String,
}

impl FilterSpec {
    pub fn parse(&self, now: Millis) -> Result<EventFilter, FilterError> {
        let err = |field: &'static str, value: &str, expected: &str| FilterError {
            field,
            value: value.chars().take(100).collect(),
            expected: expected.to_owned(),
        };
        let instant = |field: &'static str, v: &Option<String>| {
            v.as_deref()
                .map(|raw| {
                    clock::parse_instant_or_ago(raw, now).ok_or_else(|| {
                        err(
                            field,
                            raw,
                            "expected an RFC 3339 instant or a duration like 1h",
                        )
                    })
                })
                .transpose()
        };
        Ok(EventFilter {
            source: self
                .source
                .as_deref()
                .map(|s| SourceName::parse(s).map_err(|e| err("source", s, &e.to_string())))
                .transpose()?,
            status: self
                .status
                .as_deref()
                .map(|s| {
                    EventStatus::parse(s).ok_or_else(|| {
                        err(
                            "status",
                            s,
                            &format!(
                                "expected one of {}",
                                EventStatus::ALL.map(EventStatus::as_str).join(", ")
                            ),
                        )
                    })
                })
                .transpose()?,
            event_type: self.event_type.clone(),
            delivery_id: self
                .delivery_id
                .as_deref()
                .map(|s| DeliveryId::parse(s).map_err(|e| err("delivery_id", s, &e.to_string())))
                .transpose()?,
            since: instant("since", &self.since)?,
            until: instant("until", &self.until)?,
        })
    }
}

impl EventFilter {
    /// True when no field narrows the selection.
    pub fn is_everything(&self) -> bool {
        self.source.is_none()
            && self.status.is_none()
            && self.event_type.is_none()
            && self.delivery_id.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_the_field_at_fault() {
        let f = FilterSpec {
            source: Some("github".into()),
            status: Some("dead".into()),
            since: Some("1h".into()),
            ..Default::default()
        }
        .parse(10_000_000)
        .unwrap();
        assert_eq!(f.status, Some(EventStatus::Dead));
        assert_eq!(f.since, Some(10_000_000 - 3_600_000));
        assert!(!f.is_everything());
        let e = FilterSpec {
            status: Some("exploded".into()),
            ..Default::default()
        }
        .parse(0)
        .unwrap_err();
        assert_eq!(e.field, "status");
        assert!(e.to_string().contains("succeeded"));
        assert_eq!(
            FilterSpec {
                source: Some("Bad/Name".into()),
                ..Default::default()
            }
            .parse(0)
            .unwrap_err()
            .field,
            "source"
        );
        assert!(FilterSpec::default().parse(0).unwrap().is_everything());
    }
}
