//! The DAGs at a glance: what the dashboard's first page shows, one query
//! of the DAG registry and one of each DAG's runs.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use updraft_core::spec::{DagSpec, Diagnostic};
use updraft_core::state::{Run, TaskInstance};

use crate::ports::RunQuery;
use crate::{Engine, EngineResult};

/// One current DAG with its latest runs.
#[derive(Clone, Debug)]
pub struct DagOverview {
    /// Its current spec.
    pub spec: DagSpec,
    /// Its schedule is paused.
    pub paused: bool,
    /// The next scheduled point after now (none when paused or unscheduled).
    pub next_run: Option<DateTime<Utc>>,
    /// Its latest runs, newest first.
    pub recent: Vec<Run>,
}

/// Every current DAG, and the spec files that do not validate.
#[derive(Clone, Debug, Default)]
pub struct DagsOverview {
    /// By DAG id.
    pub dags: Vec<DagOverview>,
    /// Problems of the spec files whose DAGs are not scheduled.
    pub import_errors: Vec<Diagnostic>,
}

/// A DAG's latest runs with their task instances: the dashboard's grid.
#[derive(Clone, Debug)]
pub struct DagGrid {
    /// The DAG's current spec: its tasks are the grid's rows.
    pub spec: Arc<DagSpec>,
    /// Its latest runs, oldest first, each with its instances.
    pub runs: Vec<(Run, Vec<TaskInstance>)>,
}

impl Engine {
    /// The grid of DAG `dag`: its `count` latest runs, one query of runs
    /// and one of each run's instances.
    pub async fn dag_grid(&self, dag: &str, count: usize) -> EngineResult<DagGrid> {
        let spec = self.current_spec(dag).await?;
        let query = RunQuery {
            dag: Some(dag.to_string()),
            limit: Some(count),
            ..RunQuery::default()
        };
        let mut runs = Vec::new();
        for run in self.ports.store.runs(&query).await?.into_iter().rev() {
            let instances = self.ports.store.instances(dag, &run.run_id).await?;
            runs.push((run, instances));
        }
        Ok(DagGrid { spec, runs })
    }

    /// Every current DAG with its `recent` latest runs.
    pub async fn dags_overview(&self, recent: usize) -> EngineResult<DagsOverview> {
        let loaded = self.ports.specs.load().await?;
        let metas = match loaded.metas {
            Some(metas) => metas,
            None => self.ports.store.dags().await?,
        };
        let now = self.ports.clock.now();
        let mut dags = Vec::new();
        for (spec, _) in loaded.dags {
            let paused = metas.iter().any(|m| m.dag == spec.id && m.paused);
            let query = RunQuery {
                dag: Some(spec.id.to_string()),
                limit: Some(recent),
                ..RunQuery::default()
            };
            let recent = self.ports.store.runs(&query).await?;
            let next_run = match paused {
                true => None,
                false => spec.schedule.next_after(now),
            };
            dags.push(DagOverview {
                spec,
                paused,
                next_run,
                recent,
            });
        }
        dags.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        Ok(DagsOverview {
            dags,
            import_errors: loaded.errors,
        })
    }
}
