//! The three functions, called in-process with real-shaped events, against
//! moto: a [`Player`] plays Lambda invoking the dispatcher and ECS's
//! state-change events.
//! A chain runs to success with one ECS task per try; a failed run is rerun
//! from its failed task without launching its upstream again.

use serde_json::json;
use updraft_aws::clients::Clients;
use updraft_aws::functions::planner;
use updraft_aws::settings::Settings;
use updraft_aws::testing::{Ending, Player, Started, deployment, s3, sdk, unique};
use updraft_core::ids::TaskId;
use updraft_core::plan::Rerun;
use updraft_core::state::RunState;
use updraft_engine::Engine;
use updraft_engine::usecase::RunRequest;

pub(crate) struct World {
    pub(crate) engine: Engine,
    pub(crate) settings: Settings,
    pub(crate) player: Player,
}

/// Every try succeeds, except those of `failing`.
pub(crate) fn failing(task: Option<&str>) -> impl Fn(&Started) -> Ending + '_ {
    move |started| Ending {
        exit_code: i32::from(Some(started.task_id.as_str()) == task),
        output: None,
    }
}

pub(crate) async fn world(spec: &str) -> World {
    world_with(spec, updraft_engine::Settings::default()).await
}

pub(crate) async fn world_with(spec: &str, engine_settings: updraft_engine::Settings) -> World {
    let clients = Clients::new(&sdk());
    let settings = deployment(&clients).await;
    let engine = settings
        .engine_over(&clients)
        .with_settings(engine_settings);
    deploy_spec(&settings, &engine, spec).await;
    World {
        engine,
        player: Player::new(&settings),
        settings,
    }
}

/// Deploys one spec file to `settings`' deployment through `engine`'s store.
pub(crate) async fn deploy_spec(settings: &Settings, engine: &Engine, spec: &str) {
    updraft_aws::testing::deploy_spec(&s3(), settings, engine, spec).await;
}

impl World {
    /// Delivers and finishes until nothing moves; returns the run state.
    pub(crate) async fn run_until_idle(
        &mut self,
        dag: &str,
        run_id: &str,
        fails: Option<&str>,
    ) -> RunState {
        self.player
            .run_until_idle(&self.engine, 30, failing(fails))
            .await;
        self.engine
            .ports()
            .store
            .run(dag, run_id)
            .await
            .unwrap()
            .unwrap()
            .state
    }
}

pub(crate) fn key(task: &str) -> updraft_core::state::TaskKey {
    updraft_core::state::TaskKey::task(TaskId::parse(task).unwrap())
}

pub(crate) const CHAIN: &str = "dag: chain\ntasks:\n  - id: a\n    command: [echo, a]\n  - id: b\n    after: [a]\n    command: [echo, b]\n  - id: c\n    after: [b]\n    command: [echo, c]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_runs_through_dispatcher_ecs_and_recorder() {
    let mut world = world(CHAIN).await;
    let run = world
        .engine
        .trigger("chain", RunRequest::by("tester"))
        .await
        .unwrap();
    assert_eq!(
        world.run_until_idle("chain", &run.run_id, None).await,
        RunState::Succeeded
    );
    assert_eq!(
        (
            world.player.launches_of("a"),
            world.player.launches_of("b"),
            world.player.launches_of("c")
        ),
        (1, 1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_rerun_from_its_failed_task_only() {
    let mut world = world(CHAIN).await;
    let run = world
        .engine
        .trigger("chain", RunRequest::by("tester"))
        .await
        .unwrap();
    assert_eq!(
        world.run_until_idle("chain", &run.run_id, Some("b")).await,
        RunState::Failed
    );
    let request = Rerun {
        tasks: vec![TaskId::parse("b").unwrap()],
        downstream: true,
        ..Rerun::default()
    };
    world
        .engine
        .rerun("chain", &run.run_id, &request, "tester", None)
        .await
        .unwrap();
    assert_eq!(
        world.run_until_idle("chain", &run.run_id, None).await,
        RunState::Succeeded
    );
    assert_eq!(
        world.player.launches_of("a"),
        1,
        "the upstream task was not launched again"
    );
    assert_eq!(world.player.launches_of("b"), 2);
    assert_eq!(world.player.launches_of("c"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planner_ticks_and_syncs_uploaded_specs() {
    let world =
        world("dag: hourly\nschedule: '@hourly'\ntasks:\n  - id: a\n    command: [echo]\n").await;
    let tick = planner(
        &world.engine,
        &world.settings.bucket,
        &json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"}),
    )
    .await
    .unwrap();
    assert_eq!(tick["created"], 1, "{tick}");
    // A run is active: the next tick must come within the minute.
    let next_due = tick["next_due"].as_str().unwrap_or_default();
    let next_due = chrono::DateTime::parse_from_rfc3339(next_due).unwrap();
    let from_now = next_due.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(from_now <= chrono::Duration::minutes(1), "{tick}");
    assert!(from_now > chrono::Duration::seconds(30), "{tick}");
    let changed =
        "dag: hourly\nschedule: '@hourly'\ntasks:\n  - id: a\n    command: [echo, changed]\n";
    s3().put_object()
        .bucket(&world.settings.bucket)
        .key("specs/hourly.yaml")
        .body(changed.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    // As the template delivers it: S3's EventBridge notification.
    let notification = json!({
        "version": "0", "id": unique("event"), "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2026-11-22T04:50:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{}", world.settings.bucket)],
        "detail": {
            "version": "0", "bucket": {"name": world.settings.bucket},
            "object": {"key": "specs/hourly.yaml", "size": changed.len()},
            "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012", "reason": "PutObject"
        }
    });
    let synced = planner(&world.engine, &world.settings.bucket, &notification)
        .await
        .unwrap();
    assert_eq!(synced["synced"][0]["dag"], "hourly", "{synced}");
    let current = world
        .engine
        .ports()
        .store
        .dag("hourly")
        .await
        .unwrap()
        .unwrap()
        .current_version
        .unwrap();
    assert_eq!(synced["synced"][0]["version"], current.as_str());
}

/// Issue 11: deleting `specs/<dag>.yaml` unschedules the DAG (its runs go
/// on), as leaving a local spec directory does; a deletion event that
/// arrives after the file was uploaded again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_spec_file_unschedules_its_dag() {
    const HOURLY: &str =
        "dag: hourly\nschedule: '@hourly'\ntasks:\n  - id: a\n    command: [echo]\n";
    let world = world(HOURLY).await;
    let (bucket, key) = (world.settings.bucket.clone(), "specs/hourly.yaml");
    let deleted = json!({
        "version": "0", "id": unique("event"), "detail-type": "Object Deleted", "source": "aws.s3",
        "account": "123456789012", "time": "2026-11-22T04:50:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0", "bucket": {"name": bucket},
            "object": {"key": key}, "reason": "DeleteObject", "deletion-type": "Delete Marker Created"
        }
    });
    let store = world.engine.ports().store.clone();
    let scheduled = || async { world.engine.current_spec("hourly").await.is_ok() };
    let delete = || async {
        s3().delete_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap()
    };
    assert!(scheduled().await);

    // Uploaded again before the (late) deletion event is handled: the
    // event syncs the DAG to what the file now is, so it is kept.
    delete().await;
    s3().put_object()
        .bucket(&bucket)
        .key(key)
        .body(HOURLY.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let synced = planner(&world.engine, &bucket, &deleted).await.unwrap();
    assert_eq!(synced["synced"][0]["dag"], "hourly", "{synced}");
    assert_eq!(
        synced["synced"][0]["removed"],
        serde_json::Value::Null,
        "{synced}"
    );
    assert!(scheduled().await);

    delete().await;
    let synced = planner(&world.engine, &bucket, &deleted).await.unwrap();
    assert_eq!(
        synced["synced"][0],
        json!({"dag": "hourly", "removed": true})
    );
    let meta = store.dag("hourly").await.unwrap().unwrap();
    assert_eq!(meta.current_version, None);
    assert!(!scheduled().await, "no longer scheduled");
    let tick = planner(
        &world.engine,
        &bucket,
        &json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"}),
    )
    .await
    .unwrap();
    assert_eq!(tick["created"], 0, "{tick}");

    // The same as an S3 notification record, delivered twice: nothing more.
    let record = json!({"Records": [{"eventName": "ObjectRemoved:DeleteMarkerCreated", "s3": {"object": {"key": key}}}]});
    let again = planner(&world.engine, &bucket, &record).await.unwrap();
    assert_eq!(again["synced"][0]["ignored"], key, "{again}");
}

/// Issue 11: `cancel` on AWS stops the running ECS task (StopTask), clears
/// the stop it kept, skips what waits and ends the run cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_running_ecs_task_and_ends_the_run() {
    let world = world(CHAIN).await;
    let run = world
        .engine
        .trigger("chain", RunRequest::by("tester"))
        .await
        .unwrap();
    assert_eq!(world.player.deliver(&world.engine).await, 1);
    let store = world.engine.ports().store.clone();
    let handle = store
        .attempt("chain", &run.run_id, &key("a"), 1)
        .await
        .unwrap()
        .and_then(|a| a.handle)
        .expect("a launched");
    let cancelled = world
        .engine
        .cancel("chain", &run.run_id, "ops", None)
        .await
        .unwrap();
    assert_eq!(cancelled.state, RunState::Cancelled);
    let task = world
        .player
        .ecs
        .describe_tasks()
        .cluster(&world.settings.ecs.cluster)
        .tasks(&handle)
        .send()
        .await
        .unwrap();
    assert_eq!(
        task.tasks()[0].desired_status(),
        Some("STOPPED"),
        "StopTask was called"
    );
    assert_eq!(store.stops().await.unwrap(), [], "and the stop cleared");
    let b = store
        .instance("chain", &run.run_id, &key("b"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.state, updraft_core::state::TaskState::Skipped);
}
