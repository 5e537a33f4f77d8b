//! The DynamoDB store and the SQS queue pass the engine's port conformance
//! suites against a moto server, racing callers included.

use std::sync::Arc;
use std::time::Duration;

use updraft_aws::dynamo::DynamoStore;
use updraft_aws::schema::{create_queues, create_table};
use updraft_aws::sqs::SqsQueue;
use updraft_engine::ports::{StateStore, TaskQueue};
use updraft_engine::testing::{StoreHandles, StoreUnderTest, run_queue_suite};

/// Four clients of one new table on the moto server.
async fn fresh_store() -> StoreUnderTest {
    let config = updraft_aws::testing::sdk();
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = updraft_aws::testing::unique("state");
    create_table(&client, &table).await.unwrap();
    let handles = (0..4)
        .map(|_| Arc::new(DynamoStore::new(client.clone(), table.clone())) as Arc<dyn StateStore>)
        .collect::<StoreHandles>();
    StoreUnderTest::new(handles)
}

mod store_contract {
    updraft_engine::store_contract!(super::fresh_store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqs_queue_conforms() {
    let config = updraft_aws::testing::sdk();
    let client = aws_sdk_sqs::Client::new(&config);
    let mut urls = Vec::new();
    for _ in 0..5 {
        let url = create_queues(&client, &updraft_aws::testing::unique("tasks"))
            .await
            .unwrap();
        // The suite waits out a short visibility timeout.
        client
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                "1",
            )
            .send()
            .await
            .unwrap();
        urls.push(url);
    }
    let mut next = urls.into_iter();
    run_queue_suite(
        || {
            Arc::new(SqsQueue::new(
                client.clone(),
                next.next().expect("enough queues"),
            )) as Arc<dyn TaskQueue>
        },
        Duration::from_secs(1),
    )
    .await;
}
