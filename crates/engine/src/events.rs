//! What the use cases report as they go, for the CLI's progress lines and
//! the Lambdas' structured logs. Observing never changes what happens.

use std::time::Duration;

use updraft_core::spec::Diagnostic;
use updraft_core::state::{Run, TaskKey, TaskState};

/// Something that happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A run was created.
    RunCreated(Run),
    /// A try was put on the queue.
    TaskQueued {
        /// The DAG.
        dag: String,
        /// The run.
        run_id: String,
        /// The task instance.
        key: TaskKey,
        /// The try.
        try_number: u32,
    },
    /// A try was launched.
    TaskStarted {
        /// The DAG.
        dag: String,
        /// The run.
        run_id: String,
        /// The task instance.
        key: TaskKey,
        /// The try.
        try_number: u32,
        /// The launcher's handle.
        handle: String,
    },
    /// A task instance ended a try, or ended without running.
    TaskEnded {
        /// The DAG.
        dag: String,
        /// The run.
        run_id: String,
        /// The task instance.
        key: TaskKey,
        /// The try.
        try_number: u32,
        /// Its state now (`retry_wait` if it will be tried again).
        state: TaskState,
        /// How long the try ran, if it ran.
        duration: Option<Duration>,
        /// Why it failed or did not run.
        reason: Option<String>,
    },
    /// A run ended.
    RunEnded(Run),
    /// A stale or duplicate message or completion was dropped.
    Dropped {
        /// What and why.
        what: String,
    },
    /// A queued try waits for slots of a pool.
    WaitingForPool {
        /// The try (`dag/run_id/task#try`).
        holder: String,
        /// The pool.
        pool: String,
    },
    /// Slots held by a try that ended without giving them back were given
    /// back.
    SlotsReclaimed {
        /// The try (`dag/run_id/task#try`).
        holder: String,
        /// The pool.
        pool: String,
    },
    /// Spec files that could not be loaded.
    ImportErrors(Vec<Diagnostic>),
    /// The invocation's time ran out: this is left to the next one.
    Deferred {
        /// What was left.
        what: String,
    },
    /// Events kept in the outbox could not be published now; the next
    /// tick publishes them.
    Unpublished {
        /// How many.
        count: usize,
        /// Why.
        error: String,
    },
    /// An `--on-event` command failed for one event.
    EventCommandFailed {
        /// Which event.
        what: String,
        /// How it failed.
        error: String,
    },
    /// Scheduling one DAG or advancing one run failed; the tick went on
    /// with the others and tries it again next time.
    Isolated {
        /// The DAG, or the DAG and run (`dag/run_id`).
        what: String,
        /// What went wrong.
        error: String,
    },
}

/// Receives events.
pub trait Observer: Send + Sync {
    /// Called for every event, in order, on the task that caused it.
    fn on(&self, event: &Event);
}

/// Ignores every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn on(&self, _: &Event) {}
}
