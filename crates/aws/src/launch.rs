//! One launcher for a deployment: ECS for tasks on an ECS profile or none,
//! SageMaker for tasks on a SageMaker profile, the service kinds for the
//! rest. A handle says which service owns it (an ECS task ARN, a training
//! job name, a service kind's prefix), so describe, stop, logs and outputs
//! of a try go back to the service that ran it.

use async_trait::async_trait;
use updraft_core::spec::ComputeProfile;
use updraft_core::state::Attempt;
use updraft_engine::ports::{
    HandleStatus, LaunchError, LaunchRequest, Launched, Launcher, LogPage, LogWindow, Look,
    PortError, PortResult, Probe,
};

use crate::ecs::EcsLauncher;
use crate::kinds::{self, ServiceLauncher};
use crate::sagemaker::SageMakerLauncher;

/// Whether a handle is an ECS task ARN (else it is a training job name,
/// which cannot contain `:`).
fn is_ecs(handle: &str) -> bool {
    handle.starts_with("arn:")
}

/// Routes each try to the service its compute profile names.
pub struct AwsLauncher {
    ecs: EcsLauncher,
    sagemaker: Option<SageMakerLauncher>,
    services: Option<ServiceLauncher>,
    region: String,
}

/// Which launcher owns a handle.
enum Owner {
    Ecs,
    Sagemaker,
    Service,
}

fn owner(handle: &str) -> Owner {
    if kinds::owner(handle).is_some() {
        Owner::Service
    } else if is_ecs(handle) {
        Owner::Ecs
    } else {
        Owner::Sagemaker
    }
}

impl AwsLauncher {
    /// A launcher over ECS and, when a SageMaker role is configured,
    /// SageMaker.
    pub fn new(ecs: EcsLauncher, sagemaker: Option<SageMakerLauncher>) -> AwsLauncher {
        AwsLauncher {
            ecs,
            sagemaker,
            services: None,
            region: "us-east-1".into(),
        }
    }

    /// The same launcher, running the service kinds with `services`.
    pub fn with_services(mut self, services: ServiceLauncher) -> AwsLauncher {
        self.region = services.region().to_string();
        self.services = Some(services);
        self
    }

    fn services(&self) -> PortResult<&ServiceLauncher> {
        self.services
            .as_ref()
            .ok_or_else(|| PortError::msg("this launcher runs no service kinds"))
    }

    fn sagemaker(&self) -> PortResult<&SageMakerLauncher> {
        self.sagemaker.as_ref().ok_or_else(|| {
            PortError::msg(
                "a task runs on a SageMaker profile but UPDRAFT_SAGEMAKER_ROLE is not set",
            )
        })
    }
}

#[async_trait]
impl Launcher for AwsLauncher {
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, LaunchError> {
        match &request.compute {
            Some(ComputeProfile::Sagemaker(_)) => {
                let sagemaker = self
                    .sagemaker()
                    .map_err(|e| LaunchError::Refused(e.to_string()))?;
                sagemaker.launch(request).await
            }
            Some(ComputeProfile::Service(_)) => {
                let services = self
                    .services()
                    .map_err(|e| LaunchError::Refused(e.to_string()))?;
                services.launch(request).await
            }
            _ => self.ecs.launch(request).await,
        }
    }

    fn settled_at_launch(&self, handle: &str) -> bool {
        kinds::settled_at_launch(handle)
    }

    fn console_url(&self, handle: &str) -> Option<String> {
        crate::console::url(handle, &self.region)
    }

    async fn describe(&self, handle: &str) -> PortResult<HandleStatus> {
        match owner(handle) {
            Owner::Ecs => self.ecs.describe(handle).await,
            Owner::Sagemaker => self.sagemaker()?.describe(handle).await,
            Owner::Service => self.services()?.describe(handle).await,
        }
    }

    async fn describe_many(&self, handles: &[String]) -> PortResult<Vec<HandleStatus>> {
        // ECS tasks in batches; the others one by one (SageMaker has no
        // batch describe).
        let tasks: Vec<String> = handles
            .iter()
            .filter(|h| matches!(owner(h), Owner::Ecs))
            .cloned()
            .collect();
        let mut tasks = self.ecs.describe_many(&tasks).await?.into_iter();
        let mut out = Vec::with_capacity(handles.len());
        for handle in handles {
            let status = match owner(handle) {
                Owner::Ecs => tasks.next().unwrap_or(HandleStatus::Lost),
                Owner::Sagemaker | Owner::Service => self.describe(handle).await?,
            };
            out.push(status);
        }
        Ok(out)
    }

    async fn stop(&self, handle: &str) -> PortResult<()> {
        match owner(handle) {
            Owner::Ecs => self.ecs.stop(handle).await,
            Owner::Sagemaker => self.sagemaker()?.stop(handle).await,
            Owner::Service => self.services()?.stop(handle).await,
        }
    }

    async fn logs(&self, attempt: &Attempt, window: &LogWindow) -> PortResult<LogPage> {
        match attempt.handle.as_deref().map(owner) {
            Some(Owner::Sagemaker) => self.sagemaker()?.logs(attempt, window).await,
            Some(Owner::Service) => self.services()?.logs(attempt, window).await,
            _ => self.ecs.logs(attempt, window).await,
        }
    }

    async fn probe(&self, probe: &Probe) -> PortResult<Look> {
        if let Probe::Service(settings) = probe {
            return self.services()?.probe(settings).await;
        }
        // Nothing of the user's runs between pokes on AWS, and the
        // functions' roles read no bucket of theirs: AWS-side conditions
        // are `kind: aws` waits, under a role the team grants.
        Ok(Look::Cannot(format!(
            "{} is looked at only locally; on AWS wait with `kind: aws` and a `wait:` (HeadObject for an S3 object)",
            probe.describe()
        )))
    }

    async fn read_output(&self, attempt: &Attempt) -> PortResult<Option<String>> {
        match attempt.handle.as_deref().map(owner) {
            Some(Owner::Sagemaker) => self.sagemaker()?.read_output(attempt).await,
            Some(Owner::Service) => self.services()?.read_output(attempt).await,
            _ => self.ecs.read_output(attempt).await,
        }
    }

    async fn launches_of(&self, name: &str) -> PortResult<Vec<String>> {
        match &self.services {
            Some(services) => services.launches_of(name).await,
            None => Ok(Vec::new()),
        }
    }
}
