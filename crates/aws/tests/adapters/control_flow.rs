//! Control flow across the functions on moto (issue 28): a sensor poked by
//! its delayed SQS message between ticks, an approval decided by a person,
//! and a run of another DAG a task starts and waits for — none of them
//! launching anything while it waits.

use std::time::Duration;

use updraft_aws::specs::deploy;
use updraft_aws::testing::s3;
use updraft_core::spec::SpecFile;
use updraft_core::state::{RunState, TaskState};
use updraft_engine::usecase::RunRequest;

use crate::functions::{failing, key, world_with};

const SHIP: &str = "dag: ship
tasks:
  - id: soon
    wait_for: { time: '{{ logical_date }} + 3s', every: 5s }
  - id: sign_off
    approval: { prompt: Ship it? }
  - id: kick
    trigger_dag: { dag: child, wait: true }
  - id: publish
    after: [soon, sign_off, kick]
    command: [echo, publish]
";
const CHILD: &str = "dag: child\ntasks:\n  - id: work\n    command: [echo, work]\n";

async fn state(world: &crate::functions::World, run_id: &str, task: &str) -> TaskState {
    world
        .engine
        .ports()
        .store
        .instance("ship", run_id, &key(task))
        .await
        .unwrap()
        .unwrap()
        .state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_an_approval_and_a_child_run_wait_without_a_container() {
    let mut world = world_with(SHIP, updraft_engine::Settings::default()).await;
    let files = [("ship.yaml", SHIP), ("child.yaml", CHILD)].map(|(name, text)| SpecFile {
        name: name.into(),
        text: text.into(),
    });
    let store = world.engine.ports().store.clone();
    deploy(&s3(), &world.settings.bucket, store.as_ref(), &files)
        .await
        .unwrap();
    let engine = &world.engine;
    let run = engine.trigger("ship", RunRequest::by("ana")).await.unwrap();
    let id = run.run_id.as_str();
    for task in ["soon", "sign_off", "kick"] {
        assert_eq!(state(&world, id, task).await, TaskState::Waiting, "{task}");
    }
    assert_eq!(
        world.player.finish(engine, failing(None)).await,
        0,
        "nothing was launched for them"
    );

    engine
        .approve("ship", id, &key("sign_off"), "approve", None, "ana")
        .await
        .unwrap();
    assert_eq!(state(&world, id, "sign_off").await, TaskState::Succeeded);

    // The child starts at a tick and runs on ECS.
    engine.tick().await.unwrap();
    world.player.deliver(engine).await;
    assert_eq!(world.player.finish(engine, failing(None)).await, 1);

    // The sensor's and the parent's wake-ups come through SQS, delayed.
    tokio::time::sleep(Duration::from_secs(11)).await;
    for _ in 0..3 {
        world.player.deliver(engine).await;
    }
    assert_eq!(state(&world, id, "soon").await, TaskState::Succeeded);
    assert_eq!(state(&world, id, "kick").await, TaskState::Succeeded);
    world.player.deliver(engine).await;
    assert_eq!(
        world.player.finish(engine, failing(None)).await,
        1,
        "publish"
    );
    let run = engine.ports().store.run("ship", id).await.unwrap().unwrap();
    assert_eq!(run.state, RunState::Succeeded);
}
