//! The DynamoDB event store's signed JSON 1.0 requests against a stand-in endpoint on loopback:
//! each operation's target and input as DynamoDB reads them (SigV4 recomputed here the way the
//! service checks it), and the answers moto cannot be made to give (throttling, server errors,
//! unprocessed keys, a condition failure without the item, an unreadable answer). The round trips
//! against moto are the contract suite (`contract_aws.rs`) and `aws_adapters.rs`.
#![cfg(all(feature = "aws", feature = "contract"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hookgate_shared::adapters::aws::dynamodb::DynamoDb;
use hookgate_shared::adapters::aws::{DynamoStore, event_to_item};
use hookgate_shared::model::{DeliveryId, EventId, Generation, NewEvent, SourceName, StoredEvent};
use hookgate_shared::ports::{ClaimOutcome, ClaimRequest, EventStore, PutOutcome, StoreError};
use serde_json::{Value, json};

#[path = "support/stand_in.rs"]
mod stand_in;
use stand_in::{assert_signed_json, sdk_for, stand_in, targets};

const TABLE: &str = "hookgate-events";

fn event(delivery: &str) -> NewEvent {
    let source = SourceName::parse("github").unwrap();
    let delivery_id = DeliveryId::parse(delivery).unwrap();
    NewEvent {
        event_id: EventId::derive(&source, &delivery_id),
        source,
        delivery_id,
        event_type: "push".into(),
        received_at: 1_767_225_600_123,
        content_type: Some("application/json".into()),
        headers: BTreeMap::from([("x-github-hook-id".to_owned(), "42".to_owned())]),
        body: Bytes::from_static(br#"{"ref":"refs/heads/main"}"#),
        secret_label: None,
        expires_at: 1_769_817_600_123,
        lease: None,
    }
}

/// `{"<field>": <the event's item>, ...extra}` as DynamoDB answers it (leaked: canned answers are
/// `'static`).
fn answer_with_item(field: &str, e: &NewEvent, extra: Value) -> &'static str {
    let item = event_to_item(&StoredEvent::from_new(e.clone())).unwrap();
    let mut doc = json!({ field: item });
    if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
        doc.extend(extra.clone());
    }
    Box::leak(doc.to_string().into_boxed_str())
}

fn store_on(url: &str, at: SystemTime) -> DynamoStore {
    DynamoStore::new(DynamoDb::from_sdk(&sdk_for(url, at)).unwrap(), TABLE)
}

#[tokio::test]
async fn store_operations_are_signed_dynamodb_json_requests() {
    let first = event("d-1");
    let (url, seen) = stand_in(vec![
        (200, "{}", vec![]),
        (200, answer_with_item("Item", &first, json!({})), vec![]),
        (
            400,
            answer_with_item(
                "Item",
                &first,
                json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                    "message": "The conditional request failed"
                }),
            ),
            vec![],
        ),
    ])
    .await;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let store = store_on(&url, at);

    assert_eq!(store.put_new(&first).await.unwrap(), PutOutcome::Inserted);
    let got = store.get(&first.event_id).await.unwrap().unwrap();
    assert_eq!(
        (got.event_id.clone(), got.body),
        (first.event_id.clone(), first.body.clone())
    );
    // The same delivery again: the condition fails and the answer carries the stored item.
    match store.put_new(&first).await.unwrap() {
        PutOutcome::Duplicate(old) => assert_eq!(old.event_id, first.event_id),
        other => panic!("{other:?}"),
    }

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        targets(&seen),
        [
            "DynamoDB_20120810.PutItem",
            "DynamoDB_20120810.GetItem",
            "DynamoDB_20120810.PutItem"
        ]
    );
    let bodies: Vec<Value> = seen
        .iter()
        .map(|s| serde_json::from_slice(&s.body).unwrap())
        .collect();
    let put = &bodies[0];
    assert_eq!(put["TableName"], TABLE);
    assert_eq!(
        put["Item"]["event_id"],
        json!({"S": first.event_id.as_str()})
    );
    assert_eq!(put["Item"]["received_at"], json!({"N": "1767225600123"}));
    assert!(put["Item"]["body"]["B"].is_string(), "binary as base64");
    assert_eq!(
        put["ConditionExpression"],
        "attribute_not_exists(#event_id)"
    );
    assert_eq!(
        put["ExpressionAttributeNames"],
        json!({"#event_id": "event_id"})
    );
    assert_eq!(put["ReturnValuesOnConditionCheckFailure"], "ALL_OLD");
    assert!(
        put.get("ExpressionAttributeValues").is_none(),
        "an empty map is refused by DynamoDB: {put}"
    );
    assert_eq!(
        bodies[1],
        json!({
            "TableName": TABLE,
            "Key": {"event_id": {"S": first.event_id.as_str()}},
            "ConsistentRead": true
        })
    );
    for s in &seen {
        assert_signed_json(s, "1.0", "dynamodb");
    }
}

#[tokio::test]
async fn answers_are_retried_or_classified_like_the_sdks() {
    let (a, b) = (event("d-a"), event("d-b"));
    let throttled = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#;
    // One item answered, `b` left unprocessed; then `b`.
    let first_round: &'static str = Box::leak(
        json!({
            "Responses": { TABLE: [event_to_item(&StoredEvent::from_new(a.clone())).unwrap()] },
            "UnprocessedKeys": { TABLE: {
                "Keys": [{"event_id": {"S": b.event_id.as_str()}}],
                "ConsistentRead": true
            }}
        })
        .to_string()
        .into_boxed_str(),
    );
    let second_round: &'static str = Box::leak(
        json!({
            "Responses": { TABLE: [event_to_item(&StoredEvent::from_new(b.clone())).unwrap()] },
            "UnprocessedKeys": {}
        })
        .to_string()
        .into_boxed_str(),
    );
    let (url, seen) = stand_in(vec![
        // get: throttled, then served.
        (400, throttled, vec![]),
        (200, "{}", vec![]),
        // get_many: one key left unprocessed, asked again alone.
        (200, first_round, vec![]),
        (200, second_round, vec![]),
        // put_new: an item over 400 KB, refused at once.
        (
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"Item size has exceeded the maximum allowed size"}"#,
            vec![],
        ),
        // claim: the condition failed and there is no item.
        (
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#,
            vec![],
        ),
        // claim: a condition failure whose answer cannot be read.
        (
            400,
            "<html>a proxy page</html>",
            vec![("x-amzn-errortype", "ConditionalCheckFailedException:")],
        ),
        // get: a missing table is refused at once.
        (
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}"#,
            vec![],
        ),
        // get: server errors, three attempts.
        (500, r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"}"#, vec![]),
        (500, r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"}"#, vec![]),
        (500, r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"}"#, vec![]),
    ])
    .await;
    let store = store_on(&url, SystemTime::now());
    let count = || seen.lock().unwrap().len();

    assert!(store.get(&a.event_id).await.unwrap().is_none());
    assert_eq!(count(), 2, "throttling is retried");

    let many = store
        .get_many(&[a.event_id.clone(), b.event_id.clone()])
        .await
        .unwrap();
    let ids: Vec<&EventId> = many.iter().map(|e| &e.event_id).collect();
    assert_eq!(ids, [&a.event_id, &b.event_id]);
    assert_eq!(count(), 4);
    let again: Value = serde_json::from_slice(&seen.lock().unwrap()[3].body).unwrap();
    assert_eq!(
        again,
        json!({"RequestItems": {TABLE: {
            "Keys": [{"event_id": {"S": b.event_id.as_str()}}],
            "ConsistentRead": true
        }}})
    );

    let err = store.put_new(&a).await.unwrap_err();
    assert!(matches!(err, StoreError::TooLarge(_)), "{err:?}");
    assert_eq!(count(), 5, "not retried");

    let claim = ClaimRequest {
        event_id: a.event_id.clone(),
        generation: Generation::FIRST,
        token: "t".into(),
        held: None,
        now: 1_767_225_600_000,
        lease_until: 1_767_225_630_000,
    };
    assert_eq!(store.claim(&claim).await.unwrap(), ClaimOutcome::NotFound);
    let err = store.claim(&claim).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("unreadable ConditionalCheckFailedException")),
        "{err:?}"
    );
    assert_eq!(count(), 7);

    let err = store.get(&a.event_id).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("ResourceNotFoundException")),
        "{err:?}"
    );
    assert_eq!(count(), 8, "not retried");

    let err = store.get(&a.event_id).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("server error")),
        "{err:?}"
    );
    assert_eq!(count(), 11, "the SDK's three attempts");
}

#[test]
fn a_store_without_a_region_is_refused_when_built() {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let err = DynamoDb::from_sdk(&sdk).unwrap_err();
    assert!(err.contains("no AWS region"), "{err}");
}
