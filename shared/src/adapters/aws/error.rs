//! The one place where AWS errors are classified.
//!
//! The adapters' signed calls ([`super::rest`]) give [`AwsError`]s classified here; the SDK
//! clients (provisioning) turn an `SdkError` into one with [`AwsError::from_sdk`]. Both become
//! their port's error with the `From` impls below. Nothing else looks inside an `SdkError`.

use std::error::Error as StdError;
use std::fmt;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::ports::{QueueError, StoreError};

/// What kind of failure an AWS call ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// No response: connection refused/reset, DNS, TLS (the request may have been sent).
    Transport,
    /// The call or an attempt timed out.
    Timeout,
    /// The service throttled the call (after the SDK's own retries).
    Throttled,
    /// A 5xx answer from the service.
    Server,
    /// The service refused the request (a 4xx error with a code: validation, not found, denied…).
    Rejected,
    /// The request could not be built (missing region, credentials…); nothing was sent.
    Construction,
    /// A response arrived but could not be parsed.
    Response,
}

impl AwsErrorKind {
    /// The kind of an error answer from a service: its HTTP status and error code.
    pub fn of_service_error(status: u16, code: Option<&str>) -> Self {
        match code {
            Some(c) if THROTTLING_CODES.contains(&c) => Self::Throttled,
            Some(c) if SERVER_CODES.contains(&c) => Self::Server,
            _ if status == 429 => Self::Throttled,
            _ if status >= 500 => Self::Server,
            _ => Self::Rejected,
        }
    }
}

impl fmt::Display for AwsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Transport => "transport failure",
            Self::Timeout => "timeout",
            Self::Throttled => "throttled",
            Self::Server => "server error",
            Self::Rejected => "rejected",
            Self::Construction => "request construction failed",
            Self::Response => "unreadable response",
        })
    }
}

/// One failed AWS call, classified.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {kind}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct AwsError {
    /// The API action, e.g. `PutItem`.
    pub operation: &'static str,
    pub kind: AwsErrorKind,
    /// The service's error code (`ConditionalCheckFailedException`, `QueueDoesNotExist`, …).
    pub code: Option<String>,
    /// The HTTP status of the answer, when there was one.
    pub status: Option<u16>,
    pub message: String,
    /// The error answer's body, for a caller that reads more than its code (DynamoDB's
    /// `ConditionalCheckFailedException` carries the item as it was). Kept by signed calls only.
    pub answer: Option<ErrorAnswer>,
}

/// The body of a service's error answer. Its `Debug` gives only its length: it may hold stored
/// data (an item, a payload), which must not reach a log line.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ErrorAnswer(pub bytes::Bytes);

impl fmt::Debug for ErrorAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorAnswer({} bytes)", self.0.len())
    }
}

/// Error codes that mean "slow down" across DynamoDB, SQS and Secrets Manager.
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "LimitExceededException",
    "TransactionInProgressException",
    "SlowDown",
];

/// Error codes the services use for a fault on their side, whatever the HTTP status says.
const SERVER_CODES: &[&str] = &[
    "InternalServerError",
    "InternalFailure",
    "InternalError",
    "InternalServiceError",
    "ServiceUnavailable",
];

impl AwsError {
    /// Classifies an SDK error. `operation` names the API action for messages.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let message = DisplayErrorContext(&err).to_string();
        let (kind, code, status) = match &err {
            SdkError::ConstructionFailure(_) => (AwsErrorKind::Construction, None, None),
            SdkError::TimeoutError(_) => (AwsErrorKind::Timeout, None, None),
            SdkError::DispatchFailure(d) => {
                let kind = if d.is_timeout() {
                    AwsErrorKind::Timeout
                } else {
                    AwsErrorKind::Transport
                };
                (kind, None, None)
            }
            SdkError::ResponseError(r) => (
                AwsErrorKind::Response,
                None,
                Some(r.raw().status().as_u16()),
            ),
            SdkError::ServiceError(s) => {
                let status = s.raw().status().as_u16();
                let code = s.err().code().map(str::to_owned);
                let kind = AwsErrorKind::of_service_error(status, code.as_deref());
                (kind, code, Some(status))
            }
            // `SdkError` is non-exhaustive: a future kind is reported as unreadable.
            _ => (AwsErrorKind::Response, None, None),
        };
        Self {
            operation,
            kind,
            code,
            status,
            message,
            answer: None,
        }
    }

    /// The service answered with this error code.
    pub fn code_is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// Worth retrying later: nothing is wrong with the request itself.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            AwsErrorKind::Transport
                | AwsErrorKind::Timeout
                | AwsErrorKind::Throttled
                | AwsErrorKind::Server
                | AwsErrorKind::Response
        )
    }

    /// DynamoDB's answer to an item over 400 KB (a `ValidationException` about the item size).
    pub fn is_item_too_large(&self) -> bool {
        self.code_is("ValidationException") && {
            let m = self.message.to_ascii_lowercase();
            m.contains("item size") || m.contains("maximum allowed size")
        }
    }

    /// The endpoint does not implement the action (an emulator, an older SQS-compatible service):
    /// an "unknown operation" style code, 404/501, or a 500 without any AWS error code (moto
    /// answers an unimplemented action with a bare HTML 500). A real SQS 5xx always carries a code.
    pub fn is_unsupported_operation(&self) -> bool {
        const CODES: &[&str] = &[
            "UnknownOperationException",
            "UnknownOperation",
            "InvalidAction",
            "UnsupportedOperation",
            "AWS.SimpleQueueService.UnsupportedOperation",
            "NotImplemented",
            "NotImplementedException",
        ];
        if self.code.as_deref().is_some_and(|c| CODES.contains(&c)) {
            return true;
        }
        let text = self.message.to_ascii_lowercase();
        match self.status {
            Some(404 | 501) => true,
            Some(400) => text.contains("not implemented") || text.contains("unknown operation"),
            Some(500) => self.code.is_none(),
            _ => false,
        }
    }
}

impl From<AwsError> for StoreError {
    fn from(e: AwsError) -> Self {
        if e.is_item_too_large() {
            StoreError::TooLarge(e.to_string())
        } else if e.is_transient() || e.kind == AwsErrorKind::Construction {
            StoreError::Unavailable(e.to_string())
        } else if e.code_is("ValidationException") || e.code_is("SerializationException") {
            StoreError::Invalid(e.to_string())
        } else {
            // Missing table, access denied, expired credentials: the store cannot serve us now;
            // ingest answers 503 and the provider retries once the deployment is fixed.
            StoreError::Unavailable(e.to_string())
        }
    }
}

/// SQS codes meaning the receipt handle does not (or no longer) fit a message in flight.
const RECEIPT_CODES: &[&str] = &[
    "ReceiptHandleIsInvalid",
    "InvalidReceiptHandle",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
    "AWS.SimpleQueueService.ReceiptHandleIsInvalid",
];

impl From<AwsError> for QueueError {
    fn from(e: AwsError) -> Self {
        if e.code
            .as_deref()
            .is_some_and(|c| RECEIPT_CODES.contains(&c))
        {
            QueueError::InvalidReceipt(e.to_string())
        } else if e.is_transient() || e.kind == AwsErrorKind::Construction {
            QueueError::Unavailable(e.to_string())
        } else if e.kind == AwsErrorKind::Rejected
            && e.code.as_deref().is_some_and(|c| {
                c.contains("InvalidParameter")
                    || c.contains("MissingParameter")
                    || c.contains("InvalidAttribute")
                    || c == "ValidationError"
                    || c == "InvalidMessageContents"
            })
        {
            QueueError::Invalid(e.to_string())
        } else {
            // Queue missing, access denied…: not usable now.
            QueueError::Unavailable(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: Option<&str>, status: Option<u16>, message: &str) -> AwsError {
        AwsError {
            operation: "Op",
            kind: AwsErrorKind::Rejected,
            code: code.map(str::to_owned),
            status,
            message: message.to_owned(),
            answer: None,
        }
    }

    #[test]
    fn classifies_size_receipts_and_unsupported() {
        let big = err(
            Some("ValidationException"),
            Some(400),
            "Item size has exceeded the maximum allowed size",
        );
        assert!(matches!(StoreError::from(big), StoreError::TooLarge(_)));
        let bad = err(Some("ValidationException"), Some(400), "bad key");
        assert!(matches!(StoreError::from(bad), StoreError::Invalid(_)));
        let receipt = err(Some("ReceiptHandleIsInvalid"), Some(400), "nope");
        assert!(matches!(
            QueueError::from(receipt),
            QueueError::InvalidReceipt(_)
        ));
        assert!(err(None, Some(500), "<html>").is_unsupported_operation());
        assert!(err(Some("UnknownOperationException"), Some(400), "").is_unsupported_operation());
        assert!(!err(Some("InternalError"), Some(500), "").is_unsupported_operation());
        assert!(!err(Some("AccessDenied"), Some(403), "").is_unsupported_operation());
    }
}
