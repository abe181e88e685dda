//! An optional capability of a backend whose event store and queue live in one database (the
//! local stack's SQLite): the new event and its pointer message written in ONE durable
//! transaction, so ingest waits for one commit instead of two in sequence.
//!
//! Not part of the narrow ports: a backend without it (DynamoDB + SQS) is used through
//! `EventStore::put_new` then `Queue::send`, exactly as before. The edge that opens the backend
//! chooses it (`Ingest::set_intake`).

use async_trait::async_trait;

use super::{PutOutcome, QueueError, StoreError};
use crate::model::NewEvent;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Nothing was written (the event is not stored, no message sent).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The message was refused before anything was written.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

#[async_trait]
pub trait AtomicIntake: Send + Sync {
    /// `EventStore::put_new(event)` and, only when the event is inserted, `Queue::send(message)`
    /// on the main queue, in one transaction: both or neither. `Ok` only once that transaction is
    /// durably committed. A duplicate sends nothing (what to do then is the caller's business,
    /// as after `put_new`).
    async fn put_new_and_send(
        &self,
        event: &NewEvent,
        message: &str,
    ) -> Result<PutOutcome, IntakeError>;
}
