//! The queue message: a pointer to a stored event, never the body.

use serde::{Deserialize, Serialize};

use crate::model::{EventId, Generation, NewEvent};

/// `{"v":1,"event_id":"evt_…","generation":1}`, and `"lease":"…"` on the message ingest sends
/// for a new event: the token of the lease it took for it when storing (see
/// [`crate::model::NewEvent::lease`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMessage {
    pub v: u8,
    pub event_id: EventId,
    pub generation: Generation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("queue message is not a hookgate pointer: {0}")]
    Malformed(String),
    #[error("queue message version {0} is not supported")]
    Version(u8),
}

impl QueueMessage {
    pub const VERSION: u8 = 1;

    pub fn new(event_id: EventId, generation: Generation) -> Self {
        Self {
            v: Self::VERSION,
            event_id,
            generation,
            lease: None,
        }
    }

    /// The message for a new event stored with ingest's lease `token`.
    pub fn with_lease(mut self, token: &str) -> Self {
        self.lease = Some(token.to_owned());
        self
    }

    /// The message ingest sends right after storing a new event: its first generation, carrying
    /// the token of the lease ingest took for it, if any.
    pub fn first(event: &NewEvent) -> Self {
        let m = Self::new(event.event_id.clone(), Generation::FIRST);
        match &event.lease {
            Some(lease) => m.with_lease(&lease.token),
            None => m,
        }
    }

    pub fn encode(&self) -> String {
        // Serializing this struct cannot fail: every field is a string or a number.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(raw: &str) -> Result<Self, MessageError> {
        let m: Self =
            serde_json::from_str(raw).map_err(|e| MessageError::Malformed(e.to_string()))?;
        if m.v != Self::VERSION {
            return Err(MessageError::Version(m.v));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_documented_shape() {
        let id = EventId::parse("evt_abcdefghijklmnopqrstuvwxyz").unwrap();
        let m = QueueMessage::new(id, Generation::FIRST);
        assert_eq!(
            m.encode(),
            r#"{"v":1,"event_id":"evt_abcdefghijklmnopqrstuvwxyz","generation":1}"#
        );
        assert_eq!(QueueMessage::decode(&m.encode()).unwrap(), m);
        let leased = m.clone().with_lease("0123abcd");
        assert_eq!(
            leased.encode(),
            r#"{"v":1,"event_id":"evt_abcdefghijklmnopqrstuvwxyz","generation":1,"lease":"0123abcd"}"#
        );
        assert_eq!(QueueMessage::decode(&leased.encode()).unwrap(), leased);
        assert!(QueueMessage::decode("{}").is_err());
        assert!(
            QueueMessage::decode(
                r#"{"v":2,"event_id":"evt_abcdefghijklmnopqrstuvwxyz","generation":1}"#
            )
            .is_err()
        );
        assert!(
            QueueMessage::decode(
                r#"{"v":1,"event_id":"evt_abcdefghijklmnopqrstuvwxyz","generation":0}"#
            )
            .is_err()
        );
    }
}
