//! The replay Lambda: JSON commands (replay ids, replay by filter, redrive the DLQ, sweep — the
//! schedule sends `{"command":"sweep"}`) and the admin API routes from API Gateway. Wiring only.

use std::sync::Arc;

use hookgate_shared::lambda::{self, boot, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), runtime::Error> {
    lambda::init_tracing();
    let app = Arc::new(boot::app_from_env(boot::Role::Replay).await?);
    runtime::run(runtime::service_fn(
        move |event: runtime::LambdaEvent<serde_json::Value>| {
            let app = app.clone();
            async move {
                lambda::replay_function(&app, event.payload)
                    .await
                    .map_err(runtime::Error::from)
            }
        },
    ))
    .await
}
