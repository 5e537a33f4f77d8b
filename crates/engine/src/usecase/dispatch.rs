//! Dispatch: a queue message → `queued(n) → launching(n)` → launch →
//! `running(n)`. A message whose compare-and-set fails is stale and is
//! acknowledged without doing anything.

use std::time::Duration;

use serde_json::Map;
use updraft_core::plan::{Outcome, mark_running, outputs_of, requeue, start_launch};
use updraft_core::spec::{DagSpec, TaskSpec};
use updraft_core::state::{Attempt, Run, TaskInstance, TaskState};
use updraft_core::template::{RenderedTask, Renderer, TemplateVars, render_task};

use crate::events::Event;
use crate::ports::{
    Completion, Delivery, HandleRef, HandleStatus, LaunchError, LaunchRecord, LaunchRequest,
    PortError, TaskMessage,
};
use crate::usecase::advance::MAX_WAKE_DELAY;
use crate::{Engine, EngineError, EngineResult};

/// How often a task message is delivered before its try is failed (and,
/// on AWS, the message moved to the dead-letter queue).
pub const MAX_DELIVERIES: u32 = 5;

/// What the queue should do with a delivered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// It was handled, or was stale: delete it.
    Done,
    /// It could not be handled now: deliver it again after this long.
    Again(Duration),
    /// It could not be handled on its last delivery: its try was failed
    /// with this reason.
    GaveUp(String),
}

/// How often a try of `task` is poked between ticks, if it waits on its
/// service (at most what a queue can delay; longer waits are poked by the
/// ticks' reconciliation).
fn poke_interval(task: &TaskSpec) -> Option<Duration> {
    task.service
        .as_ref()?
        .poke_interval()
        .filter(|every| *every <= MAX_WAKE_DELAY)
}

/// The wait before delivery `deliveries + 1`: doubling from `base`, at
/// most 15 minutes (what a queue can delay).
pub fn redelivery_delay(base: Duration, deliveries: u32) -> Duration {
    let doublings = deliveries.saturating_sub(1).min(16);
    base.saturating_mul(1 << doublings).min(MAX_WAKE_DELAY)
}

/// What became of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dispatched {
    /// The try was launched with this handle.
    Launched(String),
    /// The try could not be launched; it was recorded as a failed try.
    Failed(String),
    /// The message was stale or a duplicate.
    Stale,
    /// A retry's wake-up: the run was planned, or the wake-up sent again
    /// for the rest of the wait.
    Woken,
    /// A poke of a running try that waits on its service: it was recorded
    /// if it ended, else poked again later.
    Poked,
}

impl Engine {
    /// A retry's wake-up message: plans the run once the retry is due (which
    /// queues the try as usual); one that came early is sent again for the
    /// rest of the wait.
    async fn wake(
        &self,
        message: &TaskMessage,
        waiting: &TaskInstance,
    ) -> EngineResult<Dispatched> {
        let now = self.ports.clock.now();
        match waiting.retry_at.filter(|at| *at > now) {
            None => {
                self.advance(&message.dag, &message.run_id).await?;
            }
            Some(at) => {
                let rest = (at - now).to_std().unwrap_or_default();
                self.ports
                    .queue
                    .send(message, rest.min(MAX_WAKE_DELAY))
                    .await?;
            }
        }
        Ok(Dispatched::Woken)
    }

    /// Hides a delivery for `after` before it comes again (a backoff the
    /// queue's own visibility timeout would otherwise decide).
    pub async fn defer(&self, delivery: &Delivery, after: Duration) -> EngineResult<()> {
        Ok(self.ports.queue.extend(delivery, after).await?)
    }

    /// Dispatches a delivered message and says what the queue should do
    /// with it. A failure of the infrastructure (a launch the service could
    /// not take, a store that did not answer) is delivered again with
    /// backoff and uses up no retry; on the last delivery the try fails
    /// with the reason.
    pub async fn settle(&self, message: &TaskMessage, deliveries: u32) -> EngineResult<Settled> {
        let error = match self.dispatch(message).await {
            Ok(_) => return Ok(Settled::Done),
            Err(EngineError::Unavailable(error)) => error,
            Err(why) => {
                self.emit(Event::Dropped {
                    what: format!(
                        "{}/{}/{} try {}: {why}",
                        message.dag, message.run_id, message.key, message.try_number
                    ),
                });
                return Ok(Settled::Done);
            }
        };
        if deliveries >= MAX_DELIVERIES {
            let reason = format!("could not be dispatched after {deliveries} deliveries: {error}");
            self.give_up(message, reason.clone()).await?;
            return Ok(Settled::GaveUp(reason));
        }
        Ok(Settled::Again(redelivery_delay(
            self.settings.redelivery_backoff,
            deliveries,
        )))
    }

    /// Handles one task message. Safe to call twice with the same message:
    /// the second call finds the instance no longer `queued` for that try.
    pub async fn dispatch(&self, message: &TaskMessage) -> EngineResult<Dispatched> {
        let store = &self.ports.store;
        let (dag, run_id) = (message.dag.as_str(), message.run_id.as_str());
        let stale = |why: &str| Event::Dropped {
            what: format!(
                "{dag}/{run_id}/{} try {}: {why}",
                message.key, message.try_number
            ),
        };
        let Some(instance) = store.instance(dag, run_id, &message.key).await? else {
            self.emit(stale("no such task instance"));
            return Ok(Dispatched::Stale);
        };
        if instance.state == TaskState::RetryWait && message.try_number == instance.try_number + 1 {
            return self.wake(message, &instance).await;
        }
        if instance.state == TaskState::Running && message.try_number == instance.try_number {
            return self.poke(message).await;
        }
        if instance.state == TaskState::Waiting && message.try_number == instance.try_number {
            // A sensor's wake-up: planning its run looks at it if it is due.
            self.advance(dag, run_id).await?;
            return Ok(Dispatched::Poked);
        }
        let now = self.ports.clock.now();
        let Some(launching) = start_launch(&instance, message.try_number, now) else {
            self.emit(stale(&format!(
                "instance is {} (try {})",
                instance.state, instance.try_number
            )));
            return Ok(Dispatched::Stale);
        };
        if !store.update_instance(dag, run_id, &launching, &[]).await? {
            self.emit(stale("another worker took it"));
            return Ok(Dispatched::Stale);
        }
        let Some(run) = store.run(dag, run_id).await? else {
            return Ok(Dispatched::Stale);
        };
        let spec = self.spec_of(&run).await?;
        // Written once, with its handle, when the launch is recorded.
        let mut attempt = Attempt {
            started_at: Some(now),
            ..Attempt::new(
                message.key.clone(),
                message.try_number,
                TaskState::Launching,
            )
        };
        // An earlier launch of this try began (its dispatcher died, hung or
        // found the launcher unavailable): it may have started something.
        let relaunch = instance.launch_began.is_some();

        let Some(task) = spec.task(message.key.task_id.as_str()) else {
            return self
                .fail_launch(message, "the task is not in the run's spec version".into())
                .await;
        };
        let outputs = if task.reads_outputs {
            outputs_of(&spec, &store.instances(dag, run_id).await?)
        } else {
            Map::new()
        };
        let rendered = render_try(
            &spec,
            &run,
            task,
            instance.item.as_ref(),
            &outputs,
            message.try_number,
        );
        let (rendered, produced, consumed) = match rendered {
            Ok(rendered) => rendered,
            Err(why) => return self.fail_launch(message, why).await,
        };
        attempt.produced = produced;
        attempt.consumed = consumed;
        let request = LaunchRequest {
            dag: dag.to_string(),
            run_id: run_id.to_string(),
            key: message.key.clone(),
            try_number: message.try_number,
            task: rendered,
            compute: spec.compute_of(task).cloned(),
            timeout: task.timeout,
            relaunch,
        };
        let launched = match self.ports.launcher.launch(&request).await {
            Ok(launched) => launched,
            Err(LaunchError::Refused(why)) => {
                return self
                    .fail_launch(message, format!("launch failed: {why}"))
                    .await;
            }
            Err(LaunchError::Unavailable(why)) => {
                // Back to `queued`, so the message's next delivery takes the
                // try again (and, as a relaunch, finds anything the launch
                // started after all).
                if let Some(back) = requeue(&launching.next, self.ports.clock.now()) {
                    store.update_instance(dag, run_id, &back, &[]).await?;
                }
                return Err(EngineError::Unavailable(PortError::described(
                    format!("launch failed: {why}"),
                    why,
                )));
            }
        };
        let try_ref = HandleRef {
            dag: dag.to_string(),
            run_id: run_id.to_string(),
            key: message.key.clone(),
            try_number: message.try_number,
        };
        attempt.handle = Some(launched.handle.clone());
        attempt.log = launched.log;
        attempt.output_location = launched.output;
        attempt.state = TaskState::Running;
        let record = LaunchRecord {
            handle: &launched.handle,
            try_ref: &try_ref,
            attempt: &attempt,
        };
        // Another dispatcher's relaunch, a rerun or a mark may have moved
        // the instance on: then this try is not the one that counts.
        let recorded = match mark_running(&launching.next, message.try_number, now) {
            Some(running) => store.record_launch(&record, &running).await?,
            None => false,
        };
        if !recorded {
            self.emit(stale("the instance moved on while launching"));
            self.stop_unrecorded(
                dag,
                run_id,
                &message.key,
                message.try_number,
                &launched.handle,
            )
            .await?;
            return Ok(Dispatched::Stale);
        }
        self.emit(Event::TaskStarted {
            dag: dag.to_string(),
            run_id: run_id.to_string(),
            key: message.key.clone(),
            try_number: message.try_number,
            handle: launched.handle.clone(),
        });
        // Looked at once only; if this fails, reconciliation looks later.
        if self.ports.launcher.settled_at_launch(&launched.handle)
            && let Ok(HandleStatus::Ended(completion)) =
                self.ports.launcher.describe(&launched.handle).await
        {
            self.record_and_advance(dag, run_id, &message.key, message.try_number, completion)
                .await?;
        } else if let Some(every) = poke_interval(task) {
            self.ports.queue.send(message, every).await?;
        }
        Ok(Dispatched::Launched(launched.handle))
    }

    /// A running try's poke: a try that waits on its service (a sensor, a
    /// crawl) is looked at, recorded if it ended, else poked again after
    /// its interval. Any other running try's message is a stale duplicate.
    async fn poke(&self, message: &TaskMessage) -> EngineResult<Dispatched> {
        let store = &self.ports.store;
        let (dag, run_id) = (message.dag.as_str(), message.run_id.as_str());
        let Some(run) = store.run(dag, run_id).await? else {
            return Ok(Dispatched::Stale);
        };
        let spec = self.spec_of(&run).await?;
        let every = spec
            .task(message.key.task_id.as_str())
            .and_then(poke_interval);
        let attempt = store
            .attempt(dag, run_id, &message.key, message.try_number)
            .await?;
        let (Some(every), Some(handle)) = (every, attempt.and_then(|a| a.handle)) else {
            self.emit(Event::Dropped {
                what: format!(
                    "{dag}/{run_id}/{} try {}: instance is running",
                    message.key, message.try_number
                ),
            });
            return Ok(Dispatched::Stale);
        };
        match self.ports.launcher.describe(&handle).await? {
            HandleStatus::Ended(completion) => {
                self.record_and_advance(dag, run_id, &message.key, message.try_number, completion)
                    .await?;
            }
            // Reconciliation fails a lost try; a poke only looks.
            HandleStatus::Lost => {}
            HandleStatus::Running => self.ports.queue.send(message, every).await?,
        }
        Ok(Dispatched::Poked)
    }

    async fn fail_launch(&self, message: &TaskMessage, reason: String) -> EngineResult<Dispatched> {
        let completion = Completion {
            outcome: Outcome::Failed {
                reason: reason.clone(),
            },
            exit_code: None,
        };
        self.record(
            &message.dag,
            &message.run_id,
            &message.key,
            message.try_number,
            completion,
        )
        .await?;
        self.advance(&message.dag, &message.run_id).await?;
        Ok(Dispatched::Failed(reason))
    }
}

/// Calls `use_vars` with what the templates of try `try_number` of `task`
/// in `run` read: the one place those variables are gathered, for a
/// launch, a sensor's look and a child run's params alike.
pub(crate) fn with_try_vars<R>(
    spec: &DagSpec,
    run: &Run,
    task: &TaskSpec,
    item: Option<&serde_json::Value>,
    outputs: &Map<String, serde_json::Value>,
    try_number: u32,
    use_vars: impl FnOnce(&TemplateVars<'_>) -> R,
) -> R {
    let trigger = run.trigger.as_ref().map(|t| t.template_value());
    use_vars(&TemplateVars {
        dag: run.dag.as_str(),
        run_id: &run.run_id,
        task_id: task.id.as_str(),
        try_number,
        timing: run.timing(),
        tz: spec.schedule.tz(),
        params: &run.params,
        outputs,
        item,
        trigger: trigger.as_ref(),
    })
}

/// What a try of `task` runs: its rendered fields, and the artifacts it
/// produces and consumes; an error names the field that does not render.
pub(crate) fn render_try(
    spec: &DagSpec,
    run: &Run,
    task: &TaskSpec,
    item: Option<&serde_json::Value>,
    outputs: &Map<String, serde_json::Value>,
    try_number: u32,
) -> Result<(RenderedTask, Vec<String>, Vec<String>), String> {
    let (rendered, renderer) = with_try_vars(spec, run, task, item, outputs, try_number, |vars| {
        (render_task(task, vars), Renderer::new(vars))
    });
    let rendered = rendered?;
    let list = |sources: &[String], name: &str| {
        sources
            .iter()
            .map(|s| {
                renderer
                    .render(s)
                    .map_err(|why| format!("task `{}` {name}: {why}", task.id))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    Ok((
        rendered,
        list(&task.produces, "produces")?,
        list(&task.consumes, "consumes")?,
    ))
}
