//! The contract suite on the embedded SQLite backend: a fresh data directory per case.
#![cfg(all(feature = "sqlite", feature = "contract"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hookgate_shared::adapters::sqlite::{SqliteBackend, SqliteOptions};
use hookgate_shared::contract::{Subject, TempDir};

hookgate_shared::contract_tests!(async {
    let dir = TempDir::new("contract-sqlite");
    let visibility = Duration::from_secs(1);
    let backend = SqliteBackend::open(
        dir.path(),
        SqliteOptions {
            max_receive_count: 3,
            visibility_timeout: visibility,
        },
    )
    .expect("open the SQLite backend");
    Subject {
        store: backend.store(),
        queue: backend.queue(),
        dlq: backend.dlq(),
        max_receive_count: 3,
        visibility,
        latest_receipt_only: true,
        global_order: true,
        pure_peek: true,
        // Dropped in this order: the backend (closing the database), then the directory.
        guard: Box::new((backend, dir)),
    }
});
