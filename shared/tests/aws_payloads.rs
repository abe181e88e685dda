//! The claim check on moto: a body too large for a DynamoDB item is stored in the payload bucket
//! (S3, path-style) and read back wherever the event is read; without a bucket it is refused as too
//! large. A second delivery with the same id never overwrites the stored body.
#![cfg(all(feature = "aws", feature = "contract"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use hookgate_shared::adapters::aws::{DynamoStore, PayloadBucket};
use hookgate_shared::contract::fixtures::{T0, claim, event};
use hookgate_shared::model::Generation;
use hookgate_shared::moto::{fresh_subject, unique_prefix};
use hookgate_shared::ports::{
    ClaimOutcome, EventFilter, EventStore, PageRequest, PutOutcome, StoreError,
};

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
    let store = DynamoStore::new(ddb.clone(), &table)
        .with_payloads(Some(PayloadBucket::new(s3.clone(), &bucket)));

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
    let raw = ddb
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
    assert!(hookgate_shared::adapters::aws::item_size(&raw) < 10_000);

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
    let raw = ddb
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
