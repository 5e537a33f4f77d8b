//! Reruns and marks: a failed task rerun alone keeps its upstream's tries;
//! `--downstream` runs the downstream again; `mark` changes the run's end.

use updraft_e2e::World;

/// b fails while the file `gate` is missing; c runs after b.
const GATED: &str = "dag: gated\ntasks:\n  - id: a\n    command: [sh, -c, 'echo a >> \"$WORLD/ran\"']\n  - id: b\n    after: [a]\n    command: [sh, -c, 'echo b >> \"$WORLD/ran\"; test -f \"$WORLD/gate\"']\n  - id: c\n    after: [b]\n    command: [sh, -c, 'echo c >> \"$WORLD/ran\"']\n";

fn ran(world: &World) -> Vec<String> {
    std::fs::read_to_string(world.path().join("ran"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn failed_run(world: &World) -> String {
    world.spec("gated.yaml", GATED);
    let run = world
        .run(&["run", "gated", "--output", "json"])
        .expect(1)
        .json();
    assert_eq!(World::task(&run, "b"), ("failed".into(), 1));
    assert_eq!(World::task(&run, "c"), ("upstream_failed".into(), 0));
    run["run"]["run_id"].as_str().unwrap().to_string()
}

/// Rerunning only the failed task, then its downstream, succeeds; the
/// upstream task keeps try 1 and never runs again.
#[test]
fn rerun_of_the_failed_task_keeps_upstream_tries() {
    let world = World::new();
    let run_id = failed_run(&world);
    std::fs::write(world.path().join("gate"), "open").unwrap();
    let _dev = world.dev();
    world
        .run(&["rerun", "gated", &run_id, "b", "--wait"])
        .expect(1);
    let show = world.show("gated", &run_id);
    assert_eq!(
        World::task(&show, "a"),
        ("succeeded".into(), 1),
        "upstream not run again"
    );
    assert_eq!(World::task(&show, "b"), ("succeeded".into(), 2));
    assert_eq!(
        World::task(&show, "c"),
        ("upstream_failed".into(), 0),
        "not chosen, not rerun"
    );
    assert_eq!(ran(&world), ["a", "b", "b"]);

    world
        .run(&["rerun", "gated", &run_id, "b", "--downstream", "--wait"])
        .expect(0);
    let show = world.show("gated", &run_id);
    assert_eq!(show["run"]["state"], "succeeded");
    assert_eq!(World::task(&show, "a"), ("succeeded".into(), 1));
    assert_eq!(World::task(&show, "b"), ("succeeded".into(), 3));
    assert_eq!(World::task(&show, "c"), ("succeeded".into(), 1));
    assert_eq!(ran(&world), ["a", "b", "b", "b", "c"]);
}

/// `--failed` reruns the failed task and those that could not run.
#[test]
fn rerun_failed_reruns_failed_and_upstream_failed_tasks() {
    let world = World::new();
    let run_id = failed_run(&world);
    std::fs::write(world.path().join("gate"), "open").unwrap();
    let _dev = world.dev();
    let cleared = world
        .run(&["rerun", "gated", &run_id, "--failed", "--wait"])
        .expect(0);
    assert!(
        cleared.stdout.contains("cleared 2 task(s)"),
        "{}",
        cleared.stdout
    );
    assert_eq!(ran(&world), ["a", "b", "b", "c"]);
}

/// Marking the failed task succeeded (and its downstream) ends the run
/// succeeded, without running anything.
#[test]
fn mark_changes_a_task_and_the_run_follows() {
    let world = World::new();
    let run_id = failed_run(&world);
    world
        .run(&["mark", "gated", &run_id, "b", "success"])
        .expect(0);
    let show = world.show("gated", &run_id);
    assert_eq!(World::task(&show, "b"), ("succeeded".into(), 1));
    assert_eq!(show["run"]["state"], "failed", "c is still upstream_failed");
    world
        .run(&["mark", "gated", &run_id, "c", "success"])
        .expect(0);
    assert_eq!(world.show("gated", &run_id)["run"]["state"], "succeeded");
    assert_eq!(ran(&world), ["a", "b"], "marking runs nothing");
    let bad = world
        .run(&["mark", "gated", &run_id, "c", "done"])
        .expect(1);
    assert_eq!(
        bad.stderr.trim(),
        "updraft: cannot mark a task `done`; use success or failed"
    );
}
