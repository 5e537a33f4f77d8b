//! In-memory adapters: the reference the conformance suites are checked
//! against, and a queue `updraft run` can use for a run it owns alone.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use updraft_core::ids::DagId;
use updraft_core::notify::Notice;
use updraft_core::state::{
    ArtifactRecord, Attempt, AuditEntry, Run, RunState, TaskInstance, TaskKey, TaskTransition,
};

use crate::ports::{
    ArtifactStore, AttemptStore, Clock, DagChange, DagMeta, DagStore, Delivery, HandleRef,
    LeftoverStore, PendingStop, PoolSize, PoolStore, PortResult, RunQuery, RunStore, SlotClaim,
    StoredVersion, TaskMessage, TaskQueue, Waker,
};

type RunKey = (String, String);

#[derive(Default)]
struct Tables {
    last_tick: Option<DateTime<Utc>>,
    dags: BTreeMap<String, DagMeta>,
    specs: BTreeMap<(String, String), (String, DateTime<Utc>)>,
    runs: BTreeMap<RunKey, Run>,
    instances: BTreeMap<RunKey, Vec<TaskInstance>>,
    attempts: BTreeMap<(RunKey, TaskKey, u32), Attempt>,
    artifacts: Vec<ArtifactRecord>,
    handles: BTreeMap<String, HandleRef>,
    stops: BTreeMap<String, PendingStop>,
    outbox: Vec<Notice>,
    slots: BTreeMap<String, Vec<SlotClaim>>,
    waiters: BTreeMap<String, BTreeMap<String, SlotClaim>>,
    pool_sizes: BTreeMap<String, PoolSize>,
    audit: BTreeMap<RunKey, Vec<AuditEntry>>,
}

/// A [`StateStore`](crate::ports::StateStore) in a mutex.
#[derive(Default)]
pub struct MemoryStore(Mutex<Tables>);

impl MemoryStore {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Tables {
    /// A pool's sizes, made empty if it has none yet.
    fn pool_size(&mut self, pool: &str) -> &mut PoolSize {
        self.pool_sizes
            .entry(pool.to_string())
            .or_insert_with(|| PoolSize {
                pool: pool.to_string(),
                ..PoolSize::default()
            })
    }

    /// Writes `next`, one revision up, if the stored run is still in state
    /// `expect` at revision `next.revision`.
    fn write_run(&mut self, expect: RunState, next: &Run) -> bool {
        match self.runs.get_mut(&key(next.dag.as_str(), &next.run_id)) {
            Some(run) if run.state == expect && run.revision == next.revision => {
                *run = next.clone();
                run.revision += 1;
                true
            }
            _ => false,
        }
    }

    /// Keeps `notices` in the outbox if `applied`; passes `applied` on.
    fn announce(&mut self, applied: bool, notices: &[Notice]) -> bool {
        if applied {
            for notice in notices {
                if !self.outbox.iter().any(|n| n.id == notice.id) {
                    self.outbox.push(notice.clone());
                }
            }
        }
        applied
    }
}

fn key(dag: &str, run_id: &str) -> RunKey {
    (dag.to_string(), run_id.to_string())
}

#[async_trait]
impl DagStore for MemoryStore {
    async fn dag(&self, dag: &str) -> PortResult<Option<DagMeta>> {
        Ok(self.tables().dags.get(dag).cloned())
    }

    async fn dags(&self) -> PortResult<Vec<DagMeta>> {
        Ok(self.tables().dags.values().cloned().collect())
    }

    async fn update_dag(&self, dag: &DagId, change: &DagChange) -> PortResult<bool> {
        let mut tables = self.tables();
        let meta = tables
            .dags
            .entry(dag.to_string())
            .or_insert_with(|| DagMeta::new(dag.clone()));
        Ok(change.apply(meta))
    }

    async fn put_spec_version(
        &self,
        dag: &str,
        version: &str,
        source: &str,
        seen_at: DateTime<Utc>,
    ) -> PortResult<()> {
        self.tables()
            .specs
            .entry(key(dag, version))
            .or_insert_with(|| (source.to_string(), seen_at));
        Ok(())
    }

    async fn spec_version(&self, dag: &str, version: &str) -> PortResult<Option<String>> {
        Ok(self
            .tables()
            .specs
            .get(&key(dag, version))
            .map(|(source, _)| source.clone()))
    }

    async fn spec_versions(&self, dag: &str) -> PortResult<Vec<StoredVersion>> {
        Ok(self
            .tables()
            .specs
            .iter()
            .filter(|((d, _), _)| d == dag)
            .map(|((_, version), (_, seen))| StoredVersion {
                version: version.clone(),
                first_seen: Some(*seen),
            })
            .collect())
    }
}

#[async_trait]
impl RunStore for MemoryStore {
    async fn delete_run(&self, dag: &str, run_id: &str) -> PortResult<()> {
        let mut tables = self.tables();
        let k = key(dag, run_id);
        tables.runs.remove(&k);
        tables.instances.remove(&k);
        tables.audit.remove(&k);
        tables.attempts.retain(|(run, _, _), _| *run != k);
        tables
            .artifacts
            .retain(|r| (r.dag.as_str(), r.run_id.as_str()) != (dag, run_id));
        tables
            .handles
            .retain(|_, h| (h.dag.as_str(), h.run_id.as_str()) != (dag, run_id));
        Ok(())
    }

    async fn create_run(
        &self,
        run: &Run,
        instances: &[TaskInstance],
        notices: &[Notice],
    ) -> PortResult<bool> {
        let mut tables = self.tables();
        let k = key(run.dag.as_str(), &run.run_id);
        let date_taken = tables
            .runs
            .values()
            .any(|r| r.dag == run.dag && r.logical_date == run.logical_date);
        if tables.runs.contains_key(&k) || date_taken {
            return Ok(false);
        }
        tables.runs.insert(k.clone(), run.clone());
        tables.instances.insert(k, instances.to_vec());
        Ok(tables.announce(true, notices))
    }

    async fn run(&self, dag: &str, run_id: &str) -> PortResult<Option<Run>> {
        Ok(self.tables().runs.get(&key(dag, run_id)).cloned())
    }

    async fn runs(&self, query: &RunQuery) -> PortResult<Vec<Run>> {
        let mut runs: Vec<Run> = self
            .tables()
            .runs
            .values()
            .filter(|r| query.matches(r))
            .cloned()
            .collect();
        runs.sort_by(|a, b| (b.created_at, &b.run_id).cmp(&(a.created_at, &a.run_id)));
        runs.truncate(query.limit.unwrap_or(usize::MAX));
        Ok(runs)
    }

    async fn active_runs(&self) -> PortResult<Vec<Run>> {
        Ok(self
            .tables()
            .runs
            .values()
            .filter(|r| !r.state.is_terminal())
            .cloned()
            .collect())
    }

    async fn update_run(
        &self,
        expect: RunState,
        next: &Run,
        notices: &[Notice],
    ) -> PortResult<bool> {
        let mut tables = self.tables();
        let written = tables.write_run(expect, next);
        Ok(tables.announce(written, notices))
    }

    async fn start_run(&self, next: &Run, limit: u32, notices: &[Notice]) -> PortResult<bool> {
        let mut tables = self.tables();
        let running = tables
            .runs
            .values()
            .filter(|r| r.dag == next.dag && r.state == RunState::Running)
            .count();
        if running >= limit as usize {
            return Ok(false);
        }
        let written = tables.write_run(RunState::Queued, next);
        Ok(tables.announce(written, notices))
    }

    async fn put_audit(&self, dag: &str, run_id: &str, entry: &AuditEntry) -> PortResult<()> {
        let mut tables = self.tables();
        let entries = tables.audit.entry(key(dag, run_id)).or_default();
        entries.push(entry.clone());
        entries.sort_by_key(|e| e.at);
        Ok(())
    }

    async fn audit(&self, dag: &str, run_id: &str) -> PortResult<Vec<AuditEntry>> {
        Ok(self
            .tables()
            .audit
            .get(&key(dag, run_id))
            .cloned()
            .unwrap_or_default())
    }

    async fn instances(&self, dag: &str, run_id: &str) -> PortResult<Vec<TaskInstance>> {
        Ok(self
            .tables()
            .instances
            .get(&key(dag, run_id))
            .cloned()
            .unwrap_or_default())
    }

    async fn create_instances(
        &self,
        dag: &str,
        run_id: &str,
        instances: &[TaskInstance],
    ) -> PortResult<usize> {
        let mut tables = self.tables();
        let Some(list) = tables.instances.get_mut(&key(dag, run_id)) else {
            return Ok(0);
        };
        let mut created = 0;
        for instance in instances {
            if !list.iter().any(|i| i.key == instance.key) {
                list.push(instance.clone());
                created += 1;
            }
        }
        Ok(created)
    }

    async fn instance(
        &self,
        dag: &str,
        run_id: &str,
        task: &TaskKey,
    ) -> PortResult<Option<TaskInstance>> {
        let tables = self.tables();
        let list = tables.instances.get(&key(dag, run_id));
        Ok(list.and_then(|l| l.iter().find(|i| &i.key == task).cloned()))
    }

    async fn update_instance(
        &self,
        dag: &str,
        run_id: &str,
        change: &TaskTransition,
        notices: &[Notice],
    ) -> PortResult<bool> {
        let mut tables = self.tables();
        let Some(list) = tables.instances.get_mut(&key(dag, run_id)) else {
            return Ok(false);
        };
        let applied = updraft_core::plan::apply(list, change);
        Ok(tables.announce(applied, notices))
    }
}

#[async_trait]
impl AttemptStore for MemoryStore {
    async fn put_attempt(&self, dag: &str, run_id: &str, attempt: &Attempt) -> PortResult<()> {
        let k = (key(dag, run_id), attempt.key.clone(), attempt.try_number);
        self.tables().attempts.insert(k, attempt.clone());
        Ok(())
    }

    async fn put_new_attempt(
        &self,
        dag: &str,
        run_id: &str,
        attempt: &Attempt,
    ) -> PortResult<bool> {
        let k = (key(dag, run_id), attempt.key.clone(), attempt.try_number);
        let mut tables = self.tables();
        if tables.attempts.contains_key(&k) {
            return Ok(false);
        }
        tables.attempts.insert(k, attempt.clone());
        Ok(true)
    }

    async fn attempt(
        &self,
        dag: &str,
        run_id: &str,
        task: &TaskKey,
        try_number: u32,
    ) -> PortResult<Option<Attempt>> {
        Ok(self
            .tables()
            .attempts
            .get(&(key(dag, run_id), task.clone(), try_number))
            .cloned())
    }

    async fn attempts(&self, dag: &str, run_id: &str) -> PortResult<Vec<Attempt>> {
        let k = key(dag, run_id);
        Ok(self
            .tables()
            .attempts
            .iter()
            .filter(|((r, _, _), _)| *r == k)
            .map(|(_, a)| a.clone())
            .collect())
    }

    async fn put_handle(&self, handle: &str, try_ref: &HandleRef) -> PortResult<()> {
        self.tables()
            .handles
            .insert(handle.to_string(), try_ref.clone());
        Ok(())
    }

    async fn handle(&self, handle: &str) -> PortResult<Option<HandleRef>> {
        Ok(self.tables().handles.get(handle).cloned())
    }
}

#[async_trait]
impl LeftoverStore for MemoryStore {
    async fn put_stop(&self, stop: &PendingStop) -> PortResult<()> {
        self.tables()
            .stops
            .entry(stop.handle.clone())
            .or_insert_with(|| stop.clone());
        Ok(())
    }

    async fn stops(&self) -> PortResult<Vec<PendingStop>> {
        Ok(self.tables().stops.values().cloned().collect())
    }

    async fn clear_stop(&self, handle: &str) -> PortResult<()> {
        self.tables().stops.remove(handle);
        Ok(())
    }

    async fn outbox(&self, limit: usize) -> PortResult<Vec<Notice>> {
        Ok(self.tables().outbox.iter().take(limit).cloned().collect())
    }

    async fn clear_outbox(&self, ids: &[String]) -> PortResult<()> {
        self.tables().outbox.retain(|n| !ids.contains(&n.id));
        Ok(())
    }

    async fn note_tick(&self, at: DateTime<Utc>) -> PortResult<()> {
        let mut tables = self.tables();
        tables.last_tick = tables.last_tick.max(Some(at));
        Ok(())
    }

    async fn last_tick(&self) -> PortResult<Option<DateTime<Utc>>> {
        Ok(self.tables().last_tick)
    }
}

#[async_trait]
impl PoolStore for MemoryStore {
    async fn take_slots(&self, claim: &SlotClaim, size: u32) -> PortResult<bool> {
        let mut tables = self.tables();
        let holders = tables.slots.entry(claim.pool.clone()).or_default();
        if holders.iter().any(|h| h.holder == claim.holder) {
            return Ok(true);
        }
        let used: u32 = holders.iter().map(|h| h.slots).sum();
        if used + claim.slots > size {
            return Ok(false);
        }
        holders.push(claim.clone());
        Ok(true)
    }

    async fn give_back_slots(&self, pool: &str, holder: &str) -> PortResult<()> {
        if let Some(holders) = self.tables().slots.get_mut(pool) {
            holders.retain(|h| h.holder != holder);
        }
        Ok(())
    }

    async fn slot_holders(&self, pool: &str) -> PortResult<Vec<SlotClaim>> {
        Ok(self.tables().slots.get(pool).cloned().unwrap_or_default())
    }

    async fn wait_for_slots(&self, waiter: &SlotClaim) -> PortResult<()> {
        self.tables()
            .waiters
            .entry(waiter.pool.clone())
            .or_default()
            .entry(waiter.holder.clone())
            .or_insert_with(|| waiter.clone());
        Ok(())
    }

    async fn slot_waiters(&self, pool: &str) -> PortResult<Vec<SlotClaim>> {
        let tables = self.tables();
        Ok(tables
            .waiters
            .get(pool)
            .map(|w| w.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn stop_waiting(&self, pool: &str, holder: &str) -> PortResult<()> {
        if let Some(waiters) = self.tables().waiters.get_mut(pool) {
            waiters.remove(holder);
        }
        Ok(())
    }

    async fn declare_pools(&self, declared: &BTreeMap<String, u32>) -> PortResult<()> {
        let mut tables = self.tables();
        for size in tables.pool_sizes.values_mut() {
            size.declared = declared.get(&size.pool).copied();
        }
        for (pool, &slots) in declared {
            tables.pool_size(pool).declared = Some(slots);
        }
        Ok(())
    }

    async fn set_pool_slots(&self, pool: &str, slots: Option<u32>) -> PortResult<()> {
        self.tables().pool_size(pool).set = slots;
        Ok(())
    }

    async fn pool_sizes(&self) -> PortResult<Vec<PoolSize>> {
        Ok(self
            .tables()
            .pool_sizes
            .values()
            .filter(|s| s.slots().is_some())
            .cloned()
            .collect())
    }
}

#[async_trait]
impl ArtifactStore for MemoryStore {
    async fn put_artifacts(&self, records: &[ArtifactRecord]) -> PortResult<()> {
        let mut tables = self.tables();
        for record in records {
            if !tables.artifacts.contains(record) {
                tables.artifacts.push(record.clone());
            }
        }
        Ok(())
    }

    async fn artifact(&self, uri: &str) -> PortResult<Vec<ArtifactRecord>> {
        let mut found: Vec<ArtifactRecord> = self
            .tables()
            .artifacts
            .iter()
            .filter(|r| r.uri == uri)
            .cloned()
            .collect();
        found.sort_by_key(|r| std::cmp::Reverse(r.at));
        Ok(found)
    }

    async fn run_artifacts(&self, dag: &str, run_id: &str) -> PortResult<Vec<ArtifactRecord>> {
        Ok(self
            .tables()
            .artifacts
            .iter()
            .filter(|r| r.dag.as_str() == dag && r.run_id == run_id)
            .cloned()
            .collect())
    }
}

struct Held {
    message: TaskMessage,
    visible_at: Instant,
    receipt: u64,
    receive_count: u32,
}

/// A [`TaskQueue`] in a mutex, with a visibility timeout.
pub struct MemoryQueue {
    visibility: Duration,
    state: Mutex<(VecDeque<Held>, u64)>,
}

impl MemoryQueue {
    /// A queue that redelivers unacknowledged messages after `visibility`.
    pub fn new(visibility: Duration) -> MemoryQueue {
        MemoryQueue {
            visibility,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, (VecDeque<Held>, u64)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl TaskQueue for MemoryQueue {
    async fn send(&self, message: &TaskMessage, delay: Duration) -> PortResult<()> {
        let held = Held {
            message: message.clone(),
            visible_at: Instant::now() + delay,
            receipt: 0,
            receive_count: 0,
        };
        self.state().0.push_back(held);
        Ok(())
    }
    async fn receive(&self, max: usize) -> PortResult<Vec<Delivery>> {
        let now = Instant::now();
        let mut state = self.state();
        let (queue, next_receipt) = &mut *state;
        let mut out = Vec::new();
        for held in queue.iter_mut().filter(|h| h.visible_at <= now).take(max) {
            *next_receipt += 1;
            held.receipt = *next_receipt;
            held.receive_count += 1;
            held.visible_at = now + self.visibility;
            out.push(Delivery {
                message: held.message.clone(),
                receipt: held.receipt.to_string(),
                receive_count: held.receive_count,
            });
        }
        Ok(out)
    }
    async fn ack(&self, delivery: &Delivery) -> PortResult<()> {
        self.state()
            .0
            .retain(|h| h.receipt.to_string() != delivery.receipt);
        Ok(())
    }
    async fn extend(&self, delivery: &Delivery, by: Duration) -> PortResult<()> {
        let mut state = self.state();
        if let Some(held) = state
            .0
            .iter_mut()
            .find(|h| h.receipt.to_string() == delivery.receipt)
        {
            held.visible_at = Instant::now() + by;
        }
        Ok(())
    }
}

/// The next tick one process asked for, as a one-time schedule holds it.
#[derive(Debug, Default)]
pub struct MemoryWaker(Mutex<Option<DateTime<Utc>>>);

impl MemoryWaker {
    /// When the next tick is set for.
    pub fn next(&self) -> Option<DateTime<Utc>> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Waker for MemoryWaker {
    async fn wake_at(&self, at: DateTime<Utc>) -> PortResult<()> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
        Ok(())
    }

    async fn wake_by(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> PortResult<()> {
        let mut set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if set.is_none_or(|s| s <= now || s > at) {
            *set = Some(at);
        }
        Ok(())
    }
}

/// A clock tests move by hand.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: DateTime<Utc>) -> ManualClock {
        ManualClock(Mutex::new(at))
    }

    /// Moves the clock.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
