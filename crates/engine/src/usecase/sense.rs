//! Sensors: a `waiting` task's condition is looked at when due by whoever
//! advances its run — a tick, a wake-up message, another try's end — and
//! nothing is held in between: no worker, slot or process.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use updraft_core::plan::{Outcome, outputs_of, wait_more};
use updraft_core::schedule::LocalTime;
use updraft_core::spec::{Condition, DagSpec, TaskSpec, TriggerDag, WaitFor, instant_of};
use updraft_core::state::{
    Attempt, ParentTry, Run, RunKind, RunState, TaskInstance, TaskState, run_id as run_id_of,
};
use updraft_core::template::Renderer;

use crate::ports::{Completion, Look, Probe, TaskMessage};
use crate::usecase::RunRequest;
use crate::usecase::advance::MAX_WAKE_DELAY;
use crate::usecase::dispatch::with_try_vars;
use crate::{Engine, EngineError, EngineResult};

/// How often a `trigger_dag` task with `wait` looks at its run.
const CHILD_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The longest one look of a `command` sensor may take.
const COMMAND_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

impl Engine {
    /// Looks at each sensor of the run that is due; `true` if one ended
    /// (its run is then planned again).
    pub(crate) async fn poke_sensors(
        &self,
        spec: &DagSpec,
        run: &Run,
        instances: &[TaskInstance],
    ) -> EngineResult<bool> {
        let now = self.ports.clock.now();
        let mut ended = false;
        for instance in instances {
            let due =
                instance.state == TaskState::Waiting && instance.poke_at.is_none_or(|at| at <= now);
            let task = spec.task(instance.key.task_id.as_str());
            if let (true, Some(task), Some(child)) =
                (due, task, task.and_then(|t| t.trigger_dag.as_ref()))
            {
                ended |= self.poke_child(spec, run, task, child, instance).await?;
                continue;
            }
            let (true, Some(task), Some(wait)) =
                (due, task, task.and_then(|t| t.wait_for.as_ref()))
            else {
                continue;
            };
            ended |= self
                .poke_sensor(spec, run, task, wait, instance, instances, now)
                .await?;
        }
        Ok(ended)
    }

    /// Looks once at one sensor: it succeeds when its condition holds,
    /// fails when it cannot be looked at, else is looked at again in
    /// `every` (a wake-up message brings that look between ticks).
    #[allow(clippy::too_many_arguments)]
    async fn poke_sensor(
        &self,
        spec: &DagSpec,
        run: &Run,
        task: &TaskSpec,
        wait: &WaitFor,
        instance: &TaskInstance,
        instances: &[TaskInstance],
        now: DateTime<Utc>,
    ) -> EngineResult<bool> {
        let try_number = instance.try_number;
        match self
            .look(spec, run, task, wait, instances, try_number, now)
            .await?
        {
            Look::Holds(output) => self.end_waiting(run, instance, Ok(output)).await,
            Look::Cannot(reason) => self.end_waiting(run, instance, Err(reason)).await,
            Look::NotYet => self.look_again(run, instance, wait.every).await,
        }
    }

    /// Looks at a `trigger_dag` task: starts its run of the other DAG (once
    /// per try: the run's id names the try), then, without `wait`,
    /// succeeds; with it, ends as that run ends, looked at every
    /// [`CHILD_EVERY`] until then. A run that cannot be made (an unknown
    /// DAG, params that do not fit) fails the try, saying why.
    async fn poke_child(
        &self,
        spec: &DagSpec,
        run: &Run,
        task: &TaskSpec,
        child: &TriggerDag,
        instance: &TaskInstance,
    ) -> EngineResult<bool> {
        let (dag, run_id) = (run.dag.as_str(), run.run_id.as_str());
        let try_number = instance.try_number;
        let child_dag = child.dag.as_str();
        let child_id = format!("triggered__{dag}.{}.{try_number}__{run_id}", task.id);
        let found = match self.ports.store.run(child_dag, &child_id).await? {
            Some(found) => found,
            None => match self
                .start_child_run(spec, run, task, child, try_number, &child_id)
                .await
            {
                Ok(started) => started,
                Err(e) if e.is_infrastructure() => return Err(e),
                Err(e) => {
                    let reason = format!("cannot start a run of {child_dag}: {e}");
                    return self.end_waiting(run, instance, Err(reason)).await;
                }
            },
        };
        let output = json!({"dag": child_dag, "run_id": child_id, "state": found.state});
        if !child.wait || found.state == RunState::Succeeded {
            return self.end_waiting(run, instance, Ok(Some(output))).await;
        }
        if found.state.is_terminal() {
            let reason = format!("its run {child_id} of {child_dag} ended {}", found.state);
            return self.end_waiting(run, instance, Err(reason)).await;
        }
        self.look_again(run, instance, CHILD_EVERY).await
    }

    /// Makes the run a `trigger_dag` try starts: the other DAG's current
    /// spec, its params over the other's defaults (checked as any run's),
    /// naming its parent. It starts at the next tick.
    async fn start_child_run(
        &self,
        spec: &DagSpec,
        run: &Run,
        task: &TaskSpec,
        child: &TriggerDag,
        try_number: u32,
        child_id: &str,
    ) -> EngineResult<Run> {
        let other = self.current_spec(child.dag.as_str()).await?;
        let renderer = with_try_vars(
            spec,
            run,
            task,
            None,
            &Map::new(),
            try_number,
            Renderer::new,
        );
        let mut params = child.params.clone();
        for value in params.values_mut() {
            if let Value::String(text) = value {
                *text = renderer.render(text).map_err(EngineError::refused)?;
            }
        }
        let request = RunRequest {
            params,
            labels: Vec::new(),
            note: None,
            triggered_by: format!("{}.{}", run.dag, task.id),
            parent: Some(Box::new(ParentTry {
                dag: run.dag.to_string(),
                run_id: run.run_id.clone(),
                task: task.id.to_string(),
                try_number,
            })),
        };
        let now = self.ports.clock.now();
        let timing = other.schedule.run_for_trigger(now);
        let made = self
            .create_run(
                &other,
                RunKind::Triggered,
                child_id.to_string(),
                timing,
                request,
                None,
            )
            .await?;
        match made {
            Some(made) => Ok(made),
            // Another writer made it first.
            None => self.find_run(child.dag.as_str(), child_id).await,
        }
    }

    /// Ends a waiting try — with an output the engine made (a decision, a
    /// child run's name), or none — or fails it with a reason. Its try is
    /// on record either way, also if the process that started it to wait
    /// died before writing it.
    pub(crate) async fn end_waiting(
        &self,
        run: &Run,
        instance: &TaskInstance,
        end: Result<Option<Value>, String>,
    ) -> EngineResult<bool> {
        let (dag, run_id) = (run.dag.as_str(), run.run_id.as_str());
        let (key, try_number) = (&instance.key, instance.try_number);
        let store = &self.ports.store;
        let mut attempt = store
            .attempt(dag, run_id, key, try_number)
            .await?
            .unwrap_or_else(|| Attempt {
                started_at: instance.started_at,
                ..Attempt::new(key.clone(), try_number, TaskState::Waiting)
            });
        let outcome = match end {
            Ok(output) => {
                attempt.output = output;
                Outcome::Succeeded
            }
            Err(reason) => Outcome::Failed { reason },
        };
        store.put_attempt(dag, run_id, &attempt).await?;
        let completion = Completion {
            outcome,
            exit_code: None,
        };
        self.record(dag, run_id, key, try_number, completion).await
    }

    /// A waiting try whose look found nothing yet: looked at again in
    /// `every`, a message delayed until then bringing that look between
    /// ticks. Nothing ended.
    async fn look_again(
        &self,
        run: &Run,
        instance: &TaskInstance,
        every: std::time::Duration,
    ) -> EngineResult<bool> {
        let at = self.ports.clock.now()
            + chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
        if let Some(change) = wait_more(instance, instance.try_number, at)
            && self.apply_task(run, &change).await?
            && every <= MAX_WAKE_DELAY
        {
            let message = TaskMessage {
                dag: run.dag.to_string(),
                run_id: run.run_id.clone(),
                key: instance.key.clone(),
                try_number: instance.try_number,
            };
            self.ports.queue.send(&message, every).await?;
        }
        Ok(false)
    }

    /// Whether the condition holds now.
    #[allow(clippy::too_many_arguments)]
    async fn look(
        &self,
        spec: &DagSpec,
        run: &Run,
        task: &TaskSpec,
        wait: &WaitFor,
        instances: &[TaskInstance],
        try_number: u32,
        now: DateTime<Utc>,
    ) -> EngineResult<Look> {
        let outputs = match task.reads_outputs {
            true => outputs_of(spec, instances),
            false => Default::default(),
        };
        let renderer = with_try_vars(spec, run, task, None, &outputs, try_number, Renderer::new);
        let rendered = |text: &str| {
            renderer
                .render(text)
                .map_err(|why| format!("task `{}` wait_for: {why}", task.id))
        };
        let found = match &wait.condition {
            Condition::Command(argv) => {
                let argv = match argv
                    .iter()
                    .map(|a| rendered(a))
                    .collect::<Result<Vec<_>, _>>()
                {
                    Ok(argv) => argv,
                    Err(why) => return Ok(Look::Cannot(why)),
                };
                let env = vec![
                    ("UPDRAFT_DAG".into(), run.dag.to_string()),
                    ("UPDRAFT_RUN_ID".into(), run.run_id.clone()),
                    ("UPDRAFT_TASK_ID".into(), task.id.to_string()),
                ];
                let limit = wait.every.min(COMMAND_LIMIT);
                return Ok(self
                    .ports
                    .launcher
                    .probe(&Probe::Command { argv, env, limit })
                    .await?);
            }
            Condition::File(path) => match rendered(path) {
                Ok(path) => return Ok(self.ports.launcher.probe(&Probe::File(path)).await?),
                Err(why) => Err(why),
            },
            Condition::Time(at) => rendered(at)
                .and_then(|text| instant_of(&text, spec.schedule.tz()))
                .map(|at| at <= now),
            Condition::Task {
                dag,
                task: other_task,
                logical_date,
                state,
            } => {
                let date = match logical_date.as_deref().map(rendered).transpose() {
                    Ok(date) => date,
                    Err(why) => return Ok(Look::Cannot(why)),
                };
                self.other_dag_reached(run, dag.as_str(), other_task.as_deref(), date, *state)
                    .await?
            }
            Condition::Aws { .. } => {
                let Some(service) = &task.service else {
                    let why = format!("task `{}` has no `kind: aws` wait", task.id);
                    return Ok(Look::Cannot(why));
                };
                match renderer.render_settings(&service.settings) {
                    Ok(settings) => {
                        let probe = Probe::Service(settings);
                        return Ok(self.ports.launcher.probe(&probe).await?);
                    }
                    Err(why) => Err(format!("task `{}`: {why}", task.id)),
                }
            }
        };
        Ok(Look::from(found))
    }

    /// Whether the run of `dag` with the logical date `date` (a day or an
    /// instant; this run's own when `None`) has `task` (or, without one,
    /// the whole run) in `state`. No such run yet means "not yet".
    async fn other_dag_reached(
        &self,
        run: &Run,
        dag: &str,
        task: Option<&str>,
        date: Option<String>,
        state: TaskState,
    ) -> EngineResult<Result<bool, String>> {
        let other = match self.current_spec(dag).await {
            Ok(other) => other,
            Err(e) => return Ok(Err(format!("wait_for dag `{dag}`: {e}"))),
        };
        let tz = other.schedule.tz();
        let instants: Vec<DateTime<Utc>> = match date.as_deref().map(|d| LocalTime::parse(d, tz)) {
            None => vec![run.logical_date],
            Some(Err(why)) => return Ok(Err(format!("wait_for logical_date: {why}"))),
            Some(Ok(LocalTime::Instant(t))) => vec![t],
            Some(Ok(day @ LocalTime::Date(_))) => other
                .schedule
                .points_between(day.first_instant(tz), day.last_instant(tz))
                .collect(),
        };
        for at in instants {
            for kind in [RunKind::Scheduled, RunKind::Backfill] {
                let id = run_id_of(kind, at, tz);
                let Some(found) = self.ports.store.run(dag, &id).await? else {
                    continue;
                };
                let reached = match task {
                    None => match state {
                        TaskState::Succeeded => found.state == RunState::Succeeded,
                        TaskState::Failed => found.state == RunState::Failed,
                        _ => false,
                    },
                    Some(task) => self
                        .ports
                        .store
                        .instances(dag, &id)
                        .await?
                        .iter()
                        .any(|i| i.key.task_id.as_str() == task && i.state == state),
                };
                if reached {
                    return Ok(Ok(true));
                }
            }
        }
        Ok(Ok(false))
    }
}
