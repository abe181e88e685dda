//! The claim check: bodies too large for a DynamoDB item live in an S3 bucket, and the item keeps
//! the object's key (`body_ref`) instead of the body.
//!
//! Keys are `bodies/{event_id}/{sha256 of the stored bytes, first 32 hex digits}`: a second
//! delivery with the same id but another body can never overwrite the stored one, writing the same
//! object twice (a retried ingest) is harmless, and a read checks the bytes against their key. The
//! bucket's lifecycle rule expires objects with the events' retention; an object whose item was
//! never written (the put lost the race to a duplicate) simply expires.
//!
//! Two calls, `PutObject` and `GetObject`, as signed REST requests ([`S3Request`]: AWS's own
//! `aws-sigv4` signer, S3's signing settings) sent through the SDK's HTTP connector
//! ([`SdkHttpClient`]), with the SDK's credentials provider and time source. Not `aws-sdk-s3`:
//! its checksum crates alone (`crc-fast`'s tables for every CRC variant) were 0.7 MB of each
//! bootstrap, for two calls. Retries follow the SDK's standard mode: three attempts, full-jitter
//! exponential backoff, on transport failures, timeouts, throttling and 5xx.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::http::{HttpConnector, SharedHttpConnector};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::error::{AwsError, AwsErrorKind};
use super::http::SdkHttpClient;
use crate::model::EventId;
use crate::ports::StoreError;
use crate::tls::SdkTrust;

/// Items above this many bytes (DynamoDB's limit is 400 KB) keep their body in the bucket.
pub const ITEM_BUDGET: usize = 380 * 1024;

/// Attempts per call, as the SDK's standard retry mode.
const ATTEMPTS: u32 = 3;
/// Full-jitter backoff: a random wait below `BACKOFF_BASE * 2^attempt`, at most `BACKOFF_MAX`.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Credentials are fetched again this long before they expire.
const CREDENTIALS_REFRESH: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone)]
pub struct PayloadBucket {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    bucket: String,
    endpoint: Endpoint,
    region: String,
    connector: SharedHttpConnector,
    credentials: CachedCredentials,
    clock: aws_smithy_async::time::SharedTimeSource,
}

impl PayloadBucket {
    /// The bucket `bucket`, reached with `sdk`'s region, credentials, endpoint settings
    /// (`AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`: path-style; FIPS and dual-stack) and time
    /// source, through a connector of the shared kind ([`SdkHttpClient`], trusting
    /// [`SdkTrust::from_env`]). No network call.
    pub fn from_sdk(
        sdk: &aws_config::SdkConfig,
        bucket: impl Into<String>,
    ) -> Result<Self, StoreError> {
        let bucket = bucket.into();
        let unusable =
            |why: &str| StoreError::Unavailable(format!("payload bucket {bucket}: {why}"));
        let region = sdk
            .region()
            .map(|r| r.as_ref().to_owned())
            .ok_or_else(|| unusable("no AWS region configured"))?;
        let credentials = sdk
            .credentials_provider()
            .ok_or_else(|| unusable("no AWS credentials provider configured"))?;
        let endpoint_url = std::env::var("AWS_ENDPOINT_URL_S3")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| sdk.endpoint_url().map(str::to_owned));
        let endpoint = Endpoint::resolve(
            &bucket,
            &region,
            endpoint_url.as_deref(),
            sdk.use_fips().unwrap_or(false),
            sdk.use_dual_stack().unwrap_or(false),
        )
        .map_err(|e| unusable(&e))?;
        let timeouts = sdk
            .timeout_config()
            .cloned()
            .unwrap_or_else(super::http::default_timeouts);
        let http = SdkHttpClient::new(&timeouts, SdkTrust::from_env())
            .map_err(|e| unusable(&e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                bucket,
                endpoint,
                region,
                connector: http.default_connector(),
                credentials: CachedCredentials::new(credentials),
                clock: sdk.time_source().unwrap_or_default(),
            }),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.inner.bucket
    }

    pub fn key(id: &EventId, stored: &[u8]) -> String {
        let digest = hex::encode(Sha256::digest(stored));
        format!("bodies/{id}/{}", &digest[..32])
    }

    pub async fn put(&self, key: &str, stored: Vec<u8>) -> Result<(), StoreError> {
        let sha256 = hex::encode(Sha256::digest(&stored));
        let body = bytes::Bytes::from(stored);
        self.call("PutObject", "PUT", key, &sha256, Some(body))
            .await?;
        Ok(())
    }

    /// The stored bytes; `Corrupt` when the object is gone or its bytes do not match its key.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        const EMPTY_SHA256: &str =
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let bytes = match self.call("GetObject", "GET", key, EMPTY_SHA256, None).await {
            Ok(b) => b,
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

    /// One call with the SDK's standard retries; the response body on a 2xx.
    async fn call(
        &self,
        operation: &'static str,
        method: &'static str,
        key: &str,
        payload_sha256: &str,
        body: Option<bytes::Bytes>,
    ) -> Result<bytes::Bytes, AwsError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .attempt(operation, method, key, payload_sha256, body.clone())
                .await;
            match result {
                Err(e) if attempt < ATTEMPTS && e.is_transient() => {
                    let cap = BACKOFF_BASE
                        .saturating_mul(1 << attempt)
                        .min(BACKOFF_MAX)
                        .as_millis() as u64;
                    tracing::debug!(operation, attempt, error = %e, "S3 call retried");
                    tokio::time::sleep(Duration::from_millis(rand::random_range(0..=cap))).await;
                }
                other => return other,
            }
        }
    }

    async fn attempt(
        &self,
        operation: &'static str,
        method: &'static str,
        key: &str,
        payload_sha256: &str,
        body: Option<bytes::Bytes>,
    ) -> Result<bytes::Bytes, AwsError> {
        let fail = |kind, status, code, message: String| AwsError {
            operation,
            kind,
            code,
            status,
            message,
        };
        let credentials = self.inner.credentials.get().await.map_err(|e| {
            fail(
                AwsErrorKind::Construction,
                None,
                None,
                format!("no credentials: {e}"),
            )
        })?;
        let request = S3Request {
            method,
            url: self.inner.endpoint.object_url(&self.inner.bucket, key),
            payload_sha256,
            body,
        }
        .signed(&credentials, &self.inner.region, self.inner.clock.now())
        .map_err(|e| fail(AwsErrorKind::Construction, None, None, e))?;
        let response = self.inner.connector.call(request).await.map_err(|e| {
            let kind = if e.is_timeout() {
                AwsErrorKind::Timeout
            } else {
                AwsErrorKind::Transport
            };
            fail(kind, None, None, e.to_string())
        })?;
        let status = response.status().as_u16();
        let bytes = ByteStream::new(response.into_body())
            .collect()
            .await
            .map_err(|e| fail(AwsErrorKind::Response, Some(status), None, e.to_string()))?
            .into_bytes();
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let (code, message) = s3_error(&bytes);
        let kind = classify(status, code.as_deref());
        Err(fail(
            kind,
            Some(status),
            code,
            message.unwrap_or_else(|| format!("HTTP {status}")),
        ))
    }
}

fn classify(status: u16, code: Option<&str>) -> AwsErrorKind {
    match code {
        Some(c) if super::error::THROTTLING_CODES.contains(&c) => AwsErrorKind::Throttled,
        Some(c) if super::error::SERVER_CODES.contains(&c) => AwsErrorKind::Server,
        // S3's answer to a connection that sent its body too slowly: retried by the SDK too.
        Some("RequestTimeout") => AwsErrorKind::Timeout,
        _ if status == 429 || status == 503 => AwsErrorKind::Throttled,
        _ if status >= 500 => AwsErrorKind::Server,
        _ => AwsErrorKind::Rejected,
    }
}

/// `<Error><Code>…</Code><Message>…</Message></Error>`: the code and message, when present.
fn s3_error(body: &[u8]) -> (Option<String>, Option<String>) {
    let text = String::from_utf8_lossy(body);
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let len = text[start..].find(&format!("</{name}>"))?;
        Some(text[start..start + len].trim().to_owned())
    };
    (element("Code"), element("Message"))
}

/// Where requests go: the bucket's virtual host, or a path under the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    /// `https://{bucket}.{host}/{key}`
    VirtualHost { host: String },
    /// `{base}/{bucket}/{key}` (an endpoint URL, or a bucket name with dots).
    Path { base: String },
}

impl Endpoint {
    fn resolve(
        bucket: &str,
        region: &str,
        endpoint_url: Option<&str>,
        fips: bool,
        dual_stack: bool,
    ) -> Result<Self, String> {
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !valid {
            return Err("not a valid S3 bucket name".to_owned());
        }
        if let Some(url) = endpoint_url {
            let parsed = url::Url::parse(url).map_err(|e| format!("endpoint URL {url}: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(format!("endpoint URL {url}: not an http(s) URL"));
            }
            return Ok(Self::Path {
                base: url.trim_end_matches('/').to_owned(),
            });
        }
        let valid_region = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_region {
            return Err(format!("region {region:?} is not a region name"));
        }
        let host = format!(
            "s3{}{}.{region}.{}",
            if fips { "-fips" } else { "" },
            if dual_stack { ".dualstack" } else { "" },
            dns_suffix(region)
        );
        // A dotted name breaks the virtual host's TLS wildcard: path-style, as the SDK does.
        if bucket.contains('.') {
            Ok(Self::Path {
                base: format!("https://{host}"),
            })
        } else {
            Ok(Self::VirtualHost { host })
        }
    }

    fn object_url(&self, bucket: &str, key: &str) -> String {
        let key = encode_key(key);
        match self {
            Self::VirtualHost { host } => format!("https://{bucket}.{host}/{key}"),
            Self::Path { base } => format!("{base}/{bucket}/{key}"),
        }
    }
}

/// The partitions' DNS suffixes (AWS's partitions file), by region prefix.
fn dns_suffix(region: &str) -> &'static str {
    const SUFFIXES: &[(&str, &str)] = &[
        ("cn-", "amazonaws.com.cn"),
        ("us-isob-", "sc2s.sgov.gov"),
        ("us-isof-", "csp.hci.ic.gov"),
        ("us-iso-", "c2s.ic.gov"),
        ("eu-isoe-", "cloud.adc-e.uk"),
        ("eusc-", "amazonaws.eu"),
    ];
    SUFFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("amazonaws.com", |(_, suffix)| suffix)
}

/// Percent-encodes a key for the request path (and the canonical request, which S3 signs with
/// the path as sent): RFC 3986 unreserved characters and `/` stay, every other byte is `%XX`.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One S3 REST request, signed with SigV4 as S3 wants it: the payload's SHA-256 in
/// `x-amz-content-sha256`, the path neither normalized nor encoded twice.
struct S3Request<'a> {
    method: &'static str,
    url: String,
    payload_sha256: &'a str,
    body: Option<bytes::Bytes>,
}

impl S3Request<'_> {
    fn signed(
        self,
        credentials: &Credentials,
        region: &str,
        time: SystemTime,
    ) -> Result<HttpRequest, String> {
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let identity = Identity::from(credentials.clone());
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("s3")
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let length = self.body.as_ref().map_or(0, bytes::Bytes::len).to_string();
        let mut headers = vec![("content-length", length.as_str())];
        if self.body.is_some() {
            headers.push(("content-type", "application/octet-stream"));
        }
        let signable = SignableRequest::new(
            self.method,
            self.url.as_str(),
            headers.iter().copied(),
            SignableBody::Precomputed(self.payload_sha256.to_owned()),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let mut builder = http::Request::builder()
            .method(self.method)
            .uri(self.url.as_str());
        for (name, value) in &headers {
            builder = builder.header(*name, *value);
        }
        let body = self.body.map_or_else(SdkBody::empty, SdkBody::from);
        let mut request = builder.body(body).map_err(|e| e.to_string())?;
        instructions.apply_to_request_http1x(&mut request);
        HttpRequest::try_from(request).map_err(|e| e.to_string())
    }
}

/// The provider's credentials, fetched again shortly before they expire (the SDK clients'
/// identity cache does the same for theirs). One fetch at a time.
#[derive(Debug)]
struct CachedCredentials {
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<Credentials>>,
}

impl CachedCredentials {
    fn new(provider: SharedCredentialsProvider) -> Self {
        Self {
            provider,
            cached: Mutex::new(None),
        }
    }

    async fn get(&self) -> Result<Credentials, String> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            let fresh = c.expiry().is_none_or(|expiry| {
                expiry
                    .duration_since(SystemTime::now())
                    .is_ok_and(|left| left > CREDENTIALS_REFRESH)
            });
            if fresh {
                return Ok(c.clone());
            }
        }
        let c =
            self.provider.provide_credentials().await.map_err(|e| {
                aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
            })?;
        *cached = Some(c.clone());
        Ok(c)
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

    #[test]
    fn endpoints() {
        let r =
            |bucket, region, url, fips, dual| Endpoint::resolve(bucket, region, url, fips, dual);
        let e = r("hooks-bodies", "eu-west-1", None, false, false).unwrap();
        assert_eq!(
            e.object_url("hooks-bodies", "bodies/evt_x/ab"),
            "https://hooks-bodies.s3.eu-west-1.amazonaws.com/bodies/evt_x/ab"
        );
        let e = r("b-1", "cn-north-1", None, false, false).unwrap();
        assert_eq!(
            e.object_url("b-1", "k"),
            "https://b-1.s3.cn-north-1.amazonaws.com.cn/k"
        );
        let e = r("b-1", "us-gov-west-1", None, true, true).unwrap();
        assert_eq!(
            e.object_url("b-1", "k"),
            "https://b-1.s3-fips.dualstack.us-gov-west-1.amazonaws.com/k"
        );
        let e = r("b-1", "us-isob-east-1", None, false, false).unwrap();
        assert_eq!(
            e.object_url("b-1", "k"),
            "https://b-1.s3.us-isob-east-1.sc2s.sgov.gov/k"
        );
        // Dots: path-style on the regional endpoint.
        let e = r("my.bodies", "us-east-1", None, false, false).unwrap();
        assert_eq!(
            e.object_url("my.bodies", "k"),
            "https://s3.us-east-1.amazonaws.com/my.bodies/k"
        );
        // An endpoint URL: path-style under it.
        let e = r(
            "b-1",
            "us-east-1",
            Some("http://127.0.0.1:5000/"),
            false,
            false,
        )
        .unwrap();
        assert_eq!(
            e.object_url("b-1", "a b/c+d"),
            "http://127.0.0.1:5000/b-1/a%20b/c%2Bd"
        );
        assert!(r("Bad_Bucket", "us-east-1", None, false, false).is_err());
        assert!(r("b-1", "us-east-1/../x", None, false, false).is_err());
        assert!(r("b-1", "us-east-1", Some("ftp://x"), false, false).is_err());
    }

    #[test]
    fn errors_are_classified_like_the_sdks() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
        let (code, message) = s3_error(body);
        assert_eq!(code.as_deref(), Some("SlowDown"));
        assert_eq!(message.as_deref(), Some("Please reduce your request rate."));
        assert_eq!(classify(503, code.as_deref()), AwsErrorKind::Throttled);
        assert_eq!(classify(500, None), AwsErrorKind::Server);
        assert_eq!(classify(400, Some("RequestTimeout")), AwsErrorKind::Timeout);
        assert_eq!(classify(404, Some("NoSuchKey")), AwsErrorKind::Rejected);
        assert_eq!(classify(403, Some("AccessDenied")), AwsErrorKind::Rejected);
        assert_eq!(s3_error(b"<html>oops</html>"), (None, None));
    }
}
