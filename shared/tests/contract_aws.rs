//! The contract suite on DynamoDB + SQS, against moto server (fresh table and queues per case).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(all(feature = "aws", feature = "contract"))]

use std::time::Duration;

use hookgate_shared::contract::Subject;

async fn subject() -> Subject {
    let m = hookgate_shared::moto::fresh_subject("contract", 3, Duration::from_secs(2))
        .await
        .unwrap();
    Subject {
        store: m.backend.store.clone(),
        queue: m.backend.queue.clone(),
        dlq: m.backend.dlq.clone(),
        max_receive_count: m.max_receive_count,
        visibility: m.visibility,
    }
}

hookgate_shared::contract_tests!(subject());
