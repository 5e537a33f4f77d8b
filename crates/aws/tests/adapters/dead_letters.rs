//! A message whose dispatch keeps failing: redelivered, each time after a
//! longer backoff, until its last delivery, which fails its try with the
//! reason; SQS then moves it to the
//! dead-letter queue. The failure is injected by an SDK interceptor that
//! refuses every write marking a try `launching` (a DynamoDB outage for
//! that one write), so everything else still talks to moto.

use aws_sdk_dynamodb::config::SharedInterceptor;
use aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount;
use serde_json::{Value, json};
use updraft_aws::clients::Clients;
use updraft_aws::functions::dispatcher;
use updraft_aws::schema::MAX_RECEIVE_COUNT;
use updraft_aws::testing::{FailOperation, RefuseState, sdk, sqs_record};
use updraft_core::state::{RunState, TaskState};
use updraft_engine::Engine;
use updraft_engine::usecase::RunRequest;

use crate::functions::{CHAIN, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_fails_its_try_and_lands_in_the_dead_letter_queue() {
    let world = world(CHAIN).await;
    let faulty = Engine::new(world.settings.ports(&Clients::with_interceptors(
        &sdk(),
        &[SharedInterceptor::new(RefuseState("launching"))],
    )));
    let run = world
        .engine
        .trigger("chain", RunRequest::by("tester"))
        .await
        .unwrap();
    let sqs = &world.player.sqs;
    let queue = &world.settings.queue_url;
    for delivery in 1..=MAX_RECEIVE_COUNT {
        let received = sqs
            .receive_message()
            .queue_url(queue)
            .visibility_timeout(0)
            .message_system_attribute_names(ApproximateReceiveCount)
            .send()
            .await
            .unwrap();
        let message = &received.messages()[0];
        let count = &message.attributes().unwrap()[&ApproximateReceiveCount];
        assert_eq!(count, &delivery.to_string());
        let event = json!({ "Records": [sqs_record(message)] });
        let response = serde_json::to_value(dispatcher(&faulty, &event).await.unwrap()).unwrap();
        assert_eq!(
            response["batchItemFailures"][0]["itemIdentifier"],
            Value::from(message.message_id()),
            "delivery {delivery} is reported as failed"
        );
        if delivery < MAX_RECEIVE_COUNT {
            let hidden = sqs.receive_message().queue_url(queue).send().await.unwrap();
            assert!(
                hidden.messages().is_empty(),
                "delivery {delivery} is hidden for its backoff"
            );
            // The backoff passes.
            sqs.change_message_visibility()
                .queue_url(queue)
                .receipt_handle(message.receipt_handle().unwrap())
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        }
    }
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
    let outage = Engine::new(world.settings.ports(&Clients::with_interceptors(
        &sdk(),
        &[SharedInterceptor::new(FailOperation::new("RunTask", 10))],
    )));
    let run = world
        .engine
        .trigger("chain", RunRequest::by("tester"))
        .await
        .unwrap();
    let sqs = &world.player.sqs;
    let queue = &world.settings.queue_url;
    let receive = || {
        sqs.receive_message()
            .queue_url(queue)
            .message_system_attribute_names(ApproximateReceiveCount)
            .send()
    };
    let first = receive().await.unwrap().messages()[0].clone();
    let response = serde_json::to_value(
        dispatcher(&outage, &json!({ "Records": [sqs_record(&first)] }))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(response["batchItemFailures"].as_array().unwrap().len(), 1);
    let store = world.engine.ports().store.clone();
    let a = store
        .instance("chain", &run.run_id, &crate::functions::key("a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.state, a.try_number), (TaskState::Queued, 1));
    assert!(
        receive().await.unwrap().messages().is_empty(),
        "hidden for its backoff"
    );
    sqs.change_message_visibility()
        .queue_url(queue)
        .receipt_handle(first.receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let second = receive().await.unwrap().messages()[0].clone();
    let response = dispatcher(&world.engine, &json!({ "Records": [sqs_record(&second)] }))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(response).unwrap()["batchItemFailures"],
        json!([])
    );
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
