//! Mailgun: the signature travels in the body, not a header. JSON webhooks carry
//! `{"signature": {"timestamp", "token", "signature"}, "event-data": {…}}`; legacy form posts carry
//! `timestamp`, `token`, `signature` fields. `signature = hex(HMAC-SHA256(webhook signing key,
//! timestamp + token))`; the timestamp (unix seconds) is checked against the tolerance. Delivery
//! id: `event-data.id` (else the token); event type: `event-data.event` (else `event`).

use std::time::Duration;

use super::hmac_util::{self, Algo};
use super::{
    Identity, KeyedSecret, SignedHeaders, Verifier, VerifyError, VerifyRequest, check_timestamp,
    extract, first_match, form, form_fields, json,
};
use crate::model::Millis;

pub struct Mailgun;

struct Fields {
    timestamp: String,
    token: String,
    signature: String,
}

fn fields(body: &[u8]) -> Result<Fields, VerifyError> {
    let missing = |f: &str| VerifyError::MissingField(f.to_owned());
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let sig = v.get("signature").ok_or_else(|| missing("signature"))?;
        let get = |k: &str| {
            sig.get(k)
                .and_then(|x| match x {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
                .ok_or_else(|| missing(&format!("signature.{k}")))
        };
        return Ok(Fields {
            timestamp: get("timestamp")?,
            token: get("token")?,
            signature: get("signature")?,
        });
    }
    let f = form_fields(body);
    let get = |k: &str| {
        f.iter()
            .find(|(n, v)| n == k && !v.is_empty())
            .map(|(_, v)| v.clone())
            .ok_or_else(|| missing(k))
    };
    Ok(Fields {
        timestamp: get("timestamp")?,
        token: get("token")?,
        signature: get("signature")?,
    })
}

fn token_for(delivery_id: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(delivery_id.as_bytes())[..25])
}

impl Verifier for Mailgun {
    fn provider(&self) -> &'static str {
        "mailgun"
    }

    fn expected_headers(&self) -> Vec<String> {
        vec!["(body) signature.timestamp, signature.token, signature.signature".into()]
    }

    fn describe(&self) -> String {
        "HMAC-SHA256 (hex) over `{timestamp}{token}`, all three fields in the body".into()
    }

    fn verify(
        &self,
        req: &VerifyRequest<'_>,
        secrets: &[KeyedSecret],
        tolerance: Duration,
    ) -> Result<String, VerifyError> {
        let f = fields(req.body)?;
        let tag = hex::decode(&f.signature).map_err(|_| VerifyError::MalformedHeader {
            header: "signature.signature".into(),
            reason: "not hex".into(),
        })?;
        let ts: i64 = f
            .timestamp
            .parse()
            .map_err(|_| VerifyError::MalformedHeader {
                header: "signature.timestamp".into(),
                reason: "not a unix timestamp".into(),
            })?;
        let label = first_match(secrets, |s| {
            hmac_util::verify(
                Algo::Sha256,
                s.as_bytes(),
                &[f.timestamp.as_bytes(), f.token.as_bytes()],
                &tag,
            )
        })?;
        check_timestamp(ts, req.now, tolerance, &label)?;
        Ok(label)
    }

    fn identify(&self, req: &VerifyRequest<'_>) -> Identity {
        Identity {
            delivery_id: extract(
                req,
                &[
                    json("/event-data/id"),
                    json("/signature/token"),
                    form("token"),
                ],
            ),
            event_type: extract(req, &[json("/event-data/event"), form("event")]),
        }
    }

    /// Puts a fresh `signature` object into a JSON body (Mailgun signs inside the body).
    fn prepare_body(&self, secret: &str, body: &[u8], now: Millis, delivery_id: &str) -> Vec<u8> {
        let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return body.to_vec();
        };
        let Some(obj) = v.as_object_mut() else {
            return body.to_vec();
        };
        let ts = (now / 1000).to_string();
        let token = token_for(delivery_id);
        let sig = hex::encode(hmac_util::compute(
            Algo::Sha256,
            secret.as_bytes(),
            &[ts.as_bytes(), token.as_bytes()],
        ));
        obj.insert(
            "signature".into(),
            serde_json::json!({ "timestamp": ts, "token": token, "signature": sig }),
        );
        v.to_string().into_bytes()
    }

    fn sign(
        &self,
        _secret: &str,
        _body: &[u8],
        _url: &str,
        _now: Millis,
        _delivery_id: &str,
        _event_type: &str,
    ) -> SignedHeaders {
        vec![("Content-Type".into(), "application/json".into())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::*;

    fn req<'a>(h: &'a http::HeaderMap, body: &'a [u8], now: Millis) -> VerifyRequest<'a> {
        VerifyRequest {
            method: "POST",
            url: "",
            headers: h,
            body,
            now,
        }
    }

    #[test]
    fn signs_in_the_body_and_rejects() {
        let now = 1_700_000_000_000;
        let sample = br#"{"event-data":{"id":"ev-1","event":"delivered"}}"#;
        let body = Mailgun.prepare_body("key-1", sample, now, "d-1");
        let h = headers(&[]);
        let keys = secrets(&[("old", "key-0"), ("new", "key-1")]);
        let tol = Duration::from_secs(300);
        assert_eq!(
            Mailgun.verify(&req(&h, &body, now), &keys, tol).unwrap(),
            "new"
        );
        let id = Mailgun.identify(&req(&h, &body, now));
        assert_eq!(id.delivery_id.as_deref(), Some("ev-1"));
        assert_eq!(id.event_type.as_deref(), Some("delivered"));
        // Tampering with the signed fields.
        let s = String::from_utf8(body.clone()).unwrap();
        let tampered = s.replace(
            "\"timestamp\":\"1700000000\"",
            "\"timestamp\":\"1700000001\"",
        );
        assert_ne!(tampered, s);
        assert_eq!(
            Mailgun.verify(&req(&h, tampered.as_bytes(), now), &keys, tol),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            Mailgun.verify(&req(&h, &body, now), &secrets(&[("x", "other")]), tol),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            Mailgun.verify(&req(&h, sample, now), &keys, tol),
            Err(VerifyError::MissingField("signature".into()))
        );
        assert!(matches!(
            Mailgun.verify(&req(&h, &body, now + 301_000), &keys, tol),
            Err(VerifyError::StaleTimestamp { .. })
        ));
        // The legacy form encoding.
        let ts = "1700000000";
        let sig = hex::encode(hmac_util::compute(
            Algo::Sha256,
            b"key-1",
            &[b"1700000000", b"tok"],
        ));
        let form_body = format!("timestamp={ts}&token=tok&signature={sig}&event=opened");
        assert_eq!(
            Mailgun
                .verify(&req(&h, form_body.as_bytes(), now), &keys, tol)
                .unwrap(),
            "new"
        );
        assert_eq!(
            Mailgun
                .identify(&req(&h, form_body.as_bytes(), now))
                .event_type
                .as_deref(),
            Some("opened")
        );
    }
}
