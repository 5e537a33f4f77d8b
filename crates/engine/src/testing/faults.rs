//! Failing wrappers around the ports, for crash-point tests: once armed,
//! the N-th request a use case makes fails, either as an error (the request
//! is refused and the use case goes on as it decides) or as the process
//! dying right after it (the request takes effect, and nothing after it in
//! that invocation reaches the world).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use updraft_core::ids::DagId;
use updraft_core::notify::Notice;
use updraft_core::state::{
    ArtifactRecord, Attempt, AuditEntry, Run, RunState, TaskInstance, TaskKey, TaskTransition,
};

use crate::ports::{
    ArtifactStore, AttemptStore, DagChange, DagMeta, DagStore, Delivery, HandleRef, HandleStatus,
    LaunchError, LaunchRequest, Launched, Launcher, LeftoverStore, LogPage, LogWindow, PendingStop,
    PoolSize, PoolStore, PortError, PortResult, Publisher, RunQuery, RunStore, SlotClaim,
    StateStore, StoredVersion, TaskMessage, TaskQueue,
};

/// How the chosen request fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Refused: it has no effect, and its caller sees an error.
    Error,
    /// The process died right after sending it: it takes effect, and it
    /// and every later request of the invocation fail.
    Crash,
}

#[derive(Debug, Default)]
struct Armed {
    at: Option<(usize, Fault)>,
    calls: usize,
    hit: bool,
    dead: bool,
    log: Vec<String>,
}

/// The switch every wrapped port shares: counts the requests made while
/// armed and fails the chosen one.
#[derive(Clone, Debug, Default)]
pub struct Faults(Arc<Mutex<Armed>>);

impl Faults {
    fn armed(&self) -> std::sync::MutexGuard<'_, Armed> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails request `n` (from 1) from now on as `fault`.
    pub fn arm(&self, n: usize, fault: Fault) {
        *self.armed() = Armed {
            at: Some((n, fault)),
            ..Armed::default()
        };
    }

    /// Counts requests from now on without failing any.
    pub fn count(&self) {
        self.arm(0, Fault::Error);
    }

    /// Stops failing and counting (a new process starts); returns how many
    /// requests were made while armed and whether the chosen one was
    /// reached.
    pub fn disarm(&self) -> (usize, bool) {
        let mut armed = self.armed();
        let seen = (armed.calls, armed.hit);
        *armed = Armed {
            log: std::mem::take(&mut armed.log),
            ..Armed::default()
        };
        seen
    }

    /// The requests made while armed, in order, by name.
    pub fn log(&self) -> Vec<String> {
        self.armed().log.clone()
    }

    /// Called before request `name` goes out: fails it if it is the chosen
    /// one (an error) or the process died.
    pub fn before(&self, name: &str) -> PortResult<()> {
        let mut armed = self.armed();
        let Some((n, fault)) = armed.at else {
            return Ok(());
        };
        if armed.dead {
            return Err(PortError::msg(format!(
                "injected: the process died before {name}"
            )));
        }
        armed.calls += 1;
        armed.log.push(name.to_string());
        if armed.calls == n {
            armed.hit = true;
            if fault == Fault::Error {
                return Err(PortError::msg(format!("injected: {name} failed")));
            }
        }
        Ok(())
    }

    /// Called once request `name` took effect: fails it if it is the
    /// chosen one and the process dies here.
    pub fn after(&self, name: &str) -> PortResult<()> {
        let mut armed = self.armed();
        match armed.at {
            Some((n, Fault::Crash)) if armed.calls == n && !armed.dead => {
                armed.dead = true;
                Err(PortError::msg(format!(
                    "injected: the process died after {name}"
                )))
            }
            _ => Ok(()),
        }
    }

    async fn call<T>(
        &self,
        name: &str,
        request: impl Future<Output = PortResult<T>>,
    ) -> PortResult<T> {
        self.before(name)?;
        let out = request.await;
        self.after(name)?;
        out
    }
}

/// A store whose requests go through [`Faults`]. Its compound writes
/// (`record_launch`, `record_end`) are the ports' default ones, request by
/// request, so each of their steps is a crash point too.
pub struct FaultyStore {
    /// The store behind it.
    pub inner: Arc<dyn StateStore>,
    /// The switch.
    pub faults: Faults,
}

#[async_trait]
impl DagStore for FaultyStore {
    async fn dag(&self, dag: &str) -> PortResult<Option<DagMeta>> {
        self.faults.call("dag", self.inner.dag(dag)).await
    }

    async fn dags(&self) -> PortResult<Vec<DagMeta>> {
        self.faults.call("dags", self.inner.dags()).await
    }

    async fn update_dag(&self, dag: &DagId, change: &DagChange) -> PortResult<bool> {
        let request = self.inner.update_dag(dag, change);
        self.faults.call("update_dag", request).await
    }

    async fn put_spec_version(
        &self,
        dag: &str,
        version: &str,
        source: &str,
        seen_at: DateTime<Utc>,
    ) -> PortResult<()> {
        let request = self.inner.put_spec_version(dag, version, source, seen_at);
        self.faults.call("put_spec_version", request).await
    }

    async fn spec_version(&self, dag: &str, version: &str) -> PortResult<Option<String>> {
        let request = self.inner.spec_version(dag, version);
        self.faults.call("spec_version", request).await
    }

    async fn spec_versions(&self, dag: &str) -> PortResult<Vec<StoredVersion>> {
        self.faults
            .call("spec_versions", self.inner.spec_versions(dag))
            .await
    }
}

#[async_trait]
impl RunStore for FaultyStore {
    async fn delete_run(&self, dag: &str, run_id: &str) -> PortResult<()> {
        let request = self.inner.delete_run(dag, run_id);
        self.faults.call("delete_run", request).await
    }

    async fn create_run(
        &self,
        run: &Run,
        instances: &[TaskInstance],
        notices: &[Notice],
    ) -> PortResult<bool> {
        let request = self.inner.create_run(run, instances, notices);
        self.faults.call("create_run", request).await
    }

    async fn run(&self, dag: &str, run_id: &str) -> PortResult<Option<Run>> {
        self.faults.call("run", self.inner.run(dag, run_id)).await
    }

    async fn runs(&self, query: &RunQuery) -> PortResult<Vec<Run>> {
        self.faults.call("runs", self.inner.runs(query)).await
    }

    async fn active_runs(&self) -> PortResult<Vec<Run>> {
        self.faults
            .call("active_runs", self.inner.active_runs())
            .await
    }

    async fn update_run(
        &self,
        expect: RunState,
        next: &Run,
        notices: &[Notice],
    ) -> PortResult<bool> {
        let request = self.inner.update_run(expect, next, notices);
        self.faults.call("update_run", request).await
    }

    async fn start_run(&self, next: &Run, limit: u32, notices: &[Notice]) -> PortResult<bool> {
        let request = self.inner.start_run(next, limit, notices);
        self.faults.call("start_run", request).await
    }

    async fn put_audit(&self, dag: &str, run_id: &str, entry: &AuditEntry) -> PortResult<()> {
        let request = self.inner.put_audit(dag, run_id, entry);
        self.faults.call("put_audit", request).await
    }

    async fn audit(&self, dag: &str, run_id: &str) -> PortResult<Vec<AuditEntry>> {
        self.faults
            .call("audit", self.inner.audit(dag, run_id))
            .await
    }

    async fn instances(&self, dag: &str, run_id: &str) -> PortResult<Vec<TaskInstance>> {
        self.faults
            .call("instances", self.inner.instances(dag, run_id))
            .await
    }

    async fn create_instances(
        &self,
        dag: &str,
        run_id: &str,
        instances: &[TaskInstance],
    ) -> PortResult<usize> {
        let request = self.inner.create_instances(dag, run_id, instances);
        self.faults.call("create_instances", request).await
    }

    async fn instance(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
    ) -> PortResult<Option<TaskInstance>> {
        let request = self.inner.instance(dag, run_id, key);
        self.faults.call("instance", request).await
    }

    async fn update_instance(
        &self,
        dag: &str,
        run_id: &str,
        change: &TaskTransition,
        notices: &[Notice],
    ) -> PortResult<bool> {
        let request = self.inner.update_instance(dag, run_id, change, notices);
        self.faults.call("update_instance", request).await
    }
}

#[async_trait]
impl AttemptStore for FaultyStore {
    async fn put_attempt(&self, dag: &str, run_id: &str, attempt: &Attempt) -> PortResult<()> {
        let request = self.inner.put_attempt(dag, run_id, attempt);
        self.faults.call("put_attempt", request).await
    }

    async fn put_new_attempt(
        &self,
        dag: &str,
        run_id: &str,
        attempt: &Attempt,
    ) -> PortResult<bool> {
        let request = self.inner.put_new_attempt(dag, run_id, attempt);
        self.faults.call("put_new_attempt", request).await
    }

    async fn attempt(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
        try_number: u32,
    ) -> PortResult<Option<Attempt>> {
        let request = self.inner.attempt(dag, run_id, key, try_number);
        self.faults.call("attempt", request).await
    }

    async fn attempts(&self, dag: &str, run_id: &str) -> PortResult<Vec<Attempt>> {
        self.faults
            .call("attempts", self.inner.attempts(dag, run_id))
            .await
    }

    async fn put_handle(&self, handle: &str, try_ref: &HandleRef) -> PortResult<()> {
        let request = self.inner.put_handle(handle, try_ref);
        self.faults.call("put_handle", request).await
    }

    async fn handle(&self, handle: &str) -> PortResult<Option<HandleRef>> {
        self.faults.call("handle", self.inner.handle(handle)).await
    }
}

#[async_trait]
impl LeftoverStore for FaultyStore {
    async fn put_stop(&self, stop: &PendingStop) -> PortResult<()> {
        self.faults
            .call("put_stop", self.inner.put_stop(stop))
            .await
    }

    async fn stops(&self) -> PortResult<Vec<PendingStop>> {
        self.faults.call("stops", self.inner.stops()).await
    }

    async fn clear_stop(&self, handle: &str) -> PortResult<()> {
        self.faults
            .call("clear_stop", self.inner.clear_stop(handle))
            .await
    }

    async fn outbox(&self, limit: usize) -> PortResult<Vec<Notice>> {
        self.faults.call("outbox", self.inner.outbox(limit)).await
    }

    async fn clear_outbox(&self, ids: &[String]) -> PortResult<()> {
        self.faults
            .call("clear_outbox", self.inner.clear_outbox(ids))
            .await
    }
}

#[async_trait]
impl PoolStore for FaultyStore {
    async fn take_slots(&self, claim: &SlotClaim, size: u32) -> PortResult<bool> {
        let request = self.inner.take_slots(claim, size);
        self.faults.call("take_slots", request).await
    }

    async fn give_back_slots(&self, pool: &str, holder: &str) -> PortResult<()> {
        let request = self.inner.give_back_slots(pool, holder);
        self.faults.call("give_back_slots", request).await
    }

    async fn slot_holders(&self, pool: &str) -> PortResult<Vec<SlotClaim>> {
        self.faults
            .call("slot_holders", self.inner.slot_holders(pool))
            .await
    }

    async fn wait_for_slots(&self, waiter: &SlotClaim) -> PortResult<()> {
        let request = self.inner.wait_for_slots(waiter);
        self.faults.call("wait_for_slots", request).await
    }

    async fn slot_waiters(&self, pool: &str) -> PortResult<Vec<SlotClaim>> {
        let request = self.inner.slot_waiters(pool);
        self.faults.call("slot_waiters", request).await
    }

    async fn stop_waiting(&self, pool: &str, holder: &str) -> PortResult<()> {
        let request = self.inner.stop_waiting(pool, holder);
        self.faults.call("stop_waiting", request).await
    }

    async fn declare_pools(&self, declared: &BTreeMap<String, u32>) -> PortResult<()> {
        let request = self.inner.declare_pools(declared);
        self.faults.call("declare_pools", request).await
    }

    async fn set_pool_slots(&self, pool: &str, slots: Option<u32>) -> PortResult<()> {
        let request = self.inner.set_pool_slots(pool, slots);
        self.faults.call("set_pool_slots", request).await
    }

    async fn pool_sizes(&self) -> PortResult<Vec<PoolSize>> {
        self.faults
            .call("pool_sizes", self.inner.pool_sizes())
            .await
    }
}

#[async_trait]
impl ArtifactStore for FaultyStore {
    async fn put_artifacts(&self, records: &[ArtifactRecord]) -> PortResult<()> {
        self.faults
            .call("put_artifacts", self.inner.put_artifacts(records))
            .await
    }

    async fn artifact(&self, uri: &str) -> PortResult<Vec<ArtifactRecord>> {
        self.faults.call("artifact", self.inner.artifact(uri)).await
    }

    async fn run_artifacts(&self, dag: &str, run_id: &str) -> PortResult<Vec<ArtifactRecord>> {
        let request = self.inner.run_artifacts(dag, run_id);
        self.faults.call("run_artifacts", request).await
    }
}

/// A queue whose requests go through [`Faults`].
pub struct FaultyQueue {
    /// The queue behind it.
    pub inner: Arc<dyn TaskQueue>,
    /// The switch.
    pub faults: Faults,
}

#[async_trait]
impl TaskQueue for FaultyQueue {
    async fn send(&self, message: &TaskMessage, delay: Duration) -> PortResult<()> {
        self.faults
            .call("send", self.inner.send(message, delay))
            .await
    }
    async fn receive(&self, max: usize) -> PortResult<Vec<Delivery>> {
        self.faults.call("receive", self.inner.receive(max)).await
    }
    async fn ack(&self, delivery: &Delivery) -> PortResult<()> {
        self.faults.call("ack", self.inner.ack(delivery)).await
    }
    async fn extend(&self, delivery: &Delivery, by: Duration) -> PortResult<()> {
        self.faults
            .call("extend", self.inner.extend(delivery, by))
            .await
    }
}

/// A launcher whose requests go through [`Faults`]; a failed launch is the
/// service being unavailable.
pub struct FaultyLauncher {
    /// The launcher behind it.
    pub inner: Arc<dyn Launcher>,
    /// The switch.
    pub faults: Faults,
}

#[async_trait]
impl Launcher for FaultyLauncher {
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, LaunchError> {
        self.faults.before("launch")?;
        let out = self.inner.launch(request).await;
        self.faults.after("launch")?;
        out
    }
    async fn describe(&self, handle: &str) -> PortResult<HandleStatus> {
        self.faults
            .call("describe", self.inner.describe(handle))
            .await
    }
    async fn stop(&self, handle: &str) -> PortResult<()> {
        self.faults.call("stop", self.inner.stop(handle)).await
    }
    async fn logs(&self, attempt: &Attempt, window: &LogWindow) -> PortResult<LogPage> {
        self.faults
            .call("logs", self.inner.logs(attempt, window))
            .await
    }
    async fn read_output(&self, attempt: &Attempt) -> PortResult<Option<String>> {
        self.faults
            .call("read_output", self.inner.read_output(attempt))
            .await
    }
}

/// A publisher whose requests go through [`Faults`].
pub struct FaultyPublisher {
    /// The publisher behind it.
    pub inner: Arc<dyn Publisher>,
    /// The switch.
    pub faults: Faults,
}

#[async_trait]
impl Publisher for FaultyPublisher {
    async fn publish(&self, notices: &[Notice]) -> PortResult<Vec<String>> {
        self.faults
            .call("publish", self.inner.publish(notices))
            .await
    }
}

impl FaultyStore {
    /// `store`, and `store` failing as `faults` say: what
    /// [`super::every_crash_point_of_every_use_case`] needs of a store.
    pub fn pair(
        store: Arc<dyn StateStore>,
        faults: &Faults,
    ) -> (Arc<dyn StateStore>, Arc<dyn StateStore>) {
        let faulty = Arc::new(FaultyStore {
            inner: store.clone(),
            faults: faults.clone(),
        });
        (store, faulty)
    }
}
