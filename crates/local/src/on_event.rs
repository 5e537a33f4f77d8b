//! Events out in local mode. `updraft dev --on-event COMMAND` runs COMMAND
//! with `sh -c` once per event, the event's JSON (the envelope EventBridge
//! delivers) on its stdin: a few at a time, each bounded in time, a failure
//! reported and never in the scheduler's way. Without `--on-event`, `dev`
//! drops the events; other commands keep theirs for `dev` to publish.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::Semaphore;
use updraft_core::notify::Notice;
use updraft_engine::events::{Event, Observer};
use updraft_engine::ports::{PortResult, Publisher};

/// How many event commands run at once.
pub const EVENT_COMMANDS_AT_ONCE: usize = 4;
/// How long one event command may run before it is killed.
pub const EVENT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// The `account` of local events' envelopes.
pub const LOCAL_ACCOUNT: &str = "000000000000";
/// The `region` of local events' envelopes.
pub const LOCAL_REGION: &str = "local";

/// Runs a shell command per event.
pub struct CommandPublisher {
    command: String,
    slots: Arc<Semaphore>,
    observer: Arc<dyn Observer>,
}

impl CommandPublisher {
    /// Runs `command` for each event, reporting failures to `observer`.
    pub fn new(command: impl Into<String>, observer: Arc<dyn Observer>) -> CommandPublisher {
        CommandPublisher {
            command: command.into(),
            slots: Arc::new(Semaphore::new(EVENT_COMMANDS_AT_ONCE)),
            observer,
        }
    }
}

#[async_trait]
impl Publisher for CommandPublisher {
    /// Takes every event at once; the commands run on their own tasks.
    async fn publish(&self, notices: &[Notice]) -> PortResult<Vec<String>> {
        for notice in notices {
            let input = notice.envelope(LOCAL_ACCOUNT, LOCAL_REGION).to_string();
            let (command, slots, observer) = (
                self.command.clone(),
                self.slots.clone(),
                self.observer.clone(),
            );
            let what = format!(
                "--on-event for {} of {}/{}",
                notice.detail_type,
                notice.detail["dag"].as_str().unwrap_or("?"),
                notice.detail["run_id"].as_str().unwrap_or("?"),
            );
            tokio::spawn(async move {
                let Ok(_slot) = slots.acquire_owned().await else {
                    return;
                };
                if let Err(error) = run_once(&command, &input).await {
                    observer.on(&Event::EventCommandFailed { what, error });
                }
            });
        }
        Ok(notices.iter().map(|n| n.id.clone()).collect())
    }
}

/// Runs the command once with `input` on stdin; why it failed, if it did.
async fn run_once(command: &str, input: &str) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not start `sh -c {command}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its stdin closes it: not a failure.
        let _ = stdin.write_all(input.as_bytes()).await;
    }
    match tokio::time::timeout(EVENT_COMMAND_TIMEOUT, child.wait()).await {
        Err(_) => Err(format!("killed after {}s", EVENT_COMMAND_TIMEOUT.as_secs())),
        Ok(Err(e)) => Err(format!("waiting for it: {e}")),
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(match status.code() {
            Some(code) => format!("exit code {code}"),
            None => "killed by a signal".into(),
        }),
    }
}

/// Takes every event and does nothing with it: `dev` without `--on-event`,
/// so the outbox does not grow.
pub struct DropEvents;

#[async_trait]
impl Publisher for DropEvents {
    async fn publish(&self, notices: &[Notice]) -> PortResult<Vec<String>> {
        Ok(notices.iter().map(|n| n.id.clone()).collect())
    }
}
