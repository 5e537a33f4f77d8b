//! Runs, task instances and attempts (docs/architecture.md, "The state machine"), and the compare-and-set
//! transitions every change to them is made of.
//!
//! A transition names the (state, try) it expects to find and the record to
//! write instead. Adapters apply it only if the stored record still has that
//! state and try, which is what makes duplicate messages, overlapping ticks
//! and replayed events harmless.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{DagId, TaskId};
use crate::schedule::RunTiming;

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $label:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as stored and printed.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        "unknown {} `{text}`; use one of {}",
                        $label,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

string_enum!(
    /// Where a run is in its life.
    RunState, "run state" {
        /// Created, not yet started.
        Queued = "queued",
        /// Its tasks are being planned and run.
        Running = "running",
        /// Every task succeeded or was skipped.
        Succeeded = "succeeded",
        /// At least one task failed or could not run.
        Failed = "failed",
        /// Stopped by a person.
        Cancelled = "cancelled",
    }
);

string_enum!(
    /// Where a task instance is in its life.
    TaskState, "task state" {
        /// Waiting for its upstreams.
        Pending = "pending",
        /// On the queue for a worker.
        Queued = "queued",
        /// A worker took it and is starting it.
        Launching = "launching",
        /// Its process, container or job runs.
        Running = "running",
        /// A sensor whose condition does not hold yet: looked at every so
        /// often, holding no worker, slot or process in between.
        Waiting = "waiting",
        /// Failed; will be queued again at `retry_at`.
        RetryWait = "retry_wait",
        /// Ended well.
        Succeeded = "succeeded",
        /// Ended badly with no retries left.
        Failed = "failed",
        /// Cannot run because an upstream failed.
        UpstreamFailed = "upstream_failed",
        /// Not run because its trigger rule can no longer hold.
        Skipped = "skipped",
        /// A mapped task expanded into `map_count` instances, which run
        /// in its place.
        Mapped = "mapped",
    }
);

string_enum!(
    /// Why a run exists.
    RunKind, "run kind" {
        /// Made by the schedule.
        Scheduled = "scheduled",
        /// Made by `trigger` or `run`.
        Manual = "manual",
        /// Made by `backfill`.
        Backfill = "backfill",
        /// Made by one of the DAG's `triggers:`.
        Triggered = "triggered",
    }
);

impl RunState {
    /// Whether the run has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::Cancelled
        )
    }
}

impl TaskState {
    /// Whether the instance has ended (until a rerun).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded
                | TaskState::Failed
                | TaskState::UpstreamFailed
                | TaskState::Skipped
                | TaskState::Mapped
        )
    }

    /// Whether the instance ended in a way that lets its run succeed.
    pub fn is_good_end(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Skipped | TaskState::Mapped
        )
    }

    /// Whether an attempt is in flight: a launch or a running process.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            TaskState::Launching | TaskState::Running | TaskState::Waiting
        )
    }
}

/// Identifies a task instance within a run. `map_index` is `None` for a
/// task that is not mapped.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskKey {
    /// The task.
    pub task_id: TaskId,
    /// Which mapped instance, if the task is mapped.
    pub map_index: Option<u32>,
}

impl TaskKey {
    /// The key of an unmapped task.
    pub fn task(task_id: TaskId) -> TaskKey {
        TaskKey {
            task_id,
            map_index: None,
        }
    }
}

impl fmt::Display for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.map_index {
            Some(i) => write!(f, "{}[{i}]", self.task_id),
            None => write!(f, "{}", self.task_id),
        }
    }
}

/// One task of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskInstance {
    /// Which task, which mapped instance.
    pub key: TaskKey,
    /// Where it is.
    pub state: TaskState,
    /// The current (or last) try, from 1; 0 before the first.
    pub try_number: u32,
    /// The try the current series of retries started at: 1, or the first
    /// try after a rerun. Retries and backoff count from it.
    pub first_try: u32,
    /// When a task in `retry_wait` is queued again.
    pub retry_at: Option<DateTime<Utc>>,
    /// When the current try was queued.
    pub queued_at: Option<DateTime<Utc>>,
    /// When the current try started running.
    pub started_at: Option<DateTime<Utc>>,
    /// When it last ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it last failed, was skipped, or could not run.
    pub reason: Option<String>,
    /// The JSON object its last succeeded try wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// For a mapped instance: its item of the mapped list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Value>,
    /// For the instance that stands for a whole mapped task (`map_index`
    /// `None`): how many mapped instances its last expansion made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_count: Option<u32>,
    /// For a `waiting` sensor: when its condition is next looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poke_at: Option<DateTime<Utc>>,
    /// When a launch of the current try last began: a queued try that has
    /// one was launched before and may have started something, which its
    /// next launch looks for first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_began: Option<DateTime<Utc>>,
}

impl TaskInstance {
    /// A task instance that has not run yet.
    pub fn pending(key: TaskKey) -> TaskInstance {
        TaskInstance {
            key,
            state: TaskState::Pending,
            try_number: 0,
            first_try: 0,
            retry_at: None,
            queued_at: None,
            started_at: None,
            ended_at: None,
            reason: None,
            output: None,
            item: None,
            map_count: None,
            poke_at: None,
            launch_began: None,
        }
    }
}

/// One try of a task instance, kept for good: the history behind `show`,
/// `logs` and lineage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Which task instance.
    pub key: TaskKey,
    /// Which try.
    pub try_number: u32,
    /// How it ended, or `running`.
    pub state: TaskState,
    /// The launcher's handle: a pid, an ECS task ARN, a SageMaker job name.
    pub handle: Option<String>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// The process's exit code, when it had one.
    pub exit_code: Option<i32>,
    /// Why it failed.
    pub reason: Option<String>,
    /// Where its log is.
    pub log: Option<String>,
    /// Where it may write its output (a file path, an S3 URI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_location: Option<String>,
    /// The JSON object it wrote as its output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Artifact URIs it produced (from `produces` and its output's `artifacts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub produced: Vec<String>,
    /// Artifact URIs it consumed (from `consumes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumed: Vec<String>,
}

impl Attempt {
    /// A try that has not started anything yet: no handle, times, log or
    /// output; set what is known with struct update syntax.
    pub fn new(key: TaskKey, try_number: u32, state: TaskState) -> Attempt {
        Attempt {
            key,
            try_number,
            state,
            handle: None,
            started_at: None,
            ended_at: None,
            exit_code: None,
            reason: None,
            log: None,
            output_location: None,
            output: None,
            produced: Vec::new(),
            consumed: Vec::new(),
        }
    }
}

string_enum!(
    /// Which way a run touched an artifact.
    ArtifactUse, "artifact use" {
        /// The try wrote it.
        Produced = "produced",
        /// The try read it.
        Consumed = "consumed",
    }
);

/// One try producing or consuming one artifact: the lineage record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// The artifact, e.g. `s3://models/ranking/2026-11-21/model.tar.gz`.
    pub uri: String,
    /// Produced or consumed.
    pub used: ArtifactUse,
    /// The DAG.
    pub dag: DagId,
    /// The run.
    pub run_id: String,
    /// The task instance.
    pub key: TaskKey,
    /// The try.
    pub try_number: u32,
    /// When the try succeeded.
    pub at: DateTime<Utc>,
}

/// One run of a DAG.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The DAG.
    pub dag: DagId,
    /// Unique within the DAG; see [`run_id`].
    pub run_id: String,
    /// Why the run exists.
    pub kind: RunKind,
    /// Where it is.
    pub state: RunState,
    /// The spec version the run is pinned to, reruns included.
    pub spec_version: String,
    /// The schedule point or trigger time.
    pub logical_date: DateTime<Utc>,
    /// Start of the data interval (inclusive).
    pub data_interval_start: DateTime<Utc>,
    /// End of the data interval (exclusive).
    pub data_interval_end: DateTime<Utc>,
    /// The spec's params with the trigger's overrides.
    pub params: Map<String, Value>,
    /// Free-form labels for finding runs.
    pub labels: Vec<String>,
    /// When the run was created.
    pub created_at: DateTime<Utc>,
    /// When its first task was planned.
    pub started_at: Option<DateTime<Utc>>,
    /// When it last ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Who made the run: [`SCHEDULE`] for the scheduler, else the caller
    /// (`user@host`, an AWS identity ARN). Empty for runs made before it
    /// was kept.
    #[serde(default)]
    pub triggered_by: String,
    /// Why the run ended before its tasks did (`cancel`, `run_timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A free-text line about the run (`trigger --note`, `rerun --note`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The metrics its tasks reported, as `<task>.<name>` (`<task>[i].<name>`
    /// for mapped instances), as of the run's last state change.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// When the run was found not to have succeeded by its DAG's `sla`
    /// (its data interval's end plus the `sla`); told once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_missed_at: Option<DateTime<Utc>>,
    /// What started it, if one of its DAG's `triggers:` did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<RunTrigger>,
    /// The try of another DAG's `trigger_dag` task that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Box<ParentTry>>,
    /// How often the run's record was changed since it was made. Every
    /// change expects the revision it read, so no writer undoes another's
    /// change of a field the state alone does not guard (the note, the
    /// metrics).
    #[serde(default)]
    pub revision: u64,
}

/// The try of a `trigger_dag` task that made a run: the child names it, and
/// its page links back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentTry {
    /// The parent's DAG.
    pub dag: String,
    /// The parent's run.
    pub run_id: String,
    /// The `trigger_dag` task.
    pub task: String,
    /// Its try.
    pub try_number: u32,
}

/// [`Run::triggered_by`] of the runs the scheduler makes.
pub const SCHEDULE: &str = "schedule";

string_enum!(
    /// What a person did to a run after it was made.
    AuditAction, "audit action" {
        /// Cleared tasks to run again.
        Rerun = "rerun",
        /// Set a task's state by hand.
        Mark = "mark",
        /// Stopped the run.
        Cancel = "cancel",
        /// Decided what an approval asked.
        Approve = "approve",
    }
);

/// One change a person made to a run: who, when, what. Kept apart from
/// the run, one record each, so that `show` can say why a try exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it was asked for.
    pub at: DateTime<Utc>,
    /// Who asked (as [`Run::triggered_by`]).
    pub by: String,
    /// Rerun, mark or cancel.
    pub action: AuditAction,
    /// The task instances it named, or the ones it cleared.
    pub tasks: Vec<String>,
    /// The options as given: `--downstream`, `--failed`, `success`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// The note given with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Run {
    /// The run's logical date and data interval.
    pub fn timing(&self) -> RunTiming {
        RunTiming {
            logical_date: self.logical_date,
            data_interval_start: self.data_interval_start,
            data_interval_end: self.data_interval_end,
        }
    }
}

/// A run's id: `scheduled__2026-11-21T00:00:00+09:00` and
/// `backfill__…` carry the logical date in the DAG's zone,
/// `manual__2026-11-21T06:12:33.123Z` the trigger time in UTC.
pub fn run_id(kind: RunKind, logical_date: DateTime<Utc>, tz: Tz) -> String {
    let local = logical_date
        .with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false);
    match kind {
        RunKind::Scheduled => format!("scheduled__{local}"),
        RunKind::Backfill => format!("backfill__{local}"),
        RunKind::Manual => format!(
            "manual__{}",
            logical_date.to_rfc3339_opts(SecondsFormat::Millis, true)
        ),
        RunKind::Triggered => format!(
            "triggered__{}",
            logical_date.to_rfc3339_opts(SecondsFormat::Millis, true)
        ),
    }
}

/// What started a triggered run: the events of one of its DAG's
/// `triggers:`, which tasks read as `{{ trigger }}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunTrigger {
    /// The trigger's place in its DAG's `triggers:`, from 0.
    pub index: usize,
    /// Each event: `{dag, run_id, state, logical_date}` of an upstream run,
    /// or `{uri, version, producer}` of an artifact. One, or with
    /// `debounce` every event of the window.
    pub events: Vec<Value>,
    /// With `debounce`: the run gathers events and starts only then. With
    /// an `all:` trigger's `within`: the end of its window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gather_until: Option<DateTime<Utc>>,
    /// Of an `all:` trigger: the run gathers events until they meet its
    /// conditions, then starts at once (cancelled if `gather_until`
    /// passes first).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub awaits_all: bool,
}

impl RunTrigger {
    /// `{{ trigger }}`: the first event's fields, and `events`, all of them.
    pub fn template_value(&self) -> Value {
        let mut value = match self.events.first() {
            Some(Value::Object(first)) => first.clone(),
            _ => serde_json::Map::new(),
        };
        value.insert("events".into(), Value::Array(self.events.clone()));
        Value::Object(value)
    }

    /// One line for `runs` and `show`: what the first event was, and how
    /// many there were.
    pub fn describe(&self) -> String {
        let first = self.events.first();
        let field = |name: &str| first.and_then(|e| e.get(name)).and_then(Value::as_str);
        let what = match (field("uri"), field("dag"), field("run_id")) {
            (Some(uri), _, _) => format!("artifact {uri}"),
            (None, Some(dag), Some(run_id)) => {
                format!(
                    "run {run_id} of {dag} ({})",
                    field("state").unwrap_or("ended")
                )
            }
            _ => "an event".to_string(),
        };
        match self.events.len() {
            0 | 1 => what,
            n => format!("{what} and {} more", n - 1),
        }
    }
}

/// A compare-and-set change to a task instance.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskTransition {
    /// The state the record must still be in.
    pub expect_state: TaskState,
    /// The try the record must still be at.
    pub expect_try: u32,
    /// The record to write.
    pub next: TaskInstance,
    /// The attempt in flight must be stopped (timeout, or a rerun of a
    /// task that is still running).
    pub stop_attempt: bool,
}

impl TaskTransition {
    /// A change from `current` to `next`.
    pub fn new(current: &TaskInstance, next: TaskInstance) -> TaskTransition {
        TaskTransition {
            expect_state: current.state,
            expect_try: current.try_number,
            stop_attempt: false,
            next,
        }
    }
}

/// A compare-and-set change to a run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunTransition {
    /// The state the run must still be in.
    pub expect_state: RunState,
    /// The run to write.
    pub next: Run,
}

/// A change the planner (or a use case) wants made.
#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    /// Create a task instance (a mapped instance) if it does not exist.
    Create(TaskInstance),
    /// Change a task instance.
    Task(TaskTransition),
    /// Change the run itself. It comes after the task transitions of the
    /// same plan and must only be applied if all of them were.
    Run(RunTransition),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_carry_the_logical_date_in_the_dags_zone() {
        let t = DateTime::parse_from_rfc3339("2026-11-20T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let tokyo = chrono_tz::Asia::Tokyo;
        assert_eq!(
            run_id(RunKind::Scheduled, t, tokyo),
            "scheduled__2026-11-21T00:00:00+09:00"
        );
        assert_eq!(
            run_id(RunKind::Backfill, t, tokyo),
            "backfill__2026-11-21T00:00:00+09:00"
        );
        assert_eq!(
            run_id(RunKind::Manual, t, tokyo),
            "manual__2026-11-20T15:00:00.000Z"
        );
    }

    #[test]
    fn states_round_trip_through_text() {
        for state in TaskState::ALL {
            assert_eq!(state.as_str().parse::<TaskState>(), Ok(*state));
        }
        assert_eq!(
            "done".parse::<RunState>().unwrap_err(),
            "unknown run state `done`; use one of queued, running, succeeded, failed, cancelled"
        );
    }
}
