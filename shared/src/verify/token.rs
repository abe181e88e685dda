//! Shared-token kinds: GitLab (`X-Gitlab-Token`, or its Standard Webhooks signing), `basic-auth`
//! and `header-token`. Tokens are compared in constant time; nothing is signed, so there is no
//! timestamp to check (a replayed request is only caught by the delivery-id dedupe).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::hmac_util::ct_eq;
use super::{
    Identity, KeyedSecret, Options, SignedHeaders, Src, StandardWebhooks, Verifier, VerifyError,
    VerifyRequest, extract, first_match, hdr, json, required_header,
};
use crate::model::Millis;

/// GitLab: `X-Gitlab-Token` equal to the secret token; or, with `options.signed = true`, the
/// signing token's Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`, HMAC-SHA256 over `{id}.{timestamp}.{body}`, key = base64 of `whsec_…`).
/// Delivery id: `Idempotency-Key` (stable across retries), else `X-Gitlab-Event-UUID`; event type:
/// `X-Gitlab-Event`.
pub struct GitLab {
    signed: Option<StandardWebhooks>,
}

const GITLAB_TOKEN: &str = "X-Gitlab-Token";

impl GitLab {
    pub fn from_options(o: &mut Options<'_>) -> Result<Self, String> {
        Ok(Self {
            signed: o
                .bool("signed")?
                .unwrap_or(false)
                .then(|| StandardWebhooks::named("gitlab")),
        })
    }

    fn ids() -> (Vec<Src>, Vec<Src>) {
        (
            vec![
                hdr("Idempotency-Key"),
                hdr("webhook-id"),
                hdr("X-Gitlab-Event-UUID"),
            ],
            vec![hdr("X-Gitlab-Event"), json("/object_kind")],
        )
    }
}

impl Verifier for GitLab {
    fn provider(&self) -> &'static str {
        "gitlab"
    }

    fn expected_headers(&self) -> Vec<String> {
        let mut v = match &self.signed {
            Some(sw) => sw.expected_headers(),
            None => vec![GITLAB_TOKEN.to_owned()],
        };
        v.extend(["Idempotency-Key".to_owned(), "X-Gitlab-Event".to_owned()]);
        v
    }

    fn describe(&self) -> String {
        match &self.signed {
            Some(sw) => sw.describe(),
            None => "X-Gitlab-Token equal to the secret token (constant-time)".into(),
        }
    }

    fn verify(
        &self,
        req: &VerifyRequest<'_>,
        secrets: &[KeyedSecret],
        tolerance: Duration,
    ) -> Result<String, VerifyError> {
        if let Some(sw) = &self.signed {
            return sw.verify(req, secrets, tolerance);
        }
        let token = required_header(req.headers, GITLAB_TOKEN)?;
        first_match(secrets, |s| ct_eq(token.as_bytes(), s.as_bytes()))
    }

    fn identify(&self, req: &VerifyRequest<'_>) -> Identity {
        let (id, kind) = Self::ids();
        Identity {
            delivery_id: extract(req, &id),
            event_type: extract(req, &kind),
        }
    }

    fn sign(
        &self,
        secret: &str,
        body: &[u8],
        url: &str,
        now: Millis,
        delivery_id: &str,
        event_type: &str,
    ) -> SignedHeaders {
        let mut out = match &self.signed {
            Some(sw) => sw.sign(secret, body, url, now, delivery_id, event_type),
            None => vec![
                (GITLAB_TOKEN.to_owned(), secret.to_owned()),
                ("Content-Type".to_owned(), "application/json".to_owned()),
            ],
        };
        out.push(("Idempotency-Key".into(), delivery_id.into()));
        out.push(("X-Gitlab-Event".into(), event_type.into()));
        out
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["x-gitlab-event", "x-gitlab-instance"]
    }
}

/// `basic-auth`: `Authorization: Basic base64(user:password)`; each secret is `user:password`.
pub struct BasicAuth;

impl Verifier for BasicAuth {
    fn provider(&self) -> &'static str {
        "basic-auth"
    }

    fn expected_headers(&self) -> Vec<String> {
        vec!["Authorization".into()]
    }

    fn describe(&self) -> String {
        "HTTP Basic credentials equal to a secret `user:password` (constant-time)".into()
    }

    fn verify(
        &self,
        req: &VerifyRequest<'_>,
        secrets: &[KeyedSecret],
        _: Duration,
    ) -> Result<String, VerifyError> {
        let raw = required_header(req.headers, "authorization")?;
        let malformed = |reason: &str| VerifyError::MalformedHeader {
            header: "Authorization".into(),
            reason: reason.into(),
        };
        let (scheme, creds) = raw
            .split_once(' ')
            .ok_or_else(|| malformed("expected `Basic <base64>`"))?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(malformed("expected the Basic scheme"));
        }
        let decoded = B64
            .decode(creds.trim())
            .map_err(|_| malformed("credentials are not base64"))?;
        first_match(secrets, |s| ct_eq(&decoded, s.as_bytes()))
    }

    fn identify(&self, req: &VerifyRequest<'_>) -> Identity {
        Identity {
            delivery_id: extract(req, &[hdr("X-Request-Id"), json("/id")]),
            event_type: extract(req, &[json("/type"), json("/event")]),
        }
    }

    fn sign(
        &self,
        secret: &str,
        _body: &[u8],
        _url: &str,
        _now: Millis,
        delivery_id: &str,
        _event_type: &str,
    ) -> SignedHeaders {
        vec![
            (
                "Authorization".into(),
                format!("Basic {}", B64.encode(secret)),
            ),
            ("X-Request-Id".into(), delivery_id.into()),
            ("Content-Type".into(), "application/json".into()),
        ]
    }
}

/// `header-token`: a header (`options.header`, default `Authorization`) equal to
/// `options.prefix` (default `Bearer ` for Authorization, else empty) + a secret. Optional
/// `options.id_header` and `options.event_header` name the delivery id and event type headers.
pub struct HeaderToken {
    header: String,
    prefix: String,
    id: Vec<Src>,
    kind: Vec<Src>,
}

impl HeaderToken {
    pub fn from_options(o: &mut Options<'_>) -> Result<Self, String> {
        let header = o.str("header")?.unwrap_or("Authorization").to_owned();
        http::HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| format!("options.header `{header}` is not a header name"))?;
        let default_prefix = if header.eq_ignore_ascii_case("authorization") {
            "Bearer "
        } else {
            ""
        };
        let prefix = o.str("prefix")?.unwrap_or(default_prefix).to_owned();
        let mut id = Vec::new();
        if let Some(h) = o.str("id_header")? {
            id.push(hdr(h));
        }
        id.push(json("/id"));
        let mut kind = Vec::new();
        if let Some(h) = o.str("event_header")? {
            kind.push(hdr(h));
        }
        kind.push(json("/type"));
        Ok(Self {
            header,
            prefix,
            id,
            kind,
        })
    }
}

impl Verifier for HeaderToken {
    fn provider(&self) -> &'static str {
        "header-token"
    }

    fn expected_headers(&self) -> Vec<String> {
        let mut v = vec![self.header.clone()];
        for s in self.id.iter().chain(&self.kind) {
            if let Src::Header(h) = s {
                v.push(h.clone());
            }
        }
        v
    }

    fn describe(&self) -> String {
        format!("`{}: {}<secret>` (constant-time)", self.header, self.prefix)
    }

    fn verify(
        &self,
        req: &VerifyRequest<'_>,
        secrets: &[KeyedSecret],
        _: Duration,
    ) -> Result<String, VerifyError> {
        let raw = required_header(req.headers, &self.header)?;
        let token =
            raw.strip_prefix(self.prefix.as_str())
                .ok_or_else(|| VerifyError::MalformedHeader {
                    header: self.header.clone(),
                    reason: format!("expected `{}<token>`", self.prefix),
                })?;
        first_match(secrets, |s| ct_eq(token.as_bytes(), s.as_bytes()))
    }

    fn identify(&self, req: &VerifyRequest<'_>) -> Identity {
        Identity {
            delivery_id: extract(req, &self.id),
            event_type: extract(req, &self.kind),
        }
    }

    fn sign(
        &self,
        secret: &str,
        _body: &[u8],
        _url: &str,
        _now: Millis,
        delivery_id: &str,
        event_type: &str,
    ) -> SignedHeaders {
        let mut out = vec![(self.header.clone(), format!("{}{secret}", self.prefix))];
        for (srcs, value) in [(&self.id, delivery_id), (&self.kind, event_type)] {
            if let Some(Src::Header(h)) = srcs.first() {
                out.push((h.clone(), value.to_owned()));
            }
        }
        out.push(("Content-Type".into(), "application/json".into()));
        out
    }
}
