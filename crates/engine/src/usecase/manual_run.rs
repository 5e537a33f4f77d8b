//! Manual runs (`updraft trigger`, the dashboard's Trigger button), and
//! the creation every run shares: a run pinned to a stored spec version.
//!
//! "Trigger" names three things in updraft, each with its own code: a
//! manual run (here), a task's trigger rule (`updraft_core::plan`), and a
//! DAG's `triggers:`, runs that events start (`event_runs`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use updraft_core::plan::initial_instances;
use updraft_core::schedule::{BUSY_TICK, RunTiming};
use updraft_core::spec::{DagSpec, check_params};
use updraft_core::state::{ParentTry, Run, RunKind, RunState, RunTrigger, run_id};

use crate::events::Event;
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
    /// The `trigger_dag` try that makes it, if one does.
    pub parent: Option<Box<ParentTry>>,
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
        check_params(&spec.param_rules, &run.params).map_err(EngineError::refused)?;
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
        self.wake_soon().await;
        Ok(Some(run))
    }

    /// Asks for a tick within a minute, as an active run needs (its tries
    /// reconciled, its timeouts kept): a scheduler asleep until the next
    /// schedule point is woken. A wake-up that fails is reported; the
    /// safety tick comes within the hour anyway.
    pub(crate) async fn wake_soon(&self) {
        let Some(waker) = &self.waker else {
            return;
        };
        let now = self.ports.clock.now();
        let by = now + BUSY_TICK;
        let woken = *self.woken_by.lock().unwrap_or_else(|e| e.into_inner());
        if woken.is_some_and(|at| at > now && at <= by) {
            return;
        }
        match waker.wake_by(by, now).await {
            Ok(()) => self.woke_by(by),
            Err(e) => self.emit(Event::Isolated {
                what: "a wake-up of the scheduler".into(),
                error: e.to_string(),
            }),
        }
    }

    /// Notes that a tick comes by `at`.
    pub(crate) fn woke_by(&self, at: DateTime<Utc>) {
        *self.woken_by.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
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
        parent: request.parent,
        revision: 0,
    }
}
