//! Events out: each notice becomes an EventBridge event on the stack's bus
//! (`UPDRAFT_EVENT_BUS`), ten to a `PutEvents` request. EventBridge gives
//! each event an id of its own; the transition's id is `detail.id`.
//! Every event's detail also names the deployment (`deployment`: the
//! stack's bucket), so a stack's rules on a bus that several stacks share
//! take only its own events.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use updraft_core::notify::{Notice, SOURCE};
use updraft_engine::ports::{PortError, PortResult, Publisher};

use crate::sdk_error::fail;

/// The detail field naming the deployment an event comes from.
pub const DEPLOYMENT: &str = "deployment";

/// The most entries one `PutEvents` request takes.
const MAX_ENTRIES: usize = 10;

/// Publishes to one event bus.
#[derive(Clone, Debug)]
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
    deployment: String,
}

impl EventBridgePublisher {
    /// A publisher to the bus named (or with the ARN) `bus`, of the
    /// deployment whose bucket is `deployment`.
    pub fn new(
        client: Client,
        bus: impl Into<String>,
        deployment: impl Into<String>,
    ) -> EventBridgePublisher {
        EventBridgePublisher {
            client,
            bus: bus.into(),
            deployment: deployment.into(),
        }
    }

    fn entry(&self, notice: &Notice) -> PortResult<PutEventsRequestEntry> {
        let mut detail = notice.detail.clone();
        if let Some(fields) = detail.as_object_mut() {
            fields.insert(DEPLOYMENT.into(), self.deployment.clone().into());
        }
        let detail =
            serde_json::to_string(&detail).map_err(|e| PortError::new("encoding an event", e))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(&notice.detail_type)
            .time(DateTime::from_millis(notice.time.timestamp_millis()))
            .detail(detail)
            .build())
    }
}

#[async_trait]
impl Publisher for EventBridgePublisher {
    async fn publish(&self, notices: &[Notice]) -> PortResult<Vec<String>> {
        let mut taken = Vec::with_capacity(notices.len());
        for chunk in notices.chunks(MAX_ENTRIES) {
            let entries = chunk
                .iter()
                .map(|n| self.entry(n))
                .collect::<PortResult<Vec<_>>>()?;
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(fail("EventBridge PutEvents"))?;
            // Results come in the order of the entries; a failed entry has
            // an error code and no event id, and stays in the outbox.
            for (notice, result) in chunk.iter().zip(out.entries()) {
                if result.event_id().is_some() && result.error_code().is_none() {
                    taken.push(notice.id.clone());
                }
            }
        }
        Ok(taken)
    }
}
