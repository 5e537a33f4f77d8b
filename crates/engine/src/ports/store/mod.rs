//! The state store, one small trait per group of records (as the DynamoDB
//! table and the SQLite schema keep them): DAGs and spec versions, runs and
//! task instances, attempts and launch handles, what is left for the next
//! tick, pools, and lineage. [`StateStore`] is all of them, what the engine
//! holds.
//!
//! The events a change makes (`notices`) are kept in an outbox in the same
//! write as the change, both or neither, and taken out once published: a
//! process that dies between the two leaves them for the next tick, so no
//! event of an applied change is lost and none is told of a change that
//! was not applied.

mod artifacts;
mod attempts;
mod dags;
mod leftovers;
mod pools;
mod runs;

pub use artifacts::ArtifactStore;
pub use attempts::{AttemptStore, HandleRef, LaunchRecord, TryEnd, record_end_in_turn};
pub use dags::{DagChange, DagMeta, DagStore, StoredVersion};
pub use leftovers::{LeftoverStore, PendingStop};
pub use pools::{PoolSize, PoolStore, SlotClaim};
pub use runs::{RunQuery, RunStore, update_one_by_one};

/// Every group of the state store: what the engine and its shells hold
/// (`Arc<dyn StateStore>`). Implemented for any type that implements each
/// group.
pub trait StateStore:
    DagStore + RunStore + AttemptStore + LeftoverStore + PoolStore + ArtifactStore
{
}

impl<S> StateStore for S where
    S: DagStore + RunStore + AttemptStore + LeftoverStore + PoolStore + ArtifactStore + ?Sized
{
}
