//! Launches and stops that survive failures: a service that cannot take a
//! launch now, one that refuses it, a rerun racing a launch, a stop the
//! launcher does not take, and a process dying between a timeout and its
//! stop.

use std::time::Duration;

use chrono::{DateTime, Utc};
use updraft_core::ids::TaskId;
use updraft_core::state::{Run, RunState, TaskKey, TaskState};
use updraft_engine::Settings;
use updraft_engine::ports::TaskMessage;
use updraft_engine::testing::{CountingLauncher, Interference, World};
use updraft_engine::usecase::{MAX_DELIVERIES, RunRequest, Settled, redelivery_delay};

const ONE: &str = "dag: d\ntasks:\n  - id: a\n    command: [x]\n    timeout: 60s\n";

fn a() -> TaskKey {
    TaskKey::task(TaskId::parse("a").unwrap())
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

async fn started(world: &World) -> (Run, TaskMessage) {
    let run = world
        .engine
        .trigger("d", RunRequest::by("tester"))
        .await
        .unwrap();
    (run, world.next_message().await.unwrap())
}

async fn state_of(world: &World, run: &Run) -> (TaskState, u32) {
    let i = world
        .store
        .instance("d", &run.run_id, &a())
        .await
        .unwrap()
        .unwrap();
    (i.state, i.try_number)
}

#[tokio::test]
async fn a_transient_launch_error_is_delivered_again_without_using_a_retry() {
    let world = World::new(ONE, None, Settings::default());
    let (run, message) = started(&world).await;
    world.launcher.make_unavailable(2);
    for delivery in 1..=2 {
        let settled = world.engine.settle(&message, delivery).await.unwrap();
        assert_eq!(
            settled,
            Settled::Again(redelivery_delay(Duration::from_secs(30), delivery))
        );
        assert_eq!(
            state_of(&world, &run).await,
            (TaskState::Queued, 1),
            "back to queued, same try"
        );
    }
    assert_eq!(
        world.engine.settle(&message, 3).await.unwrap(),
        Settled::Done
    );
    assert_eq!(state_of(&world, &run).await, (TaskState::Running, 1));
    assert_eq!(world.launcher.starts(), 1);
    assert_eq!(
        redelivery_delay(Duration::from_secs(30), 1),
        Duration::from_secs(30)
    );
    assert_eq!(
        redelivery_delay(Duration::from_secs(30), 4),
        Duration::from_secs(240)
    );
    assert_eq!(
        redelivery_delay(Duration::from_secs(30), 40),
        Duration::from_secs(900),
        "at most what a queue can delay"
    );
}

#[tokio::test]
async fn a_launch_still_unavailable_on_its_last_delivery_fails_the_try_with_the_reason() {
    let world = World::new(ONE, None, Settings::default());
    let (run, message) = started(&world).await;
    world.launcher.make_unavailable(MAX_DELIVERIES);
    for delivery in 1..MAX_DELIVERIES {
        let settled = world.engine.settle(&message, delivery).await.unwrap();
        assert!(matches!(settled, Settled::Again(_)), "{settled:?}");
    }
    let Settled::GaveUp(reason) = world.engine.settle(&message, MAX_DELIVERIES).await.unwrap()
    else {
        panic!("the last delivery gives up");
    };
    assert!(reason.contains("ServerException"), "{reason}");
    assert_eq!(state_of(&world, &run).await, (TaskState::Failed, 1));
    let run = world.store.run("d", &run.run_id).await.unwrap().unwrap();
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(world.launcher.starts(), 0);
}

#[tokio::test]
async fn a_refused_launch_fails_the_try_at_once() {
    let world = World::new(ONE, None, Settings::default());
    let (run, message) = started(&world).await;
    world
        .launcher
        .refuse(Some("ClientException: no such task definition"));
    assert_eq!(
        world.engine.settle(&message, 1).await.unwrap(),
        Settled::Done
    );
    assert_eq!(state_of(&world, &run).await, (TaskState::Failed, 1));
    let attempt = world
        .store
        .attempt("d", &run.run_id, &a(), 1)
        .await
        .unwrap()
        .unwrap();
    assert!(
        attempt
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("no such task definition")),
        "{attempt:?}"
    );
}

#[tokio::test]
async fn a_launch_that_lost_its_compare_and_set_stops_what_it_started() {
    let world = World::new(ONE, None, Settings::default());
    let (run, message) = started(&world).await;
    // While the dispatcher launches, a person marks the task failed (the
    // instance leaves `launching`).
    let launching = {
        let mut i = world
            .store
            .instance("d", &run.run_id, &a())
            .await
            .unwrap()
            .unwrap();
        i.state = TaskState::Launching;
        i
    };
    let mut marked = launching.clone();
    marked.state = TaskState::Failed;
    world.launcher.interfere(Interference {
        store: world.store.clone(),
        dag: "d".into(),
        run_id: run.run_id.clone(),
        change: updraft_core::state::TaskTransition::new(&launching, marked),
    });
    assert_eq!(
        world.engine.settle(&message, 1).await.unwrap(),
        Settled::Done
    );
    let handle = CountingLauncher::handle_of(&run.run_id, &a(), 1);
    assert_eq!(world.launcher.stopped(), [handle]);
    assert!(world.launcher.running().is_empty(), "nothing left running");
    assert_eq!(
        world.store.stops().await.unwrap(),
        [],
        "the stop was carried out"
    );
    let attempt = world
        .store
        .attempt("d", &run.run_id, &a(), 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(attempt.state, TaskState::Failed, "{attempt:?}");
}

#[tokio::test]
async fn a_stop_the_launcher_refused_is_kept_and_carried_out_by_the_next_tick() {
    let world = World::new(ONE, None, Settings::default());
    let (run, message) = started(&world).await;
    world.engine.settle(&message, 1).await.unwrap();
    world.launcher.fail_stops(1);
    world.clock.set(at("2026-11-21T00:02:00Z"));
    world.engine.tick().await.unwrap();
    assert_eq!(
        state_of(&world, &run).await,
        (TaskState::Failed, 1),
        "timed out"
    );
    assert_eq!(world.launcher.running().len(), 1, "the stop failed");
    assert_eq!(world.store.stops().await.unwrap().len(), 1, "and was kept");
    let report = world.engine.tick().await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(world.launcher.running().is_empty());
    assert_eq!(world.store.stops().await.unwrap(), []);
    let attempt = world
        .store
        .attempt("d", &run.run_id, &a(), 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(attempt.state, TaskState::Failed);
    assert!(
        attempt
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("timed out")),
        "{attempt:?}"
    );
}
