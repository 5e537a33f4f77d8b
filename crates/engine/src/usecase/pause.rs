//! Pause and unpause a DAG's schedule.

use crate::ports::DagChange;
use crate::{Engine, EngineResult};

impl Engine {
    /// Stops (`true`) or resumes (`false`) creating scheduled runs of a
    /// DAG. Runs already created go on.
    pub async fn set_paused(&self, dag: &str, paused: bool) -> EngineResult<()> {
        let spec = self.current_spec(dag).await?;
        self.ports
            .store
            .update_dag(&spec.id, &DagChange::Paused(paused))
            .await?;
        Ok(())
    }
}

impl Engine {
    /// Whether a DAG's schedule is paused.
    pub async fn is_paused(&self, dag: &str) -> EngineResult<bool> {
        Ok(self
            .ports
            .store
            .dag(dag)
            .await?
            .is_some_and(|meta| meta.paused))
    }
}
