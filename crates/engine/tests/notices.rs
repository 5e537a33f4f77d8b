//! The events a run makes, as a consumer of the bus sees them: each run
//! state change and each failed try once, with the transition's id; a bus
//! that fails neither fails nor undoes the change, and the tick publishes
//! what it left behind.

use updraft_core::notify::{RUN_DEADLINE_MISSED, RUN_STATE_CHANGE, TASK_STATE_CHANGE};
use updraft_core::plan::Outcome;
use updraft_core::state::{RunState, TaskKey};
use updraft_engine::Settings;
use updraft_engine::events::Event;
use updraft_engine::ports::{Clock, Completion};
use updraft_engine::testing::World;
use updraft_engine::usecase::RunRequest;

const FLAKY: &str = "dag: d\ntimezone: Asia/Tokyo\ndefaults: { retries: 1, retry_delay: 0s }\ntasks:\n  - id: a\n    command: [x]\n";

fn failed() -> Completion {
    Completion {
        outcome: Outcome::Failed {
            reason: "exit code 3".into(),
        },
        exit_code: Some(3),
    }
}

fn key() -> TaskKey {
    TaskKey::task(updraft_core::ids::TaskId::parse("a").unwrap())
}

/// Triggers a run and fails each of its two tries; returns its id.
async fn a_failing_run(world: &World) -> String {
    let run = world
        .engine
        .trigger("d", RunRequest::by("ana"))
        .await
        .unwrap();
    for try_number in 1..=2 {
        let message = world.next_message().await.expect("a queued try");
        assert_eq!(message.try_number, try_number);
        world.engine.dispatch(&message).await.unwrap();
        world
            .engine
            .record_and_advance("d", &run.run_id, &key(), try_number, failed())
            .await
            .unwrap();
    }
    run.run_id
}

#[tokio::test]
async fn a_failing_run_tells_each_state_and_each_failed_try_once() {
    let world = World::new(FLAKY, None, Settings::default());
    let run_id = a_failing_run(&world).await;
    let published = world.bus.published();
    let told: Vec<(String, String, Option<u64>)> = published
        .iter()
        .map(|n| {
            (
                n.detail_type.clone(),
                n.detail["state"].as_str().unwrap().to_string(),
                n.detail["try"].as_u64(),
            )
        })
        .collect();
    let run = |state: &str| (RUN_STATE_CHANGE.to_string(), state.to_string(), None);
    let task = |state: &str, t| (TASK_STATE_CHANGE.to_string(), state.to_string(), Some(t));
    assert_eq!(
        told,
        [
            run("queued"),
            run("running"),
            task("retry_wait", 1),
            task("failed", 2),
            run("failed"),
        ]
    );
    let gave_up = &published[3].detail;
    assert_eq!(gave_up["gave_up"], true);
    assert_eq!(gave_up["reason"], "exit code 3");
    assert_eq!(gave_up["task"], "a");
    assert_eq!(gave_up["triggered_by"], "ana");
    let ended = &published[4].detail;
    assert_eq!(ended["run_id"], run_id.as_str());
    assert!(
        ended["logical_date"].as_str().unwrap().ends_with("+09:00"),
        "in the DAG's zone: {}",
        ended["logical_date"]
    );
    assert!(
        ended["ui"]
            .as_str()
            .unwrap()
            .starts_with("http://localhost:8080/dags/d/runs/manual__"),
        "{}",
        ended["ui"]
    );
    let mut ids: Vec<&str> = published.iter().map(|n| n.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "each event its own id");
    assert!(world.store.outbox(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_bus_that_fails_leaves_the_change_and_the_tick_publishes_it_later() {
    let world = World::new(FLAKY, None, Settings::default());
    world.bus.fail_next(100);
    let run_id = a_failing_run(&world).await;
    let run = world.store.run("d", &run_id).await.unwrap().unwrap();
    assert_eq!(run.state, RunState::Failed, "the change stands");
    assert!(world.bus.published().is_empty());
    assert_eq!(world.store.outbox(10).await.unwrap().len(), 5);
    assert!(
        world
            .events
            .events()
            .iter()
            .any(|e| matches!(e, Event::Unpublished { .. })),
        "the failure is reported"
    );

    // The same events, with the same ids, as a bus that works would have
    // had at once.
    let working = World::new(FLAKY, None, Settings::default());
    a_failing_run(&working).await;
    world.bus.fail_next(0);
    world.engine.tick().await.unwrap();
    let ids = |w: &World| {
        let mut ids: Vec<String> = w.bus.published().into_iter().map(|n| n.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&world), ids(&working));
    assert!(world.store.outbox(10).await.unwrap().is_empty());
    world.engine.tick().await.unwrap();
    assert_eq!(world.bus.published().len(), 5, "published once");
}

/// A run still going an hour after its data interval ended (`sla: 1h`)
/// is told once by the tick; a run that succeeded in time never.
#[tokio::test]
async fn a_run_past_its_sla_is_told_once_and_one_in_time_never() {
    let sla = "dag: d\nsla: 1h\ntasks:\n  - id: a\n    command: [x]\n";
    let world = World::new(sla, None, Settings::default());
    let late = world
        .engine
        .trigger("d", RunRequest::by("ana"))
        .await
        .unwrap();
    let message = world.next_message().await.expect("a queued try");
    world.engine.dispatch(&message).await.unwrap();
    let missed = |w: &World| {
        w.bus
            .published()
            .into_iter()
            .filter(|n| n.detail_type == RUN_DEADLINE_MISSED)
            .collect::<Vec<_>>()
    };
    world.engine.tick().await.unwrap();
    assert!(missed(&world).is_empty(), "not yet");
    world
        .clock
        .set(late.data_interval_end + chrono::Duration::hours(1));
    world.engine.tick().await.unwrap();
    world
        .clock
        .set(world.clock.now() + chrono::Duration::minutes(5));
    world.engine.tick().await.unwrap();
    let told = missed(&world);
    assert_eq!(told.len(), 1, "once: {told:?}");
    assert_eq!(told[0].detail["run_id"], late.run_id.as_str());
    assert_eq!(told[0].detail["state"], "running");
    let run = world.store.run("d", &late.run_id).await.unwrap().unwrap();
    assert!(run.deadline_missed_at.is_some(), "the run says so");
    assert_eq!(run.state, RunState::Running);

    let in_time = World::new(sla, None, Settings::default());
    let run = in_time
        .engine
        .trigger("d", RunRequest::by("ana"))
        .await
        .unwrap();
    let message = in_time.next_message().await.expect("a queued try");
    in_time.engine.dispatch(&message).await.unwrap();
    in_time
        .engine
        .record_and_advance("d", &run.run_id, &key(), 1, ok())
        .await
        .unwrap();
    in_time
        .clock
        .set(run.data_interval_end + chrono::Duration::hours(2));
    in_time.engine.tick().await.unwrap();
    assert!(missed(&in_time).is_empty());
}

/// A queued run waiting for `max_active_runs` past its deadline is late too.
#[tokio::test]
async fn a_run_still_queued_past_its_sla_is_told() {
    let spec = "dag: d\nsla: 1h\nmax_active_runs: 1\ntasks:\n  - id: a\n    command: [x]\n";
    let world = World::new(spec, None, Settings::default());
    world
        .engine
        .trigger("d", RunRequest::by("ana"))
        .await
        .unwrap();
    world
        .clock
        .set(world.clock.now() + chrono::Duration::seconds(1));
    let waiting = world
        .engine
        .trigger("d", RunRequest::by("ana"))
        .await
        .unwrap();
    world
        .clock
        .set(waiting.data_interval_end + chrono::Duration::hours(1));
    world.engine.tick().await.unwrap();
    let run = world
        .store
        .run("d", &waiting.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.state, RunState::Queued);
    assert!(run.deadline_missed_at.is_some());
    let told: Vec<_> = world
        .bus
        .published()
        .into_iter()
        .filter(|n| n.detail_type == RUN_DEADLINE_MISSED)
        .map(|n| n.detail["run_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(told.len(), 2, "both runs are late: {told:?}");
    assert!(told.contains(&waiting.run_id));
}

fn ok() -> Completion {
    Completion {
        outcome: Outcome::Succeeded,
        exit_code: Some(0),
    }
}
