//! `kind: sagemaker_processing`: a SageMaker processing job running the
//! task's image, command and environment on `instance_count` instances,
//! with named S3 `inputs` (downloaded to `/opt/ml/processing/input/NAME`)
//! and `outputs` (uploaded from `/opt/ml/processing/output/NAME` when it
//! ends). Named after the try as training jobs are, so a repeated launch
//! describes it before creating it. Handle: `sagemaker-processing:NAME`.

use std::time::Duration;

use serde_json::{Map, Value, json};
use updraft_core::duration::parse_duration;
use updraft_core::spec::ServiceKind;
use updraft_engine::ports::{HandleStatus, LaunchError, LaunchRequest, PortResult};

use super::{
    ServiceLauncher, Started, ended, field, handle, launch_error, port_error, required, text,
};
use crate::sagemaker::{DEPLOYMENT_TAG, job_name};
use crate::try_names::try_variables;

/// SageMaker's ceiling for a processing job's `MaxRuntimeInSeconds`.
const LONGEST_MAX_RUNTIME: Duration = Duration::from_secs(5 * 86_400);
/// Its default when neither the profile nor the task's timeout says.
const DEFAULT_MAX_RUNTIME: Duration = Duration::from_secs(86_400);

/// Where inputs and outputs are inside the container.
const INPUT_DIR: &str = "/opt/ml/processing/input";
const OUTPUT_DIR: &str = "/opt/ml/processing/output";

/// The job statuses that end a try.
pub fn end_of(status: &str, reason: &str) -> Option<Result<(), String>> {
    match status {
        "Completed" => Some(Ok(())),
        "Failed" | "Stopped" => Some(Err(match reason {
            "" => format!("the processing job ended {status}"),
            why => format!("the processing job ended {status}: {why}"),
        })),
        _ => None,
    }
}

fn named(settings: &Map<String, Value>, key: &str) -> Vec<(String, String)> {
    settings
        .get(key)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, uri)| {
            (
                name.clone(),
                uri.as_str().map_or_else(|| uri.to_string(), str::to_string),
            )
        })
        .collect()
}

async fn describe_job(
    launcher: &ServiceLauncher,
    name: &str,
) -> Result<Value, crate::call::CallError> {
    launcher
        .caller
        .call(
            "sagemaker",
            "DescribeProcessingJob",
            &json!({"ProcessingJobName": name}),
        )
        .await
}

pub(crate) async fn start(
    launcher: &ServiceLauncher,
    request: &LaunchRequest,
    settings: &Map<String, Value>,
) -> Result<Started, LaunchError> {
    let role = launcher.sagemaker_role.as_deref().ok_or_else(|| {
        LaunchError::Refused(
            "a `kind: sagemaker_processing` task needs the stack's SageMaker role (UPDRAFT_SAGEMAKER_ROLE)".into(),
        )
    })?;
    let image = request
        .task
        .image
        .clone()
        .ok_or_else(|| LaunchError::Refused("the task has no `image`".into()))?;
    let name = job_name(request, &launcher.deployment);
    let started = |response: Value| Started {
        handle: handle(ServiceKind::SagemakerProcessing, &name),
        response,
        wait: None,
    };
    if request.relaunch {
        match describe_job(launcher, &name).await {
            Ok(found) => return Ok(started(found)),
            Err(e) if e.is_not_found() || e.code == "ValidationException" => {}
            Err(e) => return Err(launch_error(e)),
        }
    }
    let max_runtime = match text(settings, "max_runtime") {
        Some(text) => parse_duration(&text)
            .map_err(|why| LaunchError::Refused(format!("`max_runtime`: {why}")))?,
        None => request.timeout.unwrap_or(DEFAULT_MAX_RUNTIME),
    }
    .min(LONGEST_MAX_RUNTIME);
    let count = |key: &str, default: u64| {
        settings
            .get(key)
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(default)
    };
    let mut environment: Map<String, Value> = request
        .task
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    environment.extend(
        try_variables(request)
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v))),
    );
    let mut app = json!({"ImageUri": image});
    if let Some(command) = &request.task.command {
        app["ContainerEntrypoint"] = json!(command);
    }
    let inputs: Vec<Value> = named(settings, "inputs")
        .into_iter()
        .map(|(name, uri)| json!({"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": format!("{INPUT_DIR}/{name}"), "S3DataType": "S3Prefix", "S3InputMode": "File"}}))
        .collect();
    let outputs: Vec<Value> = named(settings, "outputs")
        .into_iter()
        .map(|(name, uri)| json!({"OutputName": name, "S3Output": {"S3Uri": uri, "LocalPath": format!("{OUTPUT_DIR}/{name}"), "S3UploadMode": "EndOfJob"}}))
        .collect();
    let mut params = json!({
        "ProcessingJobName": name,
        "RoleArn": role,
        "AppSpecification": app,
        "Environment": environment,
        "ProcessingResources": {"ClusterConfig": {
            "InstanceCount": count("instance_count", 1),
            "InstanceType": required(settings, "instance_type")?,
            "VolumeSizeInGB": count("volume_size", 30),
        }},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime.as_secs().max(1)},
        "Tags": [{"Key": DEPLOYMENT_TAG, "Value": launcher.deployment}],
    });
    if !inputs.is_empty() {
        params["ProcessingInputs"] = json!(inputs);
    }
    if !outputs.is_empty() {
        params["ProcessingOutputConfig"] = json!({"Outputs": outputs});
    }
    let response = launcher
        .caller
        .call("sagemaker", "CreateProcessingJob", &params)
        .await
        .map_err(launch_error)?;
    Ok(started(response))
}

pub(crate) async fn describe(launcher: &ServiceLauncher, name: &str) -> PortResult<HandleStatus> {
    let found = match describe_job(launcher, name).await {
        Ok(found) => found,
        Err(e) if e.is_not_found() || e.code == "ValidationException" => {
            return Ok(HandleStatus::Lost);
        }
        Err(e) => return Err(port_error(e)),
    };
    Ok(
        match end_of(
            field(&found, "/ProcessingJobStatus"),
            field(&found, "/FailureReason"),
        ) {
            Some(end) => ended(end),
            None => HandleStatus::Running,
        },
    )
}

pub(crate) async fn stop(launcher: &ServiceLauncher, name: &str) -> PortResult<()> {
    launcher
        .caller
        .call(
            "sagemaker",
            "StopProcessingJob",
            &json!({"ProcessingJobName": name}),
        )
        .await
        .map(|_| ())
        .map_err(port_error)
}

/// The job's name and where each output went; its outputs are artifacts.
pub(crate) async fn output(launcher: &ServiceLauncher, name: &str) -> PortResult<Value> {
    let found = describe_job(launcher, name).await.map_err(port_error)?;
    let outputs: Map<String, Value> = found
        .pointer("/ProcessingOutputConfig/Outputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|o| {
            (
                field(o, "/OutputName").to_string(),
                json!(field(o, "/S3Output/S3Uri")),
            )
        })
        .collect();
    let artifacts: Vec<&Value> = outputs.values().collect();
    Ok(json!({"processing_job": name, "outputs": outputs, "artifacts": artifacts}))
}
