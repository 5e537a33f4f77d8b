//! `kind: aws`: one call of any action, then, optionally, a describe call
//! polled until an expression over its response says the try succeeded or
//! failed. With only `wait:` it is a sensor: nothing runs while it waits.
//! Values of keys ending in `.$` in the wait's parameters are JMESPath
//! expressions over the call's response, as in Step Functions.

use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use updraft_core::duration::parse_duration;
use updraft_core::spec::DEFAULT_POKE_INTERVAL;
use updraft_core::spec::ServiceKind;
use updraft_engine::ports::{HandleStatus, LaunchError, Look, PortResult};

use super::{LaunchRecord, ServiceLauncher, Started, ended, handle, launch_error, port_error};

/// How long a wait lasts when the spec gives no `timeout`.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(7 * 86_400);

/// A describe call and how to read its response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Wait {
    /// The service.
    pub service: String,
    /// The describe action.
    pub action: String,
    /// Its parameters, with the call's response filled in.
    pub params: Value,
    /// True over the response when the try succeeded.
    pub success: String,
    /// True over the response when the try failed.
    pub failure: Option<String>,
    /// Seconds between pokes.
    pub every_secs: u64,
    /// Seconds after the launch the try fails, still waiting.
    pub timeout_secs: u64,
}

/// Evaluates a JMESPath expression over a JSON value.
pub fn search(expression: &str, over: &Value) -> Result<Value, String> {
    let compiled =
        jmespath::compile(expression).map_err(|e| format!("expression `{expression}`: {e}"))?;
    let found = compiled
        .search(over)
        .map_err(|e| format!("expression `{expression}`: {e}"))?;
    serde_json::to_value(&*found).map_err(|e| format!("expression `{expression}`: {e}"))
}

/// Whether an expression holds over a value, as JMESPath counts truth.
fn holds(expression: &str, over: &Value) -> Result<bool, String> {
    Ok(match search(expression, over)? {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    })
}

/// Parameters with each `key.$: expression` replaced by `key:` its value
/// over `response`.
pub fn fill(params: &Value, response: &Value) -> Result<Value, String> {
    Ok(match params {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match key.strip_suffix(".$") {
                    Some(name) => {
                        let expression = value.as_str().ok_or_else(|| {
                            format!(
                                "`{key}` must be a JMESPath expression over the call's response"
                            )
                        })?;
                        out.insert(name.to_string(), search(expression, response)?);
                    }
                    None => {
                        out.insert(key.clone(), fill(value, response)?);
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| fill(item, response))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

fn duration_of(
    wait: &Map<String, Value>,
    key: &str,
    default: Duration,
) -> Result<Duration, String> {
    match wait.get(key).and_then(Value::as_str) {
        Some(text) => parse_duration(text).map_err(|why| format!("wait `{key}`: {why}")),
        None => Ok(default),
    }
}

/// The wait a step's settings describe, its parameters filled from the
/// call's response.
fn wait_of(
    settings: &Map<String, Value>,
    call_service: Option<&str>,
    response: &Value,
) -> Result<Option<Wait>, String> {
    let Some(wait) = settings.get("wait").and_then(Value::as_object) else {
        return Ok(None);
    };
    let text = |key: &str| wait.get(key).and_then(Value::as_str).map(str::to_string);
    let service = text("service")
        .or_else(|| call_service.map(str::to_string))
        .ok_or("`wait` needs `service` when there is no `call`")?;
    Ok(Some(Wait {
        service,
        action: text("action").ok_or("`wait` needs `action`")?,
        params: fill(wait.get("params").unwrap_or(&Value::Null), response)?,
        success: text("success").ok_or("`wait` needs `success`")?,
        failure: text("failure"),
        every_secs: duration_of(wait, "every", DEFAULT_POKE_INTERVAL)?.as_secs(),
        timeout_secs: duration_of(wait, "timeout", DEFAULT_WAIT_TIMEOUT)?.as_secs(),
    }))
}

/// Makes the call (if any) and plans the wait.
pub(crate) async fn start(
    launcher: &ServiceLauncher,
    settings: &Map<String, Value>,
    prefix: &str,
) -> Result<Started, LaunchError> {
    let call = settings.get("call").and_then(Value::as_object);
    let service = call.and_then(|c| c.get("service")).and_then(Value::as_str);
    let response = match call {
        Some(call) => {
            let action = call
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let params = call.get("params").cloned().unwrap_or(Value::Null);
            launcher
                .caller
                .call(service.unwrap_or_default(), action, &params)
                .await
                .map_err(launch_error)?
        }
        None => Value::Null,
    };
    let wait = wait_of(settings, service, &response).map_err(LaunchError::Refused)?;
    Ok(Started {
        handle: handle(ServiceKind::Aws, prefix),
        response,
        wait,
    })
}

/// Makes the wait's describe call once: its `success` holds (the answer
/// is the output), not yet (or "not found"), or its `failure` holds or the
/// call cannot succeed; a port error: ask again later.
async fn look(launcher: &ServiceLauncher, wait: &Wait) -> PortResult<Look> {
    let last = match launcher
        .caller
        .call(&wait.service, &wait.action, &wait.params)
        .await
    {
        Ok(last) => last,
        Err(e) if e.is_not_found() => return Ok(Look::NotYet),
        Err(e) if e.is_transient() => return Err(port_error(e)),
        Err(e) => return Ok(Look::Cannot(format!("waiting: {e}"))),
    };
    Ok(match verdict(wait, &last) {
        Ok(true) => Look::Holds(Some(json!({ "last": last }))),
        Ok(false) => Look::NotYet,
        Err(why) => Look::Cannot(why),
    })
}

/// What a describe response says: the wait's `success` holds, its
/// `failure` does (or an expression cannot be read), or neither yet.
fn verdict(wait: &Wait, last: &Value) -> Result<bool, String> {
    if holds(&wait.success, last)? {
        return Ok(true);
    }
    match &wait.failure {
        Some(failure) if holds(failure, last)? => Err(format!(
            "{} {} answered what `failure: {failure}` matches",
            wait.service, wait.action
        )),
        _ => Ok(false),
    }
}

/// One look of a sensor's wait (a task with only `wait:`), its settings
/// rendered: the sensor's pace and timeout are the engine's.
pub(crate) async fn probe(
    launcher: &ServiceLauncher,
    settings: &Map<String, Value>,
) -> PortResult<Look> {
    match wait_of(settings, None, &Value::Null) {
        Ok(Some(wait)) => look(launcher, &wait).await,
        Ok(None) => Ok(Look::Cannot("a `kind: aws` sensor needs a `wait`".into())),
        Err(why) => Ok(Look::Cannot(why)),
    }
}

/// Pokes the wait once.
pub(crate) async fn describe(
    launcher: &ServiceLauncher,
    record: &LaunchRecord,
) -> PortResult<HandleStatus> {
    let Some(wait) = &record.wait else {
        return Ok(ended(Ok(())));
    };
    let waited = Utc::now() - record.launched_at;
    match look(launcher, wait).await? {
        Look::Holds(_) => return Ok(ended(Ok(()))),
        Look::Cannot(why) => return Ok(ended(Err(why))),
        Look::NotYet => {}
    }
    if waited.num_seconds() >= wait.timeout_secs as i64 {
        return Ok(ended(Err(format!(
            "waited {}s for {} {} to satisfy `{}`; the wait's timeout passed",
            waited.num_seconds(),
            wait.service,
            wait.action,
            wait.success
        ))));
    }
    Ok(HandleStatus::Running)
}

/// `{"response": the call's response, "last": the last describe response}`.
pub(crate) async fn output(launcher: &ServiceLauncher, record: &LaunchRecord) -> PortResult<Value> {
    let last = match &record.wait {
        Some(wait) => launcher
            .caller
            .call(&wait.service, &wait.action, &wait.params)
            .await
            .ok(),
        None => None,
    };
    Ok(json!({ "response": record.response, "last": last }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_read_a_response_as_the_aws_cli_does() {
        let crawler = json!({"Crawler": {"State": "READY", "LastCrawl": {"Status": "SUCCEEDED"}}});
        assert!(holds("Crawler.State == 'READY'", &crawler).unwrap());
        assert!(!holds("Crawler.LastCrawl.Status == 'FAILED'", &crawler).unwrap());
        assert!(holds("Crawler.LastCrawl", &crawler).unwrap());
        assert!(!holds("Crawler.Missing", &crawler).unwrap());
        assert!(
            search("Crawler.State ==", &crawler)
                .unwrap_err()
                .starts_with("expression `Crawler.State ==`")
        );
    }

    #[test]
    fn dollar_keys_take_their_value_from_the_calls_response() {
        let response = json!({"JobRunId": "jr_1", "Ids": ["a", "b"]});
        let params =
            json!({"JobName": "ingest", "RunId.$": "JobRunId", "Nested": [{"First.$": "Ids[0]"}]});
        assert_eq!(
            fill(&params, &response).unwrap(),
            json!({"JobName": "ingest", "RunId": "jr_1", "Nested": [{"First": "a"}]})
        );
        let bad = json!({"RunId.$": 3});
        assert!(
            fill(&bad, &response)
                .unwrap_err()
                .contains("must be a JMESPath expression")
        );
    }
}
