//! The JSON shapes of runs, tasks, comparisons and lineage: what `updraft
//! --output json` prints and what the dashboard's `/api/v1/` answers, typed
//! once here for both, with the short forms both print for people
//! (durations, shortened text). Times are RFC 3339 in the DAG's time zone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{Map, Value};
use updraft_core::ids::TaskId;
use updraft_core::plan::output_metrics;
use updraft_core::spec::SpecDiff;
use updraft_core::state::{
    ArtifactRecord, AuditAction, ParentTry, Run, RunKind, RunState, RunTrigger, TaskState,
};

use crate::usecase::{ArtifactLineage, Comparison, RunDetail, RunLineage};

/// A time in the DAG's zone for JSON, with fractions of a second when it
/// has them.
pub fn json_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn opt_time(t: Option<DateTime<Utc>>, tz: Tz) -> Option<String> {
    t.map(|t| json_time(t, tz))
}

/// `350ms`, `4.2s`, `2m03s`, `1h02m`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", d.as_secs_f64()),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, (ms / 1_000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// At most `max` characters, with an ellipsis if cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}

/// How long between two times, if both are known.
pub fn span(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Option<Duration> {
    (end? - start?).to_std().ok()
}

/// The value of a shape, its keys in order (as `--output json` prints it).
pub fn to_value(shape: &impl Serialize) -> Value {
    // Shapes hold strings, numbers and maps with string keys only.
    serde_json::to_value(shape).unwrap_or(Value::Null)
}

/// A run.
#[derive(Debug, Serialize)]
pub struct RunJson<'a> {
    dag: &'a str,
    run_id: &'a str,
    kind: RunKind,
    state: RunState,
    logical_date: String,
    data_interval_start: String,
    data_interval_end: String,
    spec_version: &'a str,
    labels: &'a [String],
    params: &'a Map<String, Value>,
    created_at: String,
    started_at: Option<String>,
    ended_at: Option<String>,
    triggered_by: &'a str,
    note: &'a Option<String>,
    reason: &'a Option<String>,
    metrics: &'a BTreeMap<String, f64>,
    deadline_missed_at: Option<String>,
    trigger: &'a Option<RunTrigger>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: &'a Option<Box<ParentTry>>,
}

impl<'a> RunJson<'a> {
    /// A run, its times in `tz`.
    pub fn new(run: &'a Run, tz: Tz) -> RunJson<'a> {
        RunJson {
            dag: run.dag.as_str(),
            run_id: &run.run_id,
            kind: run.kind,
            state: run.state,
            logical_date: json_time(run.logical_date, tz),
            data_interval_start: json_time(run.data_interval_start, tz),
            data_interval_end: json_time(run.data_interval_end, tz),
            spec_version: &run.spec_version,
            labels: &run.labels,
            params: &run.params,
            created_at: json_time(run.created_at, tz),
            started_at: opt_time(run.started_at, tz),
            ended_at: opt_time(run.ended_at, tz),
            triggered_by: &run.triggered_by,
            note: &run.note,
            reason: &run.reason,
            metrics: &run.metrics,
            deadline_missed_at: opt_time(run.deadline_missed_at, tz),
            trigger: &run.trigger,
            parent: &run.parent,
        }
    }
}

/// A run with its tasks, their tries, and its audit entries.
#[derive(Debug, Serialize)]
pub struct DetailJson<'a> {
    run: RunJson<'a>,
    tasks: Vec<TaskJson<'a>>,
    audit: Vec<AuditJson<'a>>,
}

#[derive(Debug, Serialize)]
struct TaskJson<'a> {
    task_id: &'a TaskId,
    map_index: Option<u32>,
    state: TaskState,
    try_number: u32,
    reason: &'a Option<String>,
    output: &'a Option<Value>,
    map_count: Option<u32>,
    attempts: Vec<AttemptJson<'a>>,
}

#[derive(Debug, Serialize)]
struct AttemptJson<'a> {
    try_number: u32,
    state: TaskState,
    started_at: Option<String>,
    ended_at: Option<String>,
    exit_code: Option<i32>,
    reason: &'a Option<String>,
    handle: &'a Option<String>,
    log: &'a Option<String>,
    metrics: BTreeMap<String, f64>,
}

#[derive(Debug, Serialize)]
struct AuditJson<'a> {
    at: String,
    by: &'a str,
    action: AuditAction,
    tasks: &'a [String],
    options: &'a [String],
    note: &'a Option<String>,
}

impl<'a> DetailJson<'a> {
    /// A run in full, its times in its DAG's zone.
    pub fn new(detail: &'a RunDetail) -> DetailJson<'a> {
        let tz = detail.spec.schedule.tz();
        let tasks = detail
            .instances
            .iter()
            .map(|instance| TaskJson {
                task_id: &instance.key.task_id,
                map_index: instance.key.map_index,
                state: instance.state,
                try_number: instance.try_number,
                reason: &instance.reason,
                output: &instance.output,
                map_count: instance.map_count,
                attempts: detail
                    .attempts
                    .iter()
                    .filter(|a| a.key == instance.key)
                    .map(|a| AttemptJson {
                        try_number: a.try_number,
                        state: a.state,
                        started_at: opt_time(a.started_at, tz),
                        ended_at: opt_time(a.ended_at, tz),
                        exit_code: a.exit_code,
                        reason: &a.reason,
                        handle: &a.handle,
                        log: &a.log,
                        metrics: a
                            .output
                            .as_ref()
                            .map(|o| output_metrics(o).unwrap_or_default())
                            .unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
        let audit = detail
            .audit
            .iter()
            .map(|entry| AuditJson {
                at: json_time(entry.at, tz),
                by: &entry.by,
                action: entry.action,
                tasks: &entry.tasks,
                options: &entry.options,
                note: &entry.note,
            })
            .collect();
        DetailJson {
            run: RunJson::new(&detail.run, tz),
            tasks,
            audit,
        }
    }
}

/// Runs side by side, as `updraft compare` prints them.
#[derive(Debug, Serialize)]
pub struct ComparisonJson<'a> {
    runs: Vec<ComparedRunJson<'a>>,
    differing_params: Vec<String>,
    metric_deltas: BTreeMap<String, Vec<Option<f64>>>,
    spec_diffs: &'a [SpecDiff],
}

#[derive(Debug, Serialize)]
struct ComparedRunJson<'a> {
    run: RunJson<'a>,
    duration_seconds: Option<f64>,
    tasks: Vec<ComparedTaskJson>,
    produced: &'a [String],
}

#[derive(Debug, Serialize)]
struct ComparedTaskJson {
    task: String,
    state: TaskState,
    duration_seconds: Option<f64>,
}

impl<'a> ComparisonJson<'a> {
    /// A comparison of two runs or more.
    pub fn new(c: &'a Comparison) -> ComparisonJson<'a> {
        let seconds = |start, end| span(start, end).map(|d| d.as_secs_f64());
        let runs = c
            .runs
            .iter()
            .map(|r| ComparedRunJson {
                run: RunJson::new(&r.detail.run, r.detail.spec.schedule.tz()),
                duration_seconds: seconds(r.detail.run.started_at, r.detail.run.ended_at),
                tasks: r
                    .detail
                    .instances
                    .iter()
                    .map(|i| ComparedTaskJson {
                        task: i.key.to_string(),
                        state: i.state,
                        duration_seconds: seconds(i.started_at, i.ended_at),
                    })
                    .collect(),
                produced: &r.produced,
            })
            .collect();
        let first = &c.runs[0].detail.run;
        let differing_params = param_keys(c)
            .into_iter()
            .filter(|k| {
                c.runs
                    .iter()
                    .any(|r| r.detail.run.params.get(k) != first.params.get(k))
            })
            .collect();
        let metric_deltas = metric_names(c)
            .into_iter()
            .map(|name| {
                let base = first.metrics.get(&name).copied();
                let deltas = c
                    .runs
                    .iter()
                    .map(|r| delta(r.detail.run.metrics.get(&name).copied(), base))
                    .collect();
                (name, deltas)
            })
            .collect();
        ComparisonJson {
            runs,
            differing_params,
            metric_deltas,
            spec_diffs: &c.spec_diffs,
        }
    }
}

/// Every param any of the compared runs has.
pub fn param_keys(c: &Comparison) -> BTreeSet<String> {
    c.runs
        .iter()
        .flat_map(|r| r.detail.run.params.keys().cloned())
        .collect()
}

/// Every metric any of the compared runs has.
pub fn metric_names(c: &Comparison) -> BTreeSet<String> {
    c.runs
        .iter()
        .flat_map(|r| r.detail.run.metrics.keys().cloned())
        .collect()
}

fn delta(value: Option<f64>, base: Option<f64>) -> Option<f64> {
    Some(value? - base?)
}

/// One try's use of an artifact.
#[derive(Debug, Serialize)]
pub struct RecordJson<'a> {
    uri: &'a str,
    dag: &'a str,
    run_id: &'a str,
    task_id: &'a TaskId,
    map_index: Option<u32>,
    try_number: u32,
    at: String,
}

impl<'a> RecordJson<'a> {
    /// A lineage record.
    pub fn new(r: &'a ArtifactRecord) -> RecordJson<'a> {
        RecordJson {
            uri: &r.uri,
            dag: r.dag.as_str(),
            run_id: &r.run_id,
            task_id: &r.key.task_id,
            map_index: r.key.map_index,
            try_number: r.try_number,
            at: r.at.to_rfc3339(),
        }
    }

    fn all(records: &'a [ArtifactRecord]) -> Vec<RecordJson<'a>> {
        records.iter().map(RecordJson::new).collect()
    }
}

#[derive(Debug, Serialize)]
struct RunRefJson<'a> {
    dag: &'a str,
    run_id: &'a str,
    /// No longer kept (past its retention).
    expired: bool,
}

fn run_refs<'a>(
    runs: &'a BTreeSet<(String, String)>,
    expired: &BTreeSet<(String, String)>,
) -> Vec<RunRefJson<'a>> {
    runs.iter()
        .map(|run| RunRefJson {
            dag: &run.0,
            run_id: &run.1,
            expired: expired.contains(run),
        })
        .collect()
}

/// Who produced and consumed an artifact.
#[derive(Debug, Serialize)]
pub struct ArtifactLineageJson<'a> {
    uri: &'a str,
    produced_by: Vec<RecordJson<'a>>,
    consumed_by: Vec<RecordJson<'a>>,
    /// The runs of those records no longer kept.
    expired_runs: Vec<RunRefJson<'a>>,
}

impl<'a> ArtifactLineageJson<'a> {
    /// An artifact's lineage.
    pub fn new(uri: &'a str, lineage: &'a ArtifactLineage) -> ArtifactLineageJson<'a> {
        ArtifactLineageJson {
            uri,
            produced_by: RecordJson::all(&lineage.produced_by),
            consumed_by: RecordJson::all(&lineage.consumed_by),
            expired_runs: run_refs(&lineage.expired_runs, &lineage.expired_runs),
        }
    }
}

/// What a run produced and consumed, and the runs joined to it.
#[derive(Debug, Serialize)]
pub struct RunLineageJson<'a> {
    dag: &'a str,
    run_id: &'a str,
    produced: Vec<RecordJson<'a>>,
    consumed: Vec<RecordJson<'a>>,
    upstream_runs: Vec<RunRefJson<'a>>,
    downstream_runs: Vec<RunRefJson<'a>>,
    /// The run is no longer kept (past its retention).
    expired: bool,
}

impl<'a> RunLineageJson<'a> {
    /// A run's lineage.
    pub fn new(dag: &'a str, run_id: &'a str, lineage: &'a RunLineage) -> RunLineageJson<'a> {
        RunLineageJson {
            dag,
            run_id,
            produced: RecordJson::all(&lineage.produced),
            consumed: RecordJson::all(&lineage.consumed),
            upstream_runs: run_refs(&lineage.upstream, &lineage.expired_runs),
            downstream_runs: run_refs(&lineage.downstream, &lineage.expired_runs),
            expired: lineage.expired,
        }
    }
}
