//! Long-running loops for a process that is its own queue consumer (the local stack, or
//! `serve --backend aws`): pollers that receive batches exactly as the SQS event source mapping
//! would hand them to the processor Lambda, and the periodic sweep.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::process::InboundMessage;

/// How long one receive waits for a first message: SQS's longest poll. A receive returns as soon
/// as a message is there (SQS long polling; the embedded queue looks again every 100 ms and at
/// every send), so a longer wait delays nothing. It only makes an idle poller ask less often: on
/// SQS, 16 idle loops asking every second were ~1.4 million billed receives a day (~$0.55), and
/// are now ~70 000. Shutdown does not wait for it: the receive is dropped when `stop` fires.
pub const POLL_WAIT: Duration = Duration::from_secs(20);

/// Receives batches until `stop`, processes them, deletes what is done. A batch's deletes overlap
/// the next receive (at most one batch of deletes in flight per poller), so the two share a
/// group commit on SQLite instead of costing one each. A batch in flight when `stop` fires is
/// finished first, its deletes included (graceful shutdown).
pub async fn run_poller(app: Arc<App>, stop: CancellationToken) {
    let batch = app.config.queue.batch_size;
    let mut deleting: Option<tokio::task::JoinHandle<()>> = None;
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
        let receipts = result.acked_receipts();
        if let Some(previous) = deleting.take() {
            let _ = previous.await;
        }
        deleting = Some(tokio::spawn(delete_all(app.clone(), receipts)));
    }
    if let Some(last) = deleting {
        let _ = last.await;
    }
}

/// Deletes a batch's done messages, all at once rather than one round trip after another (one
/// operation of the group-commit writer on SQLite). A failed delete only means the message comes
/// back; its claim then finds the generation processed.
async fn delete_all(app: Arc<App>, receipts: Vec<String>) {
    let deleted = app.backend.queue.delete_many(&receipts).await;
    for e in deleted.into_iter().filter_map(Result::err) {
        tracing::warn!(error = %e, "delete failed");
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
