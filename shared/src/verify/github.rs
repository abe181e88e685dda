//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`; delivery id in
//! `X-GitHub-Delivery`, event type in `X-GitHub-Event`. No signed timestamp.

use std::time::Duration;

use super::{
    Identity, KeyedSecret, SignedHeaders, Verifier, VerifyError, VerifyRequest, header, hmac_util,
    required_header,
};
use crate::model::Millis;

pub struct GitHub;

const SIG: &str = "x-hub-signature-256";

impl Verifier for GitHub {
    fn provider(&self) -> &'static str {
        "github"
    }

    fn expected_headers(&self) -> &'static [&'static str] {
        &["X-Hub-Signature-256", "X-GitHub-Delivery", "X-GitHub-Event"]
    }

    fn verify(
        &self,
        req: &VerifyRequest<'_>,
        secrets: &[KeyedSecret],
        _: Duration,
    ) -> Result<String, VerifyError> {
        let raw = required_header(req.headers, SIG)?;
        let hex_sig = raw
            .strip_prefix("sha256=")
            .ok_or_else(|| VerifyError::MalformedHeader {
                header: SIG.into(),
                reason: "expected sha256=<hex>".into(),
            })?;
        let tag = hex::decode(hex_sig).map_err(|_| VerifyError::MalformedHeader {
            header: SIG.into(),
            reason: "signature is not hex".into(),
        })?;
        secrets
            .iter()
            .find(|s| hmac_util::verify_sha256(s.value.expose().as_bytes(), &[req.body], &tag))
            .map(|s| s.label.clone())
            .ok_or(VerifyError::BadSignature)
    }

    fn identify(&self, req: &VerifyRequest<'_>) -> Identity {
        let get = |n| header(req.headers, n).ok().flatten().map(str::to_owned);
        Identity {
            delivery_id: get("x-github-delivery"),
            event_type: get("x-github-event"),
        }
    }

    fn sign(
        &self,
        secret: &str,
        body: &[u8],
        _url: &str,
        _now: Millis,
        delivery_id: &str,
        event_type: &str,
    ) -> SignedHeaders {
        let tag = hmac_util::sha256(secret.as_bytes(), &[body]);
        vec![
            (
                "X-Hub-Signature-256".into(),
                format!("sha256={}", hex::encode(tag)),
            ),
            ("X-GitHub-Delivery".into(), delivery_id.into()),
            ("X-GitHub-Event".into(), event_type.into()),
            ("Content-Type".into(), "application/json".into()),
        ]
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["x-github-delivery", "x-github-event", "x-github-hook-id"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::*;

    /// Vector from GitHub's docs, "Validating webhook deliveries" (secret "It's a Secret to
    /// Everybody", payload "Hello, World!").
    #[test]
    fn github_docs_vector() {
        let h = headers(&[(
            "X-Hub-Signature-256".into(),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".into(),
        )]);
        let req = VerifyRequest {
            method: "POST",
            url: "",
            headers: &h,
            body: b"Hello, World!",
            now: 0,
        };
        let s = secrets(&[("docs", "It's a Secret to Everybody")]);
        assert_eq!(GitHub.verify(&req, &s, Duration::ZERO).unwrap(), "docs");
    }

    #[test]
    fn round_trip_and_rejections() {
        round_trip(
            &GitHub,
            "gh-dev-secret",
            1_700_000_000_000,
            &["X-Hub-Signature-256"],
        );
    }

    #[test]
    fn malformed_and_repeated_headers() {
        let s = secrets(&[("a", "k")]);
        for v in ["sha1=abcd", "sha256=zz"] {
            let h = headers(&[("X-Hub-Signature-256".into(), v.into())]);
            let req = VerifyRequest {
                method: "POST",
                url: "",
                headers: &h,
                body: b"x",
                now: 0,
            };
            assert!(matches!(
                GitHub.verify(&req, &s, Duration::ZERO),
                Err(VerifyError::MalformedHeader { .. })
            ));
        }
        let sig = format!("sha256={}", hex::encode(hmac_util::sha256(b"k", &[b"x"])));
        let h = headers(&[
            ("X-Hub-Signature-256".into(), sig.clone()),
            ("X-Hub-Signature-256".into(), sig),
        ]);
        let req = VerifyRequest {
            method: "POST",
            url: "",
            headers: &h,
            body: b"x",
            now: 0,
        };
        assert!(matches!(
            GitHub.verify(&req, &s, Duration::ZERO),
            Err(VerifyError::MalformedHeader { .. })
        ));
    }
}
