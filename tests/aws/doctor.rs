//! `updraft doctor --stack NAME` on a rehearsed stack: healthy after a
//! tick; then each thing that goes wrong is named, with exit code 1: no
//! tick yet or none for too long, a disabled rule, a message in the
//! dead-letter queue, an error in a function's log.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use updraft_aws::testing::sdk;
use updraft_e2e::World;

use crate::rehearsal::{Rehearsal, Stack};

/// The doctor's findings that are wrong, and its exit code.
fn wrong(world: &World) -> (Vec<String>, i32) {
    let ran = world.run(&["doctor", "--output", "json"]);
    let code = ran.code;
    let findings = ran.json();
    let wrong = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ok"] == false)
        .map(|f| f["what"].as_str().unwrap().to_string())
        .collect();
    (wrong, code)
}

/// Sets the planner's heartbeat as a tick ending at `at` would.
async fn heartbeat(stack: &Stack, at: chrono::DateTime<Utc>) {
    aws_sdk_dynamodb::Client::new(&sdk())
        .put_item()
        .table_name(stack.physical("StateTable"))
        .item("PK", AttributeValue::S(updraft_aws::keys::PLANNER.into()))
        .item("SK", AttributeValue::S(updraft_aws::keys::HEARTBEAT.into()))
        .item(
            "ticked_at",
            AttributeValue::S(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_tells_a_healthy_stack_from_each_thing_that_goes_wrong() {
    let stack = Rehearsal::new("doctor").create().await;
    let world = stack.world();
    assert_eq!(
        wrong(&world),
        (vec!["the planner has never ticked".to_string()], 1)
    );

    // A tick, by the planner's own code over the stack's deployment.
    let engine = stack.settings().engine(&sdk());
    engine.tick().await.unwrap();
    let healthy = world.run(&["doctor"]).expect(0);
    for line in [
        &format!("✔ stack {}: the 13 outputs updraft reads", stack.name),
        "✔ the stack's 7 rules are enabled",
        "✔ the dead-letter queue is empty",
        "✔ every DAG's spec imports",
        "✔ no try running past its timeout",
        "✔ the recorder logged no error in a day",
    ] {
        assert!(healthy.stdout.contains(line), "{line}\n{}", healthy.stdout);
    }
    assert!(
        healthy.stdout.contains("✔ last tick ") && healthy.stdout.contains(" ago, every 60 min"),
        "{}",
        healthy.stdout
    );

    // The hourly safety tick: late after two of them and a minute.
    heartbeat(&stack, Utc::now() - Duration::minutes(130)).await;
    let (found, code) = wrong(&world);
    assert_eq!(code, 1);
    assert_eq!(found, ["the planner last ticked 2 h ago, every 60 min"]);
    engine.tick().await.unwrap();

    let events = aws_sdk_eventbridge::Client::new(&sdk());
    let rule = stack.physical("RecorderFunctionEcsTaskStopped").to_string();
    events.disable_rule().name(&rule).send().await.unwrap();
    assert_eq!(
        wrong(&world),
        (
            vec![format!(
                "rule RecorderFunctionEcsTaskStopped ({rule}) is disabled"
            )],
            1
        )
    );
    events.enable_rule().name(&rule).send().await.unwrap();

    let message = json!({ "dag": "etl", "run_id": "manual__x", "key": { "task_id": "load", "map_index": null }, "try_number": 2 });
    aws_sdk_sqs::Client::new(&sdk())
        .send_message()
        .queue_url(stack.physical("TaskDeadLetterQueue"))
        .message_body(message.to_string())
        .send()
        .await
        .unwrap();
    let (found, code) = wrong(&world);
    assert_eq!(code, 1);
    assert_eq!(
        found,
        ["1 message(s) in the dead-letter queue: etl manual__x load try 2"]
    );
    let ran = world.run(&["doctor"]);
    assert!(
        ran.stdout.contains("aws sqs purge-queue --queue-url"),
        "{}",
        ran.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_shows_a_functions_last_logged_error() {
    let stack = Rehearsal::new("doctorlog").create().await;
    let world = stack.world();
    stack.settings().engine(&sdk()).tick().await.unwrap();
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk());
    let group = stack.physical("RecorderLogGroup");
    logs.create_log_stream()
        .log_group_name(group)
        .log_stream_name("2026/12/06/[$LATEST]abc")
        .send()
        .await
        .unwrap();
    let line: Value =
        json!({ "level": "ERROR", "message": "reading the event: not an EventBridge event" });
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name("2026/12/06/[$LATEST]abc")
        .log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp((Utc::now() - Duration::minutes(5)).timestamp_millis())
                .message(line.to_string())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (found, code) = wrong(&world);
    assert_eq!(code, 1);
    assert_eq!(
        found,
        [format!("the recorder logged an error 5 min ago: {line}")]
    );
}
