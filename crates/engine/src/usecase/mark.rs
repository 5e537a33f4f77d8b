//! Mark a task instance succeeded or failed by hand.

use updraft_core::plan::{mark, reopen};
use updraft_core::state::{AuditAction, AuditEntry, Run, TaskKey, TaskState};

use crate::{Engine, EngineError, EngineResult};

impl Engine {
    /// Sets one task instance's state (stopping a try in flight), reopens
    /// its run if it had ended, and advances the run, which may end it
    /// again with the new outcome. `by` is kept in the run's audit entries.
    pub async fn mark(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
        to: TaskState,
        by: &str,
    ) -> EngineResult<Run> {
        if !matches!(to, TaskState::Succeeded | TaskState::Failed) {
            return Err(EngineError::invalid(
                "state",
                format!("a task can be marked succeeded or failed, not {to}"),
            ));
        }
        let store = &self.ports.store;
        let run = self.find_run(dag, run_id).await?;
        let instance = store
            .instance(dag, run_id, key)
            .await?
            .ok_or_else(|| EngineError::not_found(format!("run `{run_id}` has no task `{key}`")))?;
        let now = self.ports.clock.now();
        let entry = AuditEntry {
            at: now,
            by: by.to_string(),
            action: AuditAction::Mark,
            tasks: vec![key.to_string()],
            options: vec![to.to_string()],
            note: None,
        };
        store.put_audit(dag, run_id, &entry).await?;
        if !self.apply_task(&run, &mark(&instance, to, now)).await? {
            return Err(EngineError::conflict(format!(
                "task `{key}` changed while marking it; try again"
            )));
        }
        self.modify_run(dag, run_id, |run| {
            let ended = run.state.is_terminal();
            if ended {
                reopen(run, now);
            }
            ended
        })
        .await?;
        self.advance(dag, run_id).await?;
        self.find_run(dag, run_id).await
    }
}

/// The state a person asks a task to be marked, as typed: `success` (or
/// `succeeded`) or `failed` (or `failure`).
pub fn mark_state(text: &str) -> EngineResult<TaskState> {
    match text {
        "success" | "succeeded" => Ok(TaskState::Succeeded),
        "failed" | "failure" => Ok(TaskState::Failed),
        other => Err(EngineError::invalid(
            "state",
            format!("cannot mark a task `{other}`; use success or failed"),
        )),
    }
}
