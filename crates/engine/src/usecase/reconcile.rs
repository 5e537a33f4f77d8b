//! Reconcile: find tries whose news was lost. A running try with no event
//! for a while is looked up by its handle; a try stuck in `launching` (its
//! worker died) is queued again for the same try; a try `queued` for long
//! has its message sent again. Duplicates this may cause are dropped by the
//! compare-and-set, never run twice.

use std::time::Duration;

use chrono::{DateTime, Utc};
use updraft_core::plan::{Outcome, requeue};
use updraft_core::state::{Run, TaskInstance, TaskState};

use crate::events::Event;
use crate::ports::{Completion, HandleStatus, TaskMessage};
use crate::{Engine, EngineResult};

impl Engine {
    /// Looks at each launch of what `name` names (a Glue crawler's, told
    /// by its event) whose try is still running, and records those that
    /// ended; returns how many it recorded. Launches of tries that are
    /// over are not asked about.
    pub async fn look_at_launches_of(&self, name: &str) -> EngineResult<usize> {
        let store = &self.ports.store;
        let mut recorded = 0;
        for handle in self.ports.launcher.launches_of(name).await? {
            let Some(at) = store.handle(&handle).await? else {
                continue;
            };
            let instance = store.instance(&at.dag, &at.run_id, &at.key).await?;
            let running = instance
                .is_some_and(|i| i.state == TaskState::Running && i.try_number == at.try_number);
            if !running {
                continue;
            }
            if let HandleStatus::Ended(completion) = self.ports.launcher.describe(&handle).await? {
                let (dag, run_id) = (at.dag.as_str(), at.run_id.as_str());
                if self
                    .record_and_advance(dag, run_id, &at.key, at.try_number, completion)
                    .await?
                {
                    recorded += 1;
                }
            }
        }
        if recorded == 0 {
            self.emit(Event::Dropped {
                what: format!("event for {name}: no launch of it in flight ended"),
            });
        }
        Ok(recorded)
    }

    /// Advances a run, then reconciles its tries if it is still going
    /// (with the instances the advance read, when it changed nothing).
    pub(crate) async fn advance_and_reconcile(&self, dag: &str, run_id: &str) -> EngineResult<()> {
        match self.advance_seeing(dag, run_id).await? {
            (Some(run), seen) if !run.state.is_terminal() => self.reconcile(&run, seen).await,
            _ => Ok(()),
        }
    }

    /// Reconciles the tries of a run, from its instances as just read if
    /// given.
    pub(crate) async fn reconcile(
        &self,
        run: &Run,
        seen: Option<Vec<TaskInstance>>,
    ) -> EngineResult<()> {
        let now = self.ports.clock.now();
        let (dag, run_id) = (run.dag.as_str(), run.run_id.as_str());
        let instances = match seen {
            Some(instances) => instances,
            None => self.ports.store.instances(dag, run_id).await?,
        };
        let mut touched = self.reconcile_running(run, &instances, now).await?;
        for instance in instances {
            touched |= match instance.state {
                TaskState::Launching => {
                    let since = instance.launch_began.or(instance.queued_at);
                    self.reconcile_stuck(run, &instance, since, now, self.settings.relaunch_after)
                        .await?
                }
                TaskState::Queued => {
                    self.reconcile_stuck(
                        run,
                        &instance,
                        instance.queued_at,
                        now,
                        self.settings.resend_after,
                    )
                    .await?
                }
                _ => false,
            };
        }
        if touched {
            self.advance(dag, run_id).await?;
        }
        Ok(())
    }

    /// Asks the launcher about every try of the run that ran a while
    /// without news, all in one go (a hundred per ECS request), and records
    /// those that ended.
    async fn reconcile_running(
        &self,
        run: &Run,
        instances: &[TaskInstance],
        now: DateTime<Utc>,
    ) -> EngineResult<bool> {
        let (dag, run_id) = (run.dag.as_str(), run.run_id.as_str());
        let mut running = instances
            .iter()
            .filter(|i| i.state == TaskState::Running)
            .peekable();
        if running.peek().is_none() {
            return Ok(false);
        }
        // A wait is poked as often as it asks; other tries are looked up
        // only when their events are late.
        let spec = self.spec_of(run).await?;
        let quiet_for = |instance: &TaskInstance| {
            let poke = spec
                .task(instance.key.task_id.as_str())
                .and_then(|t| t.service.as_ref())
                .and_then(|s| s.poke_interval());
            poke.map_or(self.settings.reconcile_after, |p| {
                p.min(self.settings.reconcile_after)
            })
        };
        let mut quiet = Vec::new();
        for instance in running.filter(|i| older_than(i.started_at, now, quiet_for(i))) {
            let attempt = self
                .ports
                .store
                .attempt(dag, run_id, &instance.key, instance.try_number)
                .await?;
            if let Some(handle) = attempt.and_then(|a| a.handle) {
                quiet.push((instance, handle));
            }
        }
        if quiet.is_empty() {
            return Ok(false);
        }
        let handles: Vec<String> = quiet.iter().map(|(_, h)| h.clone()).collect();
        let statuses = self.ports.launcher.describe_many(&handles).await?;
        let mut touched = false;
        for ((instance, handle), status) in quiet.into_iter().zip(statuses) {
            let completion = match status {
                HandleStatus::Running => continue,
                HandleStatus::Ended(completion) => completion,
                HandleStatus::Lost => Completion {
                    outcome: Outcome::Failed {
                        reason: format!("lost: `{handle}` is gone and left no exit status"),
                    },
                    exit_code: None,
                },
            };
            touched |= self
                .record(dag, run_id, &instance.key, instance.try_number, completion)
                .await?;
        }
        Ok(touched)
    }

    async fn reconcile_stuck(
        &self,
        run: &Run,
        instance: &TaskInstance,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        after: Duration,
    ) -> EngineResult<bool> {
        if !older_than(since, now, after) {
            return Ok(false);
        }
        let Some(change) = requeue(instance, now) else {
            return Ok(false);
        };
        let (dag, run_id) = (run.dag.as_str(), run.run_id.as_str());
        if !self
            .ports
            .store
            .update_instance(dag, run_id, &change, &[])
            .await?
        {
            return Ok(false);
        }
        if instance.state == TaskState::Queued && self.requeue_for_capacity(run, instance).await? {
            return Ok(false);
        }
        let message = TaskMessage {
            dag: dag.to_string(),
            run_id: run_id.to_string(),
            key: instance.key.clone(),
            try_number: instance.try_number,
        };
        self.ports.queue.send(&message, Duration::ZERO).await?;
        Ok(false)
    }
}

fn older_than(since: Option<DateTime<Utc>>, now: DateTime<Utc>, age: Duration) -> bool {
    since.is_some_and(|t| (now - t).to_std().is_ok_and(|elapsed| elapsed >= age))
}
