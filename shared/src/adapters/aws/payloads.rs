//! The claim check: bodies too large for a DynamoDB item live in an S3 bucket, and the item keeps
//! the object's key (`body_ref`) instead of the body.
//!
//! Keys are `bodies/{event_id}/{sha256 of the stored bytes}`: a second delivery with the same id but
//! another body can never overwrite the stored one, and writing the same object twice (a retried
//! ingest) is harmless. The bucket's lifecycle rule expires objects with the events' retention;
//! an object whose item was never written (the put lost the race to a duplicate) simply expires.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use sha2::{Digest, Sha256};

use super::AwsError;
use crate::model::EventId;
use crate::ports::StoreError;

/// Items above this many bytes (DynamoDB's limit is 400 KB) keep their body in the bucket.
pub const ITEM_BUDGET: usize = 380 * 1024;

#[derive(Debug, Clone)]
pub struct PayloadBucket {
    client: Client,
    bucket: String,
}

impl PayloadBucket {
    /// No network call.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn key(id: &EventId, stored: &[u8]) -> String {
        let digest = hex::encode(Sha256::digest(stored));
        format!("bodies/{id}/{}", &digest[..32])
    }

    pub async fn put(&self, key: &str, stored: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(stored))
            .content_type("application/octet-stream")
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutObject", e))?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetObject", e))?;
        let bytes = out.body.collect().await.map_err(|e| {
            StoreError::Unavailable(format!("reading s3://{}/{key}: {e}", self.bucket))
        })?;
        Ok(bytes.into_bytes().to_vec())
    }
}

/// The bucket named by `HOOKGATE_PAYLOAD_BUCKET`, if set. No network call. Path-style addressing
/// when an endpoint is configured (`AWS_ENDPOINT_URL`, e.g. an emulator).
pub fn payload_bucket_from_env(sdk: &aws_config::SdkConfig) -> Option<PayloadBucket> {
    let bucket = std::env::var("HOOKGATE_PAYLOAD_BUCKET")
        .ok()
        .filter(|b| !b.is_empty())?;
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    Some(PayloadBucket::new(Client::from_conf(conf), bucket))
}
