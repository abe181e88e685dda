//! The claim check on moto: a body too large for a DynamoDB item is stored in the payload bucket
//! (S3, path-style) and read back wherever the event is read; without a bucket it is refused as too
//! large. A second delivery with the same id never overwrites the stored body. Against a stand-in
//! S3 endpoint on loopback: the requests' SigV4 signatures, recomputed here the way S3 checks them,
//! and the retries and error mapping.
#![cfg(all(feature = "aws", feature = "contract"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use hookgate_shared::adapters::aws::{DynamoStore, PayloadBucket};
use hookgate_shared::contract::fixtures::{T0, claim, event};
use hookgate_shared::model::Generation;
use hookgate_shared::moto::{fresh_subject, unique_prefix};

#[path = "support/stand_in.rs"]
mod stand_in;
use hookgate_shared::ports::{
    ClaimOutcome, EventFilter, EventStore, PageRequest, PutOutcome, StoreError,
};
use stand_in::{expected_signature, sdk_for, stand_in};

/// Incompressible bytes: zstd cannot shrink them under the item limit.
fn noise(len: usize, seed: u8) -> Bytes {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect::<Vec<u8>>()
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_go_to_the_payload_bucket_and_come_back() {
    let m = fresh_subject("payloads", 3, Duration::from_secs(2))
        .await
        .unwrap();
    let conf = aws_sdk_s3::config::Builder::from(&m.sdk)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    let bucket = unique_prefix("payloads");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let ddb = m.backend.store.client().clone();
    let table = m.backend.store.table().to_owned();
    // Items are read back by the SDK's own client.
    let sdk_ddb = aws_sdk_dynamodb::Client::new(&m.sdk);
    let store = DynamoStore::new(ddb.clone(), &table)
        .with_payloads(Some(PayloadBucket::from_sdk(&m.sdk, &bucket).unwrap()));

    let mut big = event("github", "big-1", T0);
    big.body = noise(600 * 1024, 1);
    assert_eq!(store.put_new(&big).await.unwrap(), PutOutcome::Inserted);
    // One object in the bucket; the item keeps its key and stays small.
    let objects = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let keys: Vec<String> = objects
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with(&format!("bodies/{}/", big.event_id)));
    let raw = sdk_ddb
        .get_item()
        .table_name(&table)
        .key(
            "event_id",
            aws_sdk_dynamodb::types::AttributeValue::S(big.event_id.to_string()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(raw["body_ref"].as_s().unwrap(), &keys[0]);
    assert!(
        hookgate_shared::adapters::aws::item_size(&serde_dynamo::Item::from(raw).into()) < 10_000
    );

    // Every read brings the body back.
    assert_eq!(
        store.get(&big.event_id).await.unwrap().unwrap().body,
        big.body
    );
    let many = store.get_many(&[big.event_id.clone()]).await.unwrap();
    assert_eq!(many[0].body, big.body);
    let page = store
        .list(
            &EventFilter::default(),
            &PageRequest {
                cursor: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.events[0].body, big.body);
    match store
        .claim(&claim(&big.event_id, Generation::FIRST, "t", T0))
        .await
        .unwrap()
    {
        ClaimOutcome::Claimed(e) => assert_eq!(e.body, big.body),
        other => panic!("{other:?}"),
    }

    // The same delivery id with another body is a duplicate; the stored body is untouched.
    let mut again = big.clone();
    again.body = noise(600 * 1024, 2);
    assert!(matches!(
        store.put_new(&again).await.unwrap(),
        PutOutcome::Duplicate(_)
    ));
    assert_eq!(
        store.get(&big.event_id).await.unwrap().unwrap().body,
        big.body
    );

    // Small bodies stay in the item.
    let small = event("github", "small-1", T0);
    store.put_new(&small).await.unwrap();
    let raw = sdk_ddb
        .get_item()
        .table_name(&table)
        .key(
            "event_id",
            aws_sdk_dynamodb::types::AttributeValue::S(small.event_id.to_string()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(!raw.contains_key("body_ref"));

    // Without a bucket the oversized body is refused as too large (413 at ingest), and an item
    // whose body is in a bucket cannot be read without one.
    let plain = DynamoStore::new(ddb.clone(), &table);
    let mut other = event("github", "big-2", T0);
    other.body = noise(600 * 1024, 3);
    assert!(matches!(
        plain.put_new(&other).await,
        Err(StoreError::TooLarge(_))
    ));
    assert!(matches!(
        plain.get(&big.event_id).await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn requests_are_signed_as_s3_checks_them() {
    use sha2::{Digest, Sha256};
    let (url, seen) = stand_in(vec![]).await;
    let at = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let bucket = PayloadBucket::from_sdk(&sdk_for(&url, at), "hook-bodies").unwrap();
    let e = event("github", "signed-1", T0);
    let stored = noise(2048, 7).to_vec();
    let key = PayloadBucket::key(&e.event_id, &stored);
    bucket.put(&key, stored.clone()).await.unwrap();
    assert_eq!(bucket.get(&key).await.unwrap(), stored);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let (put, get) = (&seen[0], &seen[1]);
    assert_eq!((put.method.as_str(), get.method.as_str()), ("PUT", "GET"));
    assert_eq!(put.path, format!("/hook-bodies/{key}"));
    assert_eq!(put.body, stored);
    assert_eq!(
        put.header("x-amz-content-sha256"),
        Some(hex::encode(Sha256::digest(&stored)).as_str())
    );
    assert_eq!(
        get.header("x-amz-content-sha256"),
        Some(hex::encode(Sha256::digest(b"")).as_str())
    );
    for s in [put, get] {
        assert_eq!(s.header("x-amz-date"), Some("20260101T000000Z"));
        assert_eq!(s.header("x-amz-security-token"), Some("session-token-x"));
        let auth = s.header("authorization").unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/s3/aws4_request, "
            ),
            "{auth}"
        );
        for h in [
            "host",
            "x-amz-content-sha256",
            "x-amz-date",
            "x-amz-security-token",
        ] {
            assert!(auth.contains(h), "{h} is not signed: {auth}");
        }
        let signature = auth.split("Signature=").nth(1).unwrap();
        assert_eq!(
            signature,
            expected_signature(s, true, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            "{s:?}"
        );
        // A wrong secret gives another signature: the check above can fail.
        assert_ne!(signature, expected_signature(s, true, "another-secret"));
    }
}

#[tokio::test]
async fn throttling_is_retried_refusals_are_not_and_bad_objects_are_corrupt() {
    let slow =
        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
    let denied = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
    let missing =
        "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>";
    let (url, seen) = stand_in(vec![
        (503, slow, vec![]),
        (200, "", vec![]),
        (403, denied, vec![]),
        (404, missing, vec![]),
    ])
    .await;
    let bucket =
        PayloadBucket::from_sdk(&sdk_for(&url, std::time::SystemTime::now()), "hook-bodies")
            .unwrap();
    let e = event("github", "retry-1", T0);
    let stored = noise(1024, 9).to_vec();
    let key = PayloadBucket::key(&e.event_id, &stored);
    // 503 SlowDown, then 200: one put, two requests.
    bucket.put(&key, stored.clone()).await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);
    // 403: refused at once, not retried.
    let err = bucket.put(&key, stored.clone()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable(ref m) if m.contains("AccessDenied")),
        "{err:?}"
    );
    assert_eq!(seen.lock().unwrap().len(), 3);
    // 404 NoSuchKey: the body is gone, retrying cannot help.
    let err = bucket.get(&key).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt(ref m) if m.contains("missing")),
        "{err:?}"
    );
    // Bytes that do not match the key's digest (the stand-in answers the last PUT's body).
    let other = PayloadBucket::key(&e.event_id, b"other bytes");
    let err = bucket.get(&other).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt(ref m) if m.contains("digest")),
        "{err:?}"
    );
    assert_eq!(bucket.get(&key).await.unwrap(), stored);
}

#[test]
fn an_unusable_bucket_is_a_clear_error() {
    let sdk = sdk_for("http://127.0.0.1:9", std::time::SystemTime::now());
    let err = PayloadBucket::from_sdk(&sdk, "Not_A_Bucket").unwrap_err();
    assert!(
        err.to_string().contains("not a valid S3 bucket name"),
        "{err}"
    );
    let no_region = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let err = PayloadBucket::from_sdk(&no_region, "b-1").unwrap_err();
    assert!(err.to_string().contains("region"), "{err}");
}
