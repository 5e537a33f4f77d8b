//! The ML example end to end on the AWS path against moto: `updraft deploy`
//! uploads it, the planner ticks, the dispatcher launches ECS tasks and a
//! SageMaker training job, the harness ends them with the events ECS and
//! SageMaker send, and the recorder moves the run on to success. A second
//! run fails at `evaluate`; `updraft rerun` of that task finishes it
//! without launching its upstream tasks again. The same story runs on a
//! stack created from the template (`on_the_stack.rs`).

use std::time::Duration;

use serde_json::{Value, json};
use updraft_aws::functions::planner;
use updraft_aws::settings::Settings;
use updraft_aws::testing::{Ending, Functions, Player, Started, sdk};
use updraft_e2e::World;

use crate::aws_world;

const SHARDS: usize = 6;

/// What each task of the example does when the harness ends it: the
/// outputs the real commands would write; `failing` exits 1.
fn example_tasks(failing: Option<&'static str>) -> impl Fn(&Started) -> Ending {
    move |started| {
        let output = match started.task_id.as_str() {
            "prepare" => Some(
                json!({ "shards": (0..SHARDS).map(|i| format!("shard-{i}")).collect::<Vec<_>>() }),
            ),
            "featurize" => Some(json!({
                "shard": started.command.last(),
                "rows": 100 + 10 * started.map_index.unwrap_or_default(),
            })),
            _ => None,
        };
        Ending {
            exit_code: i32::from(failing == Some(started.task_id.as_str())),
            output,
        }
    }
}

/// Delivers messages to `functions` and ends tries until the run of `dag`
/// is over (retries wait a few seconds in SQS), reading its state through
/// `engine`; bounded in rounds and time.
pub(crate) async fn drive(
    player: &mut Player,
    functions: &(impl Functions + ?Sized),
    engine: &updraft_engine::Engine,
    dag: &str,
    run_id: &str,
    end: impl Fn(&Started) -> Ending,
) -> String {
    for _ in 0..120 {
        let moved = player.deliver(functions).await + player.finish(functions, &end).await;
        if moved == 0 {
            let run = engine.ports().store.run(dag, run_id).await;
            let state = run.unwrap().unwrap().state.to_string();
            if state == "succeeded" || state == "failed" {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let instances = engine.ports().store.instances(dag, run_id).await;
    let states: Vec<String> = instances
        .unwrap()
        .iter()
        .map(|i| format!("{} {} {:?}", i.key, i.state, i.reason))
        .collect();
    panic!("run {run_id} did not end: {states:?}");
}

fn launches(player: &Player, run_id: &str, task: &str) -> usize {
    player
        .ended
        .iter()
        .filter(|s| s.run_id == run_id && s.task_id == task)
        .count()
}

fn trigger(world: &World) -> String {
    let run = world
        .run(&["trigger", "ml_pipeline", "--output", "json"])
        .expect(0)
        .json();
    run["run_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ml_example_runs_on_ecs_and_sagemaker_and_reruns_from_its_failed_task() {
    let world = aws_world();
    world.set_env(
        "UPDRAFT_SAGEMAKER_ROLE",
        "arn:aws:iam::123456789012:role/updraft-sagemaker",
    );
    let (subnets, groups) = updraft_aws::testing::default_network();
    world.set_env("UPDRAFT_SUBNETS", &subnets.join(","));
    world.set_env("UPDRAFT_SECURITY_GROUPS", &groups.join(","));
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../dag-specs/ml_pipeline.yaml");
    world.run(&["deploy", example]).expect(0);
    let settings = Settings::from_env(|name| world.env(name)).unwrap();
    // The runner task definition (the stack's example runner), with tasks
    // that stay RUNNING until the harness stops them.
    updraft_aws::testing::ecs_runner(&aws_sdk_ecs::Client::new(&sdk()), &settings.ecs.cluster)
        .await;
    let engine = settings.engine(&sdk());
    let tick = planner(
        &engine,
        &settings.bucket,
        &json!({"source": "aws.events", "detail-type": "Scheduled Event"}),
    )
    .await
    .unwrap();
    assert_eq!(tick["created"], 0, "ml_pipeline has no schedule: {tick}");
    ml_example_story(&world, &settings, &engine).await;
}

/// The ML example's runs over a deployment whose `updraft` is `world`,
/// with `functions` taking the batches and events: one to success on ECS
/// and SageMaker, with its model's lineage; one that fails at `evaluate`,
/// rerun from there to success.
pub(crate) async fn ml_example_story(
    world: &World,
    settings: &Settings,
    functions: &(impl Functions + ?Sized),
) {
    let engine = settings.engine(&sdk());
    let mut player = Player::new(settings);
    let run_id = trigger(world);
    assert_eq!(
        drive(
            &mut player,
            functions,
            &engine,
            "ml_pipeline",
            &run_id,
            example_tasks(None)
        )
        .await,
        "succeeded"
    );
    let counts: Vec<usize> = ["prepare", "featurize", "train", "evaluate", "report"]
        .iter()
        .map(|task| launches(&player, &run_id, task))
        .collect();
    assert_eq!(counts, [1, SHARDS, 1, 1, 1]);
    let train = player
        .ended
        .iter()
        .find(|s| s.run_id == run_id && s.task_id == "train")
        .unwrap();
    assert!(
        !train.handle.starts_with("arn:"),
        "train ran as a training job, not an ECS task: {}",
        train.handle
    );
    let output = world
        .run(&["output", "ml_pipeline", &run_id, "train"])
        .expect(0)
        .json();
    let model = format!(
        "s3://{}/outputs/ml_pipeline/{run_id}/train/1/{}/output/model.tar.gz",
        settings.bucket, train.handle
    );
    assert_eq!(output["model_artifact"], model.as_str());
    let lineage = world
        .run(&["lineage", &model, "--output", "json"])
        .expect(0)
        .json();
    let tasks = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| r["task_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(tasks(&lineage["produced_by"]), ["train"]);
    assert_eq!(tasks(&lineage["consumed_by"]), ["evaluate"]);

    let failed = trigger(world);
    assert_eq!(
        drive(
            &mut player,
            functions,
            &engine,
            "ml_pipeline",
            &failed,
            example_tasks(Some("evaluate"))
        )
        .await,
        "failed"
    );
    assert_eq!(
        launches(&player, &failed, "evaluate"),
        2,
        "a try and its retry"
    );
    world
        .run(&["rerun", "ml_pipeline", &failed, "evaluate", "--downstream"])
        .expect(0);
    assert_eq!(
        drive(
            &mut player,
            functions,
            &engine,
            "ml_pipeline",
            &failed,
            example_tasks(None)
        )
        .await,
        "succeeded"
    );
    let counts: Vec<usize> = ["prepare", "featurize", "train", "evaluate", "report"]
        .iter()
        .map(|task| launches(&player, &failed, task))
        .collect();
    assert_eq!(
        counts,
        [1, SHARDS, 1, 3, 2],
        "the rerun launched evaluate and report only"
    );
}
