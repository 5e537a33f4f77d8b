//! Tries as ECS Fargate tasks: `RunTask` with the compute profile's task
//! definition, the rendered command and environment as container
//! overrides, the task-instance key in tags, and a token derived from (run,
//! task, map index, try) as both `clientToken` and `startedBy`, so a
//! retried launch finds the task instead of starting a second one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, DesiredStatus, EphemeralStorage,
    KeyValuePair, LaunchType, NetworkConfiguration, Tag, TaskOverride,
};
use updraft_core::spec::{ComputeProfile, EcsProfile};
use updraft_core::state::Attempt;
use updraft_engine::ports::{
    HandleStatus, LaunchError, LaunchRequest, Launched, Launcher, LogPage, LogWindow, PortError,
    PortResult,
};

use crate::cloudwatch;
use crate::events::{ContainerEnd, MAIN_CONTAINER, ecs_completion};
use crate::sdk_error::{fail, fail_launch};
use crate::try_names::{deployment_digest, read_try_output, try_prefix, try_variables};

/// The most tasks one DescribeTasks may name.
const MAX_DESCRIBE: usize = 100;

/// What a described task says of its try.
fn status_of(task: &aws_sdk_ecs::types::Task) -> HandleStatus {
    let containers: Vec<ContainerEnd> = task
        .containers()
        .iter()
        .map(|c| ContainerEnd {
            name: c.name().unwrap_or_default().to_string(),
            exit_code: c.exit_code(),
            reason: c.reason().map(str::to_string),
        })
        .collect();
    let stop_code = task.stop_code().map(|c| c.as_str().to_string());
    let completion = ecs_completion(
        task.last_status().unwrap_or_default(),
        stop_code,
        task.stopped_reason().map(str::to_string),
        &containers,
    );
    completion.map_or(HandleStatus::Running, HandleStatus::Ended)
}

/// RunTask errors that say the request itself is wrong (a missing task
/// definition or cluster, a bad parameter, no permission): the try fails
/// at once rather than on its last delivery.
const REFUSALS: &[&str] = &[
    "ClientException",
    "InvalidParameterException",
    "ClusterNotFoundException",
    "AccessDeniedException",
    "PlatformUnknownException",
    "PlatformTaskDefinitionIncompatibilityException",
    "UnsupportedFeatureException",
    "BlockedException",
];

/// Whether a RunTask `failures` entry is a want of capacity, which passes
/// (`RESOURCE:*`, `AGENT`, Fargate's "Capacity is unavailable at this
/// time"), rather than a wrong request (`MISSING`, `ATTRIBUTE`).
fn is_capacity_failure(reason: &str) -> bool {
    reason.starts_with("RESOURCE") || reason == "AGENT" || reason.contains("apacity")
}

/// Where ECS tasks run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsConfig {
    /// The cluster.
    pub cluster: String,
    /// Subnets for the tasks' network interfaces.
    pub subnets: Vec<String>,
    /// Security groups for them.
    pub security_groups: Vec<String>,
    /// Give tasks a public IP (subnets without a NAT gateway need one to pull images).
    pub assign_public_ip: bool,
    /// The task definition for tasks that name no compute profile.
    pub default_task_definition: String,
}

/// Per task definition, where its `main` container logs: (group, stream prefix).
type LogConfigs = Arc<Mutex<HashMap<String, Option<(String, String)>>>>;

/// The ECS launcher.
#[derive(Clone)]
pub struct EcsLauncher {
    client: Client,
    config: EcsConfig,
    outputs: Option<(aws_sdk_s3::Client, String)>,
    logs: Option<aws_sdk_cloudwatchlogs::Client>,
    /// Where each task definition's `main` container logs: (group, stream prefix).
    log_config: LogConfigs,
}

fn build_launch<T, E: std::fmt::Display>(built: Result<T, E>) -> Result<T, LaunchError> {
    built.map_err(|e| LaunchError::Refused(format!("building an ECS request: {e}")))
}

/// The idempotency token of one try on one cluster: the same for every
/// launch of it, at most 64 characters as ECS allows.
pub fn client_token(request: &LaunchRequest, cluster: &str) -> String {
    deployment_digest(request, cluster)[..48].to_string()
}

fn tag(key: &str, value: impl Into<String>) -> Tag {
    Tag::builder().key(key).value(value).build()
}

impl EcsLauncher {
    /// A launcher on `config.cluster`.
    pub fn new(client: Client, config: EcsConfig) -> EcsLauncher {
        EcsLauncher {
            client,
            config,
            outputs: None,
            logs: None,
            log_config: Arc::default(),
        }
    }

    /// Tries write their output to `s3://<bucket>/outputs/...` (named by
    /// `UPDRAFT_OUTPUT`), read back when they succeed.
    pub fn with_outputs(
        mut self,
        s3: aws_sdk_s3::Client,
        bucket: impl Into<String>,
    ) -> EcsLauncher {
        self.outputs = Some((s3, bucket.into()));
        self
    }

    /// Tries' logs are read from CloudWatch Logs, where the task
    /// definition's `awslogs` driver sends them.
    pub fn with_logs(mut self, logs: aws_sdk_cloudwatchlogs::Client) -> EcsLauncher {
        self.logs = Some(logs);
        self
    }

    /// Where a started task logs. Nothing after a successful launch may fail
    /// its try: a task definition that cannot be read now leaves the
    /// try without a log location (reported), not a second launch.
    async fn log_of(&self, task_definition: &str, arn: &str) -> Option<String> {
        match self.log_location(task_definition, arn).await {
            Ok(log) => log,
            Err(e) => {
                tracing::warn!(task = arn, "no log location for the task: {e}");
                None
            }
        }
    }

    /// `cloudwatch:<group>:<stream>` of a task, from its task definition's
    /// `awslogs` options (the stream is `<prefix>/main/<task id>`).
    async fn log_location(&self, task_definition: &str, arn: &str) -> PortResult<Option<String>> {
        let cached = self
            .log_config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(task_definition)
            .cloned();
        let config = match cached {
            Some(config) => config,
            None => {
                let out = self
                    .client
                    .describe_task_definition()
                    .task_definition(task_definition)
                    .send()
                    .await
                    .map_err(fail("ECS DescribeTaskDefinition"))?;
                let options = out
                    .task_definition()
                    .and_then(|d| {
                        d.container_definitions()
                            .iter()
                            .find(|c| c.name() == Some(MAIN_CONTAINER))
                    })
                    .and_then(|c| c.log_configuration())
                    .and_then(|l| l.options());
                let config = options.and_then(|o| {
                    Some((
                        o.get("awslogs-group")?.clone(),
                        o.get("awslogs-stream-prefix")?.clone(),
                    ))
                });
                self.log_config
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(task_definition.to_string(), config.clone());
                config
            }
        };
        let task_id = arn.rsplit('/').next().unwrap_or(arn);
        Ok(config.map(|(group, prefix)| {
            cloudwatch::stream(&group, &format!("{prefix}/{MAIN_CONTAINER}/{task_id}"))
        }))
    }

    /// A task this try already started, running or stopped.
    async fn started_by(&self, token: &str) -> PortResult<Option<String>> {
        for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let out = self
                .client
                .list_tasks()
                .cluster(&self.config.cluster)
                .started_by(token)
                .desired_status(status)
                .send()
                .await
                .map_err(fail("ECS ListTasks"))?;
            if let Some(arn) = out.task_arns.unwrap_or_default().into_iter().next() {
                return Ok(Some(arn));
            }
        }
        Ok(None)
    }

    fn profile<'a>(
        &'a self,
        request: &'a LaunchRequest,
    ) -> PortResult<(&'a str, Option<&'a EcsProfile>)> {
        match &request.compute {
            Some(ComputeProfile::Ecs(profile)) => Ok((&profile.task_definition, Some(profile))),
            Some(other) => Err(PortError::msg(format!(
                "a task of another kind reached the ECS launcher: {other:?}"
            ))),
            None => Ok((&self.config.default_task_definition, None)),
        }
    }
}

#[async_trait]
impl Launcher for EcsLauncher {
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, LaunchError> {
        let (task_definition, profile) = self
            .profile(request)
            .map_err(|e| LaunchError::Refused(e.to_string()))?;
        if self.config.subnets.is_empty() {
            return Err(LaunchError::Refused(
                "UPDRAFT_SUBNETS is not set: Fargate tasks need subnets".into(),
            ));
        }
        // A dispatcher that died after RunTask but before recording the task
        // left it running (or ended) under this try's token: on a relaunch,
        // find it rather than start a second one. (RunTask's own client
        // token only covers a short window, and emulators ignore it.)
        let token = client_token(request, &self.config.cluster);
        let output = self
            .outputs
            .as_ref()
            .map(|(_, bucket)| format!("s3://{bucket}/{}.json", try_prefix(request)));
        let earlier = match request.relaunch {
            true => self.started_by(&token).await?,
            false => None,
        };
        if let Some(arn) = earlier {
            let log = self.log_of(task_definition, &arn).await;
            return Ok(Launched {
                handle: arn,
                log,
                output,
            });
        }
        let mut environment: Vec<KeyValuePair> = request
            .task
            .environment
            .iter()
            .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
            .collect();
        for (name, value) in try_variables(request) {
            environment.push(KeyValuePair::builder().name(name).value(value).build());
        }
        let index = request.key.map_index.map(|i| i.to_string());
        if let Some(uri) = &output {
            environment.push(
                KeyValuePair::builder()
                    .name("UPDRAFT_OUTPUT")
                    .value(uri)
                    .build(),
            );
        }
        let container = ContainerOverride::builder()
            .name(MAIN_CONTAINER)
            .set_command(request.task.command.clone())
            .set_environment(Some(environment))
            .build();
        let mut overrides = TaskOverride::builder().container_overrides(container);
        if let Some(profile) = profile {
            overrides = overrides
                .set_cpu(profile.cpu.map(|c| c.to_string()))
                .set_memory(profile.memory.map(|m| m.to_string()));
            if let Some(gib) = profile.ephemeral_storage {
                overrides = overrides
                    .ephemeral_storage(EphemeralStorage::builder().size_in_gib(gib as i32).build());
            }
        }
        let network = build_launch(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(self.config.subnets.clone()))
                .set_security_groups(Some(self.config.security_groups.clone()))
                .assign_public_ip(if self.config.assign_public_ip {
                    AssignPublicIp::Enabled
                } else {
                    AssignPublicIp::Disabled
                })
                .build(),
        )?;
        let mut tags = vec![
            tag("updraft:dag", &request.dag),
            tag("updraft:run", &request.run_id),
            tag("updraft:task", request.key.task_id.as_str()),
            tag("updraft:try", request.try_number.to_string()),
        ];
        if let Some(index) = index {
            tags.push(tag("updraft:map-index", index));
        }
        let out = self
            .client
            .run_task()
            .cluster(&self.config.cluster)
            .task_definition(task_definition)
            .launch_type(LaunchType::Fargate)
            .count(1)
            .started_by(&token)
            .client_token(&token)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(network)
                    .build(),
            )
            .overrides(overrides.build())
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(fail_launch("ECS RunTask", REFUSALS))?;
        if let Some(failure) = out.failures().first() {
            let reason = failure.reason().unwrap_or("unknown reason");
            let line = format!(
                "ECS RunTask failed: {reason} {}",
                failure.detail().unwrap_or_default()
            );
            return Err(match is_capacity_failure(reason) {
                true => LaunchError::Unavailable(PortError::msg(line)),
                false => LaunchError::Refused(line),
            });
        }
        let arn = out
            .tasks()
            .first()
            .and_then(|t| t.task_arn())
            .ok_or_else(|| PortError::msg("ECS RunTask returned no task"))?;
        let log = self.log_of(task_definition, arn).await;
        Ok(Launched {
            handle: arn.to_string(),
            log,
            output,
        })
    }

    async fn describe(&self, handle: &str) -> PortResult<HandleStatus> {
        let mut statuses = self.describe_many(&[handle.to_string()]).await?;
        Ok(statuses.pop().unwrap_or(HandleStatus::Lost))
    }

    async fn describe_many(&self, handles: &[String]) -> PortResult<Vec<HandleStatus>> {
        let mut found = HashMap::new();
        for chunk in handles.chunks(MAX_DESCRIBE) {
            let out = self
                .client
                .describe_tasks()
                .cluster(&self.config.cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(fail("ECS DescribeTasks"))?;
            for task in out.tasks() {
                if let Some(arn) = task.task_arn() {
                    found.insert(arn.to_string(), status_of(task));
                }
            }
        }
        // A task ECS no longer knows is gone without a trace.
        Ok(handles
            .iter()
            .map(|h| found.remove(h).unwrap_or(HandleStatus::Lost))
            .collect())
    }

    async fn stop(&self, handle: &str) -> PortResult<()> {
        self.client
            .stop_task()
            .cluster(&self.config.cluster)
            .task(handle)
            .reason("updraft: the try timed out, was rerun or was marked")
            .send()
            .await
            .map_err(fail("ECS StopTask"))?;
        Ok(())
    }

    async fn logs(&self, attempt: &Attempt, window: &LogWindow) -> PortResult<LogPage> {
        match (&self.logs, &attempt.log) {
            (Some(logs), Some(location)) => cloudwatch::page(logs, location, window).await,
            _ => Err(PortError::msg(format!(
                "try {} has no CloudWatch log: its task definition's `main` container does not use the awslogs driver",
                attempt.try_number
            ))),
        }
    }

    async fn read_output(&self, attempt: &Attempt) -> PortResult<Option<String>> {
        match (&self.outputs, &attempt.output_location) {
            (Some((s3, _)), Some(uri)) => read_try_output(s3, uri).await,
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_capacity_failure;

    #[test]
    fn a_want_of_capacity_passes_and_a_wrong_request_does_not() {
        for passing in [
            "RESOURCE:MEMORY",
            "RESOURCE:ENI",
            "AGENT",
            "Capacity is unavailable at this time. Please try again later or in a different availability zone",
        ] {
            assert!(is_capacity_failure(passing), "{passing}");
        }
        for wrong in ["MISSING", "ATTRIBUTE", "INACTIVE"] {
            assert!(!is_capacity_failure(wrong), "{wrong}");
        }
    }
}
