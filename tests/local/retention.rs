//! `updraft clean`: ended runs past retention deleted from the SQLite state
//! with their logs; `--dry-run` lists them; the latest run always stays.

use std::time::Duration;

use updraft_e2e::World;

#[test]
fn clean_deletes_runs_past_retention_with_their_logs_and_keeps_the_latest() {
    let world = World::new();
    world.spec(
        "hello.yaml",
        "dag: hello\ntasks:\n  - id: a\n    command: [echo, hi]\n",
    );
    let ids: Vec<String> = (0..3)
        .map(|_| {
            let run = world
                .run(&["run", "hello", "--output", "json"])
                .expect(0)
                .json();
            run["run"]["run_id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let logs = |id: &str| world.state().join("logs/hello").join(id);
    assert!(
        ids.iter().all(|id| !id.is_empty() && logs(id).exists()),
        "{ids:?}"
    );
    // Past a one-second retention.
    std::thread::sleep(Duration::from_millis(1_200));

    let listed = world
        .run(&[
            "clean",
            "--older-than",
            "1s",
            "--dry-run",
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    let listed: Vec<&str> = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    assert_eq!(listed, [ids[0].as_str(), ids[1].as_str()]);
    assert!(logs(&ids[0]).exists(), "a dry run deletes nothing");

    let cleaned = world.run(&["clean", "--older-than", "1s"]).expect(0).stdout;
    assert!(
        cleaned.starts_with("deleted 2 run(s) past retention"),
        "{cleaned}"
    );
    let runs = world
        .run(&["runs", "hello", "--output", "json"])
        .expect(0)
        .json();
    let left: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    assert_eq!(left, [ids[2].as_str()]);
    assert!(!logs(&ids[0]).exists() && !logs(&ids[1]).exists());
    assert!(logs(&ids[2]).exists());
    let gone = world.run(&["show", "hello", &ids[0]]);
    assert_eq!(gone.code, 1, "{}", gone.stderr);

    // Nothing left to delete: the latest run stays however old.
    let again = world.run(&["clean", "--older-than", "1s"]).expect(0).stdout;
    assert!(again.starts_with("deleted 0 run(s)"), "{again}");
    let bad = world.run(&["clean", "--older-than", "soon"]).expect(1);
    assert_eq!(
        bad.stderr.trim(),
        "updraft: --older-than soon: give a duration such as 90d"
    );
}

/// `updraft dev` cleans as it starts (and once a day): a DAG's own
/// `retention` decides; lineage of a run it deleted says it expired.
#[test]
fn dev_deletes_the_runs_past_a_dags_retention() {
    let world = World::new();
    world.spec(
        "brief.yaml",
        "dag: brief\nretention: 1s\ntasks:\n  - id: a\n    command: [echo, hi]\n",
    );
    let first = world
        .run(&["run", "brief", "--output", "json"])
        .expect(0)
        .json();
    world.run(&["run", "brief"]).expect(0);
    std::thread::sleep(Duration::from_millis(1_200));
    let _dev = world.dev();
    let one_left = updraft_e2e::eventually(Duration::from_secs(20), || {
        let runs = world
            .run(&["runs", "brief", "--output", "json"])
            .expect(0)
            .json();
        runs.as_array().map(Vec::len) == Some(1)
    });
    assert!(one_left, "{}", world.dev_output());
    // Its lineage says it expired, rather than that there is no such run.
    let id = first["run"]["run_id"].as_str().unwrap();
    let lineage = world.run(&["lineage", "brief", id]).expect(0).stdout;
    assert_eq!(
        lineage.trim(),
        format!(
            "brief {id} has expired: ended runs are deleted after their DAG's retention, and their lineage with them"
        )
    );
}
