//! A DAG's grid: its latest runs as columns (newest right) and its tasks as
//! rows, a mapped task summed up in one row (expandable), and above it the
//! durations of those runs with their median.

use std::fmt::Write;

use updraft_core::state::{TaskInstance, TaskState};
use updraft_engine::Engine;
use updraft_engine::usecase::DagGrid;

use crate::html::{dag_path, escape, page, run_square, task_letter, task_path, time};
use crate::svg::{Duration, durations};
use crate::{Request, Response};
use updraft_engine::json::span;

/// How many runs the grid shows unless asked for another count.
pub const GRID_RUNS: usize = 25;
/// The most runs a grid shows.
const MAX_GRID_RUNS: usize = 100;
/// The most instance rows an expanded mapped task shows.
const MAX_EXPANDED: u32 = 100;

/// The most telling state of a mapped task's instances, and how many ended
/// well, of how many.
pub fn summed_up(instances: &[TaskInstance], main: &TaskInstance) -> (TaskState, u32, u32) {
    let count = main.map_count.unwrap_or(0);
    let children = instances.iter().filter(|i| {
        i.key.task_id == main.key.task_id && i.key.map_index.is_some_and(|m| m < count)
    });
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
    for child in children {
        if child.state == TaskState::Succeeded {
            done += 1;
        }
        if rank(child.state) < rank(worst) {
            worst = child.state;
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
        (
            instance.state,
            task_letter(instance.state).to_string(),
            format!("try {}", instance.try_number),
        )
    };
    format!(
        "<td class=\"cell\"><a class=\"{state}\" href=\"{href}\" title=\"{task}{index} · {state} · {title}\">{text}</a></td>",
        href = escape(&task_path(run.dag.as_str(), &run.run_id, task, map_index)),
        task = escape(task),
        index = map_index.map(|i| format!("[{i}]")).unwrap_or_default(),
    )
}

/// The grid's rows: the current spec's tasks in order, then tasks only
/// older runs have.
fn row_tasks(grid: &DagGrid) -> Vec<String> {
    let spec = &grid.spec;
    let mut tasks: Vec<String> = spec
        .topological_order()
        .iter()
        .map(|&t| spec.tasks[t].id.to_string())
        .collect();
    for (_, instances) in &grid.runs {
        for instance in instances {
            let id = instance.key.task_id.as_str();
            if !tasks.iter().any(|t| t == id) {
                tasks.push(id.to_string());
            }
        }
    }
    tasks
}

/// The grid as HTML (the page's body without the frame).
pub fn render(grid: &DagGrid, expand: Option<&str>) -> String {
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
    out.push_str("</tr><tr><th class=\"task\">task</th>");
    for (run, _) in &grid.runs {
        let _ = write!(out, "<th class=\"cell\">{}</th>", run_square(run, tz));
    }
    out.push_str("</tr></thead><tbody>");
    for task in row_tasks(grid) {
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
        let _ = write!(
            out,
            "<tr data-task=\"{}\"><th class=\"task\">{name}{marks}</th>",
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
        grid = render(&grid, request.param("expand")),
    );
    Response::html(page(dag, &body, live))
}
