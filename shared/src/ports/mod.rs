//! Ports: the narrow traits the logic is written against. Adapters live in `crate::adapters`.

mod queue;
mod store;

pub use queue::{Queue, QueueError, QueueStats, Received};
pub use store::{
    ClaimOutcome, ClaimRequest, EventFilter, EventStore, Page, PageRequest, PendingEvent,
    PutOutcome, RecordOutcome, RecordRequest, ReplayMark, StoreError,
};
