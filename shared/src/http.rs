//! The one place where library outcomes become HTTP statuses and JSON bodies. Every edge (the
//! local axum server, the Lambda functions) turns an [`HttpReply`] into its own response type.

use serde_json::{Value, json};

use crate::ingest::{Accepted, IngestError};
use crate::ports::StoreError;

/// Seconds a provider is asked to wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u32 = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
    /// Bytes sent instead of `body` (a provider handshake's exact answer), with a
    /// `content-type` in `headers`.
    pub raw: Option<Vec<u8>>,
}

impl HttpReply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
            raw: None,
        }
    }

    /// Exact bytes with their content type.
    pub fn raw(status: u16, content_type: &str, bytes: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type", content_type.to_owned())],
            body: Value::Null,
            raw: Some(bytes),
        }
    }

    /// `{"error": code, "reason": reason}`.
    pub fn error(status: u16, code: &str, reason: impl Into<String>) -> Self {
        Self::json(status, json!({ "error": code, "reason": reason.into() }))
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body_bytes(&self) -> Vec<u8> {
        match &self.raw {
            Some(b) => b.clone(),
            None => serde_json::to_vec(&self.body).unwrap_or_default(),
        }
    }
}

/// The reply for an ingest outcome.
pub fn ingest_reply(result: &Result<Accepted, IngestError>) -> HttpReply {
    match result {
        Ok(Accepted::New { event_id }) => {
            HttpReply::json(202, json!({ "event_id": event_id, "status": "accepted" }))
        }
        Ok(Accepted::Duplicate { event_id }) => {
            HttpReply::json(200, json!({ "event_id": event_id, "status": "duplicate" }))
        }
        Ok(Accepted::Handshake(h)) => HttpReply::raw(h.status, h.content_type, h.body.clone()),
        Err(e) => {
            let status = match e {
                IngestError::UnknownSource(_) => 404,
                IngestError::MethodNotAllowed(_) => 405,
                IngestError::Forbidden(_) => 403,
                IngestError::TooLarge { .. } | IngestError::Store(StoreError::TooLarge(_)) => 413,
                IngestError::Unauthorized(_) => 401,
                IngestError::BadDeliveryId(_) => 400,
                IngestError::SecretUnavailable(_)
                | IngestError::Store(_)
                | IngestError::Queue(_) => 503,
            };
            let reply = HttpReply::error(status, e.code(), public_reason(e));
            match status {
                503 => reply.with_header("retry-after", RETRY_AFTER_SECS.to_string()),
                405 => reply.with_header("allow", "POST"),
                _ => reply,
            }
        }
    }
}

/// What the caller is told. Backend details stay in the logs.
fn public_reason(e: &IngestError) -> String {
    match e {
        IngestError::SecretUnavailable(_) => {
            "the source's secret is unavailable; retry later".into()
        }
        IngestError::Store(StoreError::TooLarge(_)) => "payload too large to store".into(),
        IngestError::Store(_) => "event store unavailable; nothing was stored, retry later".into(),
        IngestError::Queue(_) => {
            "event stored but could not be enqueued; retry the delivery".into()
        }
        other => other.to_string(),
    }
}

/// Replies for requests that never reach ingest logic.
pub fn not_found(reason: impl Into<String>) -> HttpReply {
    HttpReply::error(404, "not_found", reason)
}

pub fn method_not_allowed(allow: &str) -> HttpReply {
    HttpReply::error(405, "method_not_allowed", format!("use {allow}"))
        .with_header("allow", allow.to_owned())
}

pub fn payload_too_large(limit: usize) -> HttpReply {
    HttpReply::error(
        413,
        "payload_too_large",
        format!("body is over the {limit}-byte limit"),
    )
}

pub fn bad_request(reason: impl Into<String>) -> HttpReply {
    HttpReply::error(400, "bad_request", reason)
}

/// The reply for an admin API error.
pub fn admin_error_reply(e: &crate::admin::AdminError) -> HttpReply {
    use crate::admin::AdminError as A;
    use crate::ports::QueueError;
    let status = match e {
        A::Unauthorized => 401,
        A::NotFound(_) => 404,
        A::MethodNotAllowed(_) => 405,
        A::BadRequest(_) | A::Filter(_) | A::Store(StoreError::Invalid(_)) => 400,
        A::Queue(QueueError::Invalid(_)) => 400,
        A::Store(StoreError::TooLarge(_)) => 413,
        A::Store(_) | A::Queue(_) => 503,
    };
    let reason = match e {
        // Backend details stay in the logs.
        A::Store(StoreError::Unavailable(_) | StoreError::Corrupt(_)) => {
            tracing::warn!(error = %e, "admin request failed");
            "event store unavailable; retry later".to_owned()
        }
        A::Queue(QueueError::Unavailable(_) | QueueError::InvalidReceipt(_)) => {
            tracing::warn!(error = %e, "admin request failed");
            "queue unavailable; retry later".to_owned()
        }
        other => other.to_string(),
    };
    let reply = HttpReply::error(status, e.code(), reason);
    match e {
        A::Unauthorized => reply.with_header("www-authenticate", "Bearer"),
        A::MethodNotAllowed(allow) => reply.with_header("allow", (*allow).to_owned()),
        A::Store(_) | A::Queue(_) if status == 503 => {
            reply.with_header("retry-after", RETRY_AFTER_SECS.to_string())
        }
        _ => reply,
    }
}
