//! `infra/template.yaml` declares the resources exactly as `updraft aws
//! init` and the adapters make and use them: one source of names and
//! numbers, checked here.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};
use updraft_aws::keys::{ACTIVE, ACTIVE_INDEX, CREATED_AT, PK, SK};
use updraft_aws::schema::{MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_SECS};
use updraft_aws::testing::template;

fn resource(name: &str) -> Value {
    template()["Resources"][name].clone()
}

/// The actions a statement allows (one, or a list).
fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        list => list
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect(),
    }
}

/// Every action a role of the template allows.
pub(crate) fn allowed(role: &str) -> BTreeSet<String> {
    updraft_aws::testing::template_actions(role)
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// CloudFormation's short-form tags are dropped by the parser: `!Ref X`
/// reads as `"X"`, `!GetAtt X.Arn` as `"X.Arn"`.
#[test]
fn the_functions_get_every_variable_the_settings_read_and_the_cli_every_output() {
    let template = template();
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    let mut expected: Vec<String> = updraft_aws::settings::VARIABLES
        .iter()
        .map(|v| v.to_string())
        .collect();
    expected.push("RUST_LOG".into());
    expected.sort();
    assert_eq!(names(variables), expected);
    for (variable, resource) in [
        ("UPDRAFT_TABLE", "StateTable"),
        ("UPDRAFT_QUEUE_URL", "TaskQueue"),
        ("UPDRAFT_BUCKET", "SpecBucket"),
        ("UPDRAFT_CLUSTER", "Cluster"),
        ("UPDRAFT_TASK_DEFINITION", "RunnerTaskDefinition"),
        ("UPDRAFT_SAGEMAKER_ROLE", "SageMakerRole.Arn"),
    ] {
        assert_eq!(variables[variable], resource, "{variable}");
    }
    let mut outputs: Vec<String> = updraft_aws::settings::STACK_OUTPUTS
        .iter()
        .map(|(output, _)| output.to_string())
        .collect();
    // And, for people, the policies to attach, and with Dashboard=true the
    // team's dashboard and its user pool.
    outputs.extend([
        "DashboardOperatorPolicyArn".into(),
        "DashboardReadOnlyPolicyArn".into(),
        "DashboardUrl".into(),
        "DashboardUserPoolId".into(),
    ]);
    outputs.sort();
    assert_eq!(names(&template["Outputs"]), outputs);
}

#[test]
fn each_function_is_an_arm64_cargo_lambda_binary_of_the_workspace() {
    for (function, binary) in [
        ("PlannerFunction", "planner"),
        ("DispatcherFunction", "dispatcher"),
        ("RecorderFunction", "recorder"),
    ] {
        let f = resource(function);
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda");
        assert_eq!(f["Metadata"]["BuildProperties"]["Binary"], binary);
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../functions")
            .join(binary)
            .join("Cargo.toml");
        let manifest = std::fs::read_to_string(&manifest).unwrap();
        assert!(
            manifest.contains(&format!("[[bin]]\nname = \"{binary}\"")),
            "functions/{binary} builds `{binary}`"
        );
        let role = f["Properties"]["Role"].as_str().unwrap();
        assert_eq!(
            resource(role.trim_end_matches(".Arn"))["Type"],
            "AWS::IAM::Role"
        );
    }
    let globals = &template()["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"], json!(["arm64"]));
}

#[test]
fn the_event_patterns_match_what_the_functions_parse() {
    use updraft_aws::events::{
        ECS_STOPPED, ECS_TASK_STATE_CHANGE, TRAINING_JOB_ENDED, TRAINING_JOB_STATE_CHANGE,
    };
    let events = &resource("RecorderFunction")["Properties"]["Events"];
    let ecs = &events["EcsTaskStopped"]["Properties"]["Pattern"];
    assert_eq!(ecs["source"], json!([ECS_TASK_STATE_CHANGE.0]));
    assert_eq!(ecs["detail-type"], json!([ECS_TASK_STATE_CHANGE.1]));
    assert_eq!(ecs["detail"]["lastStatus"], json!([ECS_STOPPED]));
    assert_eq!(ecs["detail"]["clusterArn"], json!(["Cluster.Arn"]));
    let training = &events["TrainingJobEnded"]["Properties"]["Pattern"];
    assert_eq!(training["source"], json!([TRAINING_JOB_STATE_CHANGE.0]));
    assert_eq!(
        training["detail-type"],
        json!([TRAINING_JOB_STATE_CHANGE.1])
    );
    assert_eq!(
        training["detail"]["TrainingJobStatus"],
        json!(TRAINING_JOB_ENDED)
    );
    assert_eq!(
        training["detail"]["Tags"][updraft_aws::sagemaker::DEPLOYMENT_TAG],
        json!(["SpecBucket"]),
        "the rule matches only this stack's training jobs"
    );

    let planner = &resource("PlannerFunction")["Properties"]["Events"];
    let uploads = &planner["SpecUploaded"]["Properties"]["Pattern"];
    let (created, deleted) = (
        updraft_aws::functions::OBJECT_CREATED,
        updraft_aws::functions::OBJECT_DELETED,
    );
    assert_eq!(uploads["source"], json!([created.0]));
    assert_eq!(deleted.0, created.0);
    assert_eq!(uploads["detail-type"], json!([created.1, deleted.1]));
    assert_eq!(
        uploads["detail"]["object"]["key"],
        json!([{ "prefix": updraft_aws::specs::SPEC_PREFIX }])
    );
    assert_eq!(
        resource("SpecBucket")["Properties"]["NotificationConfiguration"]["EventBridgeConfiguration"]
            ["EventBridgeEnabled"],
        true
    );
    // An EventBridge rule, named by CloudFormation after the stack (a
    // Scheduler schedule of SAM's would be named after the logical id).
    assert_eq!(planner["Tick"]["Type"], "Schedule");
    assert_eq!(planner["Tick"]["Properties"]["Name"], Value::Null);
    let watched = &resource("WatchedObjectsRule")["Properties"];
    assert_eq!(watched["EventPattern"]["source"], json!([created.0]));
    assert_eq!(watched["EventPattern"]["detail-type"], json!([created.1]));
    assert_eq!(
        watched["EventPattern"]["detail"]["bucket"]["name"],
        "WatchedBuckets"
    );
    assert_eq!(watched["Targets"][0]["Arn"], "PlannerFunction.Arn");

    // Nothing polls the task queue: the dispatcher is invoked by the name
    // every function is given.
    let dispatcher = &resource("DispatcherFunction")["Properties"];
    assert_eq!(dispatcher["Events"], Value::Null);
    let variables = &template()["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(
        dispatcher["FunctionName"],
        variables["UPDRAFT_DISPATCHER_FUNCTION"]
    );
    assert!(
        dispatcher["FunctionName"]
            .to_string()
            .contains("updraft-dispatcher")
    );
}

#[test]
fn the_runner_logs_its_main_container_where_updraft_logs_reads() {
    let definition = &resource("RunnerTaskDefinition")["Properties"];
    let main = &definition["ContainerDefinitions"][0];
    assert_eq!(main["Name"], updraft_aws::events::MAIN_CONTAINER);
    assert_eq!(main["LogConfiguration"]["LogDriver"], "awslogs");
    assert_eq!(
        main["LogConfiguration"]["Options"]["awslogs-group"],
        "RunnerLogGroup"
    );
}

#[test]
fn the_dispatcher_passes_only_the_runner_and_training_roles() {
    let statements =
        &resource("DispatcherRole")["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
    let pass: Vec<&Value> = statements
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Action"] == "iam:PassRole")
        .collect();
    assert_eq!(pass.len(), 2);
    assert_eq!(
        pass[0]["Resource"],
        json!(["RunnerTaskRole.Arn", "RunnerExecutionRole.Arn"])
    );
    assert_eq!(
        pass[0]["Condition"]["StringEquals"]["iam:PassedToService"],
        "ecs-tasks.amazonaws.com"
    );
    assert_eq!(pass[1]["Resource"], "SageMakerRole.Arn");
    assert_eq!(
        pass[1]["Condition"]["StringEquals"]["iam:PassedToService"],
        "sagemaker.amazonaws.com"
    );
}

/// Every allowed action is named (no `*`, no `service:*`), and a resource
/// of `*` comes only with actions that have no resource-level permissions.
#[test]
fn roles_name_their_actions_and_resources() {
    const NO_RESOURCE_LEVEL: [&str; 5] = [
        "ecr:GetAuthorizationToken",
        "ecs:DescribeTaskDefinition",
        "cloudwatch:PutMetricData",
        "batch:DescribeJobs",
        "batch:ListJobs",
    ];
    let template = template();
    let mut checked = 0;
    for (name, role) in template["Resources"].as_object().unwrap() {
        if role["Type"] != "AWS::IAM::Role" {
            continue;
        }
        for statement in updraft_aws::testing::template_statements(name) {
            {
                let statement = &statement;
                let actions = actions(statement);
                for action in &actions {
                    assert!(
                        action.contains(':') && !action.ends_with('*'),
                        "{name}: {action}"
                    );
                }
                if statement["Resource"] == "*" {
                    assert!(
                        actions
                            .iter()
                            .all(|a| NO_RESOURCE_LEVEL.contains(&a.as_str())),
                        "{name}: {actions:?} on every resource"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "{checked} statements");
}

/// Issue 11: each function advances runs, and a plan may stop a try (a
/// timeout, a rerun of a running try), so each may stop ECS tasks and
/// training jobs, and clear the stop it kept (DeleteItem).
#[test]
fn every_function_may_stop_the_tries_its_plans_stop() {
    for role in ["PlannerRole", "DispatcherRole", "RecorderRole"] {
        let allowed = allowed(role);
        for action in [
            "ecs:StopTask",
            "sagemaker:StopTrainingJob",
            "dynamodb:DeleteItem",
        ] {
            assert!(allowed.contains(action), "{role} may not {action}");
        }
    }
}

/// Issues 11 and 26: what tasks run as (ECS tasks, training jobs) may read
/// and write only outputs, never `specs/` or `spec-versions/`: a task can
/// neither redeploy a DAG nor read another DAG's spec.
#[test]
fn tasks_may_read_and_write_only_outputs() {
    for role in ["RunnerTaskRole", "SageMakerRole"] {
        let policies = resource(role)["Properties"]["Policies"].clone();
        let (mut writes, mut reads) = (0, 0);
        for statement in policies[0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
        {
            let actions = actions(statement);
            let has = |a: &str| actions.iter().any(|x| x == a);
            if has("s3:PutObject") || has("s3:GetObject") {
                writes += usize::from(has("s3:PutObject"));
                reads += usize::from(has("s3:GetObject"));
                assert_eq!(
                    statement["Resource"], "${SpecBucket.Arn}/outputs/*",
                    "{role} reads or writes outside outputs/"
                );
            }
            if has("s3:ListBucket") {
                assert_eq!(
                    statement["Condition"]["StringLike"]["s3:prefix"],
                    json!(["outputs/*"]),
                    "{role} lists outside outputs/"
                );
            }
        }
        assert_eq!((writes, reads), (1, 1), "{role} reads and writes outputs");
    }
}

#[test]
fn the_table_has_the_keys_and_index_the_store_uses() {
    let table = resource("StateTable");
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        p["KeySchema"],
        json!([{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}])
    );
    let attributes: Vec<&str> = p["AttributeDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["AttributeName"].as_str().unwrap())
        .collect();
    assert_eq!(attributes, [PK, SK, ACTIVE, CREATED_AT]);
    let index = &p["GlobalSecondaryIndexes"][0];
    assert_eq!(index["IndexName"], ACTIVE_INDEX);
    assert_eq!(
        index["KeySchema"],
        json!([{"AttributeName": ACTIVE, "KeyType": "HASH"}, {"AttributeName": CREATED_AT, "KeyType": "RANGE"}])
    );
    assert_eq!(index["Projection"]["ProjectionType"], "ALL");
}

#[test]
fn the_queues_have_the_redrive_and_visibility_the_dispatcher_counts_on() {
    let queue = resource("TaskQueue");
    assert_eq!(
        queue["Properties"]["VisibilityTimeout"],
        VISIBILITY_TIMEOUT_SECS
    );
    let timeout = resource("DispatcherFunction")["Properties"]["Timeout"]
        .as_u64()
        .unwrap();
    assert!(
        6 * timeout <= VISIBILITY_TIMEOUT_SECS as u64,
        "the visibility timeout is at least six dispatcher timeouts"
    );
    assert_eq!(
        queue["Properties"]["RedrivePolicy"]["maxReceiveCount"],
        MAX_RECEIVE_COUNT
    );
    assert_eq!(resource("TaskDeadLetterQueue")["Type"], "AWS::SQS::Queue");
}

#[test]
fn the_bucket_is_versioned_and_the_cluster_exists() {
    assert_eq!(
        resource("SpecBucket")["Properties"]["VersioningConfiguration"]["Status"],
        "Enabled"
    );
    assert_eq!(resource("Cluster")["Type"], "AWS::ECS::Cluster");
}

/// What `updraft aws init` creates on moto matches the template.
#[tokio::test]
async fn aws_init_creates_what_the_template_declares() {
    let config = updraft_aws::testing::sdk();
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let table = updraft_aws::testing::unique("template");
    updraft_aws::schema::create_table(&dynamo, &table)
        .await
        .unwrap();
    let described = dynamo
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let created = described.table().unwrap();
    let keys: Vec<(&str, &str)> = created
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [(PK, "HASH"), (SK, "RANGE")]);
    let index = &created.global_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some(ACTIVE_INDEX));
    let index_keys: Vec<&str> = index
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(index_keys, [ACTIVE, CREATED_AT]);

    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = updraft_aws::schema::create_queues(&sqs, &updraft_aws::testing::unique("template"))
        .await
        .unwrap();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let get = |name| attributes.get(&name).cloned().unwrap_or_default();
    assert_eq!(
        get(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout),
        VISIBILITY_TIMEOUT_SECS.to_string()
    );
    let redrive: Value =
        serde_json::from_str(&get(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)).unwrap();
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        MAX_RECEIVE_COUNT.to_string()
    );
}

/// `make deploy` grants CAPABILITY_IAM alone (what `sam deploy --guided`
/// saves): an IAM resource with a name of its own would need
/// CAPABILITY_NAMED_IAM, and its name would be the same in every stack.
#[test]
fn make_deploy_grants_every_capability_the_template_needs() {
    let makefile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Makefile"))
            .unwrap();
    assert!(
        makefile
            .contains("sam deploy --guided --stack-name $(STACK) --capabilities CAPABILITY_IAM;"),
        "make deploy's capabilities changed: check this test"
    );
    let naming = [
        "RoleName",
        "ManagedPolicyName",
        "UserName",
        "GroupName",
        "InstanceProfileName",
    ];
    let template = template();
    for (name, resource) in template["Resources"].as_object().unwrap() {
        if resource["Type"].as_str().unwrap().starts_with("AWS::IAM::") {
            for property in naming {
                assert_eq!(
                    resource["Properties"][property],
                    Value::Null,
                    "{name} sets {property}: it needs CAPABILITY_NAMED_IAM"
                );
            }
        }
    }
}

/// Issue 26: the stack's roles and the operator policy stop and describe
/// only the training jobs tagged as the stack's, and create only jobs
/// tagged so — except a launch's first look, which asks about a job that
/// may not exist yet and so has no tag; images are pulled from the named
/// repositories when the stack is given them.
#[test]
fn training_jobs_are_reached_only_by_the_stacks_tag_and_images_by_named_repositories() {
    let tagged = json!({"StringEquals": {"aws:ResourceTag/updraft:deployment": "SpecBucket"}});
    let mut checked = 0;
    for name in [
        "PlannerRole",
        "DispatcherRole",
        "RecorderRole",
        "DashboardOperatorPolicy",
    ] {
        for statement in updraft_aws::testing::template_statements(name) {
            let actions = actions(&statement);
            let sagemaker: Vec<&String> = actions
                .iter()
                .filter(|a| a.starts_with("sagemaker:"))
                .collect();
            if sagemaker.is_empty() {
                continue;
            }
            checked += 1;
            if actions.iter().any(|a| a == "sagemaker:CreateTrainingJob") {
                assert_eq!(
                    statement["Condition"],
                    json!({"StringEquals": {"aws:RequestTag/updraft:deployment": "SpecBucket"}}),
                    "{name}: {statement}"
                );
            } else if name == "DispatcherRole" && actions == ["sagemaker:DescribeTrainingJob"] {
                assert!(statement["Condition"].is_null(), "{statement}");
            } else {
                assert_eq!(statement["Condition"], tagged, "{name}: {statement}");
            }
        }
    }
    assert_eq!(checked, 7, "every SageMaker statement was looked at");
    for role in ["RunnerExecutionRole", "SageMakerRole"] {
        let pulls: Vec<Value> = updraft_aws::testing::template_statements(role)
            .into_iter()
            .filter(|s| actions(s).iter().any(|a| a == "ecr:BatchGetImage"))
            .collect();
        assert_eq!(pulls.len(), 1, "{role}");
        assert_eq!(pulls[0]["Resource"][0], "HasEcrRepositories", "{role}");
        assert_eq!(pulls[0]["Resource"][1], "EcrRepositoryArns", "{role}");
    }
}

/// The recorder's rules for the service kinds take each kind's end events,
/// and no start, and the recorder reads every one they take as an end:
/// checked on the emulator's EventBridge, with the template's patterns.
#[tokio::test]
async fn the_service_kinds_rules_take_their_ends_only() {
    use updraft_aws::clients::Clients;
    use updraft_aws::testing::{rule_into_queue, sdk, unique};
    let clients = Clients::new(&sdk());
    let bus = unique("kinds-bus");
    clients
        .events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .unwrap();
    let events = &resource("RecorderFunction")["Properties"]["Events"];
    let sent = [
        (
            "aws.glue",
            "Glue Job State Change",
            json!({"jobName": "j", "jobRunId": "jr_1", "state": "SUCCEEDED"}),
            true,
        ),
        (
            "aws.glue",
            "Glue Job State Change",
            json!({"jobName": "j", "jobRunId": "jr_2", "state": "FAILED", "message": "boom"}),
            true,
        ),
        (
            "aws.glue",
            "Glue Job State Change",
            json!({"jobName": "j", "jobRunId": "jr_3", "state": "RUNNING"}),
            false,
        ),
        (
            "aws.glue",
            "Glue Crawler State Change",
            json!({"crawlerName": "c1", "state": "Succeeded", "message": "Crawler Succeeded"}),
            true,
        ),
        (
            "aws.glue",
            "Glue Crawler State Change",
            json!({"crawlerName": "c2", "state": "Failed", "errorMessage": "boom"}),
            true,
        ),
        (
            "aws.glue",
            "Glue Crawler State Change",
            json!({"crawlerName": "c3", "state": "Started"}),
            false,
        ),
        (
            "aws.athena",
            "Athena Query State Change",
            json!({"queryExecutionId": "q1", "currentState": "SUCCEEDED"}),
            true,
        ),
        (
            "aws.athena",
            "Athena Query State Change",
            json!({"queryExecutionId": "q2", "currentState": "RUNNING"}),
            false,
        ),
        (
            "aws.states",
            "Step Functions Execution Status Change",
            json!({"executionArn": "arn:e1", "status": "TIMED_OUT"}),
            true,
        ),
        (
            "aws.states",
            "Step Functions Execution Status Change",
            json!({"executionArn": "arn:e2", "status": "RUNNING"}),
            false,
        ),
        (
            "aws.emr-serverless",
            "EMR Serverless Job Run State Change",
            json!({"applicationId": "a", "jobRunId": "r1", "state": "SUCCESS"}),
            true,
        ),
        (
            "aws.emr-serverless",
            "EMR Serverless Job Run State Change",
            json!({"applicationId": "a", "jobRunId": "r2", "state": "RUNNING"}),
            false,
        ),
        (
            "aws.batch",
            "Batch Job State Change",
            json!({"jobId": "b1", "status": "FAILED", "container": {"exitCode": 2}}),
            true,
        ),
        (
            "aws.batch",
            "Batch Job State Change",
            json!({"jobId": "b2", "status": "RUNNABLE"}),
            false,
        ),
        (
            "aws.sagemaker",
            "SageMaker Processing Job State Change",
            json!({"ProcessingJobName": "p1", "ProcessingJobStatus": "Completed"}),
            true,
        ),
        (
            "aws.sagemaker",
            "SageMaker Processing Job State Change",
            json!({"ProcessingJobName": "p2", "ProcessingJobStatus": "InProgress"}),
            false,
        ),
    ];
    let mut queues = Vec::new();
    for rule in ["ServiceKindEnded", "BatchJobEnded", "ProcessingJobEnded"] {
        let pattern = events[rule]["Properties"]["Pattern"].to_string();
        queues.push(rule_into_queue(&clients.events, &clients.sqs, &bus, rule, &pattern).await);
    }
    for (source, detail_type, detail, _) in &sent {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&bus)
            .source(*source)
            .detail_type(*detail_type)
            .detail(detail.to_string())
            .build();
        clients
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .unwrap();
    }
    let mut taken = BTreeSet::new();
    for url in &queues {
        let out = clients
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for message in out.messages() {
            let body = message.body().unwrap();
            let change = updraft_aws::events::parse(body).unwrap();
            assert!(
                change.completion.is_some() || change.named,
                "taken but not an end: {body}"
            );
            taken.insert(change.handle);
        }
    }
    let ends: BTreeSet<String> = sent
        .iter()
        .filter(|(_, _, _, end)| *end)
        .map(|(source, detail_type, detail, _)| {
            let event = json!({"source": source, "detail-type": detail_type, "detail": detail});
            updraft_aws::events::parse(&event.to_string())
                .unwrap()
                .handle
        })
        .collect();
    assert_eq!(taken, ends);
}

/// Ended runs expire on one horizon: the table's TTL attribute is the one
/// the store stamps, and the bucket's outputs and launch records expire
/// after the same `RetentionDays`.
#[test]
fn ended_runs_items_and_outputs_expire_on_the_stacks_horizon() {
    let table = &resource("StateTable")["Properties"];
    assert_eq!(
        table["TimeToLiveSpecification"],
        json!({"AttributeName": updraft_aws::dynamo::EXPIRES_AT, "Enabled": true})
    );
    let rules = &resource("SpecBucket")["Properties"]["LifecycleConfiguration"]["Rules"];
    for prefix in ["outputs/", "launches/"] {
        let rule = rules
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["Prefix"] == prefix)
            .unwrap_or_else(|| panic!("a lifecycle rule for {prefix}"));
        assert_eq!(rule["ExpirationInDays"], "RetentionDays", "{prefix}");
    }
    let variables = &template()["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(variables["UPDRAFT_RETENTION_DAYS"], "${RetentionDays}");
}
