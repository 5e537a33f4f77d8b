//! The local loop behind `updraft dev` and `updraft run`: ticks, workers
//! that launch queued tries as processes, and recording of their ends, which
//! plans the run again at once.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;
use updraft_core::state::Run;
use updraft_engine::events::Event;
use updraft_engine::ports::TaskQueue;
use updraft_engine::{Engine, EngineResult};

use crate::doorbell::{Doorbell, ring_waiters};
use crate::process::{LocalCompletion, ProcessLauncher};

/// What the loop schedules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every DAG: create scheduled runs, advance every active run (`dev`).
    All,
    /// One run until it ends (`run`).
    Run {
        /// The DAG.
        dag: String,
        /// The run.
        run_id: String,
    },
}

/// The loop's parts and pace.
pub struct DevLoop {
    /// The use cases.
    pub engine: Arc<Engine>,
    /// Where queued tries wait.
    pub queue: Arc<dyn TaskQueue>,
    /// Starts tries.
    pub launcher: Arc<ProcessLauncher>,
    /// Ends of tries.
    pub ended: UnboundedReceiver<LocalCompletion>,
    /// How many tries run at once.
    pub workers: usize,
    /// How often to tick.
    pub tick_every: Duration,
    /// How often to look for messages other processes queued, when the
    /// loop has no doorbell they ring (with one, each tick looks too: a
    /// delayed retry starts by the first tick after it comes due).
    pub poll_every: Duration,
    /// Runs with recorded ends not yet planned.
    pub dirty: BTreeSet<(String, String)>,
    /// The state directory, whose doorbells the loop answers and rings.
    pub state: PathBuf,
}

/// How long `dev` keeps a spare supervisor that no try was handed to.
const SPARE_IDLE: Duration = Duration::from_secs(300);

/// How often `dev` deletes the runs past their retention.
const CLEAN_EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest recorded ends wait to be planned while workers are busy.
const MAX_ADVANCE_DELAY: Duration = Duration::from_millis(200);

impl DevLoop {
    /// Runs until `shutdown` resolves or, for [`Scope::Run`], until the run
    /// ends; returns the run in that case.
    pub async fn run(
        &mut self,
        scope: Scope,
        shutdown: impl Future<Output = ()>,
    ) -> EngineResult<Option<Run>> {
        tokio::pin!(shutdown);
        // Only `dev` answers the doorbell (`run` queues in memory); one it
        // cannot bind (a path too long for a socket) leaves the poll.
        let doorbell = match scope {
            Scope::All => Doorbell::of_dev(&self.state).ok(),
            Scope::Run { .. } => None,
        };
        let mut ticker = tokio::time::interval(self.tick_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_advance = Instant::now();
        let mut last_clean: Option<Instant> = None;
        loop {
            let drained = self.dispatch_ready().await;
            let queue_drained = self.survive(&scope, drained)?.unwrap_or(true);
            // Advancing a run plans all of it; while queued tries wait for
            // workers, ends are recorded at once but planned in batches.
            if !self.dirty.is_empty()
                && (queue_drained || last_advance.elapsed() >= MAX_ADVANCE_DELAY)
            {
                let mut ended = false;
                for (dag, run_id) in std::mem::take(&mut self.dirty) {
                    let advanced = self.engine.advance(&dag, &run_id).await;
                    let run = self.survive(&scope, advanced)?.flatten();
                    ended |= run.is_some_and(|run| run.state.is_terminal());
                }
                // Waiters wait for ends: no other advance is worth a ring.
                if ended {
                    ring_waiters(&self.state);
                }
                last_advance = Instant::now();
                continue;
            }
            if let Scope::Run { dag, run_id } = &scope {
                let run = self.engine.find_run(dag, run_id).await?;
                if run.state.is_terminal() {
                    return Ok(Some(run));
                }
            }
            tokio::select! {
                () = &mut shutdown => return Ok(None),
                Some(first) = self.ended.recv() => {
                    let recorded = self.record_batch(first).await;
                    self.survive(&scope, recorded)?;
                }
                _ = ticker.tick() => match &scope {
                    Scope::All => {
                        let ticked = self.engine.tick().await;
                        self.survive(&scope, ticked)?;
                        ring_waiters(&self.state);
                        self.launcher.retire_idle_spare(SPARE_IDLE).await;
                        if last_clean.is_none_or(|at| at.elapsed() >= CLEAN_EVERY) {
                            let cleaned = crate::clean(&self.engine, &self.state, None, false).await;
                            self.survive(&scope, cleaned)?;
                            last_clean = Some(Instant::now());
                        }
                    }
                    Scope::Run { dag, run_id } => {
                        self.engine.tick_run(dag, run_id).await?;
                    }
                },
                () = rung(doorbell.as_ref()) => {}
                () = tokio::time::sleep(self.poll_every), if doorbell.is_none() => {}
            }
        }
    }

    /// `dev` reports a failure and goes on (what failed is tried again by
    /// the next tick or delivery); `run` ends with it.
    fn survive<T>(&self, scope: &Scope, result: EngineResult<T>) -> EngineResult<Option<T>> {
        match (result, scope) {
            (Ok(value), _) => Ok(Some(value)),
            (Err(e), Scope::All) => {
                self.engine.report(Event::Isolated {
                    what: "updraft dev".into(),
                    error: e.to_string(),
                });
                Ok(None)
            }
            (Err(e), Scope::Run { .. }) => Err(e),
        }
    }

    /// Records every end that has arrived; their runs are advanced by the loop.
    async fn record_batch(&mut self, first: LocalCompletion) -> EngineResult<()> {
        let mut batch = vec![first];
        while let Ok(next) = self.ended.try_recv() {
            batch.push(next);
        }
        for ended in batch {
            let LocalCompletion {
                dag,
                run_id,
                key,
                try_number,
                completion,
            } = ended;
            if self
                .engine
                .record(&dag, &run_id, &key, try_number, completion)
                .await?
            {
                self.dirty.insert((dag, run_id));
            }
        }
        Ok(())
    }

    /// Launches queued tries while workers are free.
    /// Returns whether the queue ran dry (rather than the workers full).
    async fn dispatch_ready(&mut self) -> EngineResult<bool> {
        loop {
            let free = self.workers.saturating_sub(self.launcher.running());
            if free == 0 {
                return Ok(false);
            }
            let deliveries = self.queue.receive(free).await?;
            if deliveries.is_empty() {
                return Ok(true);
            }
            for delivery in &deliveries {
                self.engine.settle_delivery(delivery).await?;
            }
        }
    }
}

/// The doorbell's next ring, or never without one.
async fn rung(doorbell: Option<&Doorbell>) {
    match doorbell {
        Some(doorbell) => doorbell.rung().await,
        None => std::future::pending().await,
    }
}
