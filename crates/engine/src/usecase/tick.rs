//! Tick: create due scheduled runs, then advance every active run (which
//! releases retries, stops timed-out tries and starts queued runs), then
//! reconcile tries whose events may have been lost.

use updraft_core::spec::Diagnostic;
use updraft_core::state::{Run, RunKind, SCHEDULE, run_id};

use super::RunRequest;
use crate::{Engine, EngineResult};

/// What a tick did.
#[derive(Clone, Debug, Default)]
pub struct TickReport {
    /// Runs created by the schedule.
    pub created: Vec<Run>,
    /// Active runs advanced.
    pub advanced: usize,
    /// Spec files that could not be loaded.
    pub import_errors: Vec<Diagnostic>,
}

impl Engine {
    /// One scheduler tick. With nothing due and no active run it reads the
    /// DAGs' metadata and the active runs, nothing else.
    pub async fn tick(&self) -> EngineResult<TickReport> {
        let loaded = self.sync_specs().await?;
        let store = &self.ports.store;
        let now = self.ports.clock.now();
        let mut report = TickReport {
            import_errors: loaded.errors.clone(),
            ..TickReport::default()
        };
        let active = store.active_runs().await?;
        let metas = loaded.metas.clone().unwrap_or_default();
        for (spec, _) in &loaded.dags {
            let Some(mut meta) = metas.iter().find(|m| m.dag == spec.id).cloned() else {
                continue;
            };
            if meta.paused || spec.schedule.is_none() {
                continue;
            }
            let active_here = active.iter().filter(|r| r.dag == spec.id).count();
            let due = spec
                .schedule
                .due_points(&spec.policy, meta.last_point, active_here, now);
            for point in &due {
                let id = run_id(RunKind::Scheduled, *point, spec.schedule.tz());
                let timing = spec.schedule.run_for_point(*point);
                let request = RunRequest::by(SCHEDULE);
                if let Some(run) = self
                    .create_run(spec, RunKind::Scheduled, id, timing, request)
                    .await?
                {
                    report.created.push(run);
                }
            }
            if let Some(last) = due.last() {
                meta.last_point = Some(*last);
                store.put_dag(&meta).await?;
            }
        }
        let mut active = if report.created.is_empty() {
            active
        } else {
            store.active_runs().await?
        };
        active.sort_by_key(|r| r.created_at);
        for run in &active {
            self.advance(run.dag.as_str(), &run.run_id).await?;
            report.advanced += 1;
        }
        self.reconcile(&active).await?;
        Ok(report)
    }

    /// A tick for one run only: advance it and reconcile its tries.
    pub async fn tick_run(&self, dag: &str, run_id: &str) -> EngineResult<Option<Run>> {
        let run = self.advance(dag, run_id).await?;
        if let Some(run) = run.as_ref().filter(|r| !r.state.is_terminal()) {
            self.reconcile(std::slice::from_ref(run)).await?;
            return self.advance(dag, run_id).await;
        }
        Ok(run)
    }
}
