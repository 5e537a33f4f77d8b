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

/// A 1,000-instance fan-out at priority 0 keeps a pool of 2 busy; a
/// single priority-10 task of another DAG, triggered meanwhile, takes the
/// next slot that frees: it starts within one turnover of the pool's
/// slots (at most one fan-out task of each slot ends while it waits).
#[test]
fn a_single_high_priority_task_starts_within_one_turnover_of_a_huge_fan_out() {
    let world = World::new();
    world.spec("pools.yaml", "pools:\n  gpu: 2\n");
    let items: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let note = |what: &str, seconds: f64| {
        format!(
            "[python3, -c, \"import os, time; s = time.time(); time.sleep({seconds}); open(os.path.join(os.environ['WORLD'], '{what}'), 'a').write(f'{{s}} {{time.time()}}\\\\n')\"]"
        )
    };
    world.spec(
        "fan.yaml",
        &format!(
            "dag: fan\ntasks:\n  - id: each\n    map_over: [{}]\n    pool: gpu\n    command: {}\n",
            items.join(", "),
            note("fan", 1.0)
        ),
    );
    world.spec(
        "single.yaml",
        &format!(
            "dag: single\ntasks:\n  - id: one\n    pool: gpu\n    priority: 10\n    command: {}\n",
            note("single", 0.0)
        ),
    );
    world.run(&["validate"]).expect(0);
    let _dev = world.dev();
    world.run(&["trigger", "fan"]).expect(0);
    let spans_of = |what: &str| -> Vec<(f64, f64)> {
        std::fs::read_to_string(world.path().join(what))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (a, b) = l.split_once(' ')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            })
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(60), || spans_of("fan").len() >= 2),
        "the fan-out runs: {}",
        world.dev_output()
    );
    world.run(&["trigger", "single"]).expect(0);
    let waiting_since = now();
    assert!(
        eventually(Duration::from_secs(30), || !spans_of("single").is_empty()),
        "the single task ran: {}",
        world.dev_output()
    );
    let started = spans_of("single")[0].0;
    let fan_id = world.latest_run("fan")["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    world.run(&["cancel", "fan", &fan_id]).expect(0);
    let turnovers = spans_of("fan")
        .iter()
        .filter(|(_, end)| *end > waiting_since && *end < started)
        .count();
    assert!(
        turnovers <= 2,
        "{turnovers} fan-out tasks ended while the single task waited"
    );
    assert!(
        most_at_once(&spans_of("fan")) <= 2,
        "the pool held at most 2"
    );
}

/// Seconds since the epoch, as the tasks note them.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
