//! Issue 13, data-driven and cross-DAG runs on AWS: an object created in a watched
//! bucket, its EventBridge event delivered to the planner, starts one run
//! of the DAG whose `artifact:` pattern it matches, with the pattern's
//! parts as params, also when the event comes twice; with `debounce`, five
//! objects start one run listing all five; a run ending on ECS starts one
//! of the DAG waiting for it.

use serde_json::{Value, json};
use updraft_aws::clients::Clients;
use updraft_aws::functions::planner;
use updraft_aws::schema::create_bucket;
use updraft_aws::testing::{deployment, s3, sdk, unique};
use updraft_core::state::{RunKind, RunState};
use updraft_engine::ports::RunQuery;

use crate::functions::deploy_spec;

/// What S3 sends EventBridge for a new object, as the rule delivers it.
fn object_created(bucket: &str, key: &str, version: Option<&str>, at: &str) -> Value {
    json!({
        "version": "0", "id": unique("event"), "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": at, "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0", "bucket": {"name": bucket},
            "object": {"key": key, "size": 7, "version-id": version},
            "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012", "reason": "PutObject"
        }
    })
}

async fn consumer_runs(engine: &updraft_engine::Engine) -> Vec<updraft_core::state::Run> {
    let query = RunQuery {
        dag: Some("report".into()),
        ..RunQuery::default()
    };
    engine.ports().store.runs(&query).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_in_a_watched_bucket_starts_one_run_also_when_told_twice() {
    let clients = Clients::new(&sdk());
    let settings = deployment(&clients).await;
    let engine = settings.engine_over(&clients);
    let lake = unique("lake");
    create_bucket(&clients.s3, &lake).await.unwrap();
    let spec = format!(
        "dag: report\ntriggers:\n  - artifact: \"s3://{lake}/raw/{{date}}/*.parquet\"\ntasks:\n  - id: build\n    command: [echo, '{{{{ params.date }}}}']\n"
    );
    deploy_spec(&settings, &engine, &spec).await;
    let put = s3()
        .put_object()
        .bucket(&lake)
        .key("raw/2026-11-20/orders.parquet")
        .body(b"parquet".to_vec().into())
        .send()
        .await
        .unwrap();
    let event = object_created(
        &lake,
        "raw/2026-11-20/orders.parquet",
        put.version_id(),
        "2026-11-21T03:00:00Z",
    );
    let first = planner(&engine, &settings.bucket, &event).await.unwrap();
    assert_eq!(first["runs"].as_array().unwrap().len(), 1, "{first}");
    let again = planner(&engine, &settings.bucket, &event).await.unwrap();
    assert_eq!(again["runs"], json!([]), "{again}");
    let runs = consumer_runs(&engine).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].kind, RunKind::Triggered);
    assert_eq!(runs[0].params["date"], "2026-11-20");
    let told = &runs[0].trigger.as_ref().unwrap().events[0];
    assert_eq!(
        told["uri"],
        format!("s3://{lake}/raw/2026-11-20/orders.parquet")
    );
    assert_eq!(told["version"], json!(put.version_id()));
    assert_eq!(runs[0].state, RunState::Running, "started at once");
    let other = object_created(&lake, "raw/notes.txt", None, "2026-11-21T03:00:01Z");
    let none = planner(&engine, &settings.bucket, &other).await.unwrap();
    assert_eq!(none["runs"], json!([]), "no pattern matches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_objects_within_the_debounce_window_start_one_run_listing_five() {
    let clients = Clients::new(&sdk());
    let settings = deployment(&clients).await;
    let engine = settings.engine_over(&clients);
    let lake = unique("lake");
    let spec = format!(
        "dag: report\ntriggers:\n  - artifact: \"s3://{lake}/raw/{{date}}/*.parquet\"\n    debounce: 5m\ntasks:\n  - id: build\n    command: [echo, '{{{{ trigger.events | length }}}}']\n"
    );
    deploy_spec(&settings, &engine, &spec).await;
    // Objects created over two minutes of the same five-minute window
    // (their events' times); the planner hears each once, the third twice.
    for i in 0..5 {
        let at = format!("2099-01-01T00:0{}:00Z", i / 2);
        let event = object_created(
            &lake,
            &format!("raw/2099-01-01/part-{i}.parquet"),
            None,
            &at,
        );
        planner(&engine, &settings.bucket, &event).await.unwrap();
        if i == 2 {
            planner(&engine, &settings.bucket, &event).await.unwrap();
        }
    }
    let runs = consumer_runs(&engine).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let trigger = runs[0].trigger.as_ref().unwrap();
    assert_eq!(trigger.events.len(), 5);
    assert_eq!(runs[0].state, RunState::Queued, "its window is still open");
    assert_eq!(runs[0].params["date"], "2099-01-01");
}

/// A run of one DAG ending (told by ECS through the recorder) starts one
/// run of the DAG that waits for it, with its logical date; a failed one
/// starts none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_ending_on_ecs_starts_one_run_of_the_dag_waiting_for_it() {
    use updraft_aws::specs::deploy;
    use updraft_aws::testing::Player;
    use updraft_core::spec::SpecFile;
    use updraft_engine::usecase::RunRequest;

    let clients = Clients::new(&sdk());
    let settings = deployment(&clients).await;
    let engine = settings.engine_over(&clients);
    let files = [
        (
            "a.yaml",
            "dag: a\ntasks:\n  - id: t\n    command: [echo, a]\n",
        ),
        (
            "b.yaml",
            "dag: b\ntriggers:\n  - dag: a\ntasks:\n  - id: t\n    command: [echo, b]\n",
        ),
    ]
    .map(|(name, text)| SpecFile {
        name: name.into(),
        text: text.into(),
    });
    deploy(
        &s3(),
        &settings.bucket,
        engine.ports().store.as_ref(),
        &files,
    )
    .await
    .unwrap();
    let mut player = Player::new(&settings);
    let b_runs = |engine: &updraft_engine::Engine| {
        let query = RunQuery {
            dag: Some("b".into()),
            ..RunQuery::default()
        };
        let store = engine.ports().store.clone();
        async move { store.runs(&query).await.unwrap() }
    };

    let failed = engine.trigger("a", RunRequest::by("ana")).await.unwrap();
    player
        .run_until_idle(&engine, 30, crate::functions::failing(Some("t")))
        .await;
    let failed = engine
        .ports()
        .store
        .run("a", &failed.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.state, RunState::Failed);
    assert!(b_runs(&engine).await.is_empty(), "b waits for a success");

    let upstream = engine.trigger("a", RunRequest::by("ana")).await.unwrap();
    player
        .run_until_idle(&engine, 30, crate::functions::failing(None))
        .await;
    let b = b_runs(&engine).await;
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0].logical_date, upstream.logical_date);
    assert_eq!(b[0].state, RunState::Succeeded, "and it ran");
    assert_eq!(
        b[0].trigger.as_ref().unwrap().events[0]["run_id"],
        upstream.run_id.as_str()
    );
}

/// Issue 28, asset conditions through the planner function: an `all:`
/// trigger's run gathers the first object's event and starts on the
/// second's, within one window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_all_trigger_starts_its_run_once_both_objects_landed_within_its_window() {
    let clients = Clients::new(&sdk());
    let settings = deployment(&clients).await;
    let engine = settings.engine_over(&clients);
    let lake = unique("lake");
    let spec = format!(
        "dag: report\ntriggers:\n  - all:\n      - artifact: \"s3://{lake}/crm/*.json\"\n      - artifact: \"s3://{lake}/erp/*.json\"\n    within: 1h\ntasks:\n  - id: build\n    command: [echo, '{{{{ trigger.events | length }}}}']\n"
    );
    deploy_spec(&settings, &engine, &spec).await;
    let crm = object_created(&lake, "crm/a.json", None, "2099-01-01T10:05:00Z");
    planner(&engine, &settings.bucket, &crm).await.unwrap();
    planner(&engine, &settings.bucket, &crm).await.unwrap();
    let runs = consumer_runs(&engine).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].state, RunState::Queued, "one condition of two");
    assert_eq!(runs[0].trigger.as_ref().unwrap().events.len(), 1);

    let erp = object_created(&lake, "erp/b.json", None, "2099-01-01T10:50:00Z");
    planner(&engine, &settings.bucket, &erp).await.unwrap();
    let runs = consumer_runs(&engine).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].state, RunState::Running, "both landed: it started");
    assert_eq!(runs[0].trigger.as_ref().unwrap().events.len(), 2);
    assert_eq!(
        runs[0].logical_date.to_rfc3339(),
        "2099-01-01T10:00:00+00:00",
        "the window's start"
    );
}
