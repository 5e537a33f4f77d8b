//! EventBridge events from ECS, SageMaker and the service kinds (Glue,
//! Athena, Step Functions, EMR Serverless, Batch), turned into completions
//! of the tries they belong to. An event for a try that is not over yet
//! (an ECS task still `RUNNING`, a training job `InProgress`) is `None`.

use serde::Deserialize;
use updraft_core::plan::Outcome;
use updraft_core::spec::ServiceKind;
use updraft_engine::ports::Completion;

use crate::kinds;

/// The envelope of every EventBridge event (`account` is optional: moto
/// leaves it out).
#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// `aws.ecs`, `aws.sagemaker`.
    pub source: String,
    /// `ECS Task State Change`, `SageMaker Training Job State Change`.
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// The account, when the sender gives it.
    #[serde(default)]
    pub account: Option<String>,
    /// The event itself.
    pub detail: serde_json::Value,
}

/// What an event says about one launched try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    /// The launch handle: the ECS task ARN or the SageMaker job name.
    pub handle: String,
    /// How the try ended, if it did.
    pub completion: Option<Completion>,
    /// The handle is a name several launches share (a Glue crawler's: its
    /// events carry no crawl id): each launch of it still in flight is
    /// looked at, and `completion` is none.
    pub named: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EcsTask {
    task_arn: String,
    last_status: String,
    #[serde(default)]
    stopped_reason: Option<String>,
    #[serde(default)]
    stop_code: Option<String>,
    #[serde(default)]
    containers: Vec<EcsContainer>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EcsContainer {
    name: String,
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrainingJob {
    training_job_name: String,
    training_job_status: String,
    #[serde(default)]
    failure_reason: Option<String>,
}

/// The source and detail type of the events of ECS tasks the recorder
/// takes (the template's rule matches them).
pub const ECS_TASK_STATE_CHANGE: (&str, &str) = ("aws.ecs", "ECS Task State Change");
/// The ECS task status that ends a try.
pub const ECS_STOPPED: &str = "STOPPED";
/// The source and detail type of training jobs' events.
pub const TRAINING_JOB_STATE_CHANGE: (&str, &str) =
    ("aws.sagemaker", "SageMaker Training Job State Change");
/// The training job statuses that end a try.
pub const TRAINING_JOB_ENDED: [&str; 3] = ["Completed", "Failed", "Stopped"];

/// The source and detail type of Glue crawlers' events.
pub const GLUE_CRAWLER_STATE_CHANGE: (&str, &str) = ("aws.glue", "Glue Crawler State Change");
/// The source and detail type of Glue job runs' events.
pub const GLUE_JOB_STATE_CHANGE: (&str, &str) = ("aws.glue", "Glue Job State Change");
/// The source and detail type of Batch jobs' events.
pub const BATCH_JOB_STATE_CHANGE: (&str, &str) = ("aws.batch", "Batch Job State Change");
/// The source and detail type of EMR Serverless job runs' events.
pub const JOB_RUN_STATE_CHANGE: (&str, &str) =
    ("aws.emr-serverless", "EMR Serverless Job Run State Change");
/// The source and detail type of SageMaker processing jobs' events.
pub const PROCESSING_JOB_STATE_CHANGE: (&str, &str) =
    ("aws.sagemaker", "SageMaker Processing Job State Change");
/// The source and detail type of Athena queries' events.
pub const ATHENA_QUERY_STATE_CHANGE: (&str, &str) = ("aws.athena", "Athena Query State Change");
/// The source and detail type of Step Functions executions' events.
pub const EXECUTION_STATUS_CHANGE: (&str, &str) =
    ("aws.states", "Step Functions Execution Status Change");

/// An event of a service kind (a Glue job run, an Athena query, a Step
/// Functions execution, ...) as the state change of its handle.
fn service_kind(kind: (&str, &str), detail: &serde_json::Value) -> Option<StateChange> {
    let text = |pointer: &str| {
        detail
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    };
    if kind == GLUE_CRAWLER_STATE_CHANGE {
        // Which crawl ended, and whether it is a try's, only GetCrawler
        // tells: the launches of the crawler are looked at.
        return Some(StateChange {
            handle: kinds::handle(ServiceKind::GlueCrawler, text("/crawlerName")),
            completion: None,
            named: true,
        });
    }
    let (handle, end) = if kind == GLUE_JOB_STATE_CHANGE {
        (
            kinds::glue_handle(text("/jobName"), text("/jobRunId")),
            kinds::glue_end(text("/state"), text("/message")),
        )
    } else if kind == ATHENA_QUERY_STATE_CHANGE {
        (
            kinds::handle(ServiceKind::Athena, text("/queryExecutionId")),
            kinds::athena_end(text("/currentState"), text("/athenaError/errorMessage")),
        )
    } else if kind == EXECUTION_STATUS_CHANGE {
        (
            kinds::handle(ServiceKind::StepFunctions, text("/executionArn")),
            kinds::execution_end(text("/status"), text("/error"), text("/cause")),
        )
    } else if kind == JOB_RUN_STATE_CHANGE {
        (
            kinds::job_run_handle(text("/applicationId"), text("/jobRunId")),
            kinds::job_run_end(text("/state"), text("/stateDetails")),
        )
    } else if kind == PROCESSING_JOB_STATE_CHANGE {
        (
            kinds::handle(ServiceKind::SagemakerProcessing, text("/ProcessingJobName")),
            kinds::processing_end(text("/ProcessingJobStatus"), text("/FailureReason")),
        )
    } else if kind == BATCH_JOB_STATE_CHANGE {
        let exit_code = detail
            .pointer("/container/exitCode")
            .and_then(|c| c.as_i64())
            .and_then(|c| i32::try_from(c).ok());
        return Some(StateChange {
            handle: kinds::handle(ServiceKind::Batch, text("/jobId")),
            completion: kinds::batch_completion(text("/status"), text("/statusReason"), exit_code),
            named: false,
        });
    } else {
        return None;
    };
    Some(StateChange {
        handle,
        completion: end.map(kinds::completion),
        named: false,
    })
}

/// The container a try's command runs in: the one the runner task
/// definition names `main`, else the first.
pub const MAIN_CONTAINER: &str = "main";

/// Reads one event. Errors name what is missing; events of other kinds are
/// errors too, since the rules deliver only these two.
pub fn parse(json: &str) -> Result<StateChange, String> {
    let envelope: Envelope =
        serde_json::from_str(json).map_err(|e| format!("not an EventBridge event: {e}"))?;
    let kind = (envelope.source.as_str(), envelope.detail_type.as_str());
    if kind == ECS_TASK_STATE_CHANGE {
        ecs(envelope.detail)
    } else if kind == TRAINING_JOB_STATE_CHANGE {
        sagemaker(envelope.detail)
    } else if let Some(change) = service_kind(kind, &envelope.detail) {
        Ok(change)
    } else {
        Err(format!("unexpected event `{}` from `{}`", kind.1, kind.0))
    }
}

/// How one container of a task ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerEnd {
    /// Its name in the task definition.
    pub name: String,
    /// Its exit code, if it ran.
    pub exit_code: Option<i32>,
    /// Why it stopped, if ECS says.
    pub reason: Option<String>,
}

/// The completion of an ECS task, from an event or DescribeTasks: `None`
/// until it is `STOPPED`; then the exit code of the `main` container (else
/// the first), or the stop code and reasons when it never ran.
pub fn ecs_completion(
    last_status: &str,
    stop_code: Option<String>,
    stopped_reason: Option<String>,
    containers: &[ContainerEnd],
) -> Option<Completion> {
    if last_status != ECS_STOPPED {
        return None;
    }
    let main = containers
        .iter()
        .find(|c| c.name == MAIN_CONTAINER)
        .or_else(|| containers.first());
    Some(match main.and_then(|c| c.exit_code) {
        Some(0) => Completion {
            outcome: Outcome::Succeeded,
            exit_code: Some(0),
        },
        Some(code) => Completion {
            outcome: Outcome::Failed {
                reason: format!("exit code {code}"),
            },
            exit_code: Some(code),
        },
        None => {
            let mut parts: Vec<String> = Vec::new();
            for part in [
                stop_code,
                stopped_reason,
                main.and_then(|c| c.reason.clone()),
            ]
            .into_iter()
            .flatten()
            {
                if !parts.contains(&part) {
                    parts.push(part);
                }
            }
            let why = if parts.is_empty() {
                "the task stopped without an exit code".to_string()
            } else {
                parts.join(": ")
            };
            Completion {
                outcome: Outcome::Failed { reason: why },
                exit_code: None,
            }
        }
    })
}

fn ecs(detail: serde_json::Value) -> Result<StateChange, String> {
    let task: EcsTask =
        serde_json::from_value(detail).map_err(|e| format!("ECS Task State Change: {e}"))?;
    let containers: Vec<ContainerEnd> = task
        .containers
        .into_iter()
        .map(|c| ContainerEnd {
            name: c.name,
            exit_code: c.exit_code,
            reason: c.reason,
        })
        .collect();
    let completion = ecs_completion(
        &task.last_status,
        task.stop_code,
        task.stopped_reason,
        &containers,
    );
    Ok(StateChange {
        handle: task.task_arn,
        completion,
        named: false,
    })
}

/// The completion of a training job, from an event or
/// DescribeTrainingJob: `None` while it is not over.
pub fn training_completion(status: &str, failure_reason: Option<String>) -> Option<Completion> {
    let [completed, failed, stopped] = TRAINING_JOB_ENDED;
    let outcome = if status == completed {
        Outcome::Succeeded
    } else if status == failed {
        Outcome::Failed {
            reason: failure_reason.unwrap_or_else(|| "the training job failed".into()),
        }
    } else if status == stopped {
        Outcome::Failed {
            reason: "the training job was stopped".into(),
        }
    } else {
        return None;
    };
    Some(Completion {
        outcome,
        exit_code: None,
    })
}

fn sagemaker(detail: serde_json::Value) -> Result<StateChange, String> {
    let job: TrainingJob = serde_json::from_value(detail)
        .map_err(|e| format!("SageMaker Training Job State Change: {e}"))?;
    Ok(StateChange {
        completion: training_completion(&job.training_job_status, job.failure_reason),
        handle: job.training_job_name,
        named: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn a_stopped_ecs_task_with_exit_code_0_succeeded() {
        let change = parse(&fixture("ecs-task-stopped-ok.json")).unwrap();
        assert_eq!(
            change.handle,
            "arn:aws:ecs:us-east-1:123456789012:task/updraft/9f1bd8e4d5ae4d1a8f5d0c1e2b3a4c5d"
        );
        assert_eq!(
            change.completion,
            Some(Completion {
                outcome: Outcome::Succeeded,
                exit_code: Some(0)
            })
        );
    }

    #[test]
    fn a_stopped_ecs_task_with_exit_code_3_failed() {
        let change = parse(&fixture("ecs-task-stopped-exit-3.json")).unwrap();
        assert_eq!(
            change.completion,
            Some(Completion {
                outcome: Outcome::Failed {
                    reason: "exit code 3".into()
                },
                exit_code: Some(3)
            })
        );
    }

    #[test]
    fn an_ecs_task_that_never_started_failed_with_the_stop_reason() {
        let change = parse(&fixture("ecs-task-failed-to-start.json")).unwrap();
        let reason = "TaskFailedToStart: CannotPullContainerError: pull image manifest has been retried 5 time(s)";
        assert_eq!(
            change.completion,
            Some(Completion {
                outcome: Outcome::Failed {
                    reason: reason.into()
                },
                exit_code: None
            })
        );
    }

    #[test]
    fn a_running_ecs_task_is_not_a_completion() {
        let event = fixture("ecs-task-stopped-ok.json")
            .replace("\"lastStatus\": \"STOPPED\"", "\"lastStatus\": \"RUNNING\"");
        assert_eq!(parse(&event).unwrap().completion, None);
    }

    #[test]
    fn training_jobs_complete_fail_or_stop() {
        let done = parse(&fixture("sagemaker-training-completed.json")).unwrap();
        assert_eq!(done.handle, "updraft-ml-train-0a1b2c3d4e5f-001");
        assert_eq!(
            done.completion,
            Some(Completion {
                outcome: Outcome::Succeeded,
                exit_code: None
            })
        );
        let failed = fixture("sagemaker-training-completed.json").replace(
            "\"TrainingJobStatus\": \"Completed\"",
            "\"TrainingJobStatus\": \"Failed\", \"FailureReason\": \"AlgorithmError: loss is NaN\"",
        );
        assert_eq!(
            parse(&failed).unwrap().completion,
            Some(Completion {
                outcome: Outcome::Failed {
                    reason: "AlgorithmError: loss is NaN".into()
                },
                exit_code: None
            })
        );
        let running =
            fixture("sagemaker-training-completed.json").replace("\"Completed\"", "\"InProgress\"");
        assert_eq!(parse(&running).unwrap().completion, None);
    }

    #[test]
    fn other_events_and_bad_json_are_refused() {
        assert!(
            parse("{")
                .unwrap_err()
                .starts_with("not an EventBridge event")
        );
        let other = r#"{"source": "aws.s3", "detail-type": "Object Created", "detail": {}}"#;
        assert_eq!(
            parse(other).unwrap_err(),
            "unexpected event `Object Created` from `aws.s3`"
        );
    }
}
