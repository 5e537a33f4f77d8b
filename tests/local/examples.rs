//! The example specs in `dag-specs/` and the README really run.

use std::path::Path;

use updraft_e2e::World;

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dag-specs")
}

/// Every example validates and runs to success with `updraft run`.
#[test]
fn every_example_runs_to_success() {
    let world = World::new();
    let mut dags = Vec::new();
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        world.spec(path.file_name().unwrap().to_str().unwrap(), &text);
        let dag = text
            .lines()
            .find_map(|l| l.strip_prefix("dag: "))
            .unwrap()
            .trim()
            .to_string();
        dags.push(dag);
    }
    dags.sort();
    assert_eq!(dags, ["daily_etl", "flaky_retries", "ml_pipeline"]);
    world.run(&["validate"]).expect(0);
    for dag in &dags {
        let run = world
            .run(&["run", dag, "--output", "json"])
            .expect(0)
            .json();
        assert_eq!(run["run"]["state"], "succeeded", "{dag}");
    }
    let etl = world.latest_run("daily_etl");
    let log = world
        .run(&["logs", "daily_etl", etl["run_id"].as_str().unwrap(), "load"])
        .expect(0)
        .stdout;
    assert!(log.starts_with("loading partition ds="), "{log}");
}

/// The spec the README shows is the runnable example, word for word.
#[test]
fn the_readme_shows_the_daily_etl_example() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let spec = std::fs::read_to_string(examples().join("daily_etl.yaml")).unwrap();
    let body: String = spec
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        readme.contains(&body),
        "README's spec differs from dag-specs/daily_etl.yaml"
    );
}
