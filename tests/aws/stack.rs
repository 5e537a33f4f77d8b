//! The deploy rehearsal's checks: the wiring of a stack created from
//! `infra/template.yaml` on moto, read from what was created (functions'
//! environments and roles, the dispatcher's event source, each rule's
//! targets, permissions and pattern, tried with sample events), and what
//! two stacks in one account would share. Each check also runs against a
//! template broken on purpose, and must catch it.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};
use updraft_aws::functions::{OBJECT_CREATED, OBJECT_DELETED, spec_objects, watched_object};
use updraft_aws::sagemaker::DEPLOYMENT_TAG;
use updraft_aws::schema::{MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_SECS};
use updraft_aws::testing::{ecs_event, rule_into_queue, sdk, training_event, unique};

use crate::rehearsal::{FUNCTIONS, Rehearsal, Stack};

/// Which function each variable's resource is, in the template.
const VARIABLE_RESOURCES: [(&str, &str); 5] = [
    ("UPDRAFT_TABLE", "StateTable"),
    ("UPDRAFT_QUEUE_URL", "TaskQueue"),
    ("UPDRAFT_BUCKET", "SpecBucket"),
    ("UPDRAFT_CLUSTER", "Cluster"),
    ("UPDRAFT_TASK_DEFINITION", "RunnerTaskDefinition"),
];

/// Each rule of the template and the function it must invoke.
const RULE_TARGETS: [(&str, &str); 5] = [
    ("PlannerFunctionTick", "PlannerFunction"),
    ("PlannerFunctionSpecUploaded", "PlannerFunction"),
    ("WatchedObjectsRule", "PlannerFunction"),
    ("RecorderFunctionEcsTaskStopped", "RecorderFunction"),
    ("RecorderFunctionTrainingJobEnded", "RecorderFunction"),
];

struct Aws {
    lambda: aws_sdk_lambda::Client,
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
}

impl Aws {
    fn new() -> Aws {
        let config = sdk();
        Aws {
            lambda: aws_sdk_lambda::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
        }
    }

    async fn queue_attributes(&self, url: &str) -> BTreeMap<String, String> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        out.attributes()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The function's environment, as Lambda holds it.
pub async fn environment(stack: &Stack, function: &str) -> BTreeMap<String, String> {
    let config = Aws::new()
        .lambda
        .get_function_configuration()
        .function_name(stack.physical(function))
        .send()
        .await
        .unwrap();
    config
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Everything wrong with the stack's wiring, one line each.
async fn wiring_problems(stack: &Stack) -> Vec<String> {
    let aws = Aws::new();
    let mut problems = Vec::new();
    let mut roles = BTreeMap::new();
    let bus = stack.parameter("EventBusName");
    for function in FUNCTIONS {
        let config = aws
            .lambda
            .get_function_configuration()
            .function_name(stack.physical(function))
            .send()
            .await
            .unwrap();
        let variables = environment(stack, function).await;
        let expect = |variable: &str, value: &str, what: &str| -> Option<String> {
            let found = variables.get(variable).map(String::as_str);
            (found != Some(value))
                .then(|| format!("{function}: {variable} is {found:?}, not {what} {value:?}"))
        };
        for (variable, resource) in VARIABLE_RESOURCES {
            problems.extend(expect(
                variable,
                stack.physical(resource),
                &format!("this stack's {resource}"),
            ));
        }
        let sagemaker_role = format!(
            "arn:aws:iam::123456789012:role/{}",
            stack.physical("SageMakerRole")
        );
        problems.extend(expect(
            "UPDRAFT_SAGEMAKER_ROLE",
            &sagemaker_role,
            "this stack's SageMakerRole",
        ));
        problems.extend(expect("UPDRAFT_EVENT_BUS", &bus, "the EventBusName"));
        problems.extend(expect(
            "UPDRAFT_SUBNETS",
            &stack.parameter("SubnetIds"),
            "the SubnetIds",
        ));
        // Each output is what `--stack` sets its variable to: the value the
        // functions run with. Only the planner moves the wake-up (the other
        // functions make runs only while one is active, when it ticks every
        // minute anyway).
        for (output, variable) in updraft_aws::settings::STACK_OUTPUTS {
            let output_value = stack.outputs.get(*output).cloned().unwrap_or_default();
            if *variable == "UPDRAFT_WAKE_SCHEDULE" && function != "PlannerFunction" {
                problems.extend(
                    variables
                        .get(*variable)
                        .map(|v| format!("{function}: {variable} is {v:?}, not unset")),
                );
                continue;
            }
            problems.extend(expect(variable, &output_value, &format!("output {output}")));
        }
        let role = config.role().unwrap_or_default().to_string();
        let own = function.replace("Function", "Role");
        if !role.ends_with(&format!(":role/{}", stack.physical(&own))) {
            problems.push(format!("{function} runs as {role}, not its own {own}"));
        }
        roles.insert(function, role);
        // moto drops a function's logging configuration and architecture:
        // checked in the translated template instead.
        let properties = &stack.template["Resources"][function]["Properties"];
        let log_group = &properties["LoggingConfig"]["LogGroup"]["Ref"];
        let expected = function.replace("Function", "LogGroup");
        if log_group != &json!(expected) || !stack.resources.contains_key(&expected) {
            problems.push(format!("{function} logs to {log_group}, not {expected}"));
        }
        if properties["Architectures"] != json!(["arm64"]) {
            problems.push(format!(
                "{function} is built for arm64 but runs on {}",
                properties["Architectures"]
            ));
        }
    }
    // moto skips the alarm: it must watch the dead-letter queue.
    let alarm = &stack.template["Resources"]["DeadLetterAlarm"]["Properties"];
    if alarm["Dimensions"][0]["Value"]["Fn::GetAtt"] != json!(["TaskDeadLetterQueue", "QueueName"])
    {
        problems.push(format!(
            "the dead-letter alarm watches {}",
            alarm["Dimensions"]
        ));
    }
    let distinct: std::collections::BTreeSet<&String> = roles.values().collect();
    if distinct.len() != FUNCTIONS.len() {
        problems.push(format!("functions share a role: {roles:?}"));
    }

    problems.extend(event_source_problems(&aws, stack).await);
    for (rule, function) in RULE_TARGETS {
        if stack.resources.contains_key(rule) {
            problems.extend(rule_problems(&aws, stack, rule, function, &bus).await);
        } else if rule != "WatchedObjectsRule" || !stack.parameter("WatchedBuckets").is_empty() {
            problems.push(format!("no {rule} was created"));
        }
    }
    problems.extend(alert_problems(&aws, stack, &bus).await);
    problems
}

/// The task queue and its dead-letter queue as the code counts on, and
/// no event source polling it.
async fn event_source_problems(aws: &Aws, stack: &Stack) -> Vec<String> {
    let mut problems = Vec::new();
    let queue = aws.queue_attributes(stack.physical("TaskQueue")).await;
    let dead = aws
        .queue_attributes(stack.physical("TaskDeadLetterQueue"))
        .await;
    let redrive: Value = serde_json::from_str(&queue["RedrivePolicy"]).unwrap_or_default();
    // moto keeps the count as the template's number or as text.
    let count = redrive["maxReceiveCount"].to_string().replace('"', "");
    if redrive["deadLetterTargetArn"] != json!(dead["QueueArn"])
        || count != MAX_RECEIVE_COUNT.to_string()
    {
        problems.push(format!(
            "the task queue's redrive policy {redrive} is not its dead-letter queue after {MAX_RECEIVE_COUNT}"
        ));
    }
    if queue["VisibilityTimeout"] != VISIBILITY_TIMEOUT_SECS.to_string() {
        problems.push(format!(
            "the task queue's visibility timeout is {}",
            queue["VisibilityTimeout"]
        ));
    }
    // Nothing polls the queue: whoever queues a try invokes the
    // dispatcher by the name every function is given (the outputs' check
    // above holds them to the output).
    let mappings = aws
        .lambda
        .list_event_source_mappings()
        .function_name(stack.physical("DispatcherFunction"))
        .send()
        .await
        .unwrap();
    if !mappings.event_source_mappings().is_empty() {
        problems.push(format!(
            "the dispatcher has {} event sources, not none",
            mappings.event_source_mappings().len()
        ));
    }
    let named = stack
        .outputs
        .get("DispatcherFunctionName")
        .map(String::as_str);
    if named != Some(stack.physical("DispatcherFunction")) {
        problems.push(format!(
            "the dispatcher is {:?}, not the output DispatcherFunctionName {named:?}",
            stack.physical("DispatcherFunction")
        ));
    }
    problems
}

/// The ARN of a function of the stack.
fn function_arn(stack: &Stack, function: &str) -> String {
    format!(
        "arn:aws:lambda:us-east-1:123456789012:function:{}",
        stack.physical(function)
    )
}

/// A rule invokes `function` alone, the function lets it, and its pattern
/// takes the events the function parses and refuses its neighbours'.
async fn rule_problems(
    aws: &Aws,
    stack: &Stack,
    rule: &str,
    function: &str,
    bus: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let name = stack.physical(rule);
    // SAM's rules for functions' events go on the default bus.
    let described = aws
        .events
        .describe_rule()
        .name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{rule} ({name}) on the default bus of {bus}: {e:?}"));
    if described.state().map(|s| s.as_str()) != Some("ENABLED") {
        problems.push(format!("{rule} is not enabled"));
    }
    let targets = aws
        .events
        .list_targets_by_rule()
        .rule(name)
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = targets.targets().iter().map(|t| t.arn()).collect();
    let expected = function_arn(stack, function);
    if arns != [expected.as_str()] {
        problems.push(format!("{rule} targets {arns:?}, not {function}"));
    }
    let policy = aws
        .lambda
        .get_policy()
        .function_name(stack.physical(function))
        .send()
        .await
        .ok()
        .and_then(|p| p.policy)
        .unwrap_or_default();
    let policy: Value = serde_json::from_str(&policy).unwrap_or_default();
    let allowed = policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| {
            s["Principal"]["Service"] == "events.amazonaws.com"
                && s["Action"] == "lambda:InvokeFunction"
                && s["Condition"]["ArnLike"]["AWS:SourceArn"] == json!(described.arn())
        });
    if !allowed {
        problems.push(format!("{function} does not let {rule} invoke it"));
    }
    if rule == "PlannerFunctionTick" {
        let schedule = stack.parameter("TickSchedule");
        if described.schedule_expression() != Some(schedule.as_str()) {
            problems.push(format!(
                "the tick runs on {:?}, not {schedule}",
                described.schedule_expression()
            ));
        }
        let tick = json!({ "source": "aws.events", "detail-type": "Scheduled Event" });
        let bucket = stack.physical("SpecBucket");
        if !spec_objects(&tick).is_empty() || watched_object(&tick, bucket).is_some() {
            problems.push("the planner does not take the tick's event for a tick".into());
        }
        return problems;
    }
    let samples = samples(stack, rule);
    let pattern = described.event_pattern().unwrap_or_default();
    problems.extend(pattern_problems(aws, rule, pattern, &samples).await);
    for sample in samples.iter().filter(|s| s.taken) {
        if let Some(wrong) = misread(rule, stack, &sample.event) {
            problems.push(format!("{rule} takes {}, but {wrong}", sample.what));
        }
    }
    problems
}

/// A sample event, whether the rule must take it, and whether its function
/// reads it as what it is.
struct Sample {
    what: &'static str,
    event: Value,
    taken: bool,
}

fn sample(what: &'static str, event: Value, taken: bool) -> Sample {
    Sample { what, event, taken }
}

fn s3_event(kind: (&str, &str), bucket: &str, key: &str) -> Value {
    json!({
        "version": "0", "id": unique("s3"), "detail-type": kind.1, "source": kind.0,
        "time": "2026-12-06T08:00:00Z", "region": "us-east-1", "resources": [],
        "detail": { "bucket": { "name": bucket }, "object": { "key": key, "version-id": "v1" } },
    })
}

fn updraft_event(detail_type: &str, state: &str, deployment: &str) -> Value {
    json!({
        "version": "0", "id": unique("updraft"), "detail-type": detail_type, "source": "updraft",
        "time": "2026-12-06T08:00:00Z", "region": "us-east-1", "resources": [],
        "detail": { "dag": "nightly", "run_id": "manual__x", "state": state, "deployment": deployment },
    })
}

/// The events a rule must take and those of its neighbours it must refuse.
fn samples(stack: &Stack, rule: &str) -> Vec<Sample> {
    let bucket = stack.physical("SpecBucket");
    let cluster = stack.physical("Cluster");
    let task = format!("arn:aws:ecs:us-east-1:123456789012:task/{cluster}/0123456789abcdef");
    let training = |status: &str, deployment: &str| {
        let mut event = training_event("nightly-train-1-abc", status, None);
        event["detail"]["Tags"] = json!({ DEPLOYMENT_TAG: deployment });
        event
    };
    match rule {
        "PlannerFunctionSpecUploaded" => vec![
            sample(
                "a spec uploaded",
                s3_event(OBJECT_CREATED, bucket, "specs/nightly.yaml"),
                true,
            ),
            sample(
                "a spec deleted",
                s3_event(OBJECT_DELETED, bucket, "specs/nightly.yaml"),
                true,
            ),
            sample(
                "an output written",
                s3_event(OBJECT_CREATED, bucket, "outputs/nightly/x.json"),
                false,
            ),
            sample(
                "a large spec version written",
                s3_event(OBJECT_CREATED, bucket, "spec-versions/nightly/9f2c.yaml"),
                false,
            ),
            sample(
                "a spec of another bucket",
                s3_event(
                    OBJECT_CREATED,
                    "another-stacks-bucket",
                    "specs/nightly.yaml",
                ),
                false,
            ),
        ],
        "WatchedObjectsRule" => {
            let watched = stack.parameter("WatchedBuckets");
            let first = watched.split(',').next().unwrap_or_default().to_string();
            vec![
                sample(
                    "an object of a watched bucket",
                    s3_event(OBJECT_CREATED, &first, "raw/2026-12-06/a.parquet"),
                    true,
                ),
                sample(
                    "an object of another bucket",
                    s3_event(OBJECT_CREATED, "unwatched-bucket", "raw/a.parquet"),
                    false,
                ),
            ]
        }
        "RecorderFunctionEcsTaskStopped" => vec![
            sample(
                "a task of its cluster stopped",
                ecs_event(cluster, &task, "STOPPED", 0),
                true,
            ),
            sample(
                "a task of its cluster running",
                ecs_event(cluster, &task, "RUNNING", 0),
                false,
            ),
            sample(
                "a task of another cluster stopped",
                ecs_event("another-cluster", &task, "STOPPED", 0),
                false,
            ),
        ],
        "RecorderFunctionTrainingJobEnded" => vec![
            sample(
                "its training job completed",
                training("Completed", bucket),
                true,
            ),
            sample("its training job failed", training("Failed", bucket), true),
            sample(
                "its training job in progress",
                training("InProgress", bucket),
                false,
            ),
            sample(
                "another stack's training job completed",
                training("Completed", "another-stacks-bucket"),
                false,
            ),
        ],
        "FailedRunAlertRule" => vec![
            sample(
                "its run failed",
                updraft_event("updraft Run State Change", "failed", bucket),
                true,
            ),
            sample(
                "its run succeeded",
                updraft_event("updraft Run State Change", "succeeded", bucket),
                false,
            ),
            sample(
                "another stack's run failed",
                updraft_event(
                    "updraft Run State Change",
                    "failed",
                    "another-stacks-bucket",
                ),
                false,
            ),
        ],
        "FailedTryAlertRule" => vec![
            sample(
                "its try failed",
                updraft_event("updraft Task State Change", "failed", bucket),
                true,
            ),
            sample(
                "another stack's try failed",
                updraft_event(
                    "updraft Task State Change",
                    "failed",
                    "another-stacks-bucket",
                ),
                false,
            ),
        ],
        other => panic!("no samples for {other}"),
    }
}

/// What each function reads a sample it takes as, if not what it is.
fn misread(rule: &str, stack: &Stack, event: &Value) -> Option<String> {
    let bucket = stack.physical("SpecBucket");
    match rule {
        "PlannerFunctionSpecUploaded" => spec_objects(event)
            .is_empty()
            .then(|| "the planner finds no spec file in it".into()),
        "WatchedObjectsRule" => watched_object(event, bucket)
            .is_none()
            .then(|| "the planner finds no watched object in it".into()),
        "RecorderFunctionEcsTaskStopped" | "RecorderFunctionTrainingJobEnded" => {
            match updraft_aws::events::parse(&event.to_string()) {
                Ok(change) if change.completion.is_some() => None,
                Ok(_) => Some("the recorder finds no completion in it".into()),
                Err(e) => Some(format!("the recorder cannot read it: {e}")),
            }
        }
        _ => None,
    }
}

/// Puts `pattern` on a bus of its own with a queue as its target, sends
/// the samples and compares what arrives (moto has no TestEventPattern).
async fn pattern_problems(aws: &Aws, rule: &str, pattern: &str, samples: &[Sample]) -> Vec<String> {
    let bus = unique("probe");
    aws.events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .unwrap();
    let url = rule_into_queue(&aws.events, &aws.sqs, &bus, "probe", pattern).await;
    let mut problems = Vec::new();
    for sample in samples {
        let event = &sample.event;
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&bus)
            .source(event["source"].as_str().unwrap())
            .detail_type(event["detail-type"].as_str().unwrap())
            .detail(event["detail"].to_string())
            .build();
        aws.events.put_events().entries(entry).send().await.unwrap();
        let received = aws
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let arrived = received.messages().len();
        for message in received.messages() {
            aws.sqs
                .delete_message()
                .queue_url(&url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        match (sample.taken, arrived) {
            (true, 1) | (false, 0) => {}
            (true, _) => problems.push(format!("{rule} does not take {}", sample.what)),
            (false, _) => problems.push(format!("{rule} takes {}", sample.what)),
        }
    }
    problems
}

/// The alert rules, present only with an address or topic, on the stack's
/// bus, sending to them.
async fn alert_problems(aws: &Aws, stack: &Stack, bus: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let email = !stack.parameter("AlertEmail").is_empty();
    let topic = stack.parameter("AlertTopicArn");
    let mut expected_targets = Vec::new();
    if email {
        expected_targets.push(stack.physical("AlertEmailTopic").to_string());
    }
    if !topic.is_empty() {
        expected_targets.push(topic.clone());
    }
    expected_targets.sort();
    let on_tries = stack.parameter("AlertOnFailedTries") == "true";
    for (rule, wanted) in [
        ("FailedRunAlertRule", !expected_targets.is_empty()),
        (
            "FailedTryAlertRule",
            !expected_targets.is_empty() && on_tries,
        ),
    ] {
        let Some(name) = stack.resources.get(rule) else {
            if wanted {
                problems.push(format!("no {rule} was created"));
            }
            continue;
        };
        if !wanted {
            problems.push(format!("{rule} was created without alerts asked for"));
            continue;
        }
        // moto names a rule on another bus `<bus>|<name>`.
        let name = name.rsplit('|').next().unwrap_or(name);
        let described = aws
            .events
            .describe_rule()
            .name(name)
            .event_bus_name(bus)
            .send()
            .await;
        let Ok(described) = described else {
            problems.push(format!("{rule} is not on the bus {bus}"));
            continue;
        };
        let targets = aws
            .events
            .list_targets_by_rule()
            .rule(name)
            .event_bus_name(bus)
            .send()
            .await
            .unwrap();
        let mut arns: Vec<String> = targets
            .targets()
            .iter()
            .map(|t| t.arn().to_string())
            .collect();
        arns.sort();
        if arns != expected_targets {
            problems.push(format!(
                "{rule} sends to {arns:?}, not {expected_targets:?}"
            ));
        }
        let pattern = described.event_pattern().unwrap_or_default();
        problems.extend(pattern_problems(aws, rule, pattern, &samples(stack, rule)).await);
    }
    problems
}

/// A resource property's value in a stack, where the template fixes it:
/// a literal, a parameter, or `Fn::Sub` of the stack's name; `None` where
/// CloudFormation or the service makes the name.
fn resolved(stack: &Stack, value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => {
            if let Some(Value::String(param)) = o.get("Ref") {
                stack.template["Parameters"]
                    .get(param)
                    .map(|_| stack.parameter(param))
            } else if let Some(Value::String(text)) = o.get("Fn::Sub") {
                (!text.contains("${") || text.contains("${AWS::StackName}"))
                    .then(|| text.replace("${AWS::StackName}", &stack.name))
                    .filter(|t| !t.contains("${"))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The properties that name a resource (an account-wide name).
const NAME_PROPERTIES: [&str; 10] = [
    "Name",
    "FunctionName",
    "TableName",
    "QueueName",
    "BucketName",
    "RoleName",
    "ManagedPolicyName",
    "LogGroupName",
    "Family",
    "AlarmName",
];

/// Names two stacks in one account would both claim: physical ids of what
/// moto made, and the names the translated templates fix (for what moto
/// skips, such as Scheduler schedules).
fn shared_names(a: &Stack, b: &Stack) -> Vec<String> {
    let mut shared = Vec::new();
    for (logical, physical) in &a.resources {
        if b.resources.get(logical) == Some(physical) && !physical.is_empty() {
            shared.push(format!("{logical} is {physical} in both stacks"));
        }
    }
    let resources = a.template["Resources"].as_object().unwrap();
    for (logical, resource) in resources {
        for property in NAME_PROPERTIES {
            let value = &resource["Properties"][property];
            let other = &b.template["Resources"][logical]["Properties"][property];
            if let (Some(x), Some(y)) = (resolved(a, value), resolved(b, other))
                && x == y
            {
                shared.push(format!(
                    "{logical} ({}) is named {x:?} in both stacks",
                    resource["Type"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    shared.sort();
    shared.dedup();
    shared
}

/// A custom bus for a stack's events.
async fn custom_bus() -> String {
    let bus = unique("bus");
    Aws::new()
        .events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .unwrap();
    bus
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stacks_in_one_account_are_each_wired_as_the_code_expects() {
    let plain = Rehearsal::new("plain").create().await;
    let bus = custom_bus().await;
    let full = Rehearsal::new("full")
        .parameter("AlertEmail", "oncall@example.com")
        .parameter(
            "AlertTopicArn",
            "arn:aws:sns:us-east-1:123456789012:team-alerts",
        )
        .parameter("AlertOnFailedTries", "true")
        .parameter("WatchedBuckets", "lake,landing")
        .parameter("EventBusName", &bus)
        .parameter("TickSchedule", "rate(5 minutes)")
        .create()
        .await;
    let mail_only = Rehearsal::new("mail")
        .parameter("AlertEmail", "oncall@example.com")
        .create()
        .await;
    for stack in [&plain, &full, &mail_only] {
        assert_eq!(
            wiring_problems(stack).await,
            Vec::<String>::new(),
            "{}",
            stack.name
        );
    }
    for (a, b) in [(&plain, &full), (&plain, &mail_only), (&full, &mail_only)] {
        assert_eq!(shared_names(a, b), Vec::<String>::new());
    }
    for absent in [
        "WatchedObjectsRule",
        "FailedRunAlertRule",
        "AlertEmailTopic",
    ] {
        assert!(
            !plain.resources.contains_key(absent),
            "{absent} without its parameter"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rehearsal_fails_on_a_rule_pointed_at_the_wrong_function() {
    let stack =
        Rehearsal::new("wrongtarget")
            .edit_translated(|template| {
                template["Resources"]["RecorderFunctionEcsTaskStopped"]["Properties"]["Targets"]
                    [0]["Arn"] = json!({ "Fn::GetAtt": ["PlannerFunction", "Arn"] });
            })
            .create()
            .await;
    let problems = wiring_problems(&stack).await;
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("RecorderFunctionEcsTaskStopped targets")
                && p.ends_with("not RecorderFunction")),
        "{problems:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rehearsal_fails_on_a_shared_schedule_name() {
    // The tick as it was: a Scheduler schedule, which SAM names after its
    // logical id whatever the stack (the second stack's cannot be made).
    let as_it_was = |text: String| {
        let tick = "          Type: Schedule\n          Properties:\n            Schedule: !Ref TickSchedule\n";
        assert!(text.contains(tick));
        text.replace(
            tick,
            "          Type: ScheduleV2\n          Properties:\n            ScheduleExpression: !Ref TickSchedule\n",
        )
    };
    let a = Rehearsal::new("schedule")
        .edit_sam(as_it_was)
        .create()
        .await;
    let b = Rehearsal::new("schedule")
        .edit_sam(as_it_was)
        .create()
        .await;
    assert_eq!(
        shared_names(&a, &b),
        ["PlannerFunctionTick is PlannerFunctionTick in both stacks"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rehearsal_fails_on_a_variable_naming_another_stacks_table() {
    let first = Rehearsal::new("first").create().await;
    let table = first.physical("StateTable").to_string();
    let second = Rehearsal::new("second")
        .edit_translated(move |template| {
            template["Resources"]["DispatcherFunction"]["Properties"]["Environment"]["Variables"]
                ["UPDRAFT_TABLE"] = json!(table);
        })
        .create()
        .await;
    let problems = wiring_problems(&second).await;
    let expected = format!(
        "DispatcherFunction: UPDRAFT_TABLE is Some({:?}), not this stack's StateTable {:?}",
        first.physical("StateTable"),
        second.physical("StateTable")
    );
    assert!(problems.contains(&expected), "{problems:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rehearsal_fails_on_every_other_miswiring_it_checks() {
    let bus = custom_bus().await;
    let stack = Rehearsal::new("miswired")
        .parameter("AlertEmail", "oncall@example.com")
        .parameter("EventBusName", &bus)
        .edit_translated(|t| {
            let resources = &mut t["Resources"];
            let detail = |pattern: &mut Value| pattern["Properties"]["EventPattern"]["detail"].take();
            let mut alert = detail(&mut resources["FailedRunAlertRule"]);
            alert.as_object_mut().unwrap().remove("deployment");
            resources["FailedRunAlertRule"]["Properties"]["EventPattern"]["detail"] = alert;
            let mut ecs = detail(&mut resources["RecorderFunctionEcsTaskStopped"]);
            ecs.as_object_mut().unwrap().remove("clusterArn");
            resources["RecorderFunctionEcsTaskStopped"]["Properties"]["EventPattern"]["detail"] =
                ecs;
            resources["PlannerFunctionSpecUploaded"]["Properties"]["EventPattern"]["detail"]
                ["object"]["key"] = json!([{ "prefix": "spec" }]);
            resources["TaskQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] = json!(3);
            resources["TaskQueue"]["Properties"]["VisibilityTimeout"] = json!(30);
            // An event source polling the queue, as the stack once had.
            resources["DispatcherFunctionTasks"] = json!({
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "EventSourceArn": {"Fn::GetAtt": ["TaskQueue", "Arn"]},
                    "FunctionName": {"Ref": "DispatcherFunction"},
                    "BatchSize": 10,
                },
            });
            resources["PlannerFunctionTickPermission"]["Properties"]["FunctionName"] =
                json!({ "Ref": "RecorderFunction" });
            resources["RecorderFunction"]["Properties"]["Role"] =
                json!({ "Fn::GetAtt": ["PlannerRole", "Arn"] });
            resources["RecorderFunction"]["Properties"]["Architectures"] = json!(["x86_64"]);
            resources["DeadLetterAlarm"]["Properties"]["Dimensions"][0]["Value"] =
                json!({ "Fn::GetAtt": ["TaskQueue", "QueueName"] });
            resources["PlannerFunction"]["Properties"]["Environment"]["Variables"]
                ["UPDRAFT_EVENT_BUS"] = json!("default");
        })
        .create()
        .await;
    let problems = wiring_problems(&stack).await;
    let expected = [
        "PlannerFunction: UPDRAFT_EVENT_BUS is Some(\"default\"), not the EventBusName",
        "PlannerFunction: UPDRAFT_EVENT_BUS is Some(\"default\"), not output EventBusName",
        "RecorderFunction runs as ",
        "RecorderFunction is built for arm64 but runs on [\"x86_64\"]",
        "the dead-letter alarm watches",
        "functions share a role",
        "the task queue's redrive policy",
        "the task queue's visibility timeout is 30",
        "the dispatcher has 1 event sources, not none",
        "PlannerFunction does not let PlannerFunctionTick invoke it",
        "PlannerFunctionSpecUploaded takes a large spec version written",
        "RecorderFunctionEcsTaskStopped takes a task of another cluster stopped",
        "FailedRunAlertRule takes another stack's run failed",
    ];
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    for (problem, start) in problems.iter().zip(expected) {
        assert!(
            problem.starts_with(start),
            "{problem} (expected {start}...)"
        );
    }
}

/// `infra/cdk/template.json`, which the CDK construct includes, is the SAM
/// template as the translator translates it now (`make cdk-template`
/// writes it): the two never drift.
#[test]
fn the_cdk_construct_includes_the_sam_template_as_translated_now() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let code: serde_json::Map<String, Value> = crate::rehearsal::PACKAGED
        .iter()
        .map(|f| {
            let location = json!({ "bucket": "updraft-code", "key": format!("{f}.zip") });
            (f.to_string(), location)
        })
        .collect();
    let fresh = crate::rehearsal::translate(&json!({
        "template": root.join("infra/template.yaml"),
        "code": code,
        "parameters": {},
    }));
    let included: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("infra/cdk/template.json")).unwrap(),
    )
    .unwrap();
    assert!(
        fresh == included,
        "infra/cdk/template.json differs from infra/template.yaml translated: run make cdk-template"
    );
}

/// The CDK construct's stack, synthesized by `infra/cdk` (built by `make
/// test`), created on moto as `cdk deploy` would (its code assets put in
/// the bootstrap bucket first), is wired as the SAM stack is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cdk_constructs_stack_is_wired_as_the_sam_stack() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let synth = root.join("infra/cdk/dist/bin/synth.js");
    assert!(
        synth.is_file(),
        "{} is not built: run make test (it builds infra/cdk)",
        synth.display()
    );
    let (subnets, groups) = updraft_aws::testing::default_network();
    let code = tempfile::tempdir().unwrap();
    std::fs::write(code.path().join("bootstrap"), "placeholder").unwrap();
    let out = tempfile::tempdir().unwrap();
    let name = unique("cdk");
    let props = json!({
        "subnets": subnets,
        "securityGroups": groups,
        "alertEmail": "oncall@example.com",
        "code": { "planner": code.path(), "dispatcher": code.path(), "recorder": code.path() },
    });
    let synthesized = std::process::Command::new("node")
        .arg(&synth)
        .arg(out.path())
        .arg(&name)
        .arg(props.to_string())
        .output()
        .expect("node runs");
    assert!(
        synthesized.status.success(),
        "{}",
        String::from_utf8_lossy(&synthesized.stderr)
    );
    let text = std::fs::read_to_string(out.path().join(format!("{name}.template.json"))).unwrap();
    let template: Value = serde_json::from_str(&text).unwrap();
    for function in FUNCTIONS {
        let location = &template["Resources"][function]["Properties"]["Code"];
        let bucket = location["S3Bucket"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .replace("${AWS::AccountId}", "123456789012")
            .replace("${AWS::Region}", "us-east-1");
        crate::rehearsal::upload_code(&bucket, location["S3Key"].as_str().unwrap()).await;
    }
    let mut stack = crate::rehearsal::create_with_stand_ins(name, template, BTreeMap::new()).await;
    // The props, as the parameters the checks read.
    stack.parameters = BTreeMap::from([
        ("SubnetIds".to_string(), subnets.join(",")),
        ("SecurityGroupIds".to_string(), groups.join(",")),
        ("AlertEmail".to_string(), "oncall@example.com".to_string()),
        ("EventBusName".to_string(), "default".to_string()),
        ("TickSchedule".to_string(), "rate(1 hour)".to_string()),
        ("WatchedBuckets".to_string(), String::new()),
        ("AlertTopicArn".to_string(), String::new()),
        ("AlertOnFailedTries".to_string(), "false".to_string()),
    ]);
    assert_eq!(wiring_problems(&stack).await, Vec::<String>::new());
    let sam = Rehearsal::new("besidecdk").create().await;
    assert_eq!(shared_names(&stack, &sam), Vec::<String>::new());
}

/// Issue 29: `Dashboard=true` makes the function, its URL (whose address
/// every alert links to), the user pool with its operators group, and a
/// client that calls back to that URL; the function runs as its own role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_with_the_dashboard_is_wired_to_its_url_and_user_pool() {
    let stack = Rehearsal::new("dash")
        .parameter("Dashboard", "true")
        .create()
        .await;
    assert_eq!(wiring_problems(&stack).await, Vec::<String>::new());
    assert_eq!(dashboard_problems(&stack).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rehearsal_fails_on_a_client_that_calls_back_elsewhere() {
    let stack = Rehearsal::new("dashcallback")
        .parameter("Dashboard", "true")
        .edit_sam(|text| text.replace("}auth/callback", "}callback"))
        .create()
        .await;
    let problems = dashboard_problems(&stack).await;
    assert!(
        problems.iter().any(|p| p.contains("calls back to")),
        "{problems:?}"
    );
}

/// An IAM query action on a role, answered as XML.
fn iam(action: &str, role: &str) -> String {
    updraft_aws::testing::raw(
        "POST",
        "/",
        &[
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            ),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!("Action={action}&RoleName={role}&Version=2010-05-08"),
    )
}

/// Everything wrong with the dashboard's part of a stack, one line each.
async fn dashboard_problems(stack: &Stack) -> Vec<String> {
    let caller = updraft_aws::call::Caller::new(&sdk());
    let call = |service, action, params| crate::stand_in::call(&caller, service, action, params);
    let problems = std::cell::RefCell::new(Vec::new());
    let expect = |what: String, found: &Value, wanted: Value| {
        if found != &wanted {
            problems
                .borrow_mut()
                .push(format!("{what} is {found}, not {wanted}"));
        }
    };
    let function = stack.physical("DashboardFunction");
    let url = stack
        .outputs
        .get("DashboardUrl")
        .cloned()
        .unwrap_or_default();
    let made = call(
        "lambda",
        "GetFunctionUrlConfig",
        json!({ "FunctionName": function }),
    )
    .await;
    expect(
        "the function URL's auth".into(),
        &made["AuthType"],
        json!("NONE"),
    );
    let address = format!(
        "{}/",
        made["FunctionUrl"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/')
    );
    expect("output DashboardUrl".into(), &json!(url), json!(address));
    for other in FUNCTIONS {
        let variables = environment(stack, other).await;
        expect(
            format!("{other}'s UPDRAFT_UI_URL"),
            &json!(variables.get("UPDRAFT_UI_URL")),
            json!(url),
        );
    }

    let configuration = call(
        "lambda",
        "GetFunctionConfiguration",
        json!({ "FunctionName": function }),
    )
    .await;
    let role = configuration["Role"].as_str().unwrap_or_default();
    if !role.ends_with(&format!(":role/{}", stack.physical("DashboardRole"))) {
        problems.borrow_mut().push(format!(
            "DashboardFunction runs as {role}, not DashboardRole"
        ));
    }
    // moto's CloudFormation does not attach a role's managed policies:
    // what the role names is read in the template, what it names was made.
    let managed = &stack.template["Resources"]["DashboardRole"]["Properties"]["ManagedPolicyArns"];
    let policies = ["DashboardReadOnlyPolicy", "DashboardOperatorPolicy"];
    expect(
        "DashboardRole's policies".into(),
        managed,
        json!(policies.map(|p| json!({ "Ref": p }))),
    );
    for policy in policies {
        if !stack.resources.contains_key(policy) {
            problems.borrow_mut().push(format!("no {policy} was made"));
        }
    }
    let inline = iam("ListRolePolicies", stack.physical("DashboardRole"));
    if !inline.contains("<member>dashboard</member>") {
        problems
            .borrow_mut()
            .push(format!("DashboardRole's own policy is missing: {inline}"));
    }
    let variables = environment(stack, "DashboardFunction").await;
    let variable = |name: &str| json!(variables.get(name));
    let pool = stack.physical("DashboardUserPool");
    expect(
        "output DashboardUserPoolId".into(),
        &json!(stack.outputs.get("DashboardUserPoolId")),
        json!(pool),
    );
    expect(
        "UPDRAFT_ISSUER".into(),
        &variable("UPDRAFT_ISSUER"),
        json!(format!(
            "https://cognito-idp.us-east-1.amazonaws.com/{pool}"
        )),
    );
    // An operator's run wakes the planner.
    expect(
        "UPDRAFT_WAKE_SCHEDULE".into(),
        &variable("UPDRAFT_WAKE_SCHEDULE"),
        json!(stack.outputs.get("WakeScheduleName")),
    );
    let client_id_parameter = format!("/updraft/{}/dashboard/client-id", stack.name);
    expect(
        "UPDRAFT_CLIENT_ID_PARAMETER".into(),
        &variable("UPDRAFT_CLIENT_ID_PARAMETER"),
        json!(client_id_parameter),
    );
    let kept = call(
        "ssm",
        "GetParameter",
        json!({ "Name": client_id_parameter }),
    )
    .await;
    let client = stack.physical("DashboardUserPoolClient");
    expect(
        "the client id parameter".into(),
        &kept["Parameter"]["Value"],
        json!(client),
    );
    expect(
        "UPDRAFT_SESSION_KEY_PARAMETER".into(),
        &variable("UPDRAFT_SESSION_KEY_PARAMETER"),
        json!(format!("/updraft/{}/dashboard/session-key", stack.name)),
    );
    let operators = stack.parameter("DashboardOperatorsGroup");
    expect(
        "UPDRAFT_OPERATORS_GROUP".into(),
        &variable("UPDRAFT_OPERATORS_GROUP"),
        json!(operators),
    );

    let described = call(
        "cognito-idp",
        "DescribeUserPool",
        json!({ "UserPoolId": pool }),
    )
    .await;
    expect(
        "who may sign up".into(),
        &described["UserPool"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"],
        json!(true),
    );
    call(
        "cognito-idp",
        "GetGroup",
        json!({ "UserPoolId": pool, "GroupName": operators }),
    )
    .await;
    let client = call(
        "cognito-idp",
        "DescribeUserPoolClient",
        json!({ "UserPoolId": pool, "ClientId": client }),
    )
    .await["UserPoolClient"]
        .clone();
    let callbacks = &client["CallbackURLs"];
    if callbacks != &json!([format!("{url}auth/callback")]) {
        problems.borrow_mut().push(format!(
            "the client calls back to {callbacks}, not {url}auth/callback"
        ));
    }
    expect(
        "the client's flows".into(),
        &client["AllowedOAuthFlows"],
        json!(["code"]),
    );
    expect(
        "the client's secret".into(),
        &client["ClientSecret"],
        Value::Null,
    );
    problems.into_inner()
}
