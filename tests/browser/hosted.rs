//! Issue 29: the hosted dashboard in a browser. The built dashboard
//! function runs under a local Lambda Runtime API — a cold start per
//! request, as a burst of fresh instances would — behind a function-URL
//! shaped HTTP front this test serves on 127.0.0.1, over a deployment on
//! moto, signing people in with a small OpenID Connect issuer on
//! 127.0.0.1. A viewer sees the DAG but no action, and a POST forged in
//! their page is refused; an operator reruns a failed task, and the audit
//! names them.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use updraft_e2e::lambda::{Answer, invoke};
use updraft_e2e::{World, built};
use updraft_ui::testing::{Issuer, User};

use crate::webdriver::Browser;
use crate::{RUN_LIMIT, screenshot};

/// A deployment on moto, with `etl` deployed.
fn moto_world() -> World {
    let world = World::on_moto("hosted");
    world.spec(
        "etl.yaml",
        "dag: etl\ntasks:\n  - id: a\n    command: [echo]\n",
    );
    world.run(&["deploy"]).expect(0);
    world
}

/// The function URL's event (payload 2.0) for a browser's request.
fn event(parts: &hyper::http::request::Parts, body: &[u8]) -> Value {
    let mut headers = serde_json::Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = value.to_str().unwrap_or_default().to_string();
        match name.as_str() {
            "cookie" => cookies.extend(value.split("; ").map(str::to_string)),
            name => {
                headers.insert(name.to_string(), Value::String(value));
            }
        }
    }
    let path = parts.uri.path();
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path,
        "rawQueryString": parts.uri.query().unwrap_or_default(),
        "cookies": cookies, "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "dash", "domainName": "127.0.0.1",
            "domainPrefix": "dash", "requestId": "r", "routeKey": "$default", "stage": "$default",
            "time": "06/Dec/2026:22:00:00 +0000", "timeEpoch": 1796594400000_i64,
            "http": {"method": parts.method.as_str(), "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "chromium"}
        },
        "body": String::from_utf8_lossy(body), "isBase64Encoded": false
    })
}

/// The browser's answer from the function's (payload 2.0).
fn answer(value: &Value) -> hyper::Response<Full<Bytes>> {
    let body = value["body"].as_str().unwrap_or_default().to_string();
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(value["statusCode"].as_u64().unwrap_or(500) as u16).unwrap();
    let headers = response.headers_mut();
    for (name, value) in value["headers"].as_object().into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(hyper::header::HeaderValue::from_str),
        ) {
            headers.insert(name, value);
        }
    }
    for cookie in value["cookies"].as_array().into_iter().flatten() {
        if let Some(Ok(cookie)) = cookie.as_str().map(hyper::header::HeaderValue::from_str) {
            headers.append(hyper::header::SET_COOKIE, cookie);
        }
    }
    response
}

/// Serves the function behind `listener`, one invocation per request.
fn front(
    runtime: &tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    function: PathBuf,
    env: Vec<(String, String)>,
) {
    let (function, env) = (Arc::new(function), Arc::new(env));
    listener.set_nonblocking(true).unwrap();
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        while let Ok((stream, _)) = listener.accept().await {
            let (function, env) = (function.clone(), env.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (function, env) = (function.clone(), env.clone());
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let event = event(&parts, &body);
                        let answered =
                            tokio::task::spawn_blocking(move || invoke(&function, &env, event))
                                .await
                                .unwrap();
                        Ok::<_, Infallible>(match answered {
                            Answer::Response(value) => answer(&value),
                            Answer::Error(error) => {
                                let mut failed =
                                    hyper::Response::new(Full::new(Bytes::from(error)));
                                *failed.status_mut() = hyper::StatusCode::BAD_GATEWAY;
                                failed
                            }
                        })
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

#[test]
fn a_viewer_looks_and_an_operator_reruns_on_the_hosted_dashboard() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let issuer = runtime.block_on(Issuer::start("dashboard", Some("s3cret")));
    let world = moto_world();
    let run = world
        .run(&["trigger", "etl", "--output", "json"])
        .expect(0)
        .json();
    let run_id = run["run_id"].as_str().unwrap().to_string();
    world
        .run(&["mark", "etl", &run_id, "a", "failed"])
        .expect(0);

    let names = updraft_aws::testing::unique("dash");
    let secret = format!("/{names}/client-secret");
    runtime
        .block_on(
            updraft_aws::call::Caller::new(&updraft_aws::testing::sdk()).call(
                "ssm",
                "PutParameter",
                &json!({"Name": secret, "Value": "s3cret", "Type": "SecureString"}),
            ),
        )
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    world.set_env("UPDRAFT_ISSUER", &issuer.base);
    world.set_env("UPDRAFT_CLIENT_ID", "dashboard");
    world.set_env("UPDRAFT_CLIENT_SECRET_PARAMETER", &secret);
    world.set_env(
        "UPDRAFT_SESSION_KEY_PARAMETER",
        &format!("/{names}/session-key"),
    );
    world.set_env("UPDRAFT_DASHBOARD_URL", &url);
    front(
        &runtime,
        listener,
        built("dashboard", "updraft-dashboard"),
        world.envs(),
    );

    // A viewer is sent to sign in, comes back, and sees the DAG, no action.
    issuer.sign_in_next(User::new("Vi Ewer", "vi@example.com", &[]));
    let browser = Browser::start();
    browser.goto(&format!("{url}/dags/etl"));
    assert!(
        browser.wait_for("table.grid", RUN_LIMIT),
        "{}",
        browser.url()
    );
    assert!(browser.url().ends_with("/dags/etl"), "{}", browser.url());
    assert_eq!(issuer.authorizations(), 1);
    assert!(
        browser
            .text("header .who")
            .starts_with("Vi Ewer <vi@example.com> · viewer")
    );
    assert!(
        browser
            .all("nav.actions form, nav.actions a.button")
            .is_empty()
    );
    screenshot(&browser, "hosted-viewer.png");
    // A POST forged in the viewer's own page is refused.
    browser.script(
        "document.body.insertAdjacentHTML('beforeend', '<form id=\"forged\" method=\"post\" action=\"/dags/etl/pause\"><input name=\"token\" value=\"guess\"></form>'); document.getElementById('forged').submit();",
    );
    assert!(
        browser.wait_for_text(
            "body",
            "you are signed in as a viewer: only operators act here",
            RUN_LIMIT
        ),
        "{}",
        browser.text("body")
    );
    assert_eq!(
        world.show("etl", &run_id)["audit"].as_array().map(Vec::len),
        Some(1),
        "only the mark"
    );

    // Signed out, an operator signs in and reruns the failed task.
    issuer.sign_in_next(User::new("Op Erator", "op@example.com", &["operators"]));
    browser.goto(&format!("{url}/dags/etl"));
    browser.click("header form.signout button");
    assert!(
        browser.wait_for_text("main", "You are signed out", RUN_LIMIT),
        "{}",
        browser.text("body")
    );
    screenshot(&browser, "hosted-signed-out.png");
    browser.goto(&format!("{url}/dags/etl/runs/{}", crate::encode(&run_id)));
    assert!(browser.wait_for("header .who", RUN_LIMIT));
    assert!(
        browser
            .text("header .who")
            .starts_with("Op Erator <op@example.com> · operator")
    );
    browser.click("nav.actions a[href$='rerun?failed=1&downstream=1']");
    assert!(browser.wait_for("ul.cleared", RUN_LIMIT));
    screenshot(&browser, "hosted-operator.png");
    browser.click("main form[method=post] button");
    let audited = updraft_e2e::eventually(RUN_LIMIT, || {
        world.show("etl", &run_id)["audit"]
            .as_array()
            .is_some_and(|a| {
                a.iter()
                    .any(|e| e["action"] == "rerun" && e["by"] == "Op Erator <op@example.com>")
            })
    });
    assert!(audited, "{}", world.show("etl", &run_id));
    assert_eq!(issuer.authorizations(), 2);
}
