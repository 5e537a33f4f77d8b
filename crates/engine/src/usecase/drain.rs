//! Drain: settle what the task queue holds, a batch at a time, until it
//! holds nothing visible. What a consumer woken on demand does (the AWS
//! dispatcher, invoked by whoever queued a try) where a long-lived one
//! loops (`updraft dev`).

use std::time::Duration;

use crate::ports::Delivery;
use crate::usecase::Settled;
use crate::{Engine, EngineResult};

/// How many messages a drain asks the queue for at once (SQS's most).
pub const DRAIN_BATCH: usize = 10;

/// What a drain did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Messages received and settled.
    pub received: usize,
    /// It ran out of time with messages perhaps left; the queue was
    /// nudged to wake another consumer for them.
    pub out_of_time: bool,
}

impl Engine {
    /// Settles a delivered message and tells the queue what became of it:
    /// deleted, hidden for its backoff, or given up on.
    pub async fn settle_delivery(&self, delivery: &Delivery) -> EngineResult<Settled> {
        let queue = &self.ports.queue;
        let settled = self
            .settle(&delivery.message, delivery.receive_count)
            .await?;
        match &settled {
            Settled::Done => queue.ack(delivery).await?,
            Settled::Again(after) => {
                // Without the change the queue's own visibility timeout
                // applies: a shorter or longer wait, never a lost message.
                if let Err(e) = queue.extend(delivery, *after).await {
                    let m = &delivery.message;
                    self.emit(crate::events::Event::Dropped {
                        what: format!(
                            "backoff of {}/{}/{} try {}: {e}",
                            m.dag, m.run_id, m.key, m.try_number
                        ),
                    });
                }
            }
            Settled::GaveUp(_) => queue.give_up(delivery).await?,
        }
        Ok(settled)
    }

    /// Settles every visible message until the queue has none, or until
    /// the invocation's time runs out: then the queue is nudged so that a
    /// fresh consumer takes what is left, and nothing is cut off
    /// mid-launch.
    pub async fn drain(&self) -> EngineResult<Drained> {
        let queue = &self.ports.queue;
        let mut drained = Drained::default();
        while !self.out_of_time() {
            let deliveries = queue.receive(DRAIN_BATCH).await?;
            if deliveries.is_empty() {
                return Ok(drained);
            }
            for delivery in &deliveries {
                if self.out_of_time() {
                    // Visible again at once, for the consumer woken below.
                    queue.extend(delivery, Duration::ZERO).await?;
                    continue;
                }
                self.settle_delivery(delivery).await?;
                drained.received += 1;
            }
        }
        drained.out_of_time = true;
        queue.nudge().await?;
        Ok(drained)
    }
}
