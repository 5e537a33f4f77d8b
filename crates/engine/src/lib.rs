//! updraft-engine: the ports updraft needs from the world and the use cases
//! that drive the pure core through them, written once for every backend.
//!
//! # Layout
//! - [`ports`]: `StateStore` (six small traits, one per group of records:
//!   `DagStore`, `RunStore`, `AttemptStore`, `LeftoverStore`, `PoolStore`,
//!   `ArtifactStore`), `TaskQueue`, `SpecSource` (current specs),
//!   `SpecFiles` (deployed spec files), `Launcher`, `Publisher`, `Clock`.
//! - [`error`]: what a use case's failure is, by what a shell does with it.
//! - [`usecase`]: one module per use case — tick, dispatch, record, advance
//!   (plan a run and apply the plan), manual runs, runs events start,
//!   specs (deploy and sync), rerun, mark, cancel, backfill, pause, pools,
//!   and the read-only queries behind `runs`, `show` and `logs`.
//! - [`events`]: what the use cases report as they go.
//! - [`json`]: the typed JSON shapes of runs, tasks, comparisons and
//!   lineage, for `--output json` and the dashboard's API alike.
//! - [`memory`]: in-memory store, queue and a manual clock.
//! - `testing` (feature `test-util`): the port conformance suites every
//!   adapter runs (`store_contract!`: one test per case), crash points and
//!   an in-memory world for use-case stories.
//!
//! Every state change goes through a compare-and-set on (state, try); a
//! stale or duplicate message or completion is dropped and reported as
//! [`events::Event::Dropped`], never applied twice.

pub mod error;
pub mod events;
pub mod json;
pub mod memory;
pub mod ports;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod usecase;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

pub use error::{EngineError, EngineResult};
use events::{Event, Observer, Quiet};
use ports::{Clock, Launcher, Publisher, SpecFiles, SpecSource, StateStore, TaskQueue, Waker};
use updraft_core::spec::{DagSpec, parse_stored_spec};
use updraft_core::state::Run;

/// The adapters an engine works through.
#[derive(Clone)]
pub struct Ports {
    /// Runs, task instances, attempts, specs, DAG metadata.
    pub store: Arc<dyn StateStore>,
    /// Task messages.
    pub queue: Arc<dyn TaskQueue>,
    /// Current specs.
    pub specs: Arc<dyn SpecSource>,
    /// Starts and stops tries.
    pub launcher: Arc<dyn Launcher>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

/// Timings of reconciliation, which differ between a local machine and AWS.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Ask the launcher about a running try after it ran this long without
    /// an event (events can be lost).
    pub reconcile_after: Duration,
    /// A try stuck in `launching` this long (its dispatcher died) is queued
    /// again; the launch is idempotent, so it cannot start twice.
    pub relaunch_after: Duration,
    /// A try `queued` this long has its message sent again (a message can
    /// be lost with the process that held it).
    pub resend_after: Duration,
    /// The wait before a message that could not be handled is delivered
    /// again; it doubles with every delivery.
    pub redelivery_backoff: Duration,
    /// How long ended runs are kept when their DAG names no `retention`
    /// (a stack's `RetentionDays`).
    pub retention: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            reconcile_after: Duration::from_secs(300),
            relaunch_after: Duration::from_secs(120),
            resend_after: Duration::from_secs(600),
            redelivery_backoff: Duration::from_secs(30),
            retention: updraft_core::retention::DEFAULT_RETENTION
                .to_std()
                .unwrap_or_default(),
        }
    }
}

/// The use cases, over one set of ports.
pub struct Engine {
    ports: Ports,
    settings: Settings,
    observer: Arc<dyn Observer>,
    announce: Announce,
    ui_url: Mutex<Option<String>>,
    specs: Mutex<HashMap<(String, String), Arc<DagSpec>>>,
    spec_files: Option<Arc<dyn SpecFiles>>,
    declared_pools: Mutex<Option<BTreeMap<String, u32>>>,
    deadline: Mutex<Option<Instant>>,
    waker: Option<Arc<dyn Waker>>,
    /// The time this engine last made sure a tick comes by: runs made
    /// before it need not ask again (a tick making a thousand runs asks
    /// once).
    woken_by: Mutex<Option<DateTime<Utc>>>,
}

/// What becomes of the events of changes.
#[derive(Clone)]
enum Announce {
    /// None are made.
    Off,
    /// Kept in the outbox for another process to publish.
    Keep,
    /// Kept, and published through this.
    Publish(Arc<dyn Publisher>),
}

/// How long before its deadline an invocation stops taking new work: room
/// to finish the change in hand and answer.
const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

impl Engine {
    /// An engine that reports nothing.
    pub fn new(ports: Ports) -> Engine {
        Engine {
            ports,
            settings: Settings::default(),
            observer: Arc::new(Quiet),
            announce: Announce::Off,
            ui_url: Mutex::default(),
            specs: Mutex::default(),
            spec_files: None,
            declared_pools: Mutex::default(),
            deadline: Mutex::default(),
            waker: None,
            woken_by: Mutex::default(),
        }
    }

    /// Reports events to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Engine {
        self.observer = observer;
        self
    }

    /// Announces every run state change and failed try through
    /// `publisher` (see [`updraft_core::notify`]), linking each event to
    /// the run's page under `ui_url` when there is one. Without a
    /// publisher (or [`Engine::keeping_events`]) no event is made or kept.
    pub fn with_publisher(
        mut self,
        publisher: Arc<dyn Publisher>,
        ui_url: Option<String>,
    ) -> Engine {
        self.announce = Announce::Publish(publisher);
        self.set_ui_url(ui_url);
        self
    }

    /// The engine with deployed spec files (a stack's bucket), which
    /// [`Engine::deploy_specs`] writes and [`Engine::sync_spec_file`] reads.
    pub fn with_spec_files(mut self, files: Arc<dyn SpecFiles>) -> Engine {
        self.spec_files = Some(files);
        self
    }

    /// Where the dashboard is served, once it is (`updraft ui`, `updraft
    /// dev`): the events of later changes link to their run's page there.
    pub fn set_ui_url(&self, url: Option<String>) {
        *self.ui_url.lock().unwrap_or_else(|e| e.into_inner()) = url;
    }

    /// Makes the events of every change and keeps them in the outbox for
    /// another process to publish (the `updraft dev` of the same state).
    pub fn keeping_events(mut self) -> Engine {
        self.announce = Announce::Keep;
        self
    }

    /// Sets each tick's successor through `waker`, and asks it for a tick
    /// within [`updraft_core::schedule::BUSY_TICK`] whenever a run is made.
    pub fn with_waker(mut self, waker: Arc<dyn Waker>) -> Engine {
        self.waker = Some(waker);
        self
    }

    /// Uses other reconciliation timings.
    pub fn with_settings(mut self, settings: Settings) -> Engine {
        self.settings = settings;
        self
    }

    /// The work budget of the current invocation: when a Lambda function
    /// must have answered. Near it, a tick stops before the next DAG or run
    /// and a plan before its next change, leaving the rest to the next
    /// invocation; each change is a whole compare-and-set, so nothing is
    /// left half-applied. `None` (local mode): no budget.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner()) = deadline;
    }

    /// Whether the invocation's budget is spent.
    pub fn out_of_time(&self) -> bool {
        let deadline = *self.deadline.lock().unwrap_or_else(|e| e.into_inner());
        deadline.is_some_and(|d| Instant::now() + DEADLINE_MARGIN >= d)
    }

    /// The ports, for tests that look behind the use cases (shells go
    /// through the use cases only).
    #[cfg(feature = "test-util")]
    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// The engine's time: what a page shows "now" against.
    pub fn now(&self) -> DateTime<Utc> {
        self.ports.clock.now()
    }

    fn emit(&self, event: Event) {
        self.observer.on(&event);
    }

    /// Reports an event an adapter noticed, through the same observer.
    pub fn report(&self, event: Event) {
        self.emit(event);
    }

    /// The spec version a run is pinned to, parsed once per process.
    pub async fn spec_of(&self, run: &Run) -> EngineResult<Arc<DagSpec>> {
        self.spec_version(run.dag.as_str(), &run.spec_version).await
    }

    async fn spec_version(&self, dag: &str, version: &str) -> EngineResult<Arc<DagSpec>> {
        let key = (dag.to_string(), version.to_string());
        if let Some(spec) = self.lock_specs().get(&key) {
            return Ok(spec.clone());
        }
        let source = self
            .ports
            .store
            .spec_version(dag, version)
            .await?
            .ok_or_else(|| {
                EngineError::undeployed(format!(
                    "spec version {version} of DAG `{dag}` is not a deployed version"
                ))
            })?;
        let spec = parse_stored_spec(
            &format!("{dag}@{}", &version[..version.len().min(12)]),
            version,
            &source,
        )
        .map_err(|why| {
            EngineError::undeployed(format!(
                "stored spec version {version} of DAG `{dag}` {why}"
            ))
        })?;
        let spec = Arc::new(spec);
        self.lock_specs().insert(key, spec.clone());
        Ok(spec)
    }

    fn remember_spec(&self, spec: &DagSpec) {
        self.lock_specs().insert(
            (spec.id.to_string(), spec.version.clone()),
            Arc::new(spec.clone()),
        );
    }

    fn lock_specs(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<DagSpec>>> {
        // A poisoned cache only means another thread panicked mid-insert;
        // the map itself is still consistent.
        self.specs.lock().unwrap_or_else(|e| e.into_inner())
    }
}
