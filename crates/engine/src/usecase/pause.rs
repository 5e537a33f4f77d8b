//! Pause and unpause a DAG's schedule.

use crate::ports::DagMeta;
use crate::{Engine, EngineResult};

impl Engine {
    /// Stops (`true`) or resumes (`false`) creating scheduled runs of a
    /// DAG. Runs already created go on.
    pub async fn set_paused(&self, dag: &str, paused: bool) -> EngineResult<()> {
        let spec = self.current_spec(dag).await?;
        let store = &self.ports.store;
        let mut meta = store
            .dag(dag)
            .await?
            .unwrap_or_else(|| DagMeta::new(spec.id.clone()));
        meta.paused = paused;
        store.put_dag(&meta).await?;
        Ok(())
    }
}
