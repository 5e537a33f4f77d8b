//! The three built function binaries, each run as Lambda runs a
//! `provided.al2023` bootstrap (against a local Runtime API) over a
//! deployment on moto: the dispatcher, rung, launches the first task of a
//! run from its SQS message, the recorder records its ECS STOPPED event, and
//! the planner ticks.

use serde_json::json;
use updraft_aws::testing::{default_network, ecs_event, ecs_runner, sdk};
use updraft_e2e::lambda::{Answer, invoke};
use updraft_e2e::{World, built};

use crate::aws_world;

fn response(answer: Answer) -> serde_json::Value {
    match answer {
        Answer::Response(value) => value,
        Answer::Error(error) => panic!("the function failed: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_functions_run_under_the_lambda_runtime_api() {
    let world = aws_world();
    let (subnets, groups) = default_network();
    world.set_env("UPDRAFT_SUBNETS", &subnets.join(","));
    world.set_env("UPDRAFT_SECURITY_GROUPS", &groups.join(","));
    let cluster = world.env("UPDRAFT_CLUSTER").unwrap();
    let ecs = aws_sdk_ecs::Client::new(&sdk());
    ecs_runner(&ecs, &cluster).await;
    world.spec(
        "etl.yaml",
        "dag: etl\ntasks:\n  - id: extract\n    command: [echo]\n  - id: load\n    after: [extract]\n    command: [echo]\n",
    );
    world.run(&["deploy"]).expect(0);
    let run = world
        .run(&["trigger", "etl", "--output", "json"])
        .expect(0)
        .json();
    let run_id = run["run_id"].as_str().unwrap().to_string();
    let env = world.envs();

    let dispatched = response(invoke(
        &built("dispatcher", "updraft-dispatcher"),
        &env,
        json!({"source": updraft_aws::bell::RING}),
    ));
    assert_eq!(dispatched, json!({ "received": 1, "out_of_time": false }));
    let tasks = ecs
        .list_tasks()
        .cluster(&cluster)
        .send()
        .await
        .unwrap()
        .task_arns
        .unwrap_or_default();
    assert_eq!(tasks.len(), 1, "one ECS task for the first task");

    let recorded = response(invoke(
        &built("recorder", "updraft-recorder"),
        &env,
        ecs_event(&cluster, &tasks[0], "STOPPED", 0),
    ));
    assert_eq!(recorded["recorded"], true, "{recorded}");

    let ticked = response(invoke(
        &built("planner", "updraft-planner"),
        &env,
        json!({"source": "aws.events", "detail-type": "Scheduled Event"}),
    ));
    assert_eq!(
        (ticked["created"].as_u64(), ticked["advanced"].as_u64()),
        (Some(0), Some(1)),
        "{ticked}"
    );
    let show = world.show("etl", &run_id);
    assert_eq!(World::task(&show, "extract"), ("succeeded".into(), 1));
    assert_eq!(World::task(&show, "load"), ("queued".into(), 1));
}

/// A function URL's event (payload 2.0), as Lambda hands it to the
/// dashboard function.
fn function_url_event(method: &str, path: &str, cookies: &[String]) -> serde_json::Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "cookies": cookies,
        "headers": {"host": "dash.test", "x-forwarded-proto": "https"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "dash", "domainName": "dash.test",
            "domainPrefix": "dash", "requestId": "r1", "routeKey": "$default", "stage": "$default",
            "time": "06/Dec/2026:22:00:00 +0000", "timeEpoch": 1796594400000_i64,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}
        },
        "isBase64Encoded": false
    })
}

/// Issue 29: the built dashboard function under the Runtime API, over a
/// deployment on moto. A page without a session is sent to sign in; the
/// key sessions are signed with is made at the first cold start and kept
/// in SSM, so the next cold start (another instance) opens a session
/// sealed with it and shows an operator their actions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_function_sends_people_to_sign_in_and_shares_its_session_key() {
    use updraft_ui::auth::{Person, Role, SessionKey};
    let world = aws_world();
    world.spec(
        "etl.yaml",
        "dag: etl\ntasks:\n  - id: a\n    command: [echo]\n",
    );
    world.run(&["deploy"]).expect(0);
    let key_name = format!("/{}/session-key", updraft_aws::testing::unique("dash"));
    world.set_env("UPDRAFT_ISSUER", "https://issuer.test");
    world.set_env("UPDRAFT_CLIENT_ID", "dashboard");
    world.set_env("UPDRAFT_SESSION_KEY_PARAMETER", &key_name);
    let env = world.envs();
    let dashboard = built("dashboard", "updraft-dashboard");

    let refused = response(invoke(
        &dashboard,
        &env,
        function_url_event("GET", "/dags/etl", &[]),
    ));
    assert_eq!(refused["statusCode"], 302, "{refused}");
    assert_eq!(
        refused["headers"]["location"],
        "/auth/login?next=%2Fdags%2Fetl"
    );

    let kept = updraft_aws::call::Caller::new(&sdk())
        .call(
            "ssm",
            "GetParameter",
            &json!({"Name": key_name, "WithDecryption": true}),
        )
        .await
        .unwrap();
    let key = SessionKey::new(kept["Parameter"]["Value"].as_str().unwrap().as_bytes()).unwrap();
    let ana = Person {
        sub: "u-ana".into(),
        name: "Ana Lima".into(),
        email: "ana@example.com".into(),
        role: Role::Operator,
        session: "s1".into(),
        expires: chrono::Utc::now().timestamp() + 3600,
    };
    let cookie = key.seal(&ana, true).split(';').next().unwrap().to_string();
    let page = response(invoke(
        &dashboard,
        &env,
        function_url_event("GET", "/dags/etl", &[cookie]),
    ));
    assert_eq!(page["statusCode"], 200, "{page}");
    let body = page["body"].as_str().unwrap();
    assert!(body.contains("data-task=\"a\""), "{body}");
    assert!(
        body.contains(
            "Ana Lima &lt;ana@example.com&gt; · operator · <form class=\"signout\" method=\"post\" action=\"/auth/logout\">"
        ),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "name=\"token\" value=\"{}\"",
            key.action_token("s1")
        )),
        "an operator's forms carry their session's token: {body}"
    );
    assert_eq!(
        page["headers"]["content-security-policy"]
            .as_str()
            .map(|c| c.contains("default-src 'none'")),
        Some(true)
    );
}
