//! The ports (docs/architecture.md, "Layers"): what the use cases need from the world, as small
//! traits. Local adapters implement them over SQLite and processes, AWS
//! adapters over DynamoDB, SQS, S3, ECS and SageMaker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use updraft_core::ids::DagId;
use updraft_core::notify::Notice;
use updraft_core::plan::Outcome;
use updraft_core::spec::{ComputeProfile, DagSpec, Diagnostic};
use updraft_core::state::{
    ArtifactRecord, Attempt, AuditEntry, Run, RunState, TaskInstance, TaskKey, TaskTransition,
};
use updraft_core::template::RenderedTask;

/// A failure of the infrastructure behind a port: worth retrying, never the
/// user's fault. Its message says what was being done; the error that
/// caused it, when there was one, is its `source()`.
#[derive(Clone, Debug)]
pub struct PortError {
    message: String,
    cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl PortError {
    /// A failure the adapter noticed itself (an answer it cannot use).
    pub fn msg(message: impl Into<String>) -> PortError {
        PortError {
            message: message.into(),
            cause: None,
        }
    }

    /// Wraps an error with what was being done, keeping it as the source.
    pub fn new(doing: &str, err: impl std::error::Error + Send + Sync + 'static) -> PortError {
        PortError {
            message: format!("{doing}: {err}"),
            cause: Some(Arc::new(err)),
        }
    }

    /// An error described by the adapter (`describe` of an SDK error) but
    /// kept whole as the source.
    pub fn described(
        message: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> PortError {
        PortError {
            message: message.into(),
            cause: Some(Arc::new(err)),
        }
    }

    /// What failed, in one line.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PortError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Two port errors are alike when they say the same.
impl PartialEq for PortError {
    fn eq(&self, other: &PortError) -> bool {
        self.message == other.message
    }
}

impl Eq for PortError {}

/// Port results.
pub type PortResult<T> = Result<T, PortError>;

/// Why a launch started nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    /// The service could not take the launch now (a 5xx, throttling, no
    /// Fargate capacity): the message is delivered again, with backoff,
    /// without using up a retry of the task.
    #[error("{0}")]
    Unavailable(PortError),
    /// The launch cannot work as asked (no such task definition, no
    /// subnets, a command that does not exist): the try fails saying why.
    #[error("{0}")]
    Refused(String),
}

impl From<PortError> for LaunchError {
    fn from(error: PortError) -> LaunchError {
        LaunchError::Unavailable(error)
    }
}

/// What the scheduler keeps per DAG.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DagMeta {
    /// The DAG.
    pub dag: DagId,
    /// Paused DAGs get no scheduled runs.
    pub paused: bool,
    /// The version of the spec currently deployed.
    pub current_version: Option<String>,
    /// Why the current spec file could not be loaded, if it could not.
    pub import_error: Option<String>,
    /// The version of the spec file in its store (an S3 object version id),
    /// where the store keeps versions.
    #[serde(default)]
    pub source_version: Option<String>,
    /// The latest schedule point a run was created for.
    pub last_point: Option<DateTime<Utc>>,
}

impl DagMeta {
    /// Metadata of a DAG seen for the first time.
    pub fn new(dag: DagId) -> DagMeta {
        DagMeta {
            dag,
            paused: false,
            current_version: None,
            import_error: None,
            source_version: None,
            last_point: None,
        }
    }
}

/// A change to some fields of a DAG's metadata, written without touching
/// the others, so that a tick, a deploy, an upload event and a pause never
/// undo one another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DagChange {
    /// Pause (`true`) or unpause the schedule.
    Paused(bool),
    /// The scheduler made the runs up to this point; kept only if it is
    /// later than the stored one.
    LastPoint(DateTime<Utc>),
    /// What the DAG's spec file now is.
    Source {
        /// Its valid version, or none (the file does not load, or is gone).
        current_version: Option<String>,
        /// Why it does not load.
        import_error: Option<String>,
        /// The file's object version, where the store keeps versions.
        source_version: Option<String>,
        /// Applied only if the stored object version is still this one
        /// (`Some(None)`: none stored): a compare-and-set. `None`: always.
        expect: Option<Option<String>>,
    },
}

impl DagChange {
    /// Applies the change to `meta` as a store must; `false` if its
    /// condition does not hold (and `meta` is left as it was).
    pub fn apply(&self, meta: &mut DagMeta) -> bool {
        match self {
            DagChange::Paused(paused) => meta.paused = *paused,
            DagChange::LastPoint(point) => {
                if meta.last_point.is_some_and(|last| last >= *point) {
                    return false;
                }
                meta.last_point = Some(*point);
            }
            DagChange::Source {
                current_version,
                import_error,
                source_version,
                expect,
            } => {
                if expect.as_ref().is_some_and(|e| *e != meta.source_version) {
                    return false;
                }
                meta.current_version = current_version.clone();
                meta.import_error = import_error.clone();
                meta.source_version = source_version.clone();
            }
        }
        true
    }
}

/// Which try a launch handle belongs to: what an ECS or SageMaker event
/// names is the handle, and the recorder needs the task instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleRef {
    /// The DAG.
    pub dag: String,
    /// The run.
    pub run_id: String,
    /// The task instance.
    pub key: TaskKey,
    /// The try.
    pub try_number: u32,
}

/// A stored spec version, without its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredVersion {
    /// The version (SHA-256 of the canonical spec).
    pub version: String,
    /// When it was first stored; unknown for versions stored before this
    /// was kept.
    pub first_seen: Option<DateTime<Utc>>,
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

/// Runs, task instances, attempts, spec versions and DAG metadata. Every
/// change to a run or task instance is a compare-and-set.
///
/// The events a change makes (`notices`) are kept in an outbox in the same
/// write as the change, both or neither, and taken out once published: a
/// process that dies between the two leaves them for the next tick, so no
/// event of an applied change is lost and none is told of a change that
/// was not applied.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// One DAG's metadata.
    async fn dag(&self, dag: &str) -> PortResult<Option<DagMeta>>;
    /// Every DAG's metadata.
    async fn dags(&self) -> PortResult<Vec<DagMeta>>;
    /// Applies a change to a DAG's metadata in one write, creating the
    /// metadata if there is none; `false` if the change's condition did
    /// not hold.
    async fn update_dag(&self, dag: &DagId, change: &DagChange) -> PortResult<bool>;

    /// Keeps a spec version's source, first seen at `seen_at`; storing one
    /// twice is harmless and keeps the first time.
    async fn put_spec_version(
        &self,
        dag: &str,
        version: &str,
        source: &str,
        seen_at: DateTime<Utc>,
    ) -> PortResult<()>;
    /// The source of a stored spec version.
    async fn spec_version(&self, dag: &str, version: &str) -> PortResult<Option<String>>;
    /// Every stored version of a DAG's spec, in no particular order.
    async fn spec_versions(&self, dag: &str) -> PortResult<Vec<StoredVersion>>;

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
    /// [`StateStore::update_run`] from `queued` would, and only while fewer
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

    /// Creates or replaces the record of one try.
    async fn put_attempt(&self, dag: &str, run_id: &str, attempt: &Attempt) -> PortResult<()>;
    /// Creates the record of one try if it has none; `false` if it had one
    /// (the try is being launched again) and it was left as it was.
    async fn put_new_attempt(&self, dag: &str, run_id: &str, attempt: &Attempt)
    -> PortResult<bool>;
    /// One try.
    async fn attempt(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
        try_number: u32,
    ) -> PortResult<Option<Attempt>>;
    /// Every try of every task of a run.
    async fn attempts(&self, dag: &str, run_id: &str) -> PortResult<Vec<Attempt>>;

    /// Remembers which try a launch handle belongs to.
    async fn put_handle(&self, handle: &str, try_ref: &HandleRef) -> PortResult<()>;
    /// The try a launch handle belongs to.
    async fn handle(&self, handle: &str) -> PortResult<Option<HandleRef>>;

    /// Keeps a stop until [`StateStore::clear_stop`]; keeping one twice
    /// keeps one.
    async fn put_stop(&self, stop: &PendingStop) -> PortResult<()>;
    /// Every stop not yet cleared.
    async fn stops(&self) -> PortResult<Vec<PendingStop>>;
    /// Forgets a carried-out stop.
    async fn clear_stop(&self, handle: &str) -> PortResult<()>;

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

    /// Notes that a tick ended at `at`: the scheduler's heartbeat, which
    /// `updraft doctor` holds against the schedule it runs on. A later
    /// note never gives way to an earlier one. Stores without a heartbeat
    /// keep nothing.
    async fn note_tick(&self, _at: DateTime<Utc>) -> PortResult<()> {
        Ok(())
    }
    /// When the last tick ended, as [`StateStore::note_tick`] noted it.
    async fn last_tick(&self) -> PortResult<Option<DateTime<Utc>>> {
        Ok(None)
    }

    /// Events kept with their changes and not yet published, oldest first,
    /// at most `limit`.
    async fn outbox(&self, limit: usize) -> PortResult<Vec<Notice>>;
    /// Takes published events out of the outbox.
    async fn clear_outbox(&self, ids: &[String]) -> PortResult<()>;

    /// Records that tries produced or consumed artifacts; recording the
    /// same record twice keeps one.
    async fn put_artifacts(&self, records: &[ArtifactRecord]) -> PortResult<()>;
    /// Every record of one artifact, newest first.
    async fn artifact(&self, uri: &str) -> PortResult<Vec<ArtifactRecord>>;
    /// Every artifact record of one run.
    async fn run_artifacts(&self, dag: &str, run_id: &str) -> PortResult<Vec<ArtifactRecord>>;

    /// Records a launched try: its attempt, its handle and the instance's
    /// `launching → running` compare-and-set. `false` if the instance moved
    /// on. A store that can writes all three in one request, and then none
    /// if the compare-and-set fails.
    async fn record_launch(
        &self,
        launch: &LaunchRecord<'_>,
        running: &TaskTransition,
    ) -> PortResult<bool> {
        // The attempt first: a process that dies after it leaves the try
        // with its handle and output location, which a relaunch or the end
        // of the try then finds; a handle alone would let the end be
        // recorded against an attempt that does not know where its output is.
        self.put_attempt(&launch.try_ref.dag, &launch.try_ref.run_id, launch.attempt)
            .await?;
        self.put_handle(launch.handle, launch.try_ref).await?;
        self.update_instance(&launch.try_ref.dag, &launch.try_ref.run_id, running, &[])
            .await
    }

    /// Records a try's end: the instance's compare-and-set with its events
    /// and, if it holds, the closed attempt and lineage records. `false` if
    /// the instance moved on. A store that can writes them in one request.
    async fn record_end(&self, end: &TryEnd<'_>) -> PortResult<bool> {
        record_end_in_turn(self, end).await
    }
}

/// What [`StateStore::record_end`] writes.
#[derive(Clone, Copy, Debug)]
pub struct TryEnd<'a> {
    /// The DAG.
    pub dag: &'a str,
    /// The run.
    pub run_id: &'a str,
    /// The instance's compare-and-set.
    pub change: &'a TaskTransition,
    /// The closed try's record.
    pub attempt: Option<&'a Attempt>,
    /// What the try produced and consumed.
    pub lineage: &'a [ArtifactRecord],
    /// The events the end makes.
    pub notices: &'a [Notice],
}

/// [`StateStore::update_instances`] as one compare-and-set per change.
pub async fn update_one_by_one<S: StateStore + ?Sized>(
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

/// [`StateStore::record_end`] as separate writes: the compare-and-set with
/// its events, then (if it held) the lineage and the attempt.
pub async fn record_end_in_turn<S: StateStore + ?Sized>(
    store: &S,
    end: &TryEnd<'_>,
) -> PortResult<bool> {
    let (dag, run_id) = (end.dag, end.run_id);
    if !store
        .update_instance(dag, run_id, end.change, end.notices)
        .await?
    {
        return Ok(false);
    }
    if !end.lineage.is_empty() {
        store.put_artifacts(end.lineage).await?;
    }
    if let Some(attempt) = end.attempt {
        store.put_attempt(dag, run_id, attempt).await?;
    }
    Ok(true)
}

/// What [`StateStore::record_launch`] writes besides the transition.
#[derive(Clone, Copy, Debug)]
pub struct LaunchRecord<'a> {
    /// The launcher's handle.
    pub handle: &'a str,
    /// The try it belongs to.
    pub try_ref: &'a HandleRef,
    /// The try's record, with the handle.
    pub attempt: &'a Attempt,
}

/// The message that asks a worker to launch one try.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMessage {
    /// The DAG.
    pub dag: String,
    /// The run.
    pub run_id: String,
    /// The task instance.
    pub key: TaskKey,
    /// The try to launch.
    pub try_number: u32,
}

/// A received message, until it is acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The message.
    pub message: TaskMessage,
    /// What `ack` needs.
    pub receipt: String,
    /// How often it was received, this time included.
    pub receive_count: u32,
}

/// At-least-once delivery of task messages.
#[async_trait]
pub trait TaskQueue: Send + Sync {
    /// Sends a message, visible after `delay`.
    async fn send(&self, message: &TaskMessage, delay: Duration) -> PortResult<()>;
    /// Sends messages visible at once; a queue may send them together
    /// (SQS: ten to a request).
    async fn send_many(&self, messages: &[TaskMessage]) -> PortResult<()> {
        for message in messages {
            self.send(message, Duration::ZERO).await?;
        }
        Ok(())
    }
    /// Up to `max` visible messages; each is hidden until acknowledged or
    /// until its visibility timeout passes.
    async fn receive(&self, max: usize) -> PortResult<Vec<Delivery>>;
    /// Deletes a received message.
    async fn ack(&self, delivery: &Delivery) -> PortResult<()>;
    /// Keeps a received message hidden for `by` longer.
    async fn extend(&self, delivery: &Delivery, by: Duration) -> PortResult<()>;
}

/// The specs as currently deployed.
#[derive(Clone, Debug, Default)]
pub struct LoadedSpecs {
    /// Valid DAGs with their source text, by id.
    pub dags: Vec<(DagSpec, String)>,
    /// Problems of the files that are not valid.
    pub errors: Vec<Diagnostic>,
    /// Every DAG's metadata, when the source read it on the way (the table
    /// source does), so a tick need not read it again.
    pub metas: Option<Vec<DagMeta>>,
    /// The slots of each pool the source's `pools.yaml` declares, when the
    /// source has one that is valid.
    pub pools: Option<BTreeMap<String, u32>>,
}

/// Where the current specs come from.
#[async_trait]
pub trait SpecSource: Send + Sync {
    /// The current specs.
    async fn load(&self) -> PortResult<LoadedSpecs>;

    /// Only the problems of the current spec files: what `runs` warns of.
    /// A source that keeps them apart answers without loading every spec.
    async fn import_errors(&self) -> PortResult<Vec<Diagnostic>> {
        Ok(self.load().await?.errors)
    }
}

/// Everything a launcher needs to start one try.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchRequest {
    /// The DAG.
    pub dag: String,
    /// The run.
    pub run_id: String,
    /// The task instance.
    pub key: TaskKey,
    /// The try.
    pub try_number: u32,
    /// The task's rendered command, environment and image.
    pub task: RenderedTask,
    /// Where it runs, if the task names a profile.
    pub compute: Option<ComputeProfile>,
    /// How long the try may run.
    pub timeout: Option<Duration>,
    /// The try was launched before (its dispatcher died or hung): the
    /// launcher must look for what that launch started.
    pub relaunch: bool,
}

/// A started try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launched {
    /// A pid, an ECS task ARN, a SageMaker job name.
    pub handle: String,
    /// Where its log is.
    pub log: Option<String>,
    /// Where it may write its output (`UPDRAFT_OUTPUT`).
    pub output: Option<String>,
}

/// What a launcher knows about a handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandleStatus {
    /// Still running.
    Running,
    /// Ended.
    Ended(Completion),
    /// Gone without a trace of how it ended.
    Lost,
}

/// How a try ended, as the launcher or an event tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// Succeeded or failed with a reason.
    pub outcome: Outcome,
    /// The process's exit code, when there was one.
    pub exit_code: Option<i32>,
}

/// Starts, inspects and stops tries, and reads their logs.
#[async_trait]
pub trait Launcher: Send + Sync {
    /// Starts a try. Launching the same try twice must not start it twice,
    /// and nothing may fail once the try started.
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, LaunchError>;
    /// What became of a launched try (for reconciliation).
    async fn describe(&self, handle: &str) -> PortResult<HandleStatus>;
    /// What became of each of several tries, in order: a launcher that
    /// can asks about many in one request (ECS: 100 per DescribeTasks).
    async fn describe_many(&self, handles: &[String]) -> PortResult<Vec<HandleStatus>> {
        let mut out = Vec::with_capacity(handles.len());
        for handle in handles {
            out.push(self.describe(handle).await?);
        }
        Ok(out)
    }
    /// Stops a try (timeout, rerun of a running task, cancel). Stopping
    /// one that already ended does nothing.
    async fn stop(&self, handle: &str) -> PortResult<()>;
    /// The log of a try.
    async fn logs(&self, attempt: &Attempt) -> PortResult<String>;
    /// What a succeeded try wrote to `UPDRAFT_OUTPUT`, if anything.
    async fn read_output(&self, attempt: &Attempt) -> PortResult<Option<String>>;
}

/// Where events go for others to react to: an EventBridge bus, a local
/// command.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Publishes events; returns the ids of those it took. The others stay
    /// in the outbox and are published again later.
    async fn publish(&self, notices: &[Notice]) -> PortResult<Vec<String>>;
}

/// The time. Tests use a manual clock.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
