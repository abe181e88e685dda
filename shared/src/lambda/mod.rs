//! The Lambda edges: API Gateway HTTP API (v2 payload) → ingest, SQS batch → processor, and the
//! replay function's JSON commands. Each function's `main.rs` only wires these to
//! `lambda_runtime`.
//!
//! The ingest edge reads the raw API Gateway event (not `lambda_http`): `lambda_http` decodes a
//! base64 body with `expect`, so a malformed body would abort the process; here it is a 400.

mod admin;
mod apigw;
#[cfg(feature = "aws")]
pub mod boot;
mod command;
mod sqs;

pub use aws_lambda_events as events;
pub use lambda_runtime as runtime;

pub use admin::replay_function;
pub use apigw::{ingest_apigw, reply_to_apigw};
pub use command::{Command, CommandError, run_command};
pub use sqs::process_sqs;

/// JSON logs to stdout (CloudWatch), filtered by `RUST_LOG` (default `info`), without ANSI colours
/// or timestamps (CloudWatch adds its own).
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}
