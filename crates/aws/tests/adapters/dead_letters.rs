//! A message whose dispatch keeps failing: redelivered after a backoff
//! until its last delivery, which fails its try with the reason; SQS then
//! moves it to the dead-letter queue. The failure is injected by an SDK interceptor that
//! refuses every write marking a try `launching` (a DynamoDB outage for
//! that one write), so everything else still talks to moto.

use std::time::Duration;

use aws_sdk_dynamodb::config::SharedInterceptor;
use serde_json::json;
use updraft_aws::clients::Clients;
use updraft_aws::functions::dispatcher;
use updraft_aws::schema::MAX_RECEIVE_COUNT;
use updraft_aws::testing::{FailOperation, RefuseState, sdk};
use updraft_core::state::{RunState, TaskState};
use updraft_engine::Engine;
use updraft_engine::usecase::RunRequest;

use crate::functions::{CHAIN, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_fails_its_try_and_lands_in_the_dead_letter_queue() {
    let world = world(CHAIN).await;
    // Redelivered at once, so that one drain sees every delivery.
    let faulty = Engine::new(world.settings.ports(&Clients::with_interceptors(
        &sdk(),
        &[SharedInterceptor::new(RefuseState("launching"))],
    )))
    .with_settings(updraft_engine::Settings {
        redelivery_backoff: Duration::ZERO,
        ..updraft_engine::Settings::default()
    });
    let run = world
        .engine
        .trigger("chain", RunRequest::by("tester"))
        .await
        .unwrap();
    let drained = dispatcher(&faulty, &json!({})).await.unwrap();
    assert_eq!(
        drained["received"],
        u64::from(MAX_RECEIVE_COUNT),
        "delivered {MAX_RECEIVE_COUNT} times: {drained}"
    );
    let sqs = &world.player.sqs;
    let queue = &world.settings.queue_url;
    let again = sqs.receive_message().queue_url(queue).send().await.unwrap();
    assert!(
        again.messages().is_empty(),
        "moved on to the dead-letter queue"
    );
    let dlq_url = queue.replace("-tasks", "-tasks-dlq");
    let dead = sqs
        .receive_message()
        .queue_url(&dlq_url)
        .send()
        .await
        .unwrap();
    assert_eq!(dead.messages().len(), 1);

    let store = world.engine.ports().store.clone();
    let a = store
        .instance("chain", &run.run_id, &crate::functions::key("a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.state, TaskState::Failed);
    let reason = a.reason.unwrap_or_default();
    assert!(
        reason.starts_with("could not be dispatched after 5 deliveries: ")
            && reason.contains("injected: DynamoDB is unavailable"),
        "{reason}"
    );
    let run = store.run("chain", &run.run_id).await.unwrap().unwrap();
    assert_eq!(run.state, RunState::Failed);
}

/// Issue 11: ECS RunTask not answering (an outage after the SDK's own
/// retries) puts the try back to `queued`, hides the message for its
/// backoff, uses up no retry, and the next delivery launches it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_task_outage_is_delivered_again_and_launches_once() {
    let world = world(CHAIN).await;
    let backoff = Duration::from_millis(1500);
    let outage = Engine::new(world.settings.ports(&Clients::with_interceptors(
        &sdk(),
        &[SharedInterceptor::new(FailOperation::new("RunTask", 10))],
    )))
    .with_settings(updraft_engine::Settings {
        redelivery_backoff: backoff,
        ..updraft_engine::Settings::default()
    });
    let run = world
        .engine
        .trigger("chain", RunRequest::by("tester"))
        .await
        .unwrap();
    let drained = dispatcher(&outage, &json!({})).await.unwrap();
    assert_eq!(drained["received"], 1, "hidden for its backoff: {drained}");
    let store = world.engine.ports().store.clone();
    let a = store
        .instance("chain", &run.run_id, &crate::functions::key("a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.state, a.try_number), (TaskState::Queued, 1));
    // SQS counts visibility in whole seconds: the backoff rounds down.
    tokio::time::sleep(backoff).await;
    let drained = dispatcher(&world.engine, &json!({})).await.unwrap();
    assert_eq!(drained["received"], 1, "{drained}");
    let a = store
        .instance("chain", &run.run_id, &crate::functions::key("a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.state, a.try_number), (TaskState::Running, 1));
    let tasks = world
        .player
        .ecs
        .list_tasks()
        .cluster(&world.settings.ecs.cluster)
        .send()
        .await
        .unwrap();
    assert_eq!(tasks.task_arns().len(), 1, "one ECS task for the try");
}
