//! `clean`: the runs past their DAG's retention are deleted with all that
//! is kept of them; active runs, recent ones and each DAG's latest stay.

use chrono::Duration;
use updraft_core::state::{ArtifactRecord, ArtifactUse, Run, RunState, TaskKey};
use updraft_engine::testing::{World, run, t0};

const SHORT: &str = "dag: short\nretention: 30d\ntasks:\n  - id: a\n    command: [x]\n";
const PLAIN: &str = "dag: plain\ntasks:\n  - id: a\n    command: [x]\n";

/// A run of `dag` on day `day` after t0, in `state`, ended that day if it ended.
fn on_day(dag: &str, day: i64, state: RunState) -> Run {
    let mut r = run(dag, &format!("{dag}-{day}"), day * 24 * 60, &[]);
    r.state = state;
    r.ended_at = state.is_terminal().then_some(r.logical_date);
    r
}

fn ids(runs: &[Run]) -> Vec<String> {
    runs.iter().map(|r| r.run_id.clone()).collect()
}

async fn world() -> World {
    let world = World::of_specs(&[SHORT, PLAIN]);
    // The runs' DAGs are known, as a first tick would make them.
    world.engine.sync_specs().await.unwrap();
    let store = &world.engine.ports().store;
    for r in [
        on_day("short", 0, RunState::Succeeded),
        on_day("short", 1, RunState::Failed),
        on_day("short", 2, RunState::Running),
        on_day("short", 50, RunState::Succeeded),
        on_day("short", 60, RunState::Succeeded),
        on_day("plain", 0, RunState::Succeeded),
        on_day("plain", 1, RunState::Succeeded),
    ] {
        assert!(store.create_run(&r, &[], &[]).await.unwrap());
    }
    world.clock.set(t0() + Duration::days(70));
    world
}

#[tokio::test]
async fn a_dry_run_lists_what_clean_deletes_and_deletes_nothing() {
    let world = world().await;
    let listed = world.engine.clean(None, true).await.unwrap();
    // short keeps 30 days: days 0 and 1 go, day 2 is running, day 50 is
    // recent, day 60 the latest; plain keeps 400 days.
    assert_eq!(ids(&listed), ["short-0", "short-1"]);
    let store = &world.engine.ports().store;
    assert!(store.run("short", "short-0").await.unwrap().is_some());

    let deleted = world.engine.clean(None, false).await.unwrap();
    assert_eq!(ids(&deleted), ids(&listed));
    assert_eq!(store.run("short", "short-0").await.unwrap(), None);
    assert_eq!(store.run("short", "short-1").await.unwrap(), None);
    assert!(store.run("short", "short-2").await.unwrap().is_some());
    assert!(world.engine.clean(None, false).await.unwrap().is_empty());
}

#[tokio::test]
async fn older_than_overrides_every_dags_retention_but_keeps_the_latest() {
    let world = world().await;
    let deleted = world
        .engine
        .clean(Some(Duration::days(15)), false)
        .await
        .unwrap();
    // Oldest end first; plain-1 and short-60 are their DAGs' latest.
    assert_eq!(ids(&deleted), ["plain-0", "short-0", "short-1", "short-50"]);
    let store = &world.engine.ports().store;
    let mut left = ids(&store.runs(&Default::default()).await.unwrap());
    left.sort();
    assert_eq!(left, ["plain-1", "short-2", "short-60"]);
}

/// A lineage record of `run` of `dag`, `used` as given.
fn record(dag: &str, run: &str, used: ArtifactUse) -> ArtifactRecord {
    ArtifactRecord {
        uri: "s3://lake/x".into(),
        used,
        dag: updraft_core::ids::DagId::parse(dag).unwrap(),
        run_id: run.into(),
        key: TaskKey::task(updraft_core::ids::TaskId::parse("a").unwrap()),
        try_number: 1,
        at: t0(),
    }
}

#[tokio::test]
async fn lineage_says_a_run_past_retention_expired_and_marks_linked_runs_that_did() {
    let world = world().await;
    let store = &world.engine.ports().store;
    // A run of `short` made on t0 and cleaned away 70 days on (it keeps 30).
    let old = format!("scheduled__{}", t0().to_rfc3339());
    let mut made = on_day("short", 0, RunState::Succeeded);
    made.run_id = old.clone();
    made.logical_date = t0() - Duration::hours(1);
    assert!(store.create_run(&made, &[], &[]).await.unwrap());
    world.engine.clean(None, false).await.unwrap();
    assert_eq!(store.run("short", &old).await.unwrap(), None);
    let lineage = world.engine.run_lineage("short", &old).await.unwrap();
    assert!(lineage.expired);
    // A run that never was and names a recent date is not found.
    let recent = format!("manual__{}", (t0() + Duration::days(69)).to_rfc3339());
    assert!(world.engine.run_lineage("short", &recent).await.is_err());
    assert!(world.engine.run_lineage("short", "no-date").await.is_err());

    // What a store whose items expire one by one can leave: plain-1's
    // record of what it consumed, and the producer's record under the
    // artifact, the producer's run gone.
    store
        .put_artifacts(&[
            record("plain", "plain-1", ArtifactUse::Consumed),
            record("short", &old, ArtifactUse::Produced),
        ])
        .await
        .unwrap();
    let lineage = world.engine.run_lineage("plain", "plain-1").await.unwrap();
    let producer = ("short".to_string(), old.clone());
    assert!(!lineage.expired);
    assert!(lineage.upstream.contains(&producer));
    assert_eq!(lineage.expired_runs, [producer.clone()].into());
    let by_uri = world.engine.artifact_lineage("s3://lake/x").await.unwrap();
    assert_eq!(by_uri.expired_runs, [producer].into());
}
