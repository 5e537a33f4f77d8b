//! Tries that an AWS service runs by its own API — a Glue job, a crawl, an
//! Athena query, a Step Functions execution, any action with a wait — all
//! called through [`Caller`], with no client crate per service.
//!
//! Each kind has a file of its own; they share one way to name a try
//! ([`deployment_digest`]), to find what a repeated launch of it started,
//! and to remember a launch: `launches/<handle>.json` in the bucket,
//! written once the service took the call, with the role its calls run as.
//! A handle says which kind owns it (`glue:JOB/RUN`, `athena:ID`,
//! `states:ARN`, `aws:PREFIX`), so describe, stop and output go back to it,
//! and an event of the service names it.

mod athena;
mod batch;
mod crawler;
mod emr_serverless;
mod generic;
mod glue;
mod lambda;
mod local;
mod logs;
mod processing;
mod step_functions;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use updraft_core::plan::Outcome;
use updraft_core::spec::{ComputeProfile, ServiceKind};
use updraft_core::state::Attempt;
use updraft_engine::ports::{
    Completion, HandleStatus, LaunchError, LaunchRequest, Launched, Look, PortError, PortResult,
};

use crate::call::{CallError, Caller, PlannedCall};
use crate::try_names::{deployment_digest, read_try_output, try_prefix};

pub use athena::end_of as athena_end;
pub use batch::completion as batch_completion;
pub use emr_serverless::{end_of as job_run_end, handle as job_run_handle};
pub use generic::Wait;
pub use glue::{end_of as glue_end, handle as glue_handle};
pub use local::LocalServices;
pub use processing::end_of as processing_end;
pub use step_functions::end_of as execution_end;

/// What the service kinds share: the caller, the name of the deployment
/// their tries' names derive from, and where launches are remembered.
#[derive(Clone, Debug)]
pub struct ServiceLauncher {
    caller: Caller,
    s3: aws_sdk_s3::Client,
    deployment: String,
    home: Home,
    sagemaker_role: Option<String>,
    default_role: Option<String>,
    logs: Option<aws_sdk_cloudwatchlogs::Client>,
}

/// How long a `kind: lambda` try may wait for its answer: within the
/// dispatcher's 20 s timeout, with room to record it.
pub const LAMBDA_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Where launch records (and container tries' outputs) go.
#[derive(Clone, Debug)]
enum Home {
    /// The stack's bucket: `launches/<handle>.json`, `outputs/...`.
    Bucket(String),
    /// A local state directory: `launches/<handle>.json` with `/` of the
    /// handle escaped; a container try there has no output to read.
    Dir(PathBuf),
}

/// A launch, as remembered in the bucket (`launches/<handle>.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchRecord {
    /// The try's handle.
    pub handle: String,
    /// When the service took the call.
    pub launched_at: DateTime<Utc>,
    /// The role the try's calls run as (its profile's `role:`).
    #[serde(default)]
    pub role: Option<String>,
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

/// A try's completion from a service's end (no exit code: no process).
pub fn completion(end: Result<(), String>) -> Completion {
    Completion {
        outcome: match end {
            Ok(()) => Outcome::Succeeded,
            Err(reason) => Outcome::Failed { reason },
        },
        exit_code: None,
    }
}

/// A try's end from a service's state.
pub(crate) fn ended(end: Result<(), String>) -> HandleStatus {
    HandleStatus::Ended(completion(end))
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

/// The handle of a kind's work named `id` (`glue:JOB/RUN`, `athena:ID`).
pub fn handle(kind: ServiceKind, id: &str) -> String {
    let prefix = PREFIXES
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("aws:", |(prefix, _)| prefix);
    format!("{prefix}{id}")
}

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
    /// Launches over `caller`, remembering launches in `bucket`, which
    /// also names the deployment.
    pub fn new(caller: Caller, s3: aws_sdk_s3::Client, bucket: String) -> ServiceLauncher {
        ServiceLauncher {
            caller,
            s3,
            deployment: bucket.clone(),
            home: Home::Bucket(bucket),
            sagemaker_role: None,
            default_role: None,
            logs: None,
        }
    }

    /// Launches for local mode: launch records in `dir`, tries named
    /// within `deployment` (no two state directories share one).
    pub fn local(
        caller: Caller,
        s3: aws_sdk_s3::Client,
        dir: PathBuf,
        deployment: String,
    ) -> ServiceLauncher {
        ServiceLauncher {
            caller,
            s3,
            deployment,
            home: Home::Dir(dir),
            sagemaker_role: None,
            default_role: None,
            logs: None,
        }
    }

    /// The same launcher, reading tries' logs from CloudWatch with `logs`.
    pub fn with_logs(mut self, logs: aws_sdk_cloudwatchlogs::Client) -> ServiceLauncher {
        self.logs = Some(logs);
        self
    }

    /// The same launcher, calling as `role` for a profile that names none
    /// (the stack's role for the service kinds).
    pub fn with_default_role(mut self, role: Option<String>) -> ServiceLauncher {
        self.default_role = role;
        self
    }

    /// The same launcher, running processing jobs as `role`.
    pub fn with_sagemaker_role(mut self, role: Option<String>) -> ServiceLauncher {
        self.sagemaker_role = role;
        self
    }

    /// The same launcher calling as `role` (a profile's `role:`), else as
    /// the default role, else as itself.
    async fn as_role(&self, role: Option<&str>) -> Result<ServiceLauncher, CallError> {
        let mut launcher = self.clone();
        if let Some(role) = role.or(self.default_role.as_deref()) {
            launcher.caller = self.caller.assume(role).await?;
        }
        Ok(launcher)
    }

    /// The region its calls go to.
    pub fn region(&self) -> &str {
        self.caller.region()
    }

    /// The try's name within this deployment, the same for every launch.
    pub(crate) fn digest(&self, request: &LaunchRequest) -> String {
        deployment_digest(request, &self.deployment)
    }

    /// Where a handle's launch record is: `launches/<handle>.json`.
    fn record_key(handle: &str) -> String {
        format!("launches/{handle}.json")
    }

    async fn record(&self, handle: &str) -> PortResult<Option<LaunchRecord>> {
        let key = Self::record_key(handle);
        let (text, place) = match &self.home {
            Home::Bucket(bucket) => (
                self.object(bucket, &key).await?,
                format!("s3://{bucket}/{key}"),
            ),
            Home::Dir(dir) => {
                let path = dir.join(Self::record_file(handle));
                let text = match std::fs::read_to_string(&path) {
                    Ok(text) => Some(text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => {
                        return Err(PortError::new(&format!("reading {}", path.display()), e));
                    }
                };
                (text, path.display().to_string())
            }
        };
        let Some(text) = text else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| PortError::new(&format!("{place} is not a launch record"), e))
    }

    /// A handle's launch record in a directory: one file, its `/` escaped.
    fn record_file(handle: &str) -> String {
        let name = handle.replace('%', "%25").replace('/', "%2F");
        format!("launches/{name}.json")
    }

    /// An object of `bucket` as text; `None` if there is none.
    async fn object(&self, bucket: &str, key: &str) -> PortResult<Option<String>> {
        match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(object) => {
                let bytes = object
                    .body
                    .collect()
                    .await
                    .map_err(|e| PortError::new(&format!("reading s3://{bucket}/{key}"), e))?
                    .into_bytes();
                Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(crate::sdk_error::fail("S3 GetObject")(e)),
        }
    }

    async fn remember(&self, record: &LaunchRecord) -> PortResult<()> {
        let body =
            serde_json::to_vec(record).map_err(|e| PortError::new("writing a launch record", e))?;
        match &self.home {
            Home::Bucket(bucket) => {
                self.s3
                    .put_object()
                    .bucket(bucket)
                    .key(Self::record_key(&record.handle))
                    .body(body.into())
                    .send()
                    .await
                    .map_err(crate::sdk_error::fail("S3 PutObject"))?;
            }
            Home::Dir(dir) => {
                // Whole or not at all: written aside, then renamed.
                let path = dir.join(Self::record_file(&record.handle));
                let aside = path.with_extension("json.partial");
                let written = path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::write(&aside, &body))
                    .and_then(|()| std::fs::rename(&aside, &path));
                written.map_err(|e| PortError::new(&format!("writing {}", path.display()), e))?;
            }
        }
        Ok(())
    }

    /// Where a container of the try writes its output (`UPDRAFT_OUTPUT`):
    /// the stack's bucket; locally, nowhere.
    pub(crate) fn output_uri(&self, request: &LaunchRequest) -> Option<String> {
        match &self.home {
            Home::Bucket(bucket) => {
                Some(format!("s3://{bucket}/{}/output.json", try_prefix(request)))
            }
            Home::Dir(_) => None,
        }
    }

    /// Starts a try of a service kind once: a relaunch of a call that
    /// leaves nothing to find (a Lambda invocation, a generic call) first
    /// reads what the first launch remembered; the other kinds find what it
    /// started themselves.
    pub async fn launch(&self, request: &LaunchRequest) -> Result<Launched, LaunchError> {
        let (Some(ComputeProfile::Service(profile)), Some(settings)) =
            (&request.compute, &request.task.service)
        else {
            return Err(LaunchError::Refused(
                "the task is not of a service kind".into(),
            ));
        };
        let prefix = try_prefix(request);
        let container = matches!(
            profile.kind,
            ServiceKind::Batch | ServiceKind::SagemakerProcessing
        );
        let launched = |handle: String| Launched {
            log: logs::location(&handle),
            handle,
            output: container.then(|| self.output_uri(request)).flatten(),
        };
        let by_prefix = matches!(profile.kind, ServiceKind::Aws | ServiceKind::Lambda)
            .then(|| handle(profile.kind, &prefix));
        if request.relaunch
            && let Some(handle) = &by_prefix
            && let Some(record) = self.record(handle).await?
        {
            return Ok(launched(record.handle));
        }
        let role = text(settings, "role");
        let as_role = self.as_role(role.as_deref()).await.map_err(launch_error)?;
        let this = &as_role;
        let started = this.start(profile.kind, request, settings, &prefix).await?;
        let record = LaunchRecord {
            handle: started.handle.clone(),
            launched_at: Utc::now(),
            role,
            response: started.response,
            wait: started.wait,
        };
        self.remember(&record).await?;
        Ok(launched(started.handle))
    }

    /// Starts the work of a try of `kind` (a relaunch first looks for it).
    async fn start(
        &self,
        kind: ServiceKind,
        request: &LaunchRequest,
        settings: &Map<String, Value>,
        prefix: &str,
    ) -> Result<Started, LaunchError> {
        match kind {
            ServiceKind::Aws => generic::start(self, settings, prefix).await,
            ServiceKind::Glue => glue::start(self, request, settings).await,
            ServiceKind::GlueCrawler => crawler::start(self, settings).await,
            ServiceKind::Athena => athena::start(self, request, settings).await,
            ServiceKind::StepFunctions => step_functions::start(self, request, settings).await,
            ServiceKind::Batch => batch::start(self, request, settings).await,
            ServiceKind::EmrServerless => emr_serverless::start(self, request, settings).await,
            ServiceKind::SagemakerProcessing => processing::start(self, request, settings).await,
            ServiceKind::Lambda => lambda::start(self, request, settings, prefix).await,
        }
    }

    /// The calls a first launch of `request` would make, made nowhere:
    /// each is checked against its service's model and answered `{}`.
    pub async fn plan(&self, request: &LaunchRequest) -> Result<Vec<PlannedCall>, String> {
        let (caller, planned) = self.caller.planning();
        let launcher = ServiceLauncher {
            caller,
            default_role: None,
            ..self.clone()
        };
        let request = LaunchRequest {
            relaunch: false,
            ..request.clone()
        };
        let (Some(ComputeProfile::Service(profile)), Some(settings)) =
            (&request.compute, &request.task.service)
        else {
            return Ok(Vec::new());
        };
        let prefix = try_prefix(&request);
        let (this, request) = (&launcher, &request);
        this.start(profile.kind, request, settings, &prefix)
            .await
            .map_err(|e| e.to_string())?;
        Ok(planned.lock().map(|p| p.clone()).unwrap_or_default())
    }

    /// The launcher a handle's calls go through (as its profile's role),
    /// and its launch record if there is one.
    async fn for_handle(
        &self,
        handle: &str,
    ) -> PortResult<(ServiceLauncher, Option<LaunchRecord>)> {
        let record = self.record(handle).await?;
        let role = record.as_ref().and_then(|r| r.role.as_deref());
        let launcher = self.as_role(role).await.map_err(port_error)?;
        Ok((launcher, record))
    }

    /// The handles of a Glue crawler's launches of the last week (`name`:
    /// `glue-crawler:NAME`), oldest first: what its event, which names no
    /// crawl, may have ended. Found by their launch records in the bucket.
    pub async fn launches_of(&self, name: &str) -> PortResult<Vec<String>> {
        let (Some((ServiceKind::GlueCrawler, _)), Home::Bucket(bucket)) = (owner(name), &self.home)
        else {
            return Ok(Vec::new());
        };
        let prefix = format!("launches/{name}@");
        // Keys sort by launch time (milliseconds of 13 digits): start after
        // the oldest launch a try could still wait on.
        let week_ago = Utc::now() - chrono::TimeDelta::days(7);
        let start_after = format!("{prefix}{}", week_ago.timestamp_millis());
        let mut handles = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(&prefix)
                .start_after(&start_after)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(crate::sdk_error::fail("S3 ListObjectsV2"))?;
            handles.extend(page.contents().iter().filter_map(|o| {
                let key = o.key()?.strip_prefix("launches/")?;
                Some(key.strip_suffix(".json")?.to_string())
            }));
            token = page.next_continuation_token;
            if token.is_none() {
                return Ok(handles);
            }
        }
    }

    /// One look of a `kind: aws` sensor's wait, its settings rendered
    /// (calling as its `role:`).
    pub async fn probe(&self, settings: &Map<String, Value>) -> PortResult<Look> {
        let role = settings.get("role").and_then(Value::as_str);
        let launcher = match self.as_role(role).await {
            Ok(launcher) => launcher,
            Err(e) if e.is_transient() => return Err(port_error(e)),
            Err(e) => return Ok(Look::Cannot(e.to_string())),
        };
        generic::probe(&launcher, settings).await
    }

    /// What became of a try.
    pub async fn describe(&self, handle: &str) -> PortResult<HandleStatus> {
        let (this, record) = self.for_handle(handle).await?;
        let this = &this;
        match (owner(handle), record) {
            (Some((ServiceKind::Aws, _)), Some(record)) => generic::describe(this, &record).await,
            (Some((ServiceKind::Lambda, _)), Some(record)) => Ok(lambda::describe(&record)),
            (Some((ServiceKind::Aws | ServiceKind::Lambda, _)), None) => Ok(HandleStatus::Lost),
            (Some((ServiceKind::Glue, id)), _) => glue::describe(this, id).await,
            (Some((ServiceKind::GlueCrawler, id)), _) => crawler::describe(this, id).await,
            (Some((ServiceKind::Athena, id)), _) => athena::describe(this, id).await,
            (Some((ServiceKind::StepFunctions, id)), _) => step_functions::describe(this, id).await,
            (Some((ServiceKind::Batch, id)), _) => batch::describe(this, id).await,
            (Some((ServiceKind::EmrServerless, id)), _) => emr_serverless::describe(this, id).await,
            (Some((ServiceKind::SagemakerProcessing, id)), _) => {
                processing::describe(this, id).await
            }
            (None, _) => Err(PortError::msg(format!(
                "no service kind owns handle {handle}"
            ))),
        }
    }

    /// Stops a try where its service can.
    pub async fn stop(&self, handle: &str) -> PortResult<()> {
        // A call or an invocation is over once made; a wait holds nothing.
        if let None | Some((ServiceKind::Aws | ServiceKind::Lambda, _)) = owner(handle) {
            return Ok(());
        }
        let (this, _) = self.for_handle(handle).await?;
        let this = &this;
        match owner(handle) {
            Some((ServiceKind::Glue, id)) => glue::stop(this, id).await,
            Some((ServiceKind::GlueCrawler, id)) => crawler::stop(this, id).await,
            Some((ServiceKind::Athena, id)) => athena::stop(this, id).await,
            Some((ServiceKind::StepFunctions, id)) => step_functions::stop(this, id).await,
            Some((ServiceKind::Batch, id)) => batch::stop(this, id).await,
            Some((ServiceKind::EmrServerless, id)) => emr_serverless::stop(this, id).await,
            Some((ServiceKind::SagemakerProcessing, id)) => processing::stop(this, id).await,
            _ => Ok(()),
        }
    }

    /// A succeeded try's output.
    pub async fn read_output(&self, attempt: &Attempt) -> PortResult<Option<String>> {
        let Some(handle) = attempt.handle.as_deref() else {
            return Ok(None);
        };
        if let Some((ServiceKind::Batch, _)) = owner(handle) {
            return match &attempt.output_location {
                Some(uri) => read_try_output(&self.s3, uri).await,
                None => Ok(None),
            };
        }
        let (this, record) = self.for_handle(handle).await?;
        let this = &this;
        let output = match (owner(handle), &record) {
            (Some((ServiceKind::Aws, _)), Some(record)) => {
                Some(generic::output(this, record).await?)
            }
            (Some((ServiceKind::Lambda, _)), Some(record)) => lambda::output(record),
            (Some((ServiceKind::Glue, id)), _) => Some(glue::output(id)),
            (Some((ServiceKind::GlueCrawler, id)), _) => Some(crawler::output(this, id).await?),
            (Some((ServiceKind::Athena, id)), _) => Some(athena::output(this, id).await?),
            (Some((ServiceKind::StepFunctions, id)), _) => step_functions::output(this, id).await?,
            (Some((ServiceKind::EmrServerless, id)), _) => Some(emr_serverless::output(id)),
            (Some((ServiceKind::SagemakerProcessing, id)), _) => {
                Some(processing::output(this, id).await?)
            }
            _ => None,
        };
        Ok(output.map(|o| o.to_string()))
    }
}
