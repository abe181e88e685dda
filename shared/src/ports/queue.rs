//! The queue port, shaped after SQS: at-least-once delivery, visibility timeout, receive count,
//! redrive to a dead-letter queue after `max_receive_count` receives.

use std::time::Duration;

use async_trait::async_trait;

use crate::model::Millis;

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// The receipt handle is not (or no longer) valid for this message.
    #[error("receipt handle is not valid: {0}")]
    InvalidReceipt(String),
    #[error("invalid queue request: {0}")]
    Invalid(String),
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    /// Valid for this receive only.
    pub receipt: String,
    pub body: String,
    /// 1 on the first receive (SQS `ApproximateReceiveCount`).
    pub receive_count: u32,
    pub sent_at: Millis,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
    pub oldest_age_secs: Option<u64>,
}

/// SQS's largest message body; every backend refuses more, so nothing works locally that AWS
/// would refuse.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Checks a body against [`MAX_MESSAGE_BYTES`].
pub fn check_message_size(body: &str) -> Result<(), QueueError> {
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(QueueError::Invalid(format!(
            "message body is {} bytes, over SQS's {MAX_MESSAGE_BYTES}",
            body.len()
        )));
    }
    Ok(())
}

#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, body: &str) -> Result<(), QueueError>;

    /// Up to `max` (≤ 10) messages, waiting up to `wait` for the first. Each received message is
    /// hidden for `visibility` (the queue's default when `None`) and its receive count goes up.
    /// A message already received `max_receive_count` times moves to the dead-letter queue instead.
    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<Received>, QueueError>;

    async fn delete(&self, receipt: &str) -> Result<(), QueueError>;

    /// Deletes several messages: one answer per receipt, in order, each as [`Queue::delete`]
    /// would give it (a stale receipt fails alone). By default the deletes run concurrently;
    /// the embedded backend makes them one operation of its writer.
    async fn delete_many(&self, receipts: &[String]) -> Vec<Result<(), QueueError>> {
        futures::future::join_all(receipts.iter().map(|r| self.delete(r))).await
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError>;

    async fn stats(&self) -> Result<QueueStats, QueueError>;

    /// Messages as they are, without hiding them or counting a receive (as far as the backend
    /// allows), for listing a dead-letter queue.
    async fn peek(&self, max: usize) -> Result<Vec<Received>, QueueError>;

    /// On a dead-letter queue: asks the backend to move every message back to its source queue
    /// natively. `Ok(None)` where the backend has no such operation (the caller then falls back
    /// to receive/send/delete); `Ok(Some(n))` with the number moved, or an estimate.
    async fn native_redrive(&self) -> Result<Option<u64>, QueueError>;
}
