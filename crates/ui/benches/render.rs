//! The dashboard's render targets, through the router over an in-memory
//! engine (the store's reads included): the grid of 25 runs × 200 tasks
//! (≤ 50 ms) and the page of a run with 10,000 mapped instances (≤ 200 ms;
//! they are summed up and paged, never 10,000 rows).

use std::hint::black_box;

use chrono::Duration;
use criterion::{Criterion, criterion_group, criterion_main};
use updraft_core::ids::TaskId;
use updraft_core::state::{Attempt, RunState, TaskInstance, TaskKey, TaskState};
use updraft_engine::Settings;
use updraft_engine::testing::World;
use updraft_engine::usecase::RunRequest;
use updraft_ui::{Request, Ui};

const TASKS: usize = 200;
const RUNS: usize = 25;
const INSTANCES: u32 = 10_000;

fn chain_yaml() -> String {
    let mut yaml = String::from("dag: wide\nschedule: none\ntasks:\n");
    for i in 0..TASKS {
        yaml += &format!("  - id: t{i}\n    command: [echo, \"{i}\"]\n");
        if i > 0 {
            yaml += &format!("    after: [t{}]\n", i - 1);
        }
    }
    yaml
}

fn ended(mut instance: TaskInstance, at: chrono::DateTime<chrono::Utc>) -> TaskInstance {
    instance.state = TaskState::Succeeded;
    instance.try_number = 1;
    instance.first_try = 1;
    instance.started_at = Some(at);
    instance.ended_at = Some(at + Duration::seconds(3));
    instance
}

fn attempt_of(instance: &TaskInstance) -> Attempt {
    Attempt {
        handle: Some(format!("h-{}", instance.key)),
        started_at: instance.started_at,
        ended_at: instance.ended_at,
        exit_code: Some(0),
        ..Attempt::new(instance.key.clone(), 1, TaskState::Succeeded)
    }
}

/// A DAG of 200 tasks in a chain with 25 finished runs.
fn grid_world(runtime: &tokio::runtime::Runtime) -> (World, Ui) {
    let world = World::new(&chain_yaml(), None, Settings::default());
    runtime.block_on(async {
        let first = world
            .engine
            .trigger("wide", RunRequest::by("bench"))
            .await
            .unwrap();
        for r in 0..RUNS {
            let mut run = first.clone();
            run.run_id = format!("manual__{r:02}");
            run.logical_date += Duration::days(r as i64 + 1);
            run.created_at += Duration::days(r as i64 + 1);
            run.state = RunState::Succeeded;
            run.started_at = Some(run.logical_date);
            run.ended_at = Some(run.logical_date + Duration::minutes(10 + r as i64));
            let instances: Vec<TaskInstance> = (0..TASKS)
                .map(|t| {
                    let key = TaskKey::task(TaskId::parse(&format!("t{t}")).unwrap());
                    ended(
                        TaskInstance::pending(key),
                        run.logical_date + Duration::seconds(t as i64),
                    )
                })
                .collect();
            world.store.create_run(&run, &instances, &[]).await.unwrap();
        }
    });
    let ui = Ui::new(world.engine.clone(), false);
    (world, ui)
}

/// A run whose mapped task has 10,000 instances, each with a try.
fn fan_out_world(runtime: &tokio::runtime::Runtime) -> (World, Ui, String) {
    let yaml = "dag: fan\nschedule: none\ntasks:\n  - id: list\n    command: [echo]\n  - id: each\n    after: [list]\n    map_over: \"{{ outputs.list.items }}\"\n    max_map: 10000\n    command: [echo, \"{{ item }}\"]\n";
    let world = World::new(yaml, None, Settings::default());
    let run_id = runtime.block_on(async {
        let mut run = world
            .engine
            .trigger("fan", RunRequest::by("bench"))
            .await
            .unwrap();
        run.run_id = "manual__fan".into();
        run.logical_date += Duration::days(1);
        let at = run.logical_date;
        let list = ended(
            TaskInstance::pending(TaskKey::task(TaskId::parse("list").unwrap())),
            at,
        );
        let mut main = TaskInstance::pending(TaskKey::task(TaskId::parse("each").unwrap()));
        main.state = TaskState::Mapped;
        main.map_count = Some(INSTANCES);
        let mut instances = vec![list, main];
        for i in 0..INSTANCES {
            let key = TaskKey {
                task_id: TaskId::parse("each").unwrap(),
                map_index: Some(i),
            };
            instances.push(ended(
                TaskInstance::pending(key),
                at + Duration::milliseconds(i64::from(i)),
            ));
        }
        world.store.create_run(&run, &instances, &[]).await.unwrap();
        for instance in &instances {
            if instance.started_at.is_some() {
                world
                    .store
                    .put_attempt("fan", &run.run_id, &attempt_of(instance))
                    .await
                    .unwrap();
            }
        }
        run.run_id
    });
    let ui = Ui::new(world.engine.clone(), false);
    (world, ui, run_id)
}

fn render(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (_grid_world, grid_ui) = grid_world(&runtime);
    let grid = Request::get("/dags/wide");
    let page = runtime.block_on(grid_ui.handle(&grid));
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body.matches("<td class=\"cell\">").count(),
        RUNS * TASKS
    );
    c.bench_function("grid: 25 runs x 200 tasks", |b| {
        b.iter(|| black_box(runtime.block_on(grid_ui.handle(&grid))))
    });

    let (_fan_world, fan_ui, run_id) = fan_out_world(&runtime);
    let run_page = Request::get(&format!("/dags/fan/runs/{run_id}"));
    let page = runtime.block_on(fan_ui.handle(&run_page));
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body.matches("class=\"bar\"").count(),
        200,
        "one page of the Gantt"
    );
    c.bench_function("run page: 10,000 mapped instances", |b| {
        b.iter(|| black_box(runtime.block_on(fan_ui.handle(&run_page))))
    });
    let panel = Request::get(&format!("/dags/fan/runs/{run_id}/tasks/each"));
    assert_eq!(
        runtime
            .block_on(fan_ui.handle(&panel))
            .body
            .matches("data-instance=")
            .count(),
        100
    );
    c.bench_function("task panel: 10,000 mapped instances, one page", |b| {
        b.iter(|| black_box(runtime.block_on(fan_ui.handle(&panel))))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = render
}
criterion_main!(benches);
