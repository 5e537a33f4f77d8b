//! `kind: step_functions`: one execution of a state machine, named after the
//! try, so a repeated launch finds it (its ARN follows from the machine's
//! and the name). Handle: `states:EXECUTION_ARN`. A succeeded execution's
//! output (JSON) is the try's output.

use serde_json::{Map, Value, json};
use updraft_core::spec::ServiceKind;
use updraft_engine::ports::{HandleStatus, LaunchError, LaunchRequest, PortResult};

use super::{ServiceLauncher, Started, ended, field, handle, launch_error, port_error, required};

/// The longest execution name Step Functions takes.
const MAX_NAME: usize = 80;

/// The statuses that end a try.
pub fn end_of(status: &str, error: &str, cause: &str) -> Option<Result<(), String>> {
    match status {
        "SUCCEEDED" => Some(Ok(())),
        "FAILED" | "TIMED_OUT" | "ABORTED" => Some(Err(match (error, cause) {
            ("", "") => format!("the execution ended {status}"),
            (error, "") => format!("the execution ended {status}: {error}"),
            (error, cause) => format!("the execution ended {status}: {error}: {cause}"),
        })),
        _ => None,
    }
}

/// An execution's ARN from its machine's and its name.
fn execution_arn(machine: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        machine.replacen(":stateMachine:", ":execution:", 1)
    )
}

pub(crate) async fn start(
    launcher: &ServiceLauncher,
    request: &LaunchRequest,
    settings: &Map<String, Value>,
) -> Result<Started, LaunchError> {
    let machine = required(settings, "state_machine")?;
    let mut name = format!("updraft-{}", launcher.digest(request));
    name.truncate(MAX_NAME);
    let input = settings.get("input").cloned().unwrap_or_else(|| json!({}));
    let params = json!({"stateMachineArn": machine, "name": name, "input": input.to_string()});
    match launcher
        .caller
        .call("states", "StartExecution", &params)
        .await
    {
        Ok(response) => Ok(Started {
            handle: handle(
                ServiceKind::StepFunctions,
                field(&response, "/executionArn"),
            ),
            response,
            wait: None,
        }),
        // The name is the try's: an execution of it is the first launch's.
        Err(e) if e.code.contains("ExecutionAlreadyExists") => {
            let arn = execution_arn(&machine, &name);
            Ok(Started {
                handle: handle(ServiceKind::StepFunctions, &arn),
                response: json!({"executionArn": arn}),
                wait: None,
            })
        }
        Err(e) => Err(launch_error(e)),
    }
}

async fn execution(launcher: &ServiceLauncher, arn: &str) -> Result<Value, crate::call::CallError> {
    launcher
        .caller
        .call("states", "DescribeExecution", &json!({"executionArn": arn}))
        .await
}

pub(crate) async fn describe(launcher: &ServiceLauncher, arn: &str) -> PortResult<HandleStatus> {
    let found = match execution(launcher, arn).await {
        Ok(found) => found,
        Err(e) if e.is_not_found() || e.code.contains("ExecutionDoesNotExist") => {
            return Ok(HandleStatus::Lost);
        }
        Err(e) => return Err(port_error(e)),
    };
    Ok(
        match end_of(
            field(&found, "/status"),
            field(&found, "/error"),
            field(&found, "/cause"),
        ) {
            Some(end) => ended(end),
            None => HandleStatus::Running,
        },
    )
}

pub(crate) async fn stop(launcher: &ServiceLauncher, arn: &str) -> PortResult<()> {
    launcher
        .caller
        .call(
            "states",
            "StopExecution",
            &json!({"executionArn": arn, "cause": "stopped by updraft"}),
        )
        .await
        .map(|_| ())
        .map_err(port_error)
}

/// The execution's output when it is a JSON object.
pub(crate) async fn output(launcher: &ServiceLauncher, arn: &str) -> PortResult<Option<Value>> {
    let found = execution(launcher, arn).await.map_err(port_error)?;
    Ok(serde_json::from_str::<Value>(field(&found, "/output"))
        .ok()
        .filter(Value::is_object))
}
