//! The contract test suite every backend adapter must pass (feature `contract`).
//!
//! One suite, written once against the ports, run over each adapter (SQLite here; DynamoDB + SQS
//! against moto server). An adapter's test file is one macro call that says how to build a fresh
//! [`Subject`]; the macro expands to one `#[tokio::test]` per case:
//!
//! ```ignore
//! // shared/tests/contract_sqlite.rs
//! hookgate_shared::contract_tests!(async {
//!     let dir = hookgate_shared::contract::TempDir::new("contract-sqlite");
//!     let backend = SqliteBackend::open(dir.path(), opts).expect("open");
//!     hookgate_shared::contract::Subject {
//!         store: backend.store(),
//!         queue: backend.queue(),
//!         dlq: backend.dlq(),
//!         max_receive_count: 3,
//!         visibility: Duration::from_secs(1),
//!         latest_receipt_only: true,
//!         guard: Box::new((backend, dir)),
//!     }
//! });
//! ```
//!
//! The subject must be **fresh** for every case (empty store, empty queues). Store cases pass
//! `now` explicitly and choose every `received_at`, so they never sleep and order
//! deterministically. Queue cases use whole-second visibility timeouts (SQS's granularity) and
//! stay within a few seconds each.
//!
//! This is test code: it panics (asserts) on any contract violation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod fixtures;
pub mod queue_cases;
pub mod store_cases;

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::ports::{EventStore, Queue};

/// What a contract case runs against: one adapter's store and queues, freshly created.
pub struct Subject {
    pub store: Arc<dyn EventStore>,
    /// The main queue; its redrive policy sends messages to `dlq` after `max_receive_count`
    /// receives.
    pub queue: Arc<dyn Queue>,
    pub dlq: Arc<dyn Queue>,
    /// The main queue's `maxReceiveCount` (keep it small, e.g. 3: the DLQ case receives that
    /// often).
    pub max_receive_count: u32,
    /// The main queue's default visibility timeout (1-2 s keeps the cases fast).
    pub visibility: Duration,
    /// True when the backend rejects a receipt superseded by a newer receive of the same message
    /// (the SQLite backend does; SQS and moto accept it, so the case skips that assertion).
    pub latest_receipt_only: bool,
    /// Whether a listing without a source filter is ordered newest first across all events
    /// (DynamoDB lists without a source by Scan: each page is sorted, the whole is not).
    pub global_order: bool,
    /// Whether `peek` leaves messages untouched (on SQS it is a receive with a zero visibility
    /// timeout, which counts a receive: meant for the DLQ only).
    pub pure_peek: bool,
    /// Whatever must live as long as the case (a temporary directory, a backend, a moto
    /// handle…); dropped when the case ends.
    pub guard: Box<dyn Any + Send>,
}

/// A temporary directory removed on drop (for adapters that keep files).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh, empty directory under the system temp dir, named after `prefix`.
    pub fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "hookgate-{prefix}-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Expands to one `#[tokio::test]` per contract case, each awaiting `$subject` (an `async`
/// block evaluating to a [`Subject`]) for a fresh subject. See the module documentation.
#[macro_export]
macro_rules! contract_tests {
    ($subject:expr $(,)?) => {
        $crate::__contract_cases!($subject;
            store_put_new_inserts_and_round_trips_every_field,
            store_put_new_on_existing_id_returns_the_stored_item,
            store_round_trips_binary_empty_and_large_bodies,
            store_get_missing_is_none,
            store_get_many_returns_present_ids_once,
            store_claim_of_unknown_event_is_not_found,
            store_claim_takes_the_lease_and_counts_the_attempt,
            store_claim_while_leased_waits_for_the_lease_to_expire,
            store_ingest_lease_runs_the_first_message_without_a_claim,
            store_ingest_lease_ended_is_taken_over_by_a_claim,
            store_claim_holding_the_token_takes_over_a_live_lease,
            store_release_gives_up_ingests_lease,
            store_claim_after_final_record_is_already_processed,
            store_claim_of_replaced_generation_is_superseded,
            store_record_with_the_lease_token_applies_the_outcome,
            store_record_with_a_wrong_token_is_lease_lost,
            store_record_after_lease_taken_over_is_lease_lost,
            store_non_final_record_lets_the_generation_run_again,
            store_mark_replay_starts_a_new_generation,
            store_mark_replay_of_unknown_event_is_none,
            store_pending_lists_unclaimed_events_older_than,
            store_abandoned_claim_is_swept_dead,
            store_list_filters_narrow,
            store_list_pages_newest_first_without_gaps_or_duplicates,
            store_list_rejects_a_foreign_cursor,
            queue_send_receive_delete,
            queue_receive_returns_at_most_ten,
            queue_visibility_hides_then_reappears_with_a_new_receipt,
            queue_change_visibility_zero_makes_it_visible,
            queue_rejects_invalid_and_stale_receipts,
            queue_delete_many_answers_each_receipt,
            queue_moves_to_dlq_after_max_receives_and_redrives,
            queue_peek_has_no_side_effects,
            queue_long_poll_wakes_on_send,
            queue_stats_count_visible_and_in_flight,
            queue_main_and_dlq_are_separate,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_cases {
    ($subject:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test]
            async fn $case() {
                let subject: $crate::contract::Subject = $subject.await;
                $crate::contract::cases::$case(&subject).await;
            }
        )+
    };
}

/// Every case, by the name the macro gives its test.
pub mod cases {
    pub use super::queue_cases::*;
    pub use super::store_cases::*;
}
