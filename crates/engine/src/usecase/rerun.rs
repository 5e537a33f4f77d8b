//! Rerun ("clear") chosen tasks of a run, from any state of the run.

use updraft_core::plan::{Rerun, rerun};
use updraft_core::state::{TaskKey, Transition};

use crate::{Engine, EngineError, EngineResult};

impl Engine {
    /// Clears the chosen task instances back to `pending` (stopping any
    /// still in flight), reopens the run and advances it. Returns the keys
    /// cleared; empty if nothing matched.
    pub async fn rerun(
        &self,
        dag: &str,
        run_id: &str,
        request: &Rerun,
    ) -> EngineResult<Vec<TaskKey>> {
        let store = &self.ports.store;
        let run = store
            .run(dag, run_id)
            .await?
            .ok_or_else(|| EngineError::user(format!("DAG `{dag}` has no run `{run_id}`")))?;
        let spec = self.spec_of(&run).await?;
        let instances = store.instances(dag, run_id).await?;
        let transitions = rerun(&spec, &run, &instances, request)
            .map_err(|e| EngineError::user(e.to_string()))?;
        let cleared: Vec<TaskKey> = transitions
            .iter()
            .filter_map(|t| match t {
                Transition::Task(change) => Some(change.next.key.clone()),
                Transition::Run(_) | Transition::Create(_) => None,
            })
            .collect();
        self.apply(&run, transitions).await?;
        self.advance(dag, run_id).await?;
        Ok(cleared)
    }
}
