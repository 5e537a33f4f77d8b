//! The life of one task instance: queued, launched, running, finished,
//! retried, marked. Each step is a compare-and-set transition.

use chrono::{DateTime, Utc};

use crate::plan::to_delta;
use crate::spec::{Approval, TaskSpec, TriggerDag, WaitFor};
use crate::state::{TaskInstance, TaskState, TaskTransition};

/// How an attempt ended, as the launcher saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit code 0, or the job completed.
    Succeeded,
    /// Anything else, with the reason people will read.
    Failed {
        /// Exit code, stop reason, failure reason.
        reason: String,
    },
    /// The try said there was nothing to do (it exited with its task's
    /// `skip_exit_code`): not failed, not retried.
    Skipped {
        /// What said so.
        reason: String,
    },
}

/// What a try's end means for its task: a failure with the task's
/// `skip_exit_code` is a skip.
pub fn outcome_of(task: &TaskSpec, outcome: Outcome, exit_code: Option<i32>) -> Outcome {
    match (outcome, exit_code) {
        (Outcome::Failed { .. }, Some(code)) if code == task.skip_exit_code => Outcome::Skipped {
            reason: format!("skipped: exit code {code}"),
        },
        (outcome, _) => outcome,
    }
}

/// Queue the next try. From `pending` it starts a new series of retries;
/// from `retry_wait` it continues the series.
pub(crate) fn queue(instance: &TaskInstance, now: DateTime<Utc>) -> TaskTransition {
    let mut next = instance.clone();
    next.state = TaskState::Queued;
    next.try_number = instance.try_number + 1;
    if instance.state == TaskState::Pending {
        next.first_try = next.try_number;
    }
    next.retry_at = None;
    next.queued_at = Some(now);
    next.started_at = None;
    next.ended_at = None;
    next.launch_began = None;
    TaskTransition::new(instance, next)
}

/// Start the next try of a sensor: `pending|retry_wait → waiting(n+1)`,
/// looked at at once. It needs no worker, so it skips the queue. Its
/// reason says what it waits for and until when, for people.
pub(crate) fn wait(instance: &TaskInstance, wait: &WaitFor, now: DateTime<Utc>) -> TaskTransition {
    let mut change = queue(instance, now);
    change.next.state = TaskState::Waiting;
    change.next.started_at = Some(now);
    change.next.poke_at = Some(now);
    let until = now + to_delta(wait.timeout);
    change.next.reason = Some(format!(
        "waiting for {} until {}",
        wait.condition.describe(),
        until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ));
    change
}

/// Start the next try of an approval: `pending|retry_wait → waiting(n+1)`,
/// until a person decides. Its reason says what is asked and until when.
pub(crate) fn ask(
    instance: &TaskInstance,
    approval: &Approval,
    now: DateTime<Utc>,
) -> TaskTransition {
    let mut change = queue(instance, now);
    change.next.state = TaskState::Waiting;
    change.next.started_at = Some(now);
    let until = now + to_delta(approval.timeout);
    change.next.reason = Some(format!(
        "waiting for a decision: {} ({}) until {}",
        approval.prompt,
        approval.options.join(" / "),
        until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ));
    change
}

/// An approval no one decided in time: its `default` taken, as if given by
/// `timeout`, or failed (unretried) without one.
pub(crate) fn decide_by_timeout(
    task: &TaskSpec,
    instance: &TaskInstance,
    approval: &Approval,
    now: DateTime<Utc>,
) -> TaskTransition {
    let Some(choice) = &approval.default else {
        let reason = format!(
            "no one decided \"{}\" within {}",
            approval.prompt,
            crate::duration::format_duration(approval.timeout)
        );
        return give_up_waiting(instance, false, reason, now);
    };
    let mut change = finish(task, instance, Outcome::Succeeded, now);
    change.next.output = Some(Approval::decision(choice, "timeout", None));
    change
}

/// Start the next try of a `trigger_dag` task: `pending|retry_wait →
/// waiting(n+1)`, looked at at once (it starts the run then).
pub(crate) fn start_child(
    instance: &TaskInstance,
    child: &TriggerDag,
    now: DateTime<Utc>,
) -> TaskTransition {
    let mut change = queue(instance, now);
    change.next.state = TaskState::Waiting;
    change.next.started_at = Some(now);
    change.next.poke_at = Some(now);
    change.next.reason = Some(match child.wait {
        true => format!("waiting for its run of {} to end", child.dag),
        false => format!("starting a run of {}", child.dag),
    });
    change
}

/// A sensor looked at whose condition does not hold yet: `waiting(n) →
/// waiting(n)`, looked at again at `at`. `None` if it moved on.
pub fn wait_more(
    instance: &TaskInstance,
    try_number: u32,
    at: DateTime<Utc>,
) -> Option<TaskTransition> {
    (instance.state == TaskState::Waiting && instance.try_number == try_number).then(|| {
        let mut next = instance.clone();
        next.poke_at = Some(at);
        TaskTransition::new(instance, next)
    })
}

/// A sensor that waited its whole `timeout`: failed, not retried (as
/// Airflow's sensor timeout), or skipped with `soft_fail`.
pub(crate) fn give_up_waiting(
    instance: &TaskInstance,
    soft_fail: bool,
    reason: String,
    now: DateTime<Utc>,
) -> TaskTransition {
    let mut next = instance.clone();
    next.state = match soft_fail {
        true => TaskState::Skipped,
        false => TaskState::Failed,
    };
    next.poke_at = None;
    next.ended_at = Some(now);
    next.reason = Some(reason);
    let mut change = TaskTransition::new(instance, next);
    change.stop_attempt = true;
    change
}

/// End an instance that never ran (skipped, upstream failed).
pub(crate) fn settle(
    instance: &TaskInstance,
    state: TaskState,
    reason: &str,
    now: DateTime<Utc>,
) -> TaskTransition {
    let mut next = instance.clone();
    next.state = state;
    next.ended_at = Some(now);
    next.reason = Some(reason.to_string());
    TaskTransition::new(instance, next)
}

/// A worker took a queued message for try `try_number`: `queued(n) →
/// launching(n)`, noting when. `None` if the message is stale.
pub fn start_launch(
    instance: &TaskInstance,
    try_number: u32,
    now: DateTime<Utc>,
) -> Option<TaskTransition> {
    (instance.state == TaskState::Queued && instance.try_number == try_number).then(|| {
        let mut next = instance.clone();
        next.state = TaskState::Launching;
        next.launch_began = Some(now);
        TaskTransition::new(instance, next)
    })
}

/// The launch of try `try_number` succeeded: `launching(n) → running(n)`.
pub fn mark_running(
    instance: &TaskInstance,
    try_number: u32,
    now: DateTime<Utc>,
) -> Option<TaskTransition> {
    (instance.state == TaskState::Launching && instance.try_number == try_number).then(|| {
        let mut next = instance.clone();
        next.state = TaskState::Running;
        next.started_at = Some(now);
        TaskTransition::new(instance, next)
    })
}

/// A try stuck in `launching` (its worker died mid-launch) goes back to
/// `queued` with the same try; the launch is idempotent per try, so
/// launching it again cannot start it twice.
pub fn requeue(instance: &TaskInstance, now: DateTime<Utc>) -> Option<TaskTransition> {
    matches!(instance.state, TaskState::Launching | TaskState::Queued).then(|| {
        let mut next = instance.clone();
        next.state = TaskState::Queued;
        next.queued_at = Some(now);
        // An instance written before launches were noted began one too.
        if instance.state == TaskState::Launching {
            next.launch_began = instance.launch_began.or(Some(now));
        }
        TaskTransition::new(instance, next)
    })
}

/// Try `try_number` ended: `launching|running(n) → succeeded`, `failed`,
/// or `retry_wait` while retries are left. `None` for an event about
/// another try or an instance that is no longer in flight.
pub fn complete(
    task: &TaskSpec,
    instance: &TaskInstance,
    try_number: u32,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Option<TaskTransition> {
    (instance.state.is_active() && instance.try_number == try_number)
        .then(|| finish(task, instance, outcome, now))
}

/// A try whose message could not be dispatched however often it was
/// delivered: `queued|launching(n) → failed` (or `retry_wait`). `None` if
/// the instance moved on from that try.
pub fn abandon(
    task: &TaskSpec,
    instance: &TaskInstance,
    try_number: u32,
    reason: String,
    now: DateTime<Utc>,
) -> Option<TaskTransition> {
    let undispatched = matches!(instance.state, TaskState::Queued | TaskState::Launching);
    (undispatched && instance.try_number == try_number)
        .then(|| finish(task, instance, Outcome::Failed { reason }, now))
}

pub(crate) fn finish(
    task: &TaskSpec,
    instance: &TaskInstance,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> TaskTransition {
    let mut next = instance.clone();
    next.ended_at = Some(now);
    next.poke_at = None;
    match outcome {
        Outcome::Succeeded => {
            next.state = TaskState::Succeeded;
            next.reason = None;
        }
        Outcome::Failed { reason } => {
            let failures = instance.try_number.saturating_sub(instance.first_try) + 1;
            if failures <= task.retry.retries {
                next.state = TaskState::RetryWait;
                next.retry_at = Some(now + to_delta(task.retry.delay_after(failures)));
            } else {
                next.state = TaskState::Failed;
            }
            next.reason = Some(reason);
        }
        Outcome::Skipped { reason } => {
            next.state = TaskState::Skipped;
            next.reason = Some(reason);
        }
    }
    TaskTransition::new(instance, next)
}

/// A person marks an instance succeeded or failed, from any state. An
/// attempt in flight is stopped.
pub fn mark(instance: &TaskInstance, to: TaskState, now: DateTime<Utc>) -> TaskTransition {
    let mut next = instance.clone();
    next.state = to;
    next.retry_at = None;
    next.ended_at = Some(now);
    next.reason = Some(format!("marked {to} by hand"));
    let mut change = TaskTransition::new(instance, next);
    change.stop_attempt = instance.state.is_active();
    change
}
