//! `log`: writes one structured line per event (metadata only, never the payload).

use async_trait::async_trait;

use super::{Event, Handler, HandlerError, HandlerReport};
use crate::config::LogLevel;

pub struct LogHandler {
    name: String,
    level: LogLevel,
}

impl LogHandler {
    pub fn new(name: &str, level: LogLevel) -> Self {
        Self {
            name: name.to_owned(),
            level,
        }
    }
}

#[async_trait]
impl Handler for LogHandler {
    fn reads_payload(&self) -> bool {
        false
    }

    async fn handle(&self, e: &Event) -> Result<HandlerReport, HandlerError> {
        let (h, id, src, ty, g, n) = (
            self.name.as_str(),
            e.event_id.as_str(),
            e.source.as_str(),
            e.event_type.as_str(),
            e.generation.get(),
            e.body.len(),
        );
        match self.level {
            LogLevel::Debug => tracing::debug!(
                handler = h,
                event_id = id,
                source = src,
                event_type = ty,
                generation = g,
                bytes = n,
                "event"
            ),
            LogLevel::Info => tracing::info!(
                handler = h,
                event_id = id,
                source = src,
                event_type = ty,
                generation = g,
                bytes = n,
                "event"
            ),
            LogLevel::Warn => tracing::warn!(
                handler = h,
                event_id = id,
                source = src,
                event_type = ty,
                generation = g,
                bytes = n,
                "event"
            ),
        }
        Ok(HandlerReport::default())
    }
}
