//! The service kinds on one machine (`updraft dev`, `run`, `test --live`):
//! calls go out with the caller's own credentials and region (or to
//! `AWS_ENDPOINT_URL`), launches are remembered in the state directory,
//! and tries end by polling — no event of AWS reaches a laptop.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use updraft_core::spec::{ComputeProfile, ServiceTask};
use updraft_core::state::Attempt;
use updraft_engine::ports::{
    HandleStatus, LaunchError, LaunchRequest, Launched, Launcher, LogPage, LogWindow, Look,
    PortError, PortResult, Probe,
};

use super::ServiceLauncher;
use crate::clients::Clients;
use crate::connect::{Endpoint, load};

/// How often a try is polled when its task asks for no pace: the next look
/// comes a quarter of its age at the last look later, within these bounds.
const POLL_BOUNDS: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(10));

/// The service kinds' launcher for a state directory, connected at its
/// first call (a local run with no such task never loads AWS settings).
pub struct LocalServices {
    state: PathBuf,
    launcher: tokio::sync::OnceCell<ServiceLauncher>,
    polls: Mutex<HashMap<String, Poll>>,
}

/// When a try was first and last asked about, and how often its task asks.
struct Poll {
    first: Instant,
    last: Option<Instant>,
    every: Option<Duration>,
}

impl Poll {
    fn new(every: Option<Duration>) -> Poll {
        Poll {
            first: Instant::now(),
            last: None,
            every,
        }
    }

    /// Whether the try is due to be asked about again.
    fn due(&self, now: Instant) -> bool {
        let Some(last) = self.last else {
            return true;
        };
        let (least, most) = POLL_BOUNDS;
        let gap = self
            .every
            .unwrap_or_else(|| ((last - self.first) / 4).clamp(least, most));
        now - last >= gap
    }
}

impl LocalServices {
    /// The service kinds of the state directory `state`.
    pub fn new(state: &Path) -> LocalServices {
        LocalServices {
            state: state.to_path_buf(),
            launcher: tokio::sync::OnceCell::new(),
            polls: Mutex::default(),
        }
    }

    /// The launcher, connected with the caller's credentials and region;
    /// an error says what is missing, in one line.
    async fn connected(&self) -> Result<&ServiceLauncher, String> {
        self.launcher
            .get_or_try_init(|| async {
                let sdk = load(&Endpoint::default()).await;
                if sdk.region().is_none() {
                    return Err("no AWS region is set (AWS_REGION, or a profile's region)".into());
                }
                if let Some(credentials) = sdk.credentials_provider() {
                    use aws_credential_types::provider::ProvideCredentials;
                    credentials
                        .provide_credentials()
                        .await
                        .map_err(|_| "no AWS credentials were found (the SDK's usual chain: environment, profile, SSO, instance role)".to_string())?;
                }
                let clients = Clients::new(&sdk);
                let launcher = ServiceLauncher::local(
                    clients.caller,
                    clients.s3,
                    self.state.clone(),
                    local_deployment(&self.state),
                )
                .with_sagemaker_role(std::env::var("UPDRAFT_SAGEMAKER_ROLE").ok())
                .with_logs(clients.logs);
                Ok(launcher)
            })
            .await
    }

    /// The launcher for a try already launched.
    async fn of_handle(&self) -> PortResult<&ServiceLauncher> {
        self.connected().await.map_err(PortError::msg)
    }

    /// Whether a try is due to be asked about (and, if it is, that it was).
    fn due(&self, handle: &str) -> bool {
        let Ok(mut polls) = self.polls.lock() else {
            return true;
        };
        let now = Instant::now();
        let poll = polls
            .entry(handle.to_string())
            .or_insert_with(|| Poll::new(None));
        let due = poll.due(now);
        if due {
            poll.last = Some(now);
        }
        due
    }

    /// Waits for a launched try to end, asking as often as its pace says,
    /// for at most `limit` (`None` once it has passed).
    pub async fn wait_for_end(
        &self,
        handle: &str,
        limit: Duration,
    ) -> PortResult<Option<HandleStatus>> {
        let started = Instant::now();
        while started.elapsed() < limit {
            match self.describe(handle).await? {
                HandleStatus::Running => tokio::time::sleep(POLL_BOUNDS.0).await,
                status => return Ok(Some(status)),
            }
        }
        Ok(None)
    }
}

/// A state directory's name for the tries it launches: no two directories
/// (on one machine or two) name a try alike.
fn local_deployment(state: &Path) -> String {
    let path = std::fs::canonicalize(state).unwrap_or_else(|_| state.to_path_buf());
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let digest = Sha256::digest(format!("{}\u{0}{}", host.trim(), path.display()).as_bytes());
    format!("updraft-local-{}", updraft_core::ids::hex(&digest[..8]))
}

#[async_trait]
impl Launcher for LocalServices {
    async fn probe(&self, probe: &Probe) -> PortResult<Look> {
        let Probe::Service(settings) = probe else {
            return Ok(Look::Cannot(format!(
                "{} is not a service's",
                probe.describe()
            )));
        };
        match self.connected().await {
            Ok(launcher) => launcher.probe(settings).await,
            Err(missing) => Ok(Look::Cannot(format!("{}: {missing}", probe.describe()))),
        }
    }

    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, LaunchError> {
        let Some(ComputeProfile::Service(profile)) = &request.compute else {
            return Err(LaunchError::Refused(
                "the task is not of a service kind".into(),
            ));
        };
        let launcher = self.connected().await.map_err(|why| {
            LaunchError::Refused(format!(
                "a `kind: {}` task calls AWS from this machine, and {why}",
                profile.kind.as_str()
            ))
        })?;
        let launched = launcher.launch(request).await?;
        let every = request.task.service.as_ref().and_then(|settings| {
            ServiceTask {
                kind: profile.kind,
                settings: settings.clone(),
            }
            .poke_interval()
        });
        if let Ok(mut polls) = self.polls.lock() {
            polls.insert(launched.handle.clone(), Poll::new(every));
        }
        Ok(launched)
    }

    fn settled_at_launch(&self, handle: &str) -> bool {
        super::settled_at_launch(handle)
    }

    fn console_url(&self, handle: &str) -> Option<String> {
        let region = match self.launcher.get() {
            Some(launcher) => launcher.region().to_string(),
            None => ["AWS_REGION", "AWS_DEFAULT_REGION"]
                .iter()
                .find_map(|var| std::env::var(var).ok())?,
        };
        crate::console::url(handle, &region)
    }

    async fn describe(&self, handle: &str) -> PortResult<HandleStatus> {
        if !self.due(handle) {
            return Ok(HandleStatus::Running);
        }
        let status = self.of_handle().await?.describe(handle).await?;
        if !matches!(status, HandleStatus::Running)
            && let Ok(mut polls) = self.polls.lock()
        {
            polls.remove(handle);
        }
        Ok(status)
    }

    async fn stop(&self, handle: &str) -> PortResult<()> {
        self.of_handle().await?.stop(handle).await
    }

    async fn logs(&self, attempt: &Attempt, window: &LogWindow) -> PortResult<LogPage> {
        self.of_handle().await?.logs(attempt, window).await
    }

    async fn read_output(&self, attempt: &Attempt) -> PortResult<Option<String>> {
        self.of_handle().await?.read_output(attempt).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_try_is_polled_about_four_times_as_often_as_it_has_run_within_bounds() {
        let start = Instant::now();
        let mut poll = Poll {
            first: start,
            last: None,
            every: None,
        };
        assert!(poll.due(start), "the first look is at once");
        poll.last = Some(start);
        assert!(!poll.due(start + Duration::from_millis(900)));
        assert!(poll.due(start + Duration::from_secs(1)));
        let later = start + Duration::from_secs(20);
        poll.last = Some(later);
        assert!(!poll.due(later + Duration::from_secs(4)));
        assert!(
            poll.due(later + Duration::from_secs(5)),
            "20 s old: every 5 s"
        );
        let much_later = start + Duration::from_secs(3600);
        poll.last = Some(much_later);
        assert!(!poll.due(much_later + Duration::from_secs(9)));
        assert!(
            poll.due(much_later + Duration::from_secs(10)),
            "never slower than 10 s"
        );
    }

    #[test]
    fn a_wait_is_polled_at_its_own_pace() {
        let start = Instant::now();
        let poll = Poll {
            first: start,
            last: Some(start),
            every: Some(Duration::from_secs(30)),
        };
        assert!(!poll.due(start + Duration::from_secs(29)));
        assert!(poll.due(start + Duration::from_secs(30)));
    }

    #[test]
    fn two_state_directories_name_their_tries_apart() {
        let a = local_deployment(Path::new("/tmp/a/.updraft"));
        assert_eq!(a, local_deployment(Path::new("/tmp/a/.updraft")));
        assert_ne!(a, local_deployment(Path::new("/tmp/b/.updraft")));
        assert!(a.starts_with("updraft-local-"), "{a}");
    }
}
