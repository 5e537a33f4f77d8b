//! Tries that an AWS service runs by its own API — a Glue job, a crawl, an
//! Athena query, a Step Functions execution, any action with a wait — all
//! called through [`Caller`], with no client crate per service.
//!
//! Each kind has a file of its own; they share one way to name a try
//! ([`deployment_digest`]), to find what a repeated launch of it started,
//! and to remember a launch: `<try prefix>/launch.json` in the bucket,
//! written once the service took the call. A handle says which kind owns it
//! (`glue:JOB/RUN`, `athena:ID`, `states:ARN`, `aws:PREFIX`), so describe,
//! stop and output go back to it, and an event of the service names it.

mod athena;
mod batch;
mod crawler;
mod emr_serverless;
mod generic;
mod glue;
mod lambda;
mod processing;
mod step_functions;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use updraft_core::plan::Outcome;
use updraft_core::spec::{ComputeProfile, ServiceKind};
use updraft_core::state::Attempt;
use updraft_engine::ports::{
    Completion, HandleStatus, LaunchError, LaunchRequest, Launched, PortError, PortResult,
};

use crate::call::{CallError, Caller};
use crate::try_names::{deployment_digest, try_prefix};

pub use athena::end_of as athena_end;
pub use batch::completion as batch_completion;
pub use emr_serverless::{end_of as job_run_end, handle as job_run_handle};
pub use generic::Wait;
pub use glue::{end_of as glue_end, handle as glue_handle};
pub use processing::end_of as processing_end;
pub use step_functions::end_of as execution_end;

/// What the service kinds share: the caller, and the bucket their launch
/// records go to (which also names the deployment).
#[derive(Clone, Debug)]
pub struct ServiceLauncher {
    caller: Caller,
    s3: aws_sdk_s3::Client,
    bucket: String,
    sagemaker_role: Option<String>,
}

/// How long a `kind: lambda` try may wait for its answer: within the
/// dispatcher's 20 s timeout, with room to record it.
pub const LAMBDA_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// A launch, as remembered beside the try's files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchRecord {
    /// The try's handle.
    pub handle: String,
    /// When the service took the call.
    pub launched_at: DateTime<Utc>,
    /// The call's response.
    #[serde(default)]
    pub response: Value,
    /// What ends the try, for a generic step.
    #[serde(default)]
    pub wait: Option<Wait>,
}

/// What a kind's start gives back.
pub(crate) struct Started {
    handle: String,
    response: Value,
    wait: Option<Wait>,
}

/// A call's failure at launch: transient ones are tried again with the
/// message; the others fail the try with the service's words.
pub(crate) fn launch_error(error: CallError) -> LaunchError {
    match error.is_transient() {
        true => LaunchError::Unavailable(PortError::msg(error.to_string())),
        false => LaunchError::Refused(error.to_string()),
    }
}

/// A call's failure while describing or stopping.
pub(crate) fn port_error(error: CallError) -> PortError {
    PortError::msg(error.to_string())
}

/// A try's end from a service's state.
pub(crate) fn ended(outcome: Result<(), String>) -> HandleStatus {
    HandleStatus::Ended(Completion {
        outcome: match outcome {
            Ok(()) => Outcome::Succeeded,
            Err(reason) => Outcome::Failed { reason },
        },
        exit_code: None,
    })
}

/// A setting as text: a string as it is, a number as written.
pub(crate) fn text(settings: &Map<String, Value>, key: &str) -> Option<String> {
    match settings.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A setting every task of the kind has (the spec checked it).
pub(crate) fn required(settings: &Map<String, Value>, key: &str) -> Result<String, LaunchError> {
    text(settings, key).ok_or_else(|| LaunchError::Refused(format!("the task has no `{key}`")))
}

/// A string field of a response, or "".
pub(crate) fn field<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The kinds' handle prefixes, so a handle finds its kind.
const PREFIXES: &[(&str, ServiceKind)] = &[
    ("aws:", ServiceKind::Aws),
    ("glue:", ServiceKind::Glue),
    ("glue-crawler:", ServiceKind::GlueCrawler),
    ("athena:", ServiceKind::Athena),
    ("states:", ServiceKind::StepFunctions),
    ("batch:", ServiceKind::Batch),
    ("emr-serverless:", ServiceKind::EmrServerless),
    ("sagemaker-processing:", ServiceKind::SagemakerProcessing),
    ("lambda:", ServiceKind::Lambda),
];

/// The kind owning a handle, and the handle's rest.
pub fn owner(handle: &str) -> Option<(ServiceKind, &str)> {
    PREFIXES
        .iter()
        .find_map(|(prefix, kind)| handle.strip_prefix(prefix).map(|rest| (*kind, rest)))
}

/// Whether a handle's try may be over when its launch returns: a Lambda
/// invocation, a call with no wait (or whose wait is already met).
pub fn settled_at_launch(handle: &str) -> bool {
    matches!(
        owner(handle),
        Some((ServiceKind::Lambda | ServiceKind::Aws, _))
    )
}

impl ServiceLauncher {
    /// Launches over `caller`, remembering launches in `bucket`.
    pub fn new(caller: Caller, s3: aws_sdk_s3::Client, bucket: String) -> ServiceLauncher {
        ServiceLauncher {
            caller,
            s3,
            bucket,
            sagemaker_role: None,
        }
    }

    /// The same launcher, running processing jobs as `role`.
    pub fn with_sagemaker_role(mut self, role: Option<String>) -> ServiceLauncher {
        self.sagemaker_role = role;
        self
    }

    /// The try's name within this deployment, the same for every launch.
    pub(crate) fn digest(&self, request: &LaunchRequest) -> String {
        deployment_digest(request, &self.bucket)
    }

    fn record_key(prefix: &str) -> String {
        format!("{prefix}/launch.json")
    }

    /// An object of the bucket as text; `None` if there is none.
    pub(crate) async fn object(&self, key: &str) -> PortResult<Option<String>> {
        match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => {
                let bytes = object
                    .body
                    .collect()
                    .await
                    .map_err(|e| PortError::new(&format!("reading s3://{}/{key}", self.bucket), e))?
                    .into_bytes();
                Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(crate::sdk_error::fail("S3 GetObject")(e)),
        }
    }

    async fn record(&self, prefix: &str) -> PortResult<Option<LaunchRecord>> {
        let key = Self::record_key(prefix);
        let Some(text) = self.object(&key).await? else {
            return Ok(None);
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            PortError::new(
                &format!("s3://{}/{key} is not a launch record", self.bucket),
                e,
            )
        })
    }

    /// Where a container of the try writes its output (`UPDRAFT_OUTPUT`).
    pub(crate) fn output_uri(&self, request: &LaunchRequest) -> String {
        format!("s3://{}/{}/output.json", self.bucket, try_prefix(request))
    }

    /// What a container of the try wrote to `UPDRAFT_OUTPUT`, found beside
    /// its launch record.
    pub(crate) async fn container_output(&self, attempt: &Attempt) -> PortResult<Option<String>> {
        let Some(record) = attempt.output_location.as_deref() else {
            return Ok(None);
        };
        let Some(key) = record
            .strip_prefix(&format!("s3://{}/", self.bucket))
            .and_then(|k| k.strip_suffix("launch.json"))
        else {
            return Ok(None);
        };
        self.object(&format!("{key}output.json")).await
    }

    async fn remember(&self, prefix: &str, record: &LaunchRecord) -> PortResult<()> {
        let body =
            serde_json::to_vec(record).map_err(|e| PortError::new("writing a launch record", e))?;
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(Self::record_key(prefix))
            .body(body.into())
            .send()
            .await
            .map_err(crate::sdk_error::fail("S3 PutObject"))?;
        Ok(())
    }

    /// Starts a try of a service kind once: a relaunch first reads what
    /// the first launch remembered, then asks the kind to find what it
    /// started.
    pub async fn launch(&self, request: &LaunchRequest) -> Result<Launched, LaunchError> {
        let (Some(ComputeProfile::Service(profile)), Some(settings)) =
            (&request.compute, &request.task.service)
        else {
            return Err(LaunchError::Refused(
                "the task is not of a service kind".into(),
            ));
        };
        let prefix = try_prefix(request);
        let launched = |handle: String| Launched {
            handle,
            log: None,
            output: Some(format!(
                "s3://{}/{}",
                self.bucket,
                Self::record_key(&prefix)
            )),
        };
        if request.relaunch
            && let Some(record) = self.record(&prefix).await?
        {
            return Ok(launched(record.handle));
        }
        let started = match profile.kind {
            ServiceKind::Aws => generic::start(self, request, settings, &prefix).await?,
            ServiceKind::Glue => glue::start(self, request, settings).await?,
            ServiceKind::GlueCrawler => crawler::start(self, settings).await?,
            ServiceKind::Athena => athena::start(self, request, settings).await?,
            ServiceKind::StepFunctions => step_functions::start(self, request, settings).await?,
            ServiceKind::Batch => batch::start(self, request, settings).await?,
            ServiceKind::EmrServerless => emr_serverless::start(self, request, settings).await?,
            ServiceKind::SagemakerProcessing => processing::start(self, request, settings).await?,
            ServiceKind::Lambda => lambda::start(self, request, settings, &prefix).await?,
        };
        let record = LaunchRecord {
            handle: started.handle.clone(),
            launched_at: Utc::now(),
            response: started.response,
            wait: started.wait,
        };
        self.remember(&prefix, &record).await?;
        Ok(launched(started.handle))
    }

    /// What became of a try.
    pub async fn describe(&self, handle: &str) -> PortResult<HandleStatus> {
        match owner(handle) {
            Some((ServiceKind::Aws, prefix)) => match self.record(prefix).await? {
                Some(record) => generic::describe(self, &record).await,
                None => Ok(HandleStatus::Lost),
            },
            Some((ServiceKind::Lambda, prefix)) => Ok(match self.record(prefix).await? {
                Some(record) => lambda::describe(&record),
                None => HandleStatus::Lost,
            }),
            Some((ServiceKind::Glue, id)) => glue::describe(self, id).await,
            Some((ServiceKind::GlueCrawler, id)) => crawler::describe(self, id).await,
            Some((ServiceKind::Athena, id)) => athena::describe(self, id).await,
            Some((ServiceKind::StepFunctions, id)) => step_functions::describe(self, id).await,
            Some((ServiceKind::Batch, id)) => batch::describe(self, id).await,
            Some((ServiceKind::EmrServerless, id)) => emr_serverless::describe(self, id).await,
            Some((ServiceKind::SagemakerProcessing, id)) => processing::describe(self, id).await,
            _ => Err(PortError::msg(format!(
                "no service kind owns handle {handle}"
            ))),
        }
    }

    /// Stops a try where its service can.
    pub async fn stop(&self, handle: &str) -> PortResult<()> {
        match owner(handle) {
            Some((ServiceKind::Glue, id)) => glue::stop(self, id).await,
            Some((ServiceKind::GlueCrawler, id)) => crawler::stop(self, id).await,
            Some((ServiceKind::Athena, id)) => athena::stop(self, id).await,
            Some((ServiceKind::StepFunctions, id)) => step_functions::stop(self, id).await,
            Some((ServiceKind::Batch, id)) => batch::stop(self, id).await,
            Some((ServiceKind::EmrServerless, id)) => emr_serverless::stop(self, id).await,
            Some((ServiceKind::SagemakerProcessing, id)) => processing::stop(self, id).await,
            // A generic call is over once made; its wait holds nothing.
            _ => Ok(()),
        }
    }

    /// A succeeded try's output.
    pub async fn read_output(&self, attempt: &Attempt) -> PortResult<Option<String>> {
        let Some(handle) = attempt.handle.as_deref() else {
            return Ok(None);
        };
        if let Some((ServiceKind::Batch, _)) = owner(handle) {
            return self.container_output(attempt).await;
        }
        let output = match owner(handle) {
            Some((ServiceKind::Aws, prefix)) => match self.record(prefix).await? {
                Some(record) => Some(generic::output(self, &record).await?),
                None => None,
            },
            Some((ServiceKind::Lambda, prefix)) => {
                self.record(prefix).await?.as_ref().and_then(lambda::output)
            }
            Some((ServiceKind::Glue, id)) => Some(glue::output(id)),
            Some((ServiceKind::GlueCrawler, id)) => Some(crawler::output(self, id).await?),
            Some((ServiceKind::Athena, id)) => Some(athena::output(self, id).await?),
            Some((ServiceKind::StepFunctions, id)) => step_functions::output(self, id).await?,
            Some((ServiceKind::EmrServerless, id)) => Some(emr_serverless::output(id)),
            Some((ServiceKind::SagemakerProcessing, id)) => {
                Some(processing::output(self, id).await?)
            }
            _ => None,
        };
        Ok(output.map(|o| o.to_string()))
    }
}
