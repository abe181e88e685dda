//! The processor Lambda: an SQS batch → claim, route, run handlers, record → the failed items
//! only (`ReportBatchItemFailures`). Wiring only.

use std::convert::Infallible;
use std::sync::Arc;

use hookgate_shared::lambda::{self, boot, events::sqs::SqsEvent, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), runtime::Error> {
    lambda::init_tracing();
    let app = Arc::new(boot::app_from_env(boot::Role::Processor).await?);
    runtime::run(runtime::service_fn(move |event: runtime::LambdaEvent<SqsEvent>| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(lambda::process_sqs(&app, event.payload).await) }
    }))
    .await
}
