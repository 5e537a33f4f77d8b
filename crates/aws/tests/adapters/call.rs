//! `kind: aws`'s caller against the emulator, one service per protocol:
//! Glue and Athena (JSON), Lambda and Batch (REST-JSON), S3 (REST-XML),
//! through one signed client without a client crate per service.

use serde_json::{Value, json};
use updraft_aws::call::Caller;
use updraft_aws::testing::{s3, sdk, unique};

fn caller() -> Caller {
    Caller::new(&sdk())
}

#[tokio::test]
async fn json_protocol_actions_start_and_describe_what_they_name() {
    let _athena = crate::kinds::ATHENA.lock().await;
    let aws = caller();
    let crawler = unique("crawler");
    aws.call(
        "glue",
        "CreateCrawler",
        &json!({"Name": crawler, "Role": "arn:aws:iam::123456789012:role/glue", "Targets": {"S3Targets": [{"Path": "s3://lake/raw"}]}}),
    )
    .await
    .unwrap();
    aws.call("glue", "StartCrawler", &json!({"Name": crawler}))
        .await
        .unwrap();
    let got = aws
        .call("glue", "GetCrawler", &json!({"Name": crawler}))
        .await
        .unwrap();
    assert_eq!(got["Crawler"]["Name"], crawler.as_str());
    assert_eq!(got["Crawler"]["State"], "RUNNING");
    let missing = aws
        .call("glue", "GetCrawler", &json!({"Name": "no-such-crawler"}))
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    assert_eq!(missing.code, "EntityNotFoundException");
    let started = aws
        .call(
            "athena",
            "StartQueryExecution",
            &json!({"QueryString": "SELECT 1", "ResultConfiguration": {"OutputLocation": "s3://results/"}}),
        )
        .await
        .unwrap();
    let id = started["QueryExecutionId"].as_str().unwrap();
    let query = aws
        .call(
            "athena",
            "GetQueryExecution",
            &json!({"QueryExecutionId": id}),
        )
        .await
        .unwrap();
    assert_eq!(query["QueryExecution"]["Query"], "SELECT 1");
}

#[tokio::test]
async fn rest_protocols_put_parameters_in_the_path_query_and_headers() {
    let aws = caller();
    let bucket = unique("sensor");
    s3().create_bucket().bucket(&bucket).send().await.unwrap();
    let head = json!({"Bucket": bucket, "Key": "raw/2026-12-01/_SUCCESS"});
    let before = aws.call("s3", "HeadObject", &head).await.unwrap_err();
    assert!(before.is_not_found(), "{before}");
    s3().put_object()
        .bucket(&bucket)
        .key("raw/2026-12-01/_SUCCESS")
        .body(b"ok".to_vec().into())
        .send()
        .await
        .unwrap();
    let after = aws.call("s3", "HeadObject", &head).await.unwrap();
    assert_eq!(after["ContentLength"], "2");
    let listed = aws
        .call(
            "s3",
            "ListObjectsV2",
            &json!({"Bucket": bucket, "Prefix": "raw/"}),
        )
        .await
        .unwrap();
    assert_eq!(listed["KeyCount"], "1");
    assert_eq!(listed["Contents"]["Key"], "raw/2026-12-01/_SUCCESS");
    let queue = aws
        .call(
            "batch",
            "DescribeJobQueues",
            &json!({"jobQueues": ["no-such-queue"]}),
        )
        .await
        .unwrap();
    assert_eq!(queue["jobQueues"], json!([]));
    let unknown = aws
        .call(
            "lambda",
            "GetFunction",
            &json!({"FunctionName": "no-such-function"}),
        )
        .await
        .unwrap_err();
    assert!(unknown.is_not_found(), "{unknown}");
    assert_eq!(unknown.code, "ResourceNotFoundException");
}

#[tokio::test]
async fn what_cannot_be_called_is_said_in_one_line() {
    let aws = caller();
    let err = aws
        .call("glue", "GetCrawler", &json!("x"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("parameters must be a mapping"),
        "{err}"
    );
    let err = aws.call("nosuch", "Do", &Value::Null).await.unwrap_err();
    assert!(err.message.starts_with("no AWS service `nosuch`"), "{err}");
    let err = aws.call("lambda", "Jump", &Value::Null).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "lambda Jump: UnknownOperation: lambda has no action `Jump`"
    );
    let err = aws.call("sns", "Publish", &Value::Null).await.unwrap_err();
    assert!(err.message.contains("Query protocol"), "{err}");
}
