//! `kind: lambda`: one synchronous invocation of a function, made by the
//! launch itself. Its answer is remembered with the launch, so the try ends
//! at the next look (an event, a tick) without calling again. The try's
//! identity travels in the invocation's client context
//! (`context.client_context.custom`: `updraft_try`, `dag`, `run_id`,
//! `task_id`, `try_number`), so a function can tell a repeated invocation:
//! an invocation that may have run when its dispatcher died is invoked
//! again, since nothing in Lambda records it. Handle: `lambda:PREFIX`.

use std::time::Duration;

use aws_smithy_types::base64;
use serde_json::{Map, Value, json};
use updraft_core::spec::ServiceKind;
use updraft_engine::ports::{HandleStatus, LaunchError, LaunchRequest};

use super::{
    LAMBDA_WAIT, LaunchRecord, ServiceLauncher, Started, ended, field, handle, launch_error,
    required,
};

/// The client context naming the try (Lambda takes at most 3,583 bytes of
/// it, base64).
fn client_context(launcher: &ServiceLauncher, request: &LaunchRequest) -> String {
    let custom = json!({
        "updraft_try": launcher.digest(request),
        "dag": request.dag,
        "run_id": request.run_id,
        "task_id": request.key.task_id.as_str(),
        "map_index": request.key.map_index.map(|i| i.to_string()).unwrap_or_default(),
        "try_number": request.try_number.to_string(),
    });
    base64::encode(json!({"custom": custom}).to_string())
}

pub(crate) async fn start(
    launcher: &ServiceLauncher,
    request: &LaunchRequest,
    settings: &Map<String, Value>,
    prefix: &str,
) -> Result<Started, LaunchError> {
    let function = required(settings, "function")?;
    let config = launcher
        .caller
        .call(
            "lambda",
            "GetFunctionConfiguration",
            &json!({"FunctionName": function}),
        )
        .await
        .map_err(launch_error)?;
    let timeout = Duration::from_secs(config["Timeout"].as_u64().unwrap_or(3));
    if timeout > LAMBDA_WAIT {
        return Err(LaunchError::Refused(format!(
            "function `{function}` may run {}s, longer than the {}s a `kind: lambda` try can wait for its answer within the dispatcher's timeout; lower its timeout, or invoke it with `kind: aws` (InvocationType Event) and a wait",
            timeout.as_secs(),
            LAMBDA_WAIT.as_secs()
        )));
    }
    let params = json!({
        "FunctionName": function,
        "InvocationType": "RequestResponse",
        // The last 4 KB of its log, for the task panel.
        "LogType": "Tail",
        "ClientContext": client_context(launcher, request),
        "Payload": settings.get("payload").cloned().unwrap_or_else(|| json!({})),
    });
    let response = launcher
        .caller
        .call("lambda", "Invoke", &params)
        .await
        .map_err(launch_error)?;
    Ok(Started {
        handle: handle(ServiceKind::Lambda, prefix),
        response,
        wait: None,
    })
}

/// An invocation's end: a function error fails the try with the error's
/// type and message.
pub(crate) fn describe(record: &LaunchRecord) -> HandleStatus {
    let response = &record.response;
    match field(response, "/FunctionError") {
        "" => ended(Ok(())),
        kind => {
            let payload = &response["Payload"];
            let error = field(payload, "/errorType");
            let message = field(payload, "/errorMessage");
            ended(Err(match (error, message) {
                ("", "") => format!("the function failed ({kind}): {payload}"),
                (error, message) => format!("{error}: {message}"),
            }))
        }
    }
}

/// The function's answer, when it is a JSON object.
pub(crate) fn output(record: &LaunchRecord) -> Option<Value> {
    Some(record.response.get("Payload")?.clone()).filter(Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use updraft_core::plan::Outcome;
    use updraft_engine::ports::Completion;

    fn answered(response: Value) -> HandleStatus {
        describe(&LaunchRecord {
            handle: "lambda:p".into(),
            launched_at: chrono::Utc::now(),
            role: None,
            response,
            wait: None,
        })
    }

    #[test]
    fn a_function_error_fails_the_try_with_its_type_and_message() {
        let failed = answered(json!({
            "StatusCode": 200, "FunctionError": "Unhandled",
            "Payload": {"errorType": "KeyError", "errorMessage": "'day'", "stackTrace": []}
        }));
        assert_eq!(
            failed,
            HandleStatus::Ended(Completion {
                outcome: Outcome::Failed {
                    reason: "KeyError: 'day'".into()
                },
                exit_code: None
            })
        );
        let ok = answered(json!({"StatusCode": 200, "Payload": {"rows": 5}}));
        assert!(matches!(
            ok,
            HandleStatus::Ended(Completion {
                outcome: Outcome::Succeeded,
                ..
            })
        ));
    }
}
