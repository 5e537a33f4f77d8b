//! When a tick says the next must come: a minute on while a run is active,
//! else the next schedule point of a DAG that is not paused, within the
//! hour.

use chrono::{DateTime, Duration, Utc};
use updraft_engine::memory::MemoryWaker;
use updraft_engine::ports::Waker;
use updraft_engine::testing::{World, world_start};
use updraft_engine::usecase::RunRequest;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// Every ten minutes from 00:05 on the world's first day (it starts at
/// 00:00:30): its first point is 00:10, and no run is due before.
const TEN_MINUTELY: &str = "dag: often\nschedule: '*/10 * * * *'\nstart: 2026-11-21T00:05:00Z\ntasks:\n  - id: a\n    command: [x]\n";

/// Daily, from tomorrow.
const DAILY: &str =
    "dag: daily\nschedule: '@daily'\nstart: 2026-11-22\ntasks:\n  - id: a\n    command: [x]\n";

#[tokio::test]
async fn an_idle_tick_sets_the_next_for_the_next_schedule_point() {
    let world = World::of_specs(&[TEN_MINUTELY, DAILY]);
    let report = world.engine.tick().await.unwrap();
    assert!(report.created.is_empty());
    assert_eq!(report.next_due, at("2026-11-21T00:10:00Z"));
}

#[tokio::test]
async fn with_nothing_due_within_the_hour_the_safety_tick_comes() {
    let world = World::of_specs(&[DAILY]);
    let report = world.engine.tick().await.unwrap();
    assert_eq!(report.next_due, world_start() + Duration::hours(1));
}

#[tokio::test]
async fn a_paused_dags_points_wake_nothing() {
    let world = World::of_specs(&[TEN_MINUTELY]);
    world.engine.tick().await.unwrap();
    world.engine.set_paused("often", true).await.unwrap();
    let report = world.engine.tick().await.unwrap();
    assert_eq!(report.next_due, world_start() + Duration::hours(1));
}

#[tokio::test]
async fn an_active_run_keeps_the_tick_a_minute_away() {
    let world = World::of_specs(&[DAILY]);
    world
        .engine
        .trigger("daily", RunRequest::by("tester"))
        .await
        .unwrap();
    let report = world.engine.tick().await.unwrap();
    assert_eq!(report.next_due, world_start() + Duration::minutes(1));
}

/// A world whose engine wakes its scheduler through a memory waker.
fn waking(specs: &[&str]) -> (World, std::sync::Arc<MemoryWaker>) {
    let mut world = World::of_specs(specs);
    let waker = std::sync::Arc::new(MemoryWaker::default());
    world.engine = std::sync::Arc::new(
        updraft_engine::Engine::new(world.engine.ports().clone()).with_waker(waker.clone()),
    );
    (world, waker)
}

#[tokio::test]
async fn a_tick_sets_its_successor_and_a_new_run_pulls_it_within_the_minute() {
    let (world, waker) = waking(&[TEN_MINUTELY]);
    world.engine.tick().await.unwrap();
    assert_eq!(waker.next(), Some(at("2026-11-21T00:10:00Z")));
    let (world, waker) = waking(&[DAILY]);
    world.engine.tick().await.unwrap();
    assert_eq!(waker.next(), None, "the safety tick comes first anyway");
    world
        .engine
        .trigger("daily", RunRequest::by("tester"))
        .await
        .unwrap();
    assert_eq!(waker.next(), Some(world_start() + Duration::minutes(1)));
    // One set sooner stays.
    world.clock.set(world_start() + Duration::seconds(1));
    waker
        .wake_at(world_start() + Duration::seconds(10))
        .await
        .unwrap();
    world
        .engine
        .trigger("daily", RunRequest::by("tester"))
        .await
        .unwrap();
    assert_eq!(waker.next(), Some(world_start() + Duration::seconds(10)));
    // One that has passed (a schedule that fired) is replaced.
    world.clock.set(world_start() + Duration::seconds(20));
    world
        .engine
        .trigger("daily", RunRequest::by("tester"))
        .await
        .unwrap();
    assert_eq!(
        waker.next(),
        Some(world_start() + Duration::seconds(20) + Duration::minutes(1))
    );
}
