//! Cancel a run: stop every try in flight, skip what waits, end the run
//! `cancelled`.

use updraft_core::plan::end_run;
use updraft_core::state::{AuditAction, AuditEntry, Run, RunState};

use crate::usecase::MAX_ROUNDS;
use crate::{Engine, EngineError, EngineResult};

impl Engine {
    /// Cancels a run that has not ended: every try in flight is stopped
    /// (durably, see [`crate::ports::PendingStop`]) and fails, every
    /// instance still waiting is skipped, and the run ends `cancelled`.
    /// `by` and `note` are kept in the run's audit entries. A rerun can
    /// open the run again.
    pub async fn cancel(
        &self,
        dag: &str,
        run_id: &str,
        by: &str,
        note: Option<String>,
    ) -> EngineResult<Run> {
        let store = &self.ports.store;
        let run = self.find_run(dag, run_id).await?;
        if run.state.is_terminal() {
            return Err(EngineError::conflict(format!(
                "run `{run_id}` already ended ({}); nothing to cancel",
                run.state
            )));
        }
        let now = self.ports.clock.now();
        let entry = AuditEntry {
            at: now,
            by: by.to_string(),
            action: AuditAction::Cancel,
            tasks: Vec::new(),
            options: Vec::new(),
            note,
        };
        store.put_audit(dag, run_id, &entry).await?;
        let reason = format!("cancelled by {by}");
        // A try that ends meanwhile makes one change fail; the next round
        // reads it and ends the rest.
        for _ in 0..MAX_ROUNDS {
            let run = self.find_run(dag, run_id).await?;
            if run.state.is_terminal() {
                return Ok(run);
            }
            let instances = store.instances(dag, run_id).await?;
            let transitions = end_run(&run, &instances, RunState::Cancelled, &reason, now);
            self.apply(&run, transitions).await?;
        }
        let run = self.find_run(dag, run_id).await?;
        match run.state.is_terminal() {
            true => Ok(run),
            false => Err(EngineError::conflict(format!(
                "run `{run_id}` kept changing while it was being cancelled; try again"
            ))),
        }
    }
}
