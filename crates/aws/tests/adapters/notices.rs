//! Issue 13, events out, on moto: rules on the stack's bus with SQS targets
//! receive exactly the events of a failing run (the template's alert rule
//! only the run's failure); a `PutEvents` outage neither fails nor undoes a
//! change, and the planner's tick publishes what it left in the outbox.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::config::SharedInterceptor;
use serde_json::{Value, json};
use updraft_aws::clients::Clients;
use updraft_aws::functions::planner;
use updraft_aws::settings::Settings;
use updraft_aws::specs::deploy;
use updraft_aws::testing::{FailOperation, Player, deployment, rule_into_queue, s3, sdk, unique};
use updraft_core::spec::SpecFile;
use updraft_core::state::RunState;
use updraft_engine::Engine;
use updraft_engine::usecase::RunRequest;

use crate::functions::{CHAIN, deploy_spec, failing};

/// A bus of the test's own and, per pattern, a rule on it whose target is
/// a fresh queue: returns the queues' URLs, by name.
async fn bus_with_rules(
    clients: &Clients,
    settings: &mut Settings,
    rules: &[(&str, Value)],
) -> BTreeMap<String, String> {
    let bus = unique("bus");
    clients
        .events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .unwrap();
    settings.event_bus = bus.clone();
    let mut queues = BTreeMap::new();
    for (name, pattern) in rules {
        let pattern = pattern.to_string();
        let url = rule_into_queue(&clients.events, &clients.sqs, &bus, name, &pattern).await;
        queues.insert(name.to_string(), url);
    }
    queues
}

/// Every event a queue holds, in the order they were sent.
async fn received(clients: &Clients, url: &str) -> Vec<Value> {
    let mut events = Vec::new();
    for _ in 0..20 {
        let out = clients
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            break;
        }
        for message in out.messages() {
            events.push(serde_json::from_str(message.body().unwrap()).unwrap());
            clients
                .sqs
                .delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    events.sort_by_key(|e: &Value| e["time"].as_str().unwrap_or_default().to_string());
    events
}

/// What each event says: its type's last word, its state, its task.
fn told(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let kind = e["detail-type"]
                .as_str()
                .unwrap()
                .split(' ')
                .nth(1)
                .unwrap();
            let task = e["detail"]["task"].as_str().unwrap_or("-");
            format!("{kind} {} {task}", e["detail"]["state"].as_str().unwrap())
        })
        .collect()
}

/// A rule's pattern in the template, for the stack whose bucket is
/// `bucket` (the parser reads `!Ref SpecBucket` as `SpecBucket`).
fn alert_pattern(rule: &str, bucket: &str) -> Value {
    let template = updraft_aws::testing::template();
    let pattern = template["Resources"][rule]["Properties"]["EventPattern"].to_string();
    serde_json::from_str(&pattern.replace("\"SpecBucket\"", &format!("\"{bucket}\""))).unwrap()
}

/// The bucket the docs' patterns name as a stack's.
const DOCUMENTED_BUCKET: &str = "nightly-specbucket-1x2y3z4w5v6u";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_reaches_the_rules_on_the_stacks_bus_and_the_alert_rule_its_failure() {
    let clients = Clients::new(&sdk());
    let mut settings = deployment(&clients).await;
    let bucket = settings.bucket.clone();
    let queues = bus_with_rules(
        &clients,
        &mut settings,
        &[
            ("all", json!({ "source": ["updraft"] })),
            ("alert", alert_pattern("FailedRunAlertRule", &bucket)),
            ("tries", alert_pattern("FailedTryAlertRule", &bucket)),
            (
                "another_stacks",
                alert_pattern("FailedRunAlertRule", "another-stacks-bucket"),
            ),
        ],
    )
    .await;
    let engine = settings.engine_over(&clients);
    deploy_spec(&settings, &engine, CHAIN).await;
    let run = engine
        .trigger("chain", RunRequest::by("ana"))
        .await
        .unwrap();
    let mut player = Player::new(&settings);
    player.run_until_idle(&engine, 30, failing(Some("b"))).await;

    let all = received(&clients, &queues["all"]).await;
    assert_eq!(
        told(&all),
        [
            "Run queued -",
            "Run running -",
            "Task failed b",
            "Run failed -"
        ]
    );
    for event in &all {
        assert_eq!(event["source"], "updraft");
        assert_eq!(event["detail"]["dag"], "chain");
        assert_eq!(event["detail"]["run_id"], run.run_id.as_str());
        assert_eq!(event["detail"]["triggered_by"], "ana");
        assert_eq!(event["detail"]["spec_version"], run.spec_version.as_str());
        assert_eq!(event["detail"]["id"].as_str().unwrap().len(), 32);
        assert_eq!(event["detail"]["deployment"], settings.bucket.as_str());
    }
    let task = &all[2]["detail"];
    assert_eq!(
        (task["try"].as_u64(), task["gave_up"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(task["reason"], "exit code 1");
    let ended = engine
        .ports()
        .store
        .run("chain", &run.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.state, RunState::Failed);
    assert_eq!(all[3]["detail"]["reason"], json!(ended.reason));

    let alerts = received(&clients, &queues["alert"]).await;
    assert_eq!(told(&alerts), ["Run failed -"], "the alert rule's pattern");
    assert_eq!(alerts[0]["detail"]["id"], all[3]["detail"]["id"]);
    assert_eq!(
        told(&received(&clients, &queues["tries"]).await),
        ["Task failed b"]
    );
    assert_eq!(
        told(&received(&clients, &queues["another_stacks"]).await),
        Vec::<String>::new(),
        "another stack's alert rule on the same bus"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_events_outage_leaves_the_change_and_the_tick_publishes_it_with_its_id() {
    let clients = Clients::new(&sdk());
    let mut settings = deployment(&clients).await;
    let queues = bus_with_rules(
        &clients,
        &mut settings,
        &[("all", json!({ "source": ["updraft"] }))],
    )
    .await;
    let outage = Clients::with_interceptors(
        &sdk(),
        &[SharedInterceptor::new(FailOperation::new("PutEvents", 100))],
    );
    let faulty = settings.engine_over(&outage);
    deploy_spec(&settings, &faulty, CHAIN).await;
    let run = faulty
        .trigger("chain", RunRequest::by("ana"))
        .await
        .expect("the trigger stands though its events are not published");
    let stored = faulty
        .ports()
        .store
        .run("chain", &run.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, RunState::Running);
    assert!(received(&clients, &queues["all"]).await.is_empty());
    let kept = faulty.ports().store.outbox(10).await.unwrap();
    assert_eq!(kept.len(), 2, "queued and running, kept");

    // The bus is back: the next tick publishes them, with their ids.
    let engine: Engine = settings.engine_over(&clients);
    let tick = json!({ "source": "aws.scheduler", "detail-type": "Scheduled Event" });
    planner(&engine, &settings.bucket, &tick).await.unwrap();
    let all = received(&clients, &queues["all"]).await;
    assert_eq!(told(&all), ["Run queued -", "Run running -"]);
    let ids: Vec<&str> = all
        .iter()
        .map(|e| e["detail"]["id"].as_str().unwrap())
        .collect();
    let kept_ids: Vec<&str> = kept.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, kept_ids);
    assert!(engine.ports().store.outbox(10).await.unwrap().is_empty());
    planner(&engine, &settings.bucket, &tick).await.unwrap();
    assert!(
        received(&clients, &queues["all"]).await.is_empty(),
        "published once"
    );
}

/// The event patterns docs/events.md shows, in order.
fn documented_patterns() -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/events.md");
    let text = std::fs::read_to_string(path).unwrap();
    let mut patterns = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match block.as_mut() {
            None if line.trim() == "```json" => block = Some(String::new()),
            Some(body) if line.trim() == "```" => {
                if body.trim_start().starts_with("{ \"source\"") {
                    patterns.push(serde_json::from_str(body).unwrap());
                }
                block = None;
            }
            Some(body) => body.push_str(line),
            None => {}
        }
    }
    patterns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_docs_show_receive_the_events_they_say() {
    let clients = Clients::new(&sdk());
    let mut settings = deployment(&clients).await;
    let patterns: Vec<Value> = documented_patterns()
        .iter()
        .map(|p| {
            let text = p.to_string().replace(DOCUMENTED_BUCKET, &settings.bucket);
            serde_json::from_str(&text).unwrap()
        })
        .collect();
    assert_eq!(patterns.len(), 5, "{patterns:?}");
    assert_eq!(
        patterns[0],
        alert_pattern("FailedRunAlertRule", &settings.bucket)
    );
    assert_eq!(
        patterns[1],
        alert_pattern("FailedTryAlertRule", &settings.bucket)
    );
    let names = ["runs", "tries", "slack", "one_dag", "label"];
    let rules: Vec<(&str, Value)> = names.iter().copied().zip(patterns).collect();
    let queues = bus_with_rules(&clients, &mut settings, &rules).await;
    let engine = settings.engine_over(&clients);
    let nightly = CHAIN.replace("dag: chain", "dag: nightly");
    let other = CHAIN.replace("dag: chain", "dag: other");
    let files = [("nightly.yaml", nightly), ("other.yaml", other)].map(|(name, text)| SpecFile {
        name: name.into(),
        text,
    });
    deploy(
        &s3(),
        &settings.bucket,
        engine.ports().store.as_ref(),
        &files,
    )
    .await
    .unwrap();
    let mut request = RunRequest::by("ana");
    request.labels = vec!["team-ml".into()];
    engine.trigger("nightly", request).await.unwrap();
    engine
        .trigger("other", RunRequest::by("ana"))
        .await
        .unwrap();
    let mut player = Player::new(&settings);
    player.run_until_idle(&engine, 40, failing(Some("b"))).await;

    let mut seen = BTreeMap::new();
    for name in names {
        let events = received(&clients, &queues[name]).await;
        let mut told: Vec<String> = told(&events)
            .into_iter()
            .zip(&events)
            .map(|(t, e)| format!("{} {t}", e["detail"]["dag"].as_str().unwrap()))
            .collect();
        told.sort();
        seen.insert(name, told);
    }
    let expected = BTreeMap::from([
        ("runs", vec!["nightly Run failed -", "other Run failed -"]),
        (
            "tries",
            vec!["nightly Task failed b", "other Task failed b"],
        ),
        ("slack", vec!["nightly Run failed -", "other Run failed -"]),
        ("one_dag", vec!["nightly Run failed -"]),
        ("label", vec!["nightly Task failed b"]),
    ]);
    let expected: BTreeMap<&str, Vec<String>> = expected
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().map(String::from).collect()))
        .collect();
    assert_eq!(seen, expected);
}
