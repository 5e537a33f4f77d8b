//! The read-only queries behind `runs`, `show` and `logs`.

use std::sync::Arc;

use updraft_core::spec::DagSpec;
use updraft_core::state::{Attempt, Run, TaskInstance};

use crate::ports::RunQuery;
use crate::{Engine, EngineError, EngineResult};

/// One run with everything `show` prints.
#[derive(Clone, Debug)]
pub struct RunDetail {
    /// The run.
    pub run: Run,
    /// The spec version it is pinned to.
    pub spec: Arc<DagSpec>,
    /// Its task instances, in the spec's topological order.
    pub instances: Vec<TaskInstance>,
    /// Every try, oldest first per task.
    pub attempts: Vec<Attempt>,
}

impl Engine {
    /// Runs matching a query, newest first, each with its spec.
    pub async fn runs(&self, query: &RunQuery) -> EngineResult<Vec<(Run, Arc<DagSpec>)>> {
        let mut out = Vec::new();
        for run in self.ports.store.runs(query).await? {
            let spec = self.spec_of(&run).await?;
            out.push((run, spec));
        }
        Ok(out)
    }

    /// One run in full.
    pub async fn run_detail(&self, dag: &str, run_id: &str) -> EngineResult<RunDetail> {
        let store = &self.ports.store;
        let run = store
            .run(dag, run_id)
            .await?
            .ok_or_else(|| EngineError::user(format!("DAG `{dag}` has no run `{run_id}`")))?;
        let spec = self.spec_of(&run).await?;
        let mut instances = store.instances(dag, run_id).await?;
        let order = |i: &TaskInstance| {
            let index = spec
                .task_index(i.key.task_id.as_str())
                .unwrap_or(usize::MAX);
            let rank = spec
                .topological_order()
                .iter()
                .position(|&t| t == index)
                .unwrap_or(usize::MAX);
            (rank, i.key.map_index)
        };
        instances.sort_by_key(order);
        let mut attempts = store.attempts(dag, run_id).await?;
        attempts.sort_by(|a, b| (&a.key, a.try_number).cmp(&(&b.key, b.try_number)));
        Ok(RunDetail {
            run,
            spec,
            instances,
            attempts,
        })
    }

    /// The log of one try (the latest if `try_number` is `None`).
    pub async fn logs(
        &self,
        dag: &str,
        run_id: &str,
        task: &str,
        try_number: Option<u32>,
    ) -> EngineResult<(Attempt, String)> {
        let detail = self.run_detail(dag, run_id).await?;
        let tries: Vec<&Attempt> = detail
            .attempts
            .iter()
            .filter(|a| a.key.task_id.as_str() == task)
            .collect();
        if tries.is_empty() {
            let known = detail.spec.task(task).is_some();
            return Err(EngineError::user(if known {
                format!("task `{task}` of run `{run_id}` has not run yet")
            } else {
                format!("run `{run_id}` has no task `{task}`")
            }));
        }
        let attempt = match try_number {
            Some(n) => tries
                .iter()
                .find(|a| a.try_number == n)
                .copied()
                .ok_or_else(|| {
                    let known: Vec<String> =
                        tries.iter().map(|a| a.try_number.to_string()).collect();
                    EngineError::user(format!(
                        "task `{task}` has no try {n}; its tries: {}",
                        known.join(", ")
                    ))
                })?,
            None => tries[tries.len() - 1],
        };
        let text = self.ports.launcher.logs(attempt).await?;
        Ok((attempt.clone(), text))
    }
}
