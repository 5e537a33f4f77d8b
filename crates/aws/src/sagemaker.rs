//! Tries as SageMaker training jobs: `CreateTrainingJob` under a job name
//! derived from (run, task, map index, try), so a retried launch finds the
//! job instead of starting a second one. A succeeded try's output names
//! the model artifact SageMaker wrote.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemaker::operation::describe_training_job::DescribeTrainingJobOutput;
use aws_sdk_sagemaker::types::{
    AlgorithmSpecification, Channel, DataSource, OutputDataConfig, ResourceConfig,
    S3DataDistribution, S3DataSource, S3DataType, StoppingCondition, Tag, TrainingInputMode,
    TrainingInstanceType,
};
use serde_json::json;
use updraft_core::spec::ComputeProfile;
use updraft_core::state::Attempt;
use updraft_engine::ports::{
    HandleStatus, LaunchError, LaunchRequest, Launched, Launcher, LogPage, LogWindow, PortError,
    PortResult,
};

use crate::cloudwatch;
use crate::events::training_completion;
use crate::sdk_error::{fail, fail_launch};
use crate::try_names::{deployment_digest, try_prefix, try_variables};

/// CreateTrainingJob errors that say the request itself is wrong (a bad
/// image, instance type or role): the try fails at once. A full quota
/// (`ResourceLimitExceeded`) passes, and is delivered again.
const REFUSALS: &[&str] = &["ValidationException", "AccessDeniedException"];

/// The tag naming the deployment (its bucket) a training job belongs to:
/// the stack's event rule matches only its own jobs by it.
pub const DEPLOYMENT_TAG: &str = "updraft:deployment";

/// Where SageMaker sends training jobs' logs.
pub const LOG_GROUP: &str = "/aws/sagemaker/TrainingJobs";

/// SageMaker's own default and ceiling for `MaxRuntimeInSeconds`.
const DEFAULT_MAX_RUNTIME: Duration = Duration::from_secs(24 * 3600);
const LONGEST_MAX_RUNTIME: Duration = Duration::from_secs(28 * 24 * 3600);

/// Where training jobs run and write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SageMakerConfig {
    /// The execution role the jobs assume.
    pub role_arn: String,
    /// The bucket their model artifacts go to (under `outputs/`).
    pub bucket: String,
}

/// The SageMaker launcher.
#[derive(Clone)]
pub struct SageMakerLauncher {
    client: Client,
    config: SageMakerConfig,
    logs: Option<aws_sdk_cloudwatchlogs::Client>,
}

/// A training job's input channels, each an S3 prefix copied to every
/// instance (`/opt/ml/input/data/<name>`), as built-in algorithms expect.
fn channels(inputs: &std::collections::BTreeMap<String, String>) -> Option<Vec<Channel>> {
    if inputs.is_empty() {
        return None;
    }
    let channels = inputs
        .iter()
        .map(|(name, uri)| {
            let source = S3DataSource::builder()
                .s3_uri(uri)
                .s3_data_type(S3DataType::S3Prefix)
                .s3_data_distribution_type(S3DataDistribution::FullyReplicated)
                .build();
            Channel::builder()
                .channel_name(name)
                .data_source(DataSource::builder().s3_data_source(source).build())
                .build()
        })
        .collect();
    Some(channels)
}

/// The training job name of one try: `<dag>-<task>-<try>-<digest>`,
/// readable in the console, at most 63 characters of `[a-zA-Z0-9-]`, and
/// unique per try (and map index) and per deployment (`deployment`, its
/// bucket) through the digest: job names are unique in an account and
/// region, and two stacks running the same DAG must not adopt each other's
/// jobs.
pub fn job_name(request: &LaunchRequest, deployment: &str) -> String {
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(18)
            .collect()
    };
    format!(
        "{}-{}-{}-{}",
        clean(&request.dag),
        clean(request.key.task_id.as_str()),
        request.try_number,
        &deployment_digest(request, deployment)[..12]
    )
}

/// SageMaker answers a job it does not know with `ResourceNotFound` or,
/// from older endpoints and emulators, a `ValidationException`.
fn is_unknown_job<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error.as_service_error().is_some_and(|e| {
        e.code() == Some("ResourceNotFound")
            || (e.code() == Some("ValidationException")
                && e.message().is_some_and(|m| {
                    let m = m.to_ascii_lowercase();
                    m.contains("not find") || m.contains("not found")
                }))
    })
}

fn tag(key: &str, value: impl Into<String>) -> Tag {
    Tag::builder().key(key).value(value).build()
}

impl SageMakerLauncher {
    /// A launcher that runs jobs as `config.role_arn`.
    pub fn new(client: Client, config: SageMakerConfig) -> SageMakerLauncher {
        SageMakerLauncher {
            client,
            config,
            logs: None,
        }
    }

    /// Tries' logs are read from CloudWatch Logs.
    pub fn with_logs(mut self, logs: aws_sdk_cloudwatchlogs::Client) -> SageMakerLauncher {
        self.logs = Some(logs);
        self
    }

    async fn job(&self, name: &str) -> PortResult<Option<DescribeTrainingJobOutput>> {
        match self
            .client
            .describe_training_job()
            .training_job_name(name)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out)),
            Err(e) if is_unknown_job(&e) => Ok(None),
            Err(e) => Err(fail("SageMaker DescribeTrainingJob")(e)),
        }
    }
}

#[async_trait]
impl Launcher for SageMakerLauncher {
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, LaunchError> {
        let Some(ComputeProfile::Sagemaker(profile)) = &request.compute else {
            return Err(LaunchError::Refused(
                "a task without a SageMaker profile reached the SageMaker launcher".into(),
            ));
        };
        let name = job_name(request, &self.config.bucket);
        let launched = Launched {
            handle: name.clone(),
            log: Some(cloudwatch::streams(LOG_GROUP, &format!("{name}/"))),
            output: None,
        };
        // A dispatcher that died after CreateTrainingJob left the job under
        // this try's name: it is this try's launch, not a second one.
        if self.job(&name).await?.is_some() {
            return Ok(launched);
        }
        let Some(image) = &request.task.image else {
            return Err(LaunchError::Refused(format!(
                "task `{}` runs on SageMaker and needs an `image`",
                request.key.task_id
            )));
        };
        let mut algorithm = AlgorithmSpecification::builder()
            .training_image(image)
            .training_input_mode(TrainingInputMode::File);
        if let Some(command) = &request.task.command {
            algorithm = algorithm.set_container_entrypoint(Some(command.clone()));
        }
        let mut environment = request.task.environment.clone();
        environment.extend(
            try_variables(request)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        );
        let mut tags = vec![
            tag("updraft:dag", &request.dag),
            tag("updraft:run", &request.run_id),
            tag("updraft:task", request.key.task_id.as_str()),
            tag("updraft:try", request.try_number.to_string()),
            tag(DEPLOYMENT_TAG, &self.config.bucket),
        ];
        if let Some(index) = request.key.map_index {
            tags.push(tag("updraft:map-index", index.to_string()));
        }
        let max_runtime = profile
            .max_runtime
            .or(request.timeout)
            .unwrap_or(DEFAULT_MAX_RUNTIME)
            .min(LONGEST_MAX_RUNTIME);
        let created = self
            .client
            .create_training_job()
            .training_job_name(&name)
            .algorithm_specification(algorithm.build())
            .role_arn(&self.config.role_arn)
            .set_hyper_parameters(Some(
                request.task.hyperparameters.clone().into_iter().collect(),
            ))
            .set_environment(Some(environment.into_iter().collect()))
            .set_input_data_config(channels(&request.task.inputs))
            .output_data_config(
                OutputDataConfig::builder()
                    .s3_output_path(format!(
                        "s3://{}/{}/",
                        self.config.bucket,
                        try_prefix(request)
                    ))
                    .build(),
            )
            .resource_config(
                ResourceConfig::builder()
                    .instance_type(TrainingInstanceType::from(profile.instance_type.as_str()))
                    .instance_count(profile.instance_count as i32)
                    .volume_size_in_gb(profile.volume_size as i32)
                    .build(),
            )
            .stopping_condition(
                StoppingCondition::builder()
                    .max_runtime_in_seconds(max_runtime.as_secs() as i32)
                    .build(),
            )
            .set_tags(Some(tags))
            .send()
            .await;
        match created {
            Ok(_) => Ok(launched),
            // Another delivery of this try created it meanwhile.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use()) => Ok(launched),
            Err(e) => Err(fail_launch("SageMaker CreateTrainingJob", REFUSALS)(e)),
        }
    }

    async fn describe(&self, handle: &str) -> PortResult<HandleStatus> {
        let Some(job) = self.job(handle).await? else {
            return Ok(HandleStatus::Lost);
        };
        let status = job
            .training_job_status()
            .map(|s| s.as_str())
            .unwrap_or_default();
        let completion = training_completion(status, job.failure_reason().map(str::to_string));
        Ok(completion.map_or(HandleStatus::Running, HandleStatus::Ended))
    }

    async fn stop(&self, handle: &str) -> PortResult<()> {
        match self
            .client
            .stop_training_job()
            .training_job_name(handle)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // A job that already ended (or never existed) cannot be stopped:
            // there is nothing left to stop.
            Err(e) if e.code() == Some("ValidationException") => {
                tracing::info!(
                    job = handle,
                    "training job not stopped: {}",
                    crate::sdk_error::describe(&e)
                );
                Ok(())
            }
            Err(e) => Err(fail("SageMaker StopTrainingJob")(e)),
        }
    }

    async fn logs(&self, attempt: &Attempt, window: &LogWindow) -> PortResult<LogPage> {
        match (&self.logs, &attempt.log) {
            (Some(logs), Some(location)) => cloudwatch::page(logs, location, window).await,
            _ => Err(PortError::msg(format!(
                "try {} has no CloudWatch log location",
                attempt.try_number
            ))),
        }
    }

    async fn read_output(&self, attempt: &Attempt) -> PortResult<Option<String>> {
        let Some(name) = &attempt.handle else {
            return Ok(None);
        };
        let artifact = self.job(name).await?.and_then(|job| {
            job.model_artifacts()
                .and_then(|m| m.s3_model_artifacts())
                .map(str::to_string)
        });
        Ok(artifact.map(|uri| {
            json!({ "model_artifact": uri, "artifacts": [uri], "training_job": name }).to_string()
        }))
    }
}
