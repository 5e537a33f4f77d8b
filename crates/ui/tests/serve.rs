//! Issue 26: the listener over a real socket on 127.0.0.1 — what a slow
//! client, many clients, or a page of another site can and cannot do.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use updraft_engine::Settings;
use updraft_engine::testing::World;
use updraft_ui::Ui;
use updraft_ui::serve::{Limits, bind, serve};

const SPEC: &str = "dag: etl\ntasks:\n  - id: a\n    command: [x]\n";

/// A dashboard served within `limits`; its address and the action token.
/// The server stops when the test's runtime does.
async fn served(limits: Limits) -> (String, String) {
    let world = World::new(SPEC, None, Settings::default());
    let ui = Arc::new(Ui::new(world.engine.clone(), false));
    let token = ui.action_token().to_string();
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let _world = world;
        serve(ui, listener, limits, std::future::pending()).await
    });
    (addr, token)
}

/// Sends `raw` and reads the answer until the server closes (at most 20 s).
fn exchange(addr: &str, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(raw).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn post(addr: &str, path: &str, extra: &str, body: &str) -> String {
    let raw = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, raw.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_is_answered_408_when_its_time_is_up() {
    let (addr, _) = served(Limits {
        read_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let answer = tokio::task::spawn_blocking(move || {
        let raw = format!(
            "POST /dags/etl/pause HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\nConnection: close\r\n\r\ntok"
        );
        exchange(&addr, raw.as_bytes())
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_and_served_again_once_others_end() {
    let (addr, _) = served(Limits {
        max_connections: 3,
        ..Limits::default()
    })
    .await;
    let answer = tokio::task::spawn_blocking(move || {
        // Three idle connections hold every slot...
        let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(200));
        let refused = exchange(
            &addr,
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        // ...and once they end, a request is answered.
        drop(idle);
        std::thread::sleep(Duration::from_millis(200));
        let served = exchange(
            &addr,
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        (refused, served)
    })
    .await
    .unwrap();
    assert_eq!(answer.0, "", "closed unanswered");
    assert!(answer.1.starts_with("HTTP/1.1 200"), "{}", answer.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_from_another_origin_or_with_a_wrong_token_is_refused() {
    let (addr, token) = served(Limits::default()).await;
    let answers = tokio::task::spawn_blocking(move || {
        let form = format!("token={token}");
        let wrong = format!("token={}x", &token[..token.len() - 1]);
        [
            post(
                &addr,
                "/dags/etl/pause",
                "Origin: http://evil.example\r\n",
                &form,
            ),
            post(&addr, "/dags/etl/pause", "Origin: null\r\n", &form),
            post(&addr, "/dags/etl/pause", "", &wrong),
            post(
                &addr,
                "/dags/etl/pause",
                &format!("Origin: http://{addr}\r\n"),
                &form,
            ),
            post(&addr, "/dags/etl/unpause", "", &form),
        ]
    })
    .await
    .unwrap();
    for refused in &answers[..3] {
        assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    }
    assert!(answers[0].contains("another site"), "{}", answers[0]);
    for done in &answers[3..] {
        assert!(done.starts_with("HTTP/1.1 303"), "{done}");
    }
}
