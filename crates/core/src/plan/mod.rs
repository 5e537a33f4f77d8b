//! The planner: a run's state in, the transitions it needs out (docs/architecture.md, "The state machine").
//!
//! [`plan`] decides readiness by trigger rule, releases retries whose time
//! has come, fails tries past their timeout (and the whole run past its
//! `run_timeout`), propagates `upstream_failed`
//! and `skipped` down the graph in one pass, and ends the run. It reads
//! nothing but its arguments and changes nothing: the caller applies each
//! transition as a compare-and-set.

mod control;
mod end;
mod lifecycle;
mod mapping;
mod outputs;
mod rerun;
mod trigger;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};

use crate::plan::control::{Circuits, Verdict};
use crate::spec::{DagSpec, TaskSpec};
use crate::state::{
    Run, RunKind, RunState, RunTransition, TaskInstance, TaskKey, TaskState, TaskTransition,
    Transition,
};

pub use control::check_branch;
pub use end::{end_run, reopen, run_deadline};
pub use lifecycle::{
    Outcome, abandon, complete, mark, mark_running, outcome_of, requeue, start_launch, wait_more,
};
pub use mapping::map_items;
pub use outputs::{
    MAX_METRICS, MAX_OUTPUT_BYTES, artifact_extras, output_artifacts, output_metrics, outputs_of,
    parse_output, run_metrics,
};
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
/// it has in `instances`. Mapped instances to create come as
/// [`Transition::Create`] before the transition that expands their task;
/// the run's own transition, if any, comes last and holds only if all the
/// others applied.
pub fn plan(
    spec: &DagSpec,
    run: &Run,
    instances: &[TaskInstance],
    now: DateTime<Utc>,
) -> Vec<Transition> {
    plan_after(spec, run, instances, &Past::default(), now)
}

/// How the run before this one (by logical date) left the tasks that say
/// `depends_on_past`: a task with no entry had no run before it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Past(pub HashMap<String, TaskState>);

impl Past {
    /// Whether a `depends_on_past` task may run: the same task of the run
    /// before succeeded or was skipped, or there was none.
    fn allows(&self, task: &TaskSpec) -> bool {
        !task.depends_on_past
            || self
                .0
                .get(task.id.as_str())
                .is_none_or(|s| matches!(s, TaskState::Succeeded | TaskState::Skipped))
    }
}

/// [`plan`], with how the run before left its `depends_on_past` tasks.
pub fn plan_after(
    spec: &DagSpec,
    run: &Run,
    instances: &[TaskInstance],
    past: &Past,
    now: DateTime<Utc>,
) -> Vec<Transition> {
    if run.state.is_terminal() {
        return Vec::new();
    }
    let mut out = match run_deadline(spec, run) {
        Some((deadline, reason)) if deadline <= now => {
            end_run(run, instances, RunState::Failed, &reason, now)
        }
        _ => plan_tasks(spec, run, instances, past, now),
    };
    if let Some(limit) = spec.max_active_tasks_per_run {
        hold_back_past(limit, spec, instances, &mut out);
    }
    note_missed_sla(spec, run, now, &mut out);
    out
}

/// Keeps at most `limit` tries of the run queued or running: the tries the
/// plan would queue past it stay where they are (highest `priority` goes
/// first, then file order) and are queued by a later plan, when others end.
fn hold_back_past(
    limit: u32,
    spec: &DagSpec,
    instances: &[TaskInstance],
    out: &mut Vec<Transition>,
) {
    let active = |state: TaskState| {
        matches!(
            state,
            TaskState::Queued | TaskState::Launching | TaskState::Running
        )
    };
    let running = instances.iter().filter(|i| active(i.state)).count();
    let mut room = (limit as usize).saturating_sub(running);
    let priority = |t: &TaskTransition| {
        spec.task(t.next.key.task_id.as_str())
            .map_or(0, |task| task.priority)
    };
    let mut queued: Vec<(usize, i32)> = out
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t {
            Transition::Task(t) if t.next.state == TaskState::Queued && !active(t.expect_state) => {
                Some((i, priority(t)))
            }
            _ => None,
        })
        .collect();
    queued.sort_by_key(|&(i, priority)| (std::cmp::Reverse(priority), i));
    let mut held = Vec::new();
    for (i, _) in queued {
        match room {
            0 => held.push(i),
            _ => room -= 1,
        }
    }
    held.sort_unstable();
    for i in held.into_iter().rev() {
        out.remove(i);
    }
}

/// When a running try runs out of its task's `timeout` (none without
/// one): the planner fails it then, and `updraft doctor` calls it stuck
/// once the planner has had time to.
pub fn try_deadline(task: &TaskSpec, instance: &TaskInstance) -> Option<DateTime<Utc>> {
    task.timeout
        .zip(instance.started_at)
        .map(|(t, s)| s + to_delta(t))
}

/// When a run should have succeeded by under its DAG's `sla`: its data
/// interval's end plus the `sla`.
pub fn sla_deadline(spec: &DagSpec, run: &Run) -> Option<DateTime<Utc>> {
    Some(run.data_interval_end + to_delta(spec.sla?))
}

/// A run still going at its `sla` deadline is noted as having missed it,
/// once: with the run's own change in this plan, or alone.
fn note_missed_sla(spec: &DagSpec, run: &Run, now: DateTime<Utc>, out: &mut Vec<Transition>) {
    let Some(missed) = missed_sla(spec, run, now) else {
        return;
    };
    let own = out.iter_mut().find_map(|t| match t {
        Transition::Run(change) => Some(change),
        _ => None,
    });
    match own {
        Some(change) => change.next.deadline_missed_at = missed.next.deadline_missed_at,
        None => out.push(Transition::Run(missed)),
    }
}

/// The change noting that a run not ended has missed its `sla` deadline
/// by `now`, unless it was noted before: for a plan, and for a run still
/// queued (waiting for `max_active_runs`), which is not planned.
pub fn missed_sla(spec: &DagSpec, run: &Run, now: DateTime<Utc>) -> Option<RunTransition> {
    if run.state.is_terminal()
        || run.deadline_missed_at.is_some()
        || sla_deadline(spec, run).is_none_or(|d| d > now)
    {
        return None;
    }
    let mut next = run.clone();
    next.deadline_missed_at = Some(now);
    Some(RunTransition {
        expect_state: run.state,
        next,
    })
}

/// The next try of a task: queued for a worker, or, for a sensor, an
/// approval or a `trigger_dag` task, waiting at once (it needs none).
fn start(task: &TaskSpec, instance: &TaskInstance, now: DateTime<Utc>) -> TaskTransition {
    match (&task.wait_for, &task.approval, &task.trigger_dag) {
        (Some(wait), _, _) => lifecycle::wait(instance, wait, now),
        (None, Some(approval), _) => lifecycle::ask(instance, approval, now),
        (None, None, Some(child)) => lifecycle::start_child(instance, child, now),
        (None, None, None) => lifecycle::queue(instance, now),
    }
}

/// A teardown's decision: it runs once every task before it ended,
/// whatever their state, if its setups succeeded; a failed setup makes it
/// `upstream_failed`, a skipped one `skipped` (as Airflow's teardowns).
fn tear_down(
    spec: &DagSpec,
    task: &TaskSpec,
    main: &[Option<usize>],
    state: &[TaskState],
    counts: UpstreamCounts,
) -> Decision {
    let setups: Vec<TaskState> = task
        .teardown_of
        .iter()
        .filter_map(|s| main[spec.task_index(s.as_str())?])
        .map(|i| state[i])
        .collect();
    if setups
        .iter()
        .any(|s| matches!(s, TaskState::Failed | TaskState::UpstreamFailed))
    {
        return Decision::UpstreamFailed;
    }
    if setups.contains(&TaskState::Skipped) {
        return Decision::Skip;
    }
    match counts.done == counts.total {
        true => Decision::Run,
        false => Decision::Wait,
    }
}

/// When a waiting sensor or approval gives up (`None` for what waits
/// without a timeout of its own: a child run).
fn waiting_deadline(task: &TaskSpec, instance: &TaskInstance) -> Option<DateTime<Utc>> {
    let timeout = match (&task.approval, &task.wait_for) {
        (Some(approval), _) => approval.timeout,
        (None, Some(wait)) => wait.timeout,
        (None, None) => return None,
    };
    Some(instance.started_at? + to_delta(timeout))
}

/// Why a `latest_only` task is skipped.
const NOT_LATEST: &str = "latest_only: not the latest scheduled run";

/// Whether a run is its DAG's latest scheduled one at `now`: its schedule
/// point has passed and the next has not (as Airflow's LatestOnlyOperator
/// judges). A run made by hand or by a trigger always is.
pub fn is_latest(spec: &DagSpec, run: &Run, now: DateTime<Utc>) -> bool {
    match run.kind {
        RunKind::Manual | RunKind::Triggered => true,
        RunKind::Scheduled | RunKind::Backfill => {
            run.data_interval_end <= now
                && spec
                    .schedule
                    .next_after(run.data_interval_end)
                    .is_none_or(|next| now < next)
        }
    }
}

/// The plan of a run that has not run out of time: what its tasks do next,
/// and its own change.
fn plan_tasks(
    spec: &DagSpec,
    run: &Run,
    instances: &[TaskInstance],
    past: &Past,
    now: DateTime<Utc>,
) -> Vec<Transition> {
    let slots = Slots::new(spec, instances);
    let mut state: Vec<TaskState> = instances.iter().map(|i| i.state).collect();
    let mut map_count: Vec<Option<u32>> = instances.iter().map(|i| i.map_count).collect();
    let mut out = Vec::new();
    // Outputs this plan gives, seen by the tasks after them in it.
    let mut fresh = HashMap::new();

    for (i, instance) in instances.iter().enumerate() {
        let Some(task) = spec.task(instance.key.task_id.as_str()) else {
            continue;
        };
        match instance.state {
            // Mapped instances under max_parallel are released below, as room allows.
            TaskState::RetryWait
                if instance.key.map_index.is_some() && task.max_parallel.is_some() => {}
            TaskState::RetryWait if instance.retry_at.is_none_or(|at| at <= now) => {
                let change = start(task, instance, now);
                state[i] = change.next.state;
                out.push(Transition::Task(change));
            }
            TaskState::Waiting if waiting_deadline(task, instance).is_some_and(|d| d <= now) => {
                let change = match (&task.approval, &task.wait_for) {
                    (Some(approval), _) => {
                        lifecycle::decide_by_timeout(task, instance, approval, now)
                    }
                    (None, Some(wait)) => {
                        let reason = format!(
                            "waited {} for {}",
                            crate::duration::format_duration(wait.timeout),
                            wait.condition.describe()
                        );
                        lifecycle::give_up_waiting(instance, wait.soft_fail, reason, now)
                    }
                    (None, None) => continue,
                };
                state[i] = change.next.state;
                if let Some(output) = &change.next.output {
                    fresh.insert(i, output.clone());
                }
                out.push(Transition::Task(change));
            }
            TaskState::Running if try_deadline(task, instance).is_some_and(|d| d <= now) => {
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
            _ => {}
        }
    }

    let mut circuits = Circuits::new(spec);
    let latest = is_latest(spec, run, now);
    for &task_index in spec.topological_order() {
        let task = &spec.tasks[task_index];
        let mut counts = UpstreamCounts::default();
        for &up in &task.upstream {
            slots.effective(up, &map_count, &state, |s| counts.add(s));
        }
        let verdict = circuits.verdict(spec, task_index, &slots.main, instances, &state, &fresh);
        let Some(main) = slots.main[task_index] else {
            continue;
        };
        let instance = &instances[main];
        match (&task.map_over, state[main]) {
            (_, TaskState::Pending) => {
                let verdict = match verdict {
                    // Waits for the run before, whatever its rule.
                    Verdict::Free if !past.allows(task) => Verdict::Hold,
                    Verdict::Free if (spec.latest_only || task.latest_only) && !latest => {
                        match decide(task.trigger_rule, counts) {
                            Decision::Run => Verdict::Skip(NOT_LATEST.into()),
                            _ => Verdict::Free,
                        }
                    }
                    verdict => verdict,
                };
                let decision = match &verdict {
                    Verdict::Hold => continue,
                    Verdict::Skip(_) => Decision::Skip,
                    Verdict::Free if !task.teardown_of.is_empty() => {
                        tear_down(spec, task, &slots.main, &state, counts)
                    }
                    Verdict::Free => decide(task.trigger_rule, counts),
                };
                let changes = match (decision, &task.map_over) {
                    (Decision::Wait, _) => continue,
                    (Decision::Run, None) => vec![Transition::Task(start(task, instance, now))],
                    (Decision::Run, Some(map_over)) => mapping::expand(
                        spec,
                        run,
                        task,
                        map_over,
                        instance,
                        instances,
                        &slots.children[task_index],
                        now,
                    ),
                    (Decision::Skip, _) => vec![Transition::Task(lifecycle::settle(
                        instance,
                        TaskState::Skipped,
                        match &verdict {
                            Verdict::Skip(reason) => reason,
                            _ => "its trigger rule can no longer hold: upstream tasks were skipped",
                        },
                        now,
                    ))],
                    (Decision::UpstreamFailed, _) => vec![Transition::Task(lifecycle::settle(
                        instance,
                        TaskState::UpstreamFailed,
                        "an upstream task failed",
                        now,
                    ))],
                };
                for change in &changes {
                    if let Transition::Task(t) = change
                        && t.next.key == instance.key
                    {
                        state[main] = t.next.state;
                        map_count[main] = t.next.map_count;
                    }
                }
                out.extend(changes);
            }
            (Some(_), TaskState::Mapped) => {
                let count = instance.map_count.unwrap_or(0);
                let children: Vec<usize> = slots.children[task_index]
                    .iter()
                    .filter(|(index, _)| **index < count)
                    .map(|(_, &i)| i)
                    .collect();
                let active = children
                    .iter()
                    .filter(|&&i| {
                        matches!(
                            state[i],
                            TaskState::Queued | TaskState::Launching | TaskState::Running
                        )
                    })
                    .count();
                let mut room = task
                    .max_parallel
                    .map_or(usize::MAX, |m| (m as usize).saturating_sub(active));
                for i in children {
                    if room == 0 {
                        break;
                    }
                    let due = match state[i] {
                        TaskState::Pending => true,
                        TaskState::RetryWait => {
                            task.max_parallel.is_some()
                                && instances[i].retry_at.is_none_or(|at| at <= now)
                        }
                        _ => false,
                    };
                    if due {
                        out.push(Transition::Task(lifecycle::queue(&instances[i], now)));
                        state[i] = TaskState::Queued;
                        room -= 1;
                    }
                }
            }
            _ => {}
        }
    }

    let creating = out.iter().any(|t| matches!(t, Transition::Create(_)));
    let mut ended = !creating;
    let mut good = true;
    for (task_index, task) in spec.tasks.iter().enumerate() {
        // A teardown's failure fails the run only if it says so.
        let forgiven = !task.teardown_of.is_empty() && !task.fail_run;
        slots.effective_with_main(task_index, &map_count, &state, |s| {
            ended &= s.is_terminal();
            good &= forgiven || s.is_good_end();
        });
    }
    let run_state = match (ended, good) {
        (true, true) => RunState::Succeeded,
        (true, false) => RunState::Failed,
        (false, _) => RunState::Running,
    };
    // The run's metrics follow its instances: written with a state change,
    // or alone when a task reported new ones.
    let metrics = run_metrics(instances);
    if run_state != run.state || metrics != run.metrics {
        let mut next = run.clone();
        next.state = run_state;
        next.metrics = metrics;
        if run_state != run.state {
            next.started_at = next.started_at.or(Some(now));
            if run_state.is_terminal() {
                next.ended_at = Some(now);
            }
        }
        out.push(Transition::Run(RunTransition {
            expect_state: run.state,
            next,
        }));
    }
    out
}

/// Where each task's instances are in `instances`: the main one (the task
/// itself, or for a mapped task the one that stands for the whole task),
/// and mapped instances by index.
struct Slots {
    main: Vec<Option<usize>>,
    children: Vec<BTreeMap<u32, usize>>,
}

impl Slots {
    fn new(spec: &DagSpec, instances: &[TaskInstance]) -> Slots {
        let mut slots = Slots {
            main: vec![None; spec.tasks.len()],
            children: vec![BTreeMap::new(); spec.tasks.len()],
        };
        for (i, instance) in instances.iter().enumerate() {
            if let Some(t) = spec.task_index(instance.key.task_id.as_str()) {
                match instance.key.map_index {
                    None => slots.main[t] = Some(i),
                    Some(index) => {
                        slots.children[t].insert(index, i);
                    }
                }
            }
        }
        slots
    }

    /// The states a task's downstream sees: a mapped task that expanded
    /// counts as its current mapped instances (a missing one as pending);
    /// any other task as its main instance.
    fn effective(
        &self,
        task: usize,
        map_count: &[Option<u32>],
        state: &[TaskState],
        mut each: impl FnMut(TaskState),
    ) {
        let Some(main) = self.main[task] else {
            each(TaskState::Pending);
            return;
        };
        if state[main] != TaskState::Mapped {
            each(state[main]);
            return;
        }
        for index in 0..map_count[main].unwrap_or(0) {
            each(
                self.children[task]
                    .get(&index)
                    .map_or(TaskState::Pending, |&i| state[i]),
            );
        }
    }

    /// Like [`Slots::effective`], and the main instance itself too.
    fn effective_with_main(
        &self,
        task: usize,
        map_count: &[Option<u32>],
        state: &[TaskState],
        mut each: impl FnMut(TaskState),
    ) {
        if let Some(main) = self.main[task].filter(|&m| state[m] == TaskState::Mapped) {
            each(state[main]);
        }
        self.effective(task, map_count, state, each);
    }
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
            TaskState::Waiting => {
                let task = spec.task(instance.key.task_id.as_str())?;
                match (waiting_deadline(task, instance), instance.poke_at) {
                    (Some(deadline), Some(at)) => Some(deadline.min(at)),
                    (deadline, at) => deadline.or(at),
                }
            }
            _ => None,
        })
        .min()
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
