//! The embedded SQLite backend (store + queue with SQS semantics).
