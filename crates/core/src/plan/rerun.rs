//! Rerun ("clear"): put chosen task instances of a run back to `pending`,
//! from any state of the run, so the planner runs them again. Try counters
//! and the attempt history are kept: the next try of a cleared instance is
//! its old try plus one.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::ids::TaskId;
use crate::plan::reopen;
use crate::spec::DagSpec;
use crate::state::{Run, RunTransition, TaskInstance, TaskState, TaskTransition, Transition};

/// What to rerun.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rerun {
    /// The tasks named; empty means every task.
    pub tasks: Vec<TaskId>,
    /// Only this mapped instance of the named tasks.
    pub map_index: Option<u32>,
    /// Also every task downstream of them.
    pub downstream: bool,
    /// Also every task upstream of them.
    pub upstream: bool,
    /// Only instances that failed or could not run because of a failure.
    pub only_failed: bool,
}

/// Why a rerun cannot be planned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RerunError {
    /// A named task is not in the run's spec version.
    #[error("run `{run_id}` has no task `{task}` (its spec version has: {known})")]
    UnknownTask {
        /// The run.
        run_id: String,
        /// The name given.
        task: String,
        /// The tasks it does have.
        known: String,
    },
}

/// The transitions that clear the chosen instances and reopen the run.
/// Instances still pending are left alone; an attempt in flight is stopped.
pub fn rerun(
    spec: &DagSpec,
    run: &Run,
    instances: &[TaskInstance],
    request: &Rerun,
    now: DateTime<Utc>,
) -> Result<Vec<Transition>, RerunError> {
    let named = request
        .tasks
        .iter()
        .map(|id| {
            spec.task_index(id.as_str())
                .ok_or_else(|| RerunError::UnknownTask {
                    run_id: run.run_id.clone(),
                    task: id.to_string(),
                    known: spec
                        .tasks
                        .iter()
                        .map(|t| t.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        })
        .collect::<Result<BTreeSet<usize>, _>>()?;
    let mut chosen = if request.tasks.is_empty() {
        (0..spec.tasks.len()).collect()
    } else {
        named.clone()
    };
    if request.downstream {
        chosen.extend(reachable(&named, |t| spec.downstream_of(t)));
    }
    if request.upstream {
        chosen.extend(reachable(&named, |t| &spec.tasks[t].upstream));
    }
    chosen.extend(setups_and_teardowns(spec, &chosen));

    let mut out = Vec::new();
    for instance in instances {
        let Some(task) = spec.task_index(instance.key.task_id.as_str()) else {
            continue;
        };
        let only_this_index = request.map_index.is_some() && named.contains(&task);
        let selected = chosen.contains(&task)
            && (!only_this_index || instance.key.map_index == request.map_index)
            && (!request.only_failed
                || matches!(
                    instance.state,
                    TaskState::Failed | TaskState::UpstreamFailed
                ))
            && instance.state != TaskState::Pending;
        if !selected {
            continue;
        }
        let mut next = instance.clone();
        next.state = TaskState::Pending;
        next.retry_at = None;
        next.queued_at = None;
        next.started_at = None;
        next.ended_at = None;
        next.reason = None;
        let mut change = TaskTransition::new(instance, next);
        change.stop_attempt = instance.state.is_active();
        out.push(Transition::Task(change));
    }
    if !out.is_empty() && run.state.is_terminal() {
        let mut next = run.clone();
        reopen(&mut next, now);
        out.push(Transition::Run(RunTransition {
            expect_state: run.state,
            next,
        }));
    }
    Ok(out)
}

/// Every task reachable from `from` by `edges`, `from` excluded.
/// The setups and teardown of every teardown whose scope (the tasks after
/// its setups and before it) holds a chosen task: rerunning work inside a
/// scope sets it up and tears it down again.
fn setups_and_teardowns(spec: &DagSpec, chosen: &BTreeSet<usize>) -> BTreeSet<usize> {
    let mut more = BTreeSet::new();
    for (t, task) in spec.tasks.iter().enumerate() {
        let setups: BTreeSet<usize> = task
            .teardown_of
            .iter()
            .filter_map(|s| spec.task_index(s.as_str()))
            .collect();
        if setups.is_empty() {
            continue;
        }
        let after_setups = reachable(&setups, |s| spec.downstream_of(s));
        let before_teardown = reachable(&BTreeSet::from([t]), |u| &spec.tasks[u].upstream);
        let touched = chosen
            .iter()
            .any(|c| after_setups.contains(c) && before_teardown.contains(c));
        if touched {
            more.extend(setups);
            more.insert(t);
        }
    }
    more
}

fn reachable<'a>(from: &BTreeSet<usize>, edges: impl Fn(usize) -> &'a [usize]) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<usize> = from.iter().copied().collect();
    while let Some(task) = stack.pop() {
        for &next in edges(task) {
            if seen.insert(next) {
                stack.push(next);
            }
        }
    }
    seen
}
