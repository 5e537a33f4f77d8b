//! The schedule through the CLI: backfill creates runs with the right
//! intervals; a paused DAG gets no scheduled runs until unpaused.

use std::time::Duration;

use updraft_e2e::{World, eventually};

/// Backfill over three days creates three runs whose data intervals are
/// the days before, in the DAG's zone.
#[test]
fn backfill_over_three_days_creates_three_runs_with_their_intervals() {
    let world = World::new();
    world.spec(
        "etl.yaml",
        "dag: etl\nschedule: '@daily'\ntimezone: Asia/Tokyo\nstart: 2026-11-01\ntasks:\n  - id: load\n    command: [echo, '{{ data_interval_start | ds }}']\n",
    );
    let ran = world
        .run(&[
            "backfill",
            "etl",
            "--from",
            "2026-11-10",
            "--to",
            "2026-11-12",
        ])
        .expect(0);
    assert!(ran.stdout.contains("3 run(s) created"), "{}", ran.stdout);
    let runs = world
        .run(&["runs", "etl", "--output", "json"])
        .expect(0)
        .json();
    let mut got: Vec<(String, String, String)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            (
                s("run_id"),
                s("data_interval_start"),
                s("data_interval_end"),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "backfill__2026-11-10T00:00:00+09:00".into(),
                "2026-11-09T00:00:00+09:00".into(),
                "2026-11-10T00:00:00+09:00".into()
            ),
            (
                "backfill__2026-11-11T00:00:00+09:00".into(),
                "2026-11-10T00:00:00+09:00".into(),
                "2026-11-11T00:00:00+09:00".into()
            ),
            (
                "backfill__2026-11-12T00:00:00+09:00".into(),
                "2026-11-11T00:00:00+09:00".into(),
                "2026-11-12T00:00:00+09:00".into()
            ),
        ]
    );
    let again = world
        .run(&[
            "backfill",
            "etl",
            "--from",
            "2026-11-10",
            "--to",
            "2026-11-12",
        ])
        .expect(0);
    assert!(
        again
            .stdout
            .contains("0 run(s) created, 0 rerun, 3 skipped"),
        "{}",
        again.stdout
    );
    let _dev = world.dev();
    let all_done = eventually(Duration::from_secs(30), || {
        let runs = world
            .run(&["runs", "etl", "--state", "succeeded", "--output", "json"])
            .json();
        runs.as_array().is_some_and(|r| r.len() >= 3)
    });
    assert!(
        all_done,
        "backfill runs did not finish:\n{}",
        world.dev_output()
    );
    let log = world
        .run(&["logs", "etl", "backfill__2026-11-11T00:00:00+09:00", "load"])
        .expect(0);
    assert_eq!(log.stdout.trim(), "2026-11-10");
}

/// A paused DAG gets no scheduled runs; unpaused, it gets its latest.
#[test]
fn pause_stops_scheduling_until_unpause() {
    let world = World::new();
    world.spec(
        "minutely.yaml",
        "dag: minutely\nschedule: '* * * * *'\ntasks:\n  - id: a\n    command: [echo, tick]\n",
    );
    world.run(&["pause", "minutely"]).expect(0);
    let _dev = world.dev();
    std::thread::sleep(Duration::from_millis(1500));
    let runs = world
        .run(&["runs", "minutely", "--output", "json"])
        .expect(0)
        .json();
    assert_eq!(runs, serde_json::json!([]), "paused: no runs");
    world.run(&["unpause", "minutely"]).expect(0);
    let scheduled = eventually(Duration::from_secs(10), || {
        let runs = world.run(&["runs", "minutely", "--output", "json"]).json();
        runs.as_array().is_some_and(|r| {
            r.len() == 1 && r[0]["run_id"].as_str().unwrap().starts_with("scheduled__")
        })
    });
    assert!(
        scheduled,
        "unpaused: one scheduled run\n{}",
        world.dev_output()
    );
}

/// A run keeps the graph of the spec version it started with: after the
/// spec changes, the old run still shows its own tasks and a new run the
/// new ones.
#[test]
fn old_runs_keep_the_graph_they_ran() {
    let world = World::new();
    world.spec(
        "v.yaml",
        "dag: v\ntasks:\n  - id: a\n    command: [echo, one]\n",
    );
    let old = world
        .run(&["run", "v", "--output", "json"])
        .expect(0)
        .json();
    world.spec(
        "v.yaml",
        "dag: v\ntasks:\n  - id: a\n    command: [echo, two]\n  - id: b\n    after: [a]\n    image: etl:1.0\n    command: [echo, b]\n",
    );
    let new = world
        .run(&["run", "v", "--output", "json"])
        .expect(0)
        .json();
    let old_id = old["run"]["run_id"].as_str().unwrap();
    let tasks = |show: &serde_json::Value| {
        show["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["task_id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(tasks(&world.show("v", old_id)), ["a"]);
    assert_eq!(tasks(&new), ["a", "b"]);
    assert_ne!(old["run"]["spec_version"], new["run"]["spec_version"]);
    let new_id = new["run"]["run_id"].as_str().unwrap();
    assert_eq!(
        world.run(&["logs", "v", old_id, "a"]).expect(0).stdout,
        "one\n"
    );
    let b_log = world.run(&["logs", "v", new_id, "b"]).expect(0).stdout;
    assert_eq!(
        b_log,
        "[updraft] local mode: image etl:1.0 is not used; the command runs on this machine\nb\n"
    );
    world.run(&["rerun", "v", old_id]).expect(0);
    let rerun_old = world.show("v", old_id);
    assert_eq!(
        tasks(&rerun_old),
        ["a"],
        "a rerun uses the run's own version"
    );
}

/// `updraft schedule` (issue 16) lists the points of a range without
/// creating runs: a daily Asia/Tokyo DAG and an hourly America/New_York DAG
/// across 2026-11-01, whose 01:00 hour happens twice and fires once.
#[test]
fn schedule_lists_points_and_intervals_across_the_fall_back_hour() {
    let world = World::new();
    world.spec(
        "tokyo.yaml",
        "dag: tokyo\nschedule: '@daily'\ntimezone: Asia/Tokyo\ntasks:\n  - id: a\n    command: [echo, a]\n",
    );
    world.spec(
        "ny.yaml",
        "dag: ny\nschedule: '0 * * * *'\ntimezone: America/New_York\ntasks:\n  - id: a\n    command: [echo, a]\n",
    );
    let columns = |json: &serde_json::Value, keys: &[&str]| -> Vec<Vec<String>> {
        json["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                keys.iter()
                    .map(|k| r[*k].as_str().unwrap().to_string())
                    .collect()
            })
            .collect()
    };
    let tokyo = world
        .run(&[
            "schedule",
            "tokyo",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-02",
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(
        columns(
            &tokyo,
            &[
                "run_id",
                "logical_date_utc",
                "data_interval_start",
                "data_interval_end"
            ]
        ),
        [
            [
                "scheduled__2026-11-01T00:00:00+09:00",
                "2026-10-31T15:00:00Z",
                "2026-10-31T00:00:00+09:00",
                "2026-11-01T00:00:00+09:00"
            ],
            [
                "scheduled__2026-11-02T00:00:00+09:00",
                "2026-11-01T15:00:00Z",
                "2026-11-01T00:00:00+09:00",
                "2026-11-02T00:00:00+09:00"
            ]
        ]
    );
    assert_eq!(tokyo["offset_changes"], serde_json::json!([]));

    let args = [
        "schedule",
        "ny",
        "--from",
        "2026-11-01T00:00",
        "--to",
        "2026-11-01T03:00",
    ];
    let ny = world
        .run(&[&args[..], &["--output", "json"]].concat())
        .expect(0)
        .json();
    assert_eq!(
        columns(
            &ny,
            &[
                "logical_date_utc",
                "logical_date",
                "data_interval_start_utc"
            ]
        ),
        [
            [
                "2026-11-01T04:00:00Z",
                "2026-11-01T00:00:00-04:00",
                "2026-11-01T03:00:00Z"
            ],
            [
                "2026-11-01T05:00:00Z",
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T04:00:00Z"
            ],
            [
                "2026-11-01T07:00:00Z",
                "2026-11-01T02:00:00-05:00",
                "2026-11-01T05:00:00Z"
            ],
            [
                "2026-11-01T08:00:00Z",
                "2026-11-01T03:00:00-05:00",
                "2026-11-01T07:00:00Z"
            ]
        ],
        "01:00 EST (06:00Z) is the second 01:00 and does not fire"
    );
    assert_eq!(
        ny["offset_changes"],
        serde_json::json!([{"at": "2026-11-01T06:00:00Z", "before": "-04:00", "after": "-05:00"}])
    );
    let text = world.run(&args).expect(0).stdout;
    let lines: Vec<&str> = text.lines().collect();
    let marker = "~~ 2026-11-01T06:00:00Z: clocks go back 1h (-04:00 EDT to -05:00 EST)";
    let at = lines
        .iter()
        .position(|l| *l == marker)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        lines[at - 1].starts_with("scheduled__2026-11-01T01:00:00-04:00"),
        "{text}"
    );
    assert!(
        lines[at + 1].starts_with("scheduled__2026-11-01T02:00:00-05:00"),
        "{text}"
    );
    let runs = world.run(&["runs", "--output", "json"]).expect(0).json();
    assert_eq!(runs, serde_json::json!([]), "schedule creates no runs");
}
