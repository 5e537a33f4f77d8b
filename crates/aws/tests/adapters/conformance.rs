//! The DynamoDB store and the SQS queue pass the engine's port conformance
//! suites against a moto server, racing callers included.

use std::sync::Arc;
use std::time::Duration;

use updraft_aws::dynamo::DynamoStore;
use updraft_aws::schema::{create_queues, create_table};
use updraft_aws::sqs::SqsQueue;
use updraft_engine::ports::StateStore;
use updraft_engine::testing::{QueueUnderTest, StoreHandles, StoreUnderTest};

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

/// A new queue on the moto server, its visibility timeout one second.
async fn fresh_queue() -> QueueUnderTest {
    let config = updraft_aws::testing::sdk();
    let client = aws_sdk_sqs::Client::new(&config);
    let url = create_queues(&client, &updraft_aws::testing::unique("tasks"))
        .await
        .unwrap();
    // The contract waits out a short visibility timeout.
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
    QueueUnderTest {
        queue: Arc::new(SqsQueue::new(client, url)),
        visibility: Duration::from_secs(1),
        keep: None,
    }
}

mod queue_contract {
    updraft_engine::queue_contract!(super::fresh_queue);
}
