//! The ports (docs/architecture.md, "Layers"): what the use cases need from the world, as small
//! traits. Local adapters implement them over SQLite and processes, AWS
//! adapters over DynamoDB, SQS, S3, ECS and SageMaker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use updraft_core::notify::Notice;
use updraft_core::plan::Outcome;
use updraft_core::spec::{ComputeProfile, DagSpec, Diagnostic};
use updraft_core::state::{Attempt, TaskKey};
use updraft_core::template::RenderedTask;

mod store;

pub use store::*;

/// A failure of the infrastructure behind a port: worth retrying, never the
/// user's fault. Its message says what was being done; the error that
/// caused it, when there was one, is its `source()`.
#[derive(Clone, Debug)]
pub struct PortError {
    message: String,
    cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl PortError {
    /// A failure the adapter noticed itself (an answer it cannot use).
    pub fn msg(message: impl Into<String>) -> PortError {
        PortError {
            message: message.into(),
            cause: None,
        }
    }

    /// Wraps an error with what was being done, keeping it as the source.
    pub fn new(doing: &str, err: impl std::error::Error + Send + Sync + 'static) -> PortError {
        PortError {
            message: format!("{doing}: {err}"),
            cause: Some(Arc::new(err)),
        }
    }

    /// An error described by the adapter (`describe` of an SDK error) but
    /// kept whole as the source.
    pub fn described(
        message: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> PortError {
        PortError {
            message: message.into(),
            cause: Some(Arc::new(err)),
        }
    }

    /// What failed, in one line.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PortError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Two port errors are alike when they say the same.
impl PartialEq for PortError {
    fn eq(&self, other: &PortError) -> bool {
        self.message == other.message
    }
}

impl Eq for PortError {}

/// Port results.
pub type PortResult<T> = Result<T, PortError>;

/// Why a launch started nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    /// The service could not take the launch now (a 5xx, throttling, no
    /// Fargate capacity): the message is delivered again, with backoff,
    /// without using up a retry of the task.
    #[error("{0}")]
    Unavailable(PortError),
    /// The launch cannot work as asked (no such task definition, no
    /// subnets, a command that does not exist): the try fails saying why.
    #[error("{0}")]
    Refused(String),
}

impl From<PortError> for LaunchError {
    fn from(error: PortError) -> LaunchError {
        LaunchError::Unavailable(error)
    }
}

/// The message that asks a worker to launch one try.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMessage {
    /// The DAG.
    pub dag: String,
    /// The run.
    pub run_id: String,
    /// The task instance.
    pub key: TaskKey,
    /// The try to launch.
    pub try_number: u32,
}

/// A received message, until it is acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The message.
    pub message: TaskMessage,
    /// What `ack` needs.
    pub receipt: String,
    /// How often it was received, this time included.
    pub receive_count: u32,
}

/// At-least-once delivery of task messages.
#[async_trait]
pub trait TaskQueue: Send + Sync {
    /// Sends a message, visible after `delay`.
    async fn send(&self, message: &TaskMessage, delay: Duration) -> PortResult<()>;
    /// Sends messages visible at once; a queue may send them together
    /// (SQS: ten to a request).
    async fn send_many(&self, messages: &[TaskMessage]) -> PortResult<()> {
        for message in messages {
            self.send(message, Duration::ZERO).await?;
        }
        Ok(())
    }
    /// Up to `max` visible messages; each is hidden until acknowledged or
    /// until its visibility timeout passes.
    async fn receive(&self, max: usize) -> PortResult<Vec<Delivery>>;
    /// Deletes a received message.
    async fn ack(&self, delivery: &Delivery) -> PortResult<()>;
    /// Keeps a received message hidden for `by` longer.
    async fn extend(&self, delivery: &Delivery, by: Duration) -> PortResult<()>;
    /// Lets go of a message whose try was given up on: deleted, unless the
    /// queue keeps such messages for a person to see (SQS moves it to its
    /// dead-letter queue).
    async fn give_up(&self, delivery: &Delivery) -> PortResult<()> {
        self.ack(delivery).await
    }
    /// Wakes the queue's consumer if messages wait that no consumer is
    /// settling: left by one that died, or visible again after their delay
    /// or backoff. The tick calls it; a queue whose consumer loops, as
    /// `updraft dev`'s does, needs nothing.
    async fn nudge(&self) -> PortResult<()> {
        Ok(())
    }
}

/// The specs as currently deployed.
#[derive(Clone, Debug, Default)]
pub struct LoadedSpecs {
    /// Valid DAGs with their source text, by id.
    pub dags: Vec<(DagSpec, String)>,
    /// Problems of the files that are not valid.
    pub errors: Vec<Diagnostic>,
    /// Every DAG's metadata, when the source read it on the way (the table
    /// source does), so a tick need not read it again.
    pub metas: Option<Vec<DagMeta>>,
    /// The slots of each pool the source's `pools.yaml` declares, when the
    /// source has one that is valid.
    pub pools: Option<BTreeMap<String, u32>>,
}

/// Where the current specs come from.
#[async_trait]
pub trait SpecSource: Send + Sync {
    /// The current specs.
    async fn load(&self) -> PortResult<LoadedSpecs>;

    /// Only the problems of the current spec files: what `runs` warns of.
    /// A source that keeps them apart answers without loading every spec.
    async fn import_errors(&self) -> PortResult<Vec<Diagnostic>> {
        Ok(self.load().await?.errors)
    }
}

/// A spec file's content as it is now, and its version where the place
/// keeps versions (an S3 object version id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecFileText {
    /// The file's bytes: UTF-8 YAML, or its DAG's import error.
    pub bytes: Vec<u8>,
    /// Its version.
    pub version: Option<String>,
}

/// About how much of a log one page holds.
pub const LOG_PAGE_BYTES: usize = 64 * 1024;

/// Which part of a try's log to read. Cursors come from an earlier
/// [`LogPage`] and mean something only to the launcher that gave them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogWindow {
    /// The first page.
    Head,
    /// The last page: what a person looks at first.
    Tail,
    /// The page that ends where `earlier` of a page said.
    Before(String),
    /// What follows where `later` of a page said: a live log's news.
    After(String),
}

/// A part of a try's log, with where the parts before and after it start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogPage {
    /// The text, oldest first.
    pub text: String,
    /// To read the page before this one; `None` at the log's start.
    pub earlier: Option<String>,
    /// To read what comes after this page, now or once it is written.
    pub later: Option<String>,
}

/// Where deployers put spec files (the stack's bucket, under `specs/`):
/// what `deploy` writes and upload events name. Only deployers can write
/// there, so it is where every spec version's source comes from.
#[async_trait]
pub trait SpecFiles: Send + Sync {
    /// Every file's key (`specs/<dag>.yaml`, the pools file included).
    async fn keys(&self) -> PortResult<Vec<String>>;
    /// A file as it is now; `None` if it is gone.
    async fn latest(&self, key: &str) -> PortResult<Option<SpecFileText>>;
    /// Whether version `a` of `key` is newer than version `b`; a version no
    /// longer kept counts as older.
    async fn newer(&self, key: &str, a: &str, b: &str) -> PortResult<bool>;
    /// Writes a file.
    async fn put(&self, key: &str, text: &str) -> PortResult<()>;
    /// Where a file is, for messages (`s3://bucket/specs/etl.yaml`).
    fn location(&self, key: &str) -> String;
}

/// Everything a launcher needs to start one try.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchRequest {
    /// The DAG.
    pub dag: String,
    /// The run.
    pub run_id: String,
    /// The task instance.
    pub key: TaskKey,
    /// The try.
    pub try_number: u32,
    /// The task's rendered command, environment and image.
    pub task: RenderedTask,
    /// Where it runs, if the task names a profile.
    pub compute: Option<ComputeProfile>,
    /// How long the try may run.
    pub timeout: Option<Duration>,
    /// The try was launched before (its dispatcher died or hung): the
    /// launcher must look for what that launch started.
    pub relaunch: bool,
}

/// A started try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launched {
    /// A pid, an ECS task ARN, a SageMaker job name.
    pub handle: String,
    /// Where its log is.
    pub log: Option<String>,
    /// Where it may write its output (`UPDRAFT_OUTPUT`).
    pub output: Option<String>,
}

/// What a launcher knows about a handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandleStatus {
    /// Still running.
    Running,
    /// Ended.
    Ended(Completion),
    /// Gone without a trace of how it ended.
    Lost,
}

/// How a try ended, as the launcher or an event tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// Succeeded or failed with a reason.
    pub outcome: Outcome,
    /// The process's exit code, when there was one.
    pub exit_code: Option<i32>,
}

/// Starts, inspects and stops tries, and reads their logs.
#[async_trait]
pub trait Launcher: Send + Sync {
    /// Starts a try. Launching the same try twice must not start it twice,
    /// and nothing may fail once the try started.
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, LaunchError>;
    /// What became of a launched try (for reconciliation).
    async fn describe(&self, handle: &str) -> PortResult<HandleStatus>;
    /// Whether a try may have ended by the time its launch returned (a
    /// synchronous call): the dispatcher then looks at once, as no event
    /// will tell.
    fn settled_at_launch(&self, _handle: &str) -> bool {
        false
    }
    /// Where a person sees the try's work in its service's console, if it
    /// has one.
    fn console_url(&self, _handle: &str) -> Option<String> {
        None
    }
    /// What became of each of several tries, in order: a launcher that
    /// can asks about many in one request (ECS: 100 per DescribeTasks).
    async fn describe_many(&self, handles: &[String]) -> PortResult<Vec<HandleStatus>> {
        let mut out = Vec::with_capacity(handles.len());
        for handle in handles {
            out.push(self.describe(handle).await?);
        }
        Ok(out)
    }
    /// Stops a try (timeout, rerun of a running task, cancel). Stopping
    /// one that already ended does nothing.
    async fn stop(&self, handle: &str) -> PortResult<()>;
    /// A part of a try's log, at most about [`LOG_PAGE_BYTES`]: a log may
    /// be far larger than a page or a process should hold.
    async fn logs(&self, attempt: &Attempt, window: &LogWindow) -> PortResult<LogPage>;
    /// What a succeeded try wrote to `UPDRAFT_OUTPUT`, if anything.
    async fn read_output(&self, attempt: &Attempt) -> PortResult<Option<String>>;
    /// The handles of the recent launches of what `name` names, oldest
    /// first: for events that name the work but not the launch (a Glue
    /// crawler's carry no crawl id). Looked at in that order, an older
    /// try sees the work that ended before a newer one starts the next.
    async fn launches_of(&self, name: &str) -> PortResult<Vec<String>> {
        let _ = name;
        Ok(Vec::new())
    }
    /// Looks once at a sensor's condition that only this side can see (a
    /// command's exit status, a file, a service's answer); `Err`: look
    /// again later.
    async fn probe(&self, probe: &Probe) -> PortResult<Look> {
        Ok(Look::Cannot(format!(
            "{} cannot be looked at where this runs",
            probe.describe()
        )))
    }
}

/// What one look at a sensor's condition found.
#[derive(Clone, Debug, PartialEq)]
pub enum Look {
    /// It holds; the sensor succeeds, with this output if there is one
    /// (a service's answer).
    Holds(Option<serde_json::Value>),
    /// Not yet: look again in `every`.
    NotYet,
    /// It cannot be looked at, or says the wait failed: the try fails.
    Cannot(String),
}

impl From<Result<bool, String>> for Look {
    fn from(found: Result<bool, String>) -> Look {
        match found {
            Ok(true) => Look::Holds(None),
            Ok(false) => Look::NotYet,
            Err(why) => Look::Cannot(why),
        }
    }
}

/// A sensor's look that a launcher makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// A short-lived process: the condition holds when it exits 0.
    Command {
        /// The argv.
        argv: Vec<String>,
        /// Variables over the launcher's own environment.
        env: Vec<(String, String)>,
        /// The longest it may run; past it, it is killed and counts as
        /// "not yet".
        limit: std::time::Duration,
    },
    /// A file (a path; an `s3://` URI on AWS) that exists.
    File(String),
    /// A `kind: aws` sensor's `wait` (and `role`), rendered: its describe
    /// call answers what its `success` expression holds over.
    Service(serde_json::Map<String, serde_json::Value>),
}

impl Probe {
    /// The condition, in a few words for people.
    pub fn describe(&self) -> String {
        match self {
            Probe::Command { argv, .. } => {
                format!("a `wait_for: command` sensor (`{}`)", argv.join(" "))
            }
            Probe::File(path) => format!("a `wait_for: file` sensor ({path})"),
            Probe::Service(settings) => {
                let wait = &settings["wait"];
                let text = |key: &str| wait[key].as_str().unwrap_or("?").to_string();
                format!(
                    "a `kind: aws` wait ({} {})",
                    text("service"),
                    text("action")
                )
            }
        }
    }
}

/// Where events go for others to react to: an EventBridge bus, a local
/// command.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Publishes events; returns the ids of those it took. The others stay
    /// in the outbox and are published again later.
    async fn publish(&self, notices: &[Notice]) -> PortResult<Vec<String>>;
}

/// Wakes the scheduler when a tick must come: on AWS a one-time schedule
/// that invokes the planner, so an idle stack is not ticked every minute.
/// An engine without one (local mode) is ticked at its loop's own pace.
#[async_trait]
pub trait Waker: Send + Sync {
    /// Sets the next tick for `at`, replacing any set before: a tick's own
    /// choice of when the next must come.
    async fn wake_at(&self, at: DateTime<Utc>) -> PortResult<()>;

    /// Makes the next tick come no later than `at`, keeping one set between
    /// `now` and then: a run made active while the scheduler sleeps.
    async fn wake_by(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> PortResult<()>;
}

/// The time. Tests use a manual clock.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
