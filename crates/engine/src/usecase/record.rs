//! Record: a try ended → `launching|running(n) → succeeded | failed |
//! retry_wait`, by compare-and-set. A completion for another try, or for
//! an instance no longer in flight, is dropped.

use updraft_core::plan::{Outcome, complete};
use updraft_core::state::{TaskKey, TaskState};

use super::advance::{close_attempt, duration};
use crate::events::Event;
use crate::ports::Completion;
use crate::{Engine, EngineResult};

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
        let Some(change) = complete(task, &instance, try_number, completion.outcome.clone(), now)
        else {
            self.emit(dropped(format!(
                "duplicate or stale completion: instance is {} (try {})",
                instance.state, instance.try_number
            )));
            return Ok(false);
        };
        if !store.update_instance(dag, run_id, &change).await? {
            self.emit(dropped("the instance changed while recording".into()));
            return Ok(false);
        }
        if let Some(mut attempt) = store.attempt(dag, run_id, key, try_number).await? {
            let (state, reason) = match &completion.outcome {
                Outcome::Succeeded => (TaskState::Succeeded, None),
                Outcome::Failed { reason } => (TaskState::Failed, Some(reason.clone())),
            };
            close_attempt(&mut attempt, state, reason, completion.exit_code, now);
            store.put_attempt(dag, run_id, &attempt).await?;
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
