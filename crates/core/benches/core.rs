//! The core's speed targets (each well under 50 ms): validating a
//! 10,000-task spec, planning a 10,000-task run in its worst states, and a
//! year of `*/5` schedule points.

use std::hint::black_box;

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use updraft_core::ids::DagId;
use updraft_core::plan::{initial_instances, plan};
use updraft_core::schedule::Schedule;
use updraft_core::spec::{DagSpec, parse_spec};
use updraft_core::state::{Run, RunKind, RunState, TaskInstance, TaskState};

const TASKS: usize = 10_000;

/// A wide DAG: each task runs after up to three earlier ones, with a
/// templated command, retries and a timeout. With `distinct`, every task
/// also has a template of its own, so no template check is shared.
fn big_spec_yaml(distinct: bool) -> String {
    let mut yaml = String::from(
        "dag: big\nschedule: \"*/5 * * * *\"\ntimezone: Asia/Tokyo\ndefaults: { retries: 2, retry_delay: 1m, timeout: 1h }\ntasks:\n",
    );
    for i in 0..TASKS {
        yaml += &format!(
            "  - id: t{i}\n    command: [python, step.py, --day, \"{{{{ ds }}}}\", --part, \"{i}\"]\n"
        );
        if distinct {
            yaml += &format!("    environment: {{ OUT: \"s3://bucket/{{{{ ds }}}}/part-{i}\" }}\n");
        }
        let ups: Vec<String> = [i / 2, i.saturating_sub(1), i * 7 / 10]
            .iter()
            .filter(|&&u| u < i)
            .map(|u| format!("t{u}"))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !ups.is_empty() {
            yaml += &format!("    after: [{}]\n", ups.join(", "));
        }
    }
    yaml
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn run_of(spec: &DagSpec) -> Run {
    Run {
        dag: DagId::parse("big").unwrap(),
        run_id: "manual__bench".into(),
        kind: RunKind::Manual,
        state: RunState::Running,
        spec_version: spec.version.clone(),
        logical_date: now(),
        data_interval_start: now(),
        data_interval_end: now(),
        params: Default::default(),
        labels: Vec::new(),
        created_at: now(),
        started_at: Some(now()),
        ended_at: None,
        triggered_by: String::new(),
        note: None,
        reason: None,
        metrics: Default::default(),
        deadline_missed_at: None,
        trigger: None,
        parent: None,
        revision: 0,
    }
}

/// Every task's instance in `state` at try 1, except the first `done`
/// tasks in topological order which succeeded.
fn instances(spec: &DagSpec, done: usize, first: TaskState) -> Vec<TaskInstance> {
    let mut instances = initial_instances(spec);
    for (n, &t) in spec.topological_order().iter().enumerate() {
        let instance = &mut instances[t];
        if n < done {
            instance.state = TaskState::Succeeded;
            instance.try_number = 1;
        } else if n == done {
            instance.state = first;
            instance.try_number = 1;
        }
    }
    instances
}

fn benches(c: &mut Criterion) {
    let yaml = big_spec_yaml(false);
    c.bench_function("validate a 10,000-task spec", |b| {
        b.iter(|| parse_spec("big.yaml", black_box(&yaml)).unwrap())
    });
    let distinct = big_spec_yaml(true);
    c.bench_function(
        "validate a 10,000-task spec, a distinct template per task",
        |b| b.iter(|| parse_spec("big.yaml", black_box(&distinct)).unwrap()),
    );

    let spec = parse_spec("big.yaml", &yaml).unwrap();
    let run = run_of(&spec);
    // Half the run succeeded and the next task just did: every pending task
    // is evaluated and the ready ones queued.
    let half = instances(&spec, TASKS / 2, TaskState::Succeeded);
    c.bench_function("plan a 10,000-task run, half done", |b| {
        b.iter(|| plan(&spec, &run, black_box(&half), now()))
    });
    // The root failed: all 9,999 others become upstream_failed in one plan.
    let root_failed = instances(&spec, 0, TaskState::Failed);
    assert_eq!(
        plan(&spec, &run, &root_failed, now()).len(),
        TASKS,
        "9,999 tasks and the run"
    );
    c.bench_function("plan a 10,000-task run, root failed", |b| {
        b.iter(|| plan(&spec, &run, black_box(&root_failed), now()))
    });

    // A mapped task over 10,000 items, half of them done: every tick plans
    // all 10,000 instances and queues the next ones.
    let mapped = parse_spec(
        "mapped.yaml",
        "dag: big\ntasks:\n  - id: each\n    map_over: '{{ range(10000) | list }}'\n    max_parallel: 64\n    command: ['true']\n  - id: after\n    after: [each]\n    command: ['true']\n",
    )
    .unwrap();
    let mapped_run = run_of(&mapped);
    let mut expanded = initial_instances(&mapped);
    expanded[0].state = TaskState::Mapped;
    expanded[0].map_count = Some(10_000);
    for i in 0..10_000u32 {
        let mut child = TaskInstance::pending(updraft_core::state::TaskKey {
            task_id: expanded[0].key.task_id.clone(),
            map_index: Some(i),
        });
        if i < 5_000 {
            child.state = TaskState::Succeeded;
            child.try_number = 1;
        }
        expanded.push(child);
    }
    assert_eq!(
        plan(&mapped, &mapped_run, &expanded, now()).len(),
        64,
        "max_parallel instances queued"
    );
    c.bench_function("plan a run with 10,000 mapped instances, half done", |b| {
        b.iter(|| plan(&mapped, &mapped_run, black_box(&expanded), now()))
    });

    let schedule = Schedule::parse("*/5 * * * *", chrono_tz::Europe::Berlin).unwrap();
    let from = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let to = from + Duration::days(365);
    assert_eq!(
        schedule.points_between(from, to).count(),
        365 * 288 - 12 + 1,
        "DST: one hour lost in spring, one fired once in autumn"
    );
    c.bench_function("a year of */5 points (Europe/Berlin)", |b| {
        b.iter(|| schedule.points_between(black_box(from), to).count())
    });
}

criterion_group!(name = core; config = Criterion::default().sample_size(20); targets = benches);
criterion_main!(core);
