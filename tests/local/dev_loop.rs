//! `updraft dev` in the background executing runs: trigger --wait, retries,
//! timeouts, and a dev loop killed with SIGKILL mid-run.

use std::time::Duration;

use updraft_e2e::{World, alive, eventually};

/// A triggered run executes in the background loop; `--wait` exits 0 when
/// it succeeds.
#[test]
fn trigger_wait_returns_when_dev_finishes_the_run() {
    let world = World::new();
    world.spec("hello.yaml", "dag: hello\ntasks:\n  - id: a\n    command: [echo, hi]\n  - id: b\n    after: [a]\n    command: [sh, -c, 'echo run=$UPDRAFT_RUN_ID task=$UPDRAFT_TASK_ID']\n");
    let _dev = world.dev();
    let ran = world
        .run(&["trigger", "hello", "--wait", "--output", "json"])
        .expect(0);
    let run = ran.json();
    assert_eq!(run["state"], "succeeded");
    let run_id = run["run_id"].as_str().unwrap();
    let log = world.run(&["logs", "hello", run_id, "b"]).expect(0).stdout;
    assert_eq!(log.trim(), format!("run={run_id} task=b"));
}

/// With ticks an hour apart, only the doorbell wakes the loop (bound, it
/// stops polling): a run triggered from another process starts at once,
/// and `--wait` returns when it ends.
#[test]
fn a_trigger_from_another_process_rings_dev_awake_between_ticks() {
    let world = World::new();
    world.spec("hello.yaml", "dag: hello\ntasks:\n  - id: a\n    command: [echo, hi]\n  - id: b\n    after: [a]\n    command: [echo, bye]\n");
    let _dev = world.dev_with(&["--no-ui", "--tick", "3600"]);
    assert!(world.state().join("dev.sock").exists());
    for _ in 0..2 {
        let run = world
            .run_for(
                &["trigger", "hello", "--wait", "--output", "json"],
                Duration::from_secs(60),
            )
            .expect(0)
            .json();
        assert_eq!(run["state"], "succeeded");
    }
    // Each `--wait` took its doorbell with it.
    let waiting = std::fs::read_dir(world.state().join("waiting")).unwrap();
    assert_eq!(waiting.count(), 0);
}

/// A task that fails its first try is retried and succeeds on the second.
#[test]
fn a_failing_first_try_is_retried() {
    let world = World::new();
    world.spec(
        "flaky.yaml",
        "dag: flaky\ndefaults: { retries: 2, retry_delay: 1s }\ntasks:\n  - id: f\n    command: [sh, -c, '[ \"$UPDRAFT_TRY_NUMBER\" -ge 2 ]']\n",
    );
    let _dev = world.dev();
    let run = world
        .run(&["trigger", "flaky", "--wait", "--output", "json"])
        .expect(0)
        .json();
    let show = world.show("flaky", run["run_id"].as_str().unwrap());
    assert_eq!(World::task(&show, "f"), ("succeeded".into(), 2));
    let attempts = &show["tasks"][0]["attempts"];
    assert_eq!(attempts[0]["state"], "failed");
    assert_eq!(attempts[0]["exit_code"], 1);
    assert_eq!(attempts[1]["state"], "succeeded");
}

/// A try past its timeout is killed (its whole process group) and failed.
#[test]
fn timeout_kills_a_sleeping_task() {
    let world = World::new();
    world.spec(
        "slow.yaml",
        "dag: slow\ntasks:\n  - id: sleepy\n    timeout: 1s\n    command: [sh, -c, 'echo $$ > \"$WORLD/pid\"; sleep 60']\n",
    );
    let _dev = world.dev();
    let ran = world
        .run_for(
            &["trigger", "slow", "--wait", "--output", "json"],
            Duration::from_secs(30),
        )
        .expect(1);
    let run = ran.json();
    assert_eq!(run["state"], "failed");
    let show = world.show("slow", run["run_id"].as_str().unwrap());
    assert_eq!(show["tasks"][0]["reason"], "timed out after 1s");
    let pid: i32 = std::fs::read_to_string(world.path().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || !alive(pid)),
        "the sleeping process {pid} was not killed"
    );
}

/// Killing `dev` with SIGKILL mid-run and starting it again finishes the
/// run, and no task runs twice for the same try.
#[test]
fn dev_killed_mid_run_resumes_without_running_a_try_twice() {
    let world = World::new();
    let task = |id: &str, after: &str| {
        format!(
            "  - id: {id}\n{after}    command: [sh, -c, 'echo {id}-$UPDRAFT_TRY_NUMBER >> \"$WORLD/ran\"; sleep 1']\n"
        )
    };
    let yaml = format!(
        "dag: crash\ntasks:\n{}{}{}{}",
        task("a", ""),
        task("b", "    after: [a]\n"),
        task("c", "    after: [a]\n"),
        task("d", "    after: [b, c]\n"),
    );
    world.spec("crash.yaml", &yaml);
    let dev = world.dev();
    let run = world
        .run(&["trigger", "crash", "--output", "json"])
        .expect(0)
        .json();
    let run_id = run["run_id"].as_str().unwrap().to_string();
    let ran = |world: &World| std::fs::read_to_string(world.path().join("ran")).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(20), || ran(&world).contains("b-1")),
        "b never started"
    );
    dev.kill_hard();
    let _dev = world.dev();
    let done = eventually(Duration::from_secs(40), || {
        world
            .run(&["show", "crash", &run_id, "--output", "json"])
            .json()["run"]["state"]
            == "succeeded"
    });
    assert!(
        done,
        "the run did not finish after the restart:\n{}",
        world.dev_output()
    );
    let mut lines: Vec<String> = ran(&world).lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(
        lines,
        ["a-1", "b-1", "c-1", "d-1"],
        "each task ran once, at try 1"
    );
}

/// The fields of `/proc/PID/stat` after the command name (state, ppid,
/// ...), read past the last `)` since a name may hold any character.
fn stat_fields(pid: i32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    after.split_whitespace().map(String::from).collect()
}

/// The children of `parent` waiting as spare supervisors, by pid (a
/// zombie has no command line, so a killed one no longer counts).
fn spares_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            let ppid = stat_fields(pid).get(1).and_then(|p| p.parse().ok());
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid == Some(parent) && String::from_utf8_lossy(&cmdline).contains("--standby")
        })
        .collect()
}

/// Whether `pid` is still running (a zombie waiting to be reaped is not).
fn running(pid: i32) -> bool {
    stat_fields(pid).first().is_some_and(|state| state != "Z")
}

/// The loop keeps one supervisor started ahead for the next try: one
/// killed while it waits is replaced and the next try runs all the same;
/// one whose `dev` is killed exits by itself, having run nothing.
#[test]
fn a_spare_supervisor_is_replaced_when_killed_and_leaves_with_its_loop() {
    let world = World::new();
    world.spec(
        "one.yaml",
        "dag: one\ntasks:\n  - id: t\n    command: [sh, -c, 'echo ran $UPDRAFT_TRY_NUMBER']\n",
    );
    let dev = world.dev();
    let trigger = || {
        let run = world
            .run(&["trigger", "one", "--wait", "--output", "json"])
            .expect(0)
            .json();
        assert_eq!(run["state"], "succeeded", "{run}");
        run["run_id"].as_str().unwrap_or_default().to_string()
    };
    trigger();
    let mut spares = Vec::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            spares = spares_of(dev.pid());
            spares.len() == 1
        }),
        "one spare after a try: {spares:?}"
    );
    unsafe { libc::kill(spares[0], libc::SIGKILL) };

    let run_id = trigger();
    let log = world.run(&["logs", "one", &run_id, "t"]).expect(0).stdout;
    assert_eq!(log.trim(), "ran 1");
    let mut replaced = Vec::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            replaced = spares_of(dev.pid());
            replaced.len() == 1 && replaced != spares
        }),
        "a new spare: {replaced:?} (the killed one was {spares:?})"
    );

    dev.kill_hard();
    assert!(
        eventually(Duration::from_secs(10), || !running(replaced[0])),
        "the spare outlived its loop"
    );
}

/// Issue 11: `updraft cancel` stops a running try (its process is
/// killed), skips what waits, and the run ends cancelled; a DAG's
/// `run_timeout` fails a run that runs too long, saying why.
#[test]
fn cancel_and_run_timeout_end_a_run_and_kill_its_processes() {
    let world = World::new();
    let sleepy = "    command: [sh, -c, 'echo $$ > \"$WORLD/pid-$UPDRAFT_DAG\"; sleep 60']\n";
    world.spec(
        "long.yaml",
        &format!("dag: long\ntasks:\n  - id: sleepy\n{sleepy}  - id: after\n    after: [sleepy]\n    command: [true]\n"),
    );
    world.spec(
        "bounded.yaml",
        &format!("dag: bounded\nrun_timeout: 2s\ntasks:\n  - id: sleepy\n{sleepy}"),
    );
    let _dev = world.dev();
    let pid_of = |dag: &str| {
        let path = world.path().join(format!("pid-{dag}"));
        let mut pid = None;
        eventually(Duration::from_secs(20), || {
            pid = std::fs::read_to_string(&path)
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok());
            pid.is_some()
        });
        pid.unwrap_or_else(|| panic!("{dag}'s task never started"))
    };

    let run = world
        .run(&["trigger", "long", "--output", "json"])
        .expect(0)
        .json();
    let run_id = run["run_id"].as_str().unwrap();
    let pid = pid_of("long");
    let cancelled = world
        .run(&["cancel", "long", run_id, "--note", "wrong input"])
        .expect(0);
    assert_eq!(
        cancelled.stdout.lines().last(),
        Some(format!("cancelled {run_id}; the run is cancelled").as_str()),
        "{}",
        cancelled.stdout
    );
    assert!(
        eventually(Duration::from_secs(10), || !alive(pid)),
        "the cancelled try's process {pid} was not killed"
    );
    let show = world.show("long", run_id);
    assert_eq!(show["run"]["state"], "cancelled", "{show}");
    assert!(
        show["run"]["reason"]
            .as_str()
            .unwrap_or_else(|| panic!("{show}"))
            .starts_with("cancelled by "),
        "{show}"
    );
    assert_eq!(World::task(&show, "sleepy").0, "failed");
    assert_eq!(World::task(&show, "after").0, "skipped");
    let again = world.run(&["cancel", "long", run_id]).expect(1);
    assert!(
        again.stderr.contains("already ended (cancelled)"),
        "{}",
        again.stderr
    );

    let ran = world
        .run_for(
            &["trigger", "bounded", "--wait", "--output", "json"],
            Duration::from_secs(30),
        )
        .expect(1);
    let run = ran.json();
    assert_eq!(run["state"], "failed");
    assert_eq!(run["reason"], "the run timed out after 2s (run_timeout)");
    let pid = pid_of("bounded");
    assert!(
        eventually(Duration::from_secs(10), || !alive(pid)),
        "the timed-out run's process {pid} was not killed"
    );
}
