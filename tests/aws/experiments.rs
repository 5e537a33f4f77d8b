//! Runs as experiments through `--backend aws` against moto (issue 10):
//! runs made by the caller STS names, notes, metrics an ECS task reports,
//! `runs --columns --sort`, `compare` across a spec change, `versions`,
//! and the audit entry of a rerun.

use serde_json::{Value, json};
use updraft_aws::settings::Settings;
use updraft_aws::testing::{Ending, Player, Started, sdk};
use updraft_e2e::World;

use crate::aws_world;
use crate::pipeline::drive;

const V1: &str = "dag: exp\nparams: { lr: 0.01 }\ntasks:\n  - id: train\n    command: [train, \"{{ params.lr }}\"]\n  - id: evaluate\n    after: [train]\n    command: [evaluate, \"{{ params.lr }}\"]\n";
const V2: &str = "dag: exp\nparams: { lr: 0.01 }\ntasks:\n  - id: train\n    command: [train, --fast, \"{{ params.lr }}\"]\n  - id: evaluate\n    after: [train]\n    command: [evaluate, \"{{ params.lr }}\"]\n  - id: publish\n    after: [evaluate]\n    command: [publish]\n";

/// evaluate scores 0.5 + 10 × lr, as a real evaluation would write it.
fn evaluate(started: &Started) -> Ending {
    let output = (started.task_id == "evaluate").then(|| {
        let lr: f64 = started.command.last().unwrap().parse().unwrap();
        json!({ "metrics": { "accuracy": 0.5 + 10.0 * lr } })
    });
    Ending {
        exit_code: 0,
        output,
    }
}

fn trigger(world: &World, lr: &str, note: &str) -> String {
    let run = world
        .run(&[
            "trigger",
            "exp",
            "--param",
            &format!("lr={lr}"),
            "--note",
            note,
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    run["run_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiments_on_dynamodb_name_the_sts_caller_and_compare_across_a_spec_change() {
    let world = aws_world();
    let (subnets, groups) = updraft_aws::testing::default_network();
    world.set_env("UPDRAFT_SUBNETS", &subnets.join(","));
    world.set_env("UPDRAFT_SECURITY_GROUPS", &groups.join(","));
    let settings = Settings::from_env(|name| world.env(name)).unwrap();
    updraft_aws::testing::ecs_runner(&aws_sdk_ecs::Client::new(&sdk()), &settings.ecs.cluster)
        .await;
    let engine = settings.engine(&sdk());
    let mut player = Player::new(&settings);

    world.spec("exp.yaml", V1);
    world.run(&["deploy"]).expect(0);
    let first = trigger(&world, "0.01", "baseline");
    assert_eq!(
        drive(&mut player, &engine, &engine, "exp", &first, evaluate).await,
        "succeeded"
    );
    world.spec("exp.yaml", V2);
    world.run(&["deploy"]).expect(0);
    let second = trigger(&world, "0.02", "faster train");
    assert_eq!(
        drive(&mut player, &engine, &engine, "exp", &second, evaluate).await,
        "succeeded"
    );

    let runs = world
        .run(&[
            "runs",
            "exp",
            "--columns",
            "run_id,metrics.evaluate.accuracy",
            "--sort",
            "-metrics.evaluate.accuracy",
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    let order: Vec<(&str, f64)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["run_id"].as_str().unwrap(),
                r["metrics"]["evaluate.accuracy"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(order, [(second.as_str(), 0.7), (first.as_str(), 0.6)]);

    let who = runs[0]["triggered_by"].as_str().unwrap().to_string();
    assert!(who.starts_with("arn:aws:"), "the STS caller: {who}");
    let by_me = world
        .run(&["runs", "--triggered-by", &who, "--output", "json"])
        .expect(0)
        .json();
    assert_eq!(by_me.as_array().unwrap().len(), 2);

    let compared = world
        .run(&["compare", "exp", &first, &second, "--output", "json"])
        .expect(0)
        .json();
    assert_eq!(compared["differing_params"], json!(["lr"]));
    assert_eq!(
        compared["spec_diffs"][1],
        json!({"added": ["publish"], "removed": [], "changed": [{"task": "train", "keys": ["command"]}], "dag_keys": []})
    );
    let versions = world
        .run(&["versions", "exp", "--output", "json"])
        .expect(0)
        .json();
    let uses: Vec<(u64, bool)> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["runs"].as_u64().unwrap(), v["current"] == true))
        .collect();
    assert_eq!(uses, [(1, true), (1, false)]);

    world
        .run(&["rerun", "exp", &first, "evaluate", "--note", "re-scored"])
        .expect(0);
    let shown = world.show("exp", &first);
    assert_eq!(shown["run"]["note"], "re-scored");
    let entry: &Value = &shown["audit"][0];
    assert_eq!(entry["by"], who.as_str());
    assert_eq!(entry["tasks"], json!(["evaluate"]));
}
