//! Public-key kinds. The source's secret is the provider's public key; `sign` (for `hookgate
//! send` and tests) needs the matching private key, configured as the source's
//! `options.signing_key` (a secret reference) or given to `send --secret`.
//!
//! - Discord (interactions and webhook events): `X-Signature-Ed25519: hex(Ed25519(timestamp +
//!   body))`, `X-Signature-Timestamp` (unix seconds). Public key: the application's 64-hex-digit
//!   key; signing key: a 64-hex-digit Ed25519 seed. A PING is answered per Discord's spec.
//! - SendGrid Event Webhook: `X-Twilio-Email-Event-Webhook-Signature: base64(DER ECDSA P-256
//!   SHA-256 over timestamp + body)`, `X-Twilio-Email-Event-Webhook-Timestamp`. Public key: the
//!   base64 DER (SubjectPublicKeyInfo) key from SendGrid's settings, or PEM; signing key: a
//!   64-hex-digit P-256 scalar.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::{
    Handshake, Identity, KeyedSecret, SignedHeaders, Verifier, VerifyError, VerifyRequest,
    check_timestamp, extract, first_match, json, required_header,
};
use crate::model::Millis;

fn malformed(header: &str, reason: &str) -> VerifyError {
    VerifyError::MalformedHeader {
        header: header.to_owned(),
        reason: reason.to_owned(),
    }
}

fn parse_ts(header: &str, raw: &str) -> Result<i64, VerifyError> {
    raw.parse()
        .map_err(|_| malformed(header, "not a unix timestamp"))
}

pub struct Discord;

const D_SIG: &str = "X-Signature-Ed25519";
const D_TS: &str = "X-Signature-Timestamp";

fn discord_key(hex_key: &str) -> Option<ed25519_dalek::VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim()).ok()?.try_into().ok()?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()
}

/// The Discord public key (hex) for a hex Ed25519 seed: what to configure as the source's secret.
pub fn discord_public_key(seed_hex: &str) -> Option<String> {
    let seed: [u8; 32] = hex::decode(seed_hex.trim()).ok()?.try_into().ok()?;
    Some(hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes(),
    ))
}

impl Verifier for Discord {
    fn provider(&self) -> &'static str {
        "discord"
    }

    fn expected_headers(&self) -> Vec<String> {
        vec![D_SIG.into(), D_TS.into()]
    }

    fn describe(&self) -> String {
        "Ed25519 (hex) over `{timestamp}{body}`; secret = the application's public key".into()
    }

    fn verify(
        &self,
        req: &VerifyRequest<'_>,
        secrets: &[KeyedSecret],
        tolerance: Duration,
    ) -> Result<String, VerifyError> {
        let sig_hex = required_header(req.headers, D_SIG)?;
        let ts = required_header(req.headers, D_TS)?;
        let sig = hex::decode(sig_hex)
            .ok()
            .and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok())
            .ok_or_else(|| malformed(D_SIG, "expected 128 hex digits"))?;
        let ts_secs = parse_ts(D_TS, ts)?;
        let msg = [ts.as_bytes(), req.body].concat();
        let label = first_match(secrets, |s| {
            discord_key(s).is_some_and(|k| k.verify_strict(&msg, &sig).is_ok())
        })?;
        check_timestamp(ts_secs, req.now, tolerance, &label)?;
        Ok(label)
    }

    fn identify(&self, req: &VerifyRequest<'_>) -> Identity {
        Identity {
            delivery_id: extract(req, &[json("/id")]),
            event_type: extract(req, &[json("/event/type"), json("/type")]),
        }
    }

    /// Interactions: `{"type":1}` PING → `{"type":1}` (PONG). Webhook events: `{"type":0}` PING →
    /// 204 with an empty body.
    fn handshake(&self, req: &VerifyRequest<'_>, _secret: &KeyedSecret) -> Option<Handshake> {
        let v: serde_json::Value = serde_json::from_slice(req.body).ok()?;
        match v.get("type")?.as_i64()? {
            1 if v.get("event").is_none() => {
                Some(Handshake::json(&serde_json::json!({ "type": 1 })))
            }
            0 => Some(Handshake {
                status: 204,
                content_type: "application/json",
                body: Vec::new(),
            }),
            _ => None,
        }
    }

    fn needs_signing_key(&self) -> bool {
        true
    }

    fn sign(
        &self,
        secret: &str,
        body: &[u8],
        _url: &str,
        now: Millis,
        _delivery_id: &str,
        _event_type: &str,
    ) -> SignedHeaders {
        use ed25519_dalek::Signer;
        let ts = (now / 1000).to_string();
        let sig = hex::decode(secret.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(|seed| {
                let key = ed25519_dalek::SigningKey::from_bytes(&seed);
                hex::encode(key.sign(&[ts.as_bytes(), body].concat()).to_bytes())
            })
            .unwrap_or_default();
        vec![
            (D_SIG.into(), sig),
            (D_TS.into(), ts),
            ("Content-Type".into(), "application/json".into()),
        ]
    }
}

pub struct SendGrid;

const S_SIG: &str = "X-Twilio-Email-Event-Webhook-Signature";
const S_TS: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

fn sendgrid_key(secret: &str) -> Option<p256::ecdsa::VerifyingKey> {
    use p256::pkcs8::DecodePublicKey;
    let b64: String = secret
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = B64.decode(b64).ok()?;
    p256::ecdsa::VerifyingKey::from_public_key_der(&der).ok()
}

/// The SendGrid-style public key (base64 DER) for a hex P-256 scalar.
pub fn sendgrid_public_key(scalar_hex: &str) -> Option<String> {
    use p256::pkcs8::EncodePublicKey;
    let sk = p256::ecdsa::SigningKey::from_slice(&hex::decode(scalar_hex.trim()).ok()?).ok()?;
    let der = sk.verifying_key().to_public_key_der().ok()?;
    Some(B64.encode(der.as_bytes()))
}

impl Verifier for SendGrid {
    fn provider(&self) -> &'static str {
        "sendgrid"
    }

    fn expected_headers(&self) -> Vec<String> {
        vec![S_SIG.into(), S_TS.into()]
    }

    fn describe(&self) -> String {
        "ECDSA P-256 / SHA-256 (base64 DER) over `{timestamp}{body}`; secret = the verification key"
            .into()
    }

    fn verify(
        &self,
        req: &VerifyRequest<'_>,
        secrets: &[KeyedSecret],
        tolerance: Duration,
    ) -> Result<String, VerifyError> {
        use p256::ecdsa::signature::Verifier as _;
        let sig_b64 = required_header(req.headers, S_SIG)?;
        let ts = required_header(req.headers, S_TS)?;
        let sig = B64
            .decode(sig_b64)
            .ok()
            .and_then(|der| p256::ecdsa::Signature::from_der(&der).ok())
            .ok_or_else(|| malformed(S_SIG, "expected a base64 DER ECDSA signature"))?;
        let ts_secs = parse_ts(S_TS, ts)?;
        let msg = [ts.as_bytes(), req.body].concat();
        let label = first_match(secrets, |s| {
            sendgrid_key(s).is_some_and(|k| k.verify(&msg, &sig).is_ok())
        })?;
        check_timestamp(ts_secs, req.now, tolerance, &label)?;
        Ok(label)
    }

    fn identify(&self, req: &VerifyRequest<'_>) -> Identity {
        // A batch of events has no delivery id of its own: the body hash is the dedupe key.
        Identity {
            delivery_id: None,
            event_type: extract(req, &[json("/0/event")]),
        }
    }

    fn needs_signing_key(&self) -> bool {
        true
    }

    fn sign(
        &self,
        secret: &str,
        body: &[u8],
        _url: &str,
        now: Millis,
        _delivery_id: &str,
        _event_type: &str,
    ) -> SignedHeaders {
        use p256::ecdsa::signature::Signer as _;
        let ts = (now / 1000).to_string();
        let sig = hex::decode(secret.trim())
            .ok()
            .and_then(|b| p256::ecdsa::SigningKey::from_slice(&b).ok())
            .map(|sk| {
                let sig: p256::ecdsa::Signature = sk.sign(&[ts.as_bytes(), body].concat());
                B64.encode(sig.to_der().as_bytes())
            })
            .unwrap_or_default();
        vec![
            (S_SIG.into(), sig),
            (S_TS.into(), ts),
            ("Content-Type".into(), "application/json".into()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::*;

    /// Vector from sendgrid/sendgrid-python test/unit/test_eventwebhook.py (the same key,
    /// signature, timestamp and payload are in SendGrid's other SDKs' tests): the payload is
    /// `json.dumps([...], sort_keys=True, separators=(',', ':')) + '\r\n'`.
    #[test]
    fn sendgrid_sdk_vector() {
        let public_key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
        let signature = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
        let timestamp = "1600112502";
        let payload = "[{\"email\":\"hello@world.com\",\"event\":\"dropped\",\"reason\":\"Bounced Address\",\"sg_event_id\":\"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA\",\"sg_message_id\":\"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0\",\"smtp-id\":\"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>\",\"timestamp\":1600112492}]\r\n";
        let h = headers(&[
            (S_SIG.into(), signature.into()),
            (S_TS.into(), timestamp.into()),
        ]);
        let req = VerifyRequest {
            method: "POST",
            url: "",
            headers: &h,
            body: payload.as_bytes(),
            now: 1_600_112_502_000,
        };
        let tol = Duration::from_secs(300);
        assert_eq!(
            SendGrid
                .verify(&req, &secrets(&[("sg", public_key)]), tol)
                .unwrap(),
            "sg"
        );
        assert_eq!(
            SendGrid.identify(&req).event_type.as_deref(),
            Some("dropped")
        );
        // test_verify_bad_key
        let other = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";
        assert_eq!(
            SendGrid.verify(&req, &secrets(&[("x", other)]), tol),
            Err(VerifyError::BadSignature)
        );
        // test_verify_bad_payload
        let bad = VerifyRequest {
            body: b"payload",
            ..req
        };
        assert_eq!(
            SendGrid.verify(&bad, &secrets(&[("sg", public_key)]), tol),
            Err(VerifyError::BadSignature)
        );
        // test_verify_bad_signature
        let h2 = headers(&[
            (S_SIG.into(), "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=".into()),
            (S_TS.into(), timestamp.into()),
        ]);
        let bad_sig = VerifyRequest {
            headers: &h2,
            ..req
        };
        assert_eq!(
            SendGrid.verify(&bad_sig, &secrets(&[("sg", public_key)]), tol),
            Err(VerifyError::BadSignature)
        );
        // test_verify_bad_timestamp
        let h3 = headers(&[
            (S_SIG.into(), signature.into()),
            (S_TS.into(), "timestamp".into()),
        ]);
        let bad_ts = VerifyRequest {
            headers: &h3,
            ..req
        };
        assert!(
            SendGrid
                .verify(&bad_ts, &secrets(&[("sg", public_key)]), tol)
                .is_err()
        );
        // PEM form of the same key.
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
            &public_key[..64],
            &public_key[64..]
        );
        assert_eq!(
            SendGrid
                .verify(&req, &secrets(&[("pem", &pem)]), tol)
                .unwrap(),
            "pem"
        );
    }

    #[test]
    fn discord_ping_and_events() {
        let seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
        // RFC 8032 test 1: this seed's public key.
        assert_eq!(
            discord_public_key(seed).unwrap(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let now = 1_700_000_000_000;
        let ping = br#"{"id":"1","application_id":"2","type":1,"version":1}"#;
        let h = headers(&Discord.sign(seed, ping, "", now, "", ""));
        let req = VerifyRequest {
            method: "POST",
            url: "",
            headers: &h,
            body: ping,
            now,
        };
        let keys = secrets(&[(
            "k",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        )]);
        assert_eq!(
            Discord.verify(&req, &keys, Duration::from_secs(5)).unwrap(),
            "k"
        );
        let shake = Discord.handshake(&req, &keys[0]).unwrap();
        assert_eq!(shake.body, br#"{"type":1}"#);
        let ev = br#"{"version":1,"application_id":"2","type":1,"event":{"type":"APPLICATION_AUTHORIZED"}}"#;
        let r2 = VerifyRequest { body: ev, ..req };
        assert!(Discord.handshake(&r2, &keys[0]).is_none());
        assert_eq!(
            Discord.identify(&r2).event_type.as_deref(),
            Some("APPLICATION_AUTHORIZED")
        );
        let r3 = VerifyRequest {
            body: br#"{"version":1,"application_id":"2","type":0}"#,
            ..req
        };
        assert_eq!(Discord.handshake(&r3, &keys[0]).unwrap().status, 204);
    }
}
