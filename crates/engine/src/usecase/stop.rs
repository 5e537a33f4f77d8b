//! Stops that survive a crash: a stop is kept in the store before the
//! change that asks for it, carried out right after, and carried out again
//! by every tick until the launcher took it. Stopping a try that already
//! ended does nothing, so a stop kept for a change that then lost its
//! compare-and-set is harmless: that try is no longer the one that counts.

use updraft_core::state::{Attempt, TaskKey, TaskState, TaskTransition};

use crate::events::Event;
use crate::ports::{HandleRef, PendingStop};
use crate::usecase::advance::close_attempt;
use crate::{Engine, EngineResult};

impl Engine {
    /// Keeps a stop of `attempt`, if it has a handle (a try still
    /// launching has none yet: its dispatcher stops what it started when
    /// it finds the instance moved on).
    pub(crate) async fn keep_stop(
        &self,
        dag: &str,
        run_id: &str,
        attempt: &Attempt,
        reason: &str,
    ) -> EngineResult<Option<PendingStop>> {
        let Some(handle) = &attempt.handle else {
            return Ok(None);
        };
        let stop = PendingStop {
            handle: handle.clone(),
            try_ref: HandleRef {
                dag: dag.to_string(),
                run_id: run_id.to_string(),
                key: attempt.key.clone(),
                try_number: attempt.try_number,
            },
            reason: reason.to_string(),
            at: self.ports.clock.now(),
        };
        self.ports.store.put_stop(&stop).await?;
        Ok(Some(stop))
    }

    /// Stops the try, closes its record if it is still open, and forgets
    /// the stop.
    pub(crate) async fn carry_out_stop(&self, stop: &PendingStop) -> EngineResult<()> {
        let store = &self.ports.store;
        self.ports.launcher.stop(&stop.handle).await?;
        let HandleRef {
            dag,
            run_id,
            key,
            try_number,
        } = &stop.try_ref;
        if let Some(mut attempt) = store.attempt(dag, run_id, key, *try_number).await? {
            let same_try = attempt.handle.as_deref().is_none_or(|h| h == stop.handle);
            if same_try && attempt.ended_at.is_none() {
                let now = self.ports.clock.now();
                close_attempt(
                    &mut attempt,
                    TaskState::Failed,
                    Some(stop.reason.clone()),
                    None,
                    now,
                );
                store.put_attempt(dag, run_id, &attempt).await?;
            }
        }
        store.clear_stop(&stop.handle).await?;
        Ok(())
    }

    /// Carries out a stop now if the launcher lets it; one it refuses stays
    /// kept for the next tick.
    pub(crate) async fn stop_now(&self, stop: &PendingStop) {
        if let Err(e) = self.carry_out_stop(stop).await {
            self.emit(Event::Isolated {
                what: format!("stop of {}", stop.handle),
                error: format!("{e}; the next tick tries again"),
            });
        }
    }

    /// Carries out every kept stop; returns the ones that failed again,
    /// with why.
    pub(crate) async fn carry_out_stops(&self) -> EngineResult<Vec<(String, String)>> {
        let mut failures = Vec::new();
        for stop in self.ports.store.stops().await? {
            if let Err(e) = self.carry_out_stop(&stop).await {
                failures.push((format!("stop of {}", stop.handle), e.to_string()));
            }
        }
        Ok(failures)
    }

    /// The try a dispatcher launched lost its compare-and-set (a rerun, a
    /// mark or a cancel moved the instance on while it launched): stop it,
    /// unless another dispatcher's relaunch of the same try recorded this
    /// very handle.
    pub(crate) async fn stop_unrecorded(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
        try_number: u32,
        handle: &str,
    ) -> EngineResult<()> {
        let store = &self.ports.store;
        if let Some(instance) = store.instance(dag, run_id, key).await? {
            let recorded = store
                .attempt(dag, run_id, key, try_number)
                .await?
                .and_then(|a| a.handle);
            if instance.try_number == try_number
                && instance.state.is_active()
                && recorded.as_deref() == Some(handle)
            {
                return Ok(());
            }
        }
        let stop = PendingStop {
            handle: handle.to_string(),
            try_ref: HandleRef {
                dag: dag.to_string(),
                run_id: run_id.to_string(),
                key: key.clone(),
                try_number,
            },
            reason: "stopped: the task instance moved on while this try was launching".into(),
            at: self.ports.clock.now(),
        };
        store.put_stop(&stop).await?;
        self.stop_now(&stop).await;
        Ok(())
    }

    /// Closes the record of a try taken over before it had a handle (its
    /// dispatcher stops whatever it then starts).
    pub(crate) async fn close_unlaunched(
        &self,
        dag: &str,
        run_id: &str,
        change: &TaskTransition,
    ) -> EngineResult<()> {
        let store = &self.ports.store;
        let attempt = store
            .attempt(dag, run_id, &change.next.key, change.expect_try)
            .await?;
        if let Some(mut attempt) = attempt.filter(|a| a.ended_at.is_none()) {
            let reason = change.next.reason.clone().or(Some("stopped".into()));
            close_attempt(
                &mut attempt,
                TaskState::Failed,
                reason,
                None,
                self.ports.clock.now(),
            );
            store.put_attempt(dag, run_id, &attempt).await?;
        }
        Ok(())
    }
}
