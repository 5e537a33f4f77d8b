//! A message whose dispatch keeps failing: redelivered until its last
//! delivery, which fails its try with the reason; SQS then moves it to the
//! dead-letter queue. The failure is injected by an SDK interceptor that
//! refuses every write marking a try `launching` (a DynamoDB outage for
//! that one write), so everything else still talks to moto.

use aws_sdk_dynamodb::config::SharedInterceptor;
use aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount;
use serde_json::{Value, json};
use updraft_aws::clients::Clients;
use updraft_aws::functions::dispatcher;
use updraft_aws::schema::MAX_RECEIVE_COUNT;
use updraft_aws::testing::{RefuseState, sdk, sqs_record};
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
        let response = dispatcher(&faulty, &event).await.unwrap();
        assert_eq!(
            response["batchItemFailures"][0]["itemIdentifier"],
            Value::from(message.message_id()),
            "delivery {delivery} is reported as failed"
        );
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
