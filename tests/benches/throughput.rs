//! Local-mode throughput through `updraft run` (the release binary):
//! a 1,000-task fan-out of `true` and a 100-task chain. Prints tasks per
//! second and the median gap between one task's end and the next one's
//! start, as recorded in the run's attempts. Then the latency of a run
//! triggered from another process under `updraft dev`: from the `trigger`
//! command's start to its task's start, and from the run's recorded end to
//! `trigger --wait` returning.
//!
//! Run with `make bench`, which builds the release binary first.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use updraft_e2e::World;

fn fan_out(width: usize) -> String {
    let mut yaml = String::from("dag: fan_out\ntasks:\n  - id: start\n    command: ['true']\n");
    for i in 0..width {
        yaml += &format!("  - id: t{i}\n    after: [start]\n    command: ['true']\n");
    }
    yaml
}

fn chain(length: usize) -> String {
    let mut yaml = String::from("dag: chain\ntasks:\n  - id: t0\n    command: ['true']\n");
    for i in 1..length {
        yaml += &format!(
            "  - id: t{i}\n    after: [t{}]\n    command: ['true']\n",
            i - 1
        );
    }
    yaml
}

fn millis(v: &Value) -> Option<f64> {
    let t = DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
    Some(t.timestamp_nanos_opt()? as f64 / 1e6)
}

/// (start, end) of each task's last try, in ms, in topological order.
fn spans(show: &Value) -> Vec<(f64, f64)> {
    show["tasks"]
        .as_array()
        .map(|tasks| {
            tasks
                .iter()
                .filter_map(|t| {
                    let last = t["attempts"].as_array()?.last()?;
                    Some((millis(&last["started_at"])?, millis(&last["ended_at"])?))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `updraft run DAG`: how long it took, what it printed, and when (ms of
/// the wall clock) it returned.
fn execute(world: &World, dag: &str, tasks: usize) -> (Duration, Value, f64) {
    let started = Instant::now();
    let ran = world
        .run_for(&["run", dag, "--output", "json"], Duration::from_secs(600))
        .expect(0);
    let took = started.elapsed();
    let returned = now_ms();
    let show = ran.json();
    assert_eq!(show["tasks"].as_array().map(Vec::len), Some(tasks));
    (took, show, returned)
}

/// `updraft __supervise -- true`: what each local try costs the machine.
fn supervised_true(exit_file: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(updraft_e2e::binary());
    command
        .arg("__supervise")
        .arg("--exit-file")
        .arg(exit_file)
        .args(["--", "true"]);
    command
}

/// What spawning alone allows: the time to run `updraft __supervise -- true`
/// (what each local try costs the machine) two at a time, as the fan-out's
/// two workers do.
fn spawn_ceiling(world: &World) -> f64 {
    let exit_file = world.path().join("exit");
    let rounds = 200;
    let started = Instant::now();
    for _ in 0..rounds / 2 {
        let pair: Vec<_> = (0..2)
            .map(|_| supervised_true(&exit_file).spawn().expect("spawn"))
            .collect();
        for mut child in pair {
            child.wait().expect("wait");
        }
    }
    rounds as f64 / started.elapsed().as_secs_f64()
}

/// The chain's floor: `updraft __supervise -- true` run `n` times one
/// after another.
fn sequential_spawns(world: &World, n: usize) -> Duration {
    let exit_file = world.path().join("exit");
    let started = Instant::now();
    for _ in 0..n {
        supervised_true(&exit_file).status().expect("spawn");
    }
    started.elapsed()
}

fn main() {
    let world = World::new();
    let ceiling = spawn_ceiling(&world);
    println!("spawning alone (`updraft __supervise -- true`, two at a time): {ceiling:.0} tasks/s");
    world.spec("fan_out.yaml", &fan_out(1_000));
    world.spec("chain.yaml", &chain(100));

    let (took, show, _) = execute(&world, "fan_out", 1_001);
    let tries = spans(&show);
    let first = tries.iter().map(|s| s.0).fold(f64::MAX, f64::min);
    let last = tries.iter().map(|s| s.1).fold(f64::MIN, f64::max);
    let busy = (last - first) / 1e3;
    let rate = tries.len() as f64 / busy;
    println!(
        "fan-out of 1,000 × true: {rate:.0} tasks/s, {:.0} % of spawning alone ({busy:.2}s from the first start to the last end; {:.2}s for the whole `updraft run`)",
        100.0 * rate / ceiling,
        took.as_secs_f64()
    );
    let per_task = median(tries.iter().map(|(s, e)| e - s).collect());
    println!(
        "fan-out: median time from dispatch to the recorded end of one task: {per_task:.1} ms"
    );

    world.spec("mapped.yaml", "dag: mapped\ntasks:\n  - id: each\n    map_over: '{{ range(10000) | list }}'\n    command: ['true']\n");
    let (took, show, _) = execute(&world, "mapped", 10_001);
    let rate = 10_000.0 / took.as_secs_f64();
    println!(
        "mapped task over 10,000 items of true: {rate:.0} tasks/s, {:.0} % of spawning alone ({:.1}s for the whole `updraft run`)",
        100.0 * rate / ceiling,
        took.as_secs_f64()
    );
    drop(show);

    let (took, show, _) = execute(&world, "chain", 100);
    let tries = spans(&show);
    let gaps: Vec<f64> = tries.windows(2).map(|w| w[1].0 - w[0].1).collect();
    println!(
        "chain of 100 × true: {:.0} tasks/s ({:.2}s for the whole `updraft run`); median gap from one task's end to the next one's start: {:.1} ms (max {:.1} ms)",
        100.0 / took.as_secs_f64(),
        took.as_secs_f64(),
        median(gaps.clone()),
        gaps.iter().copied().fold(f64::MIN, f64::max)
    );

    world.spec(
        "chain20.yaml",
        &chain(20).replace("dag: chain", "dag: chain20"),
    );
    let (mut ratios, mut to_return) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let (took, show, returned) = execute(&world, "chain20", 20);
        to_return.extend(millis(&show["run"]["ended_at"]).map(|ended| returned - ended));
        ratios.push((took, sequential_spawns(&world, 20)));
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let ratio = median(ratios.iter().map(|(t, f)| ms(t) / ms(f)).collect());
    println!(
        "chain of 20 × true through `updraft run`: {:.0} ms, {ratio:.2}× twenty sequential `updraft __supervise -- true` ({:.0} ms; medians of 5 pairs); the run's end → `run` returning {:.1} ms",
        median(ratios.iter().map(|(t, _)| ms(t)).collect()),
        median(ratios.iter().map(|(_, f)| ms(f)).collect()),
        median(to_return)
    );
    trigger_latency(&world);
}

fn now_ms() -> f64 {
    Utc::now().timestamp_nanos_opt().unwrap_or_default() as f64 / 1e6
}

/// `trigger` from another process → the task's start, and the run's end →
/// `trigger --wait` returning, under `updraft dev` (ticks an hour apart,
/// so only its doorbell wakes it), 20 times each; medians.
fn trigger_latency(world: &World) {
    world.spec(
        "one.yaml",
        "dag: one\ntasks:\n  - id: t\n    command: ['true']\n",
    );
    let _dev = world.dev_with(&["--no-ui", "--tick", "3600"]);
    let (mut to_start, mut to_return) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let asked = now_ms();
        let run = world
            .run_for(
                &["trigger", "one", "--wait", "--output", "json"],
                Duration::from_secs(60),
            )
            .expect(0)
            .json();
        let returned = now_ms();
        let show = world.show("one", run["run_id"].as_str().unwrap_or_default());
        let start = spans(&show)[0].0;
        let ended = millis(&run["ended_at"]).expect("the run's end");
        to_start.push(start - asked);
        to_return.push(returned - ended);
    }
    println!(
        "under `updraft dev`: `trigger` → its task's start {:.1} ms; the run's end → `trigger --wait` returning {:.1} ms (medians of 20; each includes starting the `updraft` process)",
        median(to_start),
        median(to_return)
    );
}
