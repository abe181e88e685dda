//! The AWS-native handlers: `eventbridge` (PutEvents to a bus, the fan-out AWS users expect) and
//! `lambda` (Invoke a function with the event). Clients are built once, with no network call.
//!
//! Outcomes:
//! - `eventbridge`: a failed entry whose error code is throttling or internal is transient, any
//!   other failed entry permanent; SDK transport failures, timeouts, throttling and 5xx are
//!   transient; the service refusing the call (unknown bus, access denied, validation) permanent.
//! - `lambda`: a function error (`X-Amz-Function-Error`) is **permanent** when the payload's
//!   `errorType` names a permanent failure — it contains `Permanent`, `Validation`, `BadRequest`
//!   or `InvalidInput` — and transient otherwise (crashes, timeouts, out of memory). A function
//!   signals "do not retry" by raising an error of such a type. Invocation failures follow the
//!   same rules as `eventbridge`, with `ResourceNotFound`, `AccessDenied` and
//!   `InvalidRequestContent` permanent.
//!
//! Each kind is a cargo feature of this crate (`handler-eventbridge`, `handler-lambda`); a binary
//! built without one refuses a config that names it ([`crate::handlers::Handlers::build`]).

use std::sync::Arc;

use aws_config::SdkConfig;

use super::ActionTable;
use crate::config::HandlerConfig;
use crate::handlers::Handler;
#[cfg(any(feature = "handler-eventbridge", feature = "handler-lambda"))]
use {
    super::{AwsError, AwsErrorKind},
    crate::handlers::{Event, HandlerError, HandlerReport},
    async_trait::async_trait,
    std::sync::OnceLock,
};

/// EventBridge's largest entry (256 KiB).
#[cfg(feature = "handler-eventbridge")]
const MAX_ENTRY_BYTES: usize = 256 * 1024;
/// How much of a function's answer is kept on the attempt.
#[cfg(any(feature = "handler-eventbridge", feature = "handler-lambda"))]
const OUTPUT_BYTES: usize = 512;

/// The IAM actions each handler kind calls.
pub const HANDLER_ACTIONS: ActionTable = &[
    ("eventbridge", &["events:PutEvents"]),
    ("lambda", &["lambda:InvokeFunction"]),
];

/// Builds `eventbridge` and `lambda` handlers from their config (the kinds this binary was built
/// with); other kinds are not its business. Each SDK client is built with the first handler that
/// needs it (none for a config without such handlers), then shared by every handler of its kind.
#[derive(Clone)]
pub struct AwsHandlerFactory {
    #[cfg_attr(
        not(any(feature = "handler-eventbridge", feature = "handler-lambda")),
        allow(dead_code)
    )]
    sdk: SdkConfig,
    #[cfg(feature = "handler-eventbridge")]
    events: OnceLock<Result<super::rest::RestClient, String>>,
    #[cfg(feature = "handler-lambda")]
    lambda: OnceLock<Result<super::rest::RestClient, String>>,
}

impl AwsHandlerFactory {
    /// No network call, no client built yet.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            sdk: sdk.clone(),
            #[cfg(feature = "handler-eventbridge")]
            events: OnceLock::new(),
            #[cfg(feature = "handler-lambda")]
            lambda: OnceLock::new(),
        }
    }

    /// The `extra` factory for [`crate::handlers::Handlers::build`]: `None` for a kind it does not
    /// build (including one this binary was built without).
    pub fn build(&self, name: &str, cfg: &HandlerConfig) -> Option<Arc<dyn Handler>> {
        match cfg {
            #[cfg(feature = "handler-eventbridge")]
            HandlerConfig::Eventbridge { bus, source } => Some(Arc::new(EventBridgeHandler {
                client: self
                    .events
                    .get_or_init(|| {
                        super::rest::RestClient::from_sdk(
                            &self.sdk,
                            super::rest::Service::EventBridge,
                        )
                    })
                    .clone(),
                bus: bus.clone(),
                source: source.clone(),
                name: name.to_owned(),
            })),
            #[cfg(feature = "handler-lambda")]
            HandlerConfig::Lambda { function } => Some(Arc::new(LambdaHandler {
                client: self
                    .lambda
                    .get_or_init(|| {
                        super::rest::RestClient::from_sdk(&self.sdk, super::rest::Service::Lambda)
                    })
                    .clone(),
                function: function.clone(),
            })),
            _ => {
                let _ = name;
                None
            }
        }
    }
}

/// Transient or permanent, from a classified SDK error.
#[cfg(any(feature = "handler-eventbridge", feature = "handler-lambda"))]
fn from_aws(e: &AwsError, permanent_codes: &[&str]) -> HandlerError {
    let permanent = matches!(e.kind, AwsErrorKind::Rejected | AwsErrorKind::Construction)
        || permanent_codes.iter().any(|c| e.code_is(c));
    let transient = !permanent
        && matches!(
            e.kind,
            AwsErrorKind::Transport
                | AwsErrorKind::Timeout
                | AwsErrorKind::Throttled
                | AwsErrorKind::Server
                | AwsErrorKind::Response
        );
    let mut err = if transient {
        HandlerError::transient(e.to_string())
    } else {
        HandlerError::permanent(e.to_string())
    };
    err.http_status = e.status;
    err
}

#[cfg(any(feature = "handler-eventbridge", feature = "handler-lambda"))]
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Puts the event on a bus (`PutEvents`, one entry) as a signed AWS JSON 1.1 request
/// ([`super::rest`]), not through `aws-sdk-eventbridge`.
#[cfg(feature = "handler-eventbridge")]
pub struct EventBridgeHandler {
    /// `Err` when the SDK config cannot reach EventBridge (no region…): every event fails
    /// permanently with that reason until the deployment is fixed and the events replayed.
    client: Result<super::rest::RestClient, String>,
    bus: String,
    source: Option<String>,
    name: String,
}

#[cfg(feature = "handler-eventbridge")]
#[async_trait]
impl Handler for EventBridgeHandler {
    async fn handle(&self, e: &Event) -> Result<HandlerReport, HandlerError> {
        let client = self.client.as_ref().map_err(|why| {
            HandlerError::permanent(format!("cannot put events on {}: {why}", self.bus))
        })?;
        let detail = e.envelope().to_string();
        if detail.len() > MAX_ENTRY_BYTES {
            return Err(HandlerError::permanent(format!(
                "event is {} bytes as an EventBridge detail, over the {MAX_ENTRY_BYTES}-byte entry limit",
                detail.len()
            )));
        }
        let source = self
            .source
            .clone()
            .unwrap_or_else(|| format!("hookgate.{}", e.source));
        // JSON 1.1 timestamps are epoch seconds.
        #[allow(clippy::cast_precision_loss)]
        let time = e.received_at as f64 / 1000.0;
        let input = serde_json::json!({
            "Entries": [{
                "EventBusName": self.bus,
                "Source": source,
                "DetailType": e.event_type,
                "Detail": detail,
                "Time": time,
            }]
        });
        let request =
            super::rest::RestRequest::aws_json("1.1", "AWSEvents.PutEvents".into(), &input);
        let answer = client
            .send("PutEvents", &client.endpoint().base, &request)
            .await
            .map_err(|err| from_aws(&err, &["ResourceNotFoundException"]))?;
        let out: PutEventsOutput = serde_json::from_slice(&answer.body).map_err(|err| {
            // The call may have put the event: not knowing, retry (a consumer sees it twice at
            // worst, as with any at-least-once delivery).
            HandlerError::transient(format!("PutEvents: unreadable answer: {err}"))
        })?;
        if out.failed_entry_count == 0 {
            tracing::debug!(handler = %self.name, "event put on the bus");
            return Ok(HandlerReport::default());
        }
        let failed = out.entries.iter().find(|x| x.error_code.is_some());
        let code = failed
            .and_then(|x| x.error_code.clone())
            .unwrap_or_else(|| "unknown".to_owned());
        let msg = failed
            .and_then(|x| x.error_message.clone())
            .unwrap_or_default();
        let text = format!(
            "PutEvents entry failed: {code}: {}",
            cut(&msg, OUTPUT_BYTES)
        );
        if entry_error_is_transient(&code) {
            Err(HandlerError::transient(text))
        } else {
            Err(HandlerError::permanent(text))
        }
    }
}

/// `PutEvents`' answer, as far as it is used.
#[cfg(feature = "handler-eventbridge")]
#[derive(serde::Deserialize)]
struct PutEventsOutput {
    #[serde(rename = "FailedEntryCount", default)]
    failed_entry_count: u32,
    #[serde(rename = "Entries", default)]
    entries: Vec<PutEventsEntry>,
}

#[cfg(feature = "handler-eventbridge")]
#[derive(serde::Deserialize)]
struct PutEventsEntry {
    #[serde(rename = "ErrorCode")]
    error_code: Option<String>,
    #[serde(rename = "ErrorMessage")]
    error_message: Option<String>,
}

/// EventBridge entry error codes worth retrying.
#[cfg(feature = "handler-eventbridge")]
pub fn entry_error_is_transient(code: &str) -> bool {
    code.contains("Throttl")
        || code.contains("InternalFailure")
        || code.contains("InternalException")
}

/// Invokes a function (`Invoke`, `RequestResponse`) as a signed REST call ([`super::rest`]):
/// `aws-sdk-lambda`'s `Invoke` error deserializer alone was 0.13 MB of the processor's bootstrap.
#[cfg(feature = "handler-lambda")]
pub struct LambdaHandler {
    /// `Err` when the SDK config cannot reach Lambda (no region…): every event fails permanently
    /// with that reason until the deployment is fixed and the events replayed.
    client: Result<super::rest::RestClient, String>,
    function: String,
}

#[cfg(feature = "handler-lambda")]
#[async_trait]
impl Handler for LambdaHandler {
    async fn handle(&self, e: &Event) -> Result<HandlerReport, HandlerError> {
        let client = self.client.as_ref().map_err(|why| {
            HandlerError::permanent(format!("cannot invoke {}: {why}", self.function))
        })?;
        let payload = serde_json::to_vec(&e.envelope())
            .map_err(|err| HandlerError::permanent(err.to_string()))?;
        let request = super::rest::RestRequest {
            method: "POST",
            path: format!(
                "/2015-03-31/functions/{}/invocations",
                super::rest::encode_path(&self.function, false)
            ),
            headers: vec![
                ("content-type", "application/json".to_owned()),
                ("x-amz-invocation-type", "RequestResponse".to_owned()),
            ],
            body: payload.into(),
            body_sha256: None,
        };
        let out = client
            .send("Invoke", &client.endpoint().base, &request)
            .await
            .map_err(|err| {
                from_aws(
                    &err,
                    &[
                        "ResourceNotFoundException",
                        "AccessDeniedException",
                        "InvalidRequestContentException",
                    ],
                )
            })?;
        let status = Some(out.status);
        let answer = String::from_utf8_lossy(&out.body).into_owned();
        let output = (!answer.is_empty()).then(|| cut(&answer, OUTPUT_BYTES));
        let function_error = out.headers.get("x-amz-function-error");
        match function_error {
            None => Ok(HandlerReport {
                http_status: status,
                exit_code: None,
                output,
            }),
            Some(kind) => {
                let (error_type, message) = function_error_of(&answer);
                let text = format!(
                    "function error ({kind}): {error_type}: {}",
                    cut(&message, OUTPUT_BYTES)
                );
                let mut err = if is_permanent_error_type(&error_type) {
                    HandlerError::permanent(text)
                } else {
                    HandlerError::transient(text)
                };
                err.http_status = status;
                err.output = output;
                Err(err)
            }
        }
    }
}

/// `errorType` and `errorMessage` of a Lambda error payload (empty when absent).
#[cfg(feature = "handler-lambda")]
pub fn function_error_of(payload: &str) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
    let s = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    (s("errorType"), s("errorMessage"))
}

/// The convention for "do not retry" errors raised by a target function.
#[cfg(feature = "handler-lambda")]
pub fn is_permanent_error_type(error_type: &str) -> bool {
    ["Permanent", "Validation", "BadRequest", "InvalidInput"]
        .iter()
        .any(|k| error_type.contains(k))
}

#[cfg(all(test, feature = "handler-eventbridge", feature = "handler-lambda"))]
mod tests {
    use super::*;

    #[test]
    fn function_error_classification() {
        let (t, m) =
            function_error_of(r#"{"errorType":"PermanentFailure","errorMessage":"bad order id"}"#);
        assert_eq!(
            (t.as_str(), m.as_str()),
            ("PermanentFailure", "bad order id")
        );
        assert!(is_permanent_error_type(&t));
        for permanent in [
            "ValidationError",
            "BadRequestError",
            "InvalidInputException",
        ] {
            assert!(is_permanent_error_type(permanent), "{permanent}");
        }
        for transient in ["Runtime.ExitError", "Sandbox.Timedout", "TypeError", ""] {
            assert!(!is_permanent_error_type(transient), "{transient}");
        }
        assert_eq!(
            function_error_of("not json"),
            (String::new(), String::new())
        );
        assert!(entry_error_is_transient("ThrottlingException"));
        assert!(entry_error_is_transient("InternalFailure"));
        assert!(!entry_error_is_transient("MalformedDetail"));
        assert!(!entry_error_is_transient("AccessDeniedException"));
    }
}
