//! One task alone, outside any run (`updraft render`, `updraft test`): the
//! run a logical date would make, and the task rendered for it exactly as a
//! dispatcher would render it. Nothing is read from or written to a store;
//! upstream outputs are what the caller brings.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use updraft_core::plan::map_items;
use updraft_core::spec::{DagSpec, check_params};
use updraft_core::state::{Run, RunKind, TaskKey, run_id};
use updraft_core::template::RenderedTask;

use super::RunRequest;
use super::backfill::date_range;
use super::dispatch::render_try;
use super::manual_run::queued_run;
use crate::{EngineError, EngineResult};

/// Which task to render, for which run.
#[derive(Clone, Debug, Default)]
pub struct TaskPreviewRequest {
    /// The task.
    pub task: String,
    /// The logical date (`2026-11-21`, or a date-time taken as that
    /// instant); none: a manual run now.
    pub date: Option<String>,
    /// Params over the spec's, as a trigger gives them.
    pub params: Map<String, Value>,
    /// Upstream outputs by task id, as a run would have them.
    pub outputs: Map<String, Value>,
    /// Which instance of a mapped task (default the first).
    pub map_index: Option<u32>,
}

/// A task rendered for one run.
#[derive(Clone, Debug)]
pub struct TaskPreview {
    /// The run the date makes (never stored).
    pub run: Run,
    /// The task instance: the task, and its map index if it is mapped.
    pub key: TaskKey,
    /// How long a try of it may run.
    pub timeout: Option<Duration>,
    /// The instance and how many the mapped task has, if it is mapped.
    pub mapped: Option<(u32, usize)>,
    /// The mapped instance's item.
    pub item: Option<Value>,
    /// Command, environment, image and hyperparameters.
    pub rendered: RenderedTask,
    /// Artifact URIs a succeeded try would produce.
    pub produces: Vec<String>,
    /// Artifact URIs a succeeded try would consume.
    pub consumes: Vec<String>,
}

/// Renders one task of `spec` for the run `request.date` makes, as of
/// `now`. The run is the schedule point on that local date (the first, if
/// there are several), as `backfill --from D --to D` would make it; a date
/// without a point makes a manual run at that instant.
pub fn preview_task(
    spec: &DagSpec,
    request: &TaskPreviewRequest,
    now: DateTime<Utc>,
) -> EngineResult<TaskPreview> {
    let task = spec.task(&request.task).ok_or_else(|| {
        let known: Vec<&str> = spec.tasks.iter().map(|t| t.id.as_str()).collect();
        EngineError::not_found(format!(
            "DAG `{}` has no task `{}`; its tasks: {}",
            spec.id,
            request.task,
            known.join(", ")
        ))
    })?;
    let tz = spec.schedule.tz();
    let (kind, timing) = match &request.date {
        None => (RunKind::Manual, spec.schedule.run_for_trigger(now)),
        Some(date) => {
            let (from, to) = date_range(date, date, tz)?;
            match spec.schedule.backfill_points(from, to).next() {
                Some(point) => (RunKind::Scheduled, spec.schedule.run_for_point(point)),
                None => (
                    RunKind::Manual,
                    spec.schedule.run_for_trigger(from.first_instant(tz)),
                ),
            }
        }
    };
    let overrides = RunRequest {
        params: request.params.clone(),
        ..RunRequest::by("")
    };
    let run = queued_run(
        spec,
        kind,
        run_id(kind, timing.logical_date, tz),
        timing,
        overrides,
        now,
    );
    check_params(&spec.param_rules, &run.params).map_err(EngineError::refused)?;
    let (mapped, item) = match &task.map_over {
        None => (None, None),
        Some(map_over) => {
            let items = map_items(spec, &run, task, map_over, &request.outputs).map_err(|why| {
                EngineError::refused(format!("task `{}` map_over: {why}", task.id))
            })?;
            let index = request.map_index.unwrap_or(0);
            let item = items.get(index as usize).cloned().ok_or_else(|| {
                EngineError::invalid(
                    "map_index",
                    format!(
                        "task `{}` maps over {} items; there is no item {index}",
                        task.id,
                        items.len()
                    ),
                )
            })?;
            (Some((index, items.len())), Some(item))
        }
    };
    let (rendered, produces, consumes) =
        render_try(spec, &run, task, item.as_ref(), &request.outputs, 1)
            .map_err(EngineError::refused)?;
    Ok(TaskPreview {
        run,
        key: TaskKey {
            task_id: task.id.clone(),
            map_index: mapped.map(|(index, _)| index),
        },
        timeout: task.timeout,
        mapped,
        item,
        rendered,
        produces,
        consumes,
    })
}
