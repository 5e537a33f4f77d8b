//! Issue 28, asset conditions: an `all:` trigger gathers its events in one
//! queued run per logical date (or `within` window) that starts as soon as
//! every condition has happened, and is cancelled, naming what never came,
//! when its window ends first; `any:` starts a run on each event.

use chrono::TimeDelta;
use updraft_core::plan::Outcome;
use updraft_core::state::{Run, RunState, TaskKey};
use updraft_engine::ports::{Clock, Completion, RunQuery};
use updraft_engine::testing::World;
use updraft_engine::usecase::RunRequest;

const ETL: &str = "dag: etl\ntasks:\n  - id: t\n    command: [x]\n";
const PRODUCER: &str = "dag: producer\ntasks:\n  - id: t\n    command: [x]\n    produces: [\"s3://lake/raw/{{ ds }}/part.parquet\"]\n";

/// A DAG that runs once `etl` succeeded and a raw file appeared, for one
/// logical date; `extra` adds keys to the trigger.
fn report(extra: &str) -> String {
    format!(
        "dag: report\ntriggers:\n  - all:\n      - dag: etl\n      - artifact: \"s3://lake/raw/{{date}}/*.parquet\"\n{extra}tasks:\n  - id: t\n    command: [echo, '{{{{ trigger.events | length }}}}']\n"
    )
}

async fn run_to_end(world: &World, dag: &str) -> Run {
    let run = world
        .engine
        .trigger(dag, RunRequest::by("ana"))
        .await
        .unwrap();
    let message = loop {
        let message = world.next_message().await.expect("a queued try");
        if message.run_id == run.run_id {
            break message;
        }
    };
    world.engine.dispatch(&message).await.unwrap();
    let done = Completion {
        outcome: Outcome::Succeeded,
        exit_code: Some(0),
    };
    let key = TaskKey::task(updraft_core::ids::TaskId::parse("t").unwrap());
    world
        .engine
        .record_and_advance(dag, &run.run_id, &key, 1, done)
        .await
        .unwrap();
    world.store.run(dag, &run.run_id).await.unwrap().unwrap()
}

async fn runs_of(world: &World, dag: &str) -> Vec<Run> {
    let query = RunQuery {
        dag: Some(dag.into()),
        ..Default::default()
    };
    world.store.runs(&query).await.unwrap()
}

#[tokio::test]
async fn an_all_trigger_starts_its_run_once_every_condition_happened_for_the_date() {
    let world = World::of_specs(&[ETL, PRODUCER, &report("")]);
    let etl = run_to_end(&world, "etl").await;
    let waiting = runs_of(&world, "report").await;
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0].state, RunState::Queued, "one condition of two");
    assert_eq!(waiting[0].logical_date, etl.logical_date);
    world.engine.tick().await.unwrap();
    assert_eq!(
        runs_of(&world, "report").await[0].state,
        RunState::Queued,
        "a tick does not start it either"
    );

    run_to_end(&world, "producer").await;
    let runs = runs_of(&world, "report").await;
    assert_eq!(runs.len(), 1, "the artifact joined the same run: {runs:?}");
    assert_eq!(runs[0].state, RunState::Running);
    let events = &runs[0].trigger.as_ref().unwrap().events;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["dag"], "etl");
    assert_eq!(events[1]["uri"], "s3://lake/raw/2026-11-21/part.parquet");
    let message = world.next_message().await.expect("report's task");
    assert_eq!(message.dag, "report");

    // etl ending for another date gathers into a run of its own.
    world.clock.set(world.clock.now() + TimeDelta::seconds(1));
    run_to_end(&world, "etl").await;
    let runs = runs_of(&world, "report").await;
    assert_eq!(runs.len(), 2);
    let started = runs.iter().find(|r| r.state == RunState::Running).unwrap();
    assert_eq!(started.trigger.as_ref().unwrap().events.len(), 2);
}

#[tokio::test]
async fn conditions_met_for_different_dates_start_nothing() {
    let world = World::of_specs(&[ETL, PRODUCER, &report("")]);
    run_to_end(&world, "etl").await;
    world.clock.set(world.clock.now() + TimeDelta::days(1));
    run_to_end(&world, "producer").await;
    let runs = runs_of(&world, "report").await;
    assert_eq!(runs.len(), 2, "one gathering run per date: {runs:?}");
    assert!(runs.iter().all(|r| r.state == RunState::Queued), "{runs:?}");
    assert!(world.next_message().await.is_none());
}

#[tokio::test]
async fn within_a_window_conditions_meet_by_time_and_a_lapsed_window_is_cancelled() {
    let world = World::of_specs(&[ETL, &report("    within: 1h\n")]);
    let hour = world.clock.now().timestamp() / 3600 * 3600;
    let start = chrono::DateTime::from_timestamp(hour, 0).unwrap();

    // Both within 10:00–11:00: the run starts on the second.
    world.clock.set(start + TimeDelta::minutes(5));
    run_to_end(&world, "etl").await;
    let uri = "s3://lake/raw/any/x.parquet";
    let at = start + TimeDelta::minutes(50);
    world.clock.set(at);
    world.engine.artifact_appeared(uri, None, at).await.unwrap();
    let runs = runs_of(&world, "report").await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].state, RunState::Running);
    assert_eq!(
        (runs[0].data_interval_start, runs[0].data_interval_end),
        (start, start + TimeDelta::hours(1))
    );

    // The next window sees the object alone: when it ends, the run is
    // cancelled saying what never came.
    let at = start + TimeDelta::minutes(70);
    world.clock.set(at);
    world.engine.artifact_appeared(uri, None, at).await.unwrap();
    world.clock.set(start + TimeDelta::minutes(119));
    world.engine.tick().await.unwrap();
    let lapsing = runs_of(&world, "report").await;
    let second = lapsing.iter().find(|r| r.run_id != runs[0].run_id).unwrap();
    assert_eq!(second.state, RunState::Queued, "its window is still open");
    world.clock.set(start + TimeDelta::minutes(121));
    world.engine.tick().await.unwrap();
    let second = world
        .store
        .run("report", &second.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.state, RunState::Cancelled);
    let audit = world.store.audit("report", &second.run_id).await.unwrap();
    let note = audit[0].note.as_deref().unwrap();
    assert!(note.contains("ended without dag: etl"), "{note}");
}

#[tokio::test]
async fn an_any_trigger_starts_a_run_on_each_of_its_events() {
    let any = "dag: either\ntriggers:\n  - any:\n      - dag: etl\n      - artifact: \"s3://lake/raw/{date}/*.parquet\"\ntasks:\n  - id: t\n    command: [x]\n";
    let world = World::of_specs(&[ETL, any]);
    run_to_end(&world, "etl").await;
    let at = world.clock.now() + TimeDelta::seconds(1);
    world
        .engine
        .artifact_appeared("s3://lake/raw/2026-11-20/x.parquet", None, at)
        .await
        .unwrap();
    let runs = runs_of(&world, "either").await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r.state == RunState::Running));
    let dated = runs.iter().find(|r| r.params.contains_key("date")).unwrap();
    assert_eq!(dated.params["date"], "2026-11-20");
}
