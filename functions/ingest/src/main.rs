//! The ingest Lambda: API Gateway HTTP API (payload v2) → verify → store → enqueue. Wiring only.

use std::convert::Infallible;
use std::sync::Arc;

use hookgate_shared::lambda::{self, boot, events::apigw::ApiGatewayV2httpRequest, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), runtime::Error> {
    lambda::init_tracing();
    let app = Arc::new(boot::app_from_env(boot::Role::Ingest).await?);
    runtime::run(runtime::service_fn(move |event: runtime::LambdaEvent<ApiGatewayV2httpRequest>| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(lambda::ingest_apigw(&app, event.payload).await) }
    }))
    .await
}
