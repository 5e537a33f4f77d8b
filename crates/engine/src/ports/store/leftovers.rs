//! What a process leaves for the next tick to finish: stops not yet
//! carried out and events not yet published, and the tick's heartbeat.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use updraft_core::notify::Notice;

use super::HandleRef;
use crate::ports::PortResult;

/// Stops asked for and events made but not yet carried out, kept so that
/// a process that dies leaves them to the next tick; and the tick's own
/// heartbeat.
#[async_trait]
pub trait LeftoverStore: Send + Sync {
    /// Keeps a stop until [`Self::clear_stop`]; keeping one twice
    /// keeps one.
    async fn put_stop(&self, stop: &PendingStop) -> PortResult<()>;

    /// Every stop not yet cleared.
    async fn stops(&self) -> PortResult<Vec<PendingStop>>;

    /// Forgets a carried-out stop.
    async fn clear_stop(&self, handle: &str) -> PortResult<()>;

    /// Events kept with their changes and not yet published, oldest first,
    /// at most `limit`.
    async fn outbox(&self, limit: usize) -> PortResult<Vec<Notice>>;

    /// Takes published events out of the outbox.
    async fn clear_outbox(&self, ids: &[String]) -> PortResult<()>;

    /// Notes that a tick ended at `at`: the scheduler's heartbeat, which
    /// `updraft doctor` holds against the schedule it runs on. A later
    /// note never gives way to an earlier one. Stores without a heartbeat
    /// keep nothing.
    async fn note_tick(&self, _at: DateTime<Utc>) -> PortResult<()> {
        Ok(())
    }

    /// When the last tick ended, as [`Self::note_tick`] noted it.
    async fn last_tick(&self) -> PortResult<Option<DateTime<Utc>>> {
        Ok(None)
    }
}

/// A stop asked for and not yet carried out: written before the change
/// that asks for it, cleared once the launcher took the stop, so a process
/// that dies in between leaves it for the next tick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingStop {
    /// What to stop.
    pub handle: String,
    /// The try it is.
    pub try_ref: HandleRef,
    /// Why, for the try's record.
    pub reason: String,
    /// When it was asked for.
    pub at: DateTime<Utc>,
}
