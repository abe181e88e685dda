//! The floor for `scripts/coldstart.sh`: the `cargo lambda new` hello world (tracing subscriber,
//! echo handler) on `lambda_runtime`, built with the same release profile as the functions.

use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use serde_json::Value;

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(echo)).await
}
