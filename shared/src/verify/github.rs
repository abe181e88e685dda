//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`; delivery id in
//! `X-GitHub-Delivery`, event type in `X-GitHub-Event`. No signed timestamp. With
//! `options.legacy_sha1 = true`, a delivery that only carries the legacy
//! `X-Hub-Signature: sha1=<hex HMAC-SHA1>` is accepted too (old GitHub Enterprise Server).

use std::time::Duration;

use super::{
    Identity, KeyedSecret, SignedHeaders, Verifier, VerifyError, VerifyRequest, header, hmac_util,
    required_header,
};
use crate::model::Millis;

#[derive(Debug, Clone, Copy, Default)]
pub struct GitHub {
    pub legacy_sha1: bool,
}

const LEGACY: &str = "x-hub-signature";

const SIG: &str = "x-hub-signature-256";

impl Verifier for GitHub {
    fn provider(&self) -> &'static str {
        "github"
    }

    fn expected_headers(&self) -> Vec<String> {
        let mut v = vec!["X-Hub-Signature-256"];
        if self.legacy_sha1 {
            v.push("X-Hub-Signature");
        }
        v.extend(["X-GitHub-Delivery", "X-GitHub-Event"]);
        v.into_iter().map(str::to_owned).collect()
    }

    fn describe(&self) -> String {
        "HMAC-SHA256 (hex, `sha256=`) over `{body}`".into()
    }

    fn verify(
        &self,
        req: &VerifyRequest<'_>,
        secrets: &[KeyedSecret],
        _: Duration,
    ) -> Result<String, VerifyError> {
        if self.legacy_sha1
            && header(req.headers, SIG)?.is_none()
            && let Some(raw) = header(req.headers, LEGACY)?
        {
            let tag = raw
                .strip_prefix("sha1=")
                .and_then(|h| hex::decode(h).ok())
                .ok_or_else(|| VerifyError::MalformedHeader {
                    header: LEGACY.into(),
                    reason: "expected sha1=<hex>".into(),
                })?;
            return super::first_match(secrets, |s| {
                hmac_util::verify(hmac_util::Algo::Sha1, s.as_bytes(), &[req.body], &tag)
            });
        }
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
        let mut out = Vec::new();
        if self.legacy_sha1 {
            let sha1 = hmac_util::compute(hmac_util::Algo::Sha1, secret.as_bytes(), &[body]);
            out.push((
                "X-Hub-Signature".to_owned(),
                format!("sha1={}", hex::encode(sha1)),
            ));
        }
        out.extend([
            (
                "X-Hub-Signature-256".into(),
                format!("sha256={}", hex::encode(tag)),
            ),
            ("X-GitHub-Delivery".into(), delivery_id.into()),
            ("X-GitHub-Event".into(), event_type.into()),
            ("Content-Type".into(), "application/json".into()),
        ]);
        out
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
        assert_eq!(
            GitHub::default().verify(&req, &s, Duration::ZERO).unwrap(),
            "docs"
        );
    }

    #[test]
    fn round_trip_and_rejections() {
        round_trip(
            &GitHub::default(),
            "gh-dev-secret",
            1_700_000_000_000,
            &["X-Hub-Signature-256"],
        );
    }

    #[test]
    fn legacy_sha1_only_when_enabled() {
        let body = b"Hello, World!";
        let sha1 = hex::encode(hmac_util::compute(hmac_util::Algo::Sha1, b"k", &[body]));
        let h = headers(&[("X-Hub-Signature".into(), format!("sha1={sha1}"))]);
        let req = VerifyRequest {
            method: "POST",
            url: "",
            headers: &h,
            body,
            now: 0,
        };
        let s = secrets(&[("old", "x"), ("a", "k")]);
        let legacy = GitHub { legacy_sha1: true };
        assert_eq!(legacy.verify(&req, &s, Duration::ZERO).unwrap(), "a");
        assert_eq!(
            GitHub::default().verify(&req, &s, Duration::ZERO),
            Err(VerifyError::MissingHeader(SIG.into()))
        );
        let flipped = VerifyRequest {
            body: b"Hello, World?",
            ..req
        };
        assert_eq!(
            legacy.verify(&flipped, &s, Duration::ZERO),
            Err(VerifyError::BadSignature)
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
                GitHub::default().verify(&req, &s, Duration::ZERO),
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
            GitHub::default().verify(&req, &s, Duration::ZERO),
            Err(VerifyError::MalformedHeader { .. })
        ));
    }
}
