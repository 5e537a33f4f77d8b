//! The three built function binaries, each run as Lambda runs a
//! `provided.al2023` bootstrap (against a local Runtime API) over a
//! deployment on moto: the dispatcher launches the first task of a run
//! from its SQS message, the recorder records its ECS STOPPED event, and
//! the planner ticks.

use aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount;
use serde_json::json;
use updraft_aws::testing::{default_network, ecs_event, ecs_runner, sdk, sqs_record};
use updraft_e2e::lambda::{Answer, invoke};
use updraft_e2e::{World, built};

use crate::aws_world;

fn response(answer: Answer) -> serde_json::Value {
    match answer {
        Answer::Response(value) => value,
        Answer::Error(error) => panic!("the function failed: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_functions_run_under_the_lambda_runtime_api() {
    let world = aws_world();
    let (subnets, groups) = default_network();
    world.set_env("UPDRAFT_SUBNETS", &subnets.join(","));
    world.set_env("UPDRAFT_SECURITY_GROUPS", &groups.join(","));
    let cluster = world.env("UPDRAFT_CLUSTER").unwrap();
    let ecs = aws_sdk_ecs::Client::new(&sdk());
    ecs_runner(&ecs, &cluster).await;
    world.spec(
        "etl.yaml",
        "dag: etl\ntasks:\n  - id: extract\n    command: [echo]\n  - id: load\n    after: [extract]\n    command: [echo]\n",
    );
    world.run(&["deploy"]).expect(0);
    let run = world
        .run(&["trigger", "etl", "--output", "json"])
        .expect(0)
        .json();
    let run_id = run["run_id"].as_str().unwrap().to_string();
    let env = world.envs();

    let received = aws_sdk_sqs::Client::new(&sdk())
        .receive_message()
        .queue_url(world.env("UPDRAFT_QUEUE_URL").unwrap())
        .message_system_attribute_names(ApproximateReceiveCount)
        .send()
        .await
        .unwrap();
    let message = &received.messages()[0];
    let batch = json!({ "Records": [sqs_record(message)] });
    let dispatched = response(invoke(
        &built("dispatcher", "updraft-dispatcher"),
        &env,
        batch,
    ));
    assert_eq!(dispatched, json!({ "batchItemFailures": [] }));
    let tasks = ecs
        .list_tasks()
        .cluster(&cluster)
        .send()
        .await
        .unwrap()
        .task_arns
        .unwrap_or_default();
    assert_eq!(tasks.len(), 1, "one ECS task for the first task");

    let recorded = response(invoke(
        &built("recorder", "updraft-recorder"),
        &env,
        ecs_event(&cluster, &tasks[0], "STOPPED", 0),
    ));
    assert_eq!(recorded["recorded"], true, "{recorded}");

    let ticked = response(invoke(
        &built("planner", "updraft-planner"),
        &env,
        json!({"source": "aws.events", "detail-type": "Scheduled Event"}),
    ));
    assert_eq!(
        (ticked["created"].as_u64(), ticked["advanced"].as_u64()),
        (Some(0), Some(1)),
        "{ticked}"
    );
    let show = world.show("etl", &run_id);
    assert_eq!(World::task(&show, "extract"), ("succeeded".into(), 1));
    assert_eq!(World::task(&show, "load"), ("queued".into(), 1));
}
