//! Broken input gets one line that says what and where, exit 1 (the user's
//! mistake) or 2 (the infrastructure), and never a panic or a backtrace.

use updraft_e2e::{Ran, World};

fn one_clean_line(ran: &Ran) {
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {:?}", ran.stderr);
    assert!(lines[0].starts_with("updraft: "), "{}", lines[0]);
    for bad in [
        "panicked",
        "RUST_BACKTRACE",
        "internal error",
        "stack backtrace",
    ] {
        assert!(!ran.stderr.contains(bad), "{bad} in {}", ran.stderr);
    }
}

#[test]
fn validate_prints_every_error_with_file_line_and_column() {
    let world = World::new();
    world.spec(
        "bad.yaml",
        "dag: bad\nschedule: '61 * * * *'\ntasks:\n  - id: a\n    after: [ghost]\n",
    );
    world.spec("good.yaml", "dag: good\ntasks:\n  - id: a\n");
    let ran = world.run(&["validate"]).expect(1);
    let file = world.path().join("specs/bad.yaml");
    assert_eq!(
        ran.stdout.lines().collect::<Vec<_>>(),
        [
            format!(
                "{}:2:11: cron `61 * * * *`: minute field `61`: 61 is outside 0-59",
                file.display()
            ),
            format!(
                "{}:5:13: `after` names unknown task `ghost`",
                file.display()
            ),
        ]
    );
    world
        .run(&[
            "validate",
            world.path().join("specs/good.yaml").to_str().unwrap(),
        ])
        .expect(0);
}

/// Fuzzing found texts the YAML library panics on: a block scalar ending
/// the file without a line break is read as YAML says, and a text it
/// cannot read is a syntax error of that file — never a panic.
#[test]
fn texts_the_yaml_library_panicked_on_validate_cleanly() {
    let world = World::new();
    world.spec(
        "last.yaml",
        "dag: last\ntasks:\n  - id: a\n    command:\n      - sh\n      - -c\n      - |\n        echo hi",
    );
    world.run(&["validate"]).expect(0);
    world.spec("flow.yaml", "dag: flow\ntags: [!,\n");
    let ran = world.run(&["validate"]).expect(1);
    let file = world.path().join("specs/flow.yaml");
    assert!(
        ran.stdout
            .starts_with(&format!("{}:2:7: YAML syntax error", file.display())),
        "{}",
        ran.stdout
    );
    for bad in ["panicked", "internal error", "backtrace"] {
        assert!(!ran.stderr.contains(bad), "{}", ran.stderr);
    }
}

#[test]
fn user_errors_exit_1_with_one_line() {
    let world = World::new();
    world.spec(
        "good.yaml",
        "dag: good\ntasks:\n  - id: a\n    command: [echo]\n",
    );
    let cases: &[(&[&str], &str)] = &[
        (
            &["trigger", "nope"],
            "updraft: unknown DAG `nope`; known DAGs: good",
        ),
        (
            &["show", "good", "no-such-run"],
            "updraft: DAG `good` has no run `no-such-run`",
        ),
        (
            &["trigger", "good", "--param", "novalue"],
            "updraft: --param: `novalue` is not key=value",
        ),
        (
            &["runs", "--state", "done"],
            "updraft: --state: unknown run state `done`; use one of queued, running, succeeded, failed, cancelled",
        ),
        (
            &["backfill", "good", "--from", "x", "--to", "y"],
            "updraft: DAG `good` has `schedule: none`; backfill needs schedule points",
        ),
        (
            &["rerun", "good", "r", "Bad Task"],
            "updraft: `Bad Task` is not a valid task id: use 1-64 characters a-z, 0-9, `_` or `-`, starting with a letter",
        ),
        (
            &["frobnicate"],
            "updraft: unrecognized subcommand 'frobnicate' (see `updraft --help`)",
        ),
        (
            &["--backend", "aws", "dev"],
            "updraft: `dev` and `run` execute on this machine (--backend local); on AWS the planner, dispatcher and recorder functions do their work",
        ),
    ];
    for (args, message) in cases {
        let ran = world.run(args);
        assert_eq!(ran.code, 1, "{args:?}: {}", ran.stderr);
        one_clean_line(&ran);
        assert_eq!(ran.stderr.trim(), *message, "{args:?}");
    }
}

#[test]
fn infrastructure_errors_exit_2_with_one_line() {
    let world = World::new();
    world.spec(
        "good.yaml",
        "dag: good\ntasks:\n  - id: a\n    command: [echo]\n",
    );
    let ran = world.run(&["trigger", "good", "--wait"]);
    assert_eq!(ran.code, 2, "no dev running: {}", ran.stderr);
    one_clean_line(&ran);
    assert!(
        ran.stderr.contains("no `updraft dev` is running"),
        "{}",
        ran.stderr
    );

    let broken = World::new();
    std::fs::write(broken.state(), "a file where the state directory should be").unwrap();
    let ran = broken.run(&["runs"]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    one_clean_line(&ran);
}

#[test]
fn a_second_dev_on_the_same_state_refuses_to_start() {
    let world = World::new();
    world.spec(
        "good.yaml",
        "dag: good\ntasks:\n  - id: a\n    command: [echo]\n",
    );
    let _dev = world.dev();
    let ran = world.run(&["dev"]).expect(1);
    one_clean_line(&ran);
    assert!(
        ran.stderr
            .contains("another `updraft dev` (or `updraft run`) is running"),
        "{}",
        ran.stderr
    );
    let ran = world.run(&["run", "good"]).expect(1);
    assert!(
        ran.stderr.contains("use `updraft trigger --wait` instead"),
        "{}",
        ran.stderr
    );
}

/// Issue 11: `runs` warns of a spec file with errors (its DAG is not
/// scheduled) on stderr, and its JSON on stdout stays one document.
#[test]
fn runs_warns_of_spec_errors_on_stderr() {
    let world = World::new();
    world.spec(
        "good.yaml",
        "dag: good\ntasks:\n  - id: a\n    command: [echo]\n",
    );
    world.run(&["run", "good"]).expect(0);
    world.spec(
        "bad.yaml",
        "dag: bad\ntasks:\n  - id: a\n    after: [ghost]\n",
    );
    let ran = world.run(&["runs", "--output", "json"]).expect(0);
    assert_eq!(ran.json().as_array().map(Vec::len), Some(1));
    let file = world.path().join("specs/bad.yaml");
    assert_eq!(
        ran.stderr.trim_end(),
        format!(
            "updraft: spec error, the DAG is not scheduled until fixed: {}:4:13: `after` names unknown task `ghost`",
            file.display()
        )
    );
}

/// A dashboard port already in use is the user's to change, said in one
/// line; `dev` says so too but runs without the dashboard.
#[test]
fn a_taken_dashboard_port_is_named_and_dev_runs_without_it() {
    let world = World::new();
    world.spec(
        "hello.yaml",
        "dag: hello\ntasks:\n  - id: a\n    command: [echo, hi]\n",
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let ran = world.run(&["ui", "--port", &port]).expect(1);
    one_clean_line(&ran);
    assert_eq!(
        ran.stderr.trim(),
        format!("updraft: 127.0.0.1:{port} is in use; pick another --port")
    );
    let ran = world
        .run(&["ui", "--bind", "localhost", "--port", "1"])
        .expect(1);
    one_clean_line(&ran);
    assert!(ran.stderr.contains("--bind"), "{}", ran.stderr);
    let dev = world.dev_with(&["--ui-port", &port]);
    let started = updraft_e2e::eventually(std::time::Duration::from_secs(20), || {
        world.dev_output().contains("no dashboard")
    });
    assert!(started, "{}", world.dev_output());
    assert!(world.dev_output().contains(&format!(
        "updraft dev: warning: no dashboard: 127.0.0.1:{port} is in use; pick another --ui-port"
    )));
    world.run(&["trigger", "hello", "--wait"]).expect(0);
    drop(dev);
}

/// A reader that went away (`updraft logs … | head`) ends a command
/// quietly with a broken pipe's status, as it ends `cat`: never an
/// internal error.
#[test]
fn a_reader_that_went_away_ends_a_command_quietly() {
    let world = World::new();
    world.spec(
        "big.yaml",
        "dag: big\ntasks:\n  - id: t\n    command: [seq, '1', '100000']\n",
    );
    world.run(&["run", "big"]).expect(0);
    let run = world.latest_run("big");
    let run_id = run["run_id"].as_str().unwrap();
    for args in [
        &["schema"][..],
        &["completions", "bash"],
        &["runs"],
        &["show", "big", run_id],
        &["logs", "big", run_id, "t"],
    ] {
        let ran = world.run_into_closed_pipe(args);
        assert_eq!(
            (ran.code, ran.stderr.as_str()),
            (141, ""),
            "updraft {}",
            args.join(" ")
        );
    }
}
