//! Record: a try ended → `launching|running(n) → succeeded | failed |
//! retry_wait`, by compare-and-set. A completion for another try, or for
//! an instance no longer in flight, is dropped. A try whose message could
//! not be dispatched ends the same way, from `queued|launching(n)`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use updraft_core::plan::{
    Outcome, abandon, artifact_extras, check_branch, complete, outcome_of, output_artifacts,
    parse_output,
};
use updraft_core::spec::TaskSpec;
use updraft_core::state::{
    ArtifactRecord, ArtifactUse, Attempt, TaskInstance, TaskKey, TaskState, TaskTransition,
};

use super::advance::{close_attempt, duration};
use crate::events::Event;
use crate::ports::{Completion, TaskMessage, TryEnd};
use crate::{Engine, EngineResult};

/// How an end moves a task instance: `None` if it is not at that try in a
/// state the end applies to.
type Ending = fn(&TaskSpec, &TaskInstance, u32, Outcome, DateTime<Utc>) -> Option<TaskTransition>;

/// A try that could not be dispatched ends only as failed.
fn abandoned(
    task: &TaskSpec,
    instance: &TaskInstance,
    try_number: u32,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Option<TaskTransition> {
    match outcome {
        Outcome::Failed { reason } => abandon(task, instance, try_number, reason, now),
        Outcome::Succeeded | Outcome::Skipped { .. } => None,
    }
}

impl Engine {
    /// Applies one completion; `false` if it was stale or a duplicate.
    /// Call [`Engine::advance`] after, once per run for a batch.
    pub async fn record(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
        try_number: u32,
        completion: Completion,
    ) -> EngineResult<bool> {
        self.end_try(dag, run_id, key, try_number, completion, complete)
            .await
    }

    /// Fails a try whose message could not be dispatched however often it
    /// was delivered (its last delivery), and advances its run. `false` if
    /// the instance had moved on from that try.
    pub async fn give_up(&self, message: &TaskMessage, reason: String) -> EngineResult<bool> {
        let (dag, run_id) = (message.dag.as_str(), message.run_id.as_str());
        let completion = Completion {
            outcome: Outcome::Failed { reason },
            exit_code: None,
        };
        let ended = self
            .end_try(
                dag,
                run_id,
                &message.key,
                message.try_number,
                completion,
                abandoned,
            )
            .await?;
        if ended {
            self.advance(dag, run_id).await?;
        }
        Ok(ended)
    }

    /// Ends a try as `ending` says, by compare-and-set: the instance, the
    /// closed attempt (with its output and lineage when it succeeded), and a
    /// wake-up for a retry.
    async fn end_try(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
        try_number: u32,
        completion: Completion,
        ending: Ending,
    ) -> EngineResult<bool> {
        let store = &self.ports.store;
        let dropped = |why: String| Event::Dropped {
            what: format!("{dag}/{run_id}/{key} try {try_number}: {why}"),
        };
        let (Some(run), Some(instance)) = (
            store.run(dag, run_id).await?,
            store.instance(dag, run_id, key).await?,
        ) else {
            self.emit(dropped("completion for an unknown run or task".into()));
            return Ok(false);
        };
        let spec = self.spec_of(&run).await?;
        let Some(task) = spec.task(key.task_id.as_str()) else {
            self.emit(dropped(
                "completion for a task not in the run's spec".into(),
            ));
            return Ok(false);
        };
        let now = self.ports.clock.now();
        // Checked before the output is read: a stale end reads nothing.
        if ending(task, &instance, try_number, completion.outcome.clone(), now).is_none() {
            self.emit(dropped(format!(
                "duplicate or stale completion: instance is {} (try {})",
                instance.state, instance.try_number
            )));
            return Ok(false);
        }
        // A try that ended before its launch was recorded (it could not be
        // rendered, launched or dispatched) gets its record now.
        let attempt = store.attempt(dag, run_id, key, try_number).await?;
        let mut attempt = attempt.or_else(|| {
            Some(Attempt {
                started_at: instance.launch_began,
                ..Attempt::new(key.clone(), try_number, instance.state)
            })
        });
        let outcome = outcome_of(task, completion.outcome, completion.exit_code);
        let (mut outcome, mut output) = self.checked_output(outcome, attempt.as_ref()).await?;
        // A branch whose output chooses nothing it can is a failed try.
        if outcome == Outcome::Succeeded
            && task.branch
            && let Err(reason) = check_branch(&spec, task, output.as_ref())
        {
            (outcome, output) = (Outcome::Failed { reason }, None);
        }
        let Some(mut change) = ending(task, &instance, try_number, outcome.clone(), now) else {
            return Ok(false);
        };
        change.next.output = output.clone().or(change.next.output);
        let mut records = Vec::new();
        if let Some(attempt) = attempt.as_mut() {
            let (state, reason) = match &outcome {
                Outcome::Succeeded => (TaskState::Succeeded, None),
                Outcome::Failed { reason } => (TaskState::Failed, Some(reason.clone())),
                Outcome::Skipped { reason } => (TaskState::Skipped, Some(reason.clone())),
            };
            close_attempt(attempt, state, reason, completion.exit_code, now);
            if outcome == Outcome::Succeeded {
                if let Some(output) = &output {
                    attempt.produced.extend(output_artifacts(output));
                    attempt.output = Some(output.clone());
                }
                records = lineage(dag, run_id, attempt, now);
            }
        }
        let mut notices = self.task_change_notices(&run, &change).await?;
        let with_extra = output
            .as_ref()
            .is_some_and(|o| !artifact_extras(o).is_empty());
        notices.extend(self.artifact_notices(&run, &records, with_extra).await?);
        let end = TryEnd {
            dag,
            run_id,
            change: &change,
            attempt: attempt.as_ref(),
            lineage: &records,
            notices: &notices,
        };
        if !store.record_end(&end).await? {
            self.emit(dropped("the instance changed while recording".into()));
            return Ok(false);
        }
        self.publish_kept(&notices).await;
        self.release_after(&run, &change).await?;
        if change.next.state == TaskState::RetryWait {
            self.wake_for_retry(dag, run_id, &change.next).await?;
        }
        self.emit(Event::TaskEnded {
            dag: dag.to_string(),
            run_id: run_id.to_string(),
            key: key.clone(),
            try_number,
            state: change.next.state,
            duration: duration(instance.started_at.or(instance.queued_at), Some(now)),
            reason: change.next.reason.clone(),
        });
        Ok(true)
    }

    /// Reads and checks what a succeeded try wrote as its output: a bad
    /// output fails the try with the reason.
    async fn checked_output(
        &self,
        outcome: Outcome,
        attempt: Option<&Attempt>,
    ) -> EngineResult<(Outcome, Option<Value>)> {
        let Some(attempt) = attempt.filter(|_| outcome == Outcome::Succeeded) else {
            return Ok((outcome, None));
        };
        // A try with no launch whose output the engine wrote: a decision.
        if attempt.handle.is_none()
            && let Some(output) = &attempt.output
        {
            return Ok((outcome, Some(output.clone())));
        }
        match self.ports.launcher.read_output(attempt).await? {
            None => Ok((outcome, None)),
            Some(text) => match parse_output(&text) {
                Ok(output) => Ok((outcome, Some(output))),
                Err(why) => Ok((Outcome::Failed { reason: why }, None)),
            },
        }
    }

    /// Records what an ECS or SageMaker event says about a launch handle,
    /// and advances its run: the recorder's use case. `false` if the handle
    /// is unknown or the completion stale.
    pub async fn record_handle(&self, handle: &str, completion: Completion) -> EngineResult<bool> {
        let Some(at) = self.ports.store.handle(handle).await? else {
            self.emit(Event::Dropped {
                what: format!("event for unknown launch handle {handle}"),
            });
            return Ok(false);
        };
        self.record_and_advance(&at.dag, &at.run_id, &at.key, at.try_number, completion)
            .await
    }

    /// Records a completion and advances its run at once: what the recorder
    /// does per event.
    pub async fn record_and_advance(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
        try_number: u32,
        completion: Completion,
    ) -> EngineResult<bool> {
        let recorded = self
            .record(dag, run_id, key, try_number, completion)
            .await?;
        if recorded {
            self.advance(dag, run_id).await?;
        }
        Ok(recorded)
    }
}

/// The lineage records of a succeeded try.
fn lineage(dag: &str, run_id: &str, attempt: &Attempt, at: DateTime<Utc>) -> Vec<ArtifactRecord> {
    let Ok(dag) = updraft_core::ids::DagId::parse(dag) else {
        return Vec::new();
    };
    let record = |uri: &String, used| ArtifactRecord {
        uri: uri.clone(),
        used,
        dag: dag.clone(),
        run_id: run_id.to_string(),
        key: attempt.key.clone(),
        try_number: attempt.try_number,
        at,
    };
    let produced = attempt
        .produced
        .iter()
        .map(|u| record(u, ArtifactUse::Produced));
    let consumed = attempt
        .consumed
        .iter()
        .map(|u| record(u, ArtifactUse::Consumed));
    produced.chain(consumed).collect()
}
