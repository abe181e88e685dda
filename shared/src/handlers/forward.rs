//! `forward`: POSTs the event's original body to a URL, re-signed with Standard Webhooks headers.
//!
//! The request carries the original bytes and content type, `webhook-id` / `webhook-timestamp` /
//! `webhook-signature` when a secret is configured (`webhook-id` is the event id for generation 1
//! and `{event_id}_g{generation}` for a replay, so the receiver does not dedupe a deliberate
//! replay away), the `x-hookgate-*` metadata headers and the configured extra headers.
//!
//! Outcomes: 2xx is a success; 408, 429, 5xx, connection errors and timeouts are transient; any
//! other status (3xx, as redirects are never followed, and the remaining 4xx) is permanent.
//!
//! The client is [`crate::outbound`]'s (hyper 1, rustls on ring), as the AWS calls', so the
//! processor carries one TLS implementation, and goes through the proxy the environment names
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`). It trusts the compiled-in root set ([`crate::tls`];
//! `HOOKGATE_TLS_NATIVE_ROOTS=1` adds the platform's), built once per process and shared by every
//! `forward` handler; each handler has its own connection pool. It speaks HTTP/1.1, which every
//! webhook receiver does: HTTP/2 (h2) would add ~0.5 MB to the processor's bootstrap and a tenth
//! to its cold start. `timeout` bounds
//! the whole exchange (connect, TLS, request, response headers and the snippet read). As before
//! (reqwest), user info in the URL becomes a `Basic` authorization unless one is configured, and
//! `accept: */*` and the hookgate user agent are sent unless configured.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT,
};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use url::Url;

use super::{BuildError, ErrorKind, Event, Handler, HandlerError, HandlerReport};
use crate::outbound::{self, Proxies};
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
    /// The URL without user info, query or fragment: safe for messages and logs.
    shown_url: String,
    secret: Option<SecretRef>,
    secrets: Arc<SecretResolver>,
    extra_headers: HeaderMap,
    timeout: Duration,
    /// The URL as sent: without user info or fragment.
    uri: Uri,
    /// `Basic` credentials from the URL's user info, if any.
    basic_auth: Option<HeaderValue>,
    client: HttpClient,
    proxies: Proxies,
}

type HttpClient = Client<outbound::Connector, Full<Bytes>>;

const USER_AGENT_VALUE: &str = concat!("hookgate/", env!("CARGO_PKG_VERSION"));

/// The TLS configuration every `forward` handler of the process shares (root store parsed once).
fn tls_config() -> Result<rustls::ClientConfig, String> {
    static TLS: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    TLS.get_or_init(|| {
        crate::tls::client_config(crate::tls::root_store()).map_err(|e| e.to_string())
    })
    .clone()
}

/// A pooled HTTP/1.1 (keep-alive) client for http and https URLs, through the environment's
/// proxy ([`crate::outbound`]); redirects are not followed (hyper never does). No connect
/// timeout of its own: the handler's `timeout` bounds the whole exchange.
fn http_client(proxies: &Proxies) -> Result<HttpClient, String> {
    Ok(outbound::client(outbound::connector(
        tls_config()?,
        proxies,
        None,
    )))
}

/// The `Basic` authorization for a URL's user info (percent-decoded), as reqwest sent it.
fn basic_auth(u: &Url) -> Option<HeaderValue> {
    use base64::Engine;
    if u.username().is_empty() && u.password().is_none() {
        return None;
    }
    let mut plain = percent_decode(u.username());
    plain.push(':');
    if let Some(p) = u.password() {
        plain.push_str(&percent_decode(p));
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(plain.as_bytes());
    let mut v = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    v.set_sensitive(true);
    Some(v)
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
        let basic_auth = basic_auth(&parsed);
        let mut sent = parsed.clone();
        // Cannot fail for an http(s) URL (it has a host).
        let _ = sent.set_username("");
        let _ = sent.set_password(None);
        sent.set_fragment(None);
        let uri: Uri = sent
            .as_str()
            .parse()
            .map_err(|e| fail(format!("`url` cannot be requested: {e}")))?;
        let proxies = Proxies::from_env();
        let client = http_client(&proxies)
            .map_err(|e| fail(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            shown_url: shown_url(&parsed),
            secret,
            secrets,
            extra_headers,
            timeout,
            uri,
            basic_auth,
            client,
            proxies,
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
        if let Some(auth) = &self.basic_auth {
            headers.entry(AUTHORIZATION).or_insert_with(|| auth.clone());
        }
        headers
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        headers
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(USER_AGENT_VALUE));
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .body(Full::new(event.body.clone()))
            .map_err(|e| {
                HandlerError::permanent(format!(
                    "cannot build the request to {}: {e}",
                    self.shown_url
                ))
            })?;
        *req.headers_mut() = headers;
        self.proxies.authorize(&mut req);

        let deadline = tokio::time::Instant::now() + self.timeout;
        let sent = tokio::time::timeout_at(deadline, self.client.request(req)).await;
        let resp = match sent {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(self.failed(event, started, self.send_error(&e))),
            Err(_) => return Err(self.failed(event, started, self.timed_out())),
        };
        let status = resp.status();
        let snippet = read_snippet(resp.into_body(), deadline).await;
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
    fn failed(&self, event: &Event, started: Instant, err: HandlerError) -> HandlerError {
        tracing::warn!(
            handler = %self.name,
            event_id = %event.event_id,
            elapsed_ms = started.elapsed().as_millis() as u64,
            error = %err.message,
            "forward failed"
        );
        err
    }

    fn timed_out(&self) -> HandlerError {
        HandlerError::transient(format!(
            "POST {} timed out after {}",
            self.shown_url,
            humantime::format_duration(self.timeout)
        ))
    }

    fn send_error(&self, e: &hyper_util::client::legacy::Error) -> HandlerError {
        let detail = error_chain(e);
        if e.is_connect() {
            HandlerError::transient(format!("cannot connect to {}: {detail}", self.shown_url))
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

/// Up to [`RESPONSE_SNIPPET_BYTES`] of the response body, reading no more than that, until
/// `deadline`.
async fn read_snippet(
    mut body: hyper::body::Incoming,
    deadline: tokio::time::Instant,
) -> Option<String> {
    let mut buf: Vec<u8> = Vec::new();
    while buf.len() < RESPONSE_SNIPPET_BYTES {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(chunk) = frame.data_ref() {
                    let room = RESPONSE_SNIPPET_BYTES - buf.len();
                    buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
            }
            Ok(None | Some(Err(_))) | Err(_) => break,
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

/// An error and its sources (hyper's errors never include the URL).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
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

/// `%XX` sequences decoded (lossy UTF-8); anything else kept as is.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let byte = (b[i] == b'%')
            .then(|| b.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match byte {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
    fn user_info_becomes_basic_auth_and_leaves_the_url() {
        let u = Url::parse("https://us%40er:p%3Aw@example.com/hook").unwrap();
        let v = basic_auth(&u).unwrap();
        assert!(v.is_sensitive());
        // base64("us@er:p:w")
        assert_eq!(v.to_str().unwrap(), "Basic dXNAZXI6cDp3");
        assert_eq!(
            basic_auth(&Url::parse("https://user@example.com/").unwrap())
                .unwrap()
                .to_str()
                .unwrap(),
            "Basic dXNlcjo="
        );
        assert!(basic_auth(&Url::parse("https://example.com/").unwrap()).is_none());
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");

        let h = ForwardHandler::new(
            "f",
            "https://user:pw@example.com:8443/hook?token=abc#frag",
            None,
            Duration::from_secs(1),
            &BTreeMap::new(),
            Arc::new(SecretResolver::local()),
        )
        .unwrap();
        assert_eq!(h.uri.to_string(), "https://example.com:8443/hook?token=abc");
        assert!(h.basic_auth.is_some());
    }

    #[test]
    fn header_safe_encoding() {
        assert_eq!(header_safe("a b%\n\u{e9}"), "a b%25%0A%C3%A9");
    }
}
