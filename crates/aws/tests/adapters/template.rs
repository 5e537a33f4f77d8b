//! `infra/template.yaml` declares the resources exactly as `updraft aws
//! init` and the adapters make and use them: one source of names and
//! numbers, checked here.

use std::path::Path;

use serde_json::{Value, json};
use updraft_aws::keys::{ACTIVE, ACTIVE_INDEX, CREATED_AT, PK, SK};
use updraft_aws::schema::{MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_SECS};

fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    updraft_core::yaml::parse(&text).unwrap().to_json()
}

fn resource(name: &str) -> Value {
    template()["Resources"][name].clone()
}

#[test]
fn the_table_has_the_keys_and_index_the_store_uses() {
    let table = resource("StateTable");
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        p["KeySchema"],
        json!([{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}])
    );
    let attributes: Vec<&str> = p["AttributeDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["AttributeName"].as_str().unwrap())
        .collect();
    assert_eq!(attributes, [PK, SK, ACTIVE, CREATED_AT]);
    let index = &p["GlobalSecondaryIndexes"][0];
    assert_eq!(index["IndexName"], ACTIVE_INDEX);
    assert_eq!(
        index["KeySchema"],
        json!([{"AttributeName": ACTIVE, "KeyType": "HASH"}, {"AttributeName": CREATED_AT, "KeyType": "RANGE"}])
    );
    assert_eq!(index["Projection"]["ProjectionType"], "ALL");
}

#[test]
fn the_queues_have_the_redrive_and_visibility_the_dispatcher_counts_on() {
    let queue = resource("TaskQueue");
    assert_eq!(
        queue["Properties"]["VisibilityTimeout"],
        VISIBILITY_TIMEOUT_SECS
    );
    assert_eq!(
        queue["Properties"]["RedrivePolicy"]["maxReceiveCount"],
        MAX_RECEIVE_COUNT
    );
    assert_eq!(resource("TaskDeadLetterQueue")["Type"], "AWS::SQS::Queue");
}

#[test]
fn the_bucket_is_versioned_and_the_cluster_exists() {
    assert_eq!(
        resource("SpecBucket")["Properties"]["VersioningConfiguration"]["Status"],
        "Enabled"
    );
    assert_eq!(resource("Cluster")["Type"], "AWS::ECS::Cluster");
}

/// What `updraft aws init` creates on moto matches the template.
#[tokio::test]
async fn aws_init_creates_what_the_template_declares() {
    let config = updraft_aws::testing::sdk();
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let table = updraft_aws::testing::unique("template");
    updraft_aws::schema::create_table(&dynamo, &table)
        .await
        .unwrap();
    let described = dynamo
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let created = described.table().unwrap();
    let keys: Vec<(&str, &str)> = created
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [(PK, "HASH"), (SK, "RANGE")]);
    let index = &created.global_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some(ACTIVE_INDEX));
    let index_keys: Vec<&str> = index
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(index_keys, [ACTIVE, CREATED_AT]);

    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = updraft_aws::schema::create_queues(&sqs, &updraft_aws::testing::unique("template"))
        .await
        .unwrap();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let get = |name| attributes.get(&name).cloned().unwrap_or_default();
    assert_eq!(
        get(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout),
        VISIBILITY_TIMEOUT_SECS.to_string()
    );
    let redrive: Value =
        serde_json::from_str(&get(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)).unwrap();
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        MAX_RECEIVE_COUNT.to_string()
    );
}
