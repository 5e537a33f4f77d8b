//! `kind: glue`: a run of a Glue job. Glue takes no idempotency token, so
//! the try's name travels as the job argument `--updraft-try`, and a
//! repeated launch looks for a run carrying it before starting another.
//! Handle: `glue:JOB/RUN_ID`.

use serde_json::{Map, Value, json};
use updraft_core::spec::ServiceKind;
use updraft_engine::ports::{HandleStatus, LaunchError, LaunchRequest, PortError, PortResult};

use super::{ServiceLauncher, Started, ended, field, launch_error, port_error, required};

/// The job argument naming the try a run belongs to.
pub const TRY_ARGUMENT: &str = "--updraft-try";

/// How far back a repeated launch looks among a job's runs.
const RUNS_LOOKED_AT: u32 = 200;

/// The job run states that end a try, and whether each is a success.
pub fn end_of(state: &str, message: &str) -> Option<Result<(), String>> {
    match state {
        "SUCCEEDED" => Some(Ok(())),
        "FAILED" | "ERROR" | "TIMEOUT" | "STOPPED" | "EXPIRED" => Some(Err(match message {
            "" => format!("the Glue job run ended {state}"),
            why => format!("the Glue job run ended {state}: {why}"),
        })),
        _ => None,
    }
}

/// The handle of a job's run.
pub fn handle(job: &str, run_id: &str) -> String {
    super::handle(ServiceKind::Glue, &format!("{job}/{run_id}"))
}

fn split(id: &str) -> PortResult<(&str, &str)> {
    id.rsplit_once('/')
        .ok_or_else(|| PortError::msg(format!("not a Glue job run handle: glue:{id}")))
}

pub(crate) async fn start(
    launcher: &ServiceLauncher,
    request: &LaunchRequest,
    settings: &Map<String, Value>,
) -> Result<Started, LaunchError> {
    let job = required(settings, "job")?;
    let digest = launcher.digest(request);
    if request.relaunch {
        let runs = launcher
            .caller
            .call(
                "glue",
                "GetJobRuns",
                &json!({"JobName": job, "MaxResults": RUNS_LOOKED_AT}),
            )
            .await
            .map_err(launch_error)?;
        let earlier = runs["JobRuns"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|run| {
                run.pointer(&format!("/Arguments/{TRY_ARGUMENT}"))
                    .and_then(Value::as_str)
                    == Some(digest.as_str())
            });
        if let Some(run) = earlier {
            return Ok(Started {
                handle: handle(&job, field(run, "/Id")),
                response: json!({"JobRunId": field(run, "/Id")}),
                wait: None,
            });
        }
    }
    let mut arguments: Map<String, Value> = settings
        .get("arguments")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), Value::String(value))
        })
        .collect();
    arguments.insert(TRY_ARGUMENT.into(), Value::String(digest));
    let response = launcher
        .caller
        .call(
            "glue",
            "StartJobRun",
            &json!({"JobName": job, "Arguments": arguments}),
        )
        .await
        .map_err(launch_error)?;
    Ok(Started {
        handle: handle(&job, field(&response, "/JobRunId")),
        response,
        wait: None,
    })
}

pub(crate) async fn describe(launcher: &ServiceLauncher, id: &str) -> PortResult<HandleStatus> {
    let (job, run) = split(id)?;
    let found = launcher
        .caller
        .call("glue", "GetJobRun", &json!({"JobName": job, "RunId": run}))
        .await;
    let found = match found {
        Ok(found) => found,
        Err(e) if e.is_not_found() => return Ok(HandleStatus::Lost),
        Err(e) => return Err(port_error(e)),
    };
    let state = field(&found, "/JobRun/JobRunState");
    Ok(match end_of(state, field(&found, "/JobRun/ErrorMessage")) {
        Some(end) => ended(end),
        None => HandleStatus::Running,
    })
}

pub(crate) async fn stop(launcher: &ServiceLauncher, id: &str) -> PortResult<()> {
    let (job, run) = split(id)?;
    launcher
        .caller
        .call(
            "glue",
            "BatchStopJobRun",
            &json!({"JobName": job, "JobRunIds": [run]}),
        )
        .await
        .map(|_| ())
        .map_err(port_error)
}

pub(crate) fn output(id: &str) -> Value {
    let (job, run) = id.rsplit_once('/').unwrap_or((id, ""));
    json!({"job": job, "job_run_id": run})
}
