//! Issue 11: races between the shells that change the same runs — ticks
//! overlapping each other, a tick racing a trigger and a backfill of the
//! same dates under `max_active_runs` — each as a story over in-memory
//! adapters that run the use cases concurrently for real (the store's own
//! races are in the store suite, over every backend).

use std::collections::BTreeMap;
use std::time::Duration;
use updraft_core::plan::Outcome;
use updraft_core::state::{Run, RunState};
use updraft_engine::Settings;

use updraft_engine::ports::{Completion, RunQuery, TaskMessage, TaskQueue};
use updraft_engine::testing::World;
use updraft_engine::usecase::{Dispatched, RunRequest};

/// Hourly since three hours before the world's start, every missed point
/// run: several runs for each tick to create.
const HOURLY: &str = "dag: d\nschedule: '@hourly'\nstart: 2026-11-20T21:00:00Z\ncatchup: true\nmax_active_runs: 16\ntasks:\n  - id: a\n    command: [x]\n  - id: b\n    after: [a]\n    command: [x]\n";

fn ok() -> Completion {
    Completion {
        outcome: Outcome::Succeeded,
        exit_code: Some(0),
    }
}

async fn runs(world: &World) -> Vec<Run> {
    world.store.runs(&RunQuery::default()).await.unwrap()
}

/// Takes every visible message.
async fn take_all(world: &World) -> Vec<TaskMessage> {
    let mut taken = Vec::new();
    while let Some(message) = world.next_message().await {
        taken.push(message);
    }
    taken
}

/// Dispatches every queued message — each delivered twice at once, as a
/// queue may — ends what it launched well, and ticks, until nothing is
/// queued; returns how many messages there were. Checks after each step
/// that at most `max_running` runs run.
async fn drain(world: &World, max_running: usize) -> usize {
    let mut messages = 0;
    for _ in 0..50 {
        let mut batch = take_all(world).await;
        if batch.is_empty() {
            world.engine.tick().await.unwrap();
            batch = take_all(world).await;
            if batch.is_empty() {
                return messages;
            }
        }
        for message in batch {
            messages += 1;
            let (first, second) = tokio::join!(
                world.engine.dispatch(&message),
                world.engine.dispatch(&message)
            );
            for dispatched in [first.unwrap(), second.unwrap()] {
                if let Dispatched::Launched(_) = dispatched {
                    world
                        .engine
                        .record_and_advance(
                            &message.dag,
                            &message.run_id,
                            &message.key,
                            message.try_number,
                            ok(),
                        )
                        .await
                        .unwrap();
                }
            }
            let running = runs(world)
                .await
                .iter()
                .filter(|r| r.state == RunState::Running)
                .count();
            assert!(running <= max_running, "{running} runs running at once");
        }
    }
    panic!("the runs did not settle in 50 rounds");
}

/// Every try was launched by exactly one launch call, and no two tries
/// of a task instance overlapped.
fn launched_once(world: &World) {
    let launches = world.launcher.launches();
    assert!(
        launches.values().all(|&n| n == 1),
        "launched more than once: {launches:?}"
    );
    assert_eq!(world.launcher.overlaps(), 0);
}

#[tokio::test]
async fn overlapping_ticks_create_queue_and_launch_each_run_once() {
    let alone = World::new(HOURLY, None, Settings::default());
    let points = alone.engine.tick().await.unwrap().created.len();
    assert!(points >= 3, "{points} points");

    let world = World::new(HOURLY, None, Settings::default());
    let (first, second, third) = tokio::join!(
        world.engine.tick(),
        world.engine.tick(),
        world.engine.tick()
    );
    let created: usize = [first, second, third]
        .into_iter()
        .map(|report| report.unwrap().created.len())
        .sum();
    assert_eq!(created, points, "each point created by one tick");
    let made = runs(&world).await;
    assert_eq!(made.len(), points);
    // Each run's first task was queued once, however many ticks saw it.
    let queued = take_all(&world).await;
    let mut per_task = BTreeMap::new();
    for message in &queued {
        *per_task
            .entry((message.run_id.clone(), message.key.to_string()))
            .or_insert(0) += 1;
        world.queue.send(message, Duration::ZERO).await.unwrap();
    }
    assert_eq!(per_task.len(), points, "{per_task:?}");
    assert!(per_task.values().all(|&n| n == 1), "{per_task:?}");

    assert_eq!(drain(&world, points).await, points * 2);
    launched_once(&world);
    assert_eq!(world.launcher.starts(), points * 2);
    assert!(
        runs(&world)
            .await
            .iter()
            .all(|r| r.state == RunState::Succeeded)
    );
}

#[tokio::test]
async fn a_tick_racing_a_trigger_and_a_backfill_keeps_max_active_runs_and_runs_each_date_once() {
    let spec = HOURLY.replace("max_active_runs: 16", "max_active_runs: 1");
    let world = World::new(&spec, None, Settings::default());
    let (ticked, triggered, backfilled) = tokio::join!(
        world.engine.tick(),
        world.engine.trigger("d", RunRequest::by("ana")),
        world.engine.backfill(
            "d",
            "2026-11-20T21:00:00Z",
            "2026-11-21T00:00:00Z",
            false,
            "ben"
        ),
    );
    ticked.unwrap();
    triggered.unwrap();
    backfilled.unwrap();
    let made = runs(&world).await;
    let running = made.iter().filter(|r| r.state == RunState::Running).count();
    assert_eq!(running, 1, "max_active_runs 1 under three starters");
    let mut dates: Vec<_> = made.iter().map(|r| r.logical_date).collect();
    dates.sort();
    dates.dedup();
    assert_eq!(dates.len(), made.len(), "each logical date once");

    drain(&world, 1).await;
    let ended = runs(&world).await;
    assert_eq!(ended.len(), made.len(), "nothing made twice later");
    assert!(ended.iter().all(|r| r.state == RunState::Succeeded));
    launched_once(&world);
    assert_eq!(world.launcher.starts(), made.len() * 2);
}
