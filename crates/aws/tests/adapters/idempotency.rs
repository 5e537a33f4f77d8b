//! Idempotency on AWS: the same SQS message twice at once; the
//! same event twice, out of order, or for an old try; a dispatcher that dies
//! between RunTask and its state write. Exactly one ECS task per try.

use std::time::Duration;
use updraft_engine::usecase::RunRequest;

use serde_json::json;
use updraft_aws::functions::{dispatcher, recorder};
use updraft_core::ids::TaskId;
use updraft_core::plan::start_launch;
use updraft_core::state::{TaskKey, TaskState};
use updraft_engine::ports::LaunchRequest;

use crate::functions::{CHAIN, World, failing, world, world_with};
use updraft_aws::testing::ecs_event;

fn key(task: &str) -> TaskKey {
    TaskKey::task(TaskId::parse(task).unwrap())
}

async fn tasks_started(world: &World) -> usize {
    let cluster = &world.settings.ecs.cluster;
    let mut arns = Vec::new();
    for status in [
        aws_sdk_ecs::types::DesiredStatus::Running,
        aws_sdk_ecs::types::DesiredStatus::Stopped,
    ] {
        let out = world
            .player
            .ecs
            .list_tasks()
            .cluster(cluster)
            .desired_status(status)
            .send()
            .await
            .unwrap();
        arns.extend(out.task_arns.unwrap_or_default());
    }
    arns.len()
}

/// The launch handle of try `n` of task `a`.
async fn handle_of_try(world: &World, run_id: &str, n: u32) -> String {
    let attempt = world
        .engine
        .ports()
        .store
        .attempt("retry", run_id, &key("a"), n)
        .await
        .unwrap();
    attempt
        .and_then(|a| a.handle)
        .expect("the try was launched")
}

/// The queue's next message sent once more (SQS delivers at least once);
/// its body.
async fn duplicate_next_message(world: &World) -> String {
    let sqs = &world.player.sqs;
    let queue = &world.settings.queue_url;
    let out = sqs.receive_message().queue_url(queue).send().await.unwrap();
    let message = &out.messages()[0];
    sqs.change_message_visibility()
        .queue_url(queue)
        .receipt_handle(message.receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let body = message.body().unwrap().to_string();
    sqs.send_message()
        .queue_url(queue)
        .message_body(&body)
        .send()
        .await
        .unwrap();
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_message_twice_and_at_once_launches_once() {
    let world = world(CHAIN).await;
    let run = world
        .engine
        .trigger("chain", RunRequest::by("tester"))
        .await
        .unwrap();
    let body = duplicate_next_message(&world).await;
    // Two dispatchers at once, each perhaps with one of the two copies.
    let ring = json!({});
    let (first, second) = tokio::join!(
        dispatcher(&world.engine, &ring),
        dispatcher(&world.engine, &ring)
    );
    let received = first.unwrap()["received"].as_u64().unwrap()
        + second.unwrap()["received"].as_u64().unwrap();
    assert_eq!(received, 2, "both copies settled");
    // And once more after both.
    world
        .player
        .sqs
        .send_message()
        .queue_url(&world.settings.queue_url)
        .message_body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        dispatcher(&world.engine, &json!({})).await.unwrap()["received"],
        1
    );
    assert_eq!(tasks_started(&world).await, 1);
    let a = world
        .engine
        .ports()
        .store
        .instance("chain", &run.run_id, &key("a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.state, a.try_number), (TaskState::Running, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_twice_out_of_order_or_for_an_old_try_are_dropped() {
    let spec = "dag: retry\ndefaults: { retries: 1, retry_delay: 0s }\ntasks:\n  - id: a\n    command: [echo]\n";
    let world = world(spec).await;
    let run = world
        .engine
        .trigger("retry", RunRequest::by("tester"))
        .await
        .unwrap();
    let cluster = world.settings.ecs.cluster.clone();
    world.player.deliver(&world.engine).await;
    let first = handle_of_try(&world, &run.run_id, 1).await;
    assert_eq!(
        recorder(&world.engine, &ecs_event(&cluster, &first, "STOPPED", 1))
            .await
            .unwrap()["recorded"],
        true
    );
    world.engine.tick().await.unwrap();
    world.player.deliver(&world.engine).await;
    let second = handle_of_try(&world, &run.run_id, 2).await;
    assert_ne!(first, second);
    let old = ecs_event(&cluster, &first, "STOPPED", 0);
    assert_eq!(
        recorder(&world.engine, &old).await.unwrap()["recorded"],
        false,
        "an event for the old try"
    );
    let early = ecs_event(&cluster, &second, "RUNNING", 0);
    assert_eq!(
        recorder(&world.engine, &early).await.unwrap()["recorded"],
        false,
        "not an end"
    );
    let done = ecs_event(&cluster, &second, "STOPPED", 0);
    assert_eq!(
        recorder(&world.engine, &done).await.unwrap()["recorded"],
        true
    );
    assert_eq!(
        recorder(&world.engine, &done).await.unwrap()["recorded"],
        false,
        "the same event twice"
    );
    let late = ecs_event(&cluster, &second, "RUNNING", 0);
    assert_eq!(
        recorder(&world.engine, &late).await.unwrap()["recorded"],
        false,
        "a RUNNING event after the end"
    );
    let run = world
        .engine
        .ports()
        .store
        .run("retry", &run.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.state, updraft_core::state::RunState::Succeeded);
    assert_eq!(tasks_started(&world).await, 2, "one task per try");
}

/// The dispatcher moved the try to `launching` and called RunTask, then
/// died. Reconciliation queues the try again; the retried launch finds the
/// task by its token instead of starting another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_dying_after_run_task_does_not_start_a_second_task() {
    let settings = updraft_engine::Settings {
        relaunch_after: Duration::ZERO,
        ..updraft_engine::Settings::default()
    };
    let mut world = world_with(CHAIN, settings).await;
    let run = world
        .engine
        .trigger("chain", RunRequest::by("tester"))
        .await
        .unwrap();
    // The dying dispatcher's delivery: received, never acknowledged.
    let held = world
        .player
        .sqs
        .receive_message()
        .queue_url(&world.settings.queue_url)
        .send()
        .await
        .unwrap();
    assert_eq!(held.messages().len(), 1);
    let store = world.engine.ports().store.clone();
    let queued = store
        .instance("chain", &run.run_id, &key("a"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .update_instance(
                "chain",
                &run.run_id,
                &start_launch(&queued, 1, chrono::Utc::now()).unwrap(),
                &[]
            )
            .await
            .unwrap()
    );
    let request = LaunchRequest {
        dag: "chain".into(),
        run_id: run.run_id.clone(),
        key: key("a"),
        try_number: 1,
        task: updraft_core::template::RenderedTask {
            image: None,
            command: Some(vec!["echo".into(), "a".into()]),
            ..Default::default()
        },
        compute: None,
        timeout: None,
        relaunch: false,
    };
    // As the dispatcher does, the try's record is written before RunTask.
    let attempt = updraft_core::state::Attempt::new(key("a"), 1, TaskState::Launching);
    assert!(
        store
            .put_new_attempt("chain", &run.run_id, &attempt)
            .await
            .unwrap()
    );
    world
        .engine
        .ports()
        .launcher
        .launch(&request)
        .await
        .unwrap();
    world.engine.tick().await.unwrap();
    assert!(
        world.player.deliver(&world.engine).await >= 1,
        "the try was queued again"
    );
    assert_eq!(
        tasks_started(&world).await,
        1,
        "the retry found the task RunTask started"
    );
    let a = store
        .instance("chain", &run.run_id, &key("a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.state, a.try_number), (TaskState::Running, 1));
    assert_eq!(world.player.finish(&world.engine, failing(None)).await, 1);
    assert_eq!(world.player.launches_of("a"), 1);
}
