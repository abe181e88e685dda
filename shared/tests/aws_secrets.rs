//! The Secrets Manager store's signed `GetSecretValue` calls against a stand-in endpoint on
//! loopback: the request as Secrets Manager reads it (AWS JSON 1.1, SigV4 recomputed here the way
//! the service checks it), and the answers moto cannot be made to give (throttling, a binary
//! secret, an unreadable answer). The round trip against moto is in `aws_adapters.rs`.
#![cfg(all(feature = "aws", feature = "contract"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use hookgate_shared::adapters::aws::SecretsManagerStore;
use hookgate_shared::secrets::SecretStore;

#[path = "support/stand_in.rs"]
mod stand_in;
use stand_in::{expected_signature, sdk_for, stand_in};

const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

#[tokio::test]
async fn get_secret_value_is_a_signed_json_request() {
    let (url, seen) = stand_in(vec![(
        200,
        r#"{"ARN":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:hookgate-AbCdEf","Name":"hookgate","SecretString":"{\"github\":\"s3cr3t\"}","VersionId":"v1"}"#,
        vec![("content-type", "application/x-amz-json-1.1")],
    )])
    .await;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let store = SecretsManagerStore::from_sdk(&sdk_for(&url, at));
    assert_eq!(
        store.fetch("hookgate").await.unwrap(),
        r#"{"github":"s3cr3t"}"#
    );

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!((s.method.as_str(), s.path.as_str()), ("POST", "/"));
    assert_eq!(
        s.header("x-amz-target"),
        Some("secretsmanager.GetSecretValue")
    );
    assert_eq!(s.header("content-type"), Some("application/x-amz-json-1.1"));
    let sent: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
    assert_eq!(sent, serde_json::json!({"SecretId": "hookgate"}));
    assert_eq!(s.header("x-amz-security-token"), Some("session-token-x"));
    let auth = s.header("authorization").unwrap();
    assert!(
        auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/secretsmanager/aws4_request, "
        ),
        "{auth}"
    );
    for signed in ["host", "x-amz-date", "x-amz-target", "content-type"] {
        assert!(
            auth.split("SignedHeaders=")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .split(';')
                .any(|h| h == signed),
            "{signed} is not signed: {auth}"
        );
    }
    let signature = auth.rsplit("Signature=").next().unwrap();
    assert_eq!(signature, expected_signature(s, false, SECRET_KEY));
    assert_ne!(signature, expected_signature(s, false, "another-secret"));
}

#[tokio::test]
async fn answers_are_retried_or_refused_like_the_sdks() {
    let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    let missing = r#"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#;
    let (url, seen) = stand_in(vec![
        (
            400,
            throttled,
            vec![("x-amzn-errortype", "ThrottlingException")],
        ),
        (200, r#"{"SecretString":"after a retry"}"#, vec![]),
        (
            400,
            missing,
            vec![("x-amzn-errortype", "ResourceNotFoundException:")],
        ),
        (200, r#"{"Name":"bin","SecretBinary":"AAEC"}"#, vec![]),
        (200, "<html>a proxy page</html>", vec![]),
        (500, r#"{"__type":"InternalServiceError"}"#, vec![]),
        (500, r#"{"__type":"InternalServiceError"}"#, vec![]),
        (500, r#"{"__type":"InternalServiceError"}"#, vec![]),
    ])
    .await;
    let store = SecretsManagerStore::from_sdk(&sdk_for(&url, SystemTime::now()));
    let count = || seen.lock().unwrap().len();

    // Throttled, then served: one retry.
    assert_eq!(store.fetch("a").await.unwrap(), "after a retry");
    assert_eq!(count(), 2);

    // A missing secret is refused at once, with the service's code and message.
    let err = store.fetch("nope").await.unwrap_err();
    assert!(err.contains("ResourceNotFoundException"), "{err}");
    assert!(err.contains("can't find the specified secret"), "{err}");
    assert_eq!(count(), 3);

    let err = store.fetch("bin").await.unwrap_err();
    assert!(err.contains("binary secrets are not supported"), "{err}");
    let err = store.fetch("html").await.unwrap_err();
    assert!(err.contains("unreadable answer"), "{err}");
    assert_eq!(count(), 5);

    // Server errors: the SDK's three attempts, then the error.
    let err = store.fetch("down").await.unwrap_err();
    assert!(err.contains("server error"), "{err}");
    assert_eq!(count(), 8);
}

#[tokio::test]
async fn without_a_region_every_fetch_says_why() {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let store = SecretsManagerStore::from_sdk(&sdk);
    let err = store.fetch("hookgate").await.unwrap_err();
    assert!(err.contains("no AWS region"), "{err}");
}
