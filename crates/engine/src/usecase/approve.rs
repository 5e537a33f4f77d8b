//! Approvals: a person decides what an `approval:` task asks, from the CLI,
//! the dashboard or the API, and the task succeeds with the decision as its
//! output (a `reject` also skips everything after it).

use updraft_core::spec::Approval;
use updraft_core::state::{AuditAction, AuditEntry, Run, TaskKey, TaskState};

use crate::{Engine, EngineError, EngineResult};

impl Engine {
    /// Decides an approval that waits: `choice` must be one of its options.
    /// Kept as an audit entry by `by`, with `note`.
    pub async fn approve(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
        choice: &str,
        note: Option<&str>,
        by: &str,
    ) -> EngineResult<Run> {
        let run = self.find_run(dag, run_id).await?;
        let spec = self.spec_of(&run).await?;
        let approval = spec
            .task(key.task_id.as_str())
            .and_then(|t| t.approval.as_ref())
            .ok_or_else(|| EngineError::refused(format!("task `{key}` asks for no approval")))?;
        if !approval.options.iter().any(|o| o == choice) {
            return Err(EngineError::refused(format!(
                "choice `{choice}` is not one of {}",
                approval.options.join(", ")
            )));
        }
        let store = &self.ports.store;
        let instance = store
            .instance(dag, run_id, key)
            .await?
            .ok_or_else(|| EngineError::not_found(format!("run `{run_id}` has no task `{key}`")))?;
        if instance.state != TaskState::Waiting {
            return Err(EngineError::conflict(format!(
                "task `{key}` waits for no decision: it is {}",
                instance.state
            )));
        }
        let now = self.ports.clock.now();
        store
            .put_audit(
                dag,
                run_id,
                &AuditEntry {
                    at: now,
                    by: by.to_string(),
                    action: AuditAction::Approve,
                    tasks: vec![key.to_string()],
                    options: vec![choice.to_string()],
                    note: note.map(String::from),
                },
            )
            .await?;
        let decision = Approval::decision(choice, by, note);
        if !self
            .end_waiting(&run, &instance, Ok(Some(decision)))
            .await?
        {
            return Err(EngineError::conflict(format!(
                "task `{key}` changed while deciding it; look again"
            )));
        }
        self.advance(dag, run_id).await?;
        self.find_run(dag, run_id).await
    }
}
