//! What a try of a service kind shows as its log: the CloudWatch stream its
//! service writes where there is one (a Glue run's output, a crawler's, a
//! processing job's, a Batch job's container), the last 4 KB a Lambda
//! invocation returned, and otherwise what the service says of the work (a
//! query's text and state, an execution's status, a call and its answers).

use aws_smithy_types::base64;
use serde_json::{Value, json};
use updraft_core::spec::ServiceKind;
use updraft_core::state::Attempt;
use updraft_engine::ports::{LogPage, LogWindow, PortError, PortResult};

use super::{ServiceLauncher, field, owner, port_error};
use crate::cloudwatch;

/// Where a handle's log is in CloudWatch, when the handle says.
pub fn location(handle: &str) -> Option<String> {
    match owner(handle)? {
        (ServiceKind::Glue, id) => {
            let (_, run) = id.rsplit_once('/')?;
            Some(cloudwatch::stream("/aws-glue/jobs/output", run))
        }
        (ServiceKind::GlueCrawler, id) => {
            let (name, _) = id.rsplit_once('@')?;
            Some(cloudwatch::stream("/aws-glue/crawlers", name))
        }
        (ServiceKind::SagemakerProcessing, name) => Some(cloudwatch::streams(
            "/aws/sagemaker/ProcessingJobs",
            &format!("{name}/"),
        )),
        _ => None,
    }
}

/// One page that is all there is.
fn whole(text: String, window: &LogWindow) -> LogPage {
    match window {
        // A live page asking for news: a status has none to append.
        LogWindow::After(_) => LogPage::default(),
        _ => LogPage {
            text,
            earlier: None,
            later: None,
        },
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

impl ServiceLauncher {
    async fn cloudwatch(&self, location: &str, window: &LogWindow) -> PortResult<LogPage> {
        let client = self
            .logs
            .as_ref()
            .ok_or_else(|| PortError::msg("no CloudWatch Logs client is configured"))?;
        cloudwatch::page(client, location, window).await
    }

    /// A page of a try's log.
    pub async fn logs(&self, attempt: &Attempt, window: &LogWindow) -> PortResult<LogPage> {
        let Some(handle) = attempt.handle.as_deref() else {
            return Ok(LogPage::default());
        };
        if let Some(location) = attempt.log.clone().or_else(|| location(handle)) {
            return self.cloudwatch(&location, window).await;
        }
        let (this, record) = self.for_handle(handle).await?;
        let call = |service: &'static str, action: &'static str, params: Value| {
            let this = this.clone();
            async move {
                this.caller
                    .call(service, action, &params)
                    .await
                    .map_err(port_error)
            }
        };
        let text = match owner(handle) {
            Some((ServiceKind::Batch, id)) => {
                let found = call("batch", "DescribeJobs", json!({"jobs": [id]})).await?;
                let stream = field(&found, "/jobs/0/container/logStreamName");
                if !stream.is_empty() {
                    return self
                        .cloudwatch(&cloudwatch::stream("/aws/batch/job", stream), window)
                        .await;
                }
                format!(
                    "the job has no log yet (status {})",
                    field(&found, "/jobs/0/status")
                )
            }
            Some((ServiceKind::Lambda, _)) => {
                let tail = record
                    .as_ref()
                    .map(|r| field(&r.response, "/LogResult").to_string())
                    .unwrap_or_default();
                match base64::decode(&tail) {
                    Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
                    _ => "the invocation returned no log".to_string(),
                }
            }
            Some((ServiceKind::Athena, id)) => {
                let found = call(
                    "athena",
                    "GetQueryExecution",
                    json!({"QueryExecutionId": id}),
                )
                .await?;
                let query = &found["QueryExecution"];
                format!(
                    "{}\n\nstate: {}\n{}scanned: {} bytes",
                    field(query, "/Query"),
                    field(query, "/Status/State"),
                    match field(query, "/Status/StateChangeReason") {
                        "" => String::new(),
                        why => format!("reason: {why}\n"),
                    },
                    query
                        .pointer("/Statistics/DataScannedInBytes")
                        .unwrap_or(&Value::Null)
                )
            }
            Some((ServiceKind::StepFunctions, arn)) => {
                let found =
                    call("states", "DescribeExecution", json!({"executionArn": arn})).await?;
                format!("execution {arn}\n{}", pretty(&found))
            }
            Some((ServiceKind::EmrServerless, id)) => {
                let (app, run) = id.split_once('/').unwrap_or((id, ""));
                let found = call(
                    "emr-serverless",
                    "GetJobRun",
                    json!({"applicationId": app, "jobRunId": run}),
                )
                .await?;
                format!(
                    "state: {}\n{}\n(the driver's logs go where the application's monitoring configuration sends them)",
                    field(&found, "/jobRun/state"),
                    field(&found, "/jobRun/stateDetails")
                )
            }
            Some((ServiceKind::Aws, _)) => match &record {
                Some(record) => format!(
                    "response:\n{}\nwait:\n{}",
                    pretty(&record.response),
                    pretty(&json!(record.wait))
                ),
                None => "no launch record".to_string(),
            },
            _ => String::new(),
        };
        Ok(whole(text, window))
    }
}
