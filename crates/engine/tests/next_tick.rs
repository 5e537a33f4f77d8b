//! When a tick says the next must come: a minute on while a run is active,
//! else the next schedule point of a DAG that is not paused, within the
//! hour.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Duration, Utc};
use updraft_engine::Engine;
use updraft_engine::memory::MemoryWaker;
use updraft_engine::ports::{Clock, PortResult, Waker};
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

/// A memory waker that counts the wake-ups asked of it.
#[derive(Default)]
struct Counted {
    waker: MemoryWaker,
    asked: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl Waker for Counted {
    async fn wake_at(&self, at: DateTime<Utc>) -> PortResult<()> {
        self.asked.fetch_add(1, Ordering::Relaxed);
        self.waker.wake_at(at).await
    }

    async fn wake_by(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> PortResult<()> {
        self.asked.fetch_add(1, Ordering::Relaxed);
        self.waker.wake_by(at, now).await
    }
}

/// A world whose engine wakes its scheduler through a counted waker.
fn waking(specs: &[&str]) -> (World, Arc<Counted>) {
    let mut world = World::of_specs(specs);
    let waker = Arc::new(Counted::default());
    world.engine = Arc::new(Engine::new(world.engine.ports().clone()).with_waker(waker.clone()));
    (world, waker)
}

#[tokio::test]
async fn a_tick_sets_its_successor_and_a_new_run_pulls_it_within_the_minute() {
    let (world, waker) = waking(&[TEN_MINUTELY]);
    world.engine.tick().await.unwrap();
    assert_eq!(waker.waker.next(), Some(at("2026-11-21T00:10:00Z")));
    let (world, waker) = waking(&[DAILY]);
    world.engine.tick().await.unwrap();
    assert_eq!(
        waker.waker.next(),
        None,
        "the safety tick comes first anyway"
    );
    world
        .engine
        .trigger("daily", RunRequest::by("tester"))
        .await
        .unwrap();
    assert_eq!(
        waker.waker.next(),
        Some(world_start() + Duration::minutes(1))
    );
    // More runs within that minute need not ask again.
    for second in 1..=10 {
        world.clock.set(world_start() + Duration::seconds(second));
        world
            .engine
            .trigger("daily", RunRequest::by("tester"))
            .await
            .unwrap();
    }
    assert_eq!(waker.asked.load(Ordering::Relaxed), 1);
    // Once that tick has come, the next run asks again.
    world.clock.set(world_start() + Duration::seconds(90));
    world
        .engine
        .trigger("daily", RunRequest::by("tester"))
        .await
        .unwrap();
    assert_eq!(waker.asked.load(Ordering::Relaxed), 2);
    assert_eq!(
        waker.waker.next(),
        Some(world_start() + Duration::seconds(150))
    );
}

#[tokio::test]
async fn a_wake_up_set_sooner_stays_and_one_passed_is_replaced() {
    let waker = MemoryWaker::default();
    let soon = world_start() + Duration::seconds(10);
    waker.wake_at(soon).await.unwrap();
    let by = world_start() + Duration::minutes(1);
    waker.wake_by(by, world_start()).await.unwrap();
    assert_eq!(waker.next(), Some(soon));
    let later = world_start() + Duration::seconds(20);
    waker
        .wake_by(later + Duration::minutes(1), later)
        .await
        .unwrap();
    assert_eq!(waker.next(), Some(later + Duration::minutes(1)));
}

/// The ticks the stack makes from the world's clock on, until `done` says
/// so or `hours` pass: at the wake-up each tick sets, else at the hourly
/// safety rule; a wake-up in `lost` never comes. Returns when the last
/// tick came.
async fn tick_as_the_stack(
    world: &World,
    lost: &[DateTime<Utc>],
    hours: i64,
    done: impl AsyncFn(&World) -> bool,
) -> DateTime<Utc> {
    let start = world.clock.now();
    let mut rule = start + Duration::hours(1);
    loop {
        let report = world.engine.tick().await.unwrap();
        let now = world.clock.now();
        if done(world).await || now > start + Duration::hours(hours) {
            return now;
        }
        let woken =
            (report.next_due < rule && !lost.contains(&report.next_due)).then_some(report.next_due);
        let next = woken.unwrap_or(rule);
        if next == rule {
            rule += Duration::hours(1);
        }
        world.clock.set(next);
    }
}

#[tokio::test]
async fn a_wake_up_set_while_a_retry_waits_fires_it_on_time() {
    let world = World::of_specs(&[
        "dag: d\ndefaults: { retries: 1, retry_delay: 5m }\ntasks:\n  - id: a\n    command: [x]\n",
    ]);
    let run = world
        .engine
        .trigger("d", RunRequest::by("tester"))
        .await
        .unwrap();
    let first = world.next_message().await.unwrap();
    world.engine.dispatch(&first).await.unwrap();
    let key = first.key.clone();
    let failed = updraft_engine::ports::Completion {
        outcome: updraft_core::plan::Outcome::Failed {
            reason: "exit code 1".into(),
        },
        exit_code: Some(1),
    };
    world
        .engine
        .record_and_advance("d", &run.run_id, &key, 1, failed)
        .await
        .unwrap();
    let due = world_start() + Duration::minutes(5);
    let run_id = run.run_id.clone();
    let released = tick_as_the_stack(&world, &[], 2, async |world: &World| {
        let a = world.store.instance("d", &run_id, &key).await.unwrap();
        a.is_some_and(|a| a.try_number == 2 && a.state == updraft_core::state::TaskState::Queued)
    })
    .await;
    assert!(
        released >= due && released <= due + Duration::minutes(1),
        "released at {released}, due at {due}"
    );
}

#[tokio::test]
async fn a_lost_wake_up_is_caught_by_the_safety_tick() {
    let world = World::of_specs(&[TEN_MINUTELY]);
    let lost = [at("2026-11-21T00:10:00Z")];
    let caught = tick_as_the_stack(&world, &lost, 2, async |world: &World| {
        !world.store.active_runs().await.unwrap().is_empty()
    })
    .await;
    assert_eq!(
        caught,
        world_start() + Duration::hours(1),
        "the hourly rule"
    );
}
