//! The contract suite on the embedded SQLite backend (one fresh database per case).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(all(feature = "sqlite", feature = "contract"))]

use std::time::Duration;

use hookgate_shared::adapters::sqlite::{SqliteBackend, SqliteOptions};
use hookgate_shared::contract::Subject;

async fn subject() -> Subject {
    let dir = tempfile::tempdir().unwrap().keep();
    let b = SqliteBackend::open(
        &dir,
        SqliteOptions {
            max_receive_count: 3,
            visibility_timeout: Duration::from_secs(2),
        },
    )
    .unwrap();
    Subject {
        store: b.store(),
        queue: b.queue(),
        dlq: b.dlq(),
        max_receive_count: 3,
        visibility: Duration::from_secs(2),
    }
}

hookgate_shared::contract_tests!(subject());
