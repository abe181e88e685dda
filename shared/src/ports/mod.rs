//! Ports: the narrow traits the logic is written against. Adapters live in `crate::adapters`.

mod intake;
mod queue;
mod store;

pub use intake::{AtomicIntake, IntakeError};
pub use queue::{MAX_MESSAGE_BYTES, Queue, QueueError, QueueStats, Received, check_message_size};
pub use store::{
    AbandonRequest, ClaimOutcome, ClaimRequest, EventFilter, EventStore, Page, PageRequest,
    PendingEvent, PutOutcome, RecordOutcome, RecordRequest, ReplayMark, StoreError,
};
