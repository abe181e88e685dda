//! Adapters: the ports implemented on real backends, chosen at the edges.
//! - `sqlite`: the embedded, persistent local stack (feature `sqlite`).
//! - `aws`: DynamoDB, SQS and Secrets Manager (feature `aws`).

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "sqlite")]
pub mod sqlite;
