//! `forward`: POSTs the event's original body to a URL, re-signed with Standard Webhooks headers.
//!
//! The request carries the original bytes and content type, `webhook-id` / `webhook-timestamp` /
//! `webhook-signature` when a secret is configured (`webhook-id` is the event id for generation 1
//! and `{event_id}_g{generation}` for a replay, so the receiver does not dedupe a deliberate
//! replay away), the `x-hookgate-*` metadata headers and the configured extra headers.
//!
//! Outcomes: 2xx is a success; 408, 429, 5xx, connection errors and timeouts are transient; any
//! other status (3xx, as redirects are never followed, and the remaining 4xx) is permanent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};

use super::{BuildError, ErrorKind, Event, Handler, HandlerError, HandlerReport};
use crate::secrets::{SecretError, SecretRef, SecretResolver};

/// The longest response body snippet kept in a report, in bytes.
pub const RESPONSE_SNIPPET_BYTES: usize = 512;

/// Headers the handler sets itself; configured extra headers may not name them.
const RESERVED: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
];
const RESERVED_PREFIX: &str = "x-hookgate-";

pub struct ForwardHandler {
    name: String,
    url: Url,
    /// The URL without user info, query or fragment: safe for messages and logs.
    shown_url: String,
    secret: Option<SecretRef>,
    secrets: Arc<SecretResolver>,
    extra_headers: HeaderMap,
    timeout: Duration,
    client: reqwest::Client,
}

impl std::fmt::Debug for ForwardHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardHandler")
            .field("name", &self.name)
            .field("url", &self.shown_url)
            .field("secret", &self.secret)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ForwardHandler {
    /// Builds the handler and its HTTP client. Touches no network and resolves no secret.
    pub fn new(
        name: &str,
        url: &str,
        secret: Option<SecretRef>,
        timeout: Duration,
        headers: &BTreeMap<String, String>,
        secrets: Arc<SecretResolver>,
    ) -> Result<Self, BuildError> {
        let fail = |message: String| BuildError {
            name: name.to_owned(),
            message,
        };
        let parsed = Url::parse(url).map_err(|e| fail(format!("`url` is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(fail("`url` must be an http(s) URL".into()));
        }
        if timeout.is_zero() {
            return Err(fail("`timeout` must be more than 0".into()));
        }
        let mut extra_headers = HeaderMap::new();
        for (k, v) in headers {
            let hn = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| fail(format!("`headers`: `{k}` is not a valid header name")))?;
            if RESERVED.contains(&hn.as_str()) || hn.as_str().starts_with(RESERVED_PREFIX) {
                return Err(fail(format!(
                    "`headers`: `{k}` is set by the forward handler itself and cannot be configured"
                )));
            }
            // The value may be a credential (an `Authorization` header): never echoed back.
            let mut hv = HeaderValue::from_str(v).map_err(|_| {
                fail(format!(
                    "`headers`: the value of `{k}` is not a valid header value"
                ))
            })?;
            hv.set_sensitive(true);
            extra_headers.append(hn, hv);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("hookgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| fail(format!("cannot build the HTTP client: {}", error_chain(&e))))?;
        Ok(Self {
            name: name.to_owned(),
            shown_url: shown_url(&parsed),
            url: parsed,
            secret,
            secrets,
            extra_headers,
            timeout,
            client,
        })
    }

    fn request_headers(&self, event: &Event) -> Result<HeaderMap, HandlerError> {
        let mut h = self.extra_headers.clone();
        if let Some(ct) = &event.content_type {
            // The original content type wins over a configured fallback.
            let v = HeaderValue::from_str(ct).map_err(|_| {
                HandlerError::permanent("the event's content type is not a valid header value")
            })?;
            h.insert(CONTENT_TYPE, v);
        }
        let meta: [(&'static str, String); 5] = [
            ("x-hookgate-event-id", event.event_id.to_string()),
            ("x-hookgate-source", event.source.to_string()),
            ("x-hookgate-event-type", event.event_type.clone()),
            ("x-hookgate-delivery-id", event.delivery_id.to_string()),
            ("x-hookgate-generation", event.generation.to_string()),
        ];
        for (k, v) in meta {
            // Provider-chosen values (event type, delivery id) may hold bytes a header cannot:
            // those are sent percent-encoded rather than failing the delivery.
            let v = HeaderValue::from_str(&v)
                .or_else(|_| HeaderValue::from_str(&header_safe(&v)))
                .map_err(|_| HandlerError::permanent(format!("cannot encode header `{k}`")))?;
            h.insert(HeaderName::from_static(k), v);
        }
        Ok(h)
    }

    async fn sign(&self, event: &Event, headers: &mut HeaderMap) -> Result<(), HandlerError> {
        let Some(secret_ref) = &self.secret else {
            return Ok(());
        };
        let secret = self
            .secrets
            .resolve(secret_ref)
            .await
            .map_err(|e| secret_error(&e))?;
        let id = webhook_id(event);
        let ts = crate::clock::now_ms().div_euclid(1000);
        let sig = crate::verify::sign_v1(secret.expose(), &id, ts, &event.body);
        let mut sig = HeaderValue::from_str(&sig)
            .map_err(|_| HandlerError::permanent("cannot encode the signature header"))?;
        sig.set_sensitive(true);
        let id = HeaderValue::from_str(&id)
            .map_err(|_| HandlerError::permanent("cannot encode the webhook-id header"))?;
        headers.insert(HeaderName::from_static("webhook-id"), id);
        headers.insert(
            HeaderName::from_static("webhook-timestamp"),
            HeaderValue::from(ts),
        );
        headers.insert(HeaderName::from_static("webhook-signature"), sig);
        Ok(())
    }
}

/// `webhook-id` for an event: its id, with `_g{generation}` for a replay.
pub fn webhook_id(event: &Event) -> String {
    let g = event.generation.get();
    if g <= 1 {
        event.event_id.to_string()
    } else {
        format!("{}_g{g}", event.event_id)
    }
}

#[async_trait]
impl Handler for ForwardHandler {
    async fn handle(&self, event: &Event) -> Result<HandlerReport, HandlerError> {
        let started = Instant::now();
        let mut headers = self.request_headers(event)?;
        self.sign(event, &mut headers).await?;

        let sent = self
            .client
            .post(self.url.clone())
            .headers(headers)
            .body(event.body.clone())
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let err = self.send_error(&e);
                tracing::warn!(
                    handler = %self.name,
                    event_id = %event.event_id,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    error = %err.message,
                    "forward failed"
                );
                return Err(err);
            }
        };
        let status = resp.status();
        let snippet = read_snippet(resp).await;
        let code = status.as_u16();
        tracing::debug!(
            handler = %self.name,
            event_id = %event.event_id,
            status = code,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "forwarded"
        );
        if status.is_success() {
            return Ok(HandlerReport {
                http_status: Some(code),
                exit_code: None,
                output: snippet,
            });
        }
        let kind = classify(status);
        let reason = status.canonical_reason().unwrap_or("");
        let mut err = HandlerError {
            kind,
            message: format!("POST {} answered {code} {reason}", self.shown_url)
                .trim_end()
                .to_owned(),
            http_status: Some(code),
            exit_code: None,
            output: snippet,
        };
        if status.is_redirection() {
            err.message.push_str(" (redirects are not followed)");
        }
        Err(err)
    }
}

impl ForwardHandler {
    fn send_error(&self, e: &reqwest::Error) -> HandlerError {
        let detail = error_chain(e);
        if e.is_timeout() {
            HandlerError::transient(format!(
                "POST {} timed out after {}",
                self.shown_url,
                humantime::format_duration(self.timeout)
            ))
        } else if e.is_connect() {
            HandlerError::transient(format!("cannot connect to {}: {detail}", self.shown_url))
        } else if e.is_builder() {
            HandlerError::permanent(format!(
                "cannot build the request to {}: {detail}",
                self.shown_url
            ))
        } else {
            HandlerError::transient(format!("POST {} failed: {detail}", self.shown_url))
        }
    }
}

/// 408, 429 and 5xx are worth retrying; any other non-2xx is not.
pub fn classify(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        408 | 429 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Permanent,
    }
}

fn secret_error(e: &SecretError) -> HandlerError {
    // The message names the reference (variable, secret id), never the value.
    let message = format!("cannot resolve the signing secret: {e}");
    match e {
        SecretError::Backend { .. } => HandlerError::transient(message),
        _ => HandlerError::permanent(message),
    }
}

/// Up to [`RESPONSE_SNIPPET_BYTES`] of the response body, reading no more than that.
async fn read_snippet(mut resp: reqwest::Response) -> Option<String> {
    let mut buf: Vec<u8> = Vec::new();
    while buf.len() < RESPONSE_SNIPPET_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = RESPONSE_SNIPPET_BYTES - buf.len();
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    if buf.is_empty() {
        return None;
    }
    Some(utf8_prefix_lossy(&buf, RESPONSE_SNIPPET_BYTES))
}

/// Lossy UTF-8 of `bytes`, cut to at most `max` bytes on a character boundary.
fn utf8_prefix_lossy(bytes: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.len() <= max {
        return s.into_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// `scheme://host[:port]/path`: no user info, query or fragment (they may hold credentials).
fn shown_url(u: &Url) -> String {
    let mut s = format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""));
    if let Some(p) = u.port() {
        s.push_str(&format!(":{p}"));
    }
    s.push_str(u.path());
    s
}

/// An error and its sources, without the URL reqwest would include.
fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    if let Some(u) = e.url() {
        // reqwest appends " for url (…)"; the URL may carry credentials in its query.
        out = out.replace(&format!(" for url ({u})"), "");
    }
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}

/// Percent-encodes what a header value cannot carry (controls, non-ASCII).
fn header_safe(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(
                classify(StatusCode::from_u16(s).unwrap()),
                ErrorKind::Transient,
                "{s}"
            );
        }
        for s in [
            300, 301, 302, 304, 307, 400, 401, 403, 404, 409, 410, 413, 422,
        ] {
            assert_eq!(
                classify(StatusCode::from_u16(s).unwrap()),
                ErrorKind::Permanent,
                "{s}"
            );
        }
    }

    #[test]
    fn snippet_cut_on_char_boundary() {
        let s = "é".repeat(300); // 600 bytes
        let out = utf8_prefix_lossy(s.as_bytes(), 512);
        assert_eq!(out.len(), 512);
        let out = utf8_prefix_lossy(&s.as_bytes()[..511], 512);
        assert!(out.len() <= 512);
        assert!(out.starts_with("éé"));
    }

    #[test]
    fn url_shown_without_credentials() {
        let u = Url::parse("https://user:pw@example.com:8443/hook?token=abc#x").unwrap();
        assert_eq!(shown_url(&u), "https://example.com:8443/hook");
    }

    #[test]
    fn header_safe_encoding() {
        assert_eq!(header_safe("a b%\n\u{e9}"), "a b%25%0A%C3%A9");
    }
}
