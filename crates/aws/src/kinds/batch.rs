//! `kind: batch`: an AWS Batch job running the task's command and
//! environment in its job definition's container, sized by `vcpus`,
//! `memory` and `gpus`. Batch takes no token: the job is named after the
//! try, and a repeated launch looks it up by name in its queue first. A
//! mapped task runs one job per instance, not one array job, so each
//! instance keeps its own tries, retries and state. Handle: `batch:JOB_ID`.

use serde_json::{Map, Value, json};
use updraft_core::plan::Outcome;
use updraft_core::spec::ServiceKind;
use updraft_engine::ports::{Completion, HandleStatus, LaunchError, LaunchRequest, PortResult};

use super::{ServiceLauncher, Started, field, handle, launch_error, port_error, required, text};
use crate::try_names::try_variables;

/// A try's job name: letters, digits, `-` and `_`, at most 128.
fn job_name(launcher: &ServiceLauncher, request: &LaunchRequest) -> String {
    format!("updraft-{}", launcher.digest(request))
}

/// A job's end: its status, reason and main container's exit code.
pub fn completion(status: &str, reason: &str, exit_code: Option<i32>) -> Option<Completion> {
    let outcome = match status {
        "SUCCEEDED" => Outcome::Succeeded,
        "FAILED" => Outcome::Failed {
            reason: match (exit_code, reason) {
                (Some(code), "") => format!("exit code {code}"),
                (Some(code), why) => format!("exit code {code}: {why}"),
                (None, "") => "the Batch job failed".into(),
                (None, why) => format!("the Batch job failed: {why}"),
            },
        },
        _ => return None,
    };
    Some(Completion { outcome, exit_code })
}

async fn earlier(
    launcher: &ServiceLauncher,
    queue: &str,
    name: &str,
) -> Result<Option<String>, LaunchError> {
    let listed = launcher
        .caller
        .call(
            "batch",
            "ListJobs",
            &json!({"jobQueue": queue, "filters": [{"name": "JOB_NAME", "values": [name]}]}),
        )
        .await
        .map_err(launch_error)?;
    Ok(listed["jobSummaryList"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|job| field(job, "/jobName") == name)
        .map(|job| field(job, "/jobId").to_string()))
}

pub(crate) async fn start(
    launcher: &ServiceLauncher,
    request: &LaunchRequest,
    settings: &Map<String, Value>,
) -> Result<Started, LaunchError> {
    let queue = required(settings, "job_queue")?;
    let name = job_name(launcher, request);
    if request.relaunch
        && let Some(id) = earlier(launcher, &queue, &name).await?
    {
        return Ok(Started {
            handle: handle(ServiceKind::Batch, &id),
            response: json!({"jobId": id, "jobName": name}),
            wait: None,
        });
    }
    let mut environment: Vec<Value> = request
        .task
        .environment
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    environment.extend(
        try_variables(request)
            .into_iter()
            .map(|(k, v)| json!({"name": k, "value": v})),
    );
    if let Some(uri) = launcher.output_uri(request) {
        environment.push(json!({"name": "UPDRAFT_OUTPUT", "value": uri}));
    }

    let resources: Vec<Value> = [("vcpus", "VCPU"), ("memory", "MEMORY"), ("gpus", "GPU")]
        .into_iter()
        .filter_map(|(key, kind)| Some(json!({"type": kind, "value": text(settings, key)?})))
        .collect();
    let mut overrides = json!({"environment": environment});
    if let Some(command) = &request.task.command {
        overrides["command"] = json!(command);
    }
    if !resources.is_empty() {
        overrides["resourceRequirements"] = json!(resources);
    }
    let params = json!({
        "jobName": name,
        "jobQueue": queue,
        "jobDefinition": required(settings, "job_definition")?,
        "containerOverrides": overrides,
        "tags": {"updraft:deployment": launcher.deployment},
    });
    let response = launcher
        .caller
        .call("batch", "SubmitJob", &params)
        .await
        .map_err(launch_error)?;
    Ok(Started {
        handle: handle(ServiceKind::Batch, field(&response, "/jobId")),
        response,
        wait: None,
    })
}

pub(crate) async fn describe(launcher: &ServiceLauncher, id: &str) -> PortResult<HandleStatus> {
    let found = launcher
        .caller
        .call("batch", "DescribeJobs", &json!({"jobs": [id]}))
        .await
        .map_err(port_error)?;
    let Some(job) = found["jobs"].as_array().and_then(|jobs| jobs.first()) else {
        return Ok(HandleStatus::Lost);
    };
    let exit_code = job
        .pointer("/container/exitCode")
        .and_then(Value::as_i64)
        .and_then(|c| i32::try_from(c).ok());
    Ok(
        match completion(
            field(job, "/status"),
            field(job, "/statusReason"),
            exit_code,
        ) {
            Some(end) => HandleStatus::Ended(end),
            None => HandleStatus::Running,
        },
    )
}

pub(crate) async fn stop(launcher: &ServiceLauncher, id: &str) -> PortResult<()> {
    launcher
        .caller
        .call(
            "batch",
            "TerminateJob",
            &json!({"jobId": id, "reason": "stopped by updraft"}),
        )
        .await
        .map(|_| ())
        .map_err(port_error)
}
