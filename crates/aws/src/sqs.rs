//! The task queue over SQS: messages carry the task-instance key and try;
//! a delay of up to 15 minutes uses `DelaySeconds`. Nothing polls it: a
//! queue with a [`DispatcherBell`] rings the dispatcher for what it sends
//! visible at once, and when nudged for what waits. A dispatcher draining
//! it rings only for what its own next receive will not take.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::bell::DispatcherBell;
use crate::sdk_error::fail;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use updraft_engine::ports::{Delivery, PortError, PortResult, TaskMessage, TaskQueue};

/// SQS's longest `DelaySeconds`.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// The most messages one SQS batch request holds.
const MAX_BATCH: usize = 10;

/// How long a receive waits for a message when none is visible: SQS's
/// short poll asks only some of its servers and may answer "none" while a
/// few messages wait, so a dispatcher long-polls before it stops.
pub const RECEIVE_WAIT: Duration = Duration::from_secs(1);

/// A task queue.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    bell: Option<Arc<DispatcherBell>>,
    wait: Duration,
    /// While its consumer works through a batch it received: how many
    /// messages it asks for at a receive, and how many it sent since.
    draining: Arc<Mutex<Option<Draining>>>,
}

/// A consumer between a receive that brought messages and its next one.
#[derive(Clone, Copy, Debug)]
struct Draining {
    next_takes: usize,
    sent: usize,
}

impl SqsQueue {
    /// A queue at `url`, short-polling, ringing no one.
    pub fn new(client: Client, url: impl Into<String>) -> SqsQueue {
        SqsQueue {
            client,
            url: url.into(),
            bell: None,
            wait: Duration::ZERO,
            draining: Arc::default(),
        }
    }

    /// The same queue, ringing `bell` for each message it sends visible at
    /// once and when nudged.
    pub fn ringing(mut self, bell: Arc<DispatcherBell>) -> SqsQueue {
        self.bell = Some(bell);
        self
    }

    /// The same queue, a receive waiting `wait` when none is visible
    /// (a deployment's [`RECEIVE_WAIT`]; none for an emulator, whose
    /// short poll sees every message).
    pub fn waiting(mut self, wait: Duration) -> SqsQueue {
        self.wait = wait;
        self
    }

    /// Rings for `messages` just sent visible, but for those the consumer
    /// sending them, in the middle of a drain, takes with its next receive
    /// (a dispatcher whose own settle queued the next try wakes no second
    /// one for it). A drain that runs out of time before that receive
    /// nudges; one that fails is invoked again by Lambda, and the tick
    /// rings for what still waits.
    async fn ring_for_sent(&self, messages: usize) {
        let others = {
            let mut draining = self.draining.lock().unwrap_or_else(|e| e.into_inner());
            match draining.as_mut() {
                None => messages,
                Some(d) => {
                    let own = d.next_takes.saturating_sub(d.sent).min(messages);
                    d.sent += messages;
                    messages - own
                }
            }
        };
        if others > 0 {
            self.ring(others).await;
        }
    }

    /// Rings for `messages`. A failed ring fails no send: the messages are
    /// kept, and the next tick rings for them.
    async fn ring(&self, messages: usize) {
        if let Some(bell) = &self.bell
            && let Err(e) = bell.ring(messages).await
        {
            tracing::warn!(error = %e, "the dispatcher was not woken; the next tick wakes it");
        }
    }

    /// One `ReceiveMessage` of up to `max` messages.
    async fn receive_batch(&self, max: usize) -> PortResult<Vec<Delivery>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, MAX_BATCH) as i32)
            .wait_time_seconds(self.wait.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(fail("SQS ReceiveMessage"))?;
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                Ok(Delivery {
                    message: decode_message(m.body.as_deref().unwrap_or_default())?,
                    receipt: m.receipt_handle.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect()
    }

    /// About how many messages are visible now (SQS's own count, which
    /// may lag a little).
    pub async fn visible(&self) -> PortResult<usize> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(fail("SQS GetQueueAttributes"))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }
}

/// Decodes a message body, for the dispatcher's SQS events too.
pub fn decode_message(body: &str) -> PortResult<TaskMessage> {
    serde_json::from_str(body).map_err(|e| PortError::new("decoding a task message", e))
}

#[async_trait]
impl TaskQueue for SqsQueue {
    async fn send(&self, message: &TaskMessage, delay: Duration) -> PortResult<()> {
        let body = serde_json::to_string(message)
            .map_err(|e| PortError::new("encoding a task message", e))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            // SQS counts whole seconds: round up, never deliver early.
            .delay_seconds(delay.min(MAX_DELAY).as_secs_f64().ceil() as i32)
            .send()
            .await
            .map_err(fail("SQS SendMessage"))?;
        if delay.is_zero() {
            self.ring_for_sent(1).await;
        }
        Ok(())
    }

    /// Ten to a `SendMessageBatch`; an entry SQS did not take is sent
    /// again on its own.
    async fn send_many(&self, messages: &[TaskMessage]) -> PortResult<()> {
        for chunk in messages.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, message)| {
                    let body = serde_json::to_string(message)
                        .map_err(|e| PortError::new("encoding a task message", e))?;
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| PortError::new("building a message batch", e))
                })
                .collect::<PortResult<Vec<_>>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(fail("SQS SendMessageBatch"))?;
            for failed in out.failed() {
                let message = failed
                    .id()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| chunk.get(i))
                    .ok_or_else(|| {
                        PortError::msg(format!(
                            "SQS SendMessageBatch: unknown entry `{}`",
                            failed.id()
                        ))
                    })?;
                self.send(message, Duration::ZERO).await?;
            }
        }
        self.ring_for_sent(messages.len()).await;
        Ok(())
    }

    async fn receive(&self, max: usize) -> PortResult<Vec<Delivery>> {
        let received = self.receive_batch(max).await;
        let next_takes = max.clamp(1, MAX_BATCH);
        *self.draining.lock().unwrap_or_else(|e| e.into_inner()) = match &received {
            Ok(batch) if !batch.is_empty() => Some(Draining {
                next_takes,
                sent: 0,
            }),
            _ => None,
        };
        received
    }

    async fn ack(&self, delivery: &Delivery) -> PortResult<()> {
        let result = self
            .client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(&delivery.receipt)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Deleting twice, or after the receipt expired, is not an error.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_receipt_handle_is_invalid()) =>
            {
                Ok(())
            }
            Err(e) => Err(fail("SQS DeleteMessage")(e)),
        }
    }

    /// Visible again at once, so that the next receive, whoever makes it,
    /// has SQS move it to the dead-letter queue (its receive count is at
    /// the queue's most).
    async fn give_up(&self, delivery: &Delivery) -> PortResult<()> {
        self.extend(delivery, Duration::ZERO).await
    }

    async fn nudge(&self) -> PortResult<()> {
        if self.bell.is_some() {
            match self.visible().await? {
                0 => {}
                waiting => self.ring(waiting).await,
            }
        }
        Ok(())
    }

    async fn extend(&self, delivery: &Delivery, by: Duration) -> PortResult<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(&delivery.receipt)
            .visibility_timeout(by.as_secs() as i32)
            .send()
            .await
            .map_err(fail("SQS ChangeMessageVisibility"))?;
        Ok(())
    }
}
