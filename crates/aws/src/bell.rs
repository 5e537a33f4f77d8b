//! The dispatcher's doorbell. Nothing polls the task queue: whoever queues
//! a try invokes the dispatcher asynchronously, and each dispatcher drains
//! the queue until it holds nothing visible. A ring is coalesced: it wakes
//! one dispatcher per ten messages and at most [`MAX_DISPATCHERS`], so a
//! fan-out of 10,000 starts ten, not 10,000. A lost ring costs latency
//! only: the messages stay in SQS, and the next tick (every minute while a
//! run is active) rings for what is left.

use serde_json::json;
use updraft_engine::ports::{PortError, PortResult};

use crate::call::Caller;

/// The most dispatchers one ring wakes: ten launching at once fit a few
/// hundred tries a minute and stay well inside an account's concurrency.
pub const MAX_DISPATCHERS: usize = 10;

/// The messages each woken dispatcher is counted on for (one SQS batch).
const MESSAGES_PER_DISPATCHER: usize = 10;

/// How long one invocation may take to be accepted: Lambda answers an
/// asynchronous invoke at once, and a writer must not wait on a ring.
const RING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The event a ring sends: any event makes the dispatcher drain the queue;
/// this one says where it came from in its log.
pub const RING: &str = "updraft.ring";

/// Invokes the stack's dispatcher function.
pub struct DispatcherBell {
    caller: Caller,
    /// The dispatcher function's name.
    pub function: String,
}

/// How many dispatchers a ring for `messages` wakes.
pub fn dispatchers_for(messages: usize) -> usize {
    messages
        .div_ceil(MESSAGES_PER_DISPATCHER)
        .clamp(1, MAX_DISPATCHERS)
}

impl DispatcherBell {
    /// A bell that invokes `function` through `caller`.
    pub fn new(caller: Caller, function: String) -> DispatcherBell {
        DispatcherBell { caller, function }
    }

    /// Wakes dispatchers for `messages` newly visible messages, the
    /// invocations at once (`InvocationType: Event`: Lambda queues them and
    /// answers at once).
    pub async fn ring(&self, messages: usize) -> PortResult<()> {
        let params = json!({
            "FunctionName": self.function,
            "InvocationType": "Event",
            "Payload": {"source": RING},
        });
        let mut invocations = tokio::task::JoinSet::new();
        for _ in 0..dispatchers_for(messages) {
            let (caller, params) = (self.caller.clone(), params.clone());
            invocations.spawn(async move {
                let invoked = caller.call("lambda", "Invoke", &params);
                match tokio::time::timeout(RING_TIMEOUT, invoked).await {
                    Ok(answer) => answer.map(drop).map_err(|e| e.to_string()),
                    Err(_) => Err(format!("no answer in {}s", RING_TIMEOUT.as_secs())),
                }
            });
        }
        let mut failed = Ok(());
        while let Some(done) = invocations.join_next().await {
            let error = match done {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => PortError::msg(format!("Lambda Invoke of the dispatcher: {e}")),
                Err(e) => PortError::new("Lambda Invoke of the dispatcher", e),
            };
            failed = Err(error);
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_wakes_one_dispatcher_per_ten_messages_and_at_most_ten() {
        assert_eq!(dispatchers_for(0), 1);
        assert_eq!(dispatchers_for(1), 1);
        assert_eq!(dispatchers_for(10), 1);
        assert_eq!(dispatchers_for(11), 2);
        assert_eq!(dispatchers_for(100), 10);
        assert_eq!(dispatchers_for(10_000), MAX_DISPATCHERS);
    }
}
