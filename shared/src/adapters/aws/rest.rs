//! Signed REST calls: every AWS operation the adapters and handlers make. S3
//! `PutObject` / `GetObject` (the payload bucket), Lambda `Invoke` (the `lambda` handler),
//! Secrets Manager `GetSecretValue` (`secretsmanager:` secret references), EventBridge
//! `PutEvents` (the `eventbridge` handler), the SQS queue operations (`super::queue`) and the
//! DynamoDB event store's (`super::dynamodb`). SDK clients serve only provisioning.
//!
//! Each is one HTTP request, signed by AWS's own `aws-sigv4` and sent through the SDK's HTTP
//! connector (the process's [`super::http::process_client`]), with the SDK config's region, credentials provider, endpoint
//! settings and time source. The SDK crates for those services cost more than everything
//! else they would do for us: `aws-sdk-s3`'s checksum crates (0.7 MB of tables),
//! `aws-sdk-lambda`'s `Invoke` error deserializer (0.13 MB) in every bootstrap that linked them,
//! and, for every SDK crate, its own copy of AWS's partition table parsed when its first client
//! is built (0.7 M instructions of each function's cold start).
//! Retries follow the SDK's standard mode: three attempts, full-jitter exponential backoff, on
//! transport failures, timeouts, throttling and 5xx. Errors are [`AwsError`]s, classified like the
//! SDK's.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_runtime_api::client::http::{HttpConnector, SharedHttpConnector};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use bytes::Bytes;
use tokio::sync::Mutex;

use super::error::{AwsError, AwsErrorKind, ErrorAnswer};
use crate::tls::SdkTrust;

/// Attempts per call when the SDK config sets none (the SDK's standard retry mode).
const ATTEMPTS: u32 = 3;
/// Full-jitter backoff: a random wait below `BACKOFF_BASE * 2^attempt`, at most `BACKOFF_MAX`.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Credentials are fetched again this long before they expire.
const CREDENTIALS_REFRESH: Duration = Duration::from_secs(5 * 60);

/// The SHA-256 of an empty payload.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// How a service signs (S3 differs from every other service) and formats its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// REST-XML errors; the payload hash in `x-amz-content-sha256`, the path signed as sent.
    S3,
    /// REST-JSON errors (`x-amzn-ErrorType`); the path encoded twice when signed.
    Lambda,
    /// The AWS JSON 1.1 protocol (`POST /`, `X-Amz-Target`): errors as Lambda's.
    SecretsManager,
    /// The AWS JSON 1.0 protocol, errors as Lambda's, except that the code is the query
    /// protocol's (`x-amzn-query-error`) when the answer has one, as the SDK reads it.
    Sqs,
    /// EventBridge: the AWS JSON 1.1 protocol, errors as Lambda's; `events.` hosts.
    EventBridge,
    /// DynamoDB: the AWS JSON 1.0 protocol, errors as Lambda's.
    DynamoDb,
}

impl Service {
    fn signing_name(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::Lambda => "lambda",
            Self::SecretsManager => "secretsmanager",
            Self::Sqs => "sqs",
            Self::EventBridge => "events",
            Self::DynamoDb => "dynamodb",
        }
    }

    /// The service's id, as `AWS_ENDPOINT_URL_<SERVICE>` and the profile's `services` sections
    /// name it.
    fn service_id(self) -> &'static str {
        match self {
            Self::S3 => "S3",
            Self::Lambda => "Lambda",
            Self::SecretsManager => "Secrets Manager",
            Self::Sqs => "SQS",
            Self::EventBridge => "EventBridge",
            Self::DynamoDb => "DynamoDB",
        }
    }

    fn endpoint_variable(self) -> &'static str {
        match self {
            Self::S3 => "AWS_ENDPOINT_URL_S3",
            Self::Lambda => "AWS_ENDPOINT_URL_LAMBDA",
            Self::SecretsManager => "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            Self::Sqs => "AWS_ENDPOINT_URL_SQS",
            Self::EventBridge => "AWS_ENDPOINT_URL_EVENTBRIDGE",
            Self::DynamoDb => "AWS_ENDPOINT_URL_DYNAMODB",
        }
    }

    fn settings(self) -> SigningSettings {
        let mut settings = SigningSettings::default();
        if self == Self::S3 {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        settings
    }
}

/// Where a service's requests go, from the SDK config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://host[:port][/path]`, without a trailing `/`.
    pub base: String,
    /// The endpoint came from `AWS_ENDPOINT_URL[_SERVICE]` (an emulator, a VPC endpoint).
    pub custom: bool,
}

/// One service's client: region, credentials, endpoint, connector. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RestClient {
    inner: Arc<Inner>,
    observer: Option<CallObserver>,
}

/// Told the operation of every request sent (each attempt), e.g. to count AWS calls in tests.
#[derive(Clone)]
struct CallObserver(Arc<dyn Fn(&'static str) + Send + Sync>);

impl std::fmt::Debug for CallObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallObserver")
    }
}

#[derive(Debug)]
struct Inner {
    service: Service,
    region: String,
    endpoint: Endpoint,
    connector: SharedHttpConnector,
    credentials: CachedCredentials,
    clock: SharedTimeSource,
    /// The SDK config's retry attempts and operation timeout.
    attempts: u32,
    operation_timeout: Option<Duration>,
}

/// A request before signing.
#[derive(Debug, Clone)]
pub struct RestRequest {
    pub method: &'static str,
    /// Path (already percent-encoded) and query, appended to the endpoint's base.
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    /// Lowercase hex SHA-256 of `body`, when the caller has it (S3 signs it); computed otherwise.
    pub body_sha256: Option<String>,
}

impl RestRequest {
    /// A request of the AWS JSON protocols (`version` `1.0` or `1.1`): `POST /`, the operation
    /// named by `X-Amz-Target` (`target`, e.g. `AmazonSQS.SendMessage`), `input` as the body.
    pub fn aws_json(version: &str, target: String, input: &impl serde::Serialize) -> Self {
        // Serializing to a `Vec` fails only for a map with non-string keys, which no input has;
        // the service would then refuse the empty body.
        let body = serde_json::to_vec(input).unwrap_or_default();
        Self {
            method: "POST",
            path: "/".into(),
            headers: vec![
                ("content-type", format!("application/x-amz-json-{version}")),
                ("x-amz-target", target),
            ],
            body: body.into(),
            body_sha256: None,
        }
    }
}

/// A 2xx answer.
#[derive(Debug)]
pub struct RestResponse {
    pub status: u16,
    pub headers: aws_smithy_runtime_api::http::Headers,
    pub body: Bytes,
}

impl RestClient {
    /// No network call. `Err` says why the SDK config cannot reach the service (no region, no
    /// credentials provider, an unusable endpoint URL).
    pub fn from_sdk(sdk: &aws_config::SdkConfig, service: Service) -> Result<Self, String> {
        let region = sdk
            .region()
            .map(|r| r.as_ref().to_owned())
            .ok_or("no AWS region configured")?;
        let credentials = sdk
            .credentials_provider()
            .ok_or("no AWS credentials provider configured")?;
        let endpoint_url = configured_endpoint(sdk, service);
        let endpoint = Endpoint::resolve(
            service,
            &region,
            endpoint_url.as_deref(),
            sdk.use_fips().unwrap_or(false),
            sdk.use_dual_stack().unwrap_or(false),
        )?;
        let timeouts = sdk
            .timeout_config()
            .cloned()
            .unwrap_or_else(super::http::default_timeouts);
        // Mozilla's roots for a configured endpoint (any CA may serve it), Amazon's for AWS's own.
        let trust = SdkTrust::for_custom_endpoint(endpoint_url.is_some());
        let http = super::http::process_client(&timeouts, trust).map_err(|e| e.to_string())?;
        Ok(Self {
            inner: Arc::new(Inner {
                service,
                region,
                endpoint,
                connector: http.default_connector(),
                credentials: CachedCredentials::new(credentials),
                clock: sdk.time_source().unwrap_or_default(),
                attempts: sdk
                    .retry_config()
                    .map_or(ATTEMPTS, |r| r.max_attempts().max(1)),
                operation_timeout: timeouts.operation_timeout(),
            }),
            observer: None,
        })
    }

    /// This client, telling `observe` the operation of every request it sends (each attempt).
    #[must_use]
    pub fn observed(mut self, observe: impl Fn(&'static str) + Send + Sync + 'static) -> Self {
        self.observer = Some(CallObserver(Arc::new(observe)));
        self
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// Sends `request` to `base` (the endpoint's, or another host of the service's, e.g. a
    /// bucket's virtual host), with the standard retries; the answer when it is a 2xx.
    pub async fn send(
        &self,
        operation: &'static str,
        base: &str,
        request: &RestRequest,
    ) -> Result<RestResponse, AwsError> {
        self.within_operation_timeout(operation, self.with_retries(operation, base, request))
            .await
    }

    /// As [`Self::send`], without retries (an operation an endpoint may not implement, whose
    /// refusal should come back at once).
    pub async fn send_once(
        &self,
        operation: &'static str,
        base: &str,
        request: &RestRequest,
    ) -> Result<RestResponse, AwsError> {
        self.within_operation_timeout(operation, self.attempt(operation, base, request))
            .await
    }

    /// `call`, cut short by the SDK config's operation timeout when it sets one.
    async fn within_operation_timeout(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<RestResponse, AwsError>>,
    ) -> Result<RestResponse, AwsError> {
        let Some(limit) = self.inner.operation_timeout else {
            return call.await;
        };
        tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
            Err(AwsError {
                operation,
                kind: AwsErrorKind::Timeout,
                code: None,
                status: None,
                message: format!("operation timed out after {limit:?}"),
                answer: None,
            })
        })
    }

    async fn with_retries(
        &self,
        operation: &'static str,
        base: &str,
        request: &RestRequest,
    ) -> Result<RestResponse, AwsError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(operation, base, request).await {
                Err(e) if attempt < self.inner.attempts && e.is_transient() => {
                    let cap = BACKOFF_BASE
                        .saturating_mul(1 << attempt)
                        .min(BACKOFF_MAX)
                        .as_millis() as u64;
                    tracing::debug!(operation, attempt, error = %e, "AWS call retried");
                    tokio::time::sleep(Duration::from_millis(rand::random_range(0..=cap))).await;
                }
                other => return other,
            }
        }
    }

    async fn attempt(
        &self,
        operation: &'static str,
        base: &str,
        request: &RestRequest,
    ) -> Result<RestResponse, AwsError> {
        let fail = |kind, status, code, message: String| AwsError {
            operation,
            kind,
            code,
            status,
            message,
            answer: None,
        };
        let credentials = self.inner.credentials.get().await.map_err(|e| {
            fail(
                AwsErrorKind::Construction,
                None,
                None,
                format!("no credentials: {e}"),
            )
        })?;
        let signed = signed(
            self.inner.service,
            request,
            &format!("{base}{}", request.path),
            &credentials,
            &self.inner.region,
            self.inner.clock.now(),
        )
        .map_err(|e| fail(AwsErrorKind::Construction, None, None, e))?;
        if let Some(observe) = &self.observer {
            (observe.0)(operation);
        }
        let response = self.inner.connector.call(signed).await.map_err(|e| {
            let kind = if e.is_timeout() {
                AwsErrorKind::Timeout
            } else {
                AwsErrorKind::Transport
            };
            fail(kind, None, None, e.to_string())
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = ByteStream::new(response.into_body())
            .collect()
            .await
            .map_err(|e| fail(AwsErrorKind::Response, Some(status), None, e.to_string()))?
            .into_bytes();
        if (200..300).contains(&status) {
            return Ok(RestResponse {
                status,
                headers,
                body,
            });
        }
        let (code, message) = match self.inner.service {
            Service::S3 => xml_error(&body),
            Service::Lambda
            | Service::SecretsManager
            | Service::EventBridge
            | Service::DynamoDb => json_error(headers.get("x-amzn-errortype"), &body),
            Service::Sqs => {
                let (code, message) = json_error(headers.get("x-amzn-errortype"), &body);
                let query_code = headers
                    .get("x-amzn-query-error")
                    .and_then(|v| v.split(';').next())
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned);
                (query_code.or(code), message)
            }
        };
        Err(AwsError {
            answer: Some(ErrorAnswer(body)),
            ..fail(
                classify(status, code.as_deref()),
                Some(status),
                code,
                message.unwrap_or_else(|| format!("HTTP {status}")),
            )
        })
    }
}

/// A 2xx answer's JSON body, or an error saying it could not be read.
pub fn json_answer<T: serde::de::DeserializeOwned>(
    operation: &'static str,
    body: &[u8],
) -> Result<T, AwsError> {
    serde_json::from_slice(body).map_err(|e| AwsError {
        operation,
        kind: AwsErrorKind::Response,
        code: None,
        status: None,
        message: format!("unreadable answer: {e}"),
        answer: None,
    })
}

impl Endpoint {
    /// The service's regional endpoint (FIPS and dual-stack variants), or `endpoint_url`.
    pub fn resolve(
        service: Service,
        region: &str,
        endpoint_url: Option<&str>,
        fips: bool,
        dual_stack: bool,
    ) -> Result<Self, String> {
        if let Some(url) = endpoint_url {
            let parsed = url::Url::parse(url).map_err(|e| format!("endpoint URL {url}: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(format!("endpoint URL {url}: not an http(s) URL"));
            }
            return Ok(Self {
                base: url.trim_end_matches('/').to_owned(),
                custom: true,
            });
        }
        let valid_region = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_region {
            return Err(format!("region {region:?} is not a region name"));
        }
        if service == Service::DynamoDb && region == "local" {
            // DynamoDB's rules name DynamoDB Local by the region `local`.
            return Ok(Self {
                base: "http://localhost:8000".into(),
                custom: true,
            });
        }
        let (suffix, dual_suffix) = dns_suffixes(region);
        // DynamoDB's GovCloud endpoints are FIPS endpoints already (its rules keep the name).
        let fips =
            fips && !(service == Service::DynamoDb && region.starts_with("us-gov-") && !dual_stack);
        let fips = if fips { "-fips" } else { "" };
        let name = service.signing_name();
        let host = match (service, dual_stack) {
            // S3 keeps its own dual-stack names under the partition's main suffix.
            (Service::S3, true) => format!("s3{fips}.dualstack.{region}.{suffix}"),
            (_, true) => format!("{name}{fips}.{region}.{dual_suffix}"),
            (_, false) => format!("{name}{fips}.{region}.{suffix}"),
        };
        Ok(Self {
            base: format!("https://{host}"),
            custom: false,
        })
    }
}

/// The endpoint URL configured for `service`, as an SDK client reads it: the config's own
/// `endpoint_url` when the caller set it on the config; else the config's service config
/// (`AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, and for the CLI the profile's,
/// honouring `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`); else the process's
/// `AWS_ENDPOINT_URL_<SERVICE>` and the config's `endpoint_url`.
fn configured_endpoint(sdk: &aws_config::SdkConfig, service: Service) -> Option<String> {
    use aws_types::service_config::ServiceConfigKey;
    let own = sdk.endpoint_url().map(str::to_owned);
    if sdk.get_origin("endpoint_url").is_client_config() {
        return own;
    }
    let key = ServiceConfigKey::builder()
        .service_id(service.service_id())
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok();
    match (sdk.service_config(), key) {
        (Some(config), Some(key)) => config.load_config(key).or(own),
        _ => std::env::var(service.endpoint_variable())
            .ok()
            .filter(|v| !v.trim().is_empty())
            .or(own),
    }
}

/// The partitions' DNS suffixes and dual-stack suffixes (AWS's partitions file), by region prefix.
fn dns_suffixes(region: &str) -> (&'static str, &'static str) {
    const PARTITIONS: &[(&str, &str, &str)] = &[
        ("cn-", "amazonaws.com.cn", "api.amazonwebservices.com.cn"),
        ("us-isob-", "sc2s.sgov.gov", "api.aws.scloud"),
        ("us-isof-", "csp.hci.ic.gov", "api.aws.hci.ic.gov"),
        ("us-iso-", "c2s.ic.gov", "api.aws.ic.gov"),
        ("eu-isoe-", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"),
        ("eusc-", "amazonaws.eu", "api.amazonwebservices.eu"),
    ];
    PARTITIONS
        .iter()
        .find(|(prefix, _, _)| region.starts_with(prefix))
        .map_or(("amazonaws.com", "api.aws"), |(_, s, d)| (s, d))
}

/// Percent-encodes a path segment (or, with `keep_slash`, a path): RFC 3986 unreserved
/// characters stay, every other byte is `%XX`.
pub fn encode_path(raw: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The signed request, as the connector takes it.
fn signed(
    service: Service,
    request: &RestRequest,
    url: &str,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<HttpRequest, String> {
    use sha2::{Digest, Sha256};
    let identity = Identity::from(credentials.clone());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service.signing_name())
        .time(time)
        .settings(service.settings())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let length = request.body.len().to_string();
    let mut headers: Vec<(&str, &str)> = vec![("content-length", length.as_str())];
    headers.extend(request.headers.iter().map(|(n, v)| (*n, v.as_str())));
    let sha256 = match &request.body_sha256 {
        Some(h) => h.clone(),
        None if request.body.is_empty() => EMPTY_SHA256.to_owned(),
        None => hex::encode(Sha256::digest(&request.body)),
    };
    let signable = SignableRequest::new(
        request.method,
        url,
        headers.iter().copied(),
        SignableBody::Precomputed(sha256),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let mut builder = http::Request::builder().method(request.method).uri(url);
    for (name, value) in &headers {
        builder = builder.header(*name, *value);
    }
    let mut http_request = builder
        .body(SdkBody::from(request.body.clone()))
        .map_err(|e| e.to_string())?;
    instructions.apply_to_request_http1x(&mut http_request);
    HttpRequest::try_from(http_request).map_err(|e| e.to_string())
}

/// As the SDK clients' errors are classified, plus S3's `RequestTimeout` (a 400 for a connection
/// that sent its body too slowly), which the SDK retries too.
fn classify(status: u16, code: Option<&str>) -> AwsErrorKind {
    match code {
        Some("RequestTimeout") => AwsErrorKind::Timeout,
        _ => AwsErrorKind::of_service_error(status, code),
    }
}

/// `<Error><Code>…</Code><Message>…</Message></Error>`: the code and message, when present.
fn xml_error(body: &[u8]) -> (Option<String>, Option<String>) {
    let text = String::from_utf8_lossy(body);
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let len = text[start..].find(&format!("</{name}>"))?;
        Some(text[start..start + len].trim().to_owned())
    };
    (element("Code"), element("Message"))
}

/// REST-JSON errors: the code from `x-amzn-ErrorType` (before any `:`), else the body's
/// `__type` / `code` (after any `#`); the body's `message` / `Message`.
fn json_error(error_type: Option<&str>, body: &[u8]) -> (Option<String>, Option<String>) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| v.get(n).and_then(|x| x.as_str()))
            .map(str::to_owned)
    };
    let code = error_type
        .map(str::to_owned)
        .or_else(|| field(&["__type", "code", "Code"]))
        .map(|c| {
            let c = c.split(':').next().unwrap_or_default();
            c.rsplit('#').next().unwrap_or_default().trim().to_owned()
        })
        .filter(|c| !c.is_empty());
    (code, field(&["message", "Message", "errorMessage"]))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let r = |service, region, url, fips, dual| {
            Endpoint::resolve(service, region, url, fips, dual)
                .unwrap()
                .base
        };
        assert_eq!(
            r(Service::S3, "eu-west-1", None, false, false),
            "https://s3.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            r(Service::S3, "cn-north-1", None, false, false),
            "https://s3.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            r(Service::S3, "us-gov-west-1", None, true, true),
            "https://s3-fips.dualstack.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            r(Service::S3, "us-isob-east-1", None, false, false),
            "https://s3.us-isob-east-1.sc2s.sgov.gov"
        );
        assert_eq!(
            r(Service::Lambda, "us-east-1", None, false, false),
            "https://lambda.us-east-1.amazonaws.com"
        );
        assert_eq!(
            r(Service::Lambda, "us-east-2", None, true, false),
            "https://lambda-fips.us-east-2.amazonaws.com"
        );
        assert_eq!(
            r(Service::Lambda, "eu-central-1", None, false, true),
            "https://lambda.eu-central-1.api.aws"
        );
        assert_eq!(
            r(Service::Lambda, "cn-northwest-1", None, false, true),
            "https://lambda.cn-northwest-1.api.amazonwebservices.com.cn"
        );
        let custom = Endpoint::resolve(
            Service::Lambda,
            "us-east-1",
            Some("http://127.0.0.1:5000/"),
            false,
            false,
        )
        .unwrap();
        assert_eq!(custom.base, "http://127.0.0.1:5000");
        assert_eq!(
            r(Service::SecretsManager, "eu-west-1", None, false, false),
            "https://secretsmanager.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            r(Service::SecretsManager, "us-gov-west-1", None, true, false),
            "https://secretsmanager-fips.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            r(Service::EventBridge, "eu-west-1", None, false, false),
            "https://events.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            r(Service::EventBridge, "us-east-1", None, true, false),
            "https://events-fips.us-east-1.amazonaws.com"
        );
        assert_eq!(
            r(Service::Sqs, "ap-southeast-2", None, false, false),
            "https://sqs.ap-southeast-2.amazonaws.com"
        );
        assert_eq!(
            r(Service::Sqs, "us-east-1", None, true, true),
            "https://sqs-fips.us-east-1.api.aws"
        );
        assert_eq!(
            r(Service::SecretsManager, "cn-north-1", None, true, true),
            "https://secretsmanager-fips.cn-north-1.api.amazonwebservices.com.cn"
        );
        assert_eq!(
            r(
                Service::SecretsManager,
                "us-isob-east-1",
                None,
                false,
                false
            ),
            "https://secretsmanager.us-isob-east-1.sc2s.sgov.gov"
        );
        // DynamoDB: as its endpoint rules (the SDK's endpoint tests).
        for (region, fips, dual, url) in [
            (
                "eu-west-1",
                false,
                false,
                "https://dynamodb.eu-west-1.amazonaws.com",
            ),
            (
                "us-east-1",
                true,
                false,
                "https://dynamodb-fips.us-east-1.amazonaws.com",
            ),
            (
                "us-east-1",
                true,
                true,
                "https://dynamodb-fips.us-east-1.api.aws",
            ),
            (
                "cn-north-1",
                true,
                false,
                "https://dynamodb-fips.cn-north-1.amazonaws.com.cn",
            ),
            (
                "us-gov-east-1",
                true,
                false,
                "https://dynamodb.us-gov-east-1.amazonaws.com",
            ),
            (
                "us-gov-east-1",
                true,
                true,
                "https://dynamodb-fips.us-gov-east-1.api.aws",
            ),
            (
                "us-gov-east-1",
                false,
                true,
                "https://dynamodb.us-gov-east-1.api.aws",
            ),
            (
                "us-isob-east-1",
                true,
                false,
                "https://dynamodb-fips.us-isob-east-1.sc2s.sgov.gov",
            ),
            ("local", false, false, "http://localhost:8000"),
        ] {
            assert_eq!(
                r(Service::DynamoDb, region, None, fips, dual),
                url,
                "{region}"
            );
        }
        assert!(custom.custom);
        assert!(Endpoint::resolve(Service::S3, "us-east-1/../x", None, false, false).is_err());
        assert!(
            Endpoint::resolve(Service::S3, "us-east-1", Some("ftp://x"), false, false).is_err()
        );
        assert_eq!(encode_path("a b/c+d:e", true), "a%20b/c%2Bd%3Ae");
        assert_eq!(encode_path("a/b", false), "a%2Fb");
    }

    #[test]
    fn errors_are_classified_like_the_sdks() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
        let (code, message) = xml_error(body);
        assert_eq!(code.as_deref(), Some("SlowDown"));
        assert_eq!(message.as_deref(), Some("Please reduce your request rate."));
        assert_eq!(classify(503, code.as_deref()), AwsErrorKind::Throttled);
        assert_eq!(classify(500, None), AwsErrorKind::Server);
        assert_eq!(classify(503, None), AwsErrorKind::Server);
        assert_eq!(classify(400, Some("RequestTimeout")), AwsErrorKind::Timeout);
        assert_eq!(classify(404, Some("NoSuchKey")), AwsErrorKind::Rejected);
        assert_eq!(classify(403, Some("AccessDenied")), AwsErrorKind::Rejected);
        assert_eq!(xml_error(b"<html>oops</html>"), (None, None));

        let (code, message) = json_error(
            Some("ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.awsgirapi/"),
            br#"{"Type":"User","message":"Function not found: arn:aws:lambda:us-east-1:123:function:f"}"#,
        );
        assert_eq!(code.as_deref(), Some("ResourceNotFoundException"));
        assert!(message.unwrap().starts_with("Function not found"));
        let (code, _) = json_error(None, br#"{"__type":"com.amazon#TooManyRequestsException"}"#);
        assert_eq!(code.as_deref(), Some("TooManyRequestsException"));
        assert_eq!(classify(429, code.as_deref()), AwsErrorKind::Throttled);
        assert_eq!(json_error(None, b"not json"), (None, None));
    }
}
