//! Standard Webhooks (and Svix, its origin): `webhook-id`, `webhook-timestamp` (unix seconds),
//! `webhook-signature: v1,<base64> [v1,<base64> …]`; HMAC-SHA256 over `{id}.{timestamp}.{body}`,
//! keyed with the base64-decoded part of a `whsec_…` secret. Svix uses `svix-*` header names
//! (and so do Clerk and Resend, which send through Svix).
//!
//! Asymmetric signatures (`v1a,<base64 Ed25519 signature>` over the same content): the source's
//! secret is the public key `whpk_<base64 32 bytes>`; `sign` takes the private key
//! `whsk_<base64 32-byte seed, or 64 bytes seed‖public>` (the source's `options.signing_key`).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::{
    Identity, KeyedSecret, SignedHeaders, Verifier, VerifyError, VerifyRequest, body_id_and_type,
    check_timestamp, header, hmac_util, required_header,
};
use crate::model::Millis;

pub struct StandardWebhooks {
    provider: &'static str,
    prefix: &'static str,
}

impl StandardWebhooks {
    pub fn standard() -> Self {
        Self {
            provider: "standard-webhooks",
            prefix: "webhook",
        }
    }

    /// Svix-signed kinds (`svix`, `clerk`, `resend`): `svix-*` header names.
    pub fn svix(provider: &'static str) -> Self {
        Self {
            provider,
            prefix: "svix",
        }
    }

    /// GitLab's Standard Webhooks signing (`webhook-*` names, reported as `gitlab`).
    pub fn named(provider: &'static str) -> Self {
        Self {
            provider,
            prefix: "webhook",
        }
    }

    fn name(&self, part: &str) -> String {
        format!("{}-{part}", self.prefix)
    }

    /// Names to try: our own prefix first; a Standard Webhooks source also accepts `svix-*`.
    fn find<'a>(&self, req: &VerifyRequest<'a>, part: &str) -> Result<&'a str, VerifyError> {
        let own = self.name(part);
        if let Some(v) = header(req.headers, &own)? {
            return Ok(v);
        }
        if self.prefix == "webhook"
            && let Some(v) = header(req.headers, &format!("svix-{part}"))?
        {
            return Ok(v);
        }
        required_header(req.headers, &own)
    }
}

/// The key bytes of a Standard Webhooks secret: base64 after an optional `whsec_` prefix; a secret
/// that is not base64 is used as raw bytes (some senders hand out plain strings).
pub fn secret_key(secret: &str) -> Vec<u8> {
    let s = secret.strip_prefix("whsec_").unwrap_or(secret);
    B64.decode(s).unwrap_or_else(|_| s.as_bytes().to_vec())
}

/// The Ed25519 verifying key of a `whpk_…` secret.
fn public_key(secret: &str) -> Option<ed25519_dalek::VerifyingKey> {
    let raw = B64.decode(secret.strip_prefix("whpk_")?).ok()?;
    let bytes: [u8; 32] = raw.as_slice().try_into().ok()?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()
}

/// The Ed25519 signing key of a `whsk_…` secret (a 32-byte seed, or 64 bytes seed‖public).
pub(crate) fn signing_key(secret: &str) -> Option<ed25519_dalek::SigningKey> {
    let raw = B64.decode(secret.strip_prefix("whsk_")?).ok()?;
    let seed: [u8; 32] = raw.get(..32)?.try_into().ok()?;
    (raw.len() == 32 || raw.len() == 64).then(|| ed25519_dalek::SigningKey::from_bytes(&seed))
}

/// `v1a,<base64>` for one message, signed with a `whsk_` key.
pub fn sign_v1a(secret: &str, id: &str, ts_secs: i64, body: &[u8]) -> Option<String> {
    use ed25519_dalek::Signer;
    let key = signing_key(secret)?;
    let mut msg = Vec::with_capacity(id.len() + body.len() + 24);
    msg.extend_from_slice(id.as_bytes());
    msg.push(b'.');
    msg.extend_from_slice(ts_secs.to_string().as_bytes());
    msg.push(b'.');
    msg.extend_from_slice(body);
    Some(format!("v1a,{}", B64.encode(key.sign(&msg).to_bytes())))
}

/// `v1,<base64>` for one message (used by the `forward` handler to re-sign).
pub fn sign_v1(secret: &str, id: &str, ts_secs: i64, body: &[u8]) -> String {
    let ts = ts_secs.to_string();
    let tag = hmac_util::sha256(
        &secret_key(secret),
        &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    format!("v1,{}", B64.encode(tag))
}

impl Verifier for StandardWebhooks {
    fn provider(&self) -> &'static str {
        self.provider
    }

    fn expected_headers(&self) -> Vec<String> {
        ["id", "timestamp", "signature"]
            .iter()
            .map(|p| self.name(p))
            .collect()
    }

    fn describe(&self) -> String {
        "HMAC-SHA256 (base64, `v1,`) over `{id}.{timestamp}.{body}`, key = base64 of whsec_…; or Ed25519 `v1a,` with a whpk_ key".into()
    }

    fn verify(
        &self,
        req: &VerifyRequest<'_>,
        secrets: &[KeyedSecret],
        tolerance: Duration,
    ) -> Result<String, VerifyError> {
        let id = self.find(req, "id")?;
        let ts = self.find(req, "timestamp")?;
        let sig_header = self.find(req, "signature")?;
        let ts_secs: i64 = ts.parse().map_err(|_| VerifyError::MalformedHeader {
            header: self.name("timestamp"),
            reason: "not a unix timestamp".into(),
        })?;
        let versioned = |version: &str| -> Vec<Vec<u8>> {
            sig_header
                .split(' ')
                .filter_map(|p| p.split_once(','))
                .filter(|(v, _)| *v == version)
                .filter_map(|(_, b)| B64.decode(b).ok())
                .collect()
        };
        let tags = versioned("v1");
        let ed_tags: Vec<ed25519_dalek::Signature> = versioned("v1a")
            .iter()
            .filter_map(|b| ed25519_dalek::Signature::from_slice(b).ok())
            .collect();
        if tags.is_empty() && ed_tags.is_empty() {
            return Err(VerifyError::MalformedHeader {
                header: self.name("signature"),
                reason: "no v1,<base64> or v1a,<base64> signature".into(),
            });
        }
        let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts.as_bytes(), b".", req.body];
        let label = super::first_match(secrets, |s| {
            if s.starts_with("whpk_") {
                let Some(key) = public_key(s) else {
                    return false;
                };
                let msg = parts.concat();
                ed_tags.iter().any(|t| key.verify_strict(&msg, t).is_ok())
            } else {
                let key = secret_key(s);
                tags.iter()
                    .any(|t| hmac_util::verify_sha256(&key, &parts, t))
            }
        })?;
        check_timestamp(ts_secs, req.now, tolerance, &label)?;
        Ok(label)
    }

    fn identify(&self, req: &VerifyRequest<'_>) -> Identity {
        let delivery_id = self.find(req, "id").ok().map(str::to_owned);
        Identity {
            delivery_id,
            event_type: body_id_and_type(req.body).event_type,
        }
    }

    fn sign(
        &self,
        secret: &str,
        body: &[u8],
        _url: &str,
        now: Millis,
        delivery_id: &str,
        _event_type: &str,
    ) -> SignedHeaders {
        let ts = now / 1000;
        let sig = sign_v1a(secret, delivery_id, ts, body)
            .unwrap_or_else(|| sign_v1(secret, delivery_id, ts, body));
        vec![
            (self.name("id"), delivery_id.into()),
            (self.name("timestamp"), ts.to_string()),
            (self.name("signature"), sig),
            ("Content-Type".into(), "application/json".into()),
        ]
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["webhook-id", "svix-id"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::*;

    /// Vector from the Standard Webhooks reference libraries' tests (and Svix's docs):
    /// secret `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, id `msg_p5jXN8AQM9LWM0D4loKWxJek`,
    /// timestamp 1614265330, body `{"test": 2432232314}`.
    #[test]
    fn reference_vector() {
        let h = headers(&[
            ("webhook-id".into(), "msg_p5jXN8AQM9LWM0D4loKWxJek".into()),
            ("webhook-timestamp".into(), "1614265330".into()),
            (
                "webhook-signature".into(),
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into(),
            ),
        ]);
        let body = br#"{"test": 2432232314}"#;
        let req = VerifyRequest {
            method: "POST",
            url: "",
            headers: &h,
            body,
            now: 1_614_265_330_000,
        };
        let s = secrets(&[("ref", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]);
        let sw = StandardWebhooks::standard();
        assert_eq!(
            sw.verify(&req, &s, Duration::from_secs(300)).unwrap(),
            "ref"
        );
        assert_eq!(
            sign_v1(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                body
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        // The same delivery with svix-* names is accepted by a standard-webhooks source.
        let hs = headers(&[
            ("svix-id".into(), "msg_p5jXN8AQM9LWM0D4loKWxJek".into()),
            ("svix-timestamp".into(), "1614265330".into()),
            (
                "svix-signature".into(),
                "v2,abc v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into(),
            ),
        ]);
        let req = VerifyRequest {
            headers: &hs,
            ..req
        };
        assert_eq!(
            sw.verify(&req, &s, Duration::from_secs(300)).unwrap(),
            "ref"
        );
        assert_eq!(
            StandardWebhooks::svix("svix")
                .verify(&req, &s, Duration::from_secs(300))
                .unwrap(),
            "ref"
        );
    }

    #[test]
    fn round_trips_and_rejections() {
        round_trip(
            &StandardWebhooks::standard(),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            1_700_000_000_000,
            &["webhook-id", "webhook-timestamp", "webhook-signature"],
        );
        round_trip(
            &StandardWebhooks::svix("svix"),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            1_700_000_000_000,
            &["svix-id", "svix-timestamp", "svix-signature"],
        );
    }
}
