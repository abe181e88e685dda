//! Twilio: `X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL + params))`, where params are
//! the form fields sorted by name (values of a repeated name sorted, duplicates once), each as
//! name + value. A JSON body is not in the signature: the URL carries `bodySHA256=<hex SHA-256
//! of the body>` and the signature covers the URL alone. Twilio may or may not have included the
//! port (`:443` / `:80`) in the URL it signed, so both forms are tried, as its SDKs do.
//! No signed timestamp. Delivery id: `I-Twilio-Idempotency-Token`; event type: the status field.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::Digest;

use super::hmac_util::{self, Algo, ct_eq};
use super::{
    Identity, KeyedSecret, SignedHeaders, Verifier, VerifyError, VerifyRequest, extract,
    first_match, form, form_fields, hdr, required_header,
};
use crate::model::Millis;

pub struct Twilio;

const SIG: &str = "X-Twilio-Signature";

/// The string Twilio signs for `url` and form `params`.
pub fn signing_string(url: &str, params: &[(String, String)]) -> String {
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut s = url.to_owned();
    for name in names {
        let mut values: Vec<&str> = params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        values.sort_unstable();
        values.dedup();
        for v in values {
            s.push_str(name);
            s.push_str(v);
        }
    }
    s
}

/// `url` as given, without its port, and with the scheme's default port, without re-encoding or
/// changing the case of anything (Twilio signs the URL exactly as configured).
pub fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Some(scheme_end) = url.find("://") else {
        return out;
    };
    let scheme = &url[..scheme_end];
    let after = &url[scheme_end + 3..];
    let auth_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(auth_end);
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => authority.split_at(i + 1),
        None => ("", authority),
    };
    // A port is a `:digits` suffix after any IPv6 literal's closing bracket.
    let host_end = hostport.rfind(']').map_or(0, |i| i + 1);
    let port_at = hostport[host_end..].rfind(':').map(|i| host_end + i);
    let host = port_at.map_or(hostport, |i| &hostport[..i]);
    let without = format!("{scheme}://{userinfo}{host}{rest}");
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else {
        "80"
    };
    let with = match port_at {
        Some(_) => url.to_owned(),
        None => format!("{scheme}://{userinfo}{host}:{default_port}{rest}"),
    };
    for v in [without, with] {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The `bodySHA256` query parameter of `url`, if any.
fn body_sha256_param(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "bodySHA256")
        .map(|(_, v)| v.into_owned())
}

impl Verifier for Twilio {
    fn provider(&self) -> &'static str {
        "twilio"
    }

    fn expected_headers(&self) -> Vec<String> {
        vec![SIG.into(), "I-Twilio-Idempotency-Token".into()]
    }

    fn describe(&self) -> String {
        "HMAC-SHA1 (base64) over `{url}` + sorted form params; JSON bodies via `bodySHA256` in the URL".into()
    }

    fn verify(
        &self,
        req: &VerifyRequest<'_>,
        secrets: &[KeyedSecret],
        _: Duration,
    ) -> Result<String, VerifyError> {
        let raw = required_header(req.headers, SIG)?;
        let tag = B64.decode(raw).map_err(|_| VerifyError::MalformedHeader {
            header: SIG.into(),
            reason: "signature is not base64".into(),
        })?;
        let (params, body_ok) = match body_sha256_param(req.url) {
            Some(expected) => {
                let actual = hex::encode(sha2::Sha256::digest(req.body));
                (
                    Vec::new(),
                    ct_eq(actual.as_bytes(), expected.to_ascii_lowercase().as_bytes()),
                )
            }
            None => (form_fields(req.body), true),
        };
        let candidates: Vec<String> = url_variants(req.url)
            .iter()
            .map(|u| signing_string(u, &params))
            .collect();
        let label = first_match(secrets, |s| {
            candidates
                .iter()
                .any(|c| hmac_util::verify(Algo::Sha1, s.as_bytes(), &[c.as_bytes()], &tag))
        })?;
        if !body_ok {
            // The URL is genuine but the body is not the one it was signed with.
            return Err(VerifyError::BadSignature);
        }
        Ok(label)
    }

    fn identify(&self, req: &VerifyRequest<'_>) -> Identity {
        Identity {
            delivery_id: extract(req, &[hdr("I-Twilio-Idempotency-Token")]),
            event_type: extract(
                req,
                &[
                    form("MessageStatus"),
                    form("SmsStatus"),
                    form("CallStatus"),
                    form("EventType"),
                ],
            ),
        }
    }

    fn sign(
        &self,
        secret: &str,
        body: &[u8],
        url: &str,
        _now: Millis,
        delivery_id: &str,
        _event_type: &str,
    ) -> SignedHeaders {
        let (params, content_type) = match body_sha256_param(url) {
            Some(_) => (Vec::new(), "application/json"),
            None => (form_fields(body), "application/x-www-form-urlencoded"),
        };
        let s = signing_string(url, &params);
        let tag = hmac_util::compute(Algo::Sha1, secret.as_bytes(), &[s.as_bytes()]);
        vec![
            (SIG.into(), B64.encode(tag)),
            ("I-Twilio-Idempotency-Token".into(), delivery_id.into()),
            ("Content-Type".into(), content_type.into()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::*;

    // Vectors from twilio/twilio-python tests/unit/test_request_validator.py (auth token
    // "12345"; the same values appear in twilio-php, twilio-csharp and Twilio's security docs).
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const FORM: &[u8] = b"CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309";

    fn check(url: &str, body: &[u8], sig: &str) -> Result<String, VerifyError> {
        let h = headers(&[(SIG.into(), sig.into())]);
        let req = VerifyRequest {
            method: "POST",
            url,
            headers: &h,
            body,
            now: 0,
        };
        Twilio.verify(
            &req,
            &secrets(&[("old", "nope"), ("docs", "12345")]),
            Duration::ZERO,
        )
    }

    #[test]
    fn twilio_python_vectors() {
        // test_compute_signature / test_validation
        assert_eq!(
            check(URL, FORM, "RSOYDt4T1cUTdK1PDd93/VVr8B8=").unwrap(),
            "docs"
        );
        // test_compute_signature_duplicate_multi_dict: Digits=5678 and Digits=1234
        let dup = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234";
        assert_eq!(
            check(URL, dup, "IK+Dwps556ElfBT0I3Rgjkr1wJU=").unwrap(),
            "docs"
        );
        // twilio-php testValidateWithArrayAndDuplicates: ['5678', '1234', '1234'], same signature
        let dup3 = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234";
        assert_eq!(
            check(URL, dup3, "IK+Dwps556ElfBT0I3Rgjkr1wJU=").unwrap(),
            "docs"
        );
        // test_validation_removes_port_on_https
        let with_port = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert_eq!(
            check(with_port, FORM, "RSOYDt4T1cUTdK1PDd93/VVr8B8=").unwrap(),
            "docs"
        );
        // test_validation_removes_port_on_http
        let http_port = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert_eq!(
            check(http_port, FORM, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=").unwrap(),
            "docs"
        );
        // test_validation_adds_port_on_https (signed with :443)
        assert_eq!(
            check(URL, FORM, "kvajT1Ptam85bY51eRf/AJRuM3w=").unwrap(),
            "docs"
        );
        // test_validation_adds_port_on_http (signed with :80)
        let http = "http://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            check(http, FORM, "0ZXoZLH/DfblKGATFgpif+LLRf4=").unwrap(),
            "docs"
        );
        // test_validation_of_body_succeeds: JSON body, bodySHA256 in the URL
        let body = br#"{"property": "value", "boolean": true}"#;
        assert_eq!(
            hex::encode(sha2::Sha256::digest(body)),
            "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        );
        let url_body = format!(
            "{URL}&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        );
        assert_eq!(
            check(&url_body, body, "a9nBmqA0ju/hNViExpshrM61xv4=").unwrap(),
            "docs"
        );
        // … and the same URL with another body fails.
        assert_eq!(
            check(
                &url_body,
                br#"{"property": "value", "boolean": false}"#,
                "a9nBmqA0ju/hNViExpshrM61xv4="
            ),
            Err(VerifyError::BadSignature)
        );
    }

    /// twilio-csharp RequestValidatorTest: mixed-case host signed as written
    /// (TestValidateDictionaryMixedCase, TestValidateDictionaryMixedCaseWithPort).
    #[test]
    fn twilio_csharp_mixed_case_vectors() {
        let mixed = "https://MyCompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            check(mixed, FORM, "g9IN/x4Cft2g517EjYvEvM/W7LU=").unwrap(),
            "docs"
        );
        let mixed_port = "https://MyCompany.com:1234/myapp.php?foo=1&bar=2";
        assert_eq!(
            check(mixed_port, FORM, "PCqOZm8cnu/L6+u5i5fuEd+Iac4=").unwrap(),
            "docs"
        );
    }

    #[test]
    fn rejections() {
        let tampered = b"CallSid=CA1234567890ABCDE&Digits=9999&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309";
        assert_eq!(
            check(URL, tampered, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(&format!("{URL}&x=1"), FORM, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
            Err(VerifyError::BadSignature)
        );
        assert!(matches!(
            check(URL, FORM, "not base64!"),
            Err(VerifyError::MalformedHeader { .. })
        ));
        assert_eq!(
            url_variants("https://[::1]:8443/x"),
            vec![
                "https://[::1]:8443/x".to_owned(),
                "https://[::1]/x".to_owned()
            ]
        );
        assert_eq!(
            url_variants("http://u:p@h/x?y"),
            vec![
                "http://u:p@h/x?y".to_owned(),
                "http://u:p@h:80/x?y".to_owned()
            ]
        );
    }
}
