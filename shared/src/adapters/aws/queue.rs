//! A queue on SQS, by URL: the same type serves the main queue and the dead-letter queue.
//! Redrive to the DLQ after `maxReceiveCount` receives is SQS's own (the queue's RedrivePolicy).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::AwsError;
use super::rest::{RestClient, RestRequest, Service, json_answer};
use crate::ports::{Queue, QueueError, QueueStats, Received};

/// SQS's longest long-poll wait.
const MAX_WAIT_SECS: u64 = 20;
/// SQS's longest visibility timeout (12 hours).
const MAX_VISIBILITY_SECS: u64 = 43_200;
/// How many receives `peek` makes at most.
const PEEK_CALLS: usize = 4;

/// One SQS queue. Its calls are signed AWS JSON 1.0 requests ([`RestClient`]), not
/// `aws-sdk-sqs`: that crate's client parsed its own copy of AWS's partition table at every cold
/// start, and its operations' code was linked into every function.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: RestClient,
    url: String,
}

/// `ReceiveMessage`'s answer, as far as it is used.
#[derive(Deserialize)]
struct ReceiveOutput {
    #[serde(rename = "Messages", default)]
    messages: Vec<SqsMessage>,
}

#[derive(Deserialize)]
struct SqsMessage {
    #[serde(rename = "MessageId")]
    message_id: Option<String>,
    #[serde(rename = "ReceiptHandle")]
    receipt_handle: Option<String>,
    #[serde(rename = "Body", default)]
    body: String,
    #[serde(rename = "Attributes", default)]
    attributes: HashMap<String, String>,
}

/// `GetQueueAttributes`'s answer.
#[derive(Deserialize)]
struct AttributesOutput {
    #[serde(rename = "Attributes", default)]
    attributes: HashMap<String, String>,
}

impl SqsQueue {
    /// No network call.
    pub fn new(client: RestClient, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// From the SDK config's region, credentials, endpoint, retry and timeout settings. No
    /// network call; `Err` says why SQS cannot be called (no region, a bad endpoint URL).
    pub fn from_sdk(sdk: &aws_config::SdkConfig, url: impl Into<String>) -> Result<Self, String> {
        Ok(Self::new(RestClient::from_sdk(sdk, Service::Sqs)?, url))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn client(&self) -> &RestClient {
        &self.client
    }

    fn request(operation: &str, input: &Value) -> RestRequest {
        RestRequest::aws_json("1.0", format!("AmazonSQS.{operation}"), input)
    }

    /// One call with the standard retries; the answer's JSON body.
    async fn call(&self, operation: &'static str, input: Value) -> Result<bytes::Bytes, AwsError> {
        let base = &self.client.endpoint().base;
        let answer = self
            .client
            .send(operation, base, &Self::request(operation, &input))
            .await?;
        Ok(answer.body)
    }

    async fn receive_raw(
        &self,
        max: u32,
        wait_secs: u64,
        visibility_secs: Option<u64>,
    ) -> Result<Vec<Received>, QueueError> {
        let mut input = json!({
            "QueueUrl": self.url,
            "MaxNumberOfMessages": max.clamp(1, 10),
            "WaitTimeSeconds": wait_secs.min(MAX_WAIT_SECS),
            "MessageSystemAttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
        });
        if let Some(v) = visibility_secs {
            input["VisibilityTimeout"] = json!(v.min(MAX_VISIBILITY_SECS));
        }
        let body = self.call("ReceiveMessage", input).await?;
        let out: ReceiveOutput = json_answer("ReceiveMessage", &body)?;
        let mut got = Vec::with_capacity(out.messages.len());
        for m in out.messages {
            let num = |k: &str| m.attributes.get(k).and_then(|v| v.parse::<i64>().ok());
            let (Some(message_id), Some(receipt)) =
                (m.message_id.clone(), m.receipt_handle.clone())
            else {
                return Err(QueueError::Unavailable(
                    "ReceiveMessage returned a message without id or receipt handle".into(),
                ));
            };
            got.push(Received {
                message_id,
                receipt,
                receive_count: num("ApproximateReceiveCount")
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(1),
                sent_at: num("SentTimestamp").unwrap_or(0),
                body: m.body,
            });
        }
        Ok(got)
    }

    async fn attributes(&self, names: &[&str]) -> Result<HashMap<String, String>, QueueError> {
        let body = self
            .call(
                "GetQueueAttributes",
                json!({ "QueueUrl": self.url, "AttributeNames": names }),
            )
            .await?;
        Ok(json_answer::<AttributesOutput>("GetQueueAttributes", &body)?.attributes)
    }
}

fn secs_ceil(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        crate::ports::check_message_size(body)?;
        self.call(
            "SendMessage",
            json!({ "QueueUrl": self.url, "MessageBody": body }),
        )
        .await?;
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
        self.call(
            "DeleteMessage",
            json!({ "QueueUrl": self.url, "ReceiptHandle": receipt }),
        )
        .await?;
        Ok(())
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError> {
        self.call(
            "ChangeMessageVisibility",
            json!({
                "QueueUrl": self.url,
                "ReceiptHandle": receipt,
                "VisibilityTimeout": timeout.as_secs().min(MAX_VISIBILITY_SECS),
            }),
        )
        .await?;
        Ok(())
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let attrs = self
            .attributes(&[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ])
            .await?;
        let num = |k: &str| {
            attrs
                .get(k)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(QueueStats {
            visible: num("ApproximateNumberOfMessages"),
            in_flight: num("ApproximateNumberOfMessagesNotVisible"),
            delayed: num("ApproximateNumberOfMessagesDelayed"),
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
            .attributes(&["QueueArn", "ApproximateNumberOfMessages"])
            .await?;
        let arn = attrs
            .get("QueueArn")
            .cloned()
            .ok_or_else(|| QueueError::Unavailable(format!("no QueueArn for {}", self.url)))?;
        let count = attrs
            .get("ApproximateNumberOfMessages")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let request = Self::request("StartMessageMoveTask", &json!({ "SourceArn": arn }));
        // An endpoint without this action answers 5xx/4xx at once; don't retry that.
        let res = self
            .client
            .send_once(
                "StartMessageMoveTask",
                &self.client.endpoint().base,
                &request,
            )
            .await;
        match res {
            Ok(_) => Ok(Some(count)),
            Err(e) => {
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
