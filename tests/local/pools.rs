//! Pools: two DAGs sharing a pool of 2 under `updraft dev` never run more
//! than 2 of its tasks at once (from the tasks' own clocks), and
//! `updraft pools` shows every slot given back afterwards.

use std::time::Duration;

use updraft_e2e::{World, eventually, most_at_once, spans};

/// A task that notes when it ran, by its own clock.
fn spanned(dag: &str, tasks: &[&str]) -> String {
    let mut yaml = format!("dag: {dag}\ntasks:\n");
    for task in tasks {
        yaml.push_str(&format!(
            "  - id: {task}\n    pool: gpu\n    command: [python3, -c, \"import os, time; s = time.time(); time.sleep(0.4); open(os.path.join(os.environ['WORLD'], 'spans'), 'a').write(f'{{s}} {{time.time()}}\\\\n')\"]\n"
        ));
    }
    yaml
}

#[test]
fn two_dags_sharing_a_pool_of_two_never_run_more_than_two_at_once() {
    let world = World::new();
    world.spec("pools.yaml", "pools:\n  gpu: 2\n");
    world.spec("left.yaml", &spanned("left", &["a", "b", "c"]));
    world.spec("right.yaml", &spanned("right", &["x", "y", "z"]));
    world.run(&["validate"]).expect(0);
    let _dev = world.dev();
    world.run(&["trigger", "left"]).expect(0);
    world.run(&["trigger", "right"]).expect(0);
    let ended = |dag: &str| {
        let runs = world
            .run(&["runs", dag, "--output", "json"])
            .expect(0)
            .json();
        runs[0]["state"] == "succeeded"
    };
    assert!(
        eventually(Duration::from_secs(60), || ended("left") && ended("right")),
        "{}",
        world.dev_output()
    );
    let spans = spans(&world);
    assert_eq!(spans.len(), 6, "every task ran once");
    let most_at_once = most_at_once(&spans);
    assert!(most_at_once <= 2, "at most 2 at once, saw {most_at_once}");
    assert_eq!(most_at_once, 2, "the pool's two slots were used together");
    let pools = world.run(&["pools", "--output", "json"]).expect(0).json();
    assert_eq!(pools[0]["pool"], "gpu");
    assert_eq!(pools[0]["slots"], 2);
    assert_eq!(pools[0]["used"], 0, "{pools}");
    assert_eq!(pools[0]["waiting"], 0, "{pools}");
}
