//! The hosted dashboard's function (the release binary) under a local
//! Lambda Runtime API over a deployment on the AWS emulator: its cold start
//! (process start to the first answer, the DAGs page), and the DAGs page
//! warm (from one answer to the next, in the same instance). Prints the
//! medians of five instances of ten pages each, signed in as an operator.
//!
//! Run with `make bench`, which builds the release binaries first.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use updraft_e2e::World;
use updraft_e2e::lambda::{Answer, invoke_many};
use updraft_ui::auth::{Person, Role, SessionKey};

fn event(cookie: &str) -> Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
        "cookies": [cookie], "headers": {"host": "dash.test"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "dash", "domainName": "dash.test",
            "domainPrefix": "dash", "requestId": "r", "routeKey": "$default", "stage": "$default",
            "time": "06/Dec/2026:22:00:00 +0000", "timeEpoch": 1796594400000_i64,
            "http": {"method": "GET", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"}
        },
        "isBase64Encoded": false
    })
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/dashboard");
    assert!(
        binary.exists(),
        "build it first: cargo build --release -p updraft-dashboard"
    );
    let world = World::on_moto("bench");
    for dag in ["etl", "report", "train"] {
        world.spec(
            &format!("{dag}.yaml"),
            &format!("dag: {dag}\ntasks:\n  - id: a\n    command: [echo]\n"),
        );
    }
    world.run(&["deploy"]).expect(0);
    for dag in ["etl", "report", "train"] {
        world.run(&["trigger", dag]).expect(0);
    }
    let key_name = format!("/{}/session-key", updraft_aws::testing::unique("bench"));
    let secret: String = (0..4).map(|_| updraft_ui::html::random_token()).collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(
            updraft_aws::call::Caller::new(&updraft_aws::testing::sdk()).call(
                "ssm",
                "PutParameter",
                &json!({"Name": key_name, "Value": secret, "Type": "SecureString"}),
            ),
        )
        .unwrap();
    world.set_env("UPDRAFT_ISSUER", "https://issuer.test");
    world.set_env("UPDRAFT_CLIENT_ID", "dashboard");
    world.set_env("UPDRAFT_SESSION_KEY_PARAMETER", &key_name);
    let person = Person {
        sub: "bench".into(),
        name: "Bench".into(),
        email: "bench@example.com".into(),
        role: Role::Operator,
        session: "s".into(),
        expires: chrono::Utc::now().timestamp() + 3600,
    };
    let sealed = SessionKey::new(secret.as_bytes())
        .unwrap()
        .seal(&person, true);
    let cookie = sealed.split(';').next().unwrap().to_string();

    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let answers = invoke_many(&binary, &world.envs(), vec![event(&cookie); 10]);
        for (i, (answer, took)) in answers.into_iter().enumerate() {
            match answer {
                Answer::Response(value) => assert_eq!(value["statusCode"], 200, "{value}"),
                Answer::Error(error) => panic!("the dashboard failed: {error}"),
            }
            match i {
                0 => cold.push(took),
                _ => warm.push(took),
            }
        }
    }
    println!(
        "dashboard function (release, emulator on 127.0.0.1), the DAGs page of 3 DAGs, signed in:"
    );
    println!(
        "  cold start to first page  median {:>7.1} ms  (5 instances)",
        median(cold).as_secs_f64() * 1e3
    );
    println!(
        "  warm page                 median {:>7.1} ms  (45 pages)",
        median(warm).as_secs_f64() * 1e3
    );
}
