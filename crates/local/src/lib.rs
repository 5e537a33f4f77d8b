//! updraft-local: updraft on one machine, with nothing but Rust installed.
//!
//! # Layout
//! - [`sqlite`]: state store and task queue in one SQLite file (WAL).
//! - [`specdir`]: specs from a directory, re-read when a file changes.
//! - [`process`]: tries as local processes, with logs, exit files and
//!   process-group kills.
//! - [`standby`]: a supervisor started ahead of the next try.
//! - [`launchers`]: processes for commands, the service kinds for the rest.
//! - [`lock`]: one loop per state directory.
//! - [`dev`]: the loop behind `updraft dev` and `updraft run`.
//! - [`on_event`]: events out: `dev --on-event COMMAND`.
//! - [`Local`]: all of it wired to an engine.
//! - [`caller`]: who is asking, as runs and audit entries name them.

pub mod dev;
pub mod doorbell;
pub mod files;
pub mod launchers;
pub mod lock;
pub mod on_event;
pub mod process;
pub mod specdir;
pub mod sqlite;
pub mod standby;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use updraft_engine::events::Observer;
use updraft_engine::memory::MemoryQueue;
use updraft_engine::ports::{PortResult, SystemClock, TaskQueue};
use updraft_engine::{Engine, EngineResult, Ports, Settings};

use crate::dev::DevLoop;
use crate::launchers::{LocalLauncher, ServiceKinds};

use crate::on_event::{CommandPublisher, DropEvents};
use crate::process::{LocalCompletion, ProcessLauncher};
use crate::specdir::SpecDir;
use crate::sqlite::{Sqlite, SqliteQueue, SqliteStore};

/// The person at this machine as `user@host`: what local runs record as
/// `triggered_by` and audit entries as `by`.
pub fn caller() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .or_else(account_name)
        .unwrap_or_else(|| "unknown".into());
    let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|file| {
            std::fs::read_to_string(Path::new(file))
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

/// `updraft clean` on a state directory: the runs past retention
/// ([`Engine::clean`]) deleted from the state and, with them, their logs
/// and output files.
pub async fn clean(
    engine: &Engine,
    state: &Path,
    older_than: Option<chrono::Duration>,
    dry_run: bool,
) -> EngineResult<Vec<updraft_core::state::Run>> {
    let gone = engine.clean(older_than, dry_run).await?;
    if !dry_run {
        let logs = state.join("logs");
        for run in &gone {
            process::remove_run_files(&logs, run.dag.as_str(), &run.run_id).map_err(|e| {
                updraft_engine::ports::PortError::new(
                    &format!("removing the logs of run {}", run.run_id),
                    e,
                )
            })?;
        }
    }
    Ok(gone)
}

/// The name of this process's user in /etc/passwd, when the environment
/// does not say (a service, a container).
fn account_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.get(2) == Some(&uid.as_str())).then(|| fields[0].to_string())
    })
}

/// How long a received task message stays hidden before another worker may
/// take it (a worker launches a try in well under a second).
const VISIBILITY: Duration = Duration::from_secs(60);

/// Where local mode keeps things and how it runs.
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// The state directory (`.updraft`).
    pub state: PathBuf,
    /// The spec directory (`dag-specs`).
    pub specs: PathBuf,
    /// The `updraft` binary, to supervise tries; `None` runs them directly.
    pub supervisor: Option<PathBuf>,
    /// What becomes of the events of changes.
    pub events: LocalEvents,
    /// Runs the tasks of service kinds (`None`: such a try fails, saying
    /// it needs a stack).
    pub services: Option<ServiceKinds>,
}

/// What becomes of the events of changes in local mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LocalEvents {
    /// Kept in the state for the `updraft dev` of the same state (every
    /// command but `dev`).
    #[default]
    Keep,
    /// Published by dropping them (`dev` without `--on-event`).
    Drop,
    /// Published by running this command for each (`dev --on-event`).
    Command(String),
}

/// Which queue an engine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueKind {
    /// The one in the state file, shared with `updraft dev`.
    Shared,
    /// One in memory, for a run this process owns alone (`updraft run`).
    Private,
}

/// Local mode, wired.
pub struct Local {
    /// The use cases over the local adapters.
    pub engine: Arc<Engine>,
    /// The task queue.
    pub queue: Arc<dyn TaskQueue>,
    /// The process launcher.
    pub launcher: Arc<ProcessLauncher>,
    ended: UnboundedReceiver<LocalCompletion>,
    state: std::path::PathBuf,
}

impl Local {
    /// Opens the state directory and builds the engine.
    pub fn open(
        config: &LocalConfig,
        queue: QueueKind,
        observer: Arc<dyn Observer>,
    ) -> PortResult<Local> {
        let state_db = config.state.join("state.db");
        files::private_dir(&config.state)
            .and_then(|()| files::private_file(&state_db))
            .map_err(|e| {
                updraft_engine::ports::PortError::new(
                    &format!("creating the state directory {}", config.state.display()),
                    e,
                )
            })?;
        let db = Sqlite::open(&state_db)?;
        let queue: Arc<dyn TaskQueue> = match queue {
            QueueKind::Shared => Arc::new(
                SqliteQueue::new(db.clone(), VISIBILITY)
                    .ringing(doorbell::DevBell::new(&config.state)),
            ),
            QueueKind::Private => Arc::new(MemoryQueue::new(VISIBILITY)),
        };
        let (sender, ended) = unbounded_channel();
        let launcher = Arc::new(ProcessLauncher::new(
            config.state.join("logs"),
            config.supervisor.clone(),
            sender,
        ));
        let ports = Ports {
            store: Arc::new(SqliteStore(db)),
            queue: queue.clone(),
            specs: Arc::new(SpecDir::new(&config.specs)),
            launcher: Arc::new(LocalLauncher::new(
                launcher.clone(),
                config.services.clone(),
            )),
            clock: Arc::new(SystemClock),
        };
        let settings = Settings {
            reconcile_after: Duration::ZERO,
            relaunch_after: Duration::from_secs(30),
            resend_after: Duration::from_secs(120),
            redelivery_backoff: Duration::from_secs(1),
            ..Settings::default()
        };
        let engine = Engine::new(ports)
            .with_observer(observer.clone())
            .with_settings(settings);
        let engine = Arc::new(match &config.events {
            LocalEvents::Keep => engine.keeping_events(),
            LocalEvents::Drop => engine.with_publisher(Arc::new(DropEvents), None),
            LocalEvents::Command(command) => engine.with_publisher(
                Arc::new(CommandPublisher::new(command.clone(), observer)),
                None,
            ),
        });
        Ok(Local {
            engine,
            queue,
            launcher,
            ended,
            state: config.state.clone(),
        })
    }

    /// The loop over this engine, with `workers` tries at once.
    pub fn into_loop(self, workers: usize, tick_every: Duration) -> DevLoop {
        DevLoop {
            engine: self.engine,
            queue: self.queue,
            launcher: self.launcher,
            ended: self.ended,
            workers: workers.max(1),
            tick_every,
            poll_every: Duration::from_millis(250),
            dirty: Default::default(),
            state: self.state,
        }
    }
}
