//! The read-only queries behind `runs`, `show` and `logs`.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use serde_json::Value;

use updraft_core::spec::{DagSpec, Diagnostic};
use updraft_core::state::{
    ArtifactRecord, ArtifactUse, Attempt, AuditEntry, Run, TaskInstance, TaskKey,
};

use updraft_core::plan::outputs_of;
use updraft_core::template::RenderedTask;

use super::dispatch::render_try;
use crate::ports::{LogPage, LogWindow, RunQuery};
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
    /// What people did to the run after it was made, oldest first.
    pub audit: Vec<AuditEntry>,
}

impl Engine {
    /// Runs matching a query (and, if `produced` is given, that produced
    /// that artifact), newest first, each with its spec.
    pub async fn runs(
        &self,
        query: &RunQuery,
        produced: Option<&str>,
    ) -> EngineResult<Vec<(Run, Arc<DagSpec>)>> {
        let producers: Option<HashSet<(String, String)>> = match produced {
            Some(uri) => Some(
                self.ports
                    .store
                    .artifact(uri)
                    .await?
                    .into_iter()
                    .filter(|r| r.used == ArtifactUse::Produced)
                    .map(|r| (r.dag.to_string(), r.run_id))
                    .collect(),
            ),
            None => None,
        };
        let mut out = Vec::new();
        // The store can apply the limit only when it applies every filter.
        let mut query = query.clone();
        let limit = if producers.is_some() {
            query.limit.take()
        } else {
            query.limit
        };
        for run in self.ports.store.runs(&query).await? {
            if producers
                .as_ref()
                .is_some_and(|p| !p.contains(&(run.dag.to_string(), run.run_id.clone())))
            {
                continue;
            }
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            let spec = self.spec_of(&run).await?;
            out.push((run, spec));
        }
        Ok(out)
    }

    /// The problems of the current spec files (the DAGs they declare are
    /// not scheduled until fixed; their runs go on with their own version).
    pub async fn import_errors(&self) -> EngineResult<Vec<Diagnostic>> {
        Ok(self.ports.specs.import_errors().await?)
    }

    /// One run as stored.
    pub async fn find_run(&self, dag: &str, run_id: &str) -> EngineResult<Run> {
        self.ports
            .store
            .run(dag, run_id)
            .await?
            .ok_or_else(|| EngineError::no_run(dag, run_id))
    }

    /// One run in full.
    pub async fn run_detail(&self, dag: &str, run_id: &str) -> EngineResult<RunDetail> {
        let store = &self.ports.store;
        let run = self.find_run(dag, run_id).await?;
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
        // Shown, not stored: a try waiting for a pool says so.
        let mut waiting = self.waiting_reasons(&run, &instances).await?;
        for instance in &mut instances {
            if let Some(reason) = waiting.remove(&instance.key) {
                instance.reason = Some(reason);
            }
        }
        let mut attempts = store.attempts(dag, run_id).await?;
        attempts.sort_by(|a, b| (&a.key, a.try_number).cmp(&(&b.key, b.try_number)));
        let audit = store.audit(dag, run_id).await?;
        Ok(RunDetail {
            run,
            spec,
            instances,
            attempts,
            audit,
        })
    }

    /// A page of one try's log (the latest try if `try_number` is `None`;
    /// of one mapped instance with `map_index`).
    pub async fn logs(
        &self,
        dag: &str,
        run_id: &str,
        task: &str,
        (map_index, try_number): (Option<u32>, Option<u32>),
        window: &LogWindow,
    ) -> EngineResult<(Attempt, LogPage)> {
        let detail = self.run_detail(dag, run_id).await?;
        let tries: Vec<&Attempt> = detail
            .attempts
            .iter()
            .filter(|a| a.key.task_id.as_str() == task)
            .filter(|a| map_index.is_none() || a.key.map_index == map_index)
            .collect();
        if tries.is_empty() {
            let known = detail.spec.task(task).is_some();
            return Err(EngineError::not_found(if known {
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
                    EngineError::not_found(format!(
                        "task `{task}` has no try {n}; its tries: {}",
                        known.join(", ")
                    ))
                })?,
            None => tries[tries.len() - 1],
        };
        let page = self.attempt_log(attempt, window).await?;
        Ok((attempt.clone(), page))
    }

    /// Where the try's work is in its service's console (AWS), if anywhere.
    pub fn console_url(&self, attempt: &Attempt) -> Option<String> {
        self.ports.launcher.console_url(attempt.handle.as_deref()?)
    }

    /// The tries of a run that failed (its instances' last, at most
    /// `count`), each with the last `lines` lines of its log: what a person
    /// looks at first on a failed run. A log that cannot be read leaves
    /// the tail empty.
    pub async fn failed_tries(
        &self,
        detail: &RunDetail,
        count: usize,
        lines: usize,
    ) -> Vec<FailedTry> {
        let failed = detail
            .instances
            .iter()
            .filter(|i| i.state == updraft_core::state::TaskState::Failed)
            .take(count);
        let mut out = Vec::new();
        for instance in failed {
            let attempt = detail
                .attempts
                .iter()
                .find(|a| a.key == instance.key && a.try_number == instance.try_number);
            let tail = match attempt {
                Some(attempt) => match self.attempt_log(attempt, &LogWindow::Tail).await {
                    Ok(page) => last_lines(&page.text, lines),
                    Err(_) => Vec::new(),
                },
                None => Vec::new(),
            };
            out.push(FailedTry {
                key: instance.key.clone(),
                try_number: instance.try_number,
                reason: instance.reason.clone(),
                tail,
            });
        }
        out
    }

    /// A page of the log of one try already read (local file or CloudWatch).
    pub async fn attempt_log(
        &self,
        attempt: &Attempt,
        window: &LogWindow,
    ) -> EngineResult<LogPage> {
        Ok(self.ports.launcher.logs(attempt, window).await?)
    }
}

/// A try that failed its task, and how its log ends.
#[derive(Clone, Debug)]
pub struct FailedTry {
    /// Its task instance.
    pub key: TaskKey,
    /// Which try.
    pub try_number: u32,
    /// Why it failed, as recorded.
    pub reason: Option<String>,
    /// The last lines of its log, oldest first.
    pub tail: Vec<String>,
}

/// The last `count` lines of `text`.
fn last_lines(text: &str, count: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// Who produced and consumed one artifact.
#[derive(Clone, Debug)]
pub struct ArtifactLineage {
    /// The tries that produced it, newest first.
    pub produced_by: Vec<ArtifactRecord>,
    /// The tries that consumed it, newest first.
    pub consumed_by: Vec<ArtifactRecord>,
    /// The runs of those records that are no longer kept (past their
    /// retention), as (dag, run_id).
    pub expired_runs: BTreeSet<(String, String)>,
}

/// What one run produced and consumed, and the runs joined to it through
/// shared artifacts.
#[derive(Clone, Debug)]
pub struct RunLineage {
    /// Artifacts the run produced.
    pub produced: Vec<ArtifactRecord>,
    /// Artifacts the run consumed.
    pub consumed: Vec<ArtifactRecord>,
    /// Runs that produced what this run consumed, as (dag, run_id).
    pub upstream: BTreeSet<(String, String)>,
    /// Runs that consumed what this run produced, as (dag, run_id).
    pub downstream: BTreeSet<(String, String)>,
    /// Of those, the runs no longer kept (past their retention).
    pub expired_runs: BTreeSet<(String, String)>,
    /// The run itself is no longer kept: it is past its DAG's retention,
    /// and its lineage went with it.
    pub expired: bool,
}

impl Engine {
    /// The output of one task instance (`map_index` for a mapped instance).
    pub async fn output(
        &self,
        dag: &str,
        run_id: &str,
        task: &str,
        map_index: Option<u32>,
    ) -> EngineResult<Value> {
        let detail = self.run_detail(dag, run_id).await?;
        let key = TaskKey {
            task_id: updraft_core::ids::TaskId::parse(task)
                .map_err(|why| EngineError::invalid("task", why))?,
            map_index,
        };
        let instance = detail
            .instances
            .iter()
            .find(|i| i.key == key)
            .ok_or_else(|| {
                EngineError::not_found(format!("run `{run_id}` has no task instance `{key}`"))
            })?;
        instance.output.clone().ok_or_else(|| {
            EngineError::not_found(format!(
                "task `{key}` of run `{run_id}` has no output (it is {})",
                instance.state
            ))
        })
    }

    /// What the current try of a task instance runs (its command,
    /// environment, hyperparameters and artifacts), rendered again from the
    /// run's params, dates and upstream outputs; `Err` inside says which
    /// field does not render.
    pub async fn rendered_try(
        &self,
        detail: &RunDetail,
        key: &TaskKey,
    ) -> EngineResult<Result<(RenderedTask, Vec<String>, Vec<String>), String>> {
        let task = detail.spec.task(key.task_id.as_str()).ok_or_else(|| {
            EngineError::not_found(format!(
                "run `{}` has no task `{}`",
                detail.run.run_id, key.task_id
            ))
        })?;
        let instance = detail.instances.iter().find(|i| &i.key == key);
        let outputs = match task.reads_outputs {
            true => outputs_of(&detail.spec, &detail.instances),
            false => serde_json::Map::new(),
        };
        Ok(render_try(
            &detail.spec,
            &detail.run,
            task,
            instance.and_then(|i| i.item.as_ref()),
            &outputs,
            instance.map_or(1, |i| i.try_number.max(1)),
        ))
    }

    /// Who produced and consumed an artifact.
    pub async fn artifact_lineage(&self, uri: &str) -> EngineResult<ArtifactLineage> {
        let records = self.ports.store.artifact(uri).await?;
        let runs = records
            .iter()
            .map(|r| (r.dag.to_string(), r.run_id.clone()))
            .collect();
        let expired_runs = self.not_kept(runs).await?;
        let (produced_by, consumed_by) = records
            .into_iter()
            .partition(|r| r.used == ArtifactUse::Produced);
        Ok(ArtifactLineage {
            produced_by,
            consumed_by,
            expired_runs,
        })
    }

    /// Of `runs`, those that are no longer kept.
    async fn not_kept(
        &self,
        runs: BTreeSet<(String, String)>,
    ) -> EngineResult<BTreeSet<(String, String)>> {
        let mut gone = BTreeSet::new();
        for (dag, run_id) in runs {
            if self.ports.store.run(&dag, &run_id).await?.is_none() {
                gone.insert((dag, run_id));
            }
        }
        Ok(gone)
    }

    /// Whether a run that is not kept was deleted past its retention: its
    /// logical date (from its id) is older than its DAG's retention. A run
    /// ends after its logical date, so one that never was, or was deleted
    /// by hand, may read as expired too; an id that names no date or a
    /// recent one does not.
    async fn past_retention(&self, dag: &str, run_id: &str) -> EngineResult<bool> {
        let Some(date) = updraft_core::retention::logical_date_of(run_id) else {
            return Ok(false);
        };
        let current = self
            .ports
            .store
            .dag(dag)
            .await?
            .and_then(|m| m.current_version);
        let named = match current {
            Some(version) => self.spec_version(dag, &version).await?.retention,
            None => None,
        };
        let kept = named.unwrap_or(self.settings.retention);
        let kept = chrono::Duration::from_std(kept).unwrap_or(chrono::Duration::MAX);
        Ok(date + kept < self.ports.clock.now())
    }

    /// A run's artifacts and the runs upstream and downstream of it; for a
    /// run past its retention, that it expired.
    pub async fn run_lineage(&self, dag: &str, run_id: &str) -> EngineResult<RunLineage> {
        let store = &self.ports.store;
        if store.run(dag, run_id).await?.is_none() {
            if !self.past_retention(dag, run_id).await? {
                return Err(EngineError::no_run(dag, run_id));
            }
            return Ok(RunLineage {
                produced: Vec::new(),
                consumed: Vec::new(),
                upstream: BTreeSet::new(),
                downstream: BTreeSet::new(),
                expired_runs: BTreeSet::new(),
                expired: true,
            });
        }
        let (produced, consumed): (Vec<_>, Vec<_>) = store
            .run_artifacts(dag, run_id)
            .await?
            .into_iter()
            .partition(|r| r.used == ArtifactUse::Produced);
        let this = (dag.to_string(), run_id.to_string());
        let mut lineage = RunLineage {
            produced,
            consumed,
            upstream: BTreeSet::new(),
            downstream: BTreeSet::new(),
            expired_runs: BTreeSet::new(),
            expired: false,
        };
        let joined = |records: Vec<ArtifactRecord>, used: ArtifactUse| {
            records
                .into_iter()
                .filter(move |r| r.used == used)
                .map(|r| (r.dag.to_string(), r.run_id))
                .filter(|run| *run != this)
                .collect::<Vec<_>>()
        };
        for uri in lineage
            .consumed
            .iter()
            .map(|r| r.uri.clone())
            .collect::<BTreeSet<_>>()
        {
            lineage
                .upstream
                .extend(joined(store.artifact(&uri).await?, ArtifactUse::Produced));
        }
        for uri in lineage
            .produced
            .iter()
            .map(|r| r.uri.clone())
            .collect::<BTreeSet<_>>()
        {
            lineage
                .downstream
                .extend(joined(store.artifact(&uri).await?, ArtifactUse::Consumed));
        }
        let linked = lineage
            .upstream
            .union(&lineage.downstream)
            .cloned()
            .collect();
        lineage.expired_runs = self.not_kept(linked).await?;
        Ok(lineage)
    }
}
