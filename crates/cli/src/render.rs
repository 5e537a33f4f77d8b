//! How runs and tasks print: text for people, JSON for programs. Times are
//! RFC 3339 in the DAG's time zone.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use updraft_core::plan::sla_deadline;
use updraft_core::state::{RunState, TaskState};
use updraft_engine::json::shorten;
pub use updraft_engine::json::{duration, span};
use updraft_engine::usecase::RunDetail;

/// A time in the DAG's zone, to the second, for people.
pub fn time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// `text` with every control character but line breaks and tabs written
/// as an escape (`\u{1b}`), so a note, label or id cannot move the cursor,
/// recolour or retitle the terminal it is printed to.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

/// Left-aligned columns, each cell [`printable`].
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| printable(&cell.replace('\n', " ")))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
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
        out.push_str(&line(row));
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
    if let Some(trigger) = &run.trigger {
        out.push_str(&format!("started by {}\n", trigger.describe()));
        let unmet = trigger.unmet(&detail.spec);
        let until = trigger
            .gather_until
            .map(|u| format!(" (until {})", time(u, tz)));
        if run.state == RunState::Queued && !unmet.is_empty() {
            out.push_str(&format!(
                "waiting for {}{}\n",
                unmet.join(", "),
                until.unwrap_or_default()
            ));
        } else if let Some(until) = trigger
            .gather_until
            .filter(|_| run.state == RunState::Queued && !trigger.awaits_all)
        {
            out.push_str(&format!(
                "gathering events until {} (debounce)\n",
                time(until, tz)
            ));
        }
    }
    if let Some(parent) = &run.parent {
        out.push_str(&format!(
            "started by {}.{} of run {} (try {})\n",
            parent.dag, parent.task, parent.run_id, parent.try_number
        ));
    }
    if let Some(reason) = &run.reason {
        out.push_str(&format!("ended: {reason}\n"));
    }
    if let Some(at) = run.deadline_missed_at {
        let deadline = sla_deadline(&detail.spec, run).unwrap_or(at);
        out.push_str(&format!(
            "missed its sla deadline {} (noted {})\n",
            time(deadline, tz),
            time(at, tz)
        ));
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
                (None, Some(output)) => shorten(&output.to_string(), 60),
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
