//! Signature verification: one [`Verifier`] per provider kind, chosen by `provider = "…"`.
//!
//! Every verifier checks the signature over the raw body bytes before anything is parsed, compares
//! in constant time, accepts any of a source's secrets (rotation) and reports which label matched.

mod github;
mod hmac_util;
mod standard_webhooks;
mod stripe;

use std::collections::BTreeMap;
use std::time::Duration;

use http::HeaderMap;

use crate::model::Millis;
use crate::secrets::SecretValue;

pub use github::GitHub;
pub use standard_webhooks::StandardWebhooks;
pub use standard_webhooks::sign_v1;
pub use stripe::Stripe;

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

pub trait Verifier: Send + Sync {
    /// The config name of this provider kind.
    fn provider(&self) -> &'static str;

    /// Headers this provider sends, for `hookgate providers`.
    fn expected_headers(&self) -> &'static [&'static str];

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
}

/// Every provider kind this build knows, sorted.
pub fn provider_names() -> Vec<&'static str> {
    let mut v: Vec<_> = all().iter().map(|v| v.provider()).collect();
    v.sort_unstable();
    v
}

pub fn is_known_provider(name: &str) -> bool {
    all().iter().any(|v| v.provider() == name)
}

/// The verifier for a provider kind with its options.
pub fn verifier_for(
    provider: &str,
    _options: &BTreeMap<String, toml::Value>,
) -> Option<Box<dyn Verifier>> {
    all().into_iter().find(|v| v.provider() == provider)
}

fn all() -> Vec<Box<dyn Verifier>> {
    vec![
        Box::new(GitHub),
        Box::new(Stripe),
        Box::new(StandardWebhooks::standard()),
        Box::new(StandardWebhooks::svix()),
    ]
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

/// Checks a signed unix timestamp (seconds) against now, both directions.
pub(crate) fn check_timestamp(
    ts_secs: i64,
    now: Millis,
    tolerance: Duration,
    secret_label: &str,
) -> Result<(), VerifyError> {
    let skew = now / 1000 - ts_secs;
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
