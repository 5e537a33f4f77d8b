//! `updraft doctor` in local mode: no state yet, a state without `dev`,
//! and a `dev` that ticks.

use std::time::Duration;

use updraft_e2e::{World, eventually};

const HELLO: &str = "dag: hello\ntasks:\n  - id: greet\n    command: [echo, hi]\n";

#[test]
fn doctor_names_a_missing_state_and_a_dev_not_running_and_passes_with_dev() {
    let world = World::new();
    let empty = world.run(&["doctor"]).expect(1);
    assert!(
        empty.stdout.starts_with("✘ no state in ")
            && empty
                .stdout
                .contains(": run updraft dev (or updraft run DAG)"),
        "{}",
        empty.stdout
    );

    world.spec("hello.yaml", HELLO);
    world.run(&["run", "hello"]).expect(0);
    let stopped = world.run(&["doctor"]).expect(1);
    for line in [
        "✔ state in ",
        "✘ updraft dev is not running: nothing is scheduled or launched: start it: updraft dev",
        "✔ every DAG's spec imports",
        "✔ no try running past its timeout",
    ] {
        assert!(stopped.stdout.contains(line), "{line}\n{}", stopped.stdout);
    }

    let _dev = world.dev();
    let mut last = String::new();
    let healthy = eventually(Duration::from_secs(20), || {
        let ran = world.run(&["doctor"]);
        last = ran.stdout;
        ran.code == 0 && last.contains("✔ last tick ")
    });
    assert!(healthy, "{last}");
    assert!(last.contains("✔ updraft dev is running"), "{last}");
}
