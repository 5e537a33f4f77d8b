//! Issue 11, item 7: each function's role allows exactly what the function
//! sends. Each function gets clients of its own with an [`ActionRecorder`];
//! one scenario walks every path that sends a request — a spec upload, a
//! scheduled run with an output, an artifact and a fan-out, a training job,
//! launch outages and relaunches, a task marked while it launched, a launch
//! that fails, run timeouts seen by the recorder and by the planner, and
//! tries whose events were lost — and each role in the template must allow
//! the actions those requests need, plus what AWS needs on the function's
//! behalf, and nothing else.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::SharedInterceptor;
use serde_json::json;
use updraft_aws::bell::DispatcherBell;
use updraft_aws::call::Caller;
use updraft_aws::clients::Clients;
use updraft_aws::eventbridge::EventBridgePublisher;
use updraft_aws::functions::{planner, recorder};
use updraft_aws::permissions::Function;
use updraft_aws::settings::Settings;
use updraft_aws::specs::S3SpecFiles;
use updraft_aws::testing::{
    ActionRecorder, FailOperation, Player, deployment, ecs_event, s3, sdk, training_event,
};
use updraft_core::state::{RunState, TaskState};
use updraft_engine::Engine;
use updraft_engine::ports::Launcher;
use updraft_engine::usecase::RunRequest;

use crate::functions::key;
use crate::races::{Meanwhile, WhileLaunching};
use crate::template::allowed;

const TRAINING_ROLE: &str = "arn:aws:iam::123456789012:role/updraft-sagemaker";
const SERVICE_ROLE: &str = "arn:aws:iam::123456789012:role/updraft-service-kinds";

/// Every file of the scenario: each DAG takes one path.
const SPECS: [(&str, &str); 7] = [
    // The planner creates it; the recorder reads an output, records an
    // artifact, fans out, and finishes a training job. Its file is padded
    // past what an item holds, so every function reads it from S3.
    (
        "scheduled",
        "dag: scheduled\nschedule: \"@hourly\"\nstart: 2026-01-01\ncompute:\n  gpu: { kind: sagemaker, instance_type: ml.m5.large }\ntasks:\n  - id: emit\n    command: [emit]\n    produces: [\"s3://data/{{ ds }}/emit\"]\n  - id: fan\n    after: [emit]\n    map_over: \"{{ outputs.emit.items }}\"\n    command: [fan, \"{{ item }}\"]\n  - id: train\n    compute: gpu\n    image: trainer:1\n",
    ),
    // `m` and `m_train` are marked while they launch (their dispatcher
    // stops what it started); `bad` cannot render, so its dispatcher fails
    // it and queues `after_bad`.
    (
        "moved",
        "dag: moved\ncompute:\n  gpu: { kind: sagemaker, instance_type: ml.m5.large }\ntasks:\n  - id: m\n    command: [m]\n  - id: m_train\n    compute: gpu\n    image: trainer:1\n  - id: bad\n    command: [\"{{ params.missing }}\"]\n  - id: after_bad\n    after: [bad]\n    trigger_rule: all_done\n    command: [after]\n",
    ),
    // Its only task cannot render: its dispatcher fails it and ends the run.
    (
        "unrenderable",
        "dag: unrenderable\ntasks:\n  - id: bad\n    command: [\"{{ params.missing }}\"]\n",
    ),
    // Times out; the recorder sees it when `quick` ends.
    (
        "recorder_timeout",
        "dag: recorder_timeout\nrun_timeout: 3s\ncompute:\n  gpu: { kind: sagemaker, instance_type: ml.m5.large }\ntasks:\n  - id: quick\n    command: [quick]\n  - id: long\n    command: [long]\n  - id: train\n    compute: gpu\n    image: trainer:1\n",
    ),
    // Times out; the planner sees it at its tick.
    (
        "planner_timeout",
        "dag: planner_timeout\nrun_timeout: 3s\ncompute:\n  gpu: { kind: sagemaker, instance_type: ml.m5.large }\ntasks:\n  - id: long\n    command: [long]\n  - id: train\n    compute: gpu\n    image: trainer:1\n",
    ),
    // Its tries' events are lost: the planner asks ECS, SageMaker and
    // Glue (as the stack's service role).
    (
        "quiet",
        "dag: quiet\ncompute:\n  gpu: { kind: sagemaker, instance_type: ml.m5.large }\n  glue: { kind: glue, job: permissions-job }\ntasks:\n  - id: ends\n    command: [ends]\n  - id: train\n    compute: gpu\n    image: trainer:1\n  - id: etl\n    compute: glue\n",
    ),
    // Service kinds: a Glue job run and a crawl whose events the recorder
    // gets, and a call the dispatcher ends at once; all as the stack's
    // service role.
    (
        "service",
        "dag: service\ncompute:\n  glue: { kind: glue, job: permissions-job }\n  crawler: { kind: glue_crawler, crawler: permissions-crawler }\n  any: { kind: aws }\ntasks:\n  - id: etl\n    compute: glue\n  - id: crawl\n    compute: crawler\n  - id: look\n    compute: any\n    call: { service: glue, action: GetJobRuns, params: { JobName: permissions-job } }\n",
    ),
];

/// One function: an engine over clients of its own that record the
/// actions of every request.
struct Role {
    engine: Engine,
    actions: ActionRecorder,
}

fn timings() -> updraft_engine::Settings {
    updraft_engine::Settings {
        reconcile_after: Duration::from_secs(1),
        redelivery_backoff: Duration::from_secs(1),
        ..updraft_engine::Settings::default()
    }
}

fn role(
    settings: &Settings,
    faults: &[SharedInterceptor],
    wrap: impl FnOnce(Arc<dyn Launcher>) -> Arc<dyn Launcher>,
) -> Role {
    let actions = ActionRecorder::default();
    let mut interceptors = vec![SharedInterceptor::new(actions.clone())];
    interceptors.extend(faults.iter().cloned());
    let clients = Clients::with_interceptors(&sdk(), &interceptors);
    let mut ports = settings.ports(&clients);
    ports.launcher = wrap(ports.launcher);
    // Its rings of the dispatcher recorded, not sent: moto's canned Lambda
    // replies are one queue for every test of the server.
    let (caller, _) = Caller::new(&sdk())
        .observed(actions.call_observer())
        .planning();
    let bell = DispatcherBell::new(caller, "updraft-dispatcher".into());
    ports.queue = Arc::new(settings.queue(&clients).ringing(Arc::new(bell)));
    let bus = EventBridgePublisher::new(
        clients.events.clone(),
        settings.event_bus.clone(),
        settings.bucket.clone(),
    );
    let spec_files = S3SpecFiles::new(clients.s3.clone(), settings.bucket.clone());
    Role {
        engine: Engine::new(ports)
            .with_settings(timings())
            .with_publisher(Arc::new(bus), None)
            .with_spec_files(Arc::new(spec_files)),
        actions,
    }
}

/// The handle of a task's first try.
async fn handle(operator: &Engine, dag: &str, run_id: &str, task: &str) -> String {
    operator
        .ports()
        .store
        .attempt(dag, run_id, &key(task), 1)
        .await
        .unwrap()
        .and_then(|a| a.handle)
        .unwrap_or_else(|| panic!("{dag}/{task} launched"))
}

/// Ends an ECS task as ECS would (its output written first), without an
/// event; returns the event, for when one is delivered.
async fn end_ecs(
    player: &Player,
    settings: &Settings,
    operator: &Engine,
    (dag, run_id, task): (&str, &str, &str),
    output: serde_json::Value,
) -> serde_json::Value {
    let arn = handle(operator, dag, run_id, task).await;
    let attempt = operator
        .ports()
        .store
        .attempt(dag, run_id, &key(task), 1)
        .await
        .unwrap()
        .unwrap();
    let uri = attempt.output_location.expect("an output location");
    let (bucket, object) = uri
        .strip_prefix("s3://")
        .and_then(|r| r.split_once('/'))
        .unwrap();
    s3().put_object()
        .bucket(bucket)
        .key(object)
        .body(output.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    player
        .ecs
        .stop_task()
        .cluster(&settings.ecs.cluster)
        .task(&arn)
        .send()
        .await
        .unwrap();
    ecs_event(&settings.ecs.cluster, &arn, "STOPPED", 0)
}

async fn run_state(operator: &Engine, dag: &str, run_id: &str) -> (RunState, Option<String>) {
    let run = operator
        .ports()
        .store
        .run(dag, run_id)
        .await
        .unwrap()
        .unwrap();
    (run.state, run.reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_allows_exactly_what_its_function_sends() {
    let operator_clients = Clients::new(&sdk());
    let mut settings = deployment(&operator_clients).await;
    settings.sagemaker_role = Some(TRAINING_ROLE.into());
    settings.service_role = Some(SERVICE_ROLE.into());
    let _ = Caller::new(&sdk())
        .call(
            "glue",
            "CreateJob",
            &json!({"Name": "permissions-job", "Role": SERVICE_ROLE, "Command": {"Name": "glueetl", "ScriptLocation": "s3://code/etl.py"}}),
        )
        .await;
    let _ = Caller::new(&sdk())
        .call(
            "glue",
            "CreateCrawler",
            &json!({"Name": "permissions-crawler", "Role": SERVICE_ROLE, "Targets": {"S3Targets": [{"Path": "s3://lake/raw"}]}}),
        )
        .await;
    let operator = Arc::new(
        settings
            .engine_over(&operator_clients)
            .with_settings(timings()),
    );
    // The planner moves the stack's wake-up at each tick, and pulls it
    // sooner for a run it makes.
    let planner_role = role(&settings, &[], |l| l);
    let wake = crate::wake::stack_schedule().await;
    let observed = Caller::new(&sdk()).observed(planner_role.actions.call_observer());
    let planner_role =
        Role {
            engine: planner_role.engine.with_waker(Arc::new(
                updraft_aws::wake::SchedulerWaker::new(observed, wake),
            )),
            actions: planner_role.actions,
        };
    let outages = [
        SharedInterceptor::new(FailOperation::new("RunTask", 1)),
        SharedInterceptor::new(FailOperation::new("CreateTrainingJob", 1)),
    ];
    let dispatcher_role = role(&settings, &outages, |inner| {
        Arc::new(WhileLaunching {
            inner,
            operator: operator.clone(),
            meanwhile: Meanwhile::Mark,
            chosen: |request| {
                request.dag == "moved" && request.key.task_id.as_str().starts_with('m')
            },
            done: Mutex::default(),
        })
    });
    let recorder_role = role(&settings, &[], |l| l);
    let player = Player::new(&settings);
    let bucket = settings.bucket.clone();

    // Spec files uploaded straight to S3, and the planner told (it ticks
    // then: the first upload's tick creates the scheduled run); then a
    // second version of one, which the planner orders against the first.
    let padding = "# padding\n".repeat(40_000);
    let files = SPECS.iter().map(|(dag, text)| match *dag {
        "scheduled" => (*dag, format!("{text}{padding}")),
        _ => (*dag, text.to_string()),
    });
    let quiet = SPECS.iter().find(|(dag, _)| *dag == "quiet").unwrap().1;
    let files = files.chain([("quiet", format!("{quiet}# second version\n"))]);
    for (dag, text) in files {
        let object = format!("specs/{dag}.yaml");
        s3().put_object()
            .bucket(&bucket)
            .key(&object)
            .body(text.into_bytes().into())
            .send()
            .await
            .unwrap();
        let upload = json!({
            "source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": bucket}, "object": {"key": object}}
        });
        let synced = planner(&planner_role.engine, &bucket, &upload)
            .await
            .unwrap();
        assert_eq!(synced["synced"][0]["dag"], dag, "{synced}");
    }
    let mut runs = std::collections::BTreeMap::new();
    for (dag, _) in &SPECS[1..] {
        let run = operator.trigger(dag, RunRequest::by("ops")).await.unwrap();
        runs.insert(*dag, run.run_id);
    }
    // The tick starts every run.
    let tick = json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"});
    let ticked = planner(&planner_role.engine, &bucket, &tick).await.unwrap();
    assert_eq!(ticked["created"], 0, "made at the upload: {ticked}");
    let scheduled = operator.ports().store.active_runs().await.unwrap();
    let scheduled = scheduled
        .iter()
        .find(|r| r.dag.as_str() == "scheduled")
        .unwrap();
    runs.insert("scheduled", scheduled.run_id.clone());

    // A dispatcher out of time wakes another for what it leaves.
    dispatcher_role
        .engine
        .set_deadline(Some(std::time::Instant::now()));
    assert_eq!(player.deliver(&dispatcher_role.engine).await, 0);
    dispatcher_role.engine.set_deadline(None);
    // Every message dispatched, outages and relaunches included (each
    // outage's message comes back after its backoff).
    let mut quiet_rounds = 0;
    for _ in 0..20 {
        if player.deliver(&dispatcher_role.engine).await > 0 {
            quiet_rounds = 0;
            continue;
        }
        quiet_rounds += 1;
        if quiet_rounds == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }

    // The recorder: an output, an artifact and a fan-out; a training job.
    let scheduled_run = runs["scheduled"].as_str();
    let emitted = end_ecs(
        &player,
        &settings,
        &operator,
        ("scheduled", scheduled_run, "emit"),
        json!({"items": [1, 2]}),
    )
    .await;
    recorder(&recorder_role.engine, &emitted).await.unwrap();
    let job = handle(&operator, "scheduled", scheduled_run, "train").await;
    recorder(
        &recorder_role.engine,
        &training_event(&job, "Completed", None),
    )
    .await
    .unwrap();
    // A Glue job run's end, read as the stack's service role.
    let etl = handle(&operator, "service", &runs["service"], "etl").await;
    let (job, job_run) = etl.strip_prefix("glue:").unwrap().rsplit_once('/').unwrap();
    let glue_ended = json!({
        "source": "aws.glue", "detail-type": "Glue Job State Change",
        "detail": {"jobName": job, "jobRunId": job_run, "state": "SUCCEEDED"}
    });
    let recorded = recorder(&recorder_role.engine, &glue_ended).await.unwrap();
    assert_eq!(recorded["recorded"], true, "{recorded}");
    // A crawl's end (moto ends it when its crawls are listed), whose event
    // names only the crawler: its launches are found by their records.
    Caller::new(&sdk())
        .call(
            "glue",
            "ListCrawls",
            &json!({"CrawlerName": "permissions-crawler"}),
        )
        .await
        .unwrap();
    let crawled = json!({
        "source": "aws.glue", "detail-type": "Glue Crawler State Change",
        "detail": {"crawlerName": "permissions-crawler", "state": "Succeeded"}
    });
    let recorded = recorder(&recorder_role.engine, &crawled).await.unwrap();
    assert_eq!(recorded["recorded"], true, "{recorded}");
    // Past both run timeouts (3 s, long enough for every first try to
    // launch on a loaded machine): the recorder ends one run when `quick`
    // ends, stopping its ECS task and training job.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let quick = end_ecs(
        &player,
        &settings,
        &operator,
        ("recorder_timeout", &runs["recorder_timeout"], "quick"),
        json!({}),
    )
    .await;
    recorder(&recorder_role.engine, &quick).await.unwrap();
    // The planner: a run timed out, and a quiet run whose ECS task ended
    // without an event.
    end_ecs(
        &player,
        &settings,
        &operator,
        ("quiet", &runs["quiet"], "ends"),
        json!({"rows": 3}),
    )
    .await;
    planner(&planner_role.engine, &bucket, &tick).await.unwrap();

    // The scenario did what it is for.
    for dag in ["recorder_timeout", "planner_timeout"] {
        let (state, reason) = run_state(&operator, dag, &runs[dag]).await;
        assert_eq!(state, RunState::Failed, "{dag}");
        assert!(reason.unwrap_or_default().contains("run_timeout"), "{dag}");
    }
    let (state, _) = run_state(&operator, "unrenderable", &runs["unrenderable"]).await;
    assert_eq!(state, RunState::Failed);
    let ends = operator
        .ports()
        .store
        .instance("quiet", &runs["quiet"], &key("ends"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ends.state, TaskState::Succeeded, "reconciled");
    for (dag, task) in [("quiet", "etl"), ("service", "look")] {
        let instance = operator
            .ports()
            .store
            .instance(dag, &runs[dag], &key(task))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(instance.state, TaskState::Succeeded, "{dag}.{task}");
    }
    // moto does not implement StopTrainingJob (it answers 500): those stops
    // were sent and stay kept for the next tick; every ECS stop went through.
    let kept = operator.ports().store.stops().await.unwrap();
    assert!(
        kept.iter()
            .all(|stop| !stop.handle.starts_with("arn:aws:ecs")),
        "{kept:?}"
    );
    assert_eq!(kept.len(), 3, "{kept:?}");

    let mut wrong = Vec::new();
    for (function, sent) in [
        (Function::Planner, &planner_role),
        (Function::Dispatcher, &dispatcher_role),
        (Function::Recorder, &recorder_role),
    ] {
        let mut needed = sent.actions.actions();
        needed.extend(
            function
                .granted_for_aws()
                .into_iter()
                .map(|(a, _)| a.to_string()),
        );
        let granted = allowed(function.role());
        let missing: Vec<_> = needed.difference(&granted).collect();
        let unused: Vec<_> = granted.difference(&needed).collect();
        if !missing.is_empty() || !unused.is_empty() {
            wrong.push(format!(
                "{}: not allowed {missing:?}, allowed but never sent {unused:?}",
                function.role()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
