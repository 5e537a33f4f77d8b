//! Launches and stops that survive failures: a service that cannot take a
//! launch now, one that refuses it, a mark racing a launch, a stop the
//! launcher does not take; and the two ways a run ends early, `cancel` and
//! `run_timeout`.

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

const FAN: &str = "dag: d\nrun_timeout: 30m\ntasks:\n  - id: a\n    command: [x]\n  - id: b\n    command: [x]\n  - id: c\n    after: [a, b]\n    command: [x]\n";

fn key(task: &str) -> TaskKey {
    TaskKey::task(TaskId::parse(task).unwrap())
}

async fn states(world: &World, run: &Run) -> Vec<(String, TaskState)> {
    let mut out: Vec<_> = world
        .store
        .instances("d", &run.run_id)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.key.to_string(), i.state))
        .collect();
    out.sort_by(|x, y| x.0.cmp(&y.0));
    out
}

#[tokio::test]
async fn cancel_stops_what_runs_skips_what_waits_and_ends_the_run_cancelled() {
    let world = World::new(FAN, None, Settings::default());
    let run = world
        .engine
        .trigger("d", RunRequest::by("tester"))
        .await
        .unwrap();
    // a runs; b's message is still on the queue.
    let first = world.next_message().await.unwrap();
    assert_eq!(first.key, key("a"));
    world.engine.dispatch(&first).await.unwrap();
    let b_message = world.next_message().await.unwrap();

    let cancelled = world
        .engine
        .cancel("d", &run.run_id, "ops@host", Some("wrong params".into()))
        .await
        .unwrap();
    assert_eq!(cancelled.state, RunState::Cancelled);
    assert_eq!(cancelled.reason.as_deref(), Some("cancelled by ops@host"));
    assert_eq!(
        states(&world, &run).await,
        [
            ("a".to_string(), TaskState::Failed),
            ("b".to_string(), TaskState::Skipped),
            ("c".to_string(), TaskState::Skipped)
        ]
    );
    assert_eq!(
        world.launcher.stopped(),
        [CountingLauncher::handle_of(&run.run_id, &key("a"), 1)]
    );
    assert!(world.launcher.running().is_empty());
    assert_eq!(
        world.engine.settle(&b_message, 1).await.unwrap(),
        Settled::Done,
        "b's message is stale now"
    );
    assert_eq!(world.launcher.starts(), 1, "b never started");
    let audit = world.store.audit("d", &run.run_id).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].by.as_str(), audit[0].note.as_deref()),
        ("ops@host", Some("wrong params"))
    );
    world.clock.set(at("2026-11-21T01:00:00Z"));
    world.engine.tick().await.unwrap();
    let after = world.store.run("d", &run.run_id).await.unwrap().unwrap();
    assert_eq!(after.state, RunState::Cancelled, "no tick revives it");
    let again = world
        .engine
        .cancel("d", &run.run_id, "ops@host", None)
        .await
        .unwrap_err();
    assert_eq!(
        again.to_string(),
        format!(
            "run `{}` already ended (cancelled); nothing to cancel",
            run.run_id
        )
    );
}

#[tokio::test]
async fn a_run_past_its_run_timeout_fails_and_its_tries_are_stopped() {
    let world = World::new(FAN, None, Settings::default());
    let run = world
        .engine
        .trigger("d", RunRequest::by("tester"))
        .await
        .unwrap();
    while let Some(message) = world.next_message().await {
        world.engine.dispatch(&message).await.unwrap();
    }
    assert_eq!(world.launcher.running().len(), 2);
    world.clock.set(at("2026-11-21T00:30:29Z"));
    world.engine.tick().await.unwrap();
    assert_eq!(world.launcher.running().len(), 2, "not yet");
    world.clock.set(at("2026-11-21T00:30:30Z"));
    world.engine.tick().await.unwrap();
    let run = world.store.run("d", &run.run_id).await.unwrap().unwrap();
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(
        run.reason.as_deref(),
        Some("the run timed out after 30m (run_timeout)")
    );
    assert!(world.launcher.running().is_empty(), "both tries stopped");
    assert_eq!(
        states(&world, &run).await,
        [
            ("a".to_string(), TaskState::Failed),
            ("b".to_string(), TaskState::Failed),
            ("c".to_string(), TaskState::Skipped)
        ]
    );
}

/// Issue 11: an invocation whose time is nearly up takes no new work: the
/// tick leaves its runs to the next one (reporting how many), and nothing
/// is half-applied.
#[tokio::test]
async fn a_tick_out_of_time_leaves_the_rest_to_the_next_one() {
    let world = World::new(FAN, None, Settings::default());
    let mut ids = Vec::new();
    for minute in 0..3 {
        world
            .clock
            .set(at("2026-11-21T00:00:00Z") + chrono::TimeDelta::minutes(minute));
        let run = world
            .engine
            .trigger("d", RunRequest::by("tester"))
            .await
            .unwrap();
        ids.push(run.run_id);
    }
    world.engine.set_deadline(Some(std::time::Instant::now()));
    assert!(world.engine.out_of_time());
    let report = world.engine.tick().await.unwrap();
    assert_eq!((report.advanced, report.deferred), (0, 3));
    assert!(
        world
            .events
            .events()
            .iter()
            .any(|e| matches!(e, updraft_engine::events::Event::Deferred { .. }))
    );
    world.engine.set_deadline(None);
    let report = world.engine.tick().await.unwrap();
    assert_eq!((report.advanced, report.deferred), (3, 0));
}

/// Issue 24: `updraft doctor`'s view of the state. A try past its timeout
/// that no tick has failed (ticks are not happening) is named once the
/// grace has passed; the tick that fails it clears it, and notes itself.
#[tokio::test]
async fn health_names_a_try_past_its_timeout_until_a_tick_fails_it() {
    let world = World::new(ONE, None, Settings::default());
    let (run, message) = started(&world).await;
    world.engine.dispatch(&message).await.unwrap();
    let grace = chrono::Duration::minutes(2);
    let health = world.engine.health(grace).await.unwrap();
    assert_eq!((health.overdue.len(), health.last_tick), (0, None));

    // The try started at world_start() with a 60 s timeout.
    world.clock.set(at("2026-11-21T00:03:29Z"));
    let health = world.engine.health(grace).await.unwrap();
    assert_eq!(health.overdue, [], "within the grace");
    world.clock.set(at("2026-11-21T00:03:31Z"));
    let health = world.engine.health(grace).await.unwrap();
    let overdue: Vec<(String, String)> = health
        .overdue
        .iter()
        .map(|o| (o.run_id.clone(), o.task.clone()))
        .collect();
    assert_eq!(overdue, [(run.run_id.clone(), "a try 1".to_string())]);

    world.engine.tick().await.unwrap();
    let health = world.engine.health(grace).await.unwrap();
    assert_eq!(health.overdue, []);
    assert_eq!(health.last_tick, Some(at("2026-11-21T00:03:31Z")));
    assert_eq!(state_of(&world, &run).await, (TaskState::Failed, 1));
}
