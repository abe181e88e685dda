//! A queue on SQS, by URL: the same type serves the main queue and the dead-letter queue.
//! Redrive to the DLQ after `maxReceiveCount` receives is SQS's own (the queue's RedrivePolicy).

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use super::error::AwsError;
use crate::ports::{Queue, QueueError, QueueStats, Received};

/// SQS's longest long-poll wait.
const MAX_WAIT_SECS: u64 = 20;
/// SQS's longest visibility timeout (12 hours).
const MAX_VISIBILITY_SECS: u64 = 43_200;
/// How many receives `peek` makes at most.
const PEEK_CALLS: usize = 4;

/// One SQS queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// No network call.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn receive_raw(
        &self,
        max: u32,
        wait_secs: u64,
        visibility_secs: Option<u64>,
    ) -> Result<Vec<Received>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(to_i32(u64::from(max.clamp(1, 10))))
            .wait_time_seconds(to_i32(wait_secs.min(MAX_WAIT_SECS)))
            .set_visibility_timeout(visibility_secs.map(|v| to_i32(v.min(MAX_VISIBILITY_SECS))))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ReceiveMessage", e))?;
        let mut got = Vec::new();
        for m in out.messages.unwrap_or_default() {
            let attrs = m.attributes.unwrap_or_default();
            let num =
                |k: &MessageSystemAttributeName| attrs.get(k).and_then(|v| v.parse::<i64>().ok());
            let (Some(message_id), Some(receipt)) = (m.message_id, m.receipt_handle) else {
                return Err(QueueError::Unavailable(
                    "ReceiveMessage returned a message without id or receipt handle".into(),
                ));
            };
            got.push(Received {
                message_id,
                receipt,
                body: m.body.unwrap_or_default(),
                receive_count: num(&MessageSystemAttributeName::ApproximateReceiveCount)
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(1),
                sent_at: num(&MessageSystemAttributeName::SentTimestamp).unwrap_or(0),
            });
        }
        Ok(got)
    }

    async fn attributes(
        &self,
        names: &[QueueAttributeName],
    ) -> Result<std::collections::HashMap<QueueAttributeName, String>, QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetQueueAttributes", e))?;
        Ok(out.attributes.unwrap_or_default())
    }
}

fn to_i32(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn secs_ceil(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        crate::ports::check_message_size(body)?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("SendMessage", e))?;
        Ok(())
    }

    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<Received>, QueueError> {
        if !(1..=10).contains(&max) {
            return Err(QueueError::Invalid(
                "a receive takes 1 to 10 messages".into(),
            ));
        }
        self.receive_raw(max, wait.as_secs(), visibility.map(secs_ceil))
            .await
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeleteMessage", e))?;
        Ok(())
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(to_i32(timeout.as_secs().min(MAX_VISIBILITY_SECS)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ChangeMessageVisibility", e))?;
        Ok(())
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let attrs = self
            .attributes(&[
                QueueAttributeName::ApproximateNumberOfMessages,
                QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                QueueAttributeName::ApproximateNumberOfMessagesDelayed,
            ])
            .await?;
        let num = |k: QueueAttributeName| {
            attrs
                .get(&k)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(QueueStats {
            visible: num(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: num(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            delayed: num(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
            // SQS publishes the oldest message's age only as a CloudWatch metric.
            oldest_age_secs: None,
        })
    }

    /// ReceiveMessage with a zero visibility timeout, a few times, deduplicated by message id.
    /// SQS still counts these receives (`ApproximateReceiveCount`): use it on a dead-letter queue,
    /// whose messages are not redriven further.
    async fn peek(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for _ in 0..PEEK_CALLS {
            if out.len() >= max {
                break;
            }
            let want = u32::try_from(max - out.len()).unwrap_or(10).min(10);
            let batch = self.receive_raw(want, 0, Some(0)).await?;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                if out.len() < max && seen.insert(m.message_id.clone()) {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    /// `StartMessageMoveTask` from this (dead-letter) queue back to its source queues.
    async fn native_redrive(&self) -> Result<Option<u64>, QueueError> {
        let attrs = self
            .attributes(&[
                QueueAttributeName::QueueArn,
                QueueAttributeName::ApproximateNumberOfMessages,
            ])
            .await?;
        let arn = attrs
            .get(&QueueAttributeName::QueueArn)
            .cloned()
            .ok_or_else(|| QueueError::Unavailable(format!("no QueueArn for {}", self.url)))?;
        let count = attrs
            .get(&QueueAttributeName::ApproximateNumberOfMessages)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let res = self
            .client
            .start_message_move_task()
            .source_arn(arn)
            .customize()
            // An endpoint without this action answers 5xx/4xx at once; don't retry that.
            .config_override(
                aws_sdk_sqs::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await;
        match res {
            Ok(_) => Ok(Some(count)),
            Err(e) => {
                let e = AwsError::from_sdk("StartMessageMoveTask", e);
                if e.is_unsupported_operation() {
                    tracing::info!(error = %e, "native DLQ redrive unavailable; falling back");
                    Ok(None)
                } else {
                    Err(e.into())
                }
            }
        }
    }
}
