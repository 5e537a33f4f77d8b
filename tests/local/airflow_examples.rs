//! The ports of Airflow's control-flow examples in
//! `dag-specs/examples/airflow/` run with `updraft run`, each ending with the
//! task states the Airflow DAG documents.

use std::path::Path;

use serde_json::Value;
use updraft_e2e::World;

/// A world holding the ports, as the spec directory.
fn ports() -> World {
    let world = World::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dag-specs/examples/airflow");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        world.spec(path.file_name().unwrap().to_str().unwrap(), &text);
    }
    world.run(&["validate"]).expect(0);
    world
}

/// Checks each task's state, and that the run ended as `run_state`.
fn assert_states(shown: &Value, run_state: &str, states: &[(&str, &str)]) {
    assert_eq!(shown["run"]["state"], run_state, "{shown}");
    for (task, state) in states {
        assert_eq!(World::task(shown, task).0, *state, "{task}: {shown}");
    }
}

#[test]
fn the_nested_branches_skip_their_joins_as_in_airflow() {
    let world = ports();
    let shown = world
        .run(&["run", "example_nested_branch_dag", "--output", "json"])
        .expect(0)
        .json();
    assert_states(
        &shown,
        "succeeded",
        &[
            ("branch_1", "succeeded"),
            ("true_1", "succeeded"),
            ("false_1", "skipped"),
            ("branch_2", "skipped"),
            ("true_2", "skipped"),
            ("false_2", "skipped"),
            ("join_2", "skipped"),
            ("false_3", "skipped"),
            ("join_1", "succeeded"),
        ],
    );
}

#[test]
fn the_short_circuits_stop_what_follows_as_in_airflow() {
    let world = ports();
    let shown = world
        .run(&["run", "example_short_circuit_operator", "--output", "json"])
        .expect(0)
        .json();
    assert_states(
        &shown,
        "succeeded",
        &[
            ("true_1", "succeeded"),
            ("true_2", "succeeded"),
            ("false_1", "skipped"),
            ("false_2", "skipped"),
            ("task_3", "succeeded"),
            ("task_4", "skipped"),
            ("task_5", "succeeded"),
            ("task_6", "skipped"),
            ("task_7", "succeeded"),
        ],
    );
}

#[test]
fn latest_only_skips_in_a_backfilled_run_and_all_done_still_runs() {
    let world = ports();
    world
        .run(&[
            "backfill",
            "latest_only_with_trigger",
            "--from",
            "2021-01-01",
            "--to",
            "2021-01-01",
        ])
        .expect(0);
    let _dev = world.dev();
    let run_id = "backfill__2021-01-01T00:00:00+00:00";
    let ended = updraft_e2e::eventually(std::time::Duration::from_secs(30), || {
        world.show("latest_only_with_trigger", run_id)["run"]["state"] == "succeeded"
    });
    assert!(ended, "{}", world.dev_output());
    assert_states(
        &world.show("latest_only_with_trigger", run_id),
        "succeeded",
        &[
            ("latest_only", "succeeded"),
            ("task1", "skipped"),
            ("task2", "succeeded"),
            ("task3", "skipped"),
            ("task4", "succeeded"),
        ],
    );
}

#[test]
fn latest_only_runs_task1_only_in_a_run_that_is_the_latest() {
    let world = ports();
    world
        .run(&[
            "backfill",
            "latest_only",
            "--from",
            "2021-01-01",
            "--to",
            "2021-01-01",
        ])
        .expect(0);
    let _dev = world.dev();
    let backfilled = "backfill__2021-01-01T00:00:00+00:00";
    let ended = updraft_e2e::eventually(std::time::Duration::from_secs(30), || {
        world.show("latest_only", backfilled)["run"]["state"] == "succeeded"
    });
    assert!(ended, "{}", world.dev_output());
    let skipped = [("latest_only", "succeeded"), ("task1", "skipped")];
    assert_states(
        &world.show("latest_only", backfilled),
        "succeeded",
        &skipped,
    );
    let manual = world
        .run(&["trigger", "latest_only", "--wait", "--output", "json"])
        .expect(0)
        .json();
    let manual = manual["run_id"].as_str().unwrap();
    let ran = [("latest_only", "succeeded"), ("task1", "succeeded")];
    assert_states(&world.show("latest_only", manual), "succeeded", &ran);
}

#[test]
fn the_local_sensors_wait_fire_or_time_out_softly_as_in_airflow() {
    let world = ports();
    let dir = format!("dir={}", world.path().display());
    let ran = world.run_for(
        &[
            "run",
            "example_sensors",
            "--param",
            &dir,
            "--output",
            "json",
        ],
        std::time::Duration::from_secs(90),
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let shown = ran.json();
    assert_states(
        &shown,
        "succeeded",
        &[
            ("wait_some_seconds", "succeeded"),
            ("fire_immediately", "succeeded"),
            ("timeout_after_second_date_in_the_future", "skipped"),
            ("sensor_succeeds", "succeeded"),
            ("sensor_fails_after_3_seconds", "skipped"),
            ("wait_for_file", "succeeded"),
            ("create_file_after_3_seconds", "succeeded"),
            ("success_sensor_python", "succeeded"),
            ("failure_timeout_sensor_python", "skipped"),
            ("print_date_in_bash", "succeeded"),
        ],
    );
    // Succeeds on a Monday, skipped by its timeout otherwise.
    let weekday = World::task(&shown, "week_day_sensor_failing_on_timeout").0;
    assert!(weekday == "succeeded" || weekday == "skipped", "{weekday}");
}

#[test]
fn setups_and_teardowns_pair_up_and_a_teardown_runs_after_a_failure() {
    let world = ports();
    let shown = world
        .run(&["run", "example_setup_teardown", "--output", "json"])
        .expect(0)
        .json();
    let every = [
        "root_setup",
        "normal",
        "root_teardown",
        "taskgroup_setup",
        "section_1_normal",
        "taskgroup_teardown",
    ];
    let all_succeeded: Vec<(&str, &str)> = every.iter().map(|t| (*t, "succeeded")).collect();
    assert_states(&shown, "succeeded", &all_succeeded);

    // `normal` failing: the root teardown still runs; the group, after
    // `normal`, does not run, and neither does its teardown.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dag-specs/examples/airflow/example_setup_teardown.yaml");
    let text = std::fs::read_to_string(path).unwrap().replace(
        "command: [echo, I am just a normal task] }",
        "command: [\"false\"] }",
    );
    world.spec("example_setup_teardown.yaml", &text);
    let ran = world.run(&["run", "example_setup_teardown", "--output", "json"]);
    assert_eq!(ran.code, 1);
    assert_states(
        &ran.json(),
        "failed",
        &[
            ("normal", "failed"),
            ("root_teardown", "succeeded"),
            ("taskgroup_setup", "upstream_failed"),
            ("taskgroup_teardown", "upstream_failed"),
        ],
    );
}

#[test]
fn the_branch_labels_example_runs_every_task_as_in_airflow() {
    let world = ports();
    let shown = world
        .run(&["run", "example_branch_labels", "--output", "json"])
        .expect(0)
        .json();
    let every = [
        "ingest",
        "analyze",
        "check_integrity",
        "save",
        "describe_integrity",
        "email_error",
        "report",
    ];
    let all: Vec<(&str, &str)> = every.iter().map(|t| (*t, "succeeded")).collect();
    assert_states(&shown, "succeeded", &all);
}
