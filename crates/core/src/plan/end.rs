//! Ending a run before its tasks did: `cancel`, and a DAG's `run_timeout`.

use chrono::{DateTime, Utc};

use crate::plan::to_delta;
use crate::spec::DagSpec;
use crate::state::{
    Run, RunState, RunTransition, TaskInstance, TaskState, TaskTransition, Transition,
};

/// The transitions that end `run` as `state` with `reason`: each try in
/// flight fails and is stopped, each instance still waiting (pending,
/// queued, waiting for a retry) is skipped, and the run ends last, only if
/// all of them applied. Ended instances are left as they are.
pub fn end_run(
    run: &Run,
    instances: &[TaskInstance],
    state: RunState,
    reason: &str,
    now: DateTime<Utc>,
) -> Vec<Transition> {
    let mut out = Vec::new();
    for instance in instances.iter().filter(|i| !i.state.is_terminal()) {
        let mut next = instance.clone();
        next.retry_at = None;
        next.ended_at = Some(now);
        next.reason = Some(reason.to_string());
        next.state = match instance.state.is_active() {
            true => TaskState::Failed,
            false => TaskState::Skipped,
        };
        let mut change = TaskTransition::new(instance, next);
        change.stop_attempt = instance.state.is_active();
        out.push(Transition::Task(change));
    }
    let mut next = run.clone();
    next.state = state;
    next.reason = Some(reason.to_string());
    next.started_at = next.started_at.or(Some(now));
    next.ended_at = Some(now);
    out.push(Transition::Run(RunTransition {
        expect_state: run.state,
        next,
    }));
    out
}

/// An ended run runs again (a rerun, a mark): its `run_timeout` counts
/// from now.
pub fn reopen(run: &mut Run, now: DateTime<Utc>) {
    run.state = RunState::Running;
    run.reason = None;
    run.started_at = Some(now);
    run.ended_at = None;
}

/// When a started run runs out of time under its DAG's `run_timeout`, and
/// the reason it fails with then.
pub fn run_deadline(spec: &DagSpec, run: &Run) -> Option<(DateTime<Utc>, String)> {
    let timeout = spec.run_timeout?;
    let deadline = run.started_at? + to_delta(timeout);
    let reason = format!(
        "the run timed out after {} (run_timeout)",
        crate::duration::format_duration(timeout)
    );
    Some((deadline, reason))
}
