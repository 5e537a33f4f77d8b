//! The DAGs at a glance: what the dashboard's first page shows, one query
//! of the DAG registry and one of each DAG's runs.

use chrono::{DateTime, Utc};
use updraft_core::spec::{DagSpec, Diagnostic};
use updraft_core::state::Run;

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

impl Engine {
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
