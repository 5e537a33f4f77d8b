//! Expanding a mapped task: render its `map_over` list once its upstreams
//! allow it to run, then one instance per item. An empty list skips the
//! task; a list longer than `max_map` fails it, naming the bound.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::lifecycle::settle;
use super::outputs::outputs_of;
use crate::spec::{DagSpec, MapOver, TaskSpec};
use crate::state::{Run, TaskInstance, TaskKey, TaskState, TaskTransition, Transition};
use crate::template::{Renderer, TemplateVars};

/// The transitions that expand `main` (the instance standing for the whole
/// mapped task): creates for missing mapped instances, item updates for
/// ones a rerun left pending, then `main → mapped`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn expand(
    spec: &DagSpec,
    run: &Run,
    task: &TaskSpec,
    map_over: &MapOver,
    main: &TaskInstance,
    instances: &[TaskInstance],
    children: &BTreeMap<u32, usize>,
    now: DateTime<Utc>,
) -> Vec<Transition> {
    let items = match map_items(spec, run, task, map_over, &outputs_of(spec, instances)) {
        Ok(items) => items,
        Err(why) => {
            return vec![Transition::Task(fail(
                main,
                &format!("map_over: {why}"),
                now,
            ))];
        }
    };
    if items.len() > task.max_map as usize {
        let why = format!(
            "map_over gave {} items, more than max_map ({})",
            items.len(),
            task.max_map
        );
        return vec![Transition::Task(fail(main, &why, now))];
    }
    if items.is_empty() {
        return vec![Transition::Task(settle(
            main,
            TaskState::Skipped,
            "map_over gave an empty list",
            now,
        ))];
    }
    let count = items.len() as u32;
    let mut out = Vec::with_capacity(items.len() + 1);
    for (index, item) in items.into_iter().enumerate() {
        let index = index as u32;
        match children.get(&index).map(|&i| &instances[i]) {
            None => {
                let mut child = TaskInstance::pending(TaskKey {
                    task_id: task.id.clone(),
                    map_index: Some(index),
                });
                child.item = Some(item);
                out.push(Transition::Create(child));
            }
            Some(child)
                if child.state == TaskState::Pending && child.item.as_ref() != Some(&item) =>
            {
                let mut next = child.clone();
                next.item = Some(item);
                out.push(Transition::Task(TaskTransition::new(child, next)));
            }
            Some(_) => {}
        }
    }
    let mut next = main.clone();
    next.state = TaskState::Mapped;
    next.map_count = Some(count);
    next.ended_at = Some(now);
    next.reason = None;
    out.push(Transition::Task(TaskTransition::new(main, next)));
    out
}

fn fail(main: &TaskInstance, why: &str, now: DateTime<Utc>) -> TaskTransition {
    settle(main, TaskState::Failed, why, now)
}

/// The list a mapped task maps over, rendered with the run's params and
/// its upstreams' outputs (by task id).
pub fn map_items(
    spec: &DagSpec,
    run: &Run,
    task: &TaskSpec,
    map_over: &MapOver,
    outputs: &serde_json::Map<String, Value>,
) -> Result<Vec<Value>, String> {
    let source = match map_over {
        MapOver::Items(items) => return Ok(items.clone()),
        MapOver::Template(source) => source,
    };
    let vars = TemplateVars {
        dag: run.dag.as_str(),
        run_id: &run.run_id,
        task_id: task.id.as_str(),
        try_number: 1,
        timing: run.timing(),
        tz: spec.schedule.tz(),
        params: &run.params,
        outputs,
        item: None,
        trigger: None,
    };
    Renderer::new(&vars).render_list(source)
}
