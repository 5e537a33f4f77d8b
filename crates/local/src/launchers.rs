//! Local mode's one launcher: a task with a command runs as a process here;
//! a task of a service kind (`kind: glue`, `kind: aws`, ...) is handed to
//! the service kinds' launcher, which calls AWS. A handle says which ran it
//! (`pid:` for a process), so describe, stop, logs and output go back there.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use updraft_core::spec::ComputeProfile;
use updraft_core::state::Attempt;
use updraft_engine::ports::{
    HandleStatus, LaunchError, LaunchRequest, Launched, Launcher, LogPage, LogWindow, Look,
    PortError, PortResult, Probe,
};

use crate::process::ProcessLauncher;

/// The launcher of the tasks an AWS service runs by its API, where the
/// binary has one (the `updraft` command does; a library user may not).
#[derive(Clone)]
pub struct ServiceKinds(pub Arc<dyn Launcher>);

impl fmt::Debug for ServiceKinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceKinds")
    }
}

/// Processes for commands, the service kinds for the rest.
pub struct LocalLauncher {
    processes: Arc<ProcessLauncher>,
    services: Option<ServiceKinds>,
}

impl LocalLauncher {
    /// Routes between `processes` and, if there are any, `services`.
    pub fn new(processes: Arc<ProcessLauncher>, services: Option<ServiceKinds>) -> LocalLauncher {
        LocalLauncher {
            processes,
            services,
        }
    }

    /// The launcher that ran a try of `handle`.
    fn owner(&self, handle: &str) -> PortResult<&dyn Launcher> {
        if handle.starts_with("pid:") {
            return Ok(self.processes.as_ref());
        }
        match &self.services {
            Some(services) => Ok(services.0.as_ref()),
            None => Err(PortError::msg(format!(
                "`{handle}` is not a local process, and this build runs no service kinds"
            ))),
        }
    }
}

#[async_trait]
impl Launcher for LocalLauncher {
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, LaunchError> {
        let Some(ComputeProfile::Service(profile)) = &request.compute else {
            return self.processes.launch(request).await;
        };
        match &self.services {
            Some(services) => services.0.launch(request).await,
            None => Err(LaunchError::Refused(format!(
                "a `kind: {}` task calls AWS, which this build of updraft cannot do locally: deploy its DAG to a stack (`updraft deploy`)",
                profile.kind.as_str()
            ))),
        }
    }

    fn settled_at_launch(&self, handle: &str) -> bool {
        self.owner(handle)
            .is_ok_and(|owner| owner.settled_at_launch(handle))
    }

    fn console_url(&self, handle: &str) -> Option<String> {
        self.owner(handle).ok()?.console_url(handle)
    }

    async fn describe(&self, handle: &str) -> PortResult<HandleStatus> {
        self.owner(handle)?.describe(handle).await
    }

    async fn stop(&self, handle: &str) -> PortResult<()> {
        self.owner(handle)?.stop(handle).await
    }

    async fn logs(&self, attempt: &Attempt, window: &LogWindow) -> PortResult<LogPage> {
        match attempt.handle.as_deref() {
            Some(handle) => self.owner(handle)?.logs(attempt, window).await,
            None => self.processes.logs(attempt, window).await,
        }
    }

    async fn probe(&self, probe: &Probe) -> PortResult<Look> {
        match (probe, &self.services) {
            (Probe::Service(_), Some(services)) => services.0.probe(probe).await,
            (Probe::Service(_), None) => Ok(Look::Cannot(format!(
                "{} calls AWS, which this build of updraft cannot do locally",
                probe.describe()
            ))),
            _ => self.processes.probe(probe).await,
        }
    }

    async fn read_output(&self, attempt: &Attempt) -> PortResult<Option<String>> {
        match attempt.handle.as_deref() {
            Some(handle) => self.owner(handle)?.read_output(attempt).await,
            None => Ok(None),
        }
    }
}
