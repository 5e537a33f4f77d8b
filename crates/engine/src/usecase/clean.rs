//! Retention: deleting ended runs past their DAG's `retention` (Airflow's
//! `airflow db clean`), never an active run nor a DAG's latest run.

use std::collections::BTreeMap;

use chrono::Duration;
use updraft_core::retention::expired;
use updraft_core::state::Run;

use crate::ports::RunQuery;
use crate::{Engine, EngineResult};

impl Engine {
    /// The runs past retention — `older_than` for every DAG when given,
    /// else each DAG's `retention` (400 days when it names none) — oldest
    /// first, each deleted with everything kept of it unless `dry_run`.
    /// A clean that dies halfway leaves whole runs and deleted ones, and
    /// the next clean goes on.
    pub async fn clean(
        &self,
        older_than: Option<Duration>,
        dry_run: bool,
    ) -> EngineResult<Vec<Run>> {
        let loaded = self.sync_specs().await?;
        let retention: BTreeMap<String, Duration> = loaded
            .dags
            .iter()
            .filter_map(|(spec, _)| {
                let kept = Duration::from_std(spec.retention?).ok()?;
                Some((spec.id.to_string(), kept))
            })
            .collect();
        let runs = self.ports.store.runs(&RunQuery::default()).await?;
        let now = self.ports.clock.now();
        let retention_of = |dag: &str| {
            older_than
                .or_else(|| retention.get(dag).copied())
                .unwrap_or_else(|| Duration::from_std(self.settings.retention).unwrap_or_default())
        };
        let mut gone: Vec<Run> = expired(&runs, now, retention_of)
            .into_iter()
            .cloned()
            .collect();
        gone.sort_by(|a, b| (a.ended_at, &a.run_id).cmp(&(b.ended_at, &b.run_id)));
        if !dry_run {
            for run in &gone {
                self.ports
                    .store
                    .delete_run(run.dag.as_str(), &run.run_id)
                    .await?;
            }
        }
        Ok(gone)
    }
}
