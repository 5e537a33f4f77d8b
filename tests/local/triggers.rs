//! Issue 13, triggers through `updraft dev`: a run of one DAG ending starts
//! a run of the DAG that waits for it (not when it waits for another end),
//! and an artifact a run produced starts a run of the DAG whose pattern it
//! matches; `runs` and `show` say what started each.

use std::time::Duration;

use serde_json::Value;
use updraft_e2e::{World, eventually};

fn runs(world: &World, dag: &str) -> Vec<Value> {
    world
        .run(&["runs", dag, "--output", "json"])
        .expect(0)
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn ended(world: &World, dag: &str, count: usize) -> bool {
    let runs = runs(world, dag);
    runs.len() == count
        && runs
            .iter()
            .all(|r| r["state"] == "succeeded" || r["state"] == "failed")
}

#[test]
fn a_run_ending_starts_the_dag_that_waits_for_it() {
    let world = World::new();
    world.spec(
        "extract.yaml",
        "dag: extract\ntimezone: Asia/Tokyo\nparams: { fail: 'no' }\ntasks:\n  - id: pull\n    command: [sh, -c, '[ {{ params.fail }} = no ]']\n",
    );
    world.spec(
        "load.yaml",
        "dag: load\ntimezone: Asia/Tokyo\ntriggers:\n  - dag: extract\ntasks:\n  - id: push\n    command: [echo, 'after {{ trigger.run_id }} for {{ ds }}']\n",
    );
    world.spec(
        "cleanup.yaml",
        "dag: cleanup\ntriggers:\n  - dag: extract\n    state: failed\ntasks:\n  - id: sweep\n    command: [echo, swept]\n",
    );
    let _dev = world.dev();
    let upstream = world
        .run(&["trigger", "extract", "--wait", "--output", "json"])
        .expect(0)
        .json();
    assert!(
        eventually(Duration::from_secs(20), || ended(&world, "load", 1)),
        "{:?}\n{}",
        runs(&world, "load"),
        world.dev_output()
    );
    let load = &runs(&world, "load")[0];
    assert_eq!(load["state"], "succeeded");
    assert_eq!(load["kind"], "triggered");
    assert_eq!(load["logical_date"], upstream["logical_date"]);
    let upstream_id = upstream["run_id"].as_str().unwrap();
    assert_eq!(load["trigger"]["events"][0]["run_id"], upstream_id);
    let load_id = load["run_id"].as_str().unwrap();
    let log = world
        .run(&["logs", "load", load_id, "push"])
        .expect(0)
        .stdout;
    assert!(
        log.starts_with(&format!("after {upstream_id} for ")),
        "{log}"
    );
    let shown = world.run(&["show", "load", load_id]).expect(0).stdout;
    assert!(
        shown.contains(&format!(
            "started by run {upstream_id} of extract (succeeded)"
        )),
        "{shown}"
    );
    let table = world.run(&["runs", "load"]).expect(0).stdout;
    assert!(table.contains("trigger: run"), "{table}");
    assert!(
        runs(&world, "cleanup").is_empty(),
        "cleanup waits for failures"
    );

    world
        .run(&["trigger", "extract", "--param", "fail=yes", "--wait"])
        .expect(1);
    assert!(
        eventually(Duration::from_secs(20), || ended(&world, "cleanup", 1)),
        "{}",
        world.dev_output()
    );
    assert_eq!(runs(&world, "load").len(), 1, "load waits for successes");
}

#[test]
fn an_artifact_a_run_produced_starts_the_dag_whose_pattern_it_matches() {
    let world = World::new();
    world.spec(
        "ingest.yaml",
        "dag: ingest\ntasks:\n  - id: land\n    command: [echo, landed]\n    produces: [\"s3://lake/raw/{{ ds }}/orders.parquet\"]\n",
    );
    world.spec(
        "report.yaml",
        "dag: report\ntriggers:\n  - artifact: \"s3://lake/raw/{date}/*.parquet\"\ntasks:\n  - id: build\n    command: [echo, 'report for {{ params.date }} from {{ trigger.uri }}']\n",
    );
    let _dev = world.dev();
    let ingest = world
        .run(&["trigger", "ingest", "--wait", "--output", "json"])
        .expect(0)
        .json();
    assert!(
        eventually(Duration::from_secs(20), || ended(&world, "report", 1)),
        "{}",
        world.dev_output()
    );
    let report = &runs(&world, "report")[0];
    let date = &ingest["logical_date"].as_str().unwrap()[..10];
    assert_eq!(report["params"]["date"], date);
    let id = report["run_id"].as_str().unwrap();
    let log = world.run(&["logs", "report", id, "build"]).expect(0).stdout;
    assert_eq!(
        log.trim(),
        format!("report for {date} from s3://lake/raw/{date}/orders.parquet")
    );
    let lineage = world
        .run(&["lineage", "report", id, "--output", "json"])
        .expect(0)
        .stdout;
    assert!(lineage.contains("orders.parquet"), "{lineage}");
}

#[test]
fn a_debounce_window_gathers_the_artifacts_of_a_run_into_one_run() {
    let world = World::new();
    world.spec(
        "ingest.yaml",
        "dag: ingest\ntasks:\n  - id: land\n    command: [echo, landed]\n    produces: [\"s3://lake/raw/{{ ds }}/a.parquet\", \"s3://lake/raw/{{ ds }}/b.parquet\", \"s3://lake/raw/{{ ds }}/c.parquet\", \"s3://lake/raw/{{ ds }}/d.parquet\", \"s3://lake/raw/{{ ds }}/e.parquet\"]\n",
    );
    world.spec(
        "report.yaml",
        "dag: report\ntriggers:\n  - artifact: \"s3://lake/raw/{date}/*.parquet\"\n    debounce: 2s\ntasks:\n  - id: build\n    command: [echo, '{{ trigger.events | length }} files']\n",
    );
    let _dev = world.dev();
    world.run(&["trigger", "ingest", "--wait"]).expect(0);
    assert!(
        eventually(Duration::from_secs(20), || ended(&world, "report", 1)),
        "{:?}\n{}",
        runs(&world, "report"),
        world.dev_output()
    );
    let report = &runs(&world, "report")[0];
    assert_eq!(report["trigger"]["events"].as_array().unwrap().len(), 5);
    let id = report["run_id"].as_str().unwrap();
    let log = world.run(&["logs", "report", id, "build"]).expect(0).stdout;
    assert_eq!(log.trim(), "5 files");
}

/// Issue 28: an `all:` trigger starts its run once every condition has
/// happened for one logical date, reading what a producer said of an
/// artifact (`extra`); one still missing a condition waits, saying for what.
#[test]
fn an_all_trigger_waits_for_every_condition_and_reads_the_artifacts_extra() {
    let world = World::new();
    world.spec(
        "ingest.yaml",
        "dag: ingest\ntasks:\n  - id: orders\n    command: [sh, -c, 'echo \"{\\\"artifacts\\\": [{\\\"uri\\\": \\\"s3://lake/{{ ds }}/orders.parquet\\\", \\\"extra\\\": {\\\"rows\\\": 42}}]}\" > \"$UPDRAFT_OUTPUT\"']\n  - id: refunds\n    after: [orders]\n    command: [echo, done]\n    produces: [\"s3://lake/{{ ds }}/refunds.parquet\"]\n",
    );
    world.spec(
        "report.yaml",
        "dag: report\ntriggers:\n  - all:\n      - dag: ingest\n      - artifact: \"s3://lake/{date}/orders.parquet\"\n      - artifact: \"s3://lake/{date}/refunds.parquet\"\ntasks:\n  - id: build\n    command: [echo, '{{ trigger.events | length }} events, {{ trigger.events[0].extra.rows }} orders']\n",
    );
    world.spec(
        "audit.yaml",
        "dag: audit\ntriggers:\n  - all:\n      - artifact: \"s3://lake/{date}/orders.parquet\"\n      - dag: quarterly\ntasks:\n  - id: check\n    command: [echo, audited]\n",
    );
    world.spec(
        "quarterly.yaml",
        "dag: quarterly\ntasks:\n  - id: close\n    command: [echo, closed]\n",
    );
    let _dev = world.dev();
    let ingest = world
        .run(&["trigger", "ingest", "--wait", "--output", "json"])
        .expect(0)
        .json();
    assert!(
        eventually(Duration::from_secs(20), || ended(&world, "report", 1)),
        "{:?}\n{}",
        runs(&world, "report"),
        world.dev_output()
    );
    let report = &runs(&world, "report")[0];
    assert_eq!(report["state"], "succeeded");
    assert_eq!(report["logical_date"], ingest["logical_date"]);
    let id = report["run_id"].as_str().unwrap();
    let log = world.run(&["logs", "report", id, "build"]).expect(0).stdout;
    assert_eq!(log.trim(), "3 events, 42 orders");

    let audit = runs(&world, "audit");
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["state"], "queued");
    let id = audit[0]["run_id"].as_str().unwrap();
    let shown = world.run(&["show", "audit", id]).expect(0).stdout;
    assert!(shown.contains("waiting for dag: quarterly\n"), "{shown}");
}
