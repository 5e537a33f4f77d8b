//! One launcher for a deployment: ECS for tasks on an ECS profile or none,
//! SageMaker for tasks on a SageMaker profile. A handle says which service
//! owns it (an ECS task ARN, or a training job name), so describe, stop,
//! logs and outputs of a try go back to the service that ran it.

use async_trait::async_trait;
use updraft_core::spec::ComputeProfile;
use updraft_core::state::Attempt;
use updraft_engine::ports::{
    HandleStatus, LaunchError, LaunchRequest, Launched, Launcher, LogPage, LogWindow, PortError,
    PortResult,
};

use crate::ecs::EcsLauncher;
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
}

impl AwsLauncher {
    /// A launcher over ECS and, when a SageMaker role is configured,
    /// SageMaker.
    pub fn new(ecs: EcsLauncher, sagemaker: Option<SageMakerLauncher>) -> AwsLauncher {
        AwsLauncher { ecs, sagemaker }
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
            _ => self.ecs.launch(request).await,
        }
    }

    async fn describe(&self, handle: &str) -> PortResult<HandleStatus> {
        if is_ecs(handle) {
            self.ecs.describe(handle).await
        } else {
            self.sagemaker()?.describe(handle).await
        }
    }

    async fn describe_many(&self, handles: &[String]) -> PortResult<Vec<HandleStatus>> {
        // ECS tasks in batches; training jobs one by one (SageMaker has no
        // batch describe).
        let tasks: Vec<String> = handles.iter().filter(|h| is_ecs(h)).cloned().collect();
        let mut tasks = self.ecs.describe_many(&tasks).await?.into_iter();
        let mut out = Vec::with_capacity(handles.len());
        for handle in handles {
            let status = match is_ecs(handle) {
                true => tasks.next().unwrap_or(HandleStatus::Lost),
                false => self.sagemaker()?.describe(handle).await?,
            };
            out.push(status);
        }
        Ok(out)
    }

    async fn stop(&self, handle: &str) -> PortResult<()> {
        if is_ecs(handle) {
            self.ecs.stop(handle).await
        } else {
            self.sagemaker()?.stop(handle).await
        }
    }

    async fn logs(&self, attempt: &Attempt, window: &LogWindow) -> PortResult<LogPage> {
        match attempt.handle.as_deref() {
            Some(handle) if !is_ecs(handle) => self.sagemaker()?.logs(attempt, window).await,
            _ => self.ecs.logs(attempt, window).await,
        }
    }

    async fn read_output(&self, attempt: &Attempt) -> PortResult<Option<String>> {
        match attempt.handle.as_deref() {
            Some(handle) if !is_ecs(handle) => self.sagemaker()?.read_output(attempt).await,
            _ => self.ecs.read_output(attempt).await,
        }
    }
}
