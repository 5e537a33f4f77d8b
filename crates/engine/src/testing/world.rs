//! An engine over the in-memory adapters and a launcher that starts
//! nothing but keeps count, for use-case stories and fault injection.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use updraft_core::notify::Notice;
use updraft_core::plan::Outcome;
use updraft_core::spec::{SpecFile, validate_set};
use updraft_core::state::{Attempt, TaskKey, TaskTransition};

use super::faults::{Faults, FaultyLauncher, FaultyPublisher, FaultyQueue};
use crate::events::{Event, Observer};
use crate::memory::{ManualClock, MemoryQueue, MemoryStore};
use crate::ports::{
    Completion, HandleStatus, LaunchError, LaunchRequest, Launched, Launcher, LoadedSpecs, LogPage,
    LogWindow, PortError, PortResult, Publisher, SpecSource, StateStore, TaskMessage, TaskQueue,
};
use crate::{Engine, Ports, Settings};

/// Specs given as text.
pub struct FixedSpecs(pub LoadedSpecs);

#[async_trait]
impl SpecSource for FixedSpecs {
    async fn load(&self) -> PortResult<LoadedSpecs> {
        Ok(self.0.clone())
    }
}

/// A change another writer makes while a launch is under way (a rerun or
/// mark racing the dispatcher).
pub struct Interference {
    /// The store it writes to.
    pub store: Arc<dyn StateStore>,
    /// The DAG.
    pub dag: String,
    /// The run.
    pub run_id: String,
    /// The change.
    pub change: TaskTransition,
}

#[derive(Default)]
struct Books {
    launches: BTreeMap<String, usize>,
    running: BTreeSet<String>,
    ended: BTreeSet<String>,
    overlaps: usize,
    stopped: Vec<String>,
    unavailable: u32,
    refusal: Option<String>,
    failing_stops: u32,
    interference: Option<Interference>,
}

/// Starts nothing. Like ECS's client token or a SageMaker job name, it
/// gives the same handle for the same try, and it counts how often each
/// try was started, which are still running, and what was stopped. It can
/// be told to answer launches "unavailable" or "refused" and to fail
/// stops.
#[derive(Default)]
pub struct CountingLauncher(Mutex<Books>);

impl CountingLauncher {
    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many tries were started.
    pub fn starts(&self) -> usize {
        self.books().launches.len()
    }

    /// How many launch calls each try's handle had.
    pub fn launches(&self) -> BTreeMap<String, usize> {
        self.books().launches.clone()
    }

    /// Handles started and neither stopped nor ended by [`Self::end`].
    pub fn running(&self) -> BTreeSet<String> {
        self.books().running.clone()
    }

    /// Every stop taken, in order.
    pub fn stopped(&self) -> Vec<String> {
        self.books().stopped.clone()
    }

    /// The next `n` launches find the service unavailable.
    pub fn make_unavailable(&self, n: u32) {
        self.books().unavailable = n;
    }

    /// Every launch is refused with `why` (`None`: accepted again).
    pub fn refuse(&self, why: Option<&str>) {
        self.books().refusal = why.map(str::to_string);
    }

    /// The next `n` stops fail.
    pub fn fail_stops(&self, n: u32) {
        self.books().failing_stops = n;
    }

    /// The next launch, once started, lets `interference` change the store.
    pub fn interfere(&self, interference: Interference) {
        self.books().interference = Some(interference);
    }

    /// A started try ended well on its own.
    pub fn end(&self, handle: &str) {
        let mut books = self.books();
        if books.running.remove(handle) {
            books.ended.insert(handle.to_string());
        }
    }

    /// How often a try started while another try of the same task
    /// instance still ran.
    pub fn overlaps(&self) -> usize {
        self.books().overlaps
    }

    /// The handle this launcher gives a try.
    pub fn handle_of(run_id: &str, key: &TaskKey, try_number: u32) -> String {
        format!("{run_id}/{key}/{try_number}")
    }
}

#[async_trait]
impl Launcher for CountingLauncher {
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, LaunchError> {
        let handle = Self::handle_of(&request.run_id, &request.key, request.try_number);
        let interference = {
            let mut books = self.books();
            if let Some(why) = &books.refusal {
                return Err(LaunchError::Refused(why.clone()));
            }
            if books.unavailable > 0 {
                books.unavailable -= 1;
                return Err(LaunchError::Unavailable(PortError::msg(
                    "RunTask: ServerException: service unavailable",
                )));
            }
            let launches = books.launches.entry(handle.clone()).or_default();
            *launches += 1;
            // A try launched again is found, not started again.
            if *launches == 1 {
                let instance = instance_of(&handle).to_string();
                if books.running.iter().any(|h| instance_of(h) == instance) {
                    books.overlaps += 1;
                }
                books.running.insert(handle.clone());
            }
            books.interference.take()
        };
        if let Some(i) = interference {
            i.store
                .update_instance(&i.dag, &i.run_id, &i.change, &[])
                .await
                .expect("the interfering change");
        }
        Ok(Launched {
            handle,
            log: None,
            output: None,
        })
    }
    async fn describe(&self, handle: &str) -> PortResult<HandleStatus> {
        let books = self.books();
        Ok(if books.running.contains(handle) {
            HandleStatus::Running
        } else if books.ended.contains(handle) {
            HandleStatus::Ended(Completion {
                outcome: Outcome::Succeeded,
                exit_code: Some(0),
            })
        } else if books.stopped.iter().any(|h| h == handle) {
            HandleStatus::Ended(Completion {
                outcome: Outcome::Failed {
                    reason: "stopped".into(),
                },
                exit_code: None,
            })
        } else {
            HandleStatus::Lost
        })
    }
    async fn stop(&self, handle: &str) -> PortResult<()> {
        let mut books = self.books();
        if books.failing_stops > 0 {
            books.failing_stops -= 1;
            return Err(PortError::msg(
                "StopTask: ThrottlingException: rate exceeded",
            ));
        }
        if books.running.remove(handle) {
            books.stopped.push(handle.to_string());
        }
        Ok(())
    }
    async fn logs(&self, _: &Attempt, _: &LogWindow) -> PortResult<LogPage> {
        Ok(LogPage::default())
    }
    async fn read_output(&self, _: &Attempt) -> PortResult<Option<String>> {
        Ok(None)
    }
}

/// The task instance part of a handle (`<run>/<key>`).
fn instance_of(handle: &str) -> &str {
    handle
        .rsplit_once('/')
        .map_or(handle, |(instance, _)| instance)
}

/// A bus that keeps every event published to it, duplicates too, and
/// refuses the next `fail` publishes.
#[derive(Default)]
pub struct RecordingBus {
    published: Mutex<Vec<Notice>>,
    fail: Mutex<u32>,
}

impl RecordingBus {
    /// Every event published so far, in order.
    pub fn published(&self) -> Vec<Notice> {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Refuses the next `times` publishes.
    pub fn fail_next(&self, times: u32) {
        *self.fail.lock().unwrap_or_else(|e| e.into_inner()) = times;
    }
}

#[async_trait]
impl Publisher for RecordingBus {
    async fn publish(&self, notices: &[Notice]) -> PortResult<Vec<String>> {
        {
            let mut fail = self.fail.lock().unwrap_or_else(|e| e.into_inner());
            if *fail > 0 {
                *fail -= 1;
                return Err(PortError::msg("PutEvents: InternalFailure"));
            }
        }
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(notices.iter().cloned());
        Ok(notices.iter().map(|n| n.id.clone()).collect())
    }
}

/// Keeps every event.
#[derive(Default)]
pub struct Recorded(pub Mutex<Vec<Event>>);

impl Recorded {
    /// What every `Dropped` event said.
    pub fn dropped(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Dropped { what } => Some(what),
                _ => None,
            })
            .collect()
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Observer for Recorded {
    fn on(&self, event: &Event) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
    }
}

/// An engine with its in-memory parts at hand.
pub struct World {
    /// The use cases.
    pub engine: Arc<Engine>,
    /// The store behind them.
    pub store: Arc<dyn StateStore>,
    /// The queue behind them.
    pub queue: Arc<MemoryQueue>,
    /// The launcher behind them.
    pub launcher: Arc<CountingLauncher>,
    /// The time.
    pub clock: Arc<ManualClock>,
    /// What they reported.
    pub events: Arc<Recorded>,
    /// What they published.
    pub bus: Arc<RecordingBus>,
}

/// `2026-11-21T00:00:30Z`, when every world starts.
pub fn world_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T00:00:30Z")
        .expect("a valid time")
        .with_timezone(&Utc)
}

impl World {
    /// A world with one spec file, over `store` (a fresh memory store if
    /// `None`).
    pub fn new(yaml: &str, store: Option<Arc<dyn StateStore>>, settings: Settings) -> World {
        World::build(&[yaml], store, settings, None)
    }

    /// A world with several spec files (DAGs that trigger one another).
    pub fn of_specs(yamls: &[&str]) -> World {
        World::build(yamls, None, Settings::default(), None)
    }

    /// A world whose engine reaches its store as `store.1` (one that fails
    /// as `faults` says) and its queue and launcher through `faults`; the
    /// world's own fields are the ports behind them (`store.0`).
    pub fn with_faults(
        yamls: &[&str],
        store: (Arc<dyn StateStore>, Arc<dyn StateStore>),
        settings: Settings,
        faults: &Faults,
    ) -> World {
        let (raw, faulty) = store;
        World::build(yamls, Some(raw), settings, Some((faults, faulty)))
    }

    fn build(
        yamls: &[&str],
        store: Option<Arc<dyn StateStore>>,
        settings: Settings,
        faults: Option<(&Faults, Arc<dyn StateStore>)>,
    ) -> World {
        let files: Vec<SpecFile> = yamls
            .iter()
            .enumerate()
            .map(|(i, yaml)| SpecFile {
                name: match yaml.starts_with("pools:") {
                    true => "pools.yaml".to_string(),
                    false => format!("s{i}.yaml"),
                },
                text: yaml.to_string(),
            })
            .collect();
        let set = validate_set(&files);
        assert!(set.errors.is_empty(), "{:?}", set.errors);
        let pools = set.pool_slots();
        let loaded = LoadedSpecs {
            dags: set
                .dags
                .into_values()
                .map(|s| {
                    let source = files
                        .iter()
                        .find(|f| f.name == s.file)
                        .map(|f| f.text.clone());
                    (s, source.unwrap_or_default())
                })
                .collect(),
            errors: vec![],
            metas: None,
            pools,
        };
        let store = store.unwrap_or_else(|| Arc::new(MemoryStore::default()));
        // Faulty worlds redeliver at once: their tests drive the time.
        let visibility = match faults {
            Some(_) => Duration::ZERO,
            None => Duration::from_secs(60),
        };
        let queue = Arc::new(MemoryQueue::new(visibility));
        let launcher = Arc::new(CountingLauncher::default());
        let clock = Arc::new(ManualClock::new(world_start()));
        let events = Arc::new(Recorded::default());
        let bus = Arc::new(RecordingBus::default());
        let mut publisher: Arc<dyn Publisher> = bus.clone();
        let mut ports = Ports {
            store: store.clone(),
            queue: queue.clone(),
            specs: Arc::new(FixedSpecs(loaded)),
            launcher: launcher.clone(),
            clock: clock.clone(),
        };
        if let Some((faults, store)) = faults {
            ports.store = store;
            ports.queue = Arc::new(FaultyQueue {
                inner: ports.queue,
                faults: faults.clone(),
            });
            ports.launcher = Arc::new(FaultyLauncher {
                inner: ports.launcher,
                faults: faults.clone(),
            });
            publisher = Arc::new(FaultyPublisher {
                inner: publisher,
                faults: faults.clone(),
            });
        }
        let engine = Engine::new(ports)
            .with_observer(events.clone())
            .with_settings(settings)
            .with_publisher(publisher, Some("http://localhost:8080".into()));
        World {
            engine: Arc::new(engine),
            store,
            queue,
            launcher,
            clock,
            events,
            bus,
        }
    }

    /// Receives and deletes the next visible message.
    pub async fn next_message(&self) -> Option<TaskMessage> {
        let got = self.queue.receive(1).await.expect("the memory queue");
        let delivery = got.into_iter().next()?;
        self.queue.ack(&delivery).await.expect("the memory queue");
        Some(delivery.message)
    }
}
