//! Tries and the launch handles that lead back to them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use updraft_core::notify::Notice;
use updraft_core::state::{ArtifactRecord, Attempt, TaskKey, TaskTransition};

use super::{ArtifactStore, RunStore};
use crate::ports::PortResult;

/// The record of every try and the handle its launcher gave it. Recording
/// a launch or an end also writes the task instance (and an end the
/// lineage), in one request where the store can.
#[async_trait]
pub trait AttemptStore: RunStore + ArtifactStore {
    /// Creates or replaces the record of one try.
    async fn put_attempt(&self, dag: &str, run_id: &str, attempt: &Attempt) -> PortResult<()>;

    /// Creates the record of one try if it has none; `false` if it had one
    /// (the try is being launched again) and it was left as it was.
    async fn put_new_attempt(&self, dag: &str, run_id: &str, attempt: &Attempt)
    -> PortResult<bool>;

    /// One try.
    async fn attempt(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
        try_number: u32,
    ) -> PortResult<Option<Attempt>>;

    /// Every try of every task of a run.
    async fn attempts(&self, dag: &str, run_id: &str) -> PortResult<Vec<Attempt>>;

    /// Remembers which try a launch handle belongs to.
    async fn put_handle(&self, handle: &str, try_ref: &HandleRef) -> PortResult<()>;

    /// The try a launch handle belongs to.
    async fn handle(&self, handle: &str) -> PortResult<Option<HandleRef>>;

    /// Records a launched try: its attempt, its handle and the instance's
    /// `launching → running` compare-and-set. `false` if the instance moved
    /// on. A store may write all three in one request (and then none if the
    /// compare-and-set fails), or in this order.
    async fn record_launch(
        &self,
        launch: &LaunchRecord<'_>,
        running: &TaskTransition,
    ) -> PortResult<bool> {
        // The attempt first: a process that dies after it leaves the try
        // with its handle and output location, which a relaunch or the end
        // of the try then finds; a handle alone would let the end be
        // recorded against an attempt that does not know where its output is.
        // A try that already ended (a relaunch racing its end) keeps its end.
        let (dag, run_id) = (&launch.try_ref.dag, &launch.try_ref.run_id);
        let (key, try_number) = (&launch.attempt.key, launch.attempt.try_number);
        let stored = self.attempt(dag, run_id, key, try_number).await?;
        if stored.is_none_or(|a| a.ended_at.is_none()) {
            self.put_attempt(dag, run_id, launch.attempt).await?;
        }
        self.put_handle(launch.handle, launch.try_ref).await?;
        self.update_instance(dag, run_id, running, &[]).await
    }

    /// Records a try's end: the closed attempt, the instance's
    /// compare-and-set with its events and, if it holds, the lineage
    /// records. `false` if the instance moved on, or if another launch of
    /// the try was recorded since its attempt was read (a handle other than
    /// the closed attempt's). A store may write them in one request, or in
    /// this order.
    async fn record_end(&self, end: &TryEnd<'_>) -> PortResult<bool> {
        record_end_in_turn(self, end).await
    }
}

/// Which try a launch handle belongs to: what an ECS or SageMaker event
/// names is the handle, and the recorder needs the task instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleRef {
    /// The DAG.
    pub dag: String,
    /// The run.
    pub run_id: String,
    /// The task instance.
    pub key: TaskKey,
    /// The try.
    pub try_number: u32,
}

/// What [`AttemptStore::record_launch`] writes besides the transition.
#[derive(Clone, Copy, Debug)]
pub struct LaunchRecord<'a> {
    /// The launcher's handle.
    pub handle: &'a str,
    /// The try it belongs to.
    pub try_ref: &'a HandleRef,
    /// The try's record, with the handle.
    pub attempt: &'a Attempt,
}

/// What [`AttemptStore::record_end`] writes.
#[derive(Clone, Copy, Debug)]
pub struct TryEnd<'a> {
    /// The DAG.
    pub dag: &'a str,
    /// The run.
    pub run_id: &'a str,
    /// The instance's compare-and-set.
    pub change: &'a TaskTransition,
    /// The closed try's record.
    pub attempt: Option<&'a Attempt>,
    /// What the try produced and consumed.
    pub lineage: &'a [ArtifactRecord],
    /// The events the end makes.
    pub notices: &'a [Notice],
}

/// [`AttemptStore::record_end`] as separate writes: the closed attempt
/// first (a process that dies after it leaves the instance in flight, so the
/// end is recorded again, rather than a try whose record stays open for
/// good), the compare-and-set with its events, then (if it held) the
/// lineage.
pub async fn record_end_in_turn<S: AttemptStore + ?Sized>(
    store: &S,
    end: &TryEnd<'_>,
) -> PortResult<bool> {
    let (dag, run_id) = (end.dag, end.run_id);
    if let Some(attempt) = end.attempt {
        let stored = store
            .attempt(dag, run_id, &attempt.key, attempt.try_number)
            .await?;
        if stored.is_some_and(|s| s.handle != attempt.handle) {
            return Ok(false);
        }
        store.put_attempt(dag, run_id, attempt).await?;
    }
    if !store
        .update_instance(dag, run_id, end.change, end.notices)
        .await?
    {
        return Ok(false);
    }
    if !end.lineage.is_empty() {
        store.put_artifacts(end.lineage).await?;
    }
    Ok(true)
}
