//! Issue 26: what a web page, a slow client or a hostile value can do to
//! the dashboard, each reproduced against the built binary.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use updraft_e2e::World;

/// One raw request to `url` naming `host`: (status, body).
fn request(
    url: &str,
    method: &str,
    path: &str,
    host: &str,
    extra: &str,
    body: &str,
) -> (u16, String) {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("the dashboard listens");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a timeout");
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(raw.as_bytes()).expect("a request");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn get(url: &str, path: &str, host: &str) -> (u16, String) {
    request(url, "GET", path, host, "", "")
}

/// A page that rebinds its own name to 127.0.0.1 is refused, whatever the
/// bind; the names given with `--allowed-host` and loopback are answered.
#[test]
fn only_the_bound_address_allowed_names_and_loopback_are_answered() {
    let world = World::new();
    world.spec("d.yaml", "dag: d\ntasks:\n  - id: t\n    command: [true]\n");
    let (_ui, url) = world.ui(&["--allowed-host", "dash.example"]);
    let port = url.rsplit(':').next().unwrap();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("dash.example:{port}"),
        "DASH.example".into(),
    ] {
        let (status, body) = get(&url, "/", &host);
        assert_eq!(status, 200, "{host}: {body}");
    }
    for host in [
        format!("evil.example:{port}"),
        "127.0.0.1.evil.example".into(),
        format!("dash.example.evil:{port}"),
    ] {
        let (status, body) = get(&url, "/", &host);
        assert_eq!(status, 421, "{host}: {body}");
        assert!(body.contains("--allowed-host"), "{body}");
        assert!(!body.contains("token"), "{body}");
    }
}

/// A spec file that is not UTF-8 is its own import error: the other DAGs
/// validate, run and show on the dashboard.
#[test]
fn a_spec_file_that_is_not_utf8_is_its_own_error_alone() {
    let world = World::new();
    world.spec(
        "good.yaml",
        "dag: good\ntasks:\n  - id: t\n    command: [true]\n",
    );
    std::fs::write(
        world.path().join("specs/bad.yaml"),
        b"dag: bad\ntasks: \xff\xfe\n",
    )
    .unwrap();
    let validated = world.run(&["validate"]).expect(1);
    assert!(
        validated
            .stdout
            .contains("bad.yaml:2:8: the file is not UTF-8 text; save it as UTF-8"),
        "{}",
        validated.stdout
    );
    world.run(&["run", "good"]).expect(0);
    world.run(&["trigger", "good"]).expect(0);
    let (_ui, url) = world.ui(&[]);
    let host = url.trim_start_matches("http://").to_string();
    let (status, page) = get(&url, "/", &host);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("data-dag=\"good\""), "{page}");
    assert!(page.contains("not UTF-8"), "the error is shown: {page}");
}

/// Notes, ids and spec text holding terminal escape codes print escaped.
#[test]
fn escape_codes_in_a_note_or_a_spec_print_as_text() {
    let world = World::new();
    world.spec("d.yaml", "dag: d\ntasks:\n  - id: t\n    command: [true]\n");
    let note = "\u{1b}]0;owned\u{7}\u{1b}[2Jhi";
    world.run(&["trigger", "d", "--note", note]).expect(0);
    let listed = world.run(&["runs", "d"]).expect(0).stdout;
    assert!(
        !listed.contains('\u{1b}') && !listed.contains('\u{7}'),
        "{listed:?}"
    );
    assert!(listed.contains("\\u{1b}]0;owned\\u{7}"), "{listed}");
    let run_id = world.latest_run("d")["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = world.run(&["show", "d", &run_id]).expect(0).stdout;
    assert!(!shown.contains('\u{1b}'), "{shown:?}");

    world.spec(
        "e.yaml",
        "dag: e\n\"\\e[31mred\": 1\ntasks:\n  - id: t\n    command: [true]\n",
    );
    let validated = world.run(&["validate"]).expect(1).stdout;
    assert!(!validated.contains('\u{1b}'), "{validated:?}");
    assert!(validated.contains("\\u{1b}[31mred"), "{validated}");
    let missing = world.run(&["show", "d", "\u{1b}[2Jnope"]).expect(1).stderr;
    assert!(!missing.contains('\u{1b}'), "{missing:?}");
}

/// `schedule --next` lists at most 10,000 points, and says so past it.
#[test]
fn schedule_next_is_bounded() {
    let world = World::new();
    world.spec(
        "d.yaml",
        "dag: d\nschedule: '@hourly'\ntasks:\n  - id: t\n    command: [true]\n",
    );
    for next in ["18446744073709551615", "5000000"] {
        let ran = world.run(&["schedule", "d", "--next", next]).expect(1);
        assert!(
            ran.stderr.contains(&format!(
                "--next: {next} is more than 10000, the most points a preview lists"
            )),
            "{}",
            ran.stderr
        );
    }
    let listed = world
        .run(&["schedule", "d", "--next", "3"])
        .expect(0)
        .stdout;
    assert!(listed.lines().count() >= 3, "{listed}");
}

/// A task that makes its output a FIFO ends its run instead of hanging
/// it; the state it leaves is private to its owner.
#[test]
fn a_fifo_output_ends_the_run_and_the_state_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let world = World::new();
    world.spec(
        "d.yaml",
        "dag: d\ntasks:\n  - id: t\n    retries: 0\n    command: [sh, -c, 'rm -f \"$UPDRAFT_OUTPUT\"; mkfifo \"$UPDRAFT_OUTPUT\"']\n",
    );
    let ran = world.run_for(&["run", "d"], Duration::from_secs(60));
    assert_ne!(ran.code, -1, "the run ended: {}", ran.stderr);
    let run = world.latest_run("d");
    assert!(
        run["state"] == "failed" || run["state"] == "succeeded",
        "{run}"
    );
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&world.state()), 0o700);
    assert_eq!(mode(&world.state().join("state.db")), 0o600);
    let logs = world.state().join("logs");
    assert_eq!(mode(&logs), 0o700);
    let log = walk(&logs)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("a log");
    assert_eq!(mode(&log), 0o600, "{}", log.display());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// A long log is served a page at a time, from its end, with a link to
/// page back; `logs` prints it whole, page by page.
#[test]
fn a_long_log_is_paged_not_read_whole() {
    let world = World::new();
    world.spec(
        "d.yaml",
        "dag: d\ntasks:\n  - id: t\n    command: [sh, -c, 'i=0; while [ $i -lt 20000 ]; do echo \"line $i of a log long enough to page\"; i=$((i+1)); done']\n",
    );
    world.run(&["run", "d"]).expect(0);
    let run_id = world.latest_run("d")["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let printed = world.run(&["logs", "d", &run_id, "t"]).expect(0).stdout;
    assert_eq!(printed.lines().count(), 20_000);
    assert!(
        printed.starts_with("line 0 of")
            && printed.ends_with("line 19999 of a log long enough to page\n")
    );

    let (_ui, url) = world.ui(&[]);
    let host = url.trim_start_matches("http://").to_string();
    let run_page = format!("/dags/d/runs/{}", run_id.replace(':', "%3A"));
    let (status, page) = get(&url, &format!("{run_page}/tasks/t"), &host);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.len() < 100 * 1024,
        "a page of the log, not {} bytes",
        page.len()
    );
    assert!(page.contains("line 19999 of"), "the log's end");
    assert!(!page.contains("line 0 of"), "not its start");
    let earlier = page
        .split("<a href=\"")
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .find(|href| href.contains("before="))
        .expect("a link to the page before");
    let (status, before) = get(&url, &earlier, &host);
    assert_eq!(status, 200, "{before}");
    assert!(
        before.contains(">latest<") && !before.contains("line 19999 of"),
        "an earlier page"
    );

    let later = page
        .split("data-later=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the live cursor")
        .to_string();
    let (status, news) = get(
        &url,
        &format!("/api/v1{run_page}/tasks/t/log?after={later}"),
        &host,
    );
    assert_eq!(status, 200, "{news}");
    let news: serde_json::Value = serde_json::from_str(&news).unwrap();
    assert_eq!(news["log"], "", "nothing was written after the end");
}
