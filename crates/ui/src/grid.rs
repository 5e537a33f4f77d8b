//! A DAG's grid: its latest runs as columns (newest right) and its tasks as
//! rows, a mapped task summed up in one row (expandable), and above it the
//! durations of those runs with their median.

use std::fmt::Write;

use updraft_core::state::{TaskInstance, TaskState};
use updraft_engine::Engine;
use updraft_engine::usecase::DagGrid;

use crate::html::{dag_path, escape, page, run_path, run_square, task_letter, task_path, time};
use crate::svg::{Duration, durations};
use crate::{Request, Response};
use updraft_core::spec::{FoldedNode, fold_groups};
use updraft_engine::json::span;

/// How many runs the grid shows unless asked for another count.
pub const GRID_RUNS: usize = 25;
/// The most runs a grid shows.
const MAX_GRID_RUNS: usize = 100;
/// Every how many columns the grid writes a run's logical date.
const DATE_EVERY: usize = 5;
/// The most instance rows an expanded mapped task shows.
const MAX_EXPANDED: u32 = 100;

/// The most telling state of a mapped task's instances, and how many ended
/// well, of how many.
pub fn summed_up(instances: &[TaskInstance], main: &TaskInstance) -> (TaskState, u32, u32) {
    let count = main.map_count.unwrap_or(0);
    let states = instances
        .iter()
        .filter(|i| i.key.task_id == main.key.task_id && i.key.map_index.is_some_and(|m| m < count))
        .map(|i| i.state);
    tally(states, count)
}

/// A group's tasks in one run summed up: the most telling of their states
/// (a mapped task's own summed up; one with no instance yet pending), how
/// many succeeded, of how many.
pub fn group_summed_up(instances: &[TaskInstance], tasks: &[&str]) -> (TaskState, u32, u32) {
    let states = tasks.iter().map(|task| {
        let main = instances
            .iter()
            .find(|i| i.key.task_id.as_str() == *task && i.key.map_index.is_none());
        match main {
            Some(main) if main.state == TaskState::Mapped => summed_up(instances, main).0,
            Some(main) => main.state,
            None => TaskState::Pending,
        }
    });
    tally(states, tasks.len() as u32)
}

/// The most telling of `states` (a failure first, then what is under way,
/// then what waits), and how many succeeded; `count` of them in all.
fn tally(states: impl Iterator<Item = TaskState>, count: u32) -> (TaskState, u32, u32) {
    let rank = |s: TaskState| match s {
        TaskState::Failed => 0,
        TaskState::UpstreamFailed => 1,
        TaskState::Running | TaskState::Launching | TaskState::Waiting => 2,
        TaskState::RetryWait => 3,
        TaskState::Queued => 4,
        TaskState::Pending => 5,
        TaskState::Skipped => 6,
        TaskState::Succeeded | TaskState::Mapped => 7,
    };
    let mut worst = TaskState::Succeeded;
    let mut done = 0;
    for state in states {
        if state == TaskState::Succeeded {
            done += 1;
        }
        if rank(state) < rank(worst) {
            worst = state;
        }
    }
    (worst, done, count)
}

fn cell(grid: &DagGrid, run: usize, task: &str, map_index: Option<u32>) -> String {
    let (run, instances) = &grid.runs[run];
    let Some(instance) = instances
        .iter()
        .find(|i| i.key.task_id.as_str() == task && i.key.map_index == map_index)
    else {
        return "<td class=\"cell\"></td>".to_string();
    };
    let (state, text, title) = if instance.state == TaskState::Mapped {
        let (worst, done, count) = summed_up(instances, instance);
        (
            worst,
            format!("{done}/{count}"),
            format!("{count} instances, {done} succeeded"),
        )
    } else {
        let why = instance
            .reason
            .as_deref()
            .filter(|_| {
                matches!(
                    instance.state,
                    TaskState::Failed | TaskState::UpstreamFailed
                )
            })
            .map(|reason| format!(": {reason}"))
            .unwrap_or_default();
        (
            instance.state,
            task_letter(instance.state).to_string(),
            format!("try {}{why}", instance.try_number),
        )
    };
    format!(
        "<td class=\"cell\"><a class=\"{state}\" href=\"{href}\" title=\"{task}{index} · {state} · {title}\">{text}</a></td>",
        href = escape(&task_path(run.dag.as_str(), &run.run_id, task, map_index)),
        task = escape(task),
        index = map_index.map(|i| format!("[{i}]")).unwrap_or_default(),
    )
}

/// One row of the grid (besides a mapped task's instances).
enum Row {
    /// A task; `member`: of the open group, drawn under it.
    Task { id: String, member: bool },
    /// A group's tasks summed up; `open`: its tasks follow.
    Group {
        name: String,
        tasks: Vec<String>,
        open: bool,
    },
}

/// The grid's rows: the current spec's tasks in order, each group folded
/// into one row but `open` (whose row its tasks follow), then tasks only
/// older runs have.
fn rows(grid: &DagGrid, open: Option<&str>) -> Vec<Row> {
    let spec = &grid.spec;
    let id = |t: usize| spec.tasks[t].id.to_string();
    let mut rows = Vec::new();
    let mut opened = false;
    for node in fold_groups(spec, open).nodes {
        match node {
            FoldedNode::Group { name, tasks } => rows.push(Row::Group {
                name,
                tasks: tasks.into_iter().map(id).collect(),
                open: false,
            }),
            FoldedNode::Task(t) if open.is_some() && spec.tasks[t].group.as_deref() == open => {
                if std::mem::replace(&mut opened, true) {
                    continue;
                }
                let members: Vec<String> = spec
                    .topological_order()
                    .iter()
                    .filter(|&&m| spec.tasks[m].group.as_deref() == open)
                    .map(|&m| id(m))
                    .collect();
                rows.push(Row::Group {
                    name: open.unwrap_or_default().to_string(),
                    tasks: members.clone(),
                    open: true,
                });
                rows.extend(members.into_iter().map(|id| Row::Task { id, member: true }));
            }
            FoldedNode::Task(t) => rows.push(Row::Task {
                id: id(t),
                member: false,
            }),
        }
    }
    for (_, instances) in &grid.runs {
        for instance in instances {
            let id = instance.key.task_id.as_str();
            if spec.task(id).is_none()
                && !rows
                    .iter()
                    .any(|r| matches!(r, Row::Task { id: t, .. } if t == id))
            {
                rows.push(Row::Task {
                    id: id.to_string(),
                    member: false,
                });
            }
        }
    }
    rows
}

/// A group's row: its tasks summed up in each run.
fn group_row(out: &mut String, grid: &DagGrid, name: &str, tasks: &[String], open: bool) {
    let dag = grid.spec.id.as_str();
    let (arrow, href, hint) = match open {
        true => ("▾", dag_path(dag), "fold the group"),
        false => (
            "▸",
            format!("{}?group={}", dag_path(dag), crate::http::encode(name)),
            "one row per task",
        ),
    };
    let _ = write!(
        out,
        "<tr data-group=\"{name}\"><th class=\"task\"><a href=\"{href}\" title=\"{hint}\">{arrow} {name}</a> \
         <small class=\"muted marks\">group of {count}</small></th>",
        name = escape(name),
        href = escape(&href),
        count = tasks.len(),
    );
    let ids: Vec<&str> = tasks.iter().map(String::as_str).collect();
    for (run, instances) in &grid.runs {
        let (state, done, count) = group_summed_up(instances, &ids);
        let href = format!(
            "{}?group={}",
            run_path(run.dag.as_str(), &run.run_id),
            crate::http::encode(name)
        );
        let _ = write!(
            out,
            "<td class=\"cell\"><a class=\"{state}\" href=\"{href}\" title=\"group {name} · {state} · {done} of {count} succeeded\">{done}/{count}</a></td>",
            href = escape(&href),
            name = escape(name),
        );
    }
    out.push_str("</tr>");
}

/// The grid as HTML (the page's body without the frame): `expand` names
/// the mapped task drawn one row per instance, `open` the group drawn one
/// row per task.
pub fn render(grid: &DagGrid, expand: Option<&str>, open: Option<&str>) -> String {
    let spec = &grid.spec;
    let dag = spec.id.as_str();
    let tz = spec.schedule.tz();
    let bars: Vec<Duration> = grid
        .runs
        .iter()
        .map(|(run, _)| Duration {
            label: run.run_id.clone(),
            seconds: span(run.started_at, run.ended_at).map(|d| d.as_secs_f64()),
            state: run.state.to_string(),
        })
        .collect();
    let mut out = String::from(
        "<section><table class=\"grid\"><thead><tr class=\"durations\"><th class=\"task\">durations \
         <span class=\"muted\">(- - median)</span></th>",
    );
    for drawing in durations(&bars) {
        let _ = write!(out, "<th class=\"cell\">{drawing}</th>");
    }
    out.push_str("</tr><tr class=\"runs\"><th class=\"task\">runs</th>");
    for (run, _) in &grid.runs {
        let _ = write!(out, "<th class=\"cell\">{}</th>", run_square(run, tz));
    }
    // Every few columns (and the newest), the run's logical date.
    out.push_str("</tr><tr class=\"dates\"><th class=\"task muted\">logical date</th>");
    let last = grid.runs.len().saturating_sub(1);
    for (column, (run, _)) in grid.runs.iter().enumerate() {
        let dated = column % DATE_EVERY == 0 || column == last;
        let shown = match dated {
            true => run
                .logical_date
                .with_timezone(&tz)
                .format("%m-%d %H:%M")
                .to_string(),
            false => String::new(),
        };
        let _ = write!(out, "<th class=\"cell date\"><span>{shown}</span></th>");
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows(grid, open) {
        let (task, member) = match row {
            Row::Group { name, tasks, open } => {
                group_row(&mut out, grid, &name, &tasks, open);
                continue;
            }
            Row::Task { id, member } => (id, member),
        };
        let widest = grid
            .runs
            .iter()
            .flat_map(|(_, instances)| instances.iter())
            .filter(|i| i.key.task_id.as_str() == task && i.key.map_index.is_none())
            .filter_map(|i| i.map_count)
            .max();
        let expanded = expand == Some(task.as_str());
        let name = match widest {
            Some(_) if expanded => format!(
                "{} <a href=\"{}\" title=\"collapse\">▾</a>",
                escape(&task),
                escape(&dag_path(dag))
            ),
            Some(_) => format!(
                "{} <a href=\"{}?expand={}\" title=\"one row per instance\">▸</a>",
                escape(&task),
                escape(&dag_path(dag)),
                crate::http::encode(&task)
            ),
            None => escape(&task),
        };
        let marks = spec
            .task(&task)
            .map(updraft_core::spec::task_marks)
            .filter(|m| !m.is_empty())
            .map(|m| {
                format!(
                    " <small class=\"muted marks\">{}</small>",
                    escape(&m.join(", "))
                )
            })
            .unwrap_or_default();
        let indent = if member { "&nbsp;&nbsp;" } else { "" };
        let _ = write!(
            out,
            "<tr data-task=\"{}\"><th class=\"task\">{indent}{name}{marks}</th>",
            escape(&task)
        );
        for run in 0..grid.runs.len() {
            out.push_str(&cell(grid, run, &task, None));
        }
        out.push_str("</tr>");
        if let (true, Some(widest)) = (expanded, widest) {
            for index in 0..widest.min(MAX_EXPANDED) {
                let _ = write!(
                    out,
                    "<tr data-task=\"{t}[{index}]\"><th class=\"task muted\">&nbsp;&nbsp;{t}[{index}]</th>",
                    t = escape(&task)
                );
                for run in 0..grid.runs.len() {
                    out.push_str(&cell(grid, run, &task, Some(index)));
                }
                out.push_str("</tr>");
            }
            if widest > MAX_EXPANDED {
                let _ = write!(
                    out,
                    "<tr><td colspan=\"{}\" class=\"muted\">{} more instances: see each run's page</td></tr>",
                    grid.runs.len() + 1,
                    widest - MAX_EXPANDED
                );
            }
        }
    }
    out.push_str("</tbody></table></section>");
    if let Some((last, _)) = grid.runs.last() {
        let _ = write!(
            out,
            "<p class=\"muted\">newest: {} at {}</p>",
            escape(&last.run_id),
            time(last.logical_date, tz)
        );
    }
    out
}

/// `/dags/{dag}`.
pub(crate) async fn page_of(
    engine: &Engine,
    dag: &str,
    request: &Request,
    actions: &str,
) -> Response {
    let count = request
        .param("runs")
        .and_then(|n| n.parse().ok())
        .unwrap_or(GRID_RUNS)
        .clamp(1, MAX_GRID_RUNS);
    let grid = match engine.dag_grid(dag, count).await {
        Ok(grid) => grid,
        Err(e) => return crate::failure(&e),
    };
    let spec = &grid.spec;
    let live = grid.runs.iter().any(|(run, _)| !run.state.is_terminal());
    let body = format!(
        "<h1>{dag}</h1><p class=\"muted\">{description}</p>{actions}{grid}",
        dag = escape(dag),
        description = escape(spec.description.as_deref().unwrap_or_default()),
        grid = render(&grid, request.param("expand"), request.param("group")),
    );
    Response::html(page(dag, &body, live))
}
