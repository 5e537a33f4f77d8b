//! `kind: emr_serverless`: a Spark job run on an EMR Serverless
//! application. The run takes the try's digest as its token and its name,
//! so a repeated launch finds it among the application's runs. Handle:
//! `emr-serverless:APPLICATION/JOB_RUN`.

use serde_json::{Map, Value, json};
use updraft_core::spec::ServiceKind;
use updraft_engine::ports::{HandleStatus, LaunchError, LaunchRequest, PortError, PortResult};

use super::{ServiceLauncher, Started, ended, field, launch_error, port_error, required, text};

/// The job run states that end a try.
pub fn end_of(state: &str, details: &str) -> Option<Result<(), String>> {
    match state {
        "SUCCESS" => Some(Ok(())),
        "FAILED" | "CANCELLED" => Some(Err(match details {
            "" => format!("the EMR Serverless job run ended {state}"),
            why => format!("the EMR Serverless job run ended {state}: {why}"),
        })),
        _ => None,
    }
}

/// The handle of a job run.
pub fn handle(application: &str, run: &str) -> String {
    super::handle(ServiceKind::EmrServerless, &format!("{application}/{run}"))
}

fn split(id: &str) -> PortResult<(&str, &str)> {
    id.split_once('/')
        .ok_or_else(|| PortError::msg(format!("not an EMR Serverless handle: emr-serverless:{id}")))
}

pub(crate) async fn start(
    launcher: &ServiceLauncher,
    request: &LaunchRequest,
    settings: &Map<String, Value>,
) -> Result<Started, LaunchError> {
    let application = required(settings, "application_id")?;
    let digest = launcher.digest(request);
    let name = format!("updraft-{digest}");
    if request.relaunch {
        let runs = launcher
            .caller
            .call(
                "emr-serverless",
                "ListJobRuns",
                &json!({"applicationId": application}),
            )
            .await
            .map_err(launch_error)?;
        let earlier = runs["jobRuns"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|run| field(run, "/name") == name);
        if let Some(run) = earlier {
            return Ok(Started {
                handle: handle(&application, field(run, "/id")),
                response: run.clone(),
                wait: None,
            });
        }
    }
    let mut spark = json!({"entryPoint": required(settings, "entry_point")?});
    if let Some(arguments) = settings.get("arguments") {
        let arguments: Vec<String> = arguments
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
            .collect();
        spark["entryPointArguments"] = json!(arguments);
    }
    if let Some(parameters) = text(settings, "spark_submit_parameters") {
        spark["sparkSubmitParameters"] = json!(parameters);
    }
    let params = json!({
        "applicationId": application,
        "executionRoleArn": required(settings, "execution_role")?,
        "clientToken": digest,
        "name": name,
        "jobDriver": {"sparkSubmit": spark},
        "tags": {"updraft:deployment": launcher.deployment},
    });
    let response = launcher
        .caller
        .call("emr-serverless", "StartJobRun", &params)
        .await
        .map_err(launch_error)?;
    Ok(Started {
        handle: handle(&application, field(&response, "/jobRunId")),
        response,
        wait: None,
    })
}

async fn job_run(
    launcher: &ServiceLauncher,
    id: &str,
) -> PortResult<Result<Value, crate::call::CallError>> {
    let (application, run) = split(id)?;
    Ok(launcher
        .caller
        .call(
            "emr-serverless",
            "GetJobRun",
            &json!({"applicationId": application, "jobRunId": run}),
        )
        .await)
}

pub(crate) async fn describe(launcher: &ServiceLauncher, id: &str) -> PortResult<HandleStatus> {
    let found = match job_run(launcher, id).await? {
        Ok(found) => found,
        Err(e) if e.is_not_found() => return Ok(HandleStatus::Lost),
        Err(e) => return Err(port_error(e)),
    };
    let run = &found["jobRun"];
    Ok(
        match end_of(field(run, "/state"), field(run, "/stateDetails")) {
            Some(end) => ended(end),
            None => HandleStatus::Running,
        },
    )
}

pub(crate) async fn stop(launcher: &ServiceLauncher, id: &str) -> PortResult<()> {
    let (application, run) = split(id)?;
    launcher
        .caller
        .call(
            "emr-serverless",
            "CancelJobRun",
            &json!({"applicationId": application, "jobRunId": run}),
        )
        .await
        .map(|_| ())
        .map_err(port_error)
}

pub(crate) fn output(id: &str) -> Value {
    let (application, run) = id.split_once('/').unwrap_or((id, ""));
    json!({"application_id": application, "job_run_id": run})
}
