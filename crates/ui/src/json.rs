//! The JSON shapes of runs, tasks, comparisons and lineage: what `updraft
//! --output json` prints and what `/api/v1/` answers, written once. Times
//! are RFC 3339 in the DAG's time zone.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};
use updraft_core::plan::output_metrics;
use updraft_core::state::{ArtifactRecord, Run};
use updraft_engine::usecase::{ArtifactLineage, Comparison, RunDetail, RunLineage};

/// A time in the DAG's zone for JSON, with fractions of a second when it
/// has them.
pub fn json_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// An optional time for JSON.
pub fn opt_time(t: Option<DateTime<Utc>>, tz: Tz) -> Value {
    t.map_or(Value::Null, |t| Value::String(json_time(t, tz)))
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

/// How long between two times, if both are known.
pub fn span(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Option<Duration> {
    (end? - start?).to_std().ok()
}

/// A run as JSON.
pub fn run_json(run: &Run, tz: Tz) -> Value {
    json!({
        "dag": run.dag,
        "run_id": run.run_id,
        "kind": run.kind,
        "state": run.state,
        "logical_date": json_time(run.logical_date, tz),
        "data_interval_start": json_time(run.data_interval_start, tz),
        "data_interval_end": json_time(run.data_interval_end, tz),
        "spec_version": run.spec_version,
        "labels": run.labels,
        "params": run.params,
        "created_at": json_time(run.created_at, tz),
        "started_at": opt_time(run.started_at, tz),
        "ended_at": opt_time(run.ended_at, tz),
        "triggered_by": run.triggered_by,
        "note": run.note,
        "reason": run.reason,
        "metrics": run.metrics,
        "deadline_missed_at": opt_time(run.deadline_missed_at, tz),
        "trigger": run.trigger,
    })
}

/// A run with its tasks and their tries, as JSON.
pub fn detail_json(detail: &RunDetail) -> Value {
    let tz = detail.spec.schedule.tz();
    let tasks: Vec<Value> = detail
        .instances
        .iter()
        .map(|instance| {
            let attempts: Vec<Value> = detail
                .attempts
                .iter()
                .filter(|a| a.key == instance.key)
                .map(|a| {
                    json!({
                        "try_number": a.try_number,
                        "state": a.state,
                        "started_at": opt_time(a.started_at, tz),
                        "ended_at": opt_time(a.ended_at, tz),
                        "exit_code": a.exit_code,
                        "reason": a.reason,
                        "handle": a.handle,
                        "log": a.log,
                        "metrics": a.output.as_ref().map(|o| output_metrics(o).unwrap_or_default()).unwrap_or_default(),
                    })
                })
                .collect();
            json!({
                "task_id": instance.key.task_id,
                "map_index": instance.key.map_index,
                "state": instance.state,
                "try_number": instance.try_number,
                "reason": instance.reason,
                "output": instance.output,
                "map_count": instance.map_count,
                "attempts": attempts,
            })
        })
        .collect();
    let audit: Vec<Value> = detail
        .audit
        .iter()
        .map(|entry| {
            json!({
                "at": json_time(entry.at, tz),
                "by": entry.by,
                "action": entry.action,
                "tasks": entry.tasks,
                "options": entry.options,
                "note": entry.note,
            })
        })
        .collect();
    json!({ "run": run_json(&detail.run, tz), "tasks": tasks, "audit": audit })
}

/// Runs side by side, as `updraft compare` prints them.
pub fn comparison_json(c: &Comparison) -> Value {
    let runs: Vec<Value> = c
        .runs
        .iter()
        .map(|r| {
            let tz = r.detail.spec.schedule.tz();
            let tasks: Vec<Value> = r
                .detail
                .instances
                .iter()
                .map(|i| {
                    json!({
                        "task": i.key.to_string(),
                        "state": i.state,
                        "duration_seconds": span(i.started_at, i.ended_at).map(|d| d.as_secs_f64()),
                    })
                })
                .collect();
            json!({
                "run": run_json(&r.detail.run, tz),
                "duration_seconds": span(r.detail.run.started_at, r.detail.run.ended_at).map(|d| d.as_secs_f64()),
                "tasks": tasks,
                "produced": r.produced,
            })
        })
        .collect();
    let first = &c.runs[0].detail.run;
    let differing_params: Vec<String> = param_keys(c)
        .into_iter()
        .filter(|k| {
            c.runs
                .iter()
                .any(|r| r.detail.run.params.get(k) != first.params.get(k))
        })
        .collect();
    let metric_deltas: serde_json::Map<String, Value> = metric_names(c)
        .into_iter()
        .map(|name| {
            let base = first.metrics.get(&name).copied();
            let deltas: Vec<Option<f64>> = c
                .runs
                .iter()
                .map(|r| delta(r.detail.run.metrics.get(&name).copied(), base))
                .collect();
            (name, json!(deltas))
        })
        .collect();
    json!({
        "runs": runs,
        "differing_params": differing_params,
        "metric_deltas": metric_deltas,
        "spec_diffs": c.spec_diffs,
    })
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
pub fn record_json(r: &ArtifactRecord) -> Value {
    json!({
        "uri": r.uri,
        "dag": r.dag,
        "run_id": r.run_id,
        "task_id": r.key.task_id,
        "map_index": r.key.map_index,
        "try_number": r.try_number,
        "at": r.at.to_rfc3339(),
    })
}

fn runs_json(runs: &BTreeSet<(String, String)>) -> Value {
    Value::Array(
        runs.iter()
            .map(|(dag, run_id)| json!({"dag": dag, "run_id": run_id}))
            .collect(),
    )
}

/// Who produced and consumed an artifact.
pub fn artifact_lineage_json(uri: &str, lineage: &ArtifactLineage) -> Value {
    json!({
        "uri": uri,
        "produced_by": lineage.produced_by.iter().map(record_json).collect::<Vec<_>>(),
        "consumed_by": lineage.consumed_by.iter().map(record_json).collect::<Vec<_>>(),
    })
}

/// What a run produced and consumed, and the runs joined to it.
pub fn run_lineage_json(dag: &str, run_id: &str, lineage: &RunLineage) -> Value {
    json!({
        "dag": dag,
        "run_id": run_id,
        "produced": lineage.produced.iter().map(record_json).collect::<Vec<_>>(),
        "consumed": lineage.consumed.iter().map(record_json).collect::<Vec<_>>(),
        "upstream_runs": runs_json(&lineage.upstream),
        "downstream_runs": runs_json(&lineage.downstream),
    })
}
