//! The ML example on a stack the rehearsal created from the template:
//! `updraft --stack NAME` finds the deployment in the stack's outputs,
//! `deploy` uploads the example to the stack's bucket, and the three
//! built function binaries, each under a local Lambda Runtime API with the
//! environment the stack gave its function, run it to success and rerun
//! a failed task. Nothing of `updraft aws init` is used.

use async_trait::async_trait;
use serde_json::{Value, json};
use updraft_aws::testing::{Functions, ecs_runner, sdk};
use updraft_e2e::built;
use updraft_e2e::lambda::{Answer, invoke};

use crate::pipeline::ml_example_story;
use crate::rehearsal::{Rehearsal, Stack, emulator_env};
use crate::stack::environment;

/// The built functions, each with its function's environment on the
/// stack, plus what Lambda adds (credentials, region; and the emulator's
/// endpoint, standing in for AWS's own).
struct Built {
    planner: Vec<(String, String)>,
    dispatcher: Vec<(String, String)>,
    recorder: Vec<(String, String)>,
}

async fn lambda_environment(stack: &Stack, function: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = environment(stack, function).await.into_iter().collect();
    env.extend(emulator_env());
    env
}

/// One invocation of a built function, off the async workers.
async fn call(binary: &str, env: &[(String, String)], event: &Value) -> Value {
    let (env, event) = (env.to_vec(), event.clone());
    let path = built(binary, &format!("updraft-{binary}"));
    let answer = tokio::task::spawn_blocking(move || invoke(&path, &env, event))
        .await
        .unwrap();
    match answer {
        Answer::Response(value) => value,
        Answer::Error(error) => panic!("the {binary} failed: {error}"),
    }
}

#[async_trait]
impl Functions for Built {
    async fn dispatcher(&self, batch: &Value) -> Value {
        call("dispatcher", &self.dispatcher, batch).await
    }

    async fn recorder(&self, event: &Value) -> Value {
        call("recorder", &self.recorder, event).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ml_example_runs_on_the_rehearsed_stack_through_the_built_functions() {
    let stack = Rehearsal::new("ml").create().await;
    let world = stack.world();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../dag-specs/ml_pipeline.yaml");
    let deployed = world.run(&["deploy", example]).expect(0);
    let bucket = stack.physical("SpecBucket");
    assert!(
        deployed.stdout.contains(&format!("s3://{bucket}/")),
        "{}",
        deployed.stdout
    );
    // ECS tasks stay RUNNING until the harness stops them.
    let settings = stack.settings();
    ecs_runner(&aws_sdk_ecs::Client::new(&sdk()), &settings.ecs.cluster).await;
    let functions = Built {
        planner: lambda_environment(&stack, "PlannerFunction").await,
        dispatcher: lambda_environment(&stack, "DispatcherFunction").await,
        recorder: lambda_environment(&stack, "RecorderFunction").await,
    };
    let tick = call(
        "planner",
        &functions.planner,
        &json!({ "source": "aws.events", "detail-type": "Scheduled Event" }),
    )
    .await;
    assert_eq!(tick["created"], 0, "ml_pipeline has no schedule: {tick}");
    ml_example_story(&world, &settings, &functions).await;
}
