//! How runs and tasks print: text for people, JSON for programs. Times are
//! RFC 3339 in the DAG's time zone.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};
use updraft_core::plan::output_metrics;
use updraft_core::state::{Run, TaskState};
use updraft_engine::usecase::RunDetail;

/// A time in the DAG's zone, to the second, for people.
pub fn time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// A time in the DAG's zone for JSON, with fractions of a second when it
/// has them.
fn json_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn opt_time(t: Option<DateTime<Utc>>, tz: Tz) -> Value {
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

/// Left-aligned columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.clone()));
    }
    out
}

/// A run's tasks as a table, with a heading line.
pub fn detail_text(detail: &RunDetail) -> String {
    let tz = detail.spec.schedule.tz();
    let run = &detail.run;
    let took = span(run.started_at, run.ended_at)
        .map(|d| format!(" in {}", duration(d)))
        .unwrap_or_default();
    let mut out = format!(
        "{} {} {}{took}\nlogical date {}, data interval {} .. {}, spec {}\ntriggered by {}\n",
        run.dag,
        run.run_id,
        run.state,
        time(run.logical_date, tz),
        time(run.data_interval_start, tz),
        time(run.data_interval_end, tz),
        &run.spec_version[..run.spec_version.len().min(12)],
        or_dash(&run.triggered_by),
    );
    if let Some(reason) = &run.reason {
        out.push_str(&format!("ended: {reason}\n"));
    }
    if let Some(note) = &run.note {
        out.push_str(&format!("note: {note}\n"));
    }
    out.push('\n');
    let mut rows: Vec<Vec<String>> = Vec::new();
    for i in &detail.instances {
        if i.key.map_index.is_some() && !shown_alone(detail, i) {
            continue;
        }
        let name = match i.key.map_index {
            Some(index) => format!("  {}[{index}]", i.key.task_id),
            None => i.key.task_id.to_string(),
        };
        let last = detail
            .attempts
            .iter()
            .filter(|a| a.key == i.key)
            .max_by_key(|a| a.try_number);
        let started = last
            .and_then(|a| a.started_at)
            .map(|t| time(t, tz))
            .unwrap_or_default();
        let took = last
            .and_then(|a| span(a.started_at, a.ended_at))
            .map(duration)
            .unwrap_or_default();
        let note = match i.state {
            TaskState::RetryWait => format!(
                "retry at {}: {}",
                i.retry_at.map(|t| time(t, tz)).unwrap_or_default(),
                i.reason.clone().unwrap_or_default()
            ),
            TaskState::Mapped => mapped_summary(detail, i),
            _ => match (&i.reason, &i.output) {
                (Some(reason), _) => reason.clone(),
                (None, Some(output)) => short(&output.to_string(), 60),
                (None, None) => String::new(),
            },
        };
        rows.push(vec![
            name,
            i.state.to_string(),
            i.try_number.to_string(),
            started,
            took,
            note,
        ]);
    }
    out.push_str(&table(
        &["TASK", "STATE", "TRY", "STARTED", "DURATION", "NOTE"],
        &rows,
    ));
    if !detail.audit.is_empty() {
        out.push_str("\n\nchanges by hand:");
        for entry in &detail.audit {
            let mut what = vec![entry.action.to_string(), entry.tasks.join(", ")];
            what.extend(entry.options.iter().cloned());
            out.push_str(&format!(
                "\n  {} {} {}",
                time(entry.at, tz),
                entry.by,
                what.join(" ")
            ));
            if let Some(note) = &entry.note {
                out.push_str(&format!(" ({note})"));
            }
        }
    }
    out
}

/// A value, or `-` when there is none.
pub fn or_dash(text: &str) -> &str {
    if text.is_empty() { "-" } else { text }
}

/// Mapped instances of a big fan-out are summed up on their task's line;
/// each is listed alone only in small mappings, or if it did not succeed.
fn shown_alone(detail: &RunDetail, instance: &updraft_core::state::TaskInstance) -> bool {
    let count = detail
        .instances
        .iter()
        .find(|m| m.key.task_id == instance.key.task_id && m.key.map_index.is_none())
        .and_then(|m| m.map_count)
        .unwrap_or(0);
    let current = instance.key.map_index.is_some_and(|i| i < count);
    current && (count <= 10 || instance.state != TaskState::Succeeded)
}

fn mapped_summary(detail: &RunDetail, main: &updraft_core::state::TaskInstance) -> String {
    let count = main.map_count.unwrap_or(0);
    let mut by_state: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for child in detail
        .instances
        .iter()
        .filter(|c| c.key.task_id == main.key.task_id)
    {
        if child.key.map_index.is_some_and(|i| i < count) {
            *by_state.entry(child.state.as_str()).or_default() += 1;
        }
    }
    let parts: Vec<String> = by_state
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect();
    format!("{count} instances: {}", parts.join(", "))
}

/// At most `max` characters, with an ellipsis if cut.
fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}
