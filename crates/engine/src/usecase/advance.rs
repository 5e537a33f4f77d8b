//! Advance a run: plan it and apply the plan — queue what became ready,
//! stop tries past their timeout, end the run. Called after every change.

use std::time::Duration;

use updraft_core::plan::{Past, initial_instances, missed_sla, plan_after};
use updraft_core::spec::DagSpec;
use updraft_core::state::{
    Attempt, Run, RunState, TaskInstance, TaskState, TaskTransition, Transition,
};

use super::MAX_ROUNDS;
use super::capacity::needs_of;
use super::event_runs::{BY_EVENTS, Gathering};
use crate::error::SPEC_VERSION;
use crate::events::Event;
use crate::ports::{PendingStop, RunQuery, TaskMessage};
use crate::{Engine, EngineError, EngineResult};

/// How many tries of one run are queued in one batch.
const QUEUE_BATCH: usize = 100;

/// The longest delay a queue gives a message (SQS: 15 minutes).
pub(crate) const MAX_WAKE_DELAY: Duration = Duration::from_secs(15 * 60);

impl Engine {
    /// Plans the run and applies the plan, again while a change raced or
    /// made more work due now. Returns the run as it stands after.
    pub async fn advance(&self, dag: &str, run_id: &str) -> EngineResult<Option<Run>> {
        Ok(self.advance_seeing(dag, run_id).await?.0)
    }

    /// [`Engine::advance`], also returning the run's task instances when
    /// its last plan found nothing to do (they are current as of then), so
    /// a tick reconciles without reading them again.
    pub(crate) async fn advance_seeing(
        &self,
        dag: &str,
        run_id: &str,
    ) -> EngineResult<(Option<Run>, Option<Vec<TaskInstance>>)> {
        let store = &self.ports.store;
        let mut run = None;
        for _ in 0..MAX_ROUNDS {
            let Some(current) = store.run(dag, run_id).await? else {
                return Ok((None, None));
            };
            if current.state.is_terminal() {
                return Ok((Some(current), None));
            }
            let spec = match self.spec_of(&current).await {
                Err(EngineError::Invalid { message, field }) if field == Some(SPEC_VERSION) => {
                    self.fail_undeployed(&current, message).await?;
                    continue;
                }
                Err(e) => return Err(e),
                Ok(spec) => spec,
            };
            if current.state == RunState::Queued {
                match self.gathering(&current, &spec) {
                    // More events may join.
                    Gathering::Open => return Ok((Some(current), None)),
                    Gathering::Lapsed(unmet) => {
                        let note = format!(
                            "its `all:` trigger's window ended without {}",
                            unmet.join(", ")
                        );
                        self.cancel(dag, run_id, BY_EVENTS, Some(note)).await?;
                        continue;
                    }
                    Gathering::Done => {}
                }
                // Started (a slot of max_active_runs taken) before any of
                // its tasks is queued, or left queued.
                if !self.start(&current).await? {
                    self.note_missed_sla(&current).await?;
                    return Ok((store.run(dag, run_id).await?, None));
                }
                continue;
            }
            let mut instances = store.instances(dag, run_id).await?;
            if instances
                .iter()
                .filter(|i| i.key.map_index.is_none())
                .count()
                < spec.tasks.len()
            {
                // A run's creation wrote the run but died before all its
                // task instances (DynamoDB writes them in batches after).
                let missing: Vec<_> = initial_instances(&spec)
                    .into_iter()
                    .filter(|new| !instances.iter().any(|i| i.key == new.key))
                    .collect();
                store.create_instances(dag, run_id, &missing).await?;
                instances = store.instances(dag, run_id).await?;
            }
            if self.poke_sensors(&spec, &current, &instances).await? {
                continue;
            }
            let past = self.past_of(&spec, &current, &instances).await?;
            let now = self.ports.clock.now();
            let transitions = plan_after(&spec, &current, &instances, &past, now);
            if transitions.is_empty() {
                return Ok((Some(current), Some(instances)));
            }
            let again = self.apply(&current, transitions).await?;
            run = Some(current);
            if !again {
                break;
            }
        }
        match run {
            Some(run) => Ok((store.run(dag, &run.run_id).await?, None)),
            None => Ok((None, None)),
        }
    }

    /// How the run before this one (by logical date) left the tasks that
    /// wait on it (`depends_on_past`) and have not started: read only when
    /// there are such tasks.
    async fn past_of(
        &self,
        spec: &DagSpec,
        run: &Run,
        instances: &[TaskInstance],
    ) -> EngineResult<Past> {
        let waiting: Vec<&str> = instances
            .iter()
            .filter(|i| i.state == TaskState::Pending && i.key.map_index.is_none())
            .filter_map(|i| spec.task(i.key.task_id.as_str()))
            .filter(|t| t.depends_on_past)
            .map(|t| t.id.as_str())
            .collect();
        if waiting.is_empty() {
            return Ok(Past::default());
        }
        let store = &self.ports.store;
        let query = RunQuery {
            dag: Some(run.dag.to_string()),
            ..RunQuery::default()
        };
        let runs = store.runs(&query).await?;
        let Some(before) = runs
            .iter()
            .filter(|r| r.logical_date < run.logical_date)
            .max_by_key(|r| r.logical_date)
        else {
            return Ok(Past::default());
        };
        let theirs = store.instances(run.dag.as_str(), &before.run_id).await?;
        Ok(Past(
            theirs
                .into_iter()
                .filter(|i| i.key.map_index.is_none() && waiting.contains(&i.key.task_id.as_str()))
                .map(|i| (i.key.task_id.to_string(), i.state))
                .collect(),
        ))
    }

    /// Starts a queued run if its DAG has fewer running runs than
    /// `max_active_runs`, checked in the same write as the start, so
    /// concurrent starters (ticks, triggers, backfills, recorders) never
    /// pass it. `true` if the run is running now, whoever started it.
    async fn start(&self, run: &Run) -> EngineResult<bool> {
        let limit = self.spec_of(run).await?.policy.max_active_runs;
        let mut next = run.clone();
        next.state = RunState::Running;
        next.started_at = next.started_at.or(Some(self.ports.clock.now()));
        let store = &self.ports.store;
        let notices = self
            .run_change_notices(Some(run), &next, run.revision + 1)
            .await?;
        if store.start_run(&next, limit, &notices).await? {
            self.publish_kept(&notices).await;
            return Ok(true);
        }
        let now = store.run(run.dag.as_str(), &run.run_id).await?;
        Ok(now.is_some_and(|r| r.state == RunState::Running))
    }

    /// Fails a run pinned to a spec version no deploy made (a table item
    /// written by hand): none of its tasks runs, and it ends saying why.
    async fn fail_undeployed(&self, run: &Run, reason: String) -> EngineResult<()> {
        let mut next = run.clone();
        next.state = RunState::Failed;
        next.ended_at = Some(self.ports.clock.now());
        next.reason = Some(reason);
        let notices = match self.announce {
            crate::Announce::Off => Vec::new(),
            _ => {
                let mut written = next.clone();
                written.revision = run.revision + 1;
                let now = self.ports.clock.now();
                updraft_core::notify::run_notices(Some(run), &written, None, chrono_tz::UTC, now)
                    .into_iter()
                    .map(|n| self.linked(n))
                    .collect()
            }
        };
        if self
            .ports
            .store
            .update_run(run.state, &next, &notices)
            .await?
        {
            self.publish_kept(&notices).await;
            self.emit(Event::RunEnded(next));
        }
        Ok(())
    }

    /// Notes that a run still queued (waiting for `max_active_runs`) missed
    /// its `sla` deadline; a run that is planned has it noted by its plan.
    async fn note_missed_sla(&self, run: &Run) -> EngineResult<()> {
        let spec = self.spec_of(run).await?;
        let Some(change) = missed_sla(&spec, run, self.ports.clock.now()) else {
            return Ok(());
        };
        let notices = self
            .run_change_notices(Some(run), &change.next, run.revision + 1)
            .await?;
        let store = &self.ports.store;
        if store.update_run(run.state, &change.next, &notices).await? {
            self.publish_kept(&notices).await;
        }
        Ok(())
    }

    /// Applies a plan; `true` if planning again may find more to do now.
    pub(crate) async fn apply(
        &self,
        run: &Run,
        transitions: Vec<Transition>,
    ) -> EngineResult<bool> {
        let mut all_applied = true;
        let mut again = false;
        let now = self.ports.clock.now();
        let mut creates: Vec<TaskInstance> = Vec::new();
        let mut changes = Vec::with_capacity(transitions.len());
        for transition in transitions {
            match transition {
                Transition::Create(instance) => creates.push(instance),
                other => changes.push(other),
            }
        }
        if !creates.is_empty() {
            self.ports
                .store
                .create_instances(run.dag.as_str(), &run.run_id, &creates)
                .await?;
            // The new instances are planned (queued) in the next round.
            again = true;
        }
        let (bulk, changes) = self.split_off_bulk_queueings(run, changes).await?;
        for chunk in bulk.chunks(QUEUE_BATCH) {
            if self.out_of_time() {
                self.emit(Event::Deferred {
                    what: format!("the rest of the plan of {}/{}", run.dag, run.run_id),
                });
                return Ok(false);
            }
            all_applied &= self.queue_batch(run, chunk).await?;
        }
        for transition in changes {
            if self.out_of_time() {
                // The rest (and the run's own change, which needs all of
                // it) is planned again next time.
                self.emit(Event::Deferred {
                    what: format!("the rest of the plan of {}/{}", run.dag, run.run_id),
                });
                return Ok(false);
            }
            match transition {
                Transition::Task(change) => {
                    if !self.apply_task(run, &change).await? {
                        all_applied = false;
                        continue;
                    }
                    again |= change.next.state == TaskState::RetryWait
                        && change.next.retry_at.is_none_or(|at| at <= now);
                    // A sensor that starts waiting is looked at at once.
                    again |= change.next.state == TaskState::Waiting
                        && change.expect_state != TaskState::Waiting;
                }
                Transition::Run(change) if all_applied => {
                    let notices = self
                        .run_change_notices(Some(run), &change.next, change.next.revision + 1)
                        .await?;
                    let written = self
                        .ports
                        .store
                        .update_run(change.expect_state, &change.next, &notices)
                        .await?;
                    if written {
                        self.publish_kept(&notices).await;
                    }
                    if written && change.next.state.is_terminal() {
                        self.emit(Event::RunEnded(change.next));
                    }
                    // Another writer changed the run since it was read:
                    // plan again from what it wrote.
                    again |= !written;
                }
                Transition::Run(_) | Transition::Create(_) => {}
            }
        }
        Ok(again || !all_applied)
    }

    /// Splits off the transitions that only queue a try that needs no slot
    /// and tells no event, when there are many (a mapped task expanding):
    /// those are written and sent in batches.
    async fn split_off_bulk_queueings(
        &self,
        run: &Run,
        changes: Vec<Transition>,
    ) -> EngineResult<(Vec<TaskTransition>, Vec<Transition>)> {
        let spec = self.spec_of(run).await?;
        let alone = |change: &TaskTransition| {
            change.next.state == TaskState::Queued
                && change.expect_state != TaskState::Queued
                && !change.stop_attempt
                && needs_of(&spec, change.next.key.task_id.as_str()).is_empty()
        };
        let many = changes
            .iter()
            .filter(|t| matches!(t, Transition::Task(c) if alone(c)))
            .count()
            > 1;
        if !many {
            return Ok((Vec::new(), changes));
        }
        let (mut bulk, mut rest) = (Vec::new(), Vec::new());
        for transition in changes {
            match transition {
                Transition::Task(change) if alone(&change) => bulk.push(change),
                other => rest.push(other),
            }
        }
        Ok((bulk, rest))
    }

    /// Queues tries of one run together: their changes in one write where
    /// the store can, then their messages; `true` if every change held.
    async fn queue_batch(&self, run: &Run, changes: &[TaskTransition]) -> EngineResult<bool> {
        let (dag, run_id) = (run.dag.as_str(), run.run_id.as_str());
        let applied = self
            .ports
            .store
            .update_instances(dag, run_id, changes)
            .await?;
        let mut messages = Vec::with_capacity(changes.len());
        for (change, applied) in changes.iter().zip(&applied) {
            let next = &change.next;
            if !applied {
                self.emit(moved_on(dag, run_id, change));
                continue;
            }
            messages.push(TaskMessage {
                dag: dag.to_string(),
                run_id: run_id.to_string(),
                key: next.key.clone(),
                try_number: next.try_number,
            });
        }
        // A process that dies here leaves tries queued without a message:
        // reconcile sends them again (`resend_after`).
        self.ports.queue.send_many(&messages).await?;
        for message in messages {
            self.emit(Event::TaskQueued {
                dag: message.dag,
                run_id: message.run_id,
                key: message.key,
                try_number: message.try_number,
            });
        }
        Ok(applied.iter().all(|a| *a))
    }

    /// Reads the run and writes what `change` makes of it, by
    /// compare-and-set, reading again when another writer got there first
    /// (a few times at most). `change` returns whether it changed anything.
    pub(crate) async fn modify_run(
        &self,
        dag: &str,
        run_id: &str,
        change: impl Fn(&mut Run) -> bool,
    ) -> EngineResult<()> {
        let store = &self.ports.store;
        for _ in 0..MAX_ROUNDS {
            let run = self.find_run(dag, run_id).await?;
            let mut next = run.clone();
            if !change(&mut next) {
                return Ok(());
            }
            let notices = self
                .run_change_notices(Some(&run), &next, run.revision + 1)
                .await?;
            if store.update_run(run.state, &next, &notices).await? {
                self.publish_kept(&notices).await;
                return Ok(());
            }
        }
        Err(EngineError::conflict(format!(
            "run `{run_id}` kept changing while it was being changed; try again"
        )))
    }

    /// Applies one task transition and carries out what it implies.
    pub(crate) async fn apply_task(
        &self,
        run: &Run,
        change: &TaskTransition,
    ) -> EngineResult<bool> {
        let (dag, run_id) = (run.dag.as_str(), run.run_id.as_str());
        // The stop is kept before the change, so a process that dies right
        // after the change still leaves it for the next tick.
        let stop = match change.stop_attempt {
            true => self.keep_stop_of(dag, run_id, change).await?,
            false => None,
        };
        let notices = self.task_change_notices(run, change).await?;
        if !self
            .ports
            .store
            .update_instance(dag, run_id, change, &notices)
            .await?
        {
            self.emit(moved_on(dag, run_id, change));
            return Ok(false);
        }
        self.publish_kept(&notices).await;
        self.release_after(run, change).await?;
        let next = &change.next;
        match stop {
            Some(stop) => self.stop_now(&stop).await,
            None if change.stop_attempt => self.close_unlaunched(dag, run_id, change).await?,
            None => {}
        }
        match next.state {
            // A sensor's or an approval's try, on record as it starts to
            // wait (its first look writes it too, if this process died).
            TaskState::Waiting if change.expect_state != TaskState::Waiting => {
                let attempt = Attempt {
                    started_at: next.started_at,
                    ..Attempt::new(next.key.clone(), next.try_number, TaskState::Waiting)
                };
                self.ports
                    .store
                    .put_new_attempt(dag, run_id, &attempt)
                    .await?;
            }
            TaskState::Queued => {
                self.queue_with_capacity(run, &next.key, next.try_number)
                    .await?;
                self.emit(Event::TaskQueued {
                    dag: dag.to_string(),
                    run_id: run_id.to_string(),
                    key: next.key.clone(),
                    try_number: next.try_number,
                });
            }
            TaskState::Skipped
            | TaskState::UpstreamFailed
            | TaskState::Succeeded
            | TaskState::Failed
            | TaskState::RetryWait
                if change.expect_state != next.state =>
            {
                if next.state == TaskState::RetryWait {
                    self.wake_for_retry(dag, run_id, next).await?;
                }
                self.emit(Event::TaskEnded {
                    dag: dag.to_string(),
                    run_id: run_id.to_string(),
                    key: next.key.clone(),
                    try_number: next.try_number,
                    state: next.state,
                    duration: duration(next.started_at, next.ended_at),
                    reason: next.reason.clone(),
                });
            }
            _ => {}
        }
        Ok(true)
    }

    /// Sends the try after a failed one as a message delayed until its
    /// retry is due, so the retry starts then rather than at the next tick.
    /// Dispatch treats it as a wake-up: it plans the run, which queues the
    /// try as usual. Longer waits than the queue can delay are left to ticks.
    pub(crate) async fn wake_for_retry(
        &self,
        dag: &str,
        run_id: &str,
        waiting: &TaskInstance,
    ) -> EngineResult<()> {
        let Some(at) = waiting.retry_at else {
            return Ok(());
        };
        let delay = (at - self.ports.clock.now()).to_std().unwrap_or_default();
        if delay.is_zero() || delay > MAX_WAKE_DELAY {
            return Ok(());
        }
        let message = TaskMessage {
            dag: dag.to_string(),
            run_id: run_id.to_string(),
            key: waiting.key.clone(),
            try_number: waiting.try_number + 1,
        };
        self.ports.queue.send(&message, delay).await?;
        Ok(())
    }

    /// Keeps a stop of the attempt a transition takes over.
    async fn keep_stop_of(
        &self,
        dag: &str,
        run_id: &str,
        change: &TaskTransition,
    ) -> EngineResult<Option<PendingStop>> {
        let attempt = self
            .ports
            .store
            .attempt(dag, run_id, &change.next.key, change.expect_try)
            .await?;
        let reason = change.next.reason.as_deref().unwrap_or("stopped");
        match attempt {
            Some(attempt) => self.keep_stop(dag, run_id, &attempt, reason).await,
            None => Ok(None),
        }
    }
}

/// A task change dropped because another writer changed the instance first.
fn moved_on(dag: &str, run_id: &str, change: &TaskTransition) -> Event {
    Event::Dropped {
        what: format!(
            "{dag}/{run_id}/{}: expected {} (try {}), the store had moved on",
            change.next.key, change.expect_state, change.expect_try
        ),
    }
}

/// Marks an attempt ended.
pub(crate) fn close_attempt(
    attempt: &mut Attempt,
    state: TaskState,
    reason: Option<String>,
    exit_code: Option<i32>,
    now: chrono::DateTime<chrono::Utc>,
) {
    attempt.state = state;
    attempt.reason = reason;
    attempt.exit_code = exit_code.or(attempt.exit_code);
    attempt.ended_at = Some(now);
}

pub(crate) fn duration(
    start: Option<chrono::DateTime<chrono::Utc>>,
    end: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<Duration> {
    (end? - start?).to_std().ok()
}
