//! `hookgate events tail`: polls the newest events and reports what changed since the last poll
//! (a new event, or a status / generation / attempts change), oldest change first.

use std::collections::HashMap;

use crate::model::{EventStatus, EventView, Millis};
use crate::ports::{EventFilter, EventStore, PageRequest, StoreError};

/// Events looked at per poll (the newest).
pub const WINDOW: usize = 200;

#[derive(Debug, Clone)]
pub enum Change {
    New(EventView),
    Updated { from: EventStatus, event: EventView },
}

impl Change {
    pub fn event(&self) -> &EventView {
        match self {
            Self::New(e) | Self::Updated { event: e, .. } => e,
        }
    }
}

type Seen = (EventStatus, u32, u32);

/// What the tail has shown so far.
pub struct Tail {
    filter: EventFilter,
    seen: HashMap<String, Seen>,
}

impl Tail {
    /// Follows events received at or after `since` that match `filter`.
    pub fn new(mut filter: EventFilter, since: Millis) -> Self {
        filter.since = Some(filter.since.map_or(since, |s| s.max(since)));
        Self {
            filter,
            seen: HashMap::new(),
        }
    }

    /// One poll: the changes since the previous one.
    pub async fn poll(&mut self, store: &dyn EventStore) -> Result<Vec<Change>, StoreError> {
        let page = store
            .list(
                &self.filter,
                &PageRequest {
                    cursor: None,
                    limit: WINDOW,
                },
            )
            .await?;
        let mut changes = Vec::new();
        // Oldest first, so the stream reads in order.
        for e in page.events.iter().rev() {
            let now: Seen = (e.status, e.generation.get(), e.attempts);
            let id = e.event_id.to_string();
            match self.seen.insert(id, now) {
                None => changes.push(Change::New(EventView::from(e))),
                Some(before) if before != now => changes.push(Change::Updated {
                    from: before.0,
                    event: EventView::from(e),
                }),
                Some(_) => {}
            }
        }
        Ok(changes)
    }
}
