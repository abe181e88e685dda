//! Signature verification: one [`Verifier`] per provider kind, chosen by `provider = "…"`.
//!
//! Every verifier checks the signature over the raw body bytes before anything is parsed, compares
//! in constant time, accepts any of a source's secrets (rotation) and reports which label matched.

mod asymmetric;
mod github;
pub(crate) mod hmac_util;
mod mailgun;
mod options;
mod scheme;
mod standard_webhooks;
mod stripe;
mod token;
mod twilio;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use http::HeaderMap;

use crate::model::Millis;
use crate::secrets::SecretValue;

pub use asymmetric::{Discord, SendGrid, discord_public_key, sendgrid_public_key};
pub use github::GitHub;
pub use hmac_util::Algo;
pub use mailgun::Mailgun;
pub use options::Options;
pub use scheme::{Enc, HmacScheme, SigFormat, parse_sig};
pub use standard_webhooks::StandardWebhooks;
pub use standard_webhooks::{sign_v1, sign_v1a};
pub use stripe::Stripe;
pub use token::{BasicAuth, GitLab, HeaderToken};
pub use twilio::{
    Twilio, signing_string as twilio_signing_string, url_variants as twilio_url_variants,
};

/// What a verifier sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct VerifyRequest<'a> {
    pub method: &'a str,
    /// The public URL the provider posted to (for providers that sign it).
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub now: Millis,
}

/// A source's secret, resolved, with its label.
#[derive(Debug, Clone)]
pub struct KeyedSecret {
    pub label: String,
    pub value: SecretValue,
}

/// Why a request was refused. Every variant is a 401 at the edge except where noted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing signature header `{0}`")]
    MissingHeader(String),
    /// For providers that put the signature in the body (Mailgun).
    #[error("missing signature field `{0}` in the body")]
    MissingField(String),
    #[error("malformed header `{header}`: {reason}")]
    MalformedHeader { header: String, reason: String },
    #[error("signature does not match any configured secret")]
    BadSignature,
    /// The signature matched, but the signed timestamp is outside the tolerance. Ingest answers a
    /// duplicate if the delivery is already stored, else 401.
    #[error("timestamp is {skew_secs}s away from now, outside the {tolerance_secs}s tolerance")]
    StaleTimestamp {
        skew_secs: i64,
        tolerance_secs: u64,
        secret_label: String,
    },
    #[error("no usable secret is configured for this source")]
    NoSecret,
}

impl VerifyError {
    /// A short, bounded label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "missing_header",
            Self::MissingField(_) => "missing_field",
            Self::MalformedHeader { .. } => "malformed_header",
            Self::BadSignature => "bad_signature",
            Self::StaleTimestamp { .. } => "stale_timestamp",
            Self::NoSecret => "no_secret",
        }
    }
}

/// The provider's own identity for a delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub delivery_id: Option<String>,
    pub event_type: Option<String>,
}

/// Headers a signer produced for an outgoing delivery.
pub type SignedHeaders = Vec<(String, String)>;

/// The answer to a provider's endpoint handshake (Slack `url_verification`, Zoom
/// `endpoint.url_validation`, Discord PING, Twitch `webhook_callback_verification`): sent as is,
/// and no event is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Handshake {
    pub fn json(value: &serde_json::Value) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
        }
    }
}

pub trait Verifier: Send + Sync {
    /// The config name of this provider kind.
    fn provider(&self) -> &'static str;

    /// Headers this provider sends, for `hookgate providers`.
    fn expected_headers(&self) -> Vec<String>;

    /// A one-line description of what is signed, for `hookgate providers`.
    fn describe(&self) -> String {
        String::new()
    }

    /// Checks the signature against every unexpired secret; returns the label that matched.
    fn verify(
        &self,
        req: &VerifyRequest<'_>,
        secrets: &[KeyedSecret],
        tolerance: Duration,
    ) -> Result<String, VerifyError>;

    /// The delivery id and event type the provider put in headers or body.
    fn identify(&self, req: &VerifyRequest<'_>) -> Identity;

    /// Signs `body` the way the provider would (for `hookgate send`, tests and the chaos run).
    fn sign(
        &self,
        secret: &str,
        body: &[u8],
        url: &str,
        now: Millis,
        delivery_id: &str,
        event_type: &str,
    ) -> SignedHeaders;

    /// Headers worth keeping on the stored event (lowercase), besides those `keep_headers` names.
    fn kept_headers(&self) -> &'static [&'static str] {
        &[]
    }

    /// A verified request that is the provider's endpoint handshake, answered without creating an
    /// event. `secret` is the secret that verified it (Zoom signs its answer with it).
    fn handshake(&self, _req: &VerifyRequest<'_>, _secret: &KeyedSecret) -> Option<Handshake> {
        None
    }

    /// Asymmetric kinds (Discord, SendGrid, Standard Webhooks `v1a`) verify with a public key;
    /// `sign` then needs the private key (the source's `options.signing_key`, or `send --secret`).
    fn needs_signing_key(&self) -> bool {
        false
    }

    /// The body as the provider would send it, for providers that sign inside the body (Mailgun).
    fn prepare_body(
        &self,
        _secret: &str,
        body: &[u8],
        _now: Millis,
        _delivery_id: &str,
    ) -> Vec<u8> {
        body.to_vec()
    }
}

/// Every provider kind this build knows, sorted.
pub fn provider_names() -> Vec<&'static str> {
    PROVIDERS.to_vec()
}

pub fn is_known_provider(name: &str) -> bool {
    PROVIDERS.contains(&name)
}

/// The verifier for a provider kind with its options (`None` for an unknown kind or bad options;
/// [`build_verifier`] says why).
pub fn verifier_for(
    provider: &str,
    options: &BTreeMap<String, toml::Value>,
) -> Option<Box<dyn Verifier>> {
    build_verifier(provider, options).ok()
}

/// Options every source may carry that are not the verifier's: skipped by option checks.
const SOURCE_OPTIONS: &[&str] = &["signing_key"];

/// The verifier for a provider kind, or why its options are wrong.
pub fn build_verifier(
    provider: &str,
    options: &BTreeMap<String, toml::Value>,
) -> Result<Box<dyn Verifier>, String> {
    let mut o = Options::new(options, SOURCE_OPTIONS);
    let v: Box<dyn Verifier> = match provider {
        "github" => Box::new(GitHub {
            legacy_sha1: o.bool("legacy_sha1")?.unwrap_or(false),
        }),
        "stripe" => Box::new(Stripe),
        "standard-webhooks" => Box::new(StandardWebhooks::standard()),
        "svix" => Box::new(StandardWebhooks::svix("svix")),
        "clerk" => Box::new(StandardWebhooks::svix("clerk")),
        "resend" => Box::new(StandardWebhooks::svix("resend")),
        "gitlab" => Box::new(GitLab::from_options(&mut o)?),
        "twilio" => Box::new(Twilio),
        "discord" => Box::new(Discord),
        "sendgrid" => Box::new(SendGrid),
        "mailgun" => Box::new(Mailgun),
        "basic-auth" => Box::new(BasicAuth),
        "header-token" => Box::new(HeaderToken::from_options(&mut o)?),
        "generic-hmac" => Box::new(HmacScheme::generic(&mut o)?),
        other => match HmacScheme::named(other) {
            Some(s) => Box::new(s),
            None => {
                return Err(format!(
                    "unknown provider `{other}`; known: {}",
                    provider_names().join(", ")
                ));
            }
        },
    };
    o.finish()?;
    Ok(v)
}

/// Every provider kind, by name.
pub const PROVIDERS: &[&str] = &[
    "basic-auth",
    "bitbucket",
    "calendly",
    "clerk",
    "discord",
    "generic-hmac",
    "github",
    "gitlab",
    "header-token",
    "hubspot",
    "intercom",
    "jira",
    "linear",
    "mailgun",
    "paddle",
    "pagerduty",
    "resend",
    "sendgrid",
    "sentry",
    "shopify",
    "slack",
    "square",
    "standard-webhooks",
    "stripe",
    "svix",
    "twilio",
    "twitch",
    "typeform",
    "vercel",
    "zoom",
];

/// One verifier per kind with default options (generic-hmac with `header = "X-Signature"`).
pub fn all() -> Vec<Box<dyn Verifier>> {
    PROVIDERS
        .iter()
        .filter_map(|p| {
            let mut opts = BTreeMap::new();
            if *p == "generic-hmac" {
                opts.insert("header".to_owned(), toml::Value::from("X-Signature"));
            }
            build_verifier(p, &opts).ok()
        })
        .collect()
}

/// The label of the first secret for which `check` holds, else [`VerifyError::BadSignature`].
pub(crate) fn first_match(
    secrets: &[KeyedSecret],
    mut check: impl FnMut(&str) -> bool,
) -> Result<String, VerifyError> {
    secrets
        .iter()
        .find(|s| check(s.value.expose()))
        .map(|s| s.label.clone())
        .ok_or(VerifyError::BadSignature)
}

/// Where a provider puts a delivery's id or event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Src {
    /// A request header.
    Header(String),
    /// A JSON pointer into the body (`/event/id`).
    Json(String),
    /// A field of a form-encoded body.
    Form(String),
}

pub(crate) fn hdr(name: &str) -> Src {
    Src::Header(name.to_owned())
}
pub(crate) fn json(ptr: &str) -> Src {
    Src::Json(ptr.to_owned())
}
pub(crate) fn form(field: &str) -> Src {
    Src::Form(field.to_owned())
}

/// The first of `sources` that is present, as text.
pub(crate) fn extract(req: &VerifyRequest<'_>, sources: &[Src]) -> Option<String> {
    let mut parsed: Option<Option<serde_json::Value>> = None;
    let mut fields: Option<Vec<(String, String)>> = None;
    for s in sources {
        let found = match s {
            Src::Header(h) => header(req.headers, h)
                .ok()
                .flatten()
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            Src::Json(ptr) => parsed
                .get_or_insert_with(|| serde_json::from_slice(req.body).ok())
                .as_ref()
                .and_then(|v| v.pointer(ptr))
                .and_then(|v| match v {
                    serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }),
            Src::Form(f) => fields
                .get_or_insert_with(|| form_fields(req.body))
                .iter()
                .find(|(k, v)| k == f && !v.is_empty())
                .map(|(_, v)| v.clone()),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The fields of an `application/x-www-form-urlencoded` body, decoded, in order.
pub(crate) fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A header's value as text; a non-UTF-8 or repeated header is malformed.
pub(crate) fn header<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<Option<&'a str>, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(VerifyError::MalformedHeader {
            header: name.to_owned(),
            reason: "sent more than once".into(),
        });
    }
    first
        .to_str()
        .map(|s| Some(s.trim()))
        .map_err(|_| VerifyError::MalformedHeader {
            header: name.to_owned(),
            reason: "not visible ASCII".into(),
        })
}

pub(crate) fn required_header<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<&'a str, VerifyError> {
    match header(headers, name)? {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(VerifyError::MissingHeader(name.to_owned())),
    }
}

/// Checks a signed unix timestamp in milliseconds against now, both directions.
pub(crate) fn check_timestamp_ms(
    ts_ms: i64,
    now: Millis,
    tolerance: Duration,
    secret_label: &str,
) -> Result<(), VerifyError> {
    // Saturating: a signed but absurd timestamp must not overflow.
    let diff = now.saturating_sub(ts_ms);
    let skew = diff / 1000;
    let tol = tolerance.as_secs();
    if diff.unsigned_abs() > tolerance.as_millis().try_into().unwrap_or(u64::MAX) {
        return Err(VerifyError::StaleTimestamp {
            skew_secs: skew,
            tolerance_secs: tol,
            secret_label: secret_label.to_owned(),
        });
    }
    Ok(())
}

/// Checks a signed unix timestamp (seconds) against now, both directions.
pub(crate) fn check_timestamp(
    ts_secs: i64,
    now: Millis,
    tolerance: Duration,
    secret_label: &str,
) -> Result<(), VerifyError> {
    let skew = (now / 1000).saturating_sub(ts_secs);
    let tol = tolerance.as_secs();
    if skew.unsigned_abs() > tol {
        return Err(VerifyError::StaleTimestamp {
            skew_secs: skew,
            tolerance_secs: tol,
            secret_label: secret_label.to_owned(),
        });
    }
    Ok(())
}

/// Reads `id` and `type` from a JSON body without building the whole document.
pub(crate) fn body_id_and_type(body: &[u8]) -> Identity {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(default)]
        id: Option<serde_json::Value>,
        #[serde(default, rename = "type")]
        kind: Option<String>,
    }
    match serde_json::from_slice::<Head>(body) {
        Ok(h) => Identity {
            delivery_id: h.id.and_then(|v| match v {
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }),
            event_type: h.kind,
        },
        Err(_) => Identity::default(),
    }
}

#[cfg(test)]
mod timestamp_tests {
    use super::*;

    #[test]
    fn absurd_timestamps_do_not_overflow() {
        let t = Duration::from_secs(300);
        assert!(check_timestamp(i64::MIN, i64::MAX, t, "k").is_err());
        assert!(check_timestamp(i64::MAX, i64::MIN, t, "k").is_err());
        assert!(check_timestamp_ms(i64::MIN, i64::MAX, t, "k").is_err());
        assert!(check_timestamp_ms(i64::MAX, 0, t, "k").is_err());
        assert!(check_timestamp_ms(1_000_000, 1_000_000 + 300_000, t, "k").is_ok());
        assert!(check_timestamp_ms(1_000_000, 1_000_000 + 300_001, t, "k").is_err());
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub fn secrets(values: &[(&str, &str)]) -> Vec<KeyedSecret> {
        values
            .iter()
            .map(|(l, v)| KeyedSecret {
                label: (*l).into(),
                value: SecretValue::new(*v),
            })
            .collect()
    }

    pub fn headers(pairs: &[(String, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    /// Signs with `v`, then checks: valid → label; flipped byte, wrong secret, missing header → errors.
    pub fn round_trip(v: &dyn Verifier, secret: &str, now: Millis, required: &[&str]) {
        let body = br#"{"id":"evt_1","type":"thing.happened","ref":"refs/heads/main"}"#;
        let url = "https://hooks.example.com/webhooks/x";
        let signed = v.sign(secret, body, url, now, "dlv-1", "thing.happened");
        let h = headers(&signed);
        let req = VerifyRequest {
            method: "POST",
            url,
            headers: &h,
            body,
            now,
        };
        let tol = Duration::from_secs(300);
        let keys = secrets(&[("old", "not-it-at-all"), ("new", secret)]);
        assert_eq!(
            v.verify(&req, &keys, tol).unwrap(),
            "new",
            "{}",
            v.provider()
        );

        let mut flipped = body.to_vec();
        flipped[5] ^= 1;
        let bad = VerifyRequest {
            body: &flipped,
            ..req
        };
        assert_eq!(
            v.verify(&bad, &keys, tol),
            Err(VerifyError::BadSignature),
            "{}",
            v.provider()
        );

        let wrong = secrets(&[("x", "whsec_d3JvbmctYnV0LXZhbGlkLWJhc2U2NA==")]);
        assert_eq!(
            v.verify(&req, &wrong, tol),
            Err(VerifyError::BadSignature),
            "{}",
            v.provider()
        );

        for name in required {
            let mut h2 = h.clone();
            h2.remove(name.to_ascii_lowercase().as_str());
            let r = VerifyRequest {
                headers: &h2,
                ..req
            };
            assert!(
                matches!(v.verify(&r, &keys, tol), Err(VerifyError::MissingHeader(ref n)) if n.eq_ignore_ascii_case(name)),
                "{} without {name}",
                v.provider()
            );
        }
    }
}
