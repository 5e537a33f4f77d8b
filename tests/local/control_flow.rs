//! Control flow (issue 28): a try that exits with its task's skip code is
//! skipped, not failed or retried, and its downstream follow their rules.

use std::time::Duration;

use updraft_e2e::{World, eventually, most_at_once, spans};

#[test]
fn a_task_exiting_99_is_skipped_and_its_downstream_follow_their_rules() {
    let world = World::new();
    world.spec(
        "nightly.yaml",
        "dag: nightly
tasks:
  - id: check
    retries: 2
    command: [sh, -c, 'echo nothing new today; exit 99']
  - id: load
    after: [check]
    command: [echo, load]
  - id: report
    after: [check]
    trigger_rule: none_failed
    command: [echo, report]
  - id: custom
    skip_exit_code: 3
    command: [sh, -c, 'exit 3']
",
    );
    let ran = world.run(&["run", "nightly", "--output", "json"]);
    assert_eq!(ran.code, 0, "a skip does not fail the run: {}", ran.stderr);
    let shown = ran.json();
    assert_eq!(shown["run"]["state"], "succeeded");
    assert_eq!(
        World::task(&shown, "check"),
        ("skipped".into(), 1),
        "not retried"
    );
    assert_eq!(
        World::task(&shown, "load"),
        ("skipped".into(), 0),
        "never tried"
    );
    assert_eq!(World::task(&shown, "report"), ("succeeded".into(), 1));
    assert_eq!(World::task(&shown, "custom"), ("skipped".into(), 1));
    let check = shown["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == "check")
        .unwrap();
    assert_eq!(check["reason"], "skipped: exit code 99");
    assert_eq!(check["attempts"][0]["state"], "skipped");
    assert_eq!(check["attempts"][0]["exit_code"], 99);
    let tested = world.run(&["test", "nightly", "check"]).expect(0);
    assert!(
        tested.stderr.contains("--- skipped (exit code 99) ---"),
        "{}",
        tested.stderr
    );

    world.spec(
        "bad.yaml",
        "dag: bad\ntasks:\n  - id: a\n    skip_exit_code: 0\n    command: [true]\n",
    );
    let refused = world.run(&["validate"]).expect(1);
    assert!(
        refused
            .stdout
            .contains("bad.yaml:4:21: `skip_exit_code` is an exit code from 1 to 255"),
        "{}",
        refused.stdout
    );
}

const ROUTES: &str = r#"dag: routes
params: { route: fast }
tasks:
  - id: pick
    branch: true
    command: [sh, -c, 'echo "{\"branch\": \"{{ params.route }}\"}" > "$UPDRAFT_OUTPUT"']
  - id: fast
    after: [pick]
    command: [echo, fast]
  - id: slow
    after: [pick]
    command: [echo, slow]
  - id: join
    after: [fast, slow]
    trigger_rule: none_failed_min_one_success
    command: [echo, join]
  - id: gate
    short_circuit: true
    command: [sh, -c, 'echo "{\"continue\": false}" > "$UPDRAFT_OUTPUT"']
  - id: publish
    after: [gate]
    trigger_rule: all_done
    command: [echo, publish]
"#;

#[test]
fn a_branch_chooses_what_runs_and_a_short_circuit_stops_what_follows() {
    let world = World::new();
    world.spec("routes.yaml", ROUTES);
    let ran = world.run(&["run", "routes", "--output", "json"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let shown = ran.json();
    assert_eq!(shown["run"]["state"], "succeeded");
    for (task, state) in [
        ("pick", "succeeded"),
        ("fast", "succeeded"),
        ("slow", "skipped"),
        ("join", "succeeded"),
        ("gate", "succeeded"),
        ("publish", "skipped"),
    ] {
        assert_eq!(World::task(&shown, task).0, state, "{task}");
    }

    // A branch naming a task it does not lead to fails, saying so.
    let ran = world.run(&["run", "routes", "--param", "route=join", "--output", "json"]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let shown = ran.json();
    let pick = shown["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == "pick")
        .unwrap();
    assert_eq!(pick["state"], "failed");
    assert_eq!(
        pick["reason"],
        "`branch` names `join`, which does not run right after `pick`; choose among: fast, slow"
    );
}

/// Backfilled runs skip a `latest_only` task (its downstream follow their
/// rules); a manual run does not.
#[test]
fn a_latest_only_task_is_skipped_in_backfilled_runs_and_runs_when_triggered() {
    let world = World::new();
    world.spec(
        "report.yaml",
        "dag: report
schedule: '@daily'
start: 2026-11-01
tasks:
  - id: extract
    command: [echo, extract]
  - id: notify
    after: [extract]
    latest_only: true
    command: [echo, notify]
  - id: after_notify
    after: [notify]
    command: [echo, after]
",
    );
    world
        .run(&[
            "backfill",
            "report",
            "--from",
            "2026-11-10",
            "--to",
            "2026-11-11",
        ])
        .expect(0);
    let _dev = world.dev();
    let ended = updraft_e2e::eventually(std::time::Duration::from_secs(30), || {
        let runs = world
            .run(&["runs", "report", "--output", "json"])
            .expect(0)
            .json();
        let runs = runs.as_array().unwrap().clone();
        runs.len() >= 2 && runs.iter().all(|r| r["state"] == "succeeded")
    });
    assert!(ended, "{}", world.dev_output());
    let shown = world.show("report", "backfill__2026-11-10T00:00:00+00:00");
    assert_eq!(World::task(&shown, "extract").0, "succeeded");
    assert_eq!(World::task(&shown, "notify").0, "skipped");
    assert_eq!(World::task(&shown, "after_notify").0, "skipped");

    let run = world
        .run(&["trigger", "report", "--wait", "--output", "json"])
        .expect(0)
        .json();
    let shown = world.show("report", run["run_id"].as_str().unwrap());
    assert_eq!(World::task(&shown, "notify").0, "succeeded", "{shown}");
}

/// A run whose param does not fit its schema is refused in one line,
/// from the CLI as from any other maker.
#[test]
fn a_typed_param_that_does_not_fit_refuses_the_run() {
    let world = World::new();
    world.spec(
        "train.yaml",
        "dag: train
params:
  lr: { type: number, default: 0.01, minimum: 0, maximum: 1 }
  mode: { enum: [full, incremental], default: full }
tasks:
  - id: fit
    command: [echo, '{{ params.lr }}']
",
    );
    let refused = world
        .run(&["trigger", "train", "--param", "lr=2"])
        .expect(1);
    assert_eq!(
        refused.stderr,
        "updraft: param `lr`: 2 is above the maximum 1\n"
    );
    let refused = world
        .run(&["run", "train", "--param", "mode=partial"])
        .expect(1);
    assert_eq!(
        refused.stderr,
        "updraft: param `mode`: \"partial\" is not one of \"full\", \"incremental\"\n"
    );
    let refused = world
        .run(&["render", "train", "fit", "--param", "lr=fast"])
        .expect(1);
    assert_eq!(
        refused.stderr,
        "updraft: param `lr`: \"fast\" is not a number\n"
    );
    assert!(
        world
            .run(&["runs", "train", "--output", "json"])
            .expect(0)
            .json()
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was recorded"
    );
    world.run(&["run", "train", "--param", "lr=0.5"]).expect(0);
}

/// A task that sleeps a little and notes when it ran, in `$WORLD/spans`.
fn busy_task(id: &str) -> String {
    format!(
        "  - id: {id}\n    command: [python3, -c, \"import os, time; s = time.time(); time.sleep(0.6); open(os.path.join(os.environ['WORLD'], 'spans'), 'a').write(f'{{s}} {{time.time()}}\\\\n')\"]\n"
    )
}

/// Sensors under `updraft dev`: a file sensor and a command sensor wait,
/// holding no worker (another DAG's four tasks run on the four workers at
/// once meanwhile), and go on once their condition holds; a time sensor
/// whose time has passed goes on at once.
#[test]
fn sensors_wait_without_holding_a_worker_and_go_on_when_their_condition_holds() {
    let world = World::new();
    let dir = world.path().display().to_string();
    world.spec(
        "gate.yaml",
        &format!(
            "dag: gate
params: {{ dir: '{dir}' }}
tasks:
  - id: landed
    wait_for: {{ file: '{{{{ params.dir }}}}/ready', every: 5s }}
  - id: go
    wait_for: {{ command: [test, -f, '{{{{ params.dir }}}}/go'], every: 5s }}
  - id: past
    wait_for: {{ time: '{{{{ data_interval_end }}}} - 1h' }}
  - id: load
    after: [landed, go, past]
    command: [echo, loaded]
"
        ),
    );
    let mut busy = String::from("dag: busy\ntasks:\n");
    for id in ["a", "b", "c", "d"] {
        busy += &busy_task(id);
    }
    world.spec("busy.yaml", &busy);
    let _dev = world.dev();
    let gate = world
        .run(&["trigger", "gate", "--output", "json"])
        .expect(0)
        .json();
    let gate_id = gate["run_id"].as_str().unwrap().to_string();
    let waiting = eventually(Duration::from_secs(20), || {
        let shown = world.show("gate", &gate_id);
        World::task(&shown, "landed").0 == "waiting"
            && World::task(&shown, "go").0 == "waiting"
            && World::task(&shown, "past").0 == "succeeded"
    });
    assert!(waiting, "{}", world.dev_output());

    let busy = world
        .run(&["trigger", "busy", "--wait", "--output", "json"])
        .expect(0)
        .json();
    assert_eq!(busy["state"], "succeeded");
    assert_eq!(
        most_at_once(&spans(&world)),
        4,
        "the waiting sensors hold none of the four workers"
    );
    let shown = world.show("gate", &gate_id);
    assert_eq!(World::task(&shown, "landed").0, "waiting", "{shown}");
    assert_eq!(World::task(&shown, "load").0, "pending");

    std::fs::write(world.path().join("ready"), "").unwrap();
    std::fs::write(world.path().join("go"), "").unwrap();
    let done = eventually(Duration::from_secs(30), || {
        world.show("gate", &gate_id)["run"]["state"] == "succeeded"
    });
    assert!(done, "{}", world.dev_output());
    let shown = world.show("gate", &gate_id);
    assert_eq!(World::task(&shown, "landed"), ("succeeded".into(), 1));
}

/// A sensor waiting two minutes holds no worker all that time: another
/// run's four tasks take the four workers at once while it waits, and it
/// goes on only once its time has come.
#[test]
fn a_sensor_waiting_two_minutes_holds_no_worker_meanwhile() {
    let world = World::new();
    world.spec(
        "later.yaml",
        "dag: later\ntasks:\n  - id: two_minutes\n    wait_for: { time: '{{ logical_date }} + 2m', every: 10s }\n  - id: then\n    after: [two_minutes]\n    command: [echo, then]\n",
    );
    let mut busy = String::from("dag: busy\ntasks:\n");
    for id in ["a", "b", "c", "d"] {
        busy += &busy_task(id);
    }
    world.spec("busy.yaml", &busy);
    let _dev = world.dev();
    let started = std::time::Instant::now();
    let later = world
        .run(&["trigger", "later", "--output", "json"])
        .expect(0)
        .json();
    let id = later["run_id"].as_str().unwrap().to_string();
    let waiting = eventually(Duration::from_secs(20), || {
        World::task(&world.show("later", &id), "two_minutes").0 == "waiting"
    });
    assert!(waiting, "{}", world.dev_output());
    let busy = world
        .run(&["trigger", "busy", "--wait", "--output", "json"])
        .expect(0)
        .json();
    assert_eq!(busy["state"], "succeeded");
    assert_eq!(
        most_at_once(&spans(&world)),
        4,
        "the sensor holds no worker"
    );
    assert_eq!(
        World::task(&world.show("later", &id), "two_minutes").0,
        "waiting"
    );
    let done = eventually(Duration::from_secs(180), || {
        world.show("later", &id)["run"]["state"] == "succeeded"
    });
    assert!(done, "{}", world.dev_output());
    assert!(
        started.elapsed() >= Duration::from_secs(115),
        "it waited its two minutes: {:?}",
        started.elapsed()
    );
}

/// A sensor that runs out of time fails, and with `soft_fail` is skipped.
#[test]
fn a_sensor_past_its_timeout_fails_or_with_soft_fail_is_skipped() {
    let world = World::new();
    world.spec(
        "late.yaml",
        "dag: late
tasks:
  - id: never
    wait_for: { file: /nonexistent/updraft-test, every: 5s, timeout: 2s }
  - id: maybe
    wait_for: { file: /nonexistent/updraft-test, every: 5s, timeout: 2s, soft_fail: true }
",
    );
    let ran = world.run(&["run", "late", "--output", "json"]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let shown = ran.json();
    assert_eq!(World::task(&shown, "never"), ("failed".into(), 1));
    assert_eq!(World::task(&shown, "maybe"), ("skipped".into(), 1));
    let never = shown["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == "never")
        .unwrap();
    assert_eq!(
        never["reason"],
        "waited 2s for /nonexistent/updraft-test to exist"
    );
}

const SHIP: &str = "dag: ship
tasks:
  - id: sign_off
    approval: { prompt: Ship the model?, timeout: 1d }
  - id: publish
    after: [sign_off]
    command: [echo, '{{ outputs.sign_off.choice }} by {{ outputs.sign_off.by }}']
";

/// An approval waits for a person: `approve` with a choice among its
/// options goes on (its output names the choice and who made it), a
/// `reject` skips what follows, and a choice not offered is refused.
#[test]
fn an_approval_given_through_the_cli_goes_on_or_stops_what_follows() {
    let world = World::new();
    world.spec("ship.yaml", SHIP);
    let _dev = world.dev();
    let trigger = || {
        let run = world
            .run(&["trigger", "ship", "--output", "json"])
            .expect(0)
            .json();
        let id = run["run_id"].as_str().unwrap().to_string();
        let asked = eventually(Duration::from_secs(20), || {
            World::task(&world.show("ship", &id), "sign_off").0 == "waiting"
        });
        assert!(asked, "{}", world.dev_output());
        id
    };
    let yes = trigger();
    let refused = world
        .run(&["approve", "ship", &yes, "sign_off", "--choice", "maybe"])
        .expect(1);
    assert_eq!(
        refused.stderr,
        "updraft: choice `maybe` is not one of approve, reject\n"
    );
    world
        .run(&[
            "approve",
            "ship",
            &yes,
            "sign_off",
            "--choice",
            "approve",
            "--note",
            "metrics look fine",
        ])
        .expect(0);
    let done = eventually(Duration::from_secs(20), || {
        world.show("ship", &yes)["run"]["state"] == "succeeded"
    });
    assert!(done, "{}", world.dev_output());
    let log = world.run(&["logs", "ship", &yes, "publish"]).expect(0);
    assert!(log.stdout.contains("approve by "), "{}", log.stdout);
    let shown = world.show("ship", &yes);
    let audit = &shown["audit"][0];
    assert_eq!(audit["action"], "approve");
    assert_eq!(audit["options"][0], "approve");
    assert_eq!(audit["note"], "metrics look fine");

    let no = trigger();
    world
        .run(&["approve", "ship", &no, "sign_off", "--choice", "reject"])
        .expect(0);
    let stopped = eventually(Duration::from_secs(20), || {
        let shown = world.show("ship", &no);
        World::task(&shown, "publish").0 == "skipped" && shown["run"]["state"] == "succeeded"
    });
    assert!(stopped, "{}", world.show("ship", &no));
    let again = world
        .run(&["approve", "ship", &no, "sign_off", "--choice", "approve"])
        .expect(1);
    assert!(
        again
            .stderr
            .contains("waits for no decision: it is succeeded"),
        "{}",
        again.stderr
    );
}

/// A `trigger_dag` task under `updraft dev` starts a run of another DAG,
/// naming itself as its parent, and with `wait` ends as that run ends.
#[test]
fn a_trigger_dag_task_runs_another_dag_and_ends_as_it_ends() {
    let world = World::new();
    world.spec(
        "parent.yaml",
        "dag: parent
tasks:
  - id: kick
    trigger_dag: { dag: child, params: { greeting: 'hi from {{ dag }}' }, wait: true }
  - id: after
    after: [kick]
    command: [echo, '{{ outputs.kick.run_id }}']
",
    );
    world.spec(
        "child.yaml",
        "dag: child\nparams: { greeting: hello }\ntasks:\n  - id: work\n    command: [echo, '{{ params.greeting }}']\n",
    );
    let _dev = world.dev();
    let parent = world
        .run(&["trigger", "parent", "--output", "json"])
        .expect(0)
        .json();
    let parent_id = parent["run_id"].as_str().unwrap().to_string();
    let done = eventually(Duration::from_secs(60), || {
        world.show("parent", &parent_id)["run"]["state"] == "succeeded"
    });
    assert!(done, "{}", world.dev_output());
    let child = world.latest_run("child");
    assert_eq!(child["state"], "succeeded");
    assert_eq!(child["params"]["greeting"], "hi from parent");
    let child_id = child["run_id"].as_str().unwrap();
    let shown = world.show("child", child_id);
    assert_eq!(shown["run"]["parent"]["dag"], "parent");
    assert_eq!(shown["run"]["parent"]["run_id"], parent_id.as_str());
    assert_eq!(shown["run"]["parent"]["task"], "kick");
    let log = world
        .run(&["logs", "parent", &parent_id, "after"])
        .expect(0);
    assert!(log.stdout.contains(child_id), "{}", log.stdout);
}
