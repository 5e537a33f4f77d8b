//! Trigger a manual run, and the spec bookkeeping every run creation
//! shares: the spec version a run pins is stored before the run is.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use updraft_core::plan::initial_instances;
use updraft_core::schedule::RunTiming;
use updraft_core::spec::{DagSpec, Diagnostic};
use updraft_core::state::{Run, RunKind, RunState, RunTrigger, run_id};

use crate::events::Event;
use crate::ports::{DagMeta, LoadedSpecs};
use crate::{Engine, EngineError, EngineResult};

/// What the maker of a run says about it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunRequest {
    /// Params overriding the spec's.
    pub params: Map<String, Value>,
    /// Labels for finding the run.
    pub labels: Vec<String>,
    /// A free-text line about the run.
    pub note: Option<String>,
    /// Who makes it (see [`Run::triggered_by`]).
    pub triggered_by: String,
}

impl RunRequest {
    /// A run made by `who` with nothing else said.
    pub fn by(who: &str) -> RunRequest {
        RunRequest {
            triggered_by: who.to_string(),
            ..RunRequest::default()
        }
    }
}

impl Engine {
    /// Creates a manual run of the DAG's current spec, with the request's
    /// params overriding the spec's, and starts it.
    pub async fn trigger(&self, dag: &str, request: RunRequest) -> EngineResult<Run> {
        let spec = self.current_spec(dag).await?;
        let now = self.ports.clock.now();
        let timing = spec.schedule.run_for_trigger(now);
        let id = run_id(RunKind::Manual, now, spec.schedule.tz());
        let run = self
            .create_run(&spec, RunKind::Manual, id.clone(), timing, request, None)
            .await?
            .ok_or_else(|| {
                EngineError::conflict(format!(
                    "run `{id}` of DAG `{dag}` already exists; trigger again"
                ))
            })?;
        Ok(self.advance(dag, &run.run_id).await?.unwrap_or(run))
    }

    /// The DAG's current spec, with its version stored.
    pub async fn current_spec(&self, dag: &str) -> EngineResult<Arc<DagSpec>> {
        find_spec(&self.sync_specs().await?, dag)
    }

    /// Loads the current specs, stores new versions and notes them (and
    /// clears import errors) on each DAG's metadata; the result carries
    /// every DAG's metadata as it now stands.
    pub async fn sync_specs(&self) -> EngineResult<LoadedSpecs> {
        let mut loaded = self.ports.specs.load().await?;
        let store = &self.ports.store;
        let mut metas = match loaded.metas.take() {
            Some(metas) => metas,
            None => store.dags().await?,
        };
        for (spec, source) in &loaded.dags {
            let known = metas.iter().position(|m| m.dag == spec.id);
            let mut meta = known
                .map(|i| metas[i].clone())
                .unwrap_or_else(|| DagMeta::new(spec.id.clone()));
            if meta.current_version.as_deref() != Some(&spec.version) || meta.import_error.is_some()
            {
                self.adopt(spec, source, &mut meta).await?;
            }
            match known {
                Some(i) => metas[i] = meta,
                None => metas.push(meta),
            }
            self.remember_spec(spec);
        }
        loaded.metas = Some(metas);
        if let Some(pools) = &loaded.pools {
            self.declare_pools(pools).await?;
        }
        if !loaded.errors.is_empty() {
            self.emit(Event::ImportErrors(loaded.errors.clone()));
        }
        Ok(loaded)
    }

    /// Creates a run pinned to `spec`; `None` if a run with that id exists.
    pub(crate) async fn create_run(
        &self,
        spec: &DagSpec,
        kind: RunKind,
        run_id: String,
        timing: RunTiming,
        request: RunRequest,
        trigger: Option<RunTrigger>,
    ) -> EngineResult<Option<Run>> {
        let mut run = queued_run(spec, kind, run_id, timing, request, self.ports.clock.now());
        run.trigger = trigger;
        let notices = self.run_change_notices(None, &run, run.revision).await?;
        if !self
            .ports
            .store
            .create_run(&run, &initial_instances(spec), &notices)
            .await?
        {
            return Ok(None);
        }
        self.publish_kept(&notices).await;
        self.emit(Event::RunCreated(run.clone()));
        Ok(Some(run))
    }
}

/// A new run of `spec`, queued: the request's params over the spec's.
pub(crate) fn queued_run(
    spec: &DagSpec,
    kind: RunKind,
    run_id: String,
    timing: RunTiming,
    request: RunRequest,
    now: DateTime<Utc>,
) -> Run {
    let mut params = spec.params.clone();
    params.extend(request.params);
    Run {
        dag: spec.id.clone(),
        run_id,
        kind,
        state: RunState::Queued,
        spec_version: spec.version.clone(),
        logical_date: timing.logical_date,
        data_interval_start: timing.data_interval_start,
        data_interval_end: timing.data_interval_end,
        params,
        labels: request.labels,
        created_at: now,
        started_at: None,
        ended_at: None,
        triggered_by: request.triggered_by,
        note: request.note,
        reason: None,
        metrics: Default::default(),
        deadline_missed_at: None,
        trigger: None,
        revision: 0,
    }
}

/// The DAG among the loaded specs, or an error naming the known ones (and
/// the first spec error, which may be why it is missing).
pub(crate) fn find_spec(loaded: &LoadedSpecs, dag: &str) -> EngineResult<Arc<DagSpec>> {
    if let Some((spec, _)) = loaded.dags.iter().find(|(spec, _)| spec.id.as_str() == dag) {
        return Ok(Arc::new(spec.clone()));
    }
    let known: Vec<&str> = loaded.dags.iter().map(|(s, _)| s.id.as_str()).collect();
    Err(EngineError::not_found(unknown_dag(
        dag,
        "",
        &known,
        &loaded.errors,
    )))
}

/// Says that `dag` is not among the `known` DAGs (of `within`, when not
/// empty), and the first spec error, which may be why it is missing.
pub fn unknown_dag(dag: &str, within: &str, known: &[&str], errors: &[Diagnostic]) -> String {
    let within = match within.is_empty() {
        true => String::new(),
        false => format!(" in {within}"),
    };
    let known = match known.is_empty() {
        true => "none".to_string(),
        false => known.join(", "),
    };
    let mut message = format!("unknown DAG `{dag}`{within}; known DAGs: {known}");
    if let Some(first) = errors.first() {
        message += &format!(" ({} spec error(s), first: {first})", errors.len());
    }
    message
}
