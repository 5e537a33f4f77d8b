//! The CLI with `--backend aws` against a moto server: `aws init` creates
//! the resources, `deploy` validates and uploads specs, and trigger, runs,
//! show, pause and mark work on the DynamoDB table and SQS queue.

mod doctor;
mod experiments;
mod functions;
mod local_kinds;
mod on_the_stack;
mod pipeline;
mod rehearsal;
mod stack;
mod stand_in;

use updraft_e2e::World;

/// A world whose `updraft` talks to moto, with freshly created resources.
fn aws_world() -> World {
    World::on_moto("e2e")
}

#[test]
fn deploy_then_trigger_creates_the_run_in_dynamodb() {
    let world = aws_world();
    world.spec("etl.yaml", "dag: etl\nschedule: '@daily'\ntimezone: Asia/Tokyo\ntasks:\n  - id: extract\n    command: [echo]\n  - id: load\n    after: [extract]\n    command: [echo]\n");
    let deployed = world.run(&["--backend", "aws", "deploy"]).expect(0);
    assert!(
        deployed.stdout.starts_with("deployed 1 to s3://"),
        "{}",
        deployed.stdout
    );

    let run = world
        .run(&[
            "--backend",
            "aws",
            "trigger",
            "etl",
            "--label",
            "e2e",
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(run["state"], "running");
    let run_id = run["run_id"].as_str().unwrap().to_string();
    let runs = world
        .run(&[
            "--backend",
            "aws",
            "runs",
            "etl",
            "--label",
            "e2e",
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(runs[0]["run_id"], run_id.as_str());
    let show = world.show("etl", &run_id);
    assert_eq!(
        World::task(&show, "extract"),
        ("queued".into(), 1),
        "the first task waits on the SQS queue"
    );
    assert_eq!(World::task(&show, "load"), ("pending".into(), 0));

    world
        .run(&[
            "--backend",
            "aws",
            "mark",
            "etl",
            &run_id,
            "extract",
            "success",
        ])
        .expect(0);
    let show = world.show("etl", &run_id);
    assert_eq!(
        World::task(&show, "load"),
        ("queued".into(), 1),
        "marking the upstream queued the downstream"
    );
    world.run(&["--backend", "aws", "pause", "etl"]).expect(0);
    world.run(&["--backend", "aws", "unpause", "etl"]).expect(0);
}

#[test]
fn deploy_refuses_invalid_specs_and_the_aws_backend_needs_its_settings() {
    let world = aws_world();
    world.spec(
        "bad.yaml",
        "dag: bad\ntasks:\n  - id: a\n    after: [ghost]\n",
    );
    let ran = world.run(&["--backend", "aws", "deploy"]).expect(1);
    assert!(
        ran.stdout
            .contains("bad.yaml:4:13: `after` names unknown task `ghost`"),
        "{}",
        ran.stdout
    );
    assert_eq!(ran.stderr.trim(), "updraft: nothing deployed: 1 problem(s)");

    let bare = World::new();
    bare.set_env("UPDRAFT_BACKEND", "aws");
    let ran = bare.run(&["runs"]).expect(1);
    assert!(
        ran.stderr.starts_with(
            "updraft: set UPDRAFT_TABLE, UPDRAFT_QUEUE_URL, UPDRAFT_BUCKET, UPDRAFT_CLUSTER"
        ),
        "{}",
        ran.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reads_the_deployment_from_the_stack_outputs() {
    let world = aws_world();
    world.spec(
        "etl.yaml",
        "dag: etl\ntasks:\n  - id: extract\n    command: [echo]\n",
    );
    world.run(&["deploy"]).expect(0);
    let outputs: Vec<serde_json::Value> = updraft_aws::settings::STACK_OUTPUTS
        .iter()
        .filter_map(|(output, var)| {
            let value = world.env(var)?;
            Some(serde_json::json!({ "key": output, "value": value }))
        })
        .collect();
    let template = serde_json::json!({
        "Resources": { "Marker": { "Type": "AWS::SQS::Queue" } },
        "Outputs": outputs
            .iter()
            .map(|o| (o["key"].as_str().unwrap().to_string(), serde_json::json!({ "Value": o["value"] })))
            .collect::<serde_json::Map<_, _>>(),
    });
    let stack = updraft_aws::testing::unique("stack");
    aws_sdk_cloudformation::Client::new(&updraft_aws::testing::sdk())
        .create_stack()
        .stack_name(&stack)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();

    let bare = World::new();
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
    ] {
        bare.set_env(var, &world.env(var).unwrap());
    }
    bare.set_env("UPDRAFT_BACKEND", "aws");
    let run = bare
        .run(&["--stack", &stack, "trigger", "etl", "--output", "json"])
        .expect(0)
        .json();
    assert_eq!(run["dag"], "etl", "{run}");
    let missing = bare.run(&["--stack", "no-such-stack", "runs"]).expect(1);
    assert!(
        missing
            .stderr
            .starts_with("updraft: reading the outputs of stack `no-such-stack`: "),
        "{}",
        missing.stderr
    );
}
