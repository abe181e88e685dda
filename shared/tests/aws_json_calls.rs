//! The signed AWS JSON calls against a stand-in endpoint on loopback: Secrets Manager's
//! `GetSecretValue` (JSON 1.1) and the SQS queue's operations (JSON 1.0). The requests as the
//! services read them (SigV4 recomputed here the way they check it), and the answers moto cannot
//! be made to give (throttling, a binary secret, an unreadable answer, query-protocol error
//! codes). The round trips against moto are in `aws_adapters.rs` (the queue contract suite).
#![cfg(all(feature = "aws", feature = "contract"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use hookgate_shared::adapters::aws::{SecretsManagerStore, SqsQueue};
use hookgate_shared::ports::{Queue, QueueError};
use hookgate_shared::secrets::SecretStore;

#[path = "support/stand_in.rs"]
mod stand_in;
use stand_in::{assert_signed_json, sdk_for, stand_in, targets};

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
    assert_eq!(
        s.header("x-amz-target"),
        Some("secretsmanager.GetSecretValue")
    );
    let sent: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
    assert_eq!(sent, serde_json::json!({"SecretId": "hookgate"}));
    assert_eq!(s.header("x-amz-security-token"), Some("session-token-x"));
    assert_signed_json(s, "1.1", "secretsmanager");
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

const QUEUE_URL: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/hookgate-events";

#[tokio::test]
async fn queue_operations_are_signed_json_requests() {
    let (url, seen) = stand_in(vec![
        (200, r#"{"MessageId":"m-1","MD5OfMessageBody":"x"}"#, vec![]),
        (
            200,
            r#"{"Messages":[{"MessageId":"m-1","ReceiptHandle":"r-1","Body":"{\"v\":1}","Attributes":{"ApproximateReceiveCount":"3","SentTimestamp":"1767225600123"}}]}"#,
            vec![],
        ),
        (200, "{}", vec![]),
        (200, "{}", vec![]),
        (
            200,
            r#"{"Attributes":{"ApproximateNumberOfMessages":"7","ApproximateNumberOfMessagesNotVisible":"2","ApproximateNumberOfMessagesDelayed":"1"}}"#,
            vec![],
        ),
    ])
    .await;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let q = SqsQueue::from_sdk(&sdk_for(&url, at), QUEUE_URL).unwrap();

    q.send(r#"{"v":1}"#).await.unwrap();
    let got = q
        .receive(
            10,
            Duration::from_secs(2),
            Some(Duration::from_millis(1500)),
        )
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (
            got[0].message_id.as_str(),
            got[0].receipt.as_str(),
            got[0].body.as_str()
        ),
        ("m-1", "r-1", r#"{"v":1}"#)
    );
    assert_eq!(
        (got[0].receive_count, got[0].sent_at),
        (3, 1_767_225_600_123)
    );
    q.change_visibility("r-1", Duration::from_secs(30))
        .await
        .unwrap();
    q.delete("r-1").await.unwrap();
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.visible, stats.in_flight, stats.delayed), (7, 2, 1));

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        targets(&seen),
        [
            "AmazonSQS.SendMessage",
            "AmazonSQS.ReceiveMessage",
            "AmazonSQS.ChangeMessageVisibility",
            "AmazonSQS.DeleteMessage",
            "AmazonSQS.GetQueueAttributes"
        ]
    );
    let bodies: Vec<serde_json::Value> = seen
        .iter()
        .map(|s| serde_json::from_slice(&s.body).unwrap())
        .collect();
    assert_eq!(
        bodies[0],
        serde_json::json!({"QueueUrl": QUEUE_URL, "MessageBody": "{\"v\":1}"})
    );
    assert_eq!(
        bodies[1],
        serde_json::json!({
            "QueueUrl": QUEUE_URL,
            "MaxNumberOfMessages": 10,
            "WaitTimeSeconds": 2,
            // Visibility is whole seconds, rounded up.
            "VisibilityTimeout": 2,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
        })
    );
    assert_eq!(
        bodies[2],
        serde_json::json!({"QueueUrl": QUEUE_URL, "ReceiptHandle": "r-1", "VisibilityTimeout": 30})
    );
    assert_eq!(
        bodies[3],
        serde_json::json!({"QueueUrl": QUEUE_URL, "ReceiptHandle": "r-1"})
    );
    for s in &seen {
        assert_signed_json(s, "1.0", "sqs");
    }
}

#[tokio::test]
async fn queue_errors_keep_the_query_protocol_codes() {
    let (url, seen) = stand_in(vec![
        (
            400,
            r#"{"__type":"com.amazonaws.sqs#ReceiptHandleIsInvalid","message":"The input receipt handle is invalid."}"#,
            vec![("x-amzn-query-error", "ReceiptHandleIsInvalid;Sender")],
        ),
        (
            400,
            r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#,
            vec![(
                "x-amzn-query-error",
                "AWS.SimpleQueueService.NonExistentQueue;Sender",
            )],
        ),
        (
            400,
            r#"{"__type":"com.amazonaws.sqs#RequestThrottled","message":"slow down"}"#,
            vec![("x-amzn-query-error", "RequestThrottled;Sender")],
        ),
        (200, "{}", vec![]),
        (
            200,
            r#"{"Attributes":{"QueueArn":"arn:aws:sqs:eu-west-1:123456789012:hookgate-dlq","ApproximateNumberOfMessages":"4"}}"#,
            vec![],
        ),
        (
            400,
            r#"{"__type":"com.amazonaws.sqs#UnsupportedOperation","message":"no"}"#,
            vec![(
                "x-amzn-query-error",
                "AWS.SimpleQueueService.UnsupportedOperation;Sender",
            )],
        ),
        (200, "not json", vec![]),
    ])
    .await;
    let q = SqsQueue::from_sdk(&sdk_for(&url, SystemTime::now()), QUEUE_URL).unwrap();
    let count = || seen.lock().unwrap().len();

    let err = q.delete("stale").await.unwrap_err();
    assert!(matches!(err, QueueError::InvalidReceipt(_)), "{err:?}");
    assert_eq!(count(), 1, "not retried");

    let err = q.send("x").await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("AWS.SimpleQueueService.NonExistentQueue"),
        "{text}"
    );
    assert!(text.contains("does not exist"), "{text}");
    assert_eq!(count(), 2, "not retried");

    // Throttled, then served.
    q.send("x").await.unwrap();
    assert_eq!(count(), 4);

    // The DLQ's native redrive: an endpoint without the action is told apart, without retries.
    assert_eq!(q.native_redrive().await.unwrap(), None);
    assert_eq!(count(), 6);
    let move_task = seen.lock().unwrap()[5].clone();
    assert_eq!(
        move_task.header("x-amz-target"),
        Some("AmazonSQS.StartMessageMoveTask")
    );
    let sent: serde_json::Value = serde_json::from_slice(&move_task.body).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"SourceArn": "arn:aws:sqs:eu-west-1:123456789012:hookgate-dlq"})
    );

    let err = q.receive(1, Duration::ZERO, None).await.unwrap_err();
    assert!(err.to_string().contains("unreadable answer"), "{err}");
}

#[test]
fn a_queue_without_a_region_is_refused_when_built() {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let err = SqsQueue::from_sdk(&sdk, QUEUE_URL).unwrap_err();
    assert!(err.contains("no AWS region"), "{err}");
    // The backend refuses to start, saying so (the CLI prints it).
    let err = hookgate_shared::adapters::aws::AwsBackend::new(
        &sdk,
        "t".into(),
        QUEUE_URL.into(),
        String::new(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "SQS cannot be called: no AWS region configured"
    );
}
