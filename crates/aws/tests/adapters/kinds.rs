//! Service kinds end to end on moto, through the dispatcher and recorder: a
//! Glue job, an Athena query, a Step Functions execution and an S3 sensor
//! (`kind: aws` with only a wait), each launched with its rendered
//! parameters, ended by the event AWS would send or, with the event lost,
//! by reconciliation; and a relaunch after a dispatcher died past the call
//! starts nothing twice. Every kind AWS ends by an event (Glue, Athena,
//! Step Functions, EMR Serverless, Batch, processing) also fails with its
//! service's reason from a failure event, and ends by reconciliation with
//! its event lost.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use updraft_aws::call::Caller;
use updraft_aws::testing::{iam_role, raw, s3, sdk, unique};
use updraft_core::state::{RunState, TaskState};
use updraft_engine::Engine;
use updraft_engine::usecase::RunRequest;

use crate::functions::{key, world_with};
use updraft_aws::clients::Clients;
use updraft_aws::kinds::ServiceLauncher;
use updraft_aws::testing::deployment;
use updraft_core::ids::TaskId;
use updraft_core::spec::{ComputeProfile, ServiceKind, ServiceProfile};
use updraft_core::state::TaskKey;
use updraft_core::template::RenderedTask;
use updraft_engine::ports::{LaunchRequest, LogWindow};

fn caller() -> Caller {
    Caller::new(&sdk())
}

/// An event in EventBridge's envelope.
fn event(source: &str, detail_type: &str, detail: Value) -> Value {
    json!({
        "version": "0", "id": unique("event"), "detail-type": detail_type, "source": source,
        "account": "123456789012", "time": "2026-12-01T01:00:00Z", "region": "us-east-1",
        "resources": [], "detail": detail,
    })
}

/// Engine settings that look up every running try at each tick, as if
/// its events were late.
fn at_every_tick() -> updraft_engine::Settings {
    updraft_engine::Settings {
        reconcile_after: std::time::Duration::ZERO,
        ..updraft_engine::Settings::default()
    }
}

/// Sends an event to the recorder twice: whether each recorded.
async fn record_twice(engine: &Engine, event: &Value) -> (bool, bool) {
    let first = updraft_aws::functions::recorder(engine, event)
        .await
        .unwrap();
    let again = updraft_aws::functions::recorder(engine, event)
        .await
        .unwrap();
    (first["recorded"] == true, again["recorded"] == true)
}

async fn state_of(engine: &Engine, dag: &str, run_id: &str, task: &str) -> TaskState {
    engine
        .ports()
        .store
        .instance(dag, run_id, &key(task))
        .await
        .unwrap()
        .unwrap()
        .state
}

/// The handle of a task's first try, if it was launched.
async fn launched(engine: &Engine, dag: &str, run_id: &str, task: &str) -> Option<String> {
    engine
        .ports()
        .store
        .attempt(dag, run_id, &key(task), 1)
        .await
        .unwrap()
        .and_then(|a| a.handle)
}

async fn handle_of(engine: &Engine, dag: &str, run_id: &str, task: &str) -> String {
    engine
        .ports()
        .store
        .attempt(dag, run_id, &key(task), 1)
        .await
        .unwrap()
        .unwrap()
        .handle
        .unwrap()
}

async fn output_of(engine: &Engine, dag: &str, run_id: &str, task: &str) -> Value {
    engine
        .ports()
        .store
        .instance(dag, run_id, &key(task))
        .await
        .unwrap()
        .unwrap()
        .output
        .unwrap_or_default()
}

/// A Glue job, a state machine that passes its input on, and a bucket.
async fn resources() -> (String, String, String) {
    let aws = caller();
    let job = unique("ingest");
    aws.call(
        "glue",
        "CreateJob",
        &json!({"Name": job, "Role": "arn:aws:iam::123456789012:role/glue", "Command": {"Name": "glueetl", "ScriptLocation": "s3://code/ingest.py"}}),
    )
    .await
    .unwrap();
    raw(
        "POST",
        "/moto-api/config",
        &[],
        r#"{"stepfunctions": {"execute_state_machine": true}}"#,
    );
    let machine = aws
        .call(
            "stepfunctions",
            "CreateStateMachine",
            &json!({
                "name": unique("publish"),
                "roleArn": "arn:aws:iam::123456789012:role/sfn",
                "definition": json!({"StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": true}}}).to_string(),
            }),
        )
        .await
        .unwrap();
    let bucket = unique("flags");
    s3().create_bucket().bucket(&bucket).send().await.unwrap();
    (
        job,
        machine["stateMachineArn"].as_str().unwrap().to_string(),
        bucket,
    )
}

fn spec(job: &str, machine: &str, bucket: &str) -> String {
    format!(
        r#"dag: lake
params: {{ day: "2026-12-01" }}
compute:
  ingest: {{ kind: glue, job: {job}, role: "arn:aws:iam::123456789012:role/lake-team" }}
  scan: {{ kind: athena, workgroup: primary, output_location: "s3://results/" }}
  flow: {{ kind: step_functions, state_machine: "{machine}" }}
  flag: {{ kind: aws }}
tasks:
  - id: load
    compute: ingest
    arguments: {{ --day: "{{{{ params.day }}}}" }}
  - id: check
    after: [load]
    compute: scan
    query: "SELECT count(*) AS n FROM events WHERE day = '{{{{ params.day }}}}'"
  - id: publish
    after: [check]
    compute: flow
    input: {{ day: "{{{{ params.day }}}}", rows: "{{{{ outputs.check.rows[0].n }}}}" }}
  - id: landed
    compute: flag
    wait:
      service: s3
      action: HeadObject
      params: {{ Bucket: {bucket}, Key: "flags/{{{{ params.day }}}}/_SUCCESS" }}
      every: 5s
      success: ContentLength
"#
    )
}

/// Held by every test that starts an Athena query: moto hands its canned
/// results to whichever query of the server starts next.
pub(crate) static ATHENA: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The next Athena query's results (moto hands them to the next query
/// started, hold [`ATHENA`]).
fn athena_results(n: &str) {
    let body = json!({"region": "us-east-1", "results": [{
        "rows": [{"Data": [{"VarCharValue": "n"}]}, {"Data": [{"VarCharValue": n}]}],
        "column_info": [{"Name": "n", "Type": "bigint", "CatalogName": "hive", "SchemaName": "", "TableName": "", "Label": "n", "Precision": 19, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": false}],
    }]});
    raw(
        "POST",
        "/moto-api/static/athena/query-results",
        &[],
        &body.to_string(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glue_athena_step_functions_and_a_sensor_run_a_dag_without_a_container() {
    let (job, machine, bucket) = resources().await;
    let world = world_with(&spec(&job, &machine, &bucket), at_every_tick()).await;
    let engine = &world.engine;
    let run = engine
        .trigger("lake", RunRequest::by("tester"))
        .await
        .unwrap();
    let run_id = run.run_id.as_str();
    world.player.deliver(engine).await;

    // The Glue job run carries the rendered arguments and the try's name.
    let runs = caller()
        .call("glue", "GetJobRuns", &json!({"JobName": job}))
        .await
        .unwrap();
    let runs = runs["JobRuns"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["Arguments"]["--day"], "2026-12-01");
    assert_eq!(
        runs[0]["Arguments"]["--updraft-try"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    let load = handle_of(engine, "lake", run_id, "load").await;
    assert_eq!(
        load,
        format!("glue:{job}/{}", runs[0]["Id"].as_str().unwrap())
    );
    // Its calls run as the profile's role, remembered with the launch.
    let record = s3()
        .get_object()
        .bucket(&world.settings.bucket)
        .key(format!("launches/{load}.json"))
        .send()
        .await
        .unwrap();
    let record: Value =
        serde_json::from_slice(&record.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(record["role"], "arn:aws:iam::123456789012:role/lake-team"); // Its log is the run's stream of Glue's output group.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk());
    let _ = logs
        .create_log_group()
        .log_group_name("/aws-glue/jobs/output")
        .send()
        .await;
    let run_id_of_glue = runs[0]["Id"].as_str().unwrap();
    logs.create_log_stream()
        .log_group_name("/aws-glue/jobs/output")
        .log_stream_name(run_id_of_glue)
        .send()
        .await
        .unwrap();
    let line = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
        .timestamp(chrono::Utc::now().timestamp_millis())
        .message("wrote 42 rows")
        .build()
        .unwrap();
    logs.put_log_events()
        .log_group_name("/aws-glue/jobs/output")
        .log_stream_name(run_id_of_glue)
        .log_events(line)
        .send()
        .await
        .unwrap();
    let (_, page) = engine
        .logs("lake", run_id, "load", (None, None), &LogWindow::Tail)
        .await
        .unwrap();
    assert!(page.text.contains("wrote 42 rows"), "{page:?}");

    // Glue's event ends it (a duplicate is dropped).
    let glue_event = event(
        "aws.glue",
        "Glue Job State Change",
        json!({"jobName": job, "severity": "INFO", "state": "SUCCEEDED", "jobRunId": runs[0]["Id"], "message": "Job run succeeded"}),
    );
    assert_eq!(record_twice(engine, &glue_event).await, (true, false));
    assert_eq!(
        state_of(engine, "lake", run_id, "load").await,
        TaskState::Succeeded
    );
    assert_eq!(
        output_of(engine, "lake", run_id, "load").await["job"],
        job.as_str()
    );

    // The sensor holds nothing and waits: no object yet, and no launch.
    engine.tick().await.unwrap();
    assert_eq!(
        state_of(engine, "lake", run_id, "landed").await,
        TaskState::Waiting
    );
    assert_eq!(launched(engine, "lake", run_id, "landed").await, None);

    // The Athena query, its event lost: reconciliation ends it, and its
    // rows feed the next task's input.
    let only_query = ATHENA.lock().await;
    athena_results("42");
    world.player.deliver(engine).await;
    drop(only_query);
    let check = handle_of(engine, "lake", run_id, "check").await;
    let id = check.strip_prefix("athena:").unwrap();
    let query = caller()
        .call(
            "athena",
            "GetQueryExecution",
            &json!({"QueryExecutionId": id}),
        )
        .await
        .unwrap();
    let text = query["QueryExecution"]["Query"].as_str().unwrap();
    assert!(
        text.starts_with(
            "SELECT count(*) AS n FROM events WHERE day = '2026-12-01'\n-- updraft-try: "
        ),
        "{text}"
    );
    engine.tick().await.unwrap();
    assert_eq!(
        state_of(engine, "lake", run_id, "check").await,
        TaskState::Succeeded
    );
    let output = output_of(engine, "lake", run_id, "check").await;
    assert_eq!(output["rows"], json!([{"n": "42"}]));
    assert_eq!(output["query_execution_id"], id);
    // Its "log" is the query and its state.
    let (_, page) = engine
        .logs("lake", run_id, "check", (None, None), &LogWindow::Tail)
        .await
        .unwrap();
    assert!(
        page.text.starts_with("SELECT count(*) AS n FROM events")
            && page.text.contains("state: SUCCEEDED"),
        "{page:?}"
    );

    // The execution gets the rendered input; its event ends it, and its
    // output is the try's.
    world.player.deliver(engine).await;
    let publish = handle_of(engine, "lake", run_id, "publish").await;
    let arn = publish.strip_prefix("states:").unwrap();
    let execution = caller()
        .call(
            "stepfunctions",
            "DescribeExecution",
            &json!({"executionArn": arn}),
        )
        .await
        .unwrap();
    let input: Value = serde_json::from_str(execution["input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"day": "2026-12-01", "rows": "42"}));
    let sfn_event = event(
        "aws.states",
        "Step Functions Execution Status Change",
        json!({"executionArn": arn, "stateMachineArn": machine, "status": "SUCCEEDED", "output": execution["output"]}),
    );
    assert_eq!(record_twice(engine, &sfn_event).await, (true, false));
    assert_eq!(
        output_of(engine, "lake", run_id, "publish").await,
        json!({"day": "2026-12-01", "rows": "42"})
    );

    // The flag lands: the next look, once due, ends the sensor, and the run.
    s3().put_object()
        .bucket(&bucket)
        .key("flags/2026-12-01/_SUCCESS")
        .body(b"".to_vec().into())
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;
    engine.tick().await.unwrap();
    let run = engine
        .ports()
        .store
        .run("lake", run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(
        output_of(engine, "lake", run_id, "landed").await["last"]["ContentLength"],
        "0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_event_fails_the_try_with_the_services_reason() {
    let (job, machine, bucket) = resources().await;
    let world = world_with(&spec(&job, &machine, &bucket), at_every_tick()).await;
    let engine = &world.engine;
    let run = engine
        .trigger("lake", RunRequest::by("tester"))
        .await
        .unwrap();
    world.player.deliver(engine).await;
    let handle = handle_of(engine, "lake", &run.run_id, "load").await;
    let (_, run_id) = handle.rsplit_once('/').unwrap();
    let failed = event(
        "aws.glue",
        "Glue Job State Change",
        json!({"jobName": job, "state": "FAILED", "jobRunId": run_id, "message": "NameError: name 'spark' is not defined"}),
    );
    assert_eq!(record_twice(engine, &failed).await, (true, false));
    let attempt = engine
        .ports()
        .store
        .attempt("lake", &run.run_id, &key("load"), 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(attempt.state, TaskState::Failed);
    assert_eq!(
        attempt.reason.as_deref(),
        Some("the Glue job run ended FAILED: NameError: name 'spark' is not defined")
    );
}

fn request(kind: ServiceKind, settings: Value, relaunch: bool) -> LaunchRequest {
    LaunchRequest {
        dag: "lake".into(),
        run_id: "manual__2026-12-01T00:00:00+00:00".into(),
        key: TaskKey {
            task_id: TaskId::parse("t").unwrap(),
            map_index: None,
        },
        try_number: 1,
        task: RenderedTask {
            service: settings.as_object().cloned(),
            ..RenderedTask::default()
        },
        compute: Some(ComputeProfile::Service(ServiceProfile {
            kind,
            settings: Default::default(),
        })),
        timeout: None,
        relaunch,
    }
}

/// Launches, loses the launch record (the dispatcher died after the call),
/// and launches again as a relaunch: the same handle both times.
async fn launch_twice(
    launcher: &ServiceLauncher,
    bucket: &str,
    kind: ServiceKind,
    settings: Value,
) -> String {
    let first = launcher
        .launch(&request(kind, settings.clone(), false))
        .await
        .unwrap();
    let record = format!("launches/{}.json", first.handle);
    s3().delete_object()
        .bucket(bucket)
        .key(&record)
        .send()
        .await
        .unwrap();
    let again = launcher
        .launch(&request(kind, settings, true))
        .await
        .unwrap();
    assert_eq!(again.handle, first.handle, "{kind:?}");
    first.handle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relaunch_after_the_call_finds_what_the_first_launch_started() {
    let _athena = ATHENA.lock().await;
    let (job, machine, _) = resources().await;
    let settings = deployment(&Clients::new(&sdk())).await;
    let launcher = ServiceLauncher::new(caller(), s3(), settings.bucket.clone());
    let aws = caller();

    launch_twice(
        &launcher,
        &settings.bucket,
        ServiceKind::Glue,
        json!({"job": job}),
    )
    .await;
    let runs = aws
        .call("glue", "GetJobRuns", &json!({"JobName": job}))
        .await
        .unwrap();
    assert_eq!(runs["JobRuns"].as_array().unwrap().len(), 1);

    let workgroup = unique("wg");
    aws.call("athena", "CreateWorkGroup", &json!({"Name": workgroup}))
        .await
        .unwrap();
    launch_twice(
        &launcher,
        &settings.bucket,
        ServiceKind::Athena,
        json!({"query": "SELECT 1", "workgroup": workgroup}),
    )
    .await;
    let queries = aws
        .call(
            "athena",
            "ListQueryExecutions",
            &json!({"WorkGroup": workgroup}),
        )
        .await
        .unwrap();
    assert_eq!(queries["QueryExecutionIds"].as_array().unwrap().len(), 1);

    launch_twice(
        &launcher,
        &settings.bucket,
        ServiceKind::StepFunctions,
        json!({"state_machine": machine, "input": {"a": 1}}),
    )
    .await;
    let executions = aws
        .call(
            "stepfunctions",
            "ListExecutions",
            &json!({"stateMachineArn": machine}),
        )
        .await
        .unwrap();
    assert_eq!(executions["executions"].as_array().unwrap().len(), 1);

    let (queue, definition) = batch_queue().await;
    launch_twice(
        &launcher,
        &settings.bucket,
        ServiceKind::Batch,
        json!({"job_queue": queue, "job_definition": definition}),
    )
    .await;
    let jobs = aws
        .call(
            "batch",
            "ListJobs",
            &json!({"jobQueue": queue, "jobStatus": "SUCCEEDED"}),
        )
        .await
        .unwrap();
    assert_eq!(
        jobs["jobSummaryList"].as_array().unwrap().len(),
        1,
        "{jobs}"
    );

    let app = aws
        .call(
            "emr-serverless",
            "CreateApplication",
            &json!({"name": unique("spark"), "releaseLabel": "emr-7.0.0", "type": "SPARK"}),
        )
        .await
        .unwrap();
    let app = app["applicationId"].as_str().unwrap();
    launch_twice(
        &launcher,
        &settings.bucket,
        ServiceKind::EmrServerless,
        json!({"application_id": app, "execution_role": "arn:aws:iam::123456789012:role/emr", "entry_point": "s3://code/a.py"}),
    )
    .await;
    let runs = aws
        .call(
            "emr-serverless",
            "ListJobRuns",
            &json!({"applicationId": app}),
        )
        .await
        .unwrap();
    assert_eq!(runs["jobRuns"].as_array().unwrap().len(), 1, "{runs}");
}

/// A Batch queue (over an unmanaged compute environment) and a job
/// definition; moto then runs each job to SUCCEEDED within its submit.
async fn batch_queue() -> (String, String) {
    raw(
        "POST",
        "/moto-api/config",
        &[],
        r#"{"batch": {"use_docker": false}}"#,
    );
    let role = iam_role("batch");
    let aws = caller();
    let environment = aws
        .call(
            "batch",
            "CreateComputeEnvironment",
            &json!({"computeEnvironmentName": unique("ce"), "type": "UNMANAGED", "state": "ENABLED", "serviceRole": role}),
        )
        .await
        .unwrap();
    let queue = unique("queue");
    aws.call(
        "batch",
        "CreateJobQueue",
        &json!({"jobQueueName": queue, "state": "ENABLED", "priority": 1, "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}]}),
    )
    .await
    .unwrap();
    let definition = unique("def");
    aws.call(
        "batch",
        "RegisterJobDefinition",
        &json!({"jobDefinitionName": definition, "type": "container", "containerProperties": {"image": "busybox", "vcpus": 1, "memory": 512, "command": ["true"]}}),
    )
    .await
    .unwrap();
    (queue, definition)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_job_runs_the_tasks_command_and_its_failure_event_fails_the_try() {
    let (queue, definition) = batch_queue().await;
    let spec = format!(
        "dag: crunch\ncompute:\n  big: {{ kind: batch, job_queue: {queue}, job_definition: {definition}, vcpus: 4, memory: 8192 }}\ntasks:\n  - id: crunch\n    compute: big\n    command: [python, crunch.py, --day, \"{{{{ ds }}}}\"]\n    environment: {{ MODE: full }}\n"
    );
    let world = world_with(&spec, at_every_tick()).await;
    let engine = &world.engine;
    let run = engine
        .trigger("crunch", RunRequest::by("tester"))
        .await
        .unwrap();
    world.player.deliver(engine).await;
    let handle = handle_of(engine, "crunch", &run.run_id, "crunch").await;
    let id = handle.strip_prefix("batch:").unwrap();
    let jobs = caller()
        .call("batch", "DescribeJobs", &json!({"jobs": [id]}))
        .await
        .unwrap();
    let job = &jobs["jobs"][0];
    assert!(job["jobName"].as_str().unwrap().starts_with("updraft-"));
    let overrides = job["container"].clone();
    assert_eq!(overrides["command"][0], "python", "{job}");
    let event = event(
        "aws.batch",
        "Batch Job State Change",
        json!({"jobId": id, "jobName": job["jobName"], "status": "FAILED", "statusReason": "Essential container in task exited", "container": {"exitCode": 3}}),
    );
    assert_eq!(record_twice(engine, &event).await, (true, false));
    let attempt = engine
        .ports()
        .store
        .attempt("crunch", &run.run_id, &key("crunch"), 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(attempt.exit_code, Some(3));
    assert_eq!(
        attempt.reason.as_deref(),
        Some("exit code 3: Essential container in task exited")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emr_serverless_run_gets_the_spark_job_and_its_event_ends_it() {
    let aws = caller();
    let app = aws
        .call(
            "emr-serverless",
            "CreateApplication",
            &json!({"name": unique("spark"), "releaseLabel": "emr-7.0.0", "type": "SPARK"}),
        )
        .await
        .unwrap();
    let app = app["applicationId"].as_str().unwrap();
    let spec = format!(
        "dag: spark\ncompute:\n  emr: {{ kind: emr_serverless, application_id: {app}, execution_role: \"arn:aws:iam::123456789012:role/emr\" }}\ntasks:\n  - id: aggregate\n    compute: emr\n    entry_point: s3://code/aggregate.py\n    arguments: [--day, \"{{{{ ds }}}}\"]\n    spark_submit_parameters: --conf spark.executor.cores=2\n"
    );
    let world = world_with(&spec, at_every_tick()).await;
    let engine = &world.engine;
    let run = engine
        .trigger("spark", RunRequest::by("tester"))
        .await
        .unwrap();
    world.player.deliver(engine).await;
    let handle = handle_of(engine, "spark", &run.run_id, "aggregate").await;
    let (_, job_run) = handle.rsplit_once('/').unwrap();
    let got = aws
        .call(
            "emr-serverless",
            "GetJobRun",
            &json!({"applicationId": app, "jobRunId": job_run}),
        )
        .await
        .unwrap();
    let spark = &got["jobRun"]["jobDriver"]["sparkSubmit"];
    assert_eq!(spark["entryPoint"], "s3://code/aggregate.py");
    assert_eq!(spark["entryPointArguments"][0], "--day");
    let ended = event(
        "aws.emr-serverless",
        "EMR Serverless Job Run State Change",
        json!({"jobRunId": job_run, "applicationId": app, "state": "SUCCESS", "releaseLabel": "emr-7.0.0"}),
    );
    assert_eq!(record_twice(engine, &ended).await, (true, false));
    assert_eq!(
        output_of(engine, "spark", &run.run_id, "aggregate").await,
        json!({"application_id": app, "job_run_id": job_run})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processing_job_gets_its_inputs_and_outputs_and_names_them_as_artifacts() {
    let settings = deployment(&Clients::new(&sdk())).await;
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = sent.clone();
    let observed = caller().observed(std::sync::Arc::new(
        move |_: &str, action: &str, params: &serde_json::Map<String, Value>| {
            if action == "CreateProcessingJob" {
                seen.lock().unwrap().push(Value::Object(params.clone()));
            }
        },
    ));
    let launcher = ServiceLauncher::new(observed, s3(), settings.bucket.clone())
        .with_sagemaker_role(Some("arn:aws:iam::123456789012:role/sagemaker".into()));
    let mut request = request(
        ServiceKind::SagemakerProcessing,
        json!({
            "instance_type": "ml.m5.xlarge", "instance_count": 2,
            "inputs": {"raw": "s3://lake/raw/"}, "outputs": {"features": "s3://lake/features/"}
        }),
        false,
    );
    request.task.image = Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/features:1".into());
    request.task.command = Some(vec!["python".into(), "features.py".into()]);
    let launched = launcher.launch(&request).await.unwrap();
    let name = launched
        .handle
        .strip_prefix("sagemaker-processing:")
        .unwrap();
    let job = caller()
        .call(
            "sagemaker",
            "DescribeProcessingJob",
            &json!({"ProcessingJobName": name}),
        )
        .await
        .unwrap();
    // moto keeps neither resources nor environment: read what was sent.
    let created = sent.lock().unwrap()[0].clone();
    assert_eq!(
        created["ProcessingResources"]["ClusterConfig"]["InstanceCount"],
        2
    );
    assert_eq!(created["Environment"]["UPDRAFT_TASK_ID"], "t");
    assert_eq!(
        job["ProcessingInputs"][0]["S3Input"]["LocalPath"],
        "/opt/ml/processing/input/raw"
    );
    assert_eq!(
        job["AppSpecification"]["ContainerEntrypoint"][1],
        "features.py"
    );
    // moto completes processing jobs at once.
    assert!(matches!(
        launcher.describe(&launched.handle).await.unwrap(),
        updraft_engine::ports::HandleStatus::Ended(_)
    ));
    // Launched again as a relaunch: the same job, described, not created.
    request.relaunch = true;
    assert_eq!(
        launcher.launch(&request).await.unwrap().handle,
        launched.handle
    );
    let mut attempt =
        updraft_core::state::Attempt::new(request.key.clone(), 1, TaskState::Succeeded);
    attempt.handle = Some(launched.handle.clone());
    let output: Value =
        serde_json::from_str(&launcher.read_output(&attempt).await.unwrap().unwrap()).unwrap();
    assert_eq!(
        output["outputs"],
        json!({"features": "s3://lake/features/"})
    );
    assert_eq!(output["artifacts"], json!(["s3://lake/features/"]));
}

/// A function moto answers with canned replies, in order.
async fn function(replies: &[Value]) -> String {
    raw(
        "POST",
        "/moto-api/config",
        &[],
        r#"{"lambda": {"use_docker": false}}"#,
    );
    let name = unique("ingest");
    caller()
        .call(
            "lambda",
            "CreateFunction",
            &json!({
                "FunctionName": name, "Runtime": "python3.12", "Handler": "app.handler",
                "Role": iam_role("lambda"), "Timeout": 10,
                // An empty zip archive.
                "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},
            }),
        )
        .await
        .unwrap();
    // moto's canned replies are one queue for every function: one test
    // only sets them.
    if !replies.is_empty() {
        let results: Vec<String> = replies.iter().map(Value::to_string).collect();
        let body = json!({"results": results, "region": "us-east-1"});
        raw(
            "POST",
            "/moto-api/static/lambda-simple/response",
            &[],
            &body.to_string(),
        );
    }
    name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lambda_tries_answer_is_its_output_and_ends_it_at_launch() {
    let name = function(&[json!({"rows": 5, "metrics": {"rows": 5}})]).await;
    let spec = format!(
        "dag: fn\nparams: {{ day: x }}\ncompute:\n  f: {{ kind: lambda, function: {name} }}\ntasks:\n  - id: ingest\n    compute: f\n    payload: {{ day: \"{{{{ params.day }}}}\" }}\n  - id: after\n    after: [ingest]\n    compute: f\n    payload: {{ rows: \"{{{{ outputs.ingest.rows }}}}\" }}\n"
    );
    // Not reconciled at each tick: the launch itself ends the try.
    let world = world_with(&spec, updraft_engine::Settings::default()).await;
    let engine = &world.engine;
    let run = engine
        .trigger("fn", RunRequest::by("tester"))
        .await
        .unwrap();
    world.player.deliver(engine).await;
    assert_eq!(
        state_of(engine, "fn", &run.run_id, "ingest").await,
        TaskState::Succeeded
    );
    assert_eq!(
        output_of(engine, "fn", &run.run_id, "ingest").await["rows"],
        5
    );
    // moto without canned replies left echoes the event it got.
    world.player.deliver(engine).await;
    assert_eq!(
        state_of(engine, "fn", &run.run_id, "after").await,
        TaskState::Succeeded
    );
    assert_eq!(
        output_of(engine, "fn", &run.run_id, "after").await,
        json!({"rows": 5})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_may_run_longer_than_a_try_can_wait_is_refused() {
    let name = function(&[]).await;
    let settings = deployment(&Clients::new(&sdk())).await;
    let launcher = ServiceLauncher::new(caller(), s3(), settings.bucket.clone());
    caller()
        .call(
            "lambda",
            "UpdateFunctionConfiguration",
            &json!({"FunctionName": name, "Timeout": 900}),
        )
        .await
        .unwrap();
    let refused = launcher
        .launch(&request(
            ServiceKind::Lambda,
            json!({"function": name}),
            false,
        ))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().starts_with(&format!(
            "function `{name}` may run 900s, longer than the 15s"
        )),
        "{refused}"
    );
}

async fn crawler() -> String {
    let name = unique("raw");
    caller()
        .call(
            "glue",
            "CreateCrawler",
            &json!({"Name": name, "Role": "arn:aws:iam::123456789012:role/glue", "Targets": {"S3Targets": [{"Path": "s3://lake/raw"}]}}),
        )
        .await
        .unwrap();
    name
}

/// Ends the crawler's running crawl (moto ends it when its crawls are
/// listed); returns how many crawls it has had.
async fn end_crawl(name: &str) -> usize {
    caller()
        .call("glue", "ListCrawls", &json!({"CrawlerName": name}))
        .await
        .unwrap()["Crawls"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawler_try_waits_for_a_running_crawl_then_for_its_own() {
    let name = crawler().await;
    // Someone else's crawl is running when the try launches.
    caller()
        .call("glue", "StartCrawler", &json!({"Name": name}))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let spec = format!(
        "dag: crawl\ncompute:\n  c: {{ kind: glue_crawler, crawler: {name} }}\n  any: {{ kind: aws }}\ntasks:\n  - id: crawl\n    compute: c\n  - id: again\n    after: [crawl]\n    compute: any\n    call: {{ service: glue, action: StartCrawler, params: {{ Name: {name} }} }}\n    wait: {{ action: GetCrawler, params: {{ Name: {name} }}, every: 5s, success: \"Crawler.State == 'READY'\", failure: \"Crawler.LastCrawl.Status == 'FAILED'\" }}\n"
    );
    let world = world_with(&spec, at_every_tick()).await;
    let engine = &world.engine;
    let run = engine
        .trigger("crawl", RunRequest::by("tester"))
        .await
        .unwrap();
    world.player.deliver(engine).await;
    engine.tick().await.unwrap();
    assert_eq!(
        state_of(engine, "crawl", &run.run_id, "crawl").await,
        TaskState::Running
    );
    // The other crawl ends: the try starts its own, and waits for it.
    assert_eq!(end_crawl(&name).await, 1);
    engine.tick().await.unwrap();
    assert_eq!(
        state_of(engine, "crawl", &run.run_id, "crawl").await,
        TaskState::Running
    );
    assert_eq!(end_crawl(&name).await, 2);
    engine.tick().await.unwrap();
    assert_eq!(
        state_of(engine, "crawl", &run.run_id, "crawl").await,
        TaskState::Succeeded
    );

    // The same through the generic call and a wait on GetCrawler.
    world.player.deliver(engine).await;
    assert_eq!(
        state_of(engine, "crawl", &run.run_id, "again").await,
        TaskState::Running
    );
    assert_eq!(end_crawl(&name).await, 3);
    engine.tick().await.unwrap();
    assert_eq!(
        state_of(engine, "crawl", &run.run_id, "again").await,
        TaskState::Succeeded
    );
    let output = output_of(engine, "crawl", &run.run_id, "again").await;
    assert_eq!(output["last"]["Crawler"]["State"], "READY");
    assert_eq!(output["response"], json!({}));
    let run = engine
        .ports()
        .store
        .run("crawl", &run.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.state, RunState::Succeeded);
}

/// A crawler's events name no crawl: the recorder looks at each launch of
/// the crawler still in flight (found by its launch record) and ends those
/// whose crawl ended, with no tick. Two runs wait on one crawler: the
/// first's crawl ends the first; the second, launched while it ran, then
/// starts its own, which its next event ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawlers_event_ends_the_tries_whose_crawl_it_was() {
    let name = crawler().await;
    let spec = format!(
        "dag: crawled\ncompute:\n  c: {{ kind: glue_crawler, crawler: {name} }}\ntasks:\n  - id: crawl\n    compute: c\n"
    );
    let world = world_with(&spec, updraft_engine::Settings::default()).await;
    let engine = &world.engine;
    let first = engine
        .trigger("crawled", RunRequest::by("tester"))
        .await
        .unwrap();
    world.player.deliver(engine).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let second = engine
        .trigger("crawled", RunRequest::by("tester"))
        .await
        .unwrap();
    world.player.deliver(engine).await;
    let crawled = event(
        "aws.glue",
        "Glue Crawler State Change",
        json!({"crawlerName": name, "state": "Succeeded", "message": "Crawler Succeeded"}),
    );
    // Told before the crawl ended (as a late or stray event): nothing ends.
    let early = updraft_aws::functions::recorder(engine, &crawled)
        .await
        .unwrap();
    assert_eq!(early["recorded"], false, "{early}");

    assert_eq!(end_crawl(&name).await, 1);
    assert_eq!(record_twice(engine, &crawled).await, (true, false));
    assert_eq!(
        state_of(engine, "crawled", &first.run_id, "crawl").await,
        TaskState::Succeeded
    );
    assert_eq!(
        state_of(engine, "crawled", &second.run_id, "crawl").await,
        TaskState::Running,
        "its crawl is the next"
    );
    assert_eq!(end_crawl(&name).await, 2, "the second try started its own");
    assert_eq!(record_twice(engine, &crawled).await, (true, false));
    assert_eq!(
        state_of(engine, "crawled", &second.run_id, "crawl").await,
        TaskState::Succeeded
    );
    // Another crawler's event finds no launch of its own.
    let other = event(
        "aws.glue",
        "Glue Crawler State Change",
        json!({"crawlerName": unique("other"), "state": "Failed"}),
    );
    let none = updraft_aws::functions::recorder(engine, &other)
        .await
        .unwrap();
    assert_eq!(none["recorded"], false);
}

/// A crawl that ends badly (stopped by someone, as the emulator can end
/// one) fails the try with the crawl's end, told by the crawler's event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawlers_failure_event_fails_its_try_with_the_crawls_end() {
    let name = crawler().await;
    let spec = format!(
        "dag: stopped\ncompute:\n  c: {{ kind: glue_crawler, crawler: {name} }}\ntasks:\n  - id: crawl\n    compute: c\n"
    );
    let world = world_with(&spec, updraft_engine::Settings::default()).await;
    let engine = &world.engine;
    let run = engine
        .trigger("stopped", RunRequest::by("tester"))
        .await
        .unwrap();
    world.player.deliver(engine).await;
    caller()
        .call("glue", "StopCrawler", &json!({"Name": name}))
        .await
        .unwrap();
    end_crawl(&name).await;
    let failed = event(
        "aws.glue",
        "Glue Crawler State Change",
        json!({"crawlerName": name, "state": "Failed", "errorMessage": "stopped"}),
    );
    assert_eq!(record_twice(engine, &failed).await, (true, false));
    let instance = engine
        .ports()
        .store
        .instance("stopped", &run.run_id, &key("crawl"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(instance.state, TaskState::Failed);
    let reason = instance.reason.unwrap_or_default();
    assert!(reason.contains("the crawl ended STOPPED"), "{reason}");
}

/// The stack's role for the service kinds allows exactly what their
/// launches, relaunches, looks, stops and outputs call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_kinds_role_allows_exactly_what_the_kinds_call() {
    let (job, machine, _) = resources().await;
    let (queue, definition) = batch_queue().await;
    let crawler_name = crawler().await;
    let function_name = function(&[]).await;
    let app = caller()
        .call(
            "emr-serverless",
            "CreateApplication",
            &json!({"name": unique("spark"), "releaseLabel": "emr-7.0.0", "type": "SPARK"}),
        )
        .await
        .unwrap();
    let settings = deployment(&Clients::new(&sdk())).await;
    let called = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let seen = called.clone();
    let observed = caller().observed(std::sync::Arc::new(
        move |service: &str, action: &str, params: &serde_json::Map<String, Value>| {
            let needed = updraft_aws::permissions::call_actions(service, action, params);
            seen.lock().unwrap().extend(needed);
        },
    ));
    let launcher = ServiceLauncher::new(observed, s3(), settings.bucket.clone())
        .with_sagemaker_role(Some("arn:aws:iam::123456789012:role/sagemaker".into()));
    let kinds = [
        (ServiceKind::Glue, json!({"job": job})),
        (ServiceKind::GlueCrawler, json!({"crawler": crawler_name})),
        (
            ServiceKind::Athena,
            json!({"query": "SELECT 1", "workgroup": "primary"}),
        ),
        (
            ServiceKind::StepFunctions,
            json!({"state_machine": machine}),
        ),
        (
            ServiceKind::Batch,
            json!({"job_queue": queue, "job_definition": definition}),
        ),
        (
            ServiceKind::EmrServerless,
            json!({"application_id": app["applicationId"], "execution_role": "arn:aws:iam::123456789012:role/emr", "entry_point": "s3://code/a.py"}),
        ),
        (
            ServiceKind::SagemakerProcessing,
            json!({"instance_type": "ml.m5.xlarge"}),
        ),
        (ServiceKind::Lambda, json!({"function": function_name})),
    ];
    for (kind, keys) in kinds {
        let mut first = request(kind, keys, false);
        first.task.image = Some("img:1".into());
        let launched = launcher.launch(&first).await.unwrap();
        let mut again = first.clone();
        again.relaunch = true;
        // The record lost, so a relaunch looks for what the first started.
        s3().delete_object()
            .bucket(&settings.bucket)
            .key(format!("launches/{}.json", launched.handle))
            .send()
            .await
            .unwrap();
        launcher.launch(&again).await.unwrap();
        let _ = launcher.describe(&launched.handle).await;
        let mut attempt =
            updraft_core::state::Attempt::new(first.key.clone(), 1, TaskState::Succeeded);
        attempt.handle = Some(launched.handle.clone());
        let _ = launcher.read_output(&attempt).await;
        // moto does not implement every stop: the call is what counts.
        let _ = launcher.stop(&launched.handle).await;
    }
    let called = called.lock().unwrap().clone();
    let granted = updraft_aws::testing::template_actions("ServiceKindsRole");
    let missing: Vec<_> = called.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&called).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "not allowed {missing:?}, allowed but never called {unused:?}"
    );
}

/// A sensor (a `kind: aws` wait with no call) waits in the state
/// `waiting`, launching nothing, and is poked every `every` by a delayed
/// message on the task queue, not only at the planner's ticks: no tick
/// runs in this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_is_poked_between_ticks_by_delayed_messages() {
    let bucket = unique("pokes");
    s3().create_bucket().bucket(&bucket).send().await.unwrap();
    let spec = format!(
        "dag: poked\ncompute:\n  s3: {{ kind: aws }}\ntasks:\n  - id: landed\n    compute: s3\n    wait: {{ service: s3, action: HeadObject, params: {{ Bucket: {bucket}, Key: flag }}, every: 5s, success: ContentLength }}\n"
    );
    let world = world_with(&spec, updraft_engine::Settings::default()).await;
    let engine = &world.engine;
    let run = engine
        .trigger("poked", RunRequest::by("tester"))
        .await
        .unwrap();
    // The trigger looked first and found nothing; the next look is not
    // due yet; then it comes, finds nothing, and asks for the next.
    assert_eq!(
        state_of(engine, "poked", &run.run_id, "landed").await,
        TaskState::Waiting
    );
    assert_eq!(world.player.deliver(engine).await, 0);
    tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;
    assert_eq!(world.player.deliver(engine).await, 1, "the second look");
    assert_eq!(
        state_of(engine, "poked", &run.run_id, "landed").await,
        TaskState::Waiting
    );
    assert_eq!(launched(engine, "poked", &run.run_id, "landed").await, None);
    s3().put_object()
        .bucket(&bucket)
        .key("flag")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;
    assert_eq!(world.player.deliver(engine).await, 1, "the third look");
    assert_eq!(
        state_of(engine, "poked", &run.run_id, "landed").await,
        TaskState::Succeeded
    );
    // Its output is the describe call's answer.
    assert_eq!(
        output_of(engine, "poked", &run.run_id, "landed").await["last"]["ContentLength"],
        json!("1")
    );
    // The chain of pokes ended with the try.
    tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;
    assert_eq!(world.player.deliver(engine).await, 0);
}

/// Every crash point of a launch of each service kind — each of its
/// requests (S3's and the service's), failed before it is sent or with the
/// process dying right after it — then a relaunch, as the engine makes one
/// after any crash point of its own: the work starts once. The emulators
/// ignore tokens and names where AWS honours them, so the work is counted
/// by listing it, or by counting the start calls sent where a listing
/// cannot tell. A Lambda invocation and a generic call leave nothing to
/// find: they are made again when the launch failed after them, before
/// its record was kept (docs/kinds.md), and only then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crash_point_of_a_service_launch_starts_its_work_once() {
    let _athena = ATHENA.lock().await;
    use crate::crash_points::FaultInterceptor;
    use updraft_engine::testing::{Fault, Faults};

    let (job, machine, _) = resources().await;
    let (queue, definition) = batch_queue().await;
    let function_name = function(&[]).await;
    let app = caller()
        .call(
            "emr-serverless",
            "CreateApplication",
            &json!({"name": unique("spark"), "releaseLabel": "emr-7.0.0", "type": "SPARK"}),
        )
        .await
        .unwrap()["applicationId"]
        .as_str()
        .unwrap()
        .to_string();
    let workgroup = unique("wg");
    caller()
        .call("athena", "CreateWorkGroup", &json!({"Name": workgroup}))
        .await
        .unwrap();
    let settings = deployment(&Clients::new(&sdk())).await;

    let faults = Faults::default();
    let sent: Arc<Mutex<Vec<String>>> = Arc::default();
    let (hook_faults, hook_sent) = (faults.clone(), sent.clone());
    let faulty = caller().with_faults(Arc::new(move |name: &str, after: bool| {
        if !after {
            return hook_faults.before(name).map_err(|e| e.to_string());
        }
        hook_sent.lock().unwrap().push(name.to_string());
        hook_faults.after(name).map_err(|e| e.to_string())
    }));
    let s3_config = aws_sdk_s3::config::Builder::from(&sdk())
        .force_path_style(true)
        .interceptor(aws_sdk_s3::config::SharedInterceptor::new(
            FaultInterceptor(faults.clone()),
        ))
        .build();
    let launcher = ServiceLauncher::new(
        faulty,
        aws_sdk_s3::Client::from_conf(s3_config),
        settings.bucket.clone(),
    )
    .with_sagemaker_role(Some("arn:aws:iam::123456789012:role/sagemaker".into()));

    let aws = caller();
    let listed =
        |service: &'static str, action: &'static str, params: Value, list: &'static str| {
            let aws = aws.clone();
            async move {
                aws.call(service, action, &params).await.unwrap()[list]
                    .as_array()
                    .map_or(0, Vec::len)
            }
        };
    let sends = |action: &str| {
        sent.lock()
            .unwrap()
            .iter()
            .filter(|n| n.ends_with(action))
            .count()
    };
    let kinds = [
        (ServiceKind::Glue, json!({"job": job}), "StartJobRun"),
        (
            ServiceKind::Athena,
            json!({"query": "SELECT 1", "workgroup": workgroup}),
            "StartQueryExecution",
        ),
        (
            ServiceKind::StepFunctions,
            json!({"state_machine": machine}),
            "StartExecution",
        ),
        (
            ServiceKind::Batch,
            json!({"job_queue": queue, "job_definition": definition}),
            "SubmitJob",
        ),
        (
            ServiceKind::EmrServerless,
            json!({"application_id": app, "execution_role": "arn:aws:iam::123456789012:role/emr", "entry_point": "s3://code/a.py"}),
            "StartJobRun",
        ),
        (
            ServiceKind::SagemakerProcessing,
            json!({"instance_type": "ml.m5.xlarge"}),
            "CreateProcessingJob",
        ),
        (
            ServiceKind::Lambda,
            json!({"function": function_name}),
            "Invoke",
        ),
        (
            ServiceKind::Aws,
            json!({"call": {"service": "glue", "action": "GetJobRuns", "params": {"JobName": job}}}),
            "GetJobRuns",
        ),
    ];
    let mut try_number = 0;
    let mut points = 0;
    for (kind, keys, start) in kinds {
        let work = || async {
            match kind {
                ServiceKind::Glue => {
                    listed("glue", "GetJobRuns", json!({"JobName": job}), "JobRuns").await
                }
                ServiceKind::Athena => {
                    listed(
                        "athena",
                        "ListQueryExecutions",
                        json!({"WorkGroup": workgroup}),
                        "QueryExecutionIds",
                    )
                    .await
                }
                ServiceKind::StepFunctions => {
                    listed(
                        "stepfunctions",
                        "ListExecutions",
                        json!({"stateMachineArn": machine}),
                        "executions",
                    )
                    .await
                }
                ServiceKind::Batch => {
                    listed(
                        "batch",
                        "ListJobs",
                        json!({"jobQueue": queue, "jobStatus": "SUCCEEDED"}),
                        "jobSummaryList",
                    )
                    .await
                }
                ServiceKind::EmrServerless => {
                    listed(
                        "emr-serverless",
                        "ListJobRuns",
                        json!({"applicationId": app}),
                        "jobRuns",
                    )
                    .await
                }
                // Sent calls: moto overwrites a processing job of the same
                // name; a Lambda invocation or a lookup leaves nothing.
                _ => sends(start),
            }
        };
        let mut request = request(kind, keys, false);
        request.task.image = Some("img:1".into());
        // A clean launch, to count its requests.
        try_number += 1;
        request.try_number = try_number;
        faults.count();
        launcher.launch(&request).await.unwrap();
        let (requests, _) = faults.disarm();
        for n in 1..=requests {
            for fault in [Fault::Error, Fault::Crash] {
                try_number += 1;
                request.try_number = try_number;
                request.relaunch = false;
                let before = work().await;
                faults.arm(n, fault);
                let first = launcher.launch(&request).await;
                faults.disarm();
                let log = faults.log();
                let point = log.last().cloned().unwrap_or_default();
                // Whether a request took effect before the launch failed.
                let took_effect = |suffix: &str| {
                    log.iter()
                        .position(|name| name.ends_with(suffix))
                        .is_some_and(|i| i + 1 < n || (i + 1 == n && fault == Fault::Crash))
                };
                let repeated = took_effect(start) && !took_effect("S3 PutObject");
                // The message comes again: a relaunch (it may be refused
                // again only if the first took nothing).
                request.relaunch = true;
                let again = launcher.launch(&request).await.unwrap();
                if let Ok(first) = first {
                    assert_eq!(
                        first.handle, again.handle,
                        "{kind:?} at {point} ({fault:?})"
                    );
                }
                let started = work().await - before;
                let expected = match kind {
                    ServiceKind::Lambda | ServiceKind::Aws if repeated => 2,
                    _ => 1,
                };
                assert_eq!(
                    started, expected,
                    "{kind:?}: request {n} ({point}), {fault:?}"
                );
                points += 1;
            }
        }
    }
    assert!(points >= 30, "only {points} crash points");
}

/// One DAG with a task of each kind AWS ends by an event, on a deployment
/// with a SageMaker role (processing jobs need one).
async fn every_evented_kind() -> (crate::functions::World, String) {
    let (job, machine, _) = resources().await;
    let (queue, definition) = batch_queue().await;
    let app = caller()
        .call(
            "emr-serverless",
            "CreateApplication",
            &json!({"name": unique("spark"), "releaseLabel": "emr-7.0.0", "type": "SPARK"}),
        )
        .await
        .unwrap();
    let app = app["applicationId"].as_str().unwrap();
    let spec = format!(
        r#"dag: ends
compute:
  glue: {{ kind: glue, job: {job} }}
  athena: {{ kind: athena, workgroup: primary, output_location: "s3://results/" }}
  flow: {{ kind: step_functions, state_machine: "{machine}" }}
  emr: {{ kind: emr_serverless, application_id: {app}, execution_role: "arn:aws:iam::123456789012:role/emr" }}
  batch: {{ kind: batch, job_queue: {queue}, job_definition: {definition} }}
  processing: {{ kind: sagemaker_processing, instance_type: ml.m5.xlarge }}
tasks:
  - {{ id: glue, compute: glue }}
  - {{ id: athena, compute: athena, query: "SELECT 1" }}
  - {{ id: flow, compute: flow, input: {{ day: "{{{{ ds }}}}" }} }}
  - {{ id: emr, compute: emr, entry_point: s3://code/job.py }}
  - {{ id: batch, compute: batch, command: [true] }}
  - {{ id: processing, compute: processing, image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/p:1" }}
"#
    );
    let clients = Clients::new(&sdk());
    let mut settings = deployment(&clients).await;
    settings.sagemaker_role = Some("arn:aws:iam::123456789012:role/sagemaker".into());
    let engine = settings
        .engine_over(&clients)
        .with_settings(at_every_tick());
    crate::functions::deploy_spec(&settings, &engine, &spec).await;
    let world = crate::functions::World {
        engine,
        player: updraft_aws::testing::Player::new(&settings),
        settings,
    };
    (world, app.to_string())
}

/// The failure event AWS sends for a try of `task`, given its handle.
fn failure_event(task: &str, handle: &str, app: &str) -> (Value, &'static str) {
    let id = handle.split_once(':').unwrap().1;
    match task {
        "glue" => {
            let (job, run) = id.split_once('/').unwrap();
            (
                event(
                    "aws.glue",
                    "Glue Job State Change",
                    json!({"jobName": job, "state": "FAILED", "jobRunId": run, "message": "NameError"}),
                ),
                "the Glue job run ended FAILED: NameError",
            )
        }
        "athena" => (
            event(
                "aws.athena",
                "Athena Query State Change",
                json!({"queryExecutionId": id, "currentState": "FAILED", "athenaError": {"errorMessage": "TABLE_NOT_FOUND: events"}}),
            ),
            "the Athena query ended FAILED: TABLE_NOT_FOUND: events",
        ),
        "flow" => (
            event(
                "aws.states",
                "Step Functions Execution Status Change",
                json!({"executionArn": id, "status": "FAILED", "error": "States.TaskFailed", "cause": "boom"}),
            ),
            "the execution ended FAILED: States.TaskFailed: boom",
        ),
        "emr" => (
            event(
                "aws.emr-serverless",
                "EMR Serverless Job Run State Change",
                json!({"applicationId": app, "jobRunId": id.rsplit_once('/').unwrap().1, "state": "FAILED", "stateDetails": "Job failed: OOM"}),
            ),
            "the EMR Serverless job run ended FAILED: Job failed: OOM",
        ),
        "batch" => (
            event(
                "aws.batch",
                "Batch Job State Change",
                json!({"jobId": id, "status": "FAILED", "statusReason": "Host EC2 terminated"}),
            ),
            "Host EC2 terminated",
        ),
        "processing" => (
            event(
                "aws.sagemaker",
                "SageMaker Processing Job State Change",
                json!({"ProcessingJobName": id, "ProcessingJobStatus": "Failed", "FailureReason": "ClientError: no such image"}),
            ),
            "the processing job ended Failed: ClientError: no such image",
        ),
        other => panic!("no event for {other}"),
    }
}

const EVENTED: [&str; 6] = ["glue", "athena", "flow", "emr", "batch", "processing"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_evented_kind_fails_with_its_services_reason_from_its_failure_event() {
    let _athena = ATHENA.lock().await;
    let (world, app) = every_evented_kind().await;
    let engine = &world.engine;
    let run = engine
        .trigger("ends", RunRequest::by("tester"))
        .await
        .unwrap();
    world.player.deliver(engine).await;
    for task in EVENTED {
        let handle = handle_of(engine, "ends", &run.run_id, task).await;
        let (failed, reason) = failure_event(task, &handle, &app);
        assert_eq!(record_twice(engine, &failed).await, (true, false), "{task}");
        let attempt = engine
            .ports()
            .store
            .attempt("ends", &run.run_id, &key(task), 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(attempt.state, TaskState::Failed, "{task}");
        assert!(
            attempt
                .reason
                .as_deref()
                .unwrap_or_default()
                .contains(reason),
            "{task}: {:?}",
            attempt.reason
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_evented_kind_ends_by_reconciliation_when_its_event_is_lost() {
    let _athena = ATHENA.lock().await;
    let (world, _) = every_evented_kind().await;
    let engine = &world.engine;
    let run = engine
        .trigger("ends", RunRequest::by("tester"))
        .await
        .unwrap();
    world.player.deliver(engine).await;
    // moto ends each of these jobs by itself (Batch without Docker after a
    // few seconds); no event is delivered: ticks look them up.
    let mut left: Vec<&str> = EVENTED.to_vec();
    for _ in 0..30 {
        engine.tick().await.unwrap();
        let mut still = Vec::new();
        for task in left {
            if state_of(engine, "ends", &run.run_id, task).await == TaskState::Running {
                still.push(task);
            }
        }
        left = still;
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    assert!(left.is_empty(), "still running: {left:?}");
    for task in EVENTED {
        assert_eq!(
            state_of(engine, "ends", &run.run_id, task).await,
            TaskState::Succeeded,
            "{task}"
        );
    }
}
