//! A run's page: what it is (dates in the DAG's zone, spec version, who
//! made it, note, labels, params, audit entries), the graph of the spec
//! version it ran, coloured by state, the Gantt of every try, and its
//! tasks, mapped instances summed up and paged.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use updraft_core::plan::sla_deadline;
use updraft_core::spec::{FoldedNode, fold_groups};
use updraft_core::state::{TaskInstance, TaskKey, TaskState};
use updraft_engine::usecase::{FailedTry, RunDetail};

use crate::grid::{group_summed_up, summed_up};
use crate::html::{
    artifact_path, escape, opt_time, run_badge, run_path, task_badge, task_letter, task_path, time,
    try_path,
};
use crate::svg::{Bar, Node, gantt, graph};
use updraft_engine::json::{duration, span};

/// The most bars one page of a Gantt shows.
pub const GANTT_PAGE: usize = 200;

fn facts(detail: &RunDetail) -> String {
    let run = &detail.run;
    let tz = detail.spec.schedule.tz();
    let json = |v: &serde_json::Value| escape(&serde_json::to_string(v).unwrap_or_default());
    let mut rows = vec![
        ("state", run_badge(run.state)),
        ("logical date", time(run.logical_date, tz)),
        (
            "data interval",
            format!(
                "{} → {}",
                time(run.data_interval_start, tz),
                time(run.data_interval_end, tz)
            ),
        ),
        (
            "spec version",
            format!(
                "<code title=\"{v}\">{}</code>",
                &run.spec_version[..run.spec_version.len().min(12)],
                v = escape(&run.spec_version)
            ),
        ),
        (
            "triggered by",
            format!("{} ({})", escape(&run.triggered_by), run.kind),
        ),
        ("created", time(run.created_at, tz)),
        ("started", opt_time(run.started_at, tz)),
        ("ended", opt_time(run.ended_at, tz)),
    ];
    if let Some(took) = span(run.started_at, run.ended_at) {
        rows.push(("duration", duration(took)));
    }
    if let Some(reason) = &run.reason {
        rows.push(("reason", escape(reason)));
    }
    if let Some(trigger) = &run.trigger {
        rows.push(("started by", escape(&trigger.describe())));
        let unmet = trigger.unmet(&detail.spec);
        if run.state == updraft_core::state::RunState::Queued && !unmet.is_empty() {
            let until = trigger
                .gather_until
                .map(|u| format!(" until {}", time(u, tz)))
                .unwrap_or_default();
            rows.push((
                "waiting for",
                escape(&format!("{}{until}", unmet.join(", "))),
            ));
        }
    }
    if let Some(parent) = &run.parent {
        // Made by another DAG's `trigger_dag` task: a link back to it.
        rows.push((
            "started by",
            format!(
                "<a class=\"parent\" href=\"{href}\">{task} of {dag} · {run}</a> (try {n})",
                href = escape(&task_path(&parent.dag, &parent.run_id, &parent.task, None)),
                task = escape(&parent.task),
                dag = escape(&parent.dag),
                run = escape(&parent.run_id),
                n = parent.try_number,
            ),
        ));
    }
    if let Some(deadline) = sla_deadline(&detail.spec, run) {
        let missed = match run.deadline_missed_at {
            Some(at) => format!(
                " <span class=\"badge failed\">missed</span> (noted {})",
                time(at, tz)
            ),
            None => String::new(),
        };
        rows.push(("sla deadline", format!("{}{missed}", time(deadline, tz))));
    }
    if let Some(note) = &run.note {
        rows.push(("note", escape(note)));
    }
    if !run.labels.is_empty() {
        let labels: String = run
            .labels
            .iter()
            .map(|l| format!("<span class=\"tag\">{}</span>", escape(l)))
            .collect();
        rows.push(("labels", labels));
    }
    let params: String = run
        .params
        .iter()
        .map(|(k, v)| {
            format!(
                "<div><code>{}</code> = <code>{}</code></div>",
                escape(k),
                json(v)
            )
        })
        .collect();
    if !params.is_empty() {
        rows.push(("params", params));
    }
    let metrics: String = run
        .metrics
        .iter()
        .map(|(k, v)| format!("<div><code>{}</code> = {v}</div>", escape(k)))
        .collect();
    if !metrics.is_empty() {
        rows.push(("metrics", metrics));
    }
    let mut out = String::from("<dl class=\"facts\">");
    for (name, value) in rows {
        let _ = write!(out, "<dt>{name}</dt><dd>{value}</dd>");
    }
    out.push_str("</dl>");
    out
}

fn main_instance<'a>(detail: &'a RunDetail, task: &str) -> Option<&'a TaskInstance> {
    detail
        .instances
        .iter()
        .find(|i| i.key.task_id.as_str() == task && i.key.map_index.is_none())
}

/// The run's graph, its groups folded but `open`; above it, how to fold
/// the open one again.
fn drawn_graph(detail: &RunDetail, open: Option<&str>) -> String {
    let run = &detail.run;
    let spec = &detail.spec;
    let here = run_path(run.dag.as_str(), &run.run_id);
    let folded = fold_groups(spec, open);
    let drawing = graph(&folded, |node| match node {
        FoldedNode::Group { name, tasks } => {
            let ids: Vec<&str> = tasks.iter().map(|&t| spec.tasks[t].id.as_str()).collect();
            let (state, done, count) = group_summed_up(&detail.instances, &ids);
            Node {
                label: name.clone(),
                group: true,
                state: state.to_string(),
                letter: task_letter(state),
                counts: Some(format!("{done}/{count}")),
                href: format!("{here}?group={}", crate::http::encode(name)),
            }
        }
        FoldedNode::Task(t) => {
            let task = spec.tasks[*t].id.as_str();
            let href = task_path(run.dag.as_str(), &run.run_id, task, None);
            let (state, counts) = match main_instance(detail, task) {
                Some(main) if main.state == TaskState::Mapped => {
                    let (worst, done, count) = summed_up(&detail.instances, main);
                    (worst, Some(format!("{done}/{count}")))
                }
                Some(main) => (main.state, None),
                None => (TaskState::Pending, None),
            };
            Node {
                label: task.to_string(),
                group: false,
                state: state.to_string(),
                letter: task_letter(state),
                counts,
                href,
            }
        }
    });
    let opened = open.filter(|g| spec.tasks.iter().any(|t| t.group.as_deref() == Some(*g)));
    match opened {
        Some(group) => format!(
            "<p class=\"muted\">group {} open · <a href=\"{}\">fold it</a></p>{drawing}",
            escape(group),
            escape(&here)
        ),
        None => drawing,
    }
}

/// The Gantt's bars: every try that started, in order of start.
fn bars(detail: &RunDetail) -> Vec<Bar> {
    let run = &detail.run;
    let instances: std::collections::HashMap<&TaskKey, &TaskInstance> =
        detail.instances.iter().map(|i| (&i.key, i)).collect();
    let mut bars: Vec<Bar> = detail
        .attempts
        .iter()
        .filter_map(|a| {
            let start = a.started_at?;
            let instance = instances.get(&a.key);
            let queued = instance
                .filter(|i| i.try_number == a.try_number)
                .and_then(|i| i.queued_at);
            Some(Bar {
                label: format!("{} try {}", a.key, a.try_number),
                queued,
                start,
                end: a.ended_at,
                state: a.state.to_string(),
                href: try_path(run.dag.as_str(), &run.run_id, &a.key, a.try_number),
            })
        })
        .collect();
    bars.sort_by_key(|b| (b.start, b.label.clone()));
    bars
}

/// One row per task; a mapped task's instances summed up on its row.
fn tasks(detail: &RunDetail) -> String {
    let run = &detail.run;
    let tz = detail.spec.schedule.tz();
    let mut out = String::from(
        "<table class=\"tasks\"><thead><tr><th>task</th><th>state</th><th>try</th><th>started</th>\
         <th>duration</th><th>note</th></tr></thead><tbody>",
    );
    for i in detail
        .instances
        .iter()
        .filter(|i| i.key.map_index.is_none())
    {
        let task = i.key.task_id.as_str();
        let (state, note) = if i.state == TaskState::Mapped {
            let (worst, done, count) = summed_up(&detail.instances, i);
            (
                format!("{} {}", task_badge(TaskState::Mapped), task_badge(worst)),
                format!("{done} of {count} instances succeeded"),
            )
        } else {
            let note = match i.state {
                TaskState::RetryWait => format!(
                    "retry at {}: {}",
                    opt_time(i.retry_at, tz),
                    escape(i.reason.as_deref().unwrap_or_default())
                ),
                _ => escape(i.reason.as_deref().unwrap_or_default()),
            };
            (task_badge(i.state), note)
        };
        let _ = write!(
            out,
            "<tr data-task=\"{t}\" data-state=\"{s}\" data-try=\"{try_}\"><td><a href=\"{href}\">{t}</a></td><td>{state}</td>\
             <td>{try_}</td><td>{started}</td><td>{took}</td><td>{note}</td></tr>",
            t = escape(task),
            s = i.state,
            try_ = i.try_number,
            href = escape(&task_path(run.dag.as_str(), &run.run_id, task, None)),
            started = opt_time(i.started_at, tz),
            took = span(i.started_at, i.ended_at)
                .map(duration)
                .unwrap_or_default(),
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn audit(detail: &RunDetail) -> String {
    if detail.audit.is_empty() {
        return String::new();
    }
    let tz = detail.spec.schedule.tz();
    let mut out = String::from(
        "<section><h2>Changes by hand</h2><table><thead><tr><th>at</th><th>by</th><th>what</th>\
         <th>tasks</th><th>note</th></tr></thead><tbody>",
    );
    for entry in &detail.audit {
        let mut what = vec![entry.action.to_string()];
        what.extend(entry.options.iter().cloned());
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            time(entry.at, tz),
            escape(&entry.by),
            escape(&what.join(" ")),
            escape(&entry.tasks.join(", ")),
            escape(entry.note.as_deref().unwrap_or_default()),
        );
    }
    out.push_str("</tbody></table></section>");
    out
}

/// How many failed tries a run's page shows with their log's end.
pub const FAILURES_SHOWN: usize = 3;
/// How many lines of a failed try's log it shows.
pub const TAIL_LINES: usize = 15;

/// What of a run's page a reader chose (the Gantt's page, the group open
/// in the graph), and the failed tries' logs' ends.
pub struct View<'a> {
    /// The Gantt's page, from 0.
    pub gantt_page: usize,
    /// The group drawn unfolded, if any.
    pub open_group: Option<&'a str>,
    /// The tries that failed the run, with the last lines of their logs.
    pub failures: Vec<FailedTry>,
}

/// Each failed try: its reason, and under it how its log ends, linked to
/// the whole log.
fn failures(detail: &RunDetail, failed: &[FailedTry]) -> String {
    if failed.is_empty() {
        return String::new();
    }
    let run = &detail.run;
    let mut out = String::from("<section class=\"failures\"><h2>Why it failed</h2>");
    for f in failed {
        let href = try_path(run.dag.as_str(), &run.run_id, &f.key, f.try_number);
        let _ = write!(
            out,
            "<div class=\"failure\" data-task=\"{key}\"><p><a href=\"{href}\">{key} try {n}</a>: {reason}</p>",
            key = escape(&f.key.to_string()),
            href = escape(&href),
            n = f.try_number,
            reason = escape(f.reason.as_deref().unwrap_or("failed")),
        );
        match f.tail.is_empty() {
            true => out.push_str("<p class=\"muted\">its log is empty</p>"),
            false => {
                let _ = write!(
                    out,
                    "<pre class=\"tail\">{}</pre>",
                    escape(&f.tail.join("\n"))
                );
            }
        }
        out.push_str("</div>");
    }
    out.push_str("</section>");
    out
}

/// The run's page body as `view` asks; `actions` the buttons (empty when
/// read-only).
pub fn render(detail: &RunDetail, now: DateTime<Utc>, view: &View<'_>, actions: &str) -> String {
    let page = view.gantt_page;
    let run = &detail.run;
    let tz = detail.spec.schedule.tz();
    let all = bars(detail);
    let pages = all.len().div_ceil(GANTT_PAGE).max(1);
    let page = page.min(pages - 1);
    let shown: Vec<Bar> = all
        .into_iter()
        .skip(page * GANTT_PAGE)
        .take(GANTT_PAGE)
        .collect();
    let pager = if pages > 1 {
        let href = |p: usize| format!("{}?gantt={p}", run_path(run.dag.as_str(), &run.run_id));
        format!(
            "<p class=\"muted\">tries {}–{} of {}: {}{}</p>",
            page * GANTT_PAGE + 1,
            page * GANTT_PAGE + shown.len(),
            detail
                .attempts
                .iter()
                .filter(|a| a.started_at.is_some())
                .count(),
            if page > 0 {
                format!("<a href=\"{}\">earlier</a> ", escape(&href(page - 1)))
            } else {
                String::new()
            },
            if page + 1 < pages {
                format!("<a href=\"{}\">later</a>", escape(&href(page + 1)))
            } else {
                String::new()
            },
        )
    } else {
        String::new()
    };
    format!(
        "<h1><a href=\"{grid}\">{dag}</a> · {id}</h1>{actions}{facts}{failures}\
         <p><a href=\"{lineage}\">lineage of this run</a></p>\
         <section><h2>Graph</h2><div class=\"scroll\">{graph}</div></section>\
         <section><h2>Gantt</h2>{pager}<div class=\"scroll\">{gantt}</div></section>\
         <section><h2>Tasks</h2>{tasks}</section>{audit}",
        grid = escape(&crate::html::dag_path(run.dag.as_str())),
        dag = escape(run.dag.as_str()),
        id = escape(&run.run_id),
        facts = facts(detail),
        failures = failures(detail, &view.failures),
        lineage = escape(&format!(
            "{}/lineage",
            run_path(run.dag.as_str(), &run.run_id)
        )),
        graph = drawn_graph(detail, view.open_group),
        gantt = gantt(&shown, now, tz),
        tasks = tasks(detail),
        audit = audit(detail),
    )
}

/// Artifacts of a try as links to their lineage.
pub fn artifact_links(uris: &[String]) -> String {
    if uris.is_empty() {
        return "<span class=\"muted\">none</span>".to_string();
    }
    uris.iter()
        .map(|uri| {
            format!(
                "<div><a href=\"{}\">{}</a></div>",
                escape(&artifact_path(uri)),
                escape(uri)
            )
        })
        .collect()
}
