//! Long-running loops for a process that is its own queue consumer (the local stack, or
//! `serve --backend aws`): pollers that receive batches exactly as the SQS event source mapping
//! would hand them to the processor Lambda, and the periodic sweep.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::process::InboundMessage;

/// How long one receive waits for a first message.
const POLL_WAIT: Duration = Duration::from_secs(1);

/// Receives batches until `stop`, processes them, deletes what is done. A batch in flight when
/// `stop` fires is finished first (graceful shutdown).
pub async fn run_poller(app: Arc<App>, stop: CancellationToken) {
    let batch = app.config.queue.batch_size;
    while !stop.is_cancelled() {
        let received = tokio::select! {
            r = app.backend.queue.receive(batch, POLL_WAIT, None) => r,
            () = stop.cancelled() => break,
        };
        let msgs = match received {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "receive failed; backing off");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if msgs.is_empty() {
            continue;
        }
        let inbound: Vec<InboundMessage> = msgs.into_iter().map(InboundMessage::from).collect();
        let result = app.processor.process_batch(&inbound).await;
        // All of the batch's deletes at once, not one round trip (one durable commit on SQLite)
        // after another: the group-commit writer takes them in one transaction.
        let queue = &app.backend.queue;
        let receipts = result.acked_receipts();
        let deleted = join_all(receipts.iter().map(|r| queue.delete(r))).await;
        for e in deleted.into_iter().filter_map(Result::err) {
            // The message comes back; its claim then finds the generation processed.
            tracing::warn!(error = %e, "delete failed");
        }
    }
}

/// Runs the sweep every `interval` until `stop`.
pub async fn run_sweeper(app: Arc<App>, stop: CancellationToken) {
    let interval = app.config.sweep.interval;
    let older_than = app.config.sweep.older_than;
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => break,
        }
        match app.replayer.sweep(older_than, 1000).await {
            Ok(r) if r.found > 0 => tracing::info!(
                found = r.found,
                requeued = r.requeued,
                marked_dead = r.marked_dead,
                "sweep"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed"),
        }
    }
}
