//! The `TaskQueue` contract, as tests any implementation runs.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::fixtures::message;
use crate::ports::TaskQueue;

/// One `#[tokio::test]` per case of the `TaskQueue` contract, each on a
/// fresh queue from `$fresh` (an `async fn() -> QueueUnderTest`):
///
/// ```ignore
/// mod queue_contract {
///     updraft_engine::queue_contract!(super::fresh_queue);
/// }
/// ```
#[macro_export]
macro_rules! queue_contract {
    ($fresh:path) => {
        $crate::queue_contract!(@cases $fresh;
            a_message_is_received_then_hidden_then_acked,
            a_delayed_message_waits,
            an_unacked_message_comes_back_after_the_visibility_timeout,
            racing_receivers_get_each_message_once,
            many_messages_sent_together_each_arrive_once);
    };
    (@cases $fresh:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let queue: $crate::testing::QueueUnderTest = $fresh().await;
                $crate::testing::queue_suite::$case(&queue.queue, queue.visibility).await;
            }
        )*
    };
}

/// A fresh, empty queue, its visibility timeout (keep it short: the
/// contract waits it out), and whatever must live as long as it.
pub struct QueueUnderTest {
    /// The queue.
    pub queue: Arc<dyn TaskQueue>,
    /// Its visibility timeout.
    pub visibility: Duration,
    /// Dropped after the case (a temporary directory).
    pub keep: Option<Box<dyn std::any::Any + Send>>,
}

/// More messages than one SQS batch holds, sent together.
pub async fn many_messages_sent_together_each_arrive_once(
    queue: &Arc<dyn TaskQueue>,
    _visibility: Duration,
) {
    let sent: Vec<_> = (1..=25).map(|n| message("r1", "a", n)).collect();
    queue.send_many(&sent).await.unwrap();
    let mut got = HashSet::new();
    for _ in 0..20 {
        for delivery in queue.receive(10).await.unwrap() {
            assert!(got.insert(delivery.message.try_number), "once each");
            queue.ack(&delivery).await.unwrap();
        }
        if got.len() == sent.len() {
            break;
        }
    }
    assert_eq!(got, (1..=25).collect::<HashSet<u32>>());
}

/// A case of the contract (see [`queue_contract!`](crate::queue_contract)).
pub async fn a_message_is_received_then_hidden_then_acked(
    queue: &Arc<dyn TaskQueue>,
    _visibility: Duration,
) {
    queue
        .send(&message("r1", "a", 1), Duration::ZERO)
        .await
        .unwrap();
    let got = queue.receive(10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message, message("r1", "a", 1));
    assert_eq!(got[0].receive_count, 1);
    assert!(
        queue.receive(10).await.unwrap().is_empty(),
        "a received message is hidden"
    );
    queue.ack(&got[0]).await.unwrap();
    queue.ack(&got[0]).await.unwrap();
    assert!(queue.receive(10).await.unwrap().is_empty());
}

/// A case of the contract (see [`queue_contract!`](crate::queue_contract)).
pub async fn a_delayed_message_waits(queue: &Arc<dyn TaskQueue>, _visibility: Duration) {
    // A whole second: SQS counts delays in seconds.
    queue
        .send(&message("r1", "a", 2), Duration::from_secs(1))
        .await
        .unwrap();
    assert!(
        queue.receive(10).await.unwrap().is_empty(),
        "not before its delay"
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(queue.receive(10).await.unwrap().len(), 1);
}

/// A case of the contract (see [`queue_contract!`](crate::queue_contract)).
pub async fn an_unacked_message_comes_back_after_the_visibility_timeout(
    queue: &Arc<dyn TaskQueue>,
    visibility: Duration,
) {
    queue
        .send(&message("r1", "a", 1), Duration::ZERO)
        .await
        .unwrap();
    let first = queue.receive(1).await.unwrap();
    assert_eq!(first.len(), 1);
    tokio::time::sleep(visibility + Duration::from_millis(200)).await;
    let again = queue.receive(1).await.unwrap();
    assert_eq!(again.len(), 1, "redelivered");
    assert_eq!(again[0].receive_count, 2);
    queue.extend(&again[0], visibility * 4).await.unwrap();
    tokio::time::sleep(visibility + Duration::from_millis(200)).await;
    assert!(
        queue.receive(1).await.unwrap().is_empty(),
        "extended visibility holds"
    );
    queue.ack(&again[0]).await.unwrap();
}

/// A case of the contract (see [`queue_contract!`](crate::queue_contract)).
pub async fn racing_receivers_get_each_message_once(
    queue: &Arc<dyn TaskQueue>,
    _visibility: Duration,
) {
    for i in 0..40 {
        queue
            .send(&message("r1", &format!("t{i}"), 1), Duration::ZERO)
            .await
            .unwrap();
    }
    let mut receivers = Vec::new();
    for _ in 0..4 {
        let queue = queue.clone();
        receivers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..20 {
                for delivery in queue.receive(3).await.unwrap() {
                    got.push(delivery.message.key.task_id.to_string());
                    queue.ack(&delivery).await.unwrap();
                }
            }
            got
        }));
    }
    let mut seen = HashSet::new();
    for receiver in receivers {
        for task in receiver.await.unwrap() {
            assert!(seen.insert(task.clone()), "{task} delivered twice");
        }
    }
    assert_eq!(seen.len(), 40);
}
