//! Retention on DynamoDB: every item of an ended run carries its expiry
//! (`expires_at`, the table's TTL attribute; moto never deletes by it, so
//! the attribute is what is checked), none of an active run does, the
//! run a DAG ended last is kept as it nears its horizon, and a rerun
//! takes the expiry off what it runs again.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use updraft_aws::clients::Clients;
use updraft_aws::dynamo::EXPIRES_AT;
use updraft_aws::keys;
use updraft_aws::testing::sdk;
use updraft_core::ids::TaskId;
use updraft_core::plan::Rerun;
use updraft_core::state::{RunState, TaskState};
use updraft_engine::Engine;
use updraft_engine::memory::ManualClock;
use updraft_engine::usecase::RunRequest;

use crate::functions::{World, key, world};

/// Kept two days; `a` produces an artifact, so lineage records are kept
/// too.
const KEPT: &str = "dag: kept\nretention: 2d\ntasks:\n  - id: a\n    command: [echo, a]\n    produces: [\"s3://lake/{{ ds }}/a\"]\n  - id: b\n    after: [a]\n    command: [echo, b]\n";

const TWO_DAYS: i64 = 2 * 86_400;

type Expiries = BTreeMap<(String, String), Option<i64>>;

/// Every item kept of a run, by key, with its expiry if it has one: the
/// run and its date's claim, its partition (instances, tries, audit,
/// lineage), each try's launch handle and each lineage record's twin.
async fn items_of(world: &World, dag: &str, run_id: &str) -> Expiries {
    let db = aws_sdk_dynamodb::Client::new(&sdk());
    let table = &world.settings.table;
    let expiry = |item: &std::collections::HashMap<String, AttributeValue>| {
        item.get(EXPIRES_AT)
            .map(|v| v.as_n().unwrap().parse::<i64>().unwrap())
    };
    let text = |item: &std::collections::HashMap<String, AttributeValue>, name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let query = |pk: String| {
        db.query()
            .table_name(table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .send()
    };
    let mut found = Expiries::new();
    let mut more = Vec::new();
    for item in query(keys::run_pk(dag, run_id)).await.unwrap().items() {
        let sk = text(item, "SK");
        if sk.starts_with("TRY#") && item.contains_key("handle") {
            more.push((keys::handle_pk(&text(item, "handle")), "HANDLE".to_string()));
        }
        if sk.starts_with("ARTIFACT#") {
            for twin in query(keys::artifact_pk(&text(item, "uri")))
                .await
                .unwrap()
                .items()
            {
                if text(twin, "run_id") == run_id {
                    found.insert((text(twin, "PK"), text(twin, "SK")), expiry(twin));
                }
            }
        }
        found.insert((text(item, "PK"), sk), expiry(item));
    }
    let run = world
        .engine
        .ports()
        .store
        .run(dag, run_id)
        .await
        .unwrap()
        .unwrap();
    more.push((keys::dag_pk(dag), keys::run_sk(run_id)));
    more.push((keys::dag_pk(dag), keys::date_sk(run.logical_date)));
    for (pk, sk) in more {
        let got = db
            .get_item()
            .table_name(table)
            .key("PK", AttributeValue::S(pk.clone()))
            .key("SK", AttributeValue::S(sk.clone()))
            .send()
            .await
            .unwrap();
        let item = got.item().unwrap_or_else(|| panic!("{pk} {sk} is kept"));
        found.insert((pk, sk), expiry(item));
    }
    found
}

/// Asserts every item expires about `retention` after `from`; launch
/// handles, as their tries launched, a month later still.
fn expire_about(items: &Expiries, from: DateTime<Utc>, retention: i64, as_launched: bool) {
    for ((pk, sk), at) in items {
        let slack = match as_launched && pk.starts_with("HANDLE#") {
            true => 30 * 86_400,
            false => 0,
        };
        let expected = from.timestamp() + retention + slack;
        let at = at.unwrap_or_else(|| panic!("{pk} {sk} has no expiry"));
        assert!(
            (at - expected).abs() < 120,
            "{pk} {sk} expires at {at}, about {expected} expected"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_runs_items_carry_its_expiry_and_an_active_ones_none() {
    let mut world = world(KEPT).await;
    let run = world
        .engine
        .trigger("kept", RunRequest::by("tester"))
        .await
        .unwrap();
    let active = items_of(&world, "kept", &run.run_id).await;
    assert!(active.len() >= 4, "{active:?}");
    assert!(
        active.values().all(Option::is_none),
        "an active run's items never expire: {active:?}"
    );
    let state = world.run_until_idle("kept", &run.run_id, None).await;
    assert_eq!(state, RunState::Succeeded);
    let items = items_of(&world, "kept", &run.run_id).await;
    let kinds = |prefix: &str| {
        items
            .keys()
            .filter(|(pk, sk)| pk.starts_with(prefix) || sk.starts_with(prefix))
            .count()
    };
    assert_eq!(kinds("TASK#"), 2);
    assert_eq!(kinds("TRY#"), 2);
    assert_eq!(kinds("HANDLE#"), 2);
    assert_eq!(kinds("ARTIFACT#"), 2, "a lineage record and its twin");
    assert_eq!(kinds("DATE#"), 1);
    expire_about(&items, Utc::now(), TWO_DAYS, true);

    let ttl = aws_sdk_dynamodb::Client::new(&sdk())
        .describe_time_to_live()
        .table_name(&world.settings.table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some(EXPIRES_AT));
    assert_eq!(
        ttl.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_ended_last_is_kept_near_its_horizon_and_a_rerun_takes_the_expiry_off() {
    let mut world = world(KEPT).await;
    let run = world
        .engine
        .trigger("kept", RunRequest::by("tester"))
        .await
        .unwrap();
    let state = world.run_until_idle("kept", &run.run_id, None).await;
    assert_eq!(state, RunState::Succeeded);
    let meta = world
        .engine
        .ports()
        .store
        .dag("kept")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta.last_ended_run.as_deref(), Some(run.run_id.as_str()));
    let ended = meta.last_ended_at.unwrap();

    // Within a day of its horizon (half of its two days), the tick keeps it
    // two days from then; before, it leaves it.
    let later = ended + Duration::hours(36);
    let clock = Arc::new(ManualClock::new(ended + Duration::hours(20)));
    let mut ports = world.settings.ports(&Clients::new(&sdk()));
    ports.clock = clock.clone();
    let ticking = Engine::new(ports);
    ticking.tick().await.unwrap();
    let before = items_of(&world, "kept", &run.run_id).await;
    expire_about(&before, ended, TWO_DAYS, true);
    clock.set(later);
    ticking.tick().await.unwrap();
    let kept = items_of(&world, "kept", &run.run_id).await;
    assert_eq!(kept.len(), before.len());
    expire_about(&kept, later, TWO_DAYS, false);
    let meta = world
        .engine
        .ports()
        .store
        .dag("kept")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta.last_ended_at, Some(later), "kept then");

    // A rerun runs `b` again: the run and its claim no longer expire,
    // nor what runs again.
    let request = Rerun {
        tasks: vec![TaskId::parse("b").unwrap()],
        ..Rerun::default()
    };
    world
        .engine
        .rerun("kept", &run.run_id, &request, "tester", None)
        .await
        .unwrap();
    let rerun = items_of(&world, "kept", &run.run_id).await;
    let date = keys::date_sk(run.logical_date);
    for (pk, sk) in [
        (keys::dag_pk("kept"), keys::run_sk(&run.run_id)),
        (keys::dag_pk("kept"), date),
        (keys::run_pk("kept", &run.run_id), keys::task_sk(&key("b"))),
    ] {
        assert_eq!(rerun[&(pk.clone(), sk.clone())], None, "{pk} {sk}");
    }
    let b = world
        .engine
        .ports()
        .store
        .instance("kept", &run.run_id, &key("b"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.state, TaskState::Queued);
}
