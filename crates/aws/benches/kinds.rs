//! AWS requests per attempt of each service kind, against moto: one try of a
//! one-task DAG dispatched, then ended the way AWS ends it (the service's
//! event through the recorder, the answer at launch, a poke), every request
//! counted — the functions' SDK clients by an interceptor, the kinds'
//! calls through the caller's observer. `make bench` runs it.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::SharedInterceptor;
use serde_json::{Map, Value, json};
use updraft_aws::call::Caller;
use updraft_aws::clients::Clients;
use updraft_aws::functions::recorder;
use updraft_aws::testing::{CallCounter, Player, deployment, iam_role, raw, s3, sdk, unique};
use updraft_engine::usecase::RunRequest;

type Counts = std::collections::BTreeMap<(String, String), usize>;

fn total(counts: &Counts) -> usize {
    counts.values().sum()
}

fn line(counts: &Counts) -> String {
    counts
        .iter()
        .map(|((s, o), n)| format!("{s} {o} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn call(action: (&str, &str), params: Value) -> Value {
    Caller::new(&sdk())
        .call(action.0, action.1, &params)
        .await
        .unwrap()
}

/// How a kind's try ends in the bench.
enum End {
    /// The service's event, built from the handle.
    Event(fn(&str) -> Value),
    /// Its launch settles it.
    AtLaunch,
    /// A poke, after this long.
    Poke(Duration),
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    raw(
        "POST",
        "/moto-api/config",
        &[],
        r#"{"batch": {"use_docker": false}, "lambda": {"use_docker": false}}"#,
    );
    let job = unique("job");
    call(("glue", "CreateJob"), json!({"Name": job, "Role": iam_role("bench"), "Command": {"Name": "glueetl", "ScriptLocation": "s3://c/a.py"}})).await;
    let machine = call(
        ("stepfunctions", "CreateStateMachine"),
        json!({"name": unique("m"), "roleArn": iam_role("bench"), "definition": json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}).to_string()}),
    )
    .await["stateMachineArn"]
        .as_str()
        .unwrap()
        .to_string();
    let environment = call(
        ("batch", "CreateComputeEnvironment"),
        json!({"computeEnvironmentName": unique("ce"), "type": "UNMANAGED", "state": "ENABLED", "serviceRole": iam_role("bench")}),
    )
    .await;
    let queue = unique("q");
    call(("batch", "CreateJobQueue"), json!({"jobQueueName": queue, "state": "ENABLED", "priority": 1, "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}]})).await;
    let definition = unique("d");
    call(("batch", "RegisterJobDefinition"), json!({"jobDefinitionName": definition, "type": "container", "containerProperties": {"image": "busybox", "vcpus": 1, "memory": 512}})).await;
    let app = call(
        ("emr-serverless", "CreateApplication"),
        json!({"name": unique("a"), "releaseLabel": "emr-7.0.0", "type": "SPARK"}),
    )
    .await["applicationId"]
        .as_str()
        .unwrap()
        .to_string();
    let function = unique("f");
    call(("lambda", "CreateFunction"), json!({"FunctionName": function, "Runtime": "python3.12", "Handler": "a.h", "Role": iam_role("bench"), "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}})).await;
    let flags = unique("flags");
    s3().create_bucket().bucket(&flags).send().await.unwrap();
    s3().put_object()
        .bucket(&flags)
        .key("flag")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();

    let kinds: Vec<(&str, String, End)> = vec![
        (
            "glue",
            format!("{{ kind: glue, job: {job} }}"),
            End::Event(|h| {
                let (job, run) = h.strip_prefix("glue:").unwrap().rsplit_once('/').unwrap();
                json!({"source": "aws.glue", "detail-type": "Glue Job State Change", "detail": {"jobName": job, "jobRunId": run, "state": "SUCCEEDED"}})
            }),
        ),
        (
            "athena",
            "{ kind: athena, query: \"SELECT 1\", output_location: \"s3://r/\" }".into(),
            End::Event(
                |h| json!({"source": "aws.athena", "detail-type": "Athena Query State Change", "detail": {"queryExecutionId": h.strip_prefix("athena:").unwrap(), "currentState": "SUCCEEDED"}}),
            ),
        ),
        (
            "step_functions",
            format!("{{ kind: step_functions, state_machine: \"{machine}\" }}"),
            End::Event(
                |h| json!({"source": "aws.states", "detail-type": "Step Functions Execution Status Change", "detail": {"executionArn": h.strip_prefix("states:").unwrap(), "status": "SUCCEEDED"}}),
            ),
        ),
        (
            "batch",
            format!("{{ kind: batch, job_queue: {queue}, job_definition: {definition} }}"),
            End::Event(
                |h| json!({"source": "aws.batch", "detail-type": "Batch Job State Change", "detail": {"jobId": h.strip_prefix("batch:").unwrap(), "status": "SUCCEEDED", "container": {"exitCode": 0}}}),
            ),
        ),
        (
            "emr_serverless",
            format!(
                "{{ kind: emr_serverless, application_id: {app}, execution_role: \"arn:aws:iam::123456789012:role/e\", entry_point: s3://c/a.py }}"
            ),
            End::Event(|h| {
                let (app, run) = h
                    .strip_prefix("emr-serverless:")
                    .unwrap()
                    .split_once('/')
                    .unwrap();
                json!({"source": "aws.emr-serverless", "detail-type": "EMR Serverless Job Run State Change", "detail": {"applicationId": app, "jobRunId": run, "state": "SUCCESS"}})
            }),
        ),
        (
            "lambda",
            format!("{{ kind: lambda, function: {function} }}"),
            End::AtLaunch,
        ),
        (
            "aws (a call)",
            format!(
                "{{ kind: aws, call: {{ service: glue, action: GetJobRuns, params: {{ JobName: {job} }} }} }}"
            ),
            End::AtLaunch,
        ),
        (
            "aws (a sensor)",
            format!(
                "{{ kind: aws, wait: {{ service: s3, action: HeadObject, params: {{ Bucket: {flags}, Key: flag }}, every: 5s, success: ContentLength }} }}"
            ),
            End::AtLaunch,
        ),
        (
            "aws (a sensor, one poke)",
            format!(
                "{{ kind: aws, wait: {{ service: s3, action: HeadObject, params: {{ Bucket: {flags}, Key: later }}, every: 5s, success: ContentLength }} }}"
            ),
            End::Poke(Duration::from_millis(5_500)),
        ),
    ];

    println!("AWS requests of one try of each service kind, dispatched and ended (moto 5.2.5)");
    println!(
        "{:<26} {:>7} {:>10} {:>8} {:>7}  requests",
        "kind", "trigger", "dispatcher", "ended by", "total"
    );
    for (name, profile, end) in kinds {
        let counter = CallCounter::default();
        let mut clients =
            Clients::with_interceptors(&sdk(), &[SharedInterceptor::new(counter.clone())]);
        let seen = counter.clone();
        clients.caller = clients.caller.observed(Arc::new(
            move |service: &str, action: &str, _: &Map<String, Value>| seen.count(service, action),
        ));
        let settings = deployment(&clients).await;
        let engine = settings.engine_over(&clients);
        let spec =
            format!("dag: bench\ncompute:\n  k: {profile}\ntasks:\n  - id: t\n    compute: k\n");
        updraft_aws::testing::deploy_spec(&s3(), &settings, &engine, &spec).await;
        counter.take();
        let run = engine
            .trigger("bench", RunRequest::by("bench"))
            .await
            .unwrap();
        let player = Player::new(&settings);
        let triggered = counter.take();
        player.deliver(&engine).await;
        let dispatched = counter.take();
        let ended = match end {
            End::Event(event) => {
                let attempt = engine
                    .ports()
                    .store
                    .attempt(
                        "bench",
                        &run.run_id,
                        &updraft_core::state::TaskKey {
                            task_id: updraft_core::ids::TaskId::parse("t").unwrap(),
                            map_index: None,
                        },
                        1,
                    )
                    .await
                    .unwrap()
                    .unwrap();
                recorder(&engine, &event(attempt.handle.as_deref().unwrap()))
                    .await
                    .unwrap();
                counter.take()
            }
            End::AtLaunch => Counts::new(),
            End::Poke(after) => {
                s3().put_object()
                    .bucket(&flags)
                    .key("later")
                    .body(b"x".to_vec().into())
                    .send()
                    .await
                    .unwrap();
                tokio::time::sleep(after).await;
                player.deliver(&engine).await;
                counter.take()
            }
        };
        s3().delete_object()
            .bucket(&flags)
            .key("later")
            .send()
            .await
            .unwrap();
        let state = engine
            .ports()
            .store
            .run("bench", &run.run_id)
            .await
            .unwrap()
            .unwrap()
            .state;
        assert_eq!(state.to_string(), "succeeded", "{name}");
        let mut all = triggered.clone();
        for (k, n) in dispatched.iter().chain(&ended) {
            *all.entry(k.clone()).or_default() += n;
        }
        println!(
            "{name:<26} {:>7} {:>10} {:>8} {:>7}  {}",
            total(&triggered),
            total(&dispatched),
            total(&ended),
            total(&all),
            line(&all)
        );
    }
    println!(
        "  (the SQS event source's ReceiveMessage and DeleteMessage come on top, batched; a glue_crawler try is poked as a sensor is)"
    );
}
