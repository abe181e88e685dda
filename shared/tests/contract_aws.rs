//! The contract suite on DynamoDB + SQS, against moto server (fresh table and queues per case).
#![cfg(all(feature = "aws", feature = "contract"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hookgate_shared::contract::Subject;

hookgate_shared::contract_tests!(async {
    let m = hookgate_shared::moto::fresh_subject("contract", 3, Duration::from_secs(1))
        .await
        .unwrap();
    Subject {
        store: m.backend.store.clone(),
        queue: m.backend.queue.clone(),
        dlq: m.backend.dlq.clone(),
        max_receive_count: m.max_receive_count,
        visibility: m.visibility,
        // SQS (and moto) accept a receipt a newer receive has replaced.
        latest_receipt_only: false,
        global_order: false,
        pure_peek: false,
        guard: Box::new(m),
    }
});
