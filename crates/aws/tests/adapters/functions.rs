//! The three functions, called in-process with real-shaped events, against
//! moto: the test plays SQS's event source and ECS's state-change events.
//! A chain runs to success with one ECS task per try; a failed run is rerun
//! from its failed task without launching its upstream again.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use updraft_aws::functions::{dispatcher, planner, recorder};
use updraft_aws::schema::{create_bucket, create_queues, create_table};
use updraft_aws::settings::Settings;
use updraft_aws::specs::deploy;
use updraft_aws::testing::{default_network, s3, sdk, unique};
use updraft_core::ids::TaskId;
use updraft_core::plan::Rerun;
use updraft_core::spec::SpecFile;
use updraft_core::state::RunState;
use updraft_engine::Engine;

pub(crate) struct World {
    pub(crate) engine: Engine,
    pub(crate) settings: Settings,
    pub(crate) sqs: aws_sdk_sqs::Client,
    pub(crate) ecs: aws_sdk_ecs::Client,
    /// Task ARN → the task id it ran.
    pub(crate) launched: BTreeMap<String, String>,
}

/// An ECS `STOPPED` event for a task of `cluster`.
pub(crate) fn stopped_event(cluster: &str, arn: &str, last_status: &str, exit: i32) -> Value {
    json!({
        "version": "0", "id": unique("event"), "detail-type": "ECS Task State Change", "source": "aws.ecs",
        "time": "2026-11-21T15:04:10Z", "region": "us-east-1", "resources": [arn],
        "detail": {
            "clusterArn": format!("arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}"),
            "taskArn": arn, "lastStatus": last_status, "desiredStatus": "STOPPED",
            "stopCode": "EssentialContainerExited", "stoppedReason": "Essential container in task exited",
            "containers": [{"name": "main", "exitCode": exit, "lastStatus": last_status, "taskArn": arn}],
        }
    })
}

pub(crate) async fn world(spec: &str) -> World {
    world_with(spec, updraft_engine::Settings::default()).await
}

pub(crate) async fn world_with(spec: &str, engine_settings: updraft_engine::Settings) -> World {
    let config = sdk();
    let name = unique("fn");
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let ecs = aws_sdk_ecs::Client::new(&config);
    create_table(&dynamo, &format!("{name}-state"))
        .await
        .unwrap();
    let queue_url = create_queues(&sqs, &format!("{name}-tasks")).await.unwrap();
    create_bucket(&s3(), &format!("{name}-specs"))
        .await
        .unwrap();
    updraft_aws::testing::ecs_runner(&ecs, &name).await;
    let (subnets, groups) = default_network();
    let vars = BTreeMap::from([
        ("UPDRAFT_TABLE", format!("{name}-state")),
        ("UPDRAFT_QUEUE_URL", queue_url),
        ("UPDRAFT_BUCKET", format!("{name}-specs")),
        ("UPDRAFT_CLUSTER", name.clone()),
        ("UPDRAFT_SUBNETS", subnets.join(",")),
        ("UPDRAFT_SECURITY_GROUPS", groups.join(",")),
    ]);
    let settings = Settings::from_env(|k| vars.get(k).cloned()).unwrap();
    let engine = Engine::new(settings.ports(&config)).with_settings(engine_settings);
    let file = SpecFile {
        name: "spec.yaml".into(),
        text: spec.into(),
    };
    deploy(
        &s3(),
        &settings.bucket,
        engine.ports().store.as_ref(),
        &[file],
    )
    .await
    .unwrap();
    World {
        engine,
        settings,
        sqs,
        ecs,
        launched: BTreeMap::new(),
    }
}

impl World {
    /// Delivers queued messages to the dispatcher as SQS would, deleting
    /// those it did not report as failed. Returns how many it delivered.
    pub(crate) async fn deliver(&mut self) -> usize {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.settings.queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let count = m.attributes.as_ref().and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)).cloned().unwrap_or("1".into());
                json!({
                    "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                    "attributes": {"ApproximateReceiveCount": count}, "eventSource": "aws:sqs",
                })
            })
            .collect();
        if records.is_empty() {
            return 0;
        }
        let response = dispatcher(&self.engine, &json!({ "Records": records }))
            .await
            .unwrap();
        assert_eq!(response["batchItemFailures"], json!([]));
        for m in &messages {
            self.sqs
                .delete_message()
                .queue_url(&self.settings.queue_url)
                .receipt_handle(m.receipt_handle.clone().unwrap())
                .send()
                .await
                .unwrap();
        }
        messages.len()
    }

    /// Ends every running ECS task the way ECS would report it: the task
    /// named `failing` exits 1, every other 0.
    pub(crate) async fn finish_tasks(&mut self, failing: Option<&str>) -> usize {
        let cluster = &self.settings.ecs.cluster;
        let arns = self
            .ecs
            .list_tasks()
            .cluster(cluster)
            .send()
            .await
            .unwrap()
            .task_arns
            .unwrap_or_default();
        let mut ended = 0;
        for arn in arns {
            if self.launched.contains_key(&arn) {
                continue;
            }
            let described = self
                .ecs
                .describe_tasks()
                .cluster(cluster)
                .tasks(&arn)
                .send()
                .await
                .unwrap();
            let task = &described.tasks()[0];
            let command = task.overrides().unwrap().container_overrides()[0]
                .environment()
                .iter()
                .find(|kv| kv.name() == Some("UPDRAFT_TASK_ID"))
                .and_then(|kv| kv.value())
                .unwrap()
                .to_string();
            self.ecs
                .stop_task()
                .cluster(cluster)
                .task(&arn)
                .send()
                .await
                .unwrap();
            let exit = if failing == Some(command.as_str()) {
                1
            } else {
                0
            };
            let event = stopped_event(cluster, &arn, "STOPPED", exit);
            let out = recorder(&self.engine, &event).await.unwrap();
            assert_eq!(out["recorded"], true, "{out}");
            // A duplicate event is dropped.
            assert_eq!(
                recorder(&self.engine, &event).await.unwrap()["recorded"],
                false
            );
            self.launched.insert(arn, command);
            ended += 1;
        }
        ended
    }

    /// Delivers and finishes until nothing moves; returns the run state.
    async fn run_until_idle(&mut self, dag: &str, run_id: &str, failing: Option<&str>) -> RunState {
        for _ in 0..30 {
            let moved = self.deliver().await + self.finish_tasks(failing).await;
            if moved == 0 {
                break;
            }
        }
        self.engine
            .ports()
            .store
            .run(dag, run_id)
            .await
            .unwrap()
            .unwrap()
            .state
    }

    pub(crate) fn launches_of(&self, task: &str) -> usize {
        self.launched
            .values()
            .filter(|t| t.as_str() == task)
            .count()
    }
}

pub(crate) const CHAIN: &str = "dag: chain\ntasks:\n  - id: a\n    command: [echo, a]\n  - id: b\n    after: [a]\n    command: [echo, b]\n  - id: c\n    after: [b]\n    command: [echo, c]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_runs_through_dispatcher_ecs_and_recorder() {
    let mut world = world(CHAIN).await;
    let run = world
        .engine
        .trigger("chain", Default::default(), vec![])
        .await
        .unwrap();
    assert_eq!(
        world.run_until_idle("chain", &run.run_id, None).await,
        RunState::Succeeded
    );
    assert_eq!(
        (
            world.launches_of("a"),
            world.launches_of("b"),
            world.launches_of("c")
        ),
        (1, 1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_rerun_from_its_failed_task_only() {
    let mut world = world(CHAIN).await;
    let run = world
        .engine
        .trigger("chain", Default::default(), vec![])
        .await
        .unwrap();
    assert_eq!(
        world.run_until_idle("chain", &run.run_id, Some("b")).await,
        RunState::Failed
    );
    let request = Rerun {
        tasks: vec![TaskId::parse("b").unwrap()],
        downstream: true,
        ..Rerun::default()
    };
    world
        .engine
        .rerun("chain", &run.run_id, &request)
        .await
        .unwrap();
    assert_eq!(
        world.run_until_idle("chain", &run.run_id, None).await,
        RunState::Succeeded
    );
    assert_eq!(
        world.launches_of("a"),
        1,
        "the upstream task was not launched again"
    );
    assert_eq!(world.launches_of("b"), 2);
    assert_eq!(world.launches_of("c"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planner_ticks_and_syncs_uploaded_specs() {
    let world =
        world("dag: hourly\nschedule: '@hourly'\ntasks:\n  - id: a\n    command: [echo]\n").await;
    let tick = planner(
        &world.engine,
        &s3(),
        &world.settings.bucket,
        &json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"}),
    )
    .await
    .unwrap();
    assert_eq!(tick["created"], 1, "{tick}");
    let changed =
        "dag: hourly\nschedule: '@hourly'\ntasks:\n  - id: a\n    command: [echo, changed]\n";
    s3().put_object()
        .bucket(&world.settings.bucket)
        .key("specs/hourly.yaml")
        .body(changed.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let notification = json!({"Records": [{
        "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": world.settings.bucket}, "object": {"key": "specs/hourly.yaml"}}
    }]});
    let synced = planner(&world.engine, &s3(), &world.settings.bucket, &notification)
        .await
        .unwrap();
    assert_eq!(synced["synced"][0]["dag"], "hourly", "{synced}");
    let current = world
        .engine
        .ports()
        .store
        .dag("hourly")
        .await
        .unwrap()
        .unwrap()
        .current_version
        .unwrap();
    assert_eq!(synced["synced"][0]["version"], current.as_str());
}
