//! The service kinds in local mode (issue 27): `updraft run` on this
//! machine calls the services with the caller's credentials (here moto's,
//! through `AWS_ENDPOINT_URL`), ends each try by polling, and feeds its
//! output to a process task; `test --live` does the same for one task.

use std::time::Duration;

use serde_json::{Value, json};
use updraft_aws::call::Caller;
use updraft_aws::testing::{raw, s3, sdk, unique};
use updraft_e2e::World;

/// A world on the local backend whose credentials reach moto.
fn local_world_on_moto() -> World {
    let world = World::new();
    world.set_env("AWS_ACCESS_KEY_ID", "test");
    world.set_env("AWS_SECRET_ACCESS_KEY", "test");
    world.set_env("AWS_REGION", "us-east-1");
    world.set_env("AWS_ENDPOINT_URL", &updraft_aws::testing::endpoint());
    world
}

/// A Pass state machine moto runs (its output is its input), and a bucket.
async fn resources() -> (String, String) {
    raw(
        "POST",
        "/moto-api/config",
        &[],
        r#"{"stepfunctions": {"execute_state_machine": true}}"#,
    );
    let machine = Caller::new(&sdk())
        .call(
            "stepfunctions",
            "CreateStateMachine",
            &json!({
                "name": unique("local-publish"),
                "roleArn": "arn:aws:iam::123456789012:role/sfn",
                "definition": json!({"StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": true}}}).to_string(),
            }),
        )
        .await
        .unwrap();
    let bucket = unique("local-flags");
    s3().create_bucket().bucket(&bucket).send().await.unwrap();
    (
        machine["stateMachineArn"].as_str().unwrap().to_string(),
        bucket,
    )
}

fn spec(machine: &str, bucket: &str) -> String {
    format!(
        r#"dag: lake_local
params: {{ day: "2026-12-01" }}
compute:
  flow: {{ kind: step_functions, state_machine: "{machine}" }}
  s3: {{ kind: aws }}
tasks:
  - id: publish
    compute: flow
    input: {{ day: "{{{{ params.day }}}}" }}
  - id: put
    compute: s3
    call: {{ service: s3, action: PutObject, params: {{ Bucket: {bucket}, Key: "flags/{{{{ params.day }}}}/_SUCCESS", Body: ok }} }}
  - id: landed
    after: [put]
    compute: s3
    wait:
      service: s3
      action: HeadObject
      params: {{ Bucket: {bucket}, Key: "flags/{{{{ params.day }}}}/_SUCCESS" }}
      every: 5s
      success: ContentLength
  - id: report
    after: [publish, landed]
    command: [sh, -c, 'echo "day={{{{ outputs.publish.day }}}} size={{{{ outputs.landed.last.ContentLength }}}}"']
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_calls_the_services_from_this_machine_and_ends_them_by_polling() {
    let (machine, bucket) = resources().await;
    let world = local_world_on_moto();
    world.spec("lake_local.yaml", &spec(&machine, &bucket));
    let ran = world.run_for(
        &["run", "lake_local", "--output", "json"],
        std::time::Duration::from_secs(120),
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let shown = ran.json();
    assert_eq!(shown["run"]["state"], "succeeded", "{shown}");
    let run_id = shown["run"]["run_id"].as_str().unwrap();

    assert_eq!(executions(&machine).await, 1, "the execution ran once");
    // The call put the object once; the sensor saw it.
    let object = s3()
        .get_object()
        .bucket(&bucket)
        .key("flags/2026-12-01/_SUCCESS")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &object.body.collect().await.unwrap().into_bytes()[..],
        b"ok"
    );
    // The process task read the services' outputs.
    let logs = world
        .run(&["logs", "lake_local", run_id, "report"])
        .expect(0);
    assert!(
        logs.stdout.contains("day=2026-12-01 size=2"),
        "{}",
        logs.stdout
    );
    // Launches are remembered in the state directory, not in a bucket.
    let launches: Vec<String> = std::fs::read_dir(world.state().join("launches"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        launches.iter().any(|f| f.starts_with("states:arn:")),
        "{launches:?}"
    );
    assert!(
        launches
            .iter()
            .all(|f| f.ends_with(".json") && !f.contains('/')),
        "{launches:?}"
    );
}

/// How many executions a state machine has had.
async fn executions(machine: &str) -> usize {
    let listed = Caller::new(&sdk())
        .call(
            "stepfunctions",
            "ListExecutions",
            &json!({"stateMachineArn": machine}),
        )
        .await
        .unwrap();
    listed["executions"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_live_sends_one_tasks_calls_and_prints_its_output() {
    let (machine, bucket) = resources().await;
    let world = local_world_on_moto();
    world.spec("lake_local.yaml", &spec(&machine, &bucket));

    let dry = world.run(&["test", "lake_local", "publish"]).expect(0);
    assert!(dry.stderr.contains("sent nothing"), "{}", dry.stderr);
    assert_eq!(
        executions(&machine).await,
        0,
        "a test without --live sends nothing"
    );

    let live = world
        .run(&["test", "lake_local", "publish", "--live"])
        .expect(0);
    assert!(
        live.stderr.contains("launched states:arn:") && live.stderr.contains("--- succeeded ---"),
        "{}",
        live.stderr
    );
    let output: Value = serde_json::from_str(&live.stdout).unwrap();
    assert_eq!(output, json!({"day": "2026-12-01"}));
    assert_eq!(executions(&machine).await, 1);
    assert!(
        !world.state().join("launches").exists(),
        "a test records nothing in the state"
    );
}

/// A sensor under `updraft dev` holds no worker while it waits: it is
/// polled at its pace until the object lands, then its run goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_under_dev_waits_until_its_object_lands() {
    let (_, bucket) = resources().await;
    let world = local_world_on_moto();
    world.spec(
        "late.yaml",
        &format!(
            r#"dag: late
compute:
  s3: {{ kind: aws }}
tasks:
  - id: landed
    compute: s3
    wait:
      service: s3
      action: HeadObject
      params: {{ Bucket: {bucket}, Key: late/_SUCCESS }}
      every: 5s
      success: ContentLength
  - id: after
    after: [landed]
    command: [echo, landed]
"#
        ),
    );
    let _dev = world.dev();
    let run = world
        .run(&["trigger", "late", "--output", "json"])
        .expect(0)
        .json();
    let run_id = run["run_id"].as_str().unwrap().to_string();
    let waiting = updraft_e2e::eventually(Duration::from_secs(20), || {
        World::task(&world.show("late", &run_id), "landed").0 == "waiting"
    });
    assert!(waiting, "{}", world.dev_output());
    // Several pokes find nothing; the sensor stays waiting.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let show = world.show("late", &run_id);
    assert_eq!(World::task(&show, "landed").0, "waiting", "{show}");
    assert_eq!(World::task(&show, "after").0, "pending", "{show}");

    s3().put_object()
        .bucket(&bucket)
        .key("late/_SUCCESS")
        .body(b"ok".to_vec().into())
        .send()
        .await
        .unwrap();
    let ended = updraft_e2e::eventually(Duration::from_secs(30), || {
        world.show("late", &run_id)["run"]["state"] == "succeeded"
    });
    assert!(ended, "{}", world.dev_output());
}
