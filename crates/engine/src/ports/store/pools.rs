//! Pools: slots held and waited for, and each pool's size.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::HandleRef;
use crate::ports::PortResult;

/// The slots of each pool: who holds them, who waits, and how many there
/// are, taken by compare-and-set so racing takers never hold too many.
#[async_trait]
pub trait PoolStore: Send + Sync {
    /// Takes `claim.slots` of a pool of `size` slots for `claim.holder` if
    /// that many are free, checked in the same write, so racing takers
    /// never hold more than `size`; `true` if the holder holds them now
    /// (taking them twice takes them once).
    async fn take_slots(&self, claim: &SlotClaim, size: u32) -> PortResult<bool>;

    /// Gives a holder's slots back; giving back what is not held does
    /// nothing.
    async fn give_back_slots(&self, pool: &str, holder: &str) -> PortResult<()>;

    /// Who holds slots of a pool.
    async fn slot_holders(&self, pool: &str) -> PortResult<Vec<SlotClaim>>;

    /// Keeps a try waiting for slots of a pool, so that it is admitted when
    /// slots free up rather than asking again and again; keeping one twice
    /// keeps one.
    async fn wait_for_slots(&self, waiter: &SlotClaim) -> PortResult<()>;

    /// The tries waiting for slots of a pool.
    async fn slot_waiters(&self, pool: &str) -> PortResult<Vec<SlotClaim>>;

    /// Forgets a waiter (it took its slots, or waits no more).
    async fn stop_waiting(&self, pool: &str, holder: &str) -> PortResult<()>;

    /// Makes `declared` the pools `pools.yaml` declares: others lose their
    /// declared size (what was set at run time stays).
    async fn declare_pools(&self, declared: &BTreeMap<String, u32>) -> PortResult<()>;

    /// Sets a pool's slots at run time, or with `None` goes back to the
    /// declared size.
    async fn set_pool_slots(&self, pool: &str, slots: Option<u32>) -> PortResult<()>;

    /// Every pool declared or set.
    async fn pool_sizes(&self) -> PortResult<Vec<PoolSize>>;
}

/// A try's hold on slots of a pool, taken before it launches and given
/// back when it ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotClaim {
    /// The pool.
    pub pool: String,
    /// The try holding them (`dag/run_id/task[index]#try`).
    pub holder: String,
    /// That try.
    pub of: HandleRef,
    /// How many.
    pub slots: u32,
    /// When they were taken (a holder) or asked for (a waiter).
    pub at: DateTime<Utc>,
    /// The try's task's `priority`.
    #[serde(default)]
    pub priority: i32,
}

/// A pool's slots as the store keeps them: what `pools.yaml` declares and
/// what `updraft pools set` changed them to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolSize {
    /// The pool.
    pub pool: String,
    /// From the deployed `pools.yaml`.
    pub declared: Option<u32>,
    /// Set at run time; wins over `declared` until cleared.
    pub set: Option<u32>,
}

impl PoolSize {
    /// The slots that count now; none if the pool is neither declared nor set.
    pub fn slots(&self) -> Option<u32> {
        self.set.or(self.declared)
    }
}
