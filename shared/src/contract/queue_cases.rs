//! Contract cases for [`Queue`](crate::ports::Queue): the main queue with its redrive policy and
//! the dead-letter queue.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::Subject;
use super::fixtures::receive_n;
use crate::clock::now_ms;
use crate::ports::{QueueError, QueueStats};

const NO_WAIT: Duration = Duration::ZERO;
const SHORT_WAIT: Duration = Duration::from_secs(2);

fn body(i: usize) -> String {
    format!(r#"{{"v":1,"event_id":"evt_contract{i:04}","generation":1}}"#)
}

async fn receive_one(s: &Subject, wait: Duration, visibility: Duration) -> crate::ports::Received {
    let mut got = s
        .queue
        .receive(1, wait, Some(visibility))
        .await
        .expect("receive");
    assert_eq!(got.len(), 1, "expected one message");
    got.remove(0)
}

async fn assert_empty_now(q: &dyn crate::ports::Queue, what: &str) {
    let got = q
        .receive(10, NO_WAIT, Some(Duration::from_secs(1)))
        .await
        .expect("receive");
    assert!(
        got.is_empty(),
        "{what}: expected nothing visible, got {got:?}"
    );
}

/// Deleted for good, not just hidden: nothing comes back once the visibility would have ended.
async fn assert_none_comes_back(s: &Subject) {
    let later = s
        .queue
        .receive(10, s.visibility + Duration::from_secs(1), None)
        .await
        .expect("receive");
    assert!(later.is_empty(), "a deleted message came back: {later:?}");
}

pub async fn queue_send_receive_delete(s: &Subject) {
    let before = now_ms();
    s.queue.send(&body(1)).await.expect("send");
    let after = now_ms();
    let m = receive_one(s, SHORT_WAIT, s.visibility).await;
    assert_eq!(m.body, body(1));
    assert_eq!(m.receive_count, 1);
    assert!(!m.message_id.is_empty() && !m.receipt.is_empty());
    assert!(
        (before - 1_000..=after + 1_000).contains(&m.sent_at),
        "sent_at {} is not the send time ({before}..{after})",
        m.sent_at
    );
    s.queue.delete(&m.receipt).await.expect("delete");
    assert_empty_now(&*s.queue, "after delete").await;
    // SQS's message size limit holds everywhere, so no backend accepts what AWS would refuse.
    let too_big = s.queue.send(&"x".repeat(256 * 1024 + 1)).await;
    assert!(
        matches!(too_big, Err(QueueError::Invalid(_))),
        "{too_big:?}"
    );
    assert_none_comes_back(s).await;
}

pub async fn queue_receive_returns_at_most_ten(s: &Subject) {
    for bad in [0, 11] {
        let out = s.queue.receive(bad, NO_WAIT, None).await;
        assert!(
            matches!(out, Err(QueueError::Invalid(_))),
            "max {bad} gave {out:?}"
        );
    }
    for i in 0..12 {
        s.queue.send(&body(i)).await.expect("send");
    }
    let first = s
        .queue
        .receive(10, SHORT_WAIT, Some(Duration::from_secs(30)))
        .await;
    let first = first.expect("receive");
    assert!(
        !first.is_empty() && first.len() <= 10,
        "got {}",
        first.len()
    );
    let rest = receive_n(
        &*s.queue,
        12 - first.len(),
        Duration::from_secs(30),
        SHORT_WAIT * 3,
    )
    .await;
    let bodies: BTreeSet<String> = first.iter().chain(&rest).map(|m| m.body.clone()).collect();
    assert_eq!(
        bodies,
        (0..12).map(body).collect(),
        "every message, each once"
    );
    assert_eq!(
        first.len() + rest.len(),
        12,
        "no message was delivered twice"
    );
    let ids: BTreeSet<&String> = first.iter().chain(&rest).map(|m| &m.message_id).collect();
    assert_eq!(ids.len(), 12, "message ids are distinct");
}

pub async fn queue_visibility_hides_then_reappears_with_a_new_receipt(s: &Subject) {
    s.queue.send(&body(1)).await.expect("send");
    let visibility = Duration::from_secs(1);
    let first = receive_one(s, SHORT_WAIT, visibility).await;
    assert_empty_now(&*s.queue, "while hidden").await;
    let started = Instant::now();
    let second = receive_one(s, Duration::from_secs(5), visibility).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(second.message_id, first.message_id);
    assert_eq!(second.body, first.body);
    assert_eq!(second.sent_at, first.sent_at);
    assert_eq!(second.receive_count, 2);
    assert_ne!(
        second.receipt, first.receipt,
        "each receive gets a new receipt"
    );
    s.queue
        .delete(&second.receipt)
        .await
        .expect("delete with the latest receipt");
}

pub async fn queue_change_visibility_zero_makes_it_visible(s: &Subject) {
    s.queue.send(&body(1)).await.expect("send");
    let m = receive_one(s, SHORT_WAIT, Duration::from_secs(30)).await;
    assert_empty_now(&*s.queue, "hidden for 30 s").await;
    s.queue
        .change_visibility(&m.receipt, Duration::ZERO)
        .await
        .expect("change_visibility");
    let again = receive_one(s, SHORT_WAIT, Duration::from_secs(30)).await;
    assert_eq!(again.message_id, m.message_id);
    assert_eq!(again.receive_count, 2);

    // And the other way: a longer timeout keeps it hidden past the original one.
    let short = Duration::from_secs(1);
    s.queue
        .change_visibility(&again.receipt, short)
        .await
        .expect("shorten");
    s.queue
        .change_visibility(&again.receipt, Duration::from_secs(30))
        .await
        .expect("extend");
    let none = s
        .queue
        .receive(1, short + Duration::from_secs(1), None)
        .await
        .expect("receive");
    assert!(
        none.is_empty(),
        "an extended message became visible: {none:?}"
    );

    let too_long = s
        .queue
        .change_visibility(&again.receipt, Duration::from_secs(12 * 3600 + 1));
    assert!(
        matches!(too_long.await, Err(QueueError::Invalid(_))),
        "over 12 h must be refused"
    );
}

pub async fn queue_rejects_invalid_and_stale_receipts(s: &Subject) {
    for bad in ["not-a-receipt", "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a"] {
        let d = s.queue.delete(bad).await;
        assert!(
            matches!(d, Err(QueueError::InvalidReceipt(_))),
            "delete {bad:?}: {d:?}"
        );
        let c = s.queue.change_visibility(bad, Duration::ZERO).await;
        assert!(
            matches!(c, Err(QueueError::InvalidReceipt(_))),
            "change {bad:?}: {c:?}"
        );
    }
    s.queue.send(&body(1)).await.expect("send");
    let first = receive_one(s, SHORT_WAIT, Duration::from_secs(30)).await;
    s.queue
        .change_visibility(&first.receipt, Duration::ZERO)
        .await
        .expect("release");
    let second = receive_one(s, SHORT_WAIT, Duration::from_secs(30)).await;
    assert_ne!(first.receipt, second.receipt);
    if s.latest_receipt_only {
        let c = s
            .queue
            .change_visibility(&first.receipt, Duration::ZERO)
            .await;
        assert!(
            matches!(c, Err(QueueError::InvalidReceipt(_))),
            "stale change: {c:?}"
        );
        let d = s.queue.delete(&first.receipt).await;
        assert!(
            matches!(d, Err(QueueError::InvalidReceipt(_))),
            "stale delete: {d:?}"
        );
        assert_empty_now(&*s.queue, "a stale receipt must not release the message").await;
    }
    s.queue.delete(&second.receipt).await.expect("delete");
    // The message is gone: its receipt no longer moves anything.
    let c = s
        .queue
        .change_visibility(&second.receipt, Duration::ZERO)
        .await;
    assert!(
        matches!(c, Err(QueueError::InvalidReceipt(_))),
        "deleted message: {c:?}"
    );
}

pub async fn queue_delete_many_answers_each_receipt(s: &Subject) {
    for i in 0..3 {
        s.queue.send(&body(i)).await.expect("send");
    }
    let got = receive_n(
        &*s.queue,
        3,
        Duration::from_secs(30),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(got.len(), 3, "{got:?}");
    let mut receipts: Vec<String> = got.iter().map(|m| m.receipt.clone()).collect();
    // A receipt of no message, between two good ones: it fails alone.
    receipts.insert(1, "not-a-receipt".to_owned());
    let out = s.queue.delete_many(&receipts).await;
    assert_eq!(out.len(), 4, "{out:?}");
    assert!(
        matches!(out[1], Err(QueueError::InvalidReceipt(_))),
        "{out:?}"
    );
    assert!(
        out[0].is_ok() && out[2].is_ok() && out[3].is_ok(),
        "{out:?}"
    );
    assert!(s.queue.delete_many(&[]).await.is_empty());
    assert_none_comes_back(s).await;
}

pub async fn queue_moves_to_dlq_after_max_receives_and_redrives(s: &Subject) {
    s.queue.send(&body(1)).await.expect("send");
    let mut message_id = None;
    for n in 1..=s.max_receive_count {
        let m = receive_one(s, SHORT_WAIT, Duration::from_secs(30)).await;
        assert_eq!(m.receive_count, n);
        message_id.get_or_insert_with(|| m.message_id.clone());
        assert_eq!(Some(&m.message_id), message_id.as_ref());
        s.queue
            .change_visibility(&m.receipt, Duration::ZERO)
            .await
            .expect("release");
    }
    // One receive more than allowed: redriven to the DLQ instead of delivered.
    assert_empty_now(&*s.queue, "after max receives").await;
    let main = s.queue.stats().await.expect("stats");
    assert_eq!(
        (main.visible, main.in_flight),
        (0, 0),
        "main queue after redrive: {main:?}"
    );
    let dead = s.dlq.peek(10).await.expect("peek");
    assert_eq!(dead.len(), 1, "the DLQ holds the message: {dead:?}");
    assert_eq!(
        Some(&dead[0].message_id),
        message_id.as_ref(),
        "the message id is kept"
    );
    assert_eq!(dead[0].body, body(1), "the body is kept");
    assert_eq!(s.dlq.stats().await.expect("stats").visible, 1);

    match s.dlq.native_redrive().await.expect("native_redrive") {
        None => {} // No native move: the replay module falls back to receive/send/delete.
        Some(_moved) => {
            // The count may be an estimate (SQS's move task), so only the effect is checked.
            let back = receive_one(s, Duration::from_secs(5), Duration::from_secs(30)).await;
            assert_eq!(back.body, body(1));
            assert_eq!(back.receive_count, 1, "the receive count starts over");
            assert!(
                s.dlq.peek(10).await.expect("peek").is_empty(),
                "the DLQ is empty"
            );
        }
    }
}

pub async fn queue_peek_has_no_side_effects(s: &Subject) {
    if !s.pure_peek {
        return;
    }
    assert!(s.queue.peek(10).await.expect("peek").is_empty());
    for i in 0..3 {
        s.queue.send(&body(i)).await.expect("send");
    }
    let want: BTreeSet<String> = (0..3).map(body).collect();
    for _ in 0..2 {
        let peeked = s.queue.peek(10).await.expect("peek");
        let bodies: BTreeSet<String> = peeked.iter().map(|m| m.body.clone()).collect();
        assert_eq!(bodies, want, "peek shows the messages");
        assert_eq!(peeked.len(), 3);
    }
    assert_eq!(
        s.queue.peek(2).await.expect("peek").len(),
        2,
        "peek respects max"
    );
    // Nothing was hidden by peeking.
    let got = receive_n(&*s.queue, 3, Duration::from_secs(30), SHORT_WAIT).await;
    let bodies: BTreeSet<String> = got.iter().map(|m| m.body.clone()).collect();
    assert_eq!(bodies, want, "peeked messages are still receivable");
}

pub async fn queue_long_poll_wakes_on_send(s: &Subject) {
    let queue = s.queue.clone();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        queue.send(&body(1)).await.expect("send");
    });
    let started = Instant::now();
    let hide = Some(Duration::from_secs(30));
    let got = s
        .queue
        .receive(1, Duration::from_secs(5), hide)
        .await
        .expect("receive");
    let waited = started.elapsed();
    sender.await.expect("sender task");
    assert_eq!(
        got.len(),
        1,
        "the long poll returned the message sent meanwhile"
    );
    assert_eq!(got[0].body, body(1));
    assert!(
        waited >= Duration::from_millis(250),
        "returned before the send: {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "woke too late: {waited:?}");

    // With nothing sent, a long poll waits about as long as asked and returns nothing.
    let started = Instant::now();
    let none = s
        .queue
        .receive(1, Duration::from_secs(1), hide)
        .await
        .expect("receive");
    assert!(none.is_empty());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

pub async fn queue_stats_count_visible_and_in_flight(s: &Subject) {
    let empty = s.queue.stats().await.expect("stats");
    assert_eq!(
        (
            empty.visible,
            empty.in_flight,
            empty.delayed,
            empty.oldest_age_secs.unwrap_or(0)
        ),
        (0, 0, 0, 0),
        "a fresh queue: {empty:?}"
    );
    for i in 0..3 {
        s.queue.send(&body(i)).await.expect("send");
    }
    let sent = s.queue.stats().await.expect("stats");
    assert_eq!(
        (sent.visible, sent.in_flight, sent.delayed),
        (3, 0, 0),
        "{sent:?}"
    );
    if let Some(age) = sent.oldest_age_secs {
        assert!(age < 60, "oldest age {age}s");
    }
    let m = receive_one(s, SHORT_WAIT, Duration::from_secs(30)).await;
    let busy = s.queue.stats().await.expect("stats");
    assert_eq!((busy.visible, busy.in_flight), (2, 1), "{busy:?}");
    s.queue.delete(&m.receipt).await.expect("delete");
    let after = s.queue.stats().await.expect("stats");
    assert_eq!(
        after,
        QueueStats {
            oldest_age_secs: after.oldest_age_secs,
            visible: 2,
            in_flight: 0,
            delayed: 0
        }
    );
}

pub async fn queue_main_and_dlq_are_separate(s: &Subject) {
    assert_eq!(
        s.queue
            .native_redrive()
            .await
            .expect("native_redrive on main"),
        None
    );
    s.dlq.send(&body(1)).await.expect("send to dlq");
    assert_empty_now(&*s.queue, "main queue").await;
    let got = s
        .dlq
        .receive(10, SHORT_WAIT, Some(Duration::from_secs(30)))
        .await;
    let got = got.expect("receive from dlq");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, body(1));
    // A receipt from one queue is not valid on the other.
    let wrong = s.queue.delete(&got[0].receipt).await;
    assert!(
        matches!(wrong, Err(QueueError::InvalidReceipt(_))),
        "{wrong:?}"
    );
    s.dlq
        .delete(&got[0].receipt)
        .await
        .expect("delete from dlq");
    let stats = s.dlq.stats().await.expect("stats");
    assert_eq!((stats.visible, stats.in_flight), (0, 0));
}
