//! The resources the adapters need, created the way `infra/template.yaml`
//! declares them: for `updraft aws init` on an emulator, and for tests.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use updraft_engine::ports::{PortError, PortResult};

use crate::dynamo::EXPIRES_AT;
use crate::keys::{ACTIVE, ACTIVE_INDEX, CREATED_AT, PK, SK};
use crate::sdk_error::fail;

/// How often SQS delivers a message that keeps failing before moving it to
/// the dead-letter queue.
pub const MAX_RECEIVE_COUNT: u32 = updraft_engine::usecase::MAX_DELIVERIES;
/// How long a received task message stays hidden: longer than a dispatch.
pub const VISIBILITY_TIMEOUT_SECS: u32 = 120;

fn key(name: &str, kind: KeyType) -> PortResult<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| PortError::new("table schema", e))
}

fn string_attribute(name: &str) -> PortResult<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| PortError::new("table schema", e))
}

/// Creates the state table: on-demand, `PK`/`SK`, and the sparse GSI of
/// active runs (`active`, `created_at`).
pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> PortResult<()> {
    let gsi = GlobalSecondaryIndex::builder()
        .index_name(ACTIVE_INDEX)
        .key_schema(key(ACTIVE, KeyType::Hash)?)
        .key_schema(key(CREATED_AT, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(|e| PortError::new("table schema", e))?;
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .attribute_definitions(string_attribute(PK)?)
        .attribute_definitions(string_attribute(SK)?)
        .attribute_definitions(string_attribute(ACTIVE)?)
        .attribute_definitions(string_attribute(CREATED_AT)?)
        .global_secondary_indexes(gsi)
        .send()
        .await
        .map_err(fail(&format!("creating table {table}")))?;
    // Ended runs' items expire by their `expires_at`, deleted without a
    // billed write.
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(EXPIRES_AT)
        .enabled(true)
        .build()
        .map_err(|e| PortError::new("table schema", e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(fail(&format!("enabling TTL on table {table}")))?;
    Ok(())
}

/// Creates the task queue and its dead-letter queue; returns the task
/// queue's URL.
pub async fn create_queues(client: &aws_sdk_sqs::Client, queue: &str) -> PortResult<String> {
    let dlq = client
        .create_queue()
        .queue_name(format!("{queue}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(fail("creating the dead-letter queue"))?;
    let dlq_url = dlq.queue_url.unwrap_or_default();
    let attributes = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(fail("reading the dead-letter queue"))?;
    let dlq_arn = attributes
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .unwrap_or_default();
    let redrive =
        format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{MAX_RECEIVE_COUNT}"}}"#);
    let created = client
        .create_queue()
        .queue_name(queue)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            VISIBILITY_TIMEOUT_SECS.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .map_err(fail("creating the task queue"))?;
    Ok(created.queue_url.unwrap_or_default())
}

/// Creates the spec and artifact bucket, with versioning on.
pub async fn create_bucket(client: &aws_sdk_s3::Client, bucket: &str) -> PortResult<()> {
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(fail(&format!("creating bucket {bucket}")))?;
    let versioning = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    client
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(versioning)
        .send()
        .await
        .map_err(fail(&format!("turning on versioning of {bucket}")))?;
    Ok(())
}
