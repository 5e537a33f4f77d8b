//! Where a deployment's resources are, from `UPDRAFT_*` environment
//! variables: what the CLI and every function read.

use std::sync::Arc;

use aws_config::SdkConfig;
use updraft_engine::ports::{Clock, SystemClock};
use updraft_engine::{Engine, Ports};

use crate::bell::DispatcherBell;
use crate::clients::Clients;
use crate::dynamo::DynamoStore;
use crate::ecs::{EcsConfig, EcsLauncher};
use crate::eventbridge::EventBridgePublisher;
use crate::kinds::ServiceLauncher;
use crate::launch::AwsLauncher;
use crate::sagemaker::{SageMakerConfig, SageMakerLauncher};
use crate::spec_objects::SpecObjects;
use crate::specs::{S3SpecFiles, TableSpecs};
use crate::sqs::SqsQueue;
use crate::wake::SchedulerWaker;

/// The names of a deployment's resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `UPDRAFT_TABLE`: the state table.
    pub table: String,
    /// `UPDRAFT_QUEUE_URL`: the task queue.
    pub queue_url: String,
    /// `UPDRAFT_BUCKET`: specs and outputs.
    pub bucket: String,
    /// `UPDRAFT_CLUSTER`, `UPDRAFT_SUBNETS`, `UPDRAFT_SECURITY_GROUPS`,
    /// `UPDRAFT_ASSIGN_PUBLIC_IP`, `UPDRAFT_TASK_DEFINITION`: where ECS tasks run.
    pub ecs: EcsConfig,
    /// `UPDRAFT_SAGEMAKER_ROLE`: the execution role of training jobs; unset,
    /// tasks on a SageMaker profile cannot launch.
    pub sagemaker_role: Option<String>,
    /// `UPDRAFT_SERVICE_ROLE`: the role calls of the service kinds (Glue,
    /// Athena, ...) run as when their profile names no `role:`; unset, they
    /// run as the function itself.
    pub service_role: Option<String>,
    /// `UPDRAFT_EVENT_BUS`: the bus updraft's events go to (`default`
    /// unless set).
    pub event_bus: String,
    /// `UPDRAFT_UI_URL`: where the dashboard is served, for the `ui` link
    /// of each event; none if unset.
    pub ui_url: Option<String>,
    /// `UPDRAFT_WAKE_SCHEDULE`: the one-time schedule that wakes the
    /// planner, which its ticks move and new runs pull sooner; the planner
    /// and the CLI have it (the stack's other functions make runs only
    /// while one is active, when the planner ticks every minute anyway).
    pub wake_schedule: Option<String>,
    /// `UPDRAFT_DISPATCHER_FUNCTION`: the dispatcher, which whoever queues
    /// a try invokes (nothing polls the queue); unset, queued tries wait
    /// for a dispatcher someone else wakes.
    pub dispatcher_function: Option<String>,
    /// `UPDRAFT_RECEIVE_WAIT`: the seconds a dispatcher long-polls an
    /// empty-looking queue before it stops (1 unless set; 0 for an
    /// emulator, whose short poll sees every message).
    pub receive_wait: std::time::Duration,
    /// `UPDRAFT_RETENTION_DAYS`: how long ended runs are kept when their
    /// DAG names no `retention` (400 days unless set): their items in the
    /// table expire then.
    pub retention: std::time::Duration,
}

/// The variables every function of the stack gets. [`Settings::from_env`]
/// also reads `UPDRAFT_WAKE_SCHEDULE`, which only the functions that make
/// runs get, and `UPDRAFT_RECEIVE_WAIT`, which only an emulator sets.
pub const VARIABLES: &[&str] = &[
    "UPDRAFT_TABLE",
    "UPDRAFT_QUEUE_URL",
    "UPDRAFT_BUCKET",
    "UPDRAFT_CLUSTER",
    "UPDRAFT_SUBNETS",
    "UPDRAFT_SECURITY_GROUPS",
    "UPDRAFT_ASSIGN_PUBLIC_IP",
    "UPDRAFT_TASK_DEFINITION",
    "UPDRAFT_SAGEMAKER_ROLE",
    "UPDRAFT_SERVICE_ROLE",
    "UPDRAFT_EVENT_BUS",
    "UPDRAFT_UI_URL",
    "UPDRAFT_DISPATCHER_FUNCTION",
    "UPDRAFT_RETENTION_DAYS",
];

/// The stack outputs of `infra/template.yaml` that stand for each
/// variable, for `--stack`.
pub const STACK_OUTPUTS: &[(&str, &str)] = &[
    ("TableName", "UPDRAFT_TABLE"),
    ("TaskQueueUrl", "UPDRAFT_QUEUE_URL"),
    ("BucketName", "UPDRAFT_BUCKET"),
    ("ClusterName", "UPDRAFT_CLUSTER"),
    ("Subnets", "UPDRAFT_SUBNETS"),
    ("SecurityGroups", "UPDRAFT_SECURITY_GROUPS"),
    ("AssignPublicIp", "UPDRAFT_ASSIGN_PUBLIC_IP"),
    ("RunnerTaskDefinition", "UPDRAFT_TASK_DEFINITION"),
    ("SageMakerRoleArn", "UPDRAFT_SAGEMAKER_ROLE"),
    ("ServiceKindsRoleArn", "UPDRAFT_SERVICE_ROLE"),
    ("EventBusName", "UPDRAFT_EVENT_BUS"),
    ("WakeScheduleName", "UPDRAFT_WAKE_SCHEDULE"),
    ("DispatcherFunctionName", "UPDRAFT_DISPATCHER_FUNCTION"),
];

impl Settings {
    /// Reads the settings through `var` (the process environment, or a
    /// map in tests); names every missing variable.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let mut missing = Vec::new();
        let mut required = |name: &str| {
            var(name).filter(|v| !v.is_empty()).unwrap_or_else(|| {
                missing.push(name.to_string());
                String::new()
            })
        };
        let table = required("UPDRAFT_TABLE");
        let queue_url = required("UPDRAFT_QUEUE_URL");
        let bucket = required("UPDRAFT_BUCKET");
        let cluster = required("UPDRAFT_CLUSTER");
        if !missing.is_empty() {
            return Err(format!(
                "set {} (the stack's outputs: `--stack NAME` reads them; `updraft aws init` prints them for an emulator)",
                missing.join(", ")
            ));
        }
        let list = |name: &str| -> Vec<String> {
            var(name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        Ok(Settings {
            table,
            queue_url,
            bucket,
            ecs: EcsConfig {
                cluster,
                subnets: list("UPDRAFT_SUBNETS"),
                security_groups: list("UPDRAFT_SECURITY_GROUPS"),
                assign_public_ip: var("UPDRAFT_ASSIGN_PUBLIC_IP")
                    .is_some_and(|v| v == "true" || v == "ENABLED"),
                default_task_definition: var("UPDRAFT_TASK_DEFINITION")
                    .unwrap_or_else(|| "updraft-runner".into()),
            },
            sagemaker_role: var("UPDRAFT_SAGEMAKER_ROLE").filter(|v| !v.is_empty()),
            service_role: var("UPDRAFT_SERVICE_ROLE").filter(|v| !v.is_empty()),
            event_bus: var("UPDRAFT_EVENT_BUS")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "default".into()),
            ui_url: var("UPDRAFT_UI_URL").filter(|v| !v.is_empty()),
            wake_schedule: var("UPDRAFT_WAKE_SCHEDULE").filter(|v| !v.is_empty()),
            dispatcher_function: var("UPDRAFT_DISPATCHER_FUNCTION").filter(|v| !v.is_empty()),
            receive_wait: var("UPDRAFT_RECEIVE_WAIT")
                .and_then(|v| v.parse().ok())
                .map_or(crate::sqs::RECEIVE_WAIT, std::time::Duration::from_secs),
            retention: var("UPDRAFT_RETENTION_DAYS")
                .and_then(|v| v.parse::<u64>().ok())
                .map_or_else(
                    || updraft_engine::Settings::default().retention,
                    |days| std::time::Duration::from_secs(days * 86_400),
                ),
        })
    }

    /// Reads the settings through `var`, each variable that is not set
    /// taken from the stack output that stands for it (`--stack`).
    pub fn from_env_or_outputs(
        var: impl Fn(&str) -> Option<String>,
        outputs: &std::collections::BTreeMap<String, String>,
    ) -> Result<Settings, String> {
        let from_stack = |name: &str| {
            let output = STACK_OUTPUTS.iter().find(|(_, v)| *v == name)?.0;
            outputs.get(output).cloned()
        };
        Settings::from_env(|name| var(name).or_else(|| from_stack(name)))
    }

    /// The engine over this deployment. Builds clients only: no request
    /// is made until a use case needs one.
    pub fn engine(&self, sdk: &SdkConfig) -> Engine {
        self.engine_over(&Clients::new(sdk))
    }

    /// The engine over this deployment through `clients`, publishing its
    /// events to the stack's bus.
    pub fn engine_over(&self, clients: &Clients) -> Engine {
        let publisher = EventBridgePublisher::new(
            clients.events.clone(),
            self.event_bus.clone(),
            self.bucket.clone(),
        );
        let spec_files = S3SpecFiles::new(clients.s3.clone(), self.bucket.clone());
        let engine = Engine::new(self.ports(clients))
            .with_settings(updraft_engine::Settings {
                retention: self.retention,
                ..updraft_engine::Settings::default()
            })
            .with_publisher(Arc::new(publisher), self.ui_url.clone())
            .with_spec_files(Arc::new(spec_files));
        match &self.wake_schedule {
            Some(name) => engine.with_waker(Arc::new(SchedulerWaker::new(
                clients.caller.clone(),
                name.clone(),
            ))),
            None => engine,
        }
    }

    /// The adapters over this deployment.
    pub fn ports(&self, clients: &Clients) -> Ports {
        let store = Arc::new(
            DynamoStore::new(clients.dynamodb.clone(), self.table.clone())
                .with_retention(self.retention)
                .with_spec_objects(SpecObjects::new(clients.s3.clone(), self.bucket.clone())),
        );
        Ports {
            store: store.clone(),
            queue: Arc::new(self.queue(clients)),
            specs: Arc::new(TableSpecs::new(store)),
            launcher: Arc::new(self.launcher(clients)),
            clock: Arc::new(SystemClock) as Arc<dyn Clock>,
        }
    }

    /// The task queue, ringing the dispatcher when the stack names one.
    pub fn queue(&self, clients: &Clients) -> SqsQueue {
        let queue =
            SqsQueue::new(clients.sqs.clone(), self.queue_url.clone()).waiting(self.receive_wait);
        match &self.dispatcher_function {
            Some(function) => queue.ringing(Arc::new(DispatcherBell::new(
                clients.caller.clone(),
                function.clone(),
            ))),
            None => queue,
        }
    }

    /// ECS, and SageMaker when a role is set; outputs in the bucket, logs
    /// from CloudWatch.
    pub fn launcher(&self, clients: &Clients) -> AwsLauncher {
        let ecs = EcsLauncher::new(clients.ecs.clone(), self.ecs.clone())
            .with_outputs(clients.s3.clone(), self.bucket.clone())
            .with_logs(clients.logs.clone());
        let sagemaker = self.sagemaker_role.as_ref().map(|role| {
            SageMakerLauncher::new(
                clients.sagemaker.clone(),
                SageMakerConfig {
                    role_arn: role.clone(),
                    bucket: self.bucket.clone(),
                },
            )
            .with_logs(clients.logs.clone())
        });
        let services = ServiceLauncher::new(
            clients.caller.clone(),
            clients.s3.clone(),
            self.bucket.clone(),
        )
        .with_sagemaker_role(self.sagemaker_role.clone())
        .with_default_role(self.service_role.clone())
        .with_logs(clients.logs.clone());
        AwsLauncher::new(ecs, sagemaker).with_services(services)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_variables_are_named() {
        let err = Settings::from_env(|name| (name == "UPDRAFT_TABLE").then(|| "t".to_string()))
            .unwrap_err();
        assert!(
            err.starts_with("set UPDRAFT_QUEUE_URL, UPDRAFT_BUCKET, UPDRAFT_CLUSTER"),
            "{err}"
        );
    }

    #[test]
    fn lists_are_comma_separated() {
        let settings = Settings::from_env(|name| match name {
            "UPDRAFT_SUBNETS" => Some("subnet-a, subnet-b".into()),
            "UPDRAFT_SECURITY_GROUPS" => Some("sg-1".into()),
            other
                if other.starts_with("UPDRAFT_")
                    && other != "UPDRAFT_TASK_DEFINITION"
                    && other != "UPDRAFT_ASSIGN_PUBLIC_IP" =>
            {
                Some("x".into())
            }
            _ => None,
        })
        .unwrap();
        assert_eq!(settings.ecs.subnets, ["subnet-a", "subnet-b"]);
        assert_eq!(settings.ecs.default_task_definition, "updraft-runner");
        assert!(!settings.ecs.assign_public_ip);
    }
}
