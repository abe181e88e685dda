//! A stand-in AWS endpoint for tests of the signed REST calls, and SigV4 recomputed the way AWS
//! checks it. Included by the test files that need it (`#[path]`).
#![allow(dead_code)]

/// What the stand-in S3 endpoint saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `SignedHeaders` of the request's SigV4 `Authorization` header.
    pub fn signed_headers(&self) -> Vec<&str> {
        self.header("authorization")
            .and_then(|auth| auth.split("SignedHeaders=").nth(1))
            .and_then(|rest| rest.split(',').next())
            .map(|list| list.split(';').collect())
            .unwrap_or_default()
    }
}

/// One canned answer: status, body, headers.
pub type Answer = (u16, &'static str, Vec<(&'static str, &'static str)>);

/// A stand-in AWS endpoint on loopback: records every request and answers from `answers` in
/// order, then 200 (with the last PUT's body for a GET).
pub async fn stand_in(
    answers: Vec<Answer>,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) {
    use axum::body::Bytes as AxBytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let answers = Arc::new(Mutex::new(std::collections::VecDeque::from(answers)));
    let log = seen.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: AxBytes| {
            let log = log.clone();
            let answers = answers.clone();
            async move {
                let mut all = log.lock().unwrap();
                all.push(Seen {
                    method: method.to_string(),
                    path: uri.path().to_owned(),
                    headers: headers
                        .iter()
                        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                        .collect(),
                    body: body.to_vec(),
                });
                if let Some((status, text, headers)) = answers.lock().unwrap().pop_front() {
                    let mut map = HeaderMap::new();
                    for (n, v) in headers {
                        map.insert(n, v.parse().unwrap());
                    }
                    return (
                        StatusCode::from_u16(status).unwrap(),
                        map,
                        text.as_bytes().to_vec(),
                    );
                }
                let last_put = all
                    .iter()
                    .rev()
                    .find(|s| s.method == "PUT")
                    .map(|s| s.body.clone())
                    .unwrap_or_default();
                let body = if method == Method::GET {
                    last_put
                } else {
                    Vec::new()
                };
                (StatusCode::OK, HeaderMap::new(), body)
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

pub fn sdk_for(endpoint: &str, at: std::time::SystemTime) -> aws_config::SdkConfig {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token-x".into()),
            None,
            "test",
        )))
        .endpoint_url(endpoint)
        .time_source(aws_smithy_async::time::StaticTimeSource::new(at))
        .build()
}

/// SigV4 as the service checks it (AWS's "Signature Version 4 signing process"), computed here
/// from what arrived: S3 signs the path as sent, every other service the path encoded once more;
/// the payload hash is `x-amz-content-sha256` (S3) or the body's.
pub fn expected_signature(seen: &Seen, s3: bool, secret: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256};
    let auth = seen.header("authorization").unwrap();
    let signed = seen.signed_headers();
    let scope = auth
        .split("Credential=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .split_once('/')
        .unwrap()
        .1;
    let canonical_headers: String = signed
        .iter()
        .map(|h| format!("{h}:{}\n", seen.header(h).unwrap().trim()))
        .collect();
    let path = if s3 {
        seen.path.clone()
    } else {
        seen.path
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let payload_hash = match seen.header("x-amz-content-sha256") {
        Some(h) => h.to_owned(),
        None => hex::encode(Sha256::digest(&seen.body)),
    };
    let canonical = format!(
        "{}\n{}\n\n{}\n{}\n{}",
        seen.method,
        path,
        canonical_headers,
        signed.join(";"),
        payload_hash
    );
    let amz_date = seen.header("x-amz-date").unwrap();
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let hmac = |key: &[u8], data: &str| {
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        m.update(data.as_bytes());
        m.finalize().into_bytes().to_vec()
    };
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in scope.split('/') {
        key = hmac(&key, part);
    }
    hex::encode(hmac(&key, &to_sign))
}

/// The secret key of [`sdk_for`]'s credentials.
pub const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// Checks one request of the AWS JSON protocols (`version` `1.0` or `1.1`) as `service` reads it:
/// `POST /`, its content type, the credential scope of [`sdk_for`] on 2026-01-01, the target and
/// content type signed, and a SigV4 signature that verifies with [`SECRET_KEY`] and not with
/// another.
pub fn assert_signed_json(seen: &Seen, version: &str, service: &str) {
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/"));
    assert_eq!(
        seen.header("content-type"),
        Some(format!("application/x-amz-json-{version}").as_str())
    );
    let auth = seen.header("authorization").unwrap();
    let scope = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/{service}/aws4_request, "
    );
    assert!(auth.starts_with(&scope), "{auth}");
    for signed in ["host", "x-amz-date", "x-amz-target", "content-type"] {
        assert!(
            seen.signed_headers().contains(&signed),
            "{signed} is not signed: {auth}"
        );
    }
    let signature = auth.rsplit("Signature=").next().unwrap();
    assert_eq!(signature, expected_signature(seen, false, SECRET_KEY));
    assert_ne!(signature, expected_signature(seen, false, "another-secret"));
}

/// The `X-Amz-Target` of each request of the AWS JSON protocols, in order.
pub fn targets(seen: &[Seen]) -> Vec<&str> {
    seen.iter()
        .map(|s| s.header("x-amz-target").unwrap())
        .collect()
}
