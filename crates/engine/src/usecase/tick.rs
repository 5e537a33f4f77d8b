//! Tick: the scheduler's one periodic step (an EventBridge rule on AWS,
//! `updraft dev`'s loop locally). It does, in order:
//!
//! 1. **Sync the specs** and read each DAG's metadata: the DAGs to
//!    schedule, and the import errors of those that do not load.
//! 2. **Create the due scheduled runs** of each DAG neither paused nor
//!    `schedule: none` — at most as many as `max_active_runs` leaves room
//!    for (only the latest point without `catchup`), each put-if-absent on
//!    its logical date so a backfill or another tick never doubles one.
//! 3. **Carry out stops** a dying process left undone (every pending stop):
//!    a stop is written before the change that asks for it.
//! 4. **Publish the outbox**: events kept with their changes whose
//!    publishing failed or whose process died: the oldest 100, the rest
//!    at the next tick, so a long outage's backlog drains without making
//!    one tick long.
//! 5. **Sweep the pools**: slots held by tries that ended, and waiters a
//!    dying process left unadmitted.
//! 6. **Advance and reconcile every active run**, 16 at a time (their
//!    requests wait on the store, not on each other), starting at a place
//!    that turns each minute; when the invocation's time runs out the rest
//!    is left to the next tick (`deferred`), so a tick over thousands of
//!    runs ends in time and every run still gets its turn. Advancing
//!    releases retries, stops timed-out tries, starts queued runs and ends
//!    runs; reconciling asks the launcher about tries whose end event may
//!    have been lost.
//! 7. **Note the heartbeat** that `updraft doctor` checks.
//! 8. **Say when the next tick must come** ([`TickReport::next_due`]): a
//!    minute on while a run is active or a stop or event is left over,
//!    else the next schedule point of any DAG not paused, within the hour;
//!    and, with a waker, set the wake-up for then if that is sooner than
//!    the hourly safety tick.
//!
//! A failure of one DAG, run or step is reported in the [`TickReport`] and
//! the tick goes on with the others: one broken spec or run never stops
//! the scheduler. An idle tick (nothing due, no active run) only reads
//! (the DAGs' metadata, active runs, stops, outbox, pools) and writes the
//! heartbeat.

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use updraft_core::retention::must_keep;
use updraft_core::schedule::{SAFETY_TICK, next_tick};
use updraft_core::spec::{DagSpec, Diagnostic};
use updraft_core::state::{Run, RunKind, SCHEDULE, run_id};

use super::RunRequest;
use crate::events::Event;
use crate::ports::{DagChange, DagMeta, PortError};
use crate::{Engine, EngineError, EngineResult};

/// How many runs a tick advances at once.
const TICK_CONCURRENCY: usize = 16;

/// What a tick did.
#[derive(Clone, Debug, Default)]
pub struct TickReport {
    /// Runs created by the schedule.
    pub created: Vec<Run>,
    /// Active runs advanced.
    pub advanced: usize,
    /// Spec files that could not be loaded.
    pub import_errors: Vec<Diagnostic>,
    /// DAGs (`dag`) and runs (`dag/run_id`) whose scheduling or advance
    /// failed this time, with the error; the others went on.
    pub failures: Vec<(String, String)>,
    /// Active runs left to the next tick: the invocation's time ran out.
    pub deferred: usize,
    /// When the next tick must come, at the latest: a minute on while a
    /// run is active or work is left over, else the next schedule point of
    /// any DAG, within the hour (see [`updraft_core::schedule::next_tick`]).
    pub next_due: DateTime<Utc>,
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
            let Some(meta) = metas.iter().find(|m| m.dag == spec.id) else {
                continue;
            };
            if meta.paused || spec.schedule.is_none() {
                continue;
            }
            let active_here = active.iter().filter(|r| r.dag == spec.id).count();
            match self
                .schedule_dag(spec, meta.clone(), active_here, now)
                .await
            {
                Ok(created) => report.created.extend(created),
                Err(e) => self.isolate(&mut report, spec.id.to_string(), e),
            }
        }
        // Stops whose process died before the launcher took them.
        let stops_failed = self.carry_out_stops().await?;
        let mut left_over = !stops_failed.is_empty();
        for (what, error) in stops_failed {
            self.isolate(
                &mut report,
                what,
                EngineError::Unavailable(PortError::msg(error)),
            );
        }
        // Events whose publishing failed, or whose process died after the
        // change that made them.
        match self.publish_outbox().await {
            Ok(left) => left_over |= left,
            Err(e) => {
                left_over = true;
                self.isolate(&mut report, "the event outbox".into(), e);
            }
        }
        // Slots whose try ended without giving them back, and waiters whose
        // admission a dying process left undone.
        let specs: Vec<&DagSpec> = loaded.dags.iter().map(|(spec, _)| spec).collect();
        if let Err(e) = self.sweep_pools(&specs).await {
            self.isolate(&mut report, "the pools".into(), e);
        }
        self.keep_last_ended(&metas, now, &mut report).await;
        // Messages no consumer is settling (one died, or their delay or
        // backoff passed), before this tick queues more of its own.
        if let Err(e) = self.ports.queue.nudge().await {
            self.isolate(&mut report, "the task queue".into(), e.into());
        }
        let mut active = if report.created.is_empty() {
            active
        } else {
            store.active_runs().await?
        };
        active.sort_by_key(|r| r.created_at);
        // Each tick starts somewhere else, so that when time runs out every
        // run still gets its turn.
        if !active.is_empty() {
            let turn = (now.timestamp() / 60).rem_euclid(active.len() as i64) as usize;
            active.rotate_left(turn);
        }
        // A few runs at a time: their requests wait on the store, not on
        // each other.
        for (chunk_index, chunk) in active.chunks(TICK_CONCURRENCY).enumerate() {
            if self.out_of_time() {
                report.deferred = active.len() - chunk_index * TICK_CONCURRENCY;
                self.emit(Event::Deferred {
                    what: format!("{} active runs", report.deferred),
                });
                break;
            }
            let advanced = chunk
                .iter()
                .map(|run| self.advance_and_reconcile(run.dag.as_str(), &run.run_id));
            for (run, result) in chunk.iter().zip(join_all(advanced).await) {
                match result {
                    Ok(()) => report.advanced += 1,
                    Err(e) => self.isolate(&mut report, format!("{}/{}", run.dag, run.run_id), e),
                }
            }
        }
        if let Err(e) = store.note_tick(now).await {
            self.isolate(&mut report, "the heartbeat".into(), e.into());
        }
        let busy = left_over || !active.is_empty() || !report.failures.is_empty();
        let scheduled = loaded.dags.iter().filter_map(|(spec, _)| {
            let meta = metas.iter().find(|m| m.dag == spec.id)?;
            (!meta.paused).then_some((&spec.schedule, &spec.policy))
        });
        report.next_due = next_tick(now, busy, scheduled);
        // Nothing due before the safety tick: that tick comes anyway.
        if let Some(waker) = &self.waker
            && report.next_due < now + SAFETY_TICK
        {
            match waker.wake_at(report.next_due).await {
                Ok(()) => self.woke_by(report.next_due),
                Err(e) => self.isolate(&mut report, "the next tick's wake-up".into(), e.into()),
            }
        }
        Ok(report)
    }

    /// Creates the due scheduled runs of one DAG and notes the latest point.
    async fn schedule_dag(
        &self,
        spec: &DagSpec,
        meta: DagMeta,
        active_here: usize,
        now: DateTime<Utc>,
    ) -> EngineResult<Vec<Run>> {
        let due = spec
            .schedule
            .due_points(&spec.policy, meta.last_point, active_here, now);
        let mut created = Vec::new();
        let tz = spec.schedule.tz();
        for point in &due {
            // A point a backfill already ran is not run again: the store
            // makes one run per logical date, whoever asks first.
            let id = run_id(RunKind::Scheduled, *point, tz);
            let timing = spec.schedule.run_for_point(*point);
            let request = RunRequest::by(SCHEDULE);
            if let Some(run) = self
                .create_run(spec, RunKind::Scheduled, id, timing, request, None)
                .await?
            {
                created.push(run);
            }
        }
        if let Some(last) = due.last() {
            // Only this field: a pause or deploy meanwhile stays.
            self.ports
                .store
                .update_dag(&spec.id, &DagChange::LastPoint(*last))
                .await?;
        }
        Ok(created)
    }

    /// Keeps each DAG's run that ended last from expiring as it nears its
    /// horizon, where the store expires items by itself (it notes that
    /// run): `depends_on_past` and catchup read it.
    async fn keep_last_ended(
        &self,
        metas: &[DagMeta],
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) {
        for meta in metas {
            let (Some(run_id), Some(ended)) = (&meta.last_ended_run, meta.last_ended_at) else {
                continue;
            };
            let retention = meta
                .retention_secs
                .map_or(self.settings.retention, std::time::Duration::from_secs);
            let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
            if !must_keep(ended, retention, now) {
                continue;
            }
            let kept = self
                .ports
                .store
                .keep_run(meta.dag.as_str(), run_id, now)
                .await;
            if let Err(e) = kept {
                self.isolate(report, format!("{}/{run_id}", meta.dag), e.into());
            }
        }
    }

    /// Keeps a failure of one DAG or run from stopping the tick.
    fn isolate(&self, report: &mut TickReport, what: String, error: EngineError) {
        self.emit(Event::Isolated {
            what: what.clone(),
            error: error.to_string(),
        });
        report.failures.push((what, error.to_string()));
    }

    /// A tick for one run only: advance it and reconcile its tries.
    pub async fn tick_run(&self, dag: &str, run_id: &str) -> EngineResult<Option<Run>> {
        self.advance_and_reconcile(dag, run_id).await?;
        self.advance(dag, run_id).await
    }
}
