//! Runs as experiments (issue 10): who made a run, its note, its metrics in
//! `runs` columns, `compare` of two runs whose specs differ, the audit
//! entry of a rerun, and the example of docs/experiments.md.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use updraft_e2e::{World, binary};

fn example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dag-specs/ml_pipeline.yaml");
    std::fs::read_to_string(path).unwrap()
}

fn run_id(ran: Value) -> String {
    ran["run"]["run_id"].as_str().unwrap().to_string()
}

/// The example with prepare's command edited and a task added.
fn changed_example() -> String {
    let text = example().replace(
        "print(f\"prepared {len(shards)} shards\")",
        "print(f\"prepared {len(shards)} shards, edited\")",
    );
    assert_ne!(text, example(), "the edit applies");
    text + "  - id: publish\n    after: [evaluate]\n    command: [echo, publish]\n"
}

#[test]
fn two_runs_compared_by_params_metrics_and_the_spec_they_ran() {
    let world = World::new();
    world.spec("ml.yaml", &example());
    let baseline = run_id(
        world
            .run(&[
                "run",
                "ml_pipeline",
                "--note",
                "baseline",
                "--output",
                "json",
            ])
            .expect(0)
            .json(),
    );
    world.spec("ml.yaml", &changed_example());
    let faster = run_id(
        world
            .run(&[
                "run",
                "ml_pipeline",
                "--param",
                "lr=0.02",
                "--note",
                "LR 0.02, publish step",
                "--output",
                "json",
            ])
            .expect(0)
            .json(),
    );

    // Sorted by the metric evaluate writes: lr 0.02 scores better.
    let columns = "run_id,params.lr,metrics.evaluate.accuracy,note";
    let listed = world
        .run(&[
            "runs",
            "ml_pipeline",
            "--columns",
            columns,
            "--sort",
            "-metrics.evaluate.accuracy",
        ])
        .expect(0)
        .stdout;
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["RUN_ID", "PARAMS.LR", "METRICS.EVALUATE.ACCURACY", "NOTE"]
    );
    assert!(
        lines[1].starts_with(&faster) && lines[1].contains("0.744"),
        "{listed}"
    );
    assert!(
        lines[2].starts_with(&baseline) && lines[2].contains("0.6355"),
        "{listed}"
    );
    let ascending = world
        .run(&[
            "runs",
            "ml_pipeline",
            "--columns",
            "run_id",
            "--sort",
            "metrics.evaluate.accuracy",
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    let order: Vec<&str> = ascending
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(order, [baseline.as_str(), faster.as_str()]);
    let good = world
        .run(&[
            "runs",
            "ml_pipeline",
            "--where",
            "metrics.evaluate.accuracy>=0.7",
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(good.as_array().unwrap().len(), 1);
    assert_eq!(good[0]["run_id"], faster.as_str());
    assert_eq!(good[0]["metrics"]["evaluate.accuracy"], 0.744);
    let unknown = world
        .run(&["runs", "ml_pipeline", "--columns", "metrics.evaluate.acc"])
        .expect(1);
    assert!(
        unknown.stderr.starts_with(
            "updraft: --columns: unknown column `metrics.evaluate.acc`; known: dag, run_id,"
        ) && unknown.stderr.contains("metrics.evaluate.accuracy"),
        "{}",
        unknown.stderr
    );

    // compare: the param and metric differences, and exactly the edited
    // and the added task.
    let compared = world
        .run(&[
            "compare",
            "ml_pipeline",
            &baseline,
            &faster,
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(compared["differing_params"], serde_json::json!(["lr"]));
    let delta = compared["metric_deltas"]["evaluate.accuracy"][1]
        .as_f64()
        .unwrap();
    assert!((delta - 0.1085).abs() < 1e-9, "{delta}");
    assert_eq!(
        compared["spec_diffs"][1],
        serde_json::json!({
            "added": ["publish"],
            "removed": [],
            "changed": [{"task": "prepare", "keys": ["command"]}],
            "dag_keys": []
        })
    );
    let text = world
        .run(&["compare", "ml_pipeline", &baseline, &faster])
        .expect(0)
        .stdout;
    assert!(
        text.contains("+ publish (added)") && text.contains("~ prepare: command"),
        "{text}"
    );
    let lr_row = text.lines().find(|l| l.starts_with("params.lr")).unwrap();
    assert!(lr_row.ends_with("0.02 *"), "{text}");

    // versions and diff name the same two versions.
    let versions = world
        .run(&["versions", "ml_pipeline", "--output", "json"])
        .expect(0)
        .json();
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions.iter().all(|v| v["runs"] == 1));
    assert_eq!(versions[0]["current"], true, "newest first");
    let short = |v: &Value| v["version"].as_str().unwrap()[..8].to_string();
    let diff = world
        .run(&[
            "diff",
            "ml_pipeline",
            &short(&versions[1]),
            &short(&versions[0]),
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(diff["difference"], compared["spec_diffs"][1]);

    // The metrics are kept with the try that reported them.
    let shown = world.show("ml_pipeline", &faster);
    let evaluate = shown["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == "evaluate")
        .unwrap();
    assert_eq!(
        evaluate["attempts"][0]["metrics"],
        serde_json::json!({"accuracy": 0.744})
    );

    // Who: the caller made both runs; the scheduler made none.
    let me = world.show("ml_pipeline", &baseline)["run"]["triggered_by"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(me.contains('@'), "user@host: {me}");
    for (who, count) in [(me.as_str(), 2), ("schedule", 0)] {
        let runs = world
            .run(&["runs", "--triggered-by", who, "--output", "json"])
            .expect(0)
            .json();
        assert_eq!(runs.as_array().unwrap().len(), count, "{who}");
    }
    let noted = world
        .run(&[
            "runs",
            "--note-contains",
            "publish STEP",
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(noted[0]["run_id"], faster.as_str());

    // A rerun is kept as an audit entry with its caller and note.
    world
        .run(&[
            "rerun",
            "ml_pipeline",
            &baseline,
            "evaluate",
            "--note",
            "after the fix",
        ])
        .expect(0);
    let shown = world.show("ml_pipeline", &baseline);
    assert_eq!(shown["run"]["note"], "after the fix");
    let audit = &shown["audit"][0];
    assert_eq!(
        (
            audit["by"].as_str(),
            audit["action"].as_str(),
            &audit["tasks"]
        ),
        (
            Some(me.as_str()),
            Some("rerun"),
            &serde_json::json!(["evaluate"])
        )
    );
    let text = world
        .run(&["show", "ml_pipeline", &baseline])
        .expect(0)
        .stdout;
    assert!(
        text.contains(&format!("{me} rerun evaluate (after the fix)")),
        "{text}"
    );
}

/// A task whose metrics are not numbers fails, saying why.
#[test]
fn a_task_with_bad_metrics_fails_with_the_reason() {
    let world = World::new();
    world.spec(
        "m.yaml",
        "dag: m\ntasks:\n  - id: score\n    command: [python3, -c, \"import json, os; json.dump({'metrics': {'accuracy': 'high'}}, open(os.environ['UPDRAFT_OUTPUT'], 'w'))\"]\n",
    );
    let ran = world
        .run(&["run", "m", "--output", "json"])
        .expect(1)
        .json();
    let task = &ran["tasks"][0];
    assert_eq!(task["state"], "failed");
    assert_eq!(
        task["reason"],
        "output metric `accuracy` must be a finite number, not \"high\""
    );
}

/// Every command of the example in docs/experiments.md runs and succeeds.
#[test]
fn the_example_in_the_docs_runs() {
    let world = World::new();
    world.spec("ml.yaml", &example());
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/experiments.md");
    let text = std::fs::read_to_string(docs).unwrap();
    let block = text
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/experiments.md has a ```sh block");
    let bin = binary();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut commands = 0;
    for line in block.lines().filter(|l| l.starts_with("updraft ")) {
        let out = Command::new("sh")
            .args(["-c", line])
            .current_dir(world.path())
            .env("PATH", &path)
            .env("UPDRAFT_STATE", world.state())
            .env("UPDRAFT_SPECS", world.path().join("specs"))
            .env_remove("UPDRAFT_BACKEND")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`{line}` failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        commands += 1;
    }
    assert!(commands >= 5, "the example has its commands");
}
