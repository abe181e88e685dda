//! Rendering for people (tables) and machines (JSON).

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use hookgate_shared::model::EventView;
use serde::Serialize;

pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    for r in rows {
        t.add_row(r);
    }
    println!("{t}");
}

pub fn events_table(events: &[EventView]) {
    table(
        &[
            "event_id",
            "source",
            "event_type",
            "status",
            "gen",
            "attempts",
            "received_at",
            "last_error",
        ],
        events
            .iter()
            .map(|e| {
                vec![
                    e.event_id.clone(),
                    e.source.clone(),
                    e.event_type.clone(),
                    e.status.to_string(),
                    e.generation.to_string(),
                    e.attempts.to_string(),
                    e.received_at.clone(),
                    e.last_error
                        .as_deref()
                        .map(|s| short(s, 60))
                        .unwrap_or_default(),
                ]
            })
            .collect(),
    );
}

pub fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}
