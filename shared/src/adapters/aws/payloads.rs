//! The claim check: bodies too large for a DynamoDB item live in an S3 bucket, and the item keeps
//! the object's key (`body_ref`) instead of the body.
//!
//! Keys are `bodies/{event_id}/{sha256 of the stored bytes, first 32 hex digits}`: a second
//! delivery with the same id but another body can never overwrite the stored one, writing the same
//! object twice (a retried ingest) is harmless, and a read checks the bytes against their key. The
//! bucket's lifecycle rule expires objects with the events' retention; an object whose item was
//! never written (the put lost the race to a duplicate) simply expires.
//!
//! Two calls, `PutObject` and `GetObject`, as signed REST requests ([`super::rest`]), not
//! through `aws-sdk-s3`.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::rest::{EMPTY_SHA256, RestClient, RestRequest, Service, encode_path};
use crate::model::EventId;
use crate::ports::StoreError;

/// Items above this many bytes (DynamoDB's limit is 400 KB) keep their body in the bucket.
pub const ITEM_BUDGET: usize = 380 * 1024;

#[derive(Debug, Clone)]
pub struct PayloadBucket {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    bucket: String,
    client: RestClient,
    /// `scheme://host[/bucket]` that object keys are appended to.
    base: String,
}

impl PayloadBucket {
    /// The bucket `bucket`, reached with `sdk`'s region, credentials, endpoint settings
    /// (`AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`: path-style; FIPS and dual-stack) and time
    /// source. No network call.
    pub fn from_sdk(
        sdk: &aws_config::SdkConfig,
        bucket: impl Into<String>,
    ) -> Result<Self, StoreError> {
        let bucket = bucket.into();
        let unusable =
            |why: String| StoreError::Unavailable(format!("payload bucket {bucket}: {why}"));
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !valid {
            return Err(unusable("not a valid S3 bucket name".to_owned()));
        }
        let client = RestClient::from_sdk(sdk, Service::S3).map_err(&unusable)?;
        let endpoint = client.endpoint();
        // Virtual-hosted on AWS; path-style under a configured endpoint, and for a dotted name
        // (the virtual host's TLS wildcard does not cover it), as the SDK does.
        let base = match endpoint.base.strip_prefix("https://") {
            Some(host) if !endpoint.custom && !bucket.contains('.') => {
                format!("https://{bucket}.{host}")
            }
            _ => format!("{}/{bucket}", endpoint.base),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                bucket,
                client,
                base,
            }),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.inner.bucket
    }

    /// Where the object `key` lives.
    pub fn object_url(&self, key: &str) -> String {
        format!("{}/{}", self.inner.base, encode_path(key, true))
    }

    pub fn key(id: &EventId, stored: &[u8]) -> String {
        let digest = hex::encode(Sha256::digest(stored));
        format!("bodies/{id}/{}", &digest[..32])
    }

    pub async fn put(&self, key: &str, stored: Vec<u8>) -> Result<(), StoreError> {
        let request = RestRequest {
            method: "PUT",
            path: format!("/{}", encode_path(key, true)),
            headers: vec![("content-type", "application/octet-stream".to_owned())],
            body_sha256: Some(hex::encode(Sha256::digest(&stored))),
            body: stored.into(),
        };
        self.inner
            .client
            .send("PutObject", &self.inner.base, &request)
            .await?;
        Ok(())
    }

    /// The stored bytes; `Corrupt` when the object is gone or its bytes do not match its key.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let request = RestRequest {
            method: "GET",
            path: format!("/{}", encode_path(key, true)),
            headers: Vec::new(),
            body: bytes::Bytes::new(),
            body_sha256: Some(EMPTY_SHA256.to_owned()),
        };
        let bytes = match self
            .inner
            .client
            .send("GetObject", &self.inner.base, &request)
            .await
        {
            Ok(r) => r.body,
            Err(e) if e.code_is("NoSuchKey") => {
                return Err(StoreError::Corrupt(format!(
                    "body object s3://{}/{key} is missing: {e}",
                    self.inner.bucket
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let digest = hex::encode(Sha256::digest(&bytes));
        if !key.ends_with(&format!("/{}", &digest[..32])) {
            return Err(StoreError::Corrupt(format!(
                "body object s3://{}/{key} does not match its key's digest",
                self.inner.bucket
            )));
        }
        Ok(bytes.to_vec())
    }
}

/// The bucket named by `HOOKGATE_PAYLOAD_BUCKET`, if set. No network call. Path-style addressing
/// when an endpoint is configured (`AWS_ENDPOINT_URL[_S3]`, e.g. an emulator).
pub fn payload_bucket_from_env(
    sdk: &aws_config::SdkConfig,
) -> Result<Option<PayloadBucket>, StoreError> {
    match std::env::var("HOOKGATE_PAYLOAD_BUCKET") {
        Ok(b) if !b.is_empty() => PayloadBucket::from_sdk(sdk, b).map(Some),
        _ => Ok(None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sdk(region: &str, endpoint: Option<&str>) -> aws_config::SdkConfig {
        let mut b = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("a", "b", None, None, "test"),
                ),
            );
        if let Some(e) = endpoint {
            b = b.endpoint_url(e);
        }
        b.build()
    }

    #[test]
    fn object_urls() {
        let b = PayloadBucket::from_sdk(&sdk("eu-west-1", None), "hooks-bodies").unwrap();
        assert_eq!(
            b.object_url("bodies/evt_x/ab"),
            "https://hooks-bodies.s3.eu-west-1.amazonaws.com/bodies/evt_x/ab"
        );
        let b = PayloadBucket::from_sdk(&sdk("us-east-1", None), "my.bodies").unwrap();
        assert_eq!(
            b.object_url("k"),
            "https://s3.us-east-1.amazonaws.com/my.bodies/k"
        );
        let b = PayloadBucket::from_sdk(&sdk("us-east-1", Some("http://127.0.0.1:5000/")), "b-1")
            .unwrap();
        assert_eq!(
            b.object_url("a b/c+d"),
            "http://127.0.0.1:5000/b-1/a%20b/c%2Bd"
        );
        for bad in ["Bad_Bucket", "-b1", "b1.", "ab"] {
            assert!(
                PayloadBucket::from_sdk(&sdk("us-east-1", None), bad).is_err(),
                "{bad}"
            );
        }
    }
}
