//! The dashboard in a real browser: headless Chromium driven through
//! chromedriver, over `updraft dev` or `updraft ui` on a temporary state
//! directory. Screenshots go to `target/screenshots/`, or to `docs/images/`
//! with `UPDRAFT_UPDATE_SCREENSHOTS=1` (`make screenshots`).

mod hosted;
mod webdriver;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use updraft_e2e::World;
use webdriver::Browser;

/// How long a run in these stories may take.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A world holding the three example specs.
fn examples() -> World {
    let world = World::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dag-specs");
    for entry in std::fs::read_dir(dir).expect("dag-specs/") {
        let path = entry.expect("an entry").path();
        // The ports of Airflow's Amazon examples, in a directory, run on AWS.
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a spec");
        world.spec(path.file_name().unwrap().to_str().unwrap(), &text);
    }
    world
}

fn screenshot(browser: &Browser, name: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir: PathBuf = match std::env::var_os("UPDRAFT_UPDATE_SCREENSHOTS") {
        Some(_) => root.join("docs/images"),
        None => root.join("target/screenshots"),
    };
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    browser.screenshot(&dir.join(name));
}

/// One plain HTTP request to the dashboard: (status, body).
fn http(url: &str, method: &str, path: &str, form: &str) -> (u16, String) {
    let host = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).expect("the dashboard listens");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a timeout");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).expect("a request");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("an answer");
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn run_page(url: &str, dag: &str, run_id: &str) -> String {
    format!("{url}/dags/{dag}/runs/{}", encode(run_id))
}

/// Waits until the run page's state badge says `state`, without reloading.
fn wait_for_state(browser: &Browser, state: &str) -> bool {
    browser.wait_for(&format!("dl.facts .badge.{state}"), RUN_LIMIT)
}

#[test]
fn the_dags_page_shows_the_three_examples_and_a_broken_file_as_a_banner() {
    let world = examples();
    world.spec(
        "broken.yaml",
        "dag: broken\ntasks:\n  - id: a\n    command: [x]\n    after: [nowhere]\n",
    );
    let (_dev, url) = world.dev_with_ui();
    let browser = Browser::start();
    browser.goto(&format!("{url}/"));
    let rows = browser.all("tr[data-dag]");
    assert_eq!(rows.len(), 3);
    let table = browser.text("table");
    for dag in ["daily_etl", "flaky_retries", "ml_pipeline"] {
        assert!(table.contains(dag), "{table}");
    }
    assert!(
        table.contains("JST"),
        "daily_etl's next run is in its zone: {table}"
    );
    let banner = browser.text("div.banner[role=alert]");
    assert!(
        banner.contains("broken.yaml:5:"),
        "the file and line: {banner}"
    );
    screenshot(&browser, "dags.png");
    // The paused switch asks first.
    browser.click("tr[data-dag=daily_etl] form button");
    assert!(browser.accept_confirm().starts_with("Pause daily_etl?"));
    assert!(browser.wait_for("tr[data-dag=daily_etl] form[action$='/unpause']", RUN_LIMIT));
    assert!(browser.text("tr[data-dag=daily_etl]").contains("■ paused"));
}

#[test]
fn a_run_triggered_from_the_form_updates_live_and_its_gantt_has_five_featurize_bars() {
    let world = examples();
    let (_dev, url) = world.dev_with_ui();
    let browser = Browser::start();
    browser.goto(&format!("{url}/dags/ml_pipeline/trigger"));
    browser.fill("input[name='param.shards']", "5");
    browser.click("form[method=post] button");
    assert!(
        browser.wait_for_url("/dags/ml_pipeline/runs/manual__", RUN_LIMIT),
        "the form leads to the run's page: {}",
        browser.url()
    );
    // A mark the page keeps only if it is never reloaded.
    browser.script("window.__same_page = 42;");
    assert!(
        wait_for_state(&browser, "succeeded"),
        "{}",
        world.dev_output()
    );
    assert_eq!(
        browser.script("return window.__same_page;"),
        serde_json::json!(42),
        "the page updated in place"
    );
    let bars = browser.all("svg.gantt a.bar[data-label^='featurize[']");
    assert_eq!(bars.len(), 5, "one bar per featurize instance");
    assert!(!browser.all("svg.graph a[data-task='featurize']").is_empty());
    browser.resize(1400, 1300);
    screenshot(&browser, "run.png");
    browser.resize(1400, 1000);
    browser.goto(&format!("{url}/dags/ml_pipeline"));
    assert!(
        !browser
            .all("tr[data-task='featurize'] td.cell a.succeeded")
            .is_empty()
    );
    screenshot(&browser, "grid.png");
}

const SHAKY: &str = "dag: shaky\nschedule: none\ntasks:\n  - id: a\n    command: [echo, a]\n  - id: b\n    after: [a]\n    command: [sh, -c, 'test -f \"$WORLD/fixed\" || { echo \"b broke\"; exit 3; }']\n  - id: c\n    after: [b]\n    command: [echo, c]\n  - id: d\n    after: [a]\n    command: [echo, d]\n";

#[test]
fn a_failed_task_shows_in_grid_graph_and_log_and_a_rerun_of_it_and_downstream_succeeds() {
    let world = World::new();
    world.spec("shaky.yaml", SHAKY);
    let (_dev, url) = world.dev_with_ui();
    let run = world
        .run(&["trigger", "shaky", "--wait", "--output", "json"])
        .expect(1)
        .json();
    let run_id = run["run_id"].as_str().unwrap().to_string();
    let browser = Browser::start();
    browser.goto(&format!("{url}/dags/shaky"));
    assert!(!browser.all("tr[data-task='b'] td.cell a.failed").is_empty());
    // The failure is in the cell's tooltip.
    let title = browser
        .script("return document.querySelector(\"tr[data-task='b'] td.cell a.failed\").title;");
    assert!(
        title.as_str().unwrap().ends_with("try 1: exit code 3"),
        "{title}"
    );
    browser.goto(&run_page(&url, "shaky", &run_id));
    assert!(
        !browser
            .all("svg.graph a[data-task='b'] rect.failed")
            .is_empty()
    );
    // Under the reason, how the failed try's log ends.
    assert_eq!(
        browser.text("section.failures div.failure[data-task='b'] p"),
        "b try 1: exit code 3"
    );
    assert_eq!(
        browser.text("section.failures div.failure[data-task='b'] pre.tail"),
        "b broke"
    );
    screenshot(&browser, "run-failed.png");
    browser.click("table.tasks tr[data-task='b'] a");
    assert!(browser.wait_for("pre.log", RUN_LIMIT));
    assert!(browser.text("pre.log").contains("b broke"));
    browser.goto(&run_page(&url, "shaky", &run_id));
    browser.click("nav.actions a[href$='rerun?failed=1&downstream=1']");
    assert!(browser.wait_for("ul.cleared", RUN_LIMIT));
    let cleared: Vec<String> = browser
        .all("ul.cleared li")
        .iter()
        .enumerate()
        .map(|(i, _)| browser.text(&format!("ul.cleared li:nth-child({})", i + 1)))
        .collect();
    assert_eq!(
        cleared,
        ["b", "c"],
        "exactly the failed task and its downstream"
    );
    std::fs::write(world.path().join("fixed"), "").unwrap();
    browser.click("form[method=post] button");
    assert!(
        wait_for_state(&browser, "succeeded"),
        "{}",
        world.dev_output()
    );
    let show = world.show("shaky", &run_id);
    assert_eq!(World::task(&show, "a"), ("succeeded".into(), 1));
    assert_eq!(World::task(&show, "d"), ("succeeded".into(), 1));
    assert_eq!(World::task(&show, "b"), ("succeeded".into(), 2));
    assert_eq!(show["audit"][0]["action"], "rerun");
}

#[test]
fn a_backfill_preview_lists_three_logical_dates_in_tokyo_and_creates_nothing() {
    let world = examples();
    let (_dev, url) = world.ui(&[]);
    let browser = Browser::start();
    browser.goto(&format!("{url}/dags/daily_etl/backfill"));
    browser.fill("input[name=from]", "2026-11-01");
    browser.fill("input[name=to]", "2026-11-03");
    browser.click("form.backfill button");
    assert!(browser.wait_for("tr[data-point]", RUN_LIMIT));
    let points = browser.all("tr[data-point]");
    assert_eq!(points.len(), 3);
    for (i, day) in ["01", "02", "03"].iter().enumerate() {
        let row = browser.text(&format!("tr[data-point]:nth-child({})", i + 1));
        assert!(
            row.contains(&format!("2026-11-{day} 02:30:00 JST")),
            "{row}"
        );
    }
    let runs = world
        .run(&["runs", "daily_etl", "--output", "json"])
        .expect(0)
        .json();
    assert_eq!(runs, serde_json::json!([]), "a preview creates no run");
}

#[test]
fn a_script_in_a_param_and_in_a_log_line_renders_as_text() {
    let world = World::new();
    world.spec(
        "echoer.yaml",
        "dag: echoer\nschedule: none\nparams: { msg: hi }\ntasks:\n  - id: a\n    command: [sh, -c, 'echo \"<script>window.__pwned=1</script> {{ params.msg }}\"']\n",
    );
    let (_dev, url) = world.dev_with_ui();
    let run = world
        .run(&[
            "trigger",
            "echoer",
            "--param",
            "msg=<script>window.__pwned=2</script>",
            "--wait",
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    let run_id = run["run_id"].as_str().unwrap();
    let browser = Browser::start();
    browser.goto(&run_page(&url, "echoer", run_id));
    assert!(
        browser
            .text("dl.facts")
            .contains("<script>window.__pwned=2</script>")
    );
    browser.goto(&format!("{}/tasks/a", run_page(&url, "echoer", run_id)));
    assert!(
        browser
            .text("pre.log")
            .contains("<script>window.__pwned=1</script>")
    );
    assert_eq!(
        browser.script("return typeof window.__pwned;"),
        serde_json::json!("undefined"),
        "no script ran"
    );
}

#[test]
fn a_read_only_dashboard_shows_no_action_and_refuses_a_forged_post() {
    let world = examples();
    world.run(&["run", "daily_etl"]).expect(0);
    let run_id = world.latest_run("daily_etl")["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_ui, url) = world.ui(&["--read-only"]);
    let browser = Browser::start();
    for page in [
        format!("{url}/"),
        format!("{url}/dags/daily_etl"),
        run_page(&url, "daily_etl", &run_id),
        format!("{}/tasks/load", run_page(&url, "daily_etl", &run_id)),
    ] {
        browser.goto(&page);
        assert!(browser.all("form[method=post]").is_empty(), "{page}");
        assert!(browser.all("nav.actions").is_empty(), "{page}");
    }
    let (status, _) = http(&url, "POST", "/dags/daily_etl/pause", "token=guessed");
    assert_eq!(status, 403);
    let (status, _) = http(&url, "GET", "/dags/daily_etl/trigger", "");
    assert_eq!(status, 403);
    let (_, dags) = http(&url, "GET", "/api/v1/dags", "");
    let dags: serde_json::Value = serde_json::from_str(&dags).unwrap();
    assert_eq!(dags["dags"][0]["paused"], false, "nothing changed");
}

/// Issue 26: a live log is kept on the page and only what is new is
/// appended, every line once.
#[test]
fn a_live_log_tails_by_appending_only_what_is_new() {
    let world = World::new();
    world.spec(
        "slow.yaml",
        "dag: slow\nschedule: none\ntasks:\n  - id: t\n    command: [sh, -c, 'echo early; i=0; while [ ! -f \"$WORLD/go\" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; echo late']\n",
    );
    let (_dev, url) = world.dev_with_ui();
    let run = world
        .run(&["trigger", "slow", "--output", "json"])
        .expect(0)
        .json();
    let run_id = run["run_id"].as_str().unwrap().to_string();
    let browser = Browser::start();
    let task_page = format!("{}/tasks/t", run_page(&url, "slow", &run_id));
    // Until the try started and wrote its first line.
    let started = updraft_e2e::eventually(RUN_LIMIT, || {
        browser.goto(&task_page);
        !browser.all("pre.log[data-later]").is_empty() && browser.text("pre.log").contains("early")
    });
    assert!(started, "{}", browser.text("body"));
    std::fs::write(world.path().join("go"), "").unwrap();
    assert!(
        browser.wait_for_text("pre.log", "late", RUN_LIMIT),
        "{}",
        browser.text("pre.log")
    );
    assert_eq!(browser.text("pre.log").matches("early").count(), 1);
    screenshot(&browser, "live-log.png");
}

const TRAIN_TYPED: &str = "dag: train
params:
  lr: { type: number, default: 0.01, minimum: 0, maximum: 1, description: learning rate }
  mode: { enum: [full, incremental], default: incremental }
  tag: { type: string, default: v1 }
tasks:
  - id: fit
    command: [echo, '{{ params.lr }}', '{{ params.mode }}']
";

#[test]
fn the_trigger_form_gives_typed_params_their_inputs_and_the_run_their_types() {
    let world = World::new();
    world.spec("train.yaml", TRAIN_TYPED);
    let (_dev, url) = world.dev_with_ui();
    let browser = Browser::start();
    browser.goto(&format!("{url}/dags/train/trigger"));
    assert_eq!(
        browser
            .all("input[type=number][name='param.lr'][min='0'][max='1']")
            .len(),
        1
    );
    assert_eq!(browser.all("select[name='param.mode'] option").len(), 2);
    assert!(browser.text("form").contains("learning rate"));
    browser.fill("input[name='param.lr']", "0.5");
    browser.script("document.querySelector(\"select[name='param.mode']\").value = 'full';");
    browser.fill("input[name='param.tag']", "2026");
    screenshot(&browser, "trigger-typed.png");
    browser.click("form[method=post] button");
    assert!(
        browser.wait_for_url("/dags/train/runs/manual__", RUN_LIMIT),
        "the form leads to the run's page: {}",
        browser.url()
    );
    let run = world.latest_run("train");
    assert_eq!(run["params"]["lr"], serde_json::json!(0.5), "{run}");
    assert_eq!(run["params"]["mode"], "full");
    assert_eq!(
        run["params"]["tag"], "2026",
        "a string param keeps its text"
    );
}

/// A waiting sensor's page says what it waits for, until when, and when it
/// looks next; the grid shows it waiting.
#[test]
fn a_waiting_sensor_says_what_it_waits_for_and_until_when() {
    let world = World::new();
    world.spec(
        "gate.yaml",
        "dag: gate\ntasks:\n  - id: landed\n    wait_for: { file: /nonexistent/updraft/ready, every: 30s, timeout: 2h }\n  - id: load\n    after: [landed]\n    command: [echo, load]\n",
    );
    let (_dev, url) = world.dev_with_ui();
    let run = world
        .run(&["trigger", "gate", "--output", "json"])
        .expect(0)
        .json();
    let run_id = run["run_id"].as_str().unwrap();
    let browser = Browser::start();
    let page = format!("{}/tasks/landed", run_page(&url, "gate", run_id));
    assert!(
        updraft_e2e::eventually(RUN_LIMIT, || {
            browser.goto(&page);
            !browser.all("p.sensor").is_empty()
        }),
        "{}",
        world.dev_output()
    );
    let said = browser.text("p.sensor");
    assert!(
        said.starts_with("waiting for /nonexistent/updraft/ready to exist; it looks again at ")
            && said.contains(" and gives up at "),
        "{said}"
    );
    screenshot(&browser, "sensor.png");
    browser.goto(&format!("{url}/dags/gate"));
    assert!(
        !browser
            .all("tr[data-task='landed'] td.cell a.waiting")
            .is_empty()
    );
}

/// An approval decided on its task's page: the prompt and options shown,
/// the choice posted, the run going on; a read-only dashboard shows what
/// waits but offers no form.
#[test]
fn an_approval_is_decided_on_its_page() {
    let world = World::new();
    world.spec(
        "ship.yaml",
        "dag: ship\ntasks:\n  - id: sign_off\n    approval: { prompt: Ship the model?, options: [approve, reject, later], timeout: 1d }\n  - id: publish\n    after: [sign_off]\n    command: [echo, '{{ outputs.sign_off.choice }}']\n",
    );
    let (_dev, url) = world.dev_with_ui();
    let run = world
        .run(&["trigger", "ship", "--output", "json"])
        .expect(0)
        .json();
    let run_id = run["run_id"].as_str().unwrap();
    let browser = Browser::start();
    let page = format!("{}/tasks/sign_off", run_page(&url, "ship", run_id));
    assert!(
        updraft_e2e::eventually(RUN_LIMIT, || {
            browser.goto(&page);
            !browser.all("section.approval form").is_empty()
        }),
        "{}",
        world.dev_output()
    );
    assert_eq!(browser.text("section.approval p.prompt"), "Ship the model?");
    assert_eq!(browser.all("section.approval select option").len(), 3);
    browser.script("document.querySelector(\"section.approval select\").value = 'approve';");
    browser.fill("section.approval input[name=note]", "looks good");
    screenshot(&browser, "approval.png");
    browser.click("section.approval button");
    assert!(
        updraft_e2e::eventually(RUN_LIMIT, || world.show("ship", run_id)["run"]["state"]
            == "succeeded"),
        "{}",
        world.dev_output()
    );
    browser.goto(&page);
    assert!(
        browser.all("section.approval").is_empty(),
        "decided: nothing waits"
    );
    let shown = world.show("ship", run_id);
    assert_eq!(shown["audit"][0]["note"], "looks good");
    assert_eq!(World::task(&shown, "publish").0, "succeeded");
}

/// The grid names what a row's task is besides its id (a teardown's
/// setups, its group); a group is one row and one graph node, its tasks'
/// states summed up, opened by a click into a row (or node) per task.
#[test]
fn the_grid_and_graph_fold_groups_and_mark_teardowns() {
    let world = World::new();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dag-specs/examples/airflow/example_setup_teardown.yaml");
    world.spec(
        "example_setup_teardown.yaml",
        &std::fs::read_to_string(path).unwrap(),
    );
    let (_dev, url) = world.dev_with_ui();
    let run = world
        .run(&[
            "trigger",
            "example_setup_teardown",
            "--wait",
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    let browser = Browser::start();
    browser.goto(&format!("{url}/dags/example_setup_teardown"));
    assert_eq!(
        browser.text("tr[data-task='root_teardown'] .marks"),
        "teardown of root_setup"
    );
    assert!(
        browser.all("tr[data-task='taskgroup_teardown']").is_empty(),
        "folded: the group's tasks have no rows of their own"
    );
    assert_eq!(
        browser.text("tr[data-group='section_1'] th"),
        "▸ section_1 group of 3"
    );
    assert_eq!(browser.text("tr[data-group='section_1'] td a"), "3/3");
    screenshot(&browser, "grid-group-folded.png");
    browser.click("tr[data-group='section_1'] th a");
    assert!(browser.wait_for_url("group=section_1", RUN_LIMIT));
    assert_eq!(
        browser.text("tr[data-task='taskgroup_teardown'] .marks"),
        "teardown of taskgroup_setup, group section_1"
    );
    assert_eq!(
        browser.text("tr[data-group='section_1'] th"),
        "▾ section_1 group of 3"
    );
    screenshot(&browser, "grid-teardown.png");

    let run_id = run["run_id"].as_str().unwrap();
    browser.goto(&run_page(&url, "example_setup_teardown", run_id));
    assert!(
        browser
            .all("svg.graph a[data-task='section_1_normal']")
            .is_empty()
    );
    assert_eq!(browser.all("svg.graph a[data-group='section_1']").len(), 1);
    screenshot(&browser, "graph-group-folded.png");
    browser.click("svg.graph a[data-group='section_1']");
    assert!(browser.wait_for_url("group=section_1", RUN_LIMIT));
    assert_eq!(
        browser
            .all("svg.graph a[data-task='section_1_normal']")
            .len(),
        1
    );
    assert!(browser.all("svg.graph a[data-group]").is_empty());
    screenshot(&browser, "graph-group-open.png");
}

/// Runs as experiments on the dashboard: the runs list keeps each run's id
/// (linked), state and note whatever columns are asked, its filters wrap
/// at 1,400 px, and a DAG's runs plot a metric against a param and over
/// runs; the grid's runs row says so and dates its columns.
#[test]
fn the_runs_list_keeps_each_run_and_plots_a_metric_against_a_param() {
    let world = examples();
    for lr in ["0.01", "0.02", "0.05"] {
        let note = format!("lr {lr}");
        world
            .run(&[
                "run",
                "ml_pipeline",
                "--param",
                &format!("lr={lr}"),
                "--note",
                &note,
            ])
            .expect(0);
    }
    let (_dev, url) = world.dev_with_ui();
    let browser = Browser::start();
    browser.resize(1400, 1000);
    browser.goto(&format!(
        "{url}/runs?dag=ml_pipeline&columns=params.lr,metrics.evaluate.accuracy"
    ));
    let headers: Vec<String> = (1..=6)
        .map(|i| browser.text(&format!("table.runs thead th:nth-child({i})")))
        .collect();
    assert_eq!(
        headers,
        [
            "",
            "run_id",
            "state",
            "params.lr",
            "metrics.evaluate.accuracy",
            "note"
        ]
    );
    assert_eq!(
        browser.all("table.runs tbody tr td:nth-child(2) a").len(),
        3
    );
    let fits = browser.script(
        "const f = document.querySelector('form.filter'); return f.scrollWidth <= f.clientWidth && f.getBoundingClientRect().right <= window.innerWidth;",
    );
    assert_eq!(fits, serde_json::json!(true), "the filters wrap");
    assert_eq!(browser.all("svg.plot").len(), 2, "a scatter and a line");
    assert_eq!(
        browser
            .all("svg.plot[aria-label='metrics.evaluate.accuracy against params.lr'] circle.point")
            .len(),
        3
    );
    assert_eq!(
        browser
            .all("svg.plot[aria-label='metrics.evaluate.accuracy over runs'] circle.point")
            .len(),
        3
    );
    screenshot(&browser, "runs-plots.png");

    browser.goto(&format!("{url}/dags/ml_pipeline"));
    assert_eq!(browser.text("table.grid tr.runs th.task"), "runs");
    assert_eq!(
        browser.all("table.grid tr.dates th.date span").len(),
        3,
        "one date cell per run"
    );
    screenshot(&browser, "grid-runs-row.png");
}
