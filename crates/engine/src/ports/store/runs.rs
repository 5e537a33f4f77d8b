//! Runs and their task instances, every change a compare-and-set.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use updraft_core::notify::Notice;
use updraft_core::state::{AuditEntry, Run, RunState, TaskInstance, TaskKey, TaskTransition};

use crate::ports::PortResult;

/// Runs, their task instances and audit entries. Every change to a run or
/// task instance is a compare-and-set, written with the events it makes
/// (see [`StateStore`](super::StateStore)).
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Creates a run with its task instances if no run of its DAG has its
    /// id or its logical date; `false` if one already does (put-if-absent),
    /// so the scheduler, a backfill and a trigger never make two runs of
    /// one date.
    async fn create_run(
        &self,
        run: &Run,
        instances: &[TaskInstance],
        notices: &[Notice],
    ) -> PortResult<bool>;

    /// One run.
    async fn run(&self, dag: &str, run_id: &str) -> PortResult<Option<Run>>;

    /// Runs matching a query, newest first. Without a DAG, the runs of every
    /// DAG whose metadata is stored (runs are made only for those).
    async fn runs(&self, query: &RunQuery) -> PortResult<Vec<Run>>;

    /// Runs that are queued or running.
    async fn active_runs(&self) -> PortResult<Vec<Run>>;

    /// Writes `next`, one revision up, if the stored run is still in state
    /// `expect` at revision `next.revision` (the one read).
    async fn update_run(
        &self,
        expect: RunState,
        next: &Run,
        notices: &[Notice],
    ) -> PortResult<bool>;

    /// Starts a queued run: writes `next` (`running`) as
    /// [`Self::update_run`] from `queued` would, and only while fewer
    /// than `limit` runs of its DAG are running, checked in the same write,
    /// so that concurrent starters never pass `max_active_runs`.
    async fn start_run(&self, next: &Run, limit: u32, notices: &[Notice]) -> PortResult<bool>;

    /// Keeps one audit entry of a run; entries are only ever added.
    async fn put_audit(&self, dag: &str, run_id: &str, entry: &AuditEntry) -> PortResult<()>;

    /// A run's audit entries, oldest first.
    async fn audit(&self, dag: &str, run_id: &str) -> PortResult<Vec<AuditEntry>>;

    /// A run's task instances.
    async fn instances(&self, dag: &str, run_id: &str) -> PortResult<Vec<TaskInstance>>;

    /// Creates task instances that do not exist yet (mapped instances);
    /// returns how many it created.
    async fn create_instances(
        &self,
        dag: &str,
        run_id: &str,
        instances: &[TaskInstance],
    ) -> PortResult<usize>;

    /// One task instance.
    async fn instance(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
    ) -> PortResult<Option<TaskInstance>>;

    /// Applies a transition if the instance still has its expected state and try.
    async fn update_instance(
        &self,
        dag: &str,
        run_id: &str,
        change: &TaskTransition,
        notices: &[Notice],
    ) -> PortResult<bool>;

    /// Applies many transitions of one run that tell no events (a mapped
    /// task's instances queued at once), each only if its instance still
    /// has its expected state and try; which were applied. A store may
    /// write them together (DynamoDB: 100 to a transaction).
    async fn update_instances(
        &self,
        dag: &str,
        run_id: &str,
        changes: &[TaskTransition],
    ) -> PortResult<Vec<bool>> {
        update_one_by_one(self, dag, run_id, changes).await
    }

    /// Deletes a run and everything kept of it — task instances, tries,
    /// launch handles, audit entries, lineage records — as `updraft clean`
    /// does to runs past their retention. A run already gone is no error,
    /// so a clean that died halfway is simply run again.
    async fn delete_run(&self, dag: &str, run_id: &str) -> PortResult<()>;

    /// Keeps an ended run, and everything kept of it, from expiring for a
    /// whole retention from `now`, where items expire by themselves
    /// (DynamoDB's TTL): the tick's care of the run of a DAG that ended
    /// last, once it nears its horizon ([`DagMeta::last_ended_run`]). A
    /// store that deletes runs only when asked has nothing to do.
    ///
    /// [`DagMeta::last_ended_run`]: crate::ports::DagMeta::last_ended_run
    async fn keep_run(&self, _dag: &str, _run_id: &str, _now: DateTime<Utc>) -> PortResult<()> {
        Ok(())
    }
}

impl RunQuery {
    /// Whether a run matches the query's filters (not its limit): what a
    /// store that cannot filter on its own checks each run against.
    pub fn matches(&self, run: &Run) -> bool {
        self.dag.as_ref().is_none_or(|d| run.dag.as_str() == d)
            && (self.states.is_empty() || self.states.contains(&run.state))
            && self.label.as_ref().is_none_or(|l| run.labels.contains(l))
            && self.since.is_none_or(|s| run.created_at >= s)
            && self.until.is_none_or(|u| run.created_at <= u)
            && self
                .params
                .iter()
                .all(|(k, v)| run.params.get(k) == Some(v))
            && self
                .triggered_by
                .as_ref()
                .is_none_or(|by| run.triggered_by == *by)
            && self.note_contains.as_ref().is_none_or(|text| {
                run.note
                    .as_ref()
                    .is_some_and(|note| note.to_lowercase().contains(&text.to_lowercase()))
            })
    }
}

/// Which runs to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunQuery {
    /// Only this DAG.
    pub dag: Option<String>,
    /// Only runs in one of these states (any if empty).
    pub states: Vec<RunState>,
    /// Only runs with this label.
    pub label: Option<String>,
    /// Only runs created at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Only runs created at or before this.
    pub until: Option<DateTime<Utc>>,
    /// Only runs whose params have these values.
    pub params: Vec<(String, Value)>,
    /// Only runs made by this caller (see `Run::triggered_by`).
    pub triggered_by: Option<String>,
    /// Only runs whose note contains this text, in any case.
    pub note_contains: Option<String>,
    /// At most this many, newest first.
    pub limit: Option<usize>,
}

/// [`RunStore::update_instances`] as one compare-and-set per change.
pub async fn update_one_by_one<S: RunStore + ?Sized>(
    store: &S,
    dag: &str,
    run_id: &str,
    changes: &[TaskTransition],
) -> PortResult<Vec<bool>> {
    let mut applied = Vec::with_capacity(changes.len());
    for change in changes {
        applied.push(store.update_instance(dag, run_id, change, &[]).await?);
    }
    Ok(applied)
}
