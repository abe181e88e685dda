//! SQS event (raw, not typed per body: one bad record must not fail the batch) → processor →
//! `SqsBatchResponse` listing only the messages to retry.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::app::App;
use crate::process::InboundMessage;

pub async fn process_sqs(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let batch: Vec<InboundMessage> = event
        .records
        .into_iter()
        .filter_map(|r| {
            let Some(message_id) = r.message_id else {
                tracing::error!("SQS record without a message id skipped");
                return None;
            };
            Some(InboundMessage {
                receive_count: r
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
                receipt: r.receipt_handle.unwrap_or_default(),
                body: r.body.unwrap_or_default(),
                message_id,
            })
        })
        .collect();
    let result = app.processor.process_batch(&batch).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = result
        .failures()
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    crate::metrics::flush_emf();
    response
}
