//! The planner: a run's state in, the transitions it needs out (DESIGN §5).
//!
//! [`plan`] decides readiness by trigger rule, releases retries whose time
//! has come, fails tries past their timeout, propagates `upstream_failed`
//! and `skipped` down the graph in one pass, and ends the run. It reads
//! nothing but its arguments and changes nothing: the caller applies each
//! transition as a compare-and-set.

mod lifecycle;
mod rerun;
mod trigger;

use chrono::{DateTime, Duration, Utc};

use crate::spec::DagSpec;
use crate::state::{
    Run, RunState, RunTransition, TaskInstance, TaskKey, TaskState, TaskTransition, Transition,
};

pub use lifecycle::{Outcome, complete, mark, mark_running, requeue, start_launch};
pub use rerun::{Rerun, RerunError, rerun};
pub use trigger::{Decision, UpstreamCounts, decide};

/// The task instances a new run starts with: one pending instance per task.
pub fn initial_instances(spec: &DagSpec) -> Vec<TaskInstance> {
    spec.tasks
        .iter()
        .map(|task| TaskInstance::pending(TaskKey::task(task.id.clone())))
        .collect()
}

/// Plans one run. `instances` are all of the run's task instances; every
/// task of `spec` must have one (see [`initial_instances`]).
///
/// Each instance gets at most one transition, expecting the state and try
/// it has in `instances`. Task transitions come first; the run's own
/// transition, if any, comes last and holds only if they all applied.
pub fn plan(
    spec: &DagSpec,
    run: &Run,
    instances: &[TaskInstance],
    now: DateTime<Utc>,
) -> Vec<Transition> {
    if run.state.is_terminal() {
        return Vec::new();
    }
    let by_task = group_by_task(spec, instances);
    let mut state: Vec<TaskState> = instances.iter().map(|i| i.state).collect();
    let mut out = Vec::new();

    for (i, instance) in instances.iter().enumerate() {
        let Some(task) = spec.task(instance.key.task_id.as_str()) else {
            continue;
        };
        match instance.state {
            TaskState::RetryWait if instance.retry_at.is_none_or(|at| at <= now) => {
                out.push(Transition::Task(lifecycle::queue(instance, now)));
                state[i] = TaskState::Queued;
            }
            TaskState::Running => {
                let deadline = task
                    .timeout
                    .zip(instance.started_at)
                    .map(|(t, s)| s + to_delta(t));
                if deadline.is_some_and(|d| d <= now) {
                    let timeout = task
                        .timeout
                        .map(crate::duration::format_duration)
                        .unwrap_or_default();
                    let outcome = Outcome::Failed {
                        reason: format!("timed out after {timeout}"),
                    };
                    let mut change = lifecycle::finish(task, instance, outcome, now);
                    change.stop_attempt = true;
                    state[i] = change.next.state;
                    out.push(Transition::Task(change));
                }
            }
            _ => {}
        }
    }

    for &task_index in spec.topological_order() {
        let task = &spec.tasks[task_index];
        let mut counts = UpstreamCounts::default();
        for &up in &task.upstream {
            by_task[up].iter().for_each(|&i| counts.add(state[i]));
        }
        for &i in &by_task[task_index] {
            if state[i] != TaskState::Pending {
                continue;
            }
            let instance = &instances[i];
            let change = match decide(task.trigger_rule, counts) {
                Decision::Wait => continue,
                Decision::Run => lifecycle::queue(instance, now),
                Decision::Skip => lifecycle::settle(
                    instance,
                    TaskState::Skipped,
                    "its trigger rule can no longer hold: upstream tasks were skipped",
                    now,
                ),
                Decision::UpstreamFailed => lifecycle::settle(
                    instance,
                    TaskState::UpstreamFailed,
                    "an upstream task failed",
                    now,
                ),
            };
            state[i] = change.next.state;
            out.push(Transition::Task(change));
        }
    }

    let every_task_has_an_instance = by_task.iter().all(|list| !list.is_empty());
    let run_state = if every_task_has_an_instance && state.iter().all(|s| s.is_terminal()) {
        if state
            .iter()
            .all(|s| matches!(s, TaskState::Succeeded | TaskState::Skipped))
        {
            RunState::Succeeded
        } else {
            RunState::Failed
        }
    } else {
        RunState::Running
    };
    if run_state != run.state {
        let mut next = run.clone();
        next.state = run_state;
        next.started_at = next.started_at.or(Some(now));
        if run_state.is_terminal() {
            next.ended_at = Some(now);
        }
        out.push(Transition::Run(RunTransition {
            expect_state: run.state,
            next,
        }));
    }
    out
}

/// The next time planning this run could change something by itself: the
/// earliest retry or timeout. `None` if only an event can.
pub fn next_wakeup(spec: &DagSpec, instances: &[TaskInstance]) -> Option<DateTime<Utc>> {
    instances
        .iter()
        .filter_map(|instance| match instance.state {
            TaskState::RetryWait => instance.retry_at,
            TaskState::Running => {
                let timeout = spec.task(instance.key.task_id.as_str())?.timeout?;
                Some(instance.started_at? + to_delta(timeout))
            }
            _ => None,
        })
        .min()
}

/// For each task index, the positions of its instances in `instances`.
fn group_by_task(spec: &DagSpec, instances: &[TaskInstance]) -> Vec<Vec<usize>> {
    let mut by_task = vec![Vec::new(); spec.tasks.len()];
    for (i, instance) in instances.iter().enumerate() {
        if let Some(t) = spec.task_index(instance.key.task_id.as_str()) {
            by_task[t].push(i);
        }
    }
    by_task
}

pub(crate) fn to_delta(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

/// Applies a transition to a snapshot of instances as a store would, for
/// tests and the in-memory store: only if the expected state and try hold.
pub fn apply(instances: &mut [TaskInstance], change: &TaskTransition) -> bool {
    match instances.iter_mut().find(|i| i.key == change.next.key) {
        Some(current)
            if current.state == change.expect_state && current.try_number == change.expect_try =>
        {
            *current = change.next.clone();
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
