//! DAG specs (docs/specs.md): one YAML file in, a validated [`DagSpec`] out, or
//! every problem of the file as `file:line:col: reason`.

mod argv;
mod capacity;
mod diagnostic;
mod diff;
mod draw;
mod folded;
mod graph;
mod groups;
mod kinds;
mod params;
mod parse;
mod pools;
mod read;
mod schema;
mod sensors;
mod set;
mod shell;
mod template_map;
mod triggers;
mod version;
mod written_templates;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::ids::{DagId, TaskId};
use crate::schedule::{Schedule, SchedulePolicy};
use crate::yaml::Pos;

pub use argv::Argv;
pub use diagnostic::{Diagnostic, SpecErrors};
pub use diff::{SpecDiff, TaskChange, spec_diff};
pub use draw::{GraphFormat, draw, task_marks};
pub use folded::{Folded, FoldedNode, fold_groups};
pub use groups::GroupInfo;
pub use kinds::{
    DEFAULT_POKE_INTERVAL, KindKey, MIN_POKE_INTERVAL, ROLE, ServiceKind, ServiceProfile,
    ServiceTask, Shape, is_expression_key,
};
pub use params::{PARAM_SCHEMA_KEYS, PARAM_TYPES, ParamRule, check_params, is_param_schema};
pub use parse::{parse_spec, parse_stored_spec};
pub use pools::{POOLS_FILE, PoolSpec, parse_pools};
pub use schema::{POOLS_SCHEMA_FILE, SCHEMA_FILE, dag_schema, pools_schema};
pub use sensors::{
    APPROVAL_KEYS, Approval, Condition, DEFAULT_SENSOR_EVERY, DEFAULT_SENSOR_TIMEOUT,
    MIN_SENSOR_EVERY, REJECT, TRIGGER_DAG_KEYS, TriggerDag, WAIT_FOR_KEYS, WaitFor, instant_of,
};
pub use set::{SpecFile, SpecSet, is_pools_file, spec_text, validate_set};
pub use shell::unquoted_in_shell;
pub use template_map::TemplateMap;
pub use triggers::{ArtifactPattern, Trigger, TriggerOn, UpstreamEnd};
pub use version::{spec_version, write_canonical};

/// A validated DAG: what the planner, the scheduler and the launchers read.
#[derive(Clone, Debug)]
pub struct DagSpec {
    /// The DAG id.
    pub id: DagId,
    /// The file the spec was read from, as the caller named it.
    pub file: String,
    /// SHA-256 of the spec's canonical JSON form.
    pub version: String,
    /// Free text for people.
    pub description: Option<String>,
    /// Who to ask about this DAG.
    pub owner: Option<String>,
    /// Labels for finding DAGs.
    pub tags: Vec<String>,
    /// When the DAG runs, in its time zone.
    pub schedule: Schedule,
    /// `start`, `end`, `catchup`, `max_active_runs`.
    pub policy: SchedulePolicy,
    /// How long a run may take from its start before it is failed and its
    /// tries stopped (Airflow's `dagrun_timeout`).
    pub run_timeout: Option<std::time::Duration>,
    /// How long after its data interval ends a run should have succeeded;
    /// past it, an `updraft Run Deadline Missed` event is told once.
    pub sla: Option<std::time::Duration>,
    /// How long its ended runs are kept before `updraft clean` deletes
    /// them (default [`crate::retention::DEFAULT_RETENTION`]).
    pub retention: Option<std::time::Duration>,
    /// Whether only the latest scheduled run does anything: in catch-up
    /// and backfill runs every task is skipped.
    pub latest_only: bool,
    /// What starts runs besides the schedule.
    pub triggers: Vec<Trigger>,
    /// At most this many tries of the DAG's tasks queued or running at
    /// once, across all its runs.
    pub max_active_tasks: Option<u32>,
    /// At most this many tries queued or running at once in each run.
    pub max_active_tasks_per_run: Option<u32>,
    /// Default params; a trigger may override them.
    pub params: Map<String, Value>,
    /// The rules of the params written as schemas.
    pub param_rules: BTreeMap<String, ParamRule>,
    /// Named compute profiles.
    pub compute: BTreeMap<String, ComputeProfile>,
    /// Its task groups as written under `groups:` (a group its tasks name
    /// but `groups:` does not has no entry).
    pub groups: BTreeMap<String, GroupInfo>,
    /// The tasks, in file order.
    pub tasks: Vec<TaskSpec>,
    index: foldhash::HashMap<TaskId, usize>,
    downstream: Vec<Vec<usize>>,
    order: Vec<usize>,
}

impl DagSpec {
    /// The task with this id.
    pub fn task(&self, id: &str) -> Option<&TaskSpec> {
        self.index.get(id).map(|&i| &self.tasks[i])
    }

    /// The position of a task in [`DagSpec::tasks`].
    pub fn task_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Task indices, every task after all its upstreams.
    pub fn topological_order(&self) -> &[usize] {
        &self.order
    }

    /// The tasks that name task `index` in `after`.
    pub fn downstream_of(&self, index: usize) -> &[usize] {
        &self.downstream[index]
    }

    /// The compute profile a task runs on, if it names one.
    pub fn compute_of(&self, task: &TaskSpec) -> Option<&ComputeProfile> {
        task.compute
            .as_ref()
            .and_then(|name| self.compute.get(name))
    }
}

/// One task of a DAG.
#[derive(Clone, Debug)]
pub struct TaskSpec {
    /// The task id.
    pub id: TaskId,
    /// Where the task is written, for messages about it.
    pub pos: Pos,
    /// Free text for people.
    pub description: Option<String>,
    /// The tasks this one runs after, as written.
    pub after: Vec<TaskId>,
    /// Indices of those tasks in [`DagSpec::tasks`].
    pub upstream: Vec<usize>,
    /// The compute profile to run on; none means the default runner.
    pub compute: Option<String>,
    /// Container image (template).
    pub image: Option<String>,
    /// The argv (each element a template); none means the image's own.
    pub command: Option<Argv>,
    /// Environment variables (values are templates).
    pub environment: TemplateMap,
    /// SageMaker training hyperparameters (values are templates).
    pub hyperparameters: TemplateMap,
    /// When the task may run given its upstreams' states.
    pub trigger_rule: TriggerRule,
    /// The exit code that ends a try `skipped` rather than failed.
    pub skip_exit_code: i32,
    /// Whether its output chooses which of its direct downstream tasks run
    /// (`branch`), the others being skipped.
    pub branch: bool,
    /// Whether its end may skip what comes after it.
    pub short_circuit: ShortCircuit,
    /// Whether it is skipped in every run but the latest scheduled one
    /// (catch-up and backfill runs; a manual run is never skipped).
    pub latest_only: bool,
    /// Whether it waits until the same task of the run before (by logical
    /// date) succeeded or was skipped.
    pub depends_on_past: bool,
    /// The group it belongs to, if any.
    pub group: Option<String>,
    /// The setups it tears down (`teardown:`): it runs once the tasks
    /// between them ended, whatever their state, if they succeeded.
    pub teardown_of: Vec<TaskId>,
    /// Whether its failure, as a teardown, fails the run.
    pub fail_run: bool,
    /// What it waits for, if it is a sensor.
    pub wait_for: Option<WaitFor>,
    /// The decision it waits for, if it is an approval.
    pub approval: Option<Approval>,
    /// The run of another DAG it starts, if it does.
    pub trigger_dag: Option<TriggerDag>,
    /// Retries after a failed try.
    pub retry: RetryPolicy,
    /// How long one try may run before it is stopped and failed.
    pub timeout: Option<Duration>,
    /// One instance per item of this list, once the upstreams are done.
    pub map_over: Option<MapOver>,
    /// At most this many mapped instances run at once.
    pub max_parallel: Option<u32>,
    /// More items than this fail the task.
    pub max_map: u32,
    /// Artifact URIs each succeeded try produces (templates).
    pub produces: Vec<String>,
    /// Artifact URIs each succeeded try consumes (templates).
    pub consumes: Vec<String>,
    /// Whether any template of the task reads `outputs`, so launching it
    /// needs its upstreams' outputs.
    pub reads_outputs: bool,
    /// The pool a try takes slots of before it launches.
    pub pool: Option<PoolNeed>,
    /// When slots are scarce, higher goes first (default 0).
    pub priority: i32,
    /// What a service runs for it, on a profile of a service kind.
    pub service: Option<ServiceTask>,
    /// A training job's input channels: name to S3 URI (templates).
    pub inputs: BTreeMap<String, String>,
}

/// What a task takes of a pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolNeed {
    /// The pool's name, declared in `pools.yaml`.
    pub pool: String,
    /// How many of its slots one try takes.
    pub slots: u32,
    /// Where `pool:` is written (the task, its profile or `defaults`).
    pub pos: Pos,
}

/// What a mapped task maps over.
#[derive(Clone, Debug, PartialEq)]
pub enum MapOver {
    /// A list written in the spec.
    Items(Vec<Value>),
    /// A template that renders a list, e.g. `{{ outputs.split.shards }}`.
    Template(String),
}

/// What a task that ends skipped, or whose output says `"continue":
/// false`, does to the tasks after it (Airflow's ShortCircuitOperator).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShortCircuit {
    /// Nothing beyond its own end (the default).
    #[default]
    Off,
    /// Every task downstream of it is skipped, whatever its trigger rule.
    All,
    /// Its direct downstream tasks are skipped; the rest follow their
    /// trigger rules (Airflow's `ignore_downstream_trigger_rules=False`).
    RespectTriggerRules,
}

/// The exit code that skips a task unless it names another (Airflow's
/// `skip_on_exit_code`).
pub const DEFAULT_SKIP_EXIT_CODE: i32 = 99;

/// The default bound on the number of mapped instances of one task.
pub const DEFAULT_MAX_MAP: u32 = 10_000;

/// When a task may run, given how its upstreams ended: Airflow's rules,
/// with Airflow's meanings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TriggerRule {
    /// Every upstream succeeded.
    #[default]
    AllSuccess,
    /// Every upstream failed (or could not run).
    AllFailed,
    /// Every upstream ended, whatever its state.
    AllDone,
    /// At least one upstream failed.
    OneFailed,
    /// At least one upstream succeeded.
    OneSuccess,
    /// At least one upstream succeeded or failed.
    OneDone,
    /// No upstream failed (skipped ones are fine).
    NoneFailed,
    /// No upstream failed, and not all were skipped: the join after a
    /// branch.
    NoneFailedMinOneSuccess,
    /// Every upstream ended and none was skipped.
    NoneSkipped,
    /// Every upstream was skipped.
    AllSkipped,
    /// At once, whatever its upstreams do.
    Always,
}

impl TriggerRule {
    /// Every rule with its spelling in specs.
    pub const ALL: [(TriggerRule, &'static str); 11] = [
        (TriggerRule::AllSuccess, "all_success"),
        (TriggerRule::AllFailed, "all_failed"),
        (TriggerRule::AllDone, "all_done"),
        (TriggerRule::OneFailed, "one_failed"),
        (TriggerRule::OneSuccess, "one_success"),
        (TriggerRule::OneDone, "one_done"),
        (TriggerRule::NoneFailed, "none_failed"),
        (
            TriggerRule::NoneFailedMinOneSuccess,
            "none_failed_min_one_success",
        ),
        (TriggerRule::NoneSkipped, "none_skipped"),
        (TriggerRule::AllSkipped, "all_skipped"),
        (TriggerRule::Always, "always"),
    ];

    /// The rule's spelling in specs.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("all_success", |(_, s)| s)
    }
}

/// How often and how late a failed task is tried again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Tries after the first.
    pub retries: u32,
    /// Wait before the first retry.
    pub delay: Duration,
    /// Each further retry waits this many times longer.
    pub backoff: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 0,
            delay: Duration::from_secs(300),
            backoff: 1.0,
        }
    }
}

/// The longest a retry waits, however large the backoff grows.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(7 * 86_400);

impl RetryPolicy {
    /// The wait after the `failures`-th failed try of a series (1 for the
    /// first): `delay × backoff^(failures-1)`, at most [`MAX_RETRY_DELAY`].
    pub fn delay_after(&self, failures: u32) -> Duration {
        let factor = self
            .backoff
            .powi(failures.saturating_sub(1).min(1_000) as i32);
        let secs = self.delay.as_secs_f64() * factor;
        if secs.is_finite() && secs < MAX_RETRY_DELAY.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            MAX_RETRY_DELAY
        }
    }
}

/// Where a task runs.
#[derive(Clone, Debug, PartialEq)]
pub enum ComputeProfile {
    /// An ECS Fargate task.
    Ecs(EcsProfile),
    /// A SageMaker training job.
    Sagemaker(SagemakerProfile),
    /// A job, query or call of another AWS service, run by its own API.
    Service(ServiceProfile),
}

/// An ECS Fargate profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsProfile {
    /// Task definition family (or ARN) to run.
    pub task_definition: String,
    /// CPU units (1024 = one vCPU).
    pub cpu: Option<u32>,
    /// Memory in MiB.
    pub memory: Option<u32>,
    /// Ephemeral storage in GiB (21–200).
    pub ephemeral_storage: Option<u32>,
}

/// A SageMaker training profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SagemakerProfile {
    /// E.g. `ml.g5.2xlarge`.
    pub instance_type: String,
    /// Number of instances.
    pub instance_count: u32,
    /// Volume per instance in GiB.
    pub volume_size: u32,
    /// Longest the job may run.
    pub max_runtime: Option<Duration>,
}

#[cfg(test)]
mod tests;
