//! The IAM actions each request of the code needs, so the stack's roles can
//! be checked against what the functions really send: a test records every
//! request each function makes on moto, derives its actions here, and
//! compares them with the function's role in `infra/template.yaml` — a new
//! call without its permission, or a permission nothing uses, fails it.

use std::collections::BTreeSet;

use serde_json::Value;

/// One of the stack's functions, by the role it runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Function {
    /// Ticks and spec uploads.
    Planner,
    /// Task messages.
    Dispatcher,
    /// ECS and SageMaker state changes.
    Recorder,
}

impl Function {
    /// Every function.
    pub const ALL: [Function; 3] = [Function::Planner, Function::Dispatcher, Function::Recorder];

    /// Its role's logical id in the template.
    pub fn role(self) -> &'static str {
        match self {
            Function::Planner => "PlannerRole",
            Function::Dispatcher => "DispatcherRole",
            Function::Recorder => "RecorderRole",
        }
    }

    /// Actions its role needs for what AWS does on its behalf, not for a
    /// request of the code, with why.
    pub fn granted_for_aws(self) -> Vec<(&'static str, &'static str)> {
        let logs = [
            ("logs:CreateLogStream", "Lambda writes the function's log"),
            ("logs:PutLogEvents", "Lambda writes the function's log"),
        ];
        let mut actions = logs.to_vec();
        match self {
            // S3 answers 403 instead of 404 for a missing key without it, and
            // a deleted spec file must read as deleted.
            Function::Planner => actions.push(("s3:ListBucket", "a missing spec file reads 404")),
            Function::Dispatcher | Function::Recorder => {}
        }
        actions
    }
}

/// The IAM actions one request needs: its operation's own, and those AWS
/// checks for what the request carries (the items a transaction writes, a
/// version read, tags set at creation, a role passed).
///
/// `service` and `operation` are as the SDK names them (`"DynamoDB"`,
/// `"TransactWriteItems"`); `uri` and `body` are the request's.
pub fn actions(service: &str, operation: &str, uri: &str, body: &[u8]) -> BTreeSet<String> {
    let prefix = match service {
        "CloudWatch Logs" => "logs".to_string(),
        "EventBridge" => "events".to_string(),
        other => other.to_ascii_lowercase(),
    };
    let json = || serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let own = |op: &str| format!("{prefix}:{op}");
    let mut needed = BTreeSet::new();
    match (service, operation) {
        // A transaction needs the action of each kind of write it holds;
        // the operation is listed as well, as policies commonly name it.
        ("DynamoDB", "TransactWriteItems") => {
            needed.insert(own(operation));
            for item in json()["TransactItems"].as_array().into_iter().flatten() {
                for (kind, action) in [
                    ("Put", "PutItem"),
                    ("Update", "UpdateItem"),
                    ("Delete", "DeleteItem"),
                    ("ConditionCheck", "ConditionCheckItem"),
                ] {
                    if item.get(kind).is_some() {
                        needed.insert(own(action));
                    }
                }
            }
        }
        ("S3", "GetObject") | ("S3", "HeadObject") => {
            let versioned = uri.contains("versionId=");
            needed.insert(own(if versioned {
                "GetObjectVersion"
            } else {
                "GetObject"
            }));
        }
        // A batch is allowed by the action of its single form.
        ("SQS", "SendMessageBatch") => {
            needed.insert(own("SendMessage"));
        }
        ("S3", "ListObjectVersions") => {
            needed.insert(own("ListBucketVersions"));
        }
        ("S3", "ListObjectsV2") => {
            needed.insert(own("ListBucket"));
        }
        // The task definition's roles are passed to ECS; tags set at launch
        // need TagResource.
        ("ECS", "RunTask") => {
            needed.insert(own(operation));
            needed.insert("iam:PassRole".into());
            if json().get("tags").is_some() {
                needed.insert(own("TagResource"));
            }
        }
        ("SageMaker", "CreateTrainingJob") => {
            needed.insert(own(operation));
            needed.insert("iam:PassRole".into());
            if json().get("Tags").is_some() {
                needed.insert(own("AddTags"));
            }
        }
        _ => {
            needed.insert(own(operation));
        }
    }
    needed
}

/// The IAM actions one call of the service kinds needs (`service` as IAM
/// names it, the caller's signing name): its own, and those AWS checks for
/// what it carries (tags set at creation, a role passed).
pub fn call_actions(
    service: &str,
    action: &str,
    params: &serde_json::Map<String, Value>,
) -> BTreeSet<String> {
    let own = |op: &str| format!("{service}:{op}");
    let mut needed = BTreeSet::new();
    match (service, action) {
        ("lambda", "Invoke") => {
            needed.insert(own("InvokeFunction"));
        }
        ("sagemaker", "CreateProcessingJob") => {
            needed.insert(own(action));
            needed.insert("iam:PassRole".into());
            if params.contains_key("Tags") {
                needed.insert(own("AddTags"));
            }
        }
        ("emr-serverless", "StartJobRun") => {
            needed.insert(own(action));
            needed.insert("iam:PassRole".into());
            if params.contains_key("tags") {
                needed.insert(own("TagResource"));
            }
        }
        // The wake-up's target role is passed again with each update.
        ("scheduler", "CreateSchedule" | "UpdateSchedule") => {
            needed.insert(own(action));
            if params
                .get("Target")
                .is_some_and(|t| t.get("RoleArn").is_some())
            {
                needed.insert("iam:PassRole".into());
            }
        }
        ("batch", "SubmitJob") => {
            needed.insert(own(action));
            if params.contains_key("tags") {
                needed.insert(own("TagResource"));
            }
        }
        _ => {
            needed.insert(own(action));
        }
    }
    needed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(actions: &[&str]) -> BTreeSet<String> {
        actions.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn a_transaction_needs_the_action_of_each_kind_of_write_it_holds() {
        let body = br#"{"TransactItems":[{"Put":{"TableName":"t"}},{"Update":{"TableName":"t"}},{"Put":{}}]}"#;
        assert_eq!(
            actions("DynamoDB", "TransactWriteItems", "/", body),
            set(&[
                "dynamodb:PutItem",
                "dynamodb:TransactWriteItems",
                "dynamodb:UpdateItem"
            ])
        );
    }

    #[test]
    fn launches_pass_roles_and_tag_what_they_start() {
        assert_eq!(
            actions("ECS", "RunTask", "/", br#"{"cluster":"c","tags":[]}"#),
            set(&["ecs:RunTask", "ecs:TagResource", "iam:PassRole"])
        );
        assert_eq!(
            actions("ECS", "RunTask", "/", br#"{"cluster":"c"}"#),
            set(&["ecs:RunTask", "iam:PassRole"])
        );
        assert_eq!(
            actions("SageMaker", "CreateTrainingJob", "/", br#"{"Tags":[]}"#),
            set(&[
                "iam:PassRole",
                "sagemaker:AddTags",
                "sagemaker:CreateTrainingJob"
            ])
        );
    }

    #[test]
    fn s3_and_logs_operations_map_to_their_iam_names() {
        let get = |uri| actions("S3", "GetObject", uri, b"");
        assert_eq!(get("/b/specs/etl.yaml"), set(&["s3:GetObject"]));
        assert_eq!(
            get("/b/specs/etl.yaml?versionId=v2"),
            set(&["s3:GetObjectVersion"])
        );
        assert_eq!(
            actions("S3", "ListObjectVersions", "/b?versions", b""),
            set(&["s3:ListBucketVersions"])
        );
        assert_eq!(
            actions("CloudWatch Logs", "GetLogEvents", "/", b"{}"),
            set(&["logs:GetLogEvents"])
        );
        assert_eq!(
            actions("SQS", "ChangeMessageVisibility", "/", b"{}"),
            set(&["sqs:ChangeMessageVisibility"])
        );
    }
}
