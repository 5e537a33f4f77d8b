//! Issue 14, pools: tries of a pool never hold more slots than it has,
//! waiting tries wait in the store (no message) and are admitted by
//! priority when a slot frees, a slot a dead process left held is given
//! back by the next tick, and `max_active_tasks` holds across runs.

use updraft_core::ids::TaskId;
use updraft_core::plan::Outcome;
use updraft_core::state::{RunState, TaskKey, TaskState};
use updraft_engine::ports::{Completion, HandleRef, SlotClaim, TaskMessage};
use updraft_engine::testing::{World, world_start};
use updraft_engine::usecase::{RunRequest, holder_id};

const POOLS: &str = "pools:\n  gpu: 2\n";
const WIDE: &str = "dag: wide\ntasks:\n  - id: a\n    pool: gpu\n  - id: b\n    pool: gpu\n  - id: c\n    pool: gpu\n";
const URGENT: &str = "dag: urgent\ntasks:\n  - id: t\n    pool: gpu\n    priority: 10\n";

fn key(task: &str) -> TaskKey {
    TaskKey::task(TaskId::parse(task).unwrap())
}

fn done() -> Completion {
    Completion {
        outcome: Outcome::Succeeded,
        exit_code: Some(0),
    }
}

/// Every message now on the queue.
async fn messages(world: &World) -> Vec<TaskMessage> {
    let mut all = Vec::new();
    while let Some(message) = world.next_message().await {
        all.push(message);
    }
    all
}

async fn used(world: &World, pool: &str) -> u32 {
    let holders = world.store.slot_holders(pool).await.unwrap();
    holders.iter().map(|h| h.slots).sum()
}

/// A claim on one slot of gpu for try 1 of `task` in run `gone` of `dag`,
/// a run that does not exist: what a process that died leaves behind.
fn gone_try(dag: &str, task: &str, priority: i32) -> SlotClaim {
    let of = HandleRef {
        dag: dag.into(),
        run_id: "gone".into(),
        key: key(task),
        try_number: 1,
    };
    SlotClaim {
        pool: "gpu".into(),
        holder: holder_id(dag, "gone", &of.key, 1),
        of,
        slots: 1,
        at: world_start(),
        priority,
    }
}

async fn launch_all(world: &World) -> Vec<String> {
    let mut launched = Vec::new();
    for message in messages(world).await {
        world.engine.dispatch(&message).await.unwrap();
        launched.push(format!("{}/{}", message.dag, message.key));
    }
    launched
}

#[tokio::test]
async fn a_pool_of_two_runs_two_at_once_and_admits_the_higher_priority_first() {
    let world = World::of_specs(&[POOLS, WIDE, URGENT]);
    world.engine.tick().await.unwrap();
    let wide = world
        .engine
        .trigger("wide", RunRequest::by("ana"))
        .await
        .unwrap();
    assert_eq!(launch_all(&world).await, ["wide/a", "wide/b"]);
    let urgent = world
        .engine
        .trigger("urgent", RunRequest::by("ana"))
        .await
        .unwrap();
    assert!(messages(&world).await.is_empty(), "both wait: no message");
    assert_eq!(used(&world, "gpu").await, 2);
    let waiting = world
        .store
        .instance("urgent", &urgent.run_id, &key("t"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waiting.state, TaskState::Queued);
    let reason = world.engine.waiting_for(&urgent, &waiting).await.unwrap();
    assert_eq!(
        reason.as_deref(),
        Some("waiting for pool gpu: 2 of 2 slots used")
    );

    world
        .engine
        .record_and_advance("wide", &wide.run_id, &key("a"), 1, done())
        .await
        .unwrap();
    assert_eq!(
        launch_all(&world).await,
        ["urgent/t"],
        "priority 10 goes before wide/c"
    );
    assert_eq!(used(&world, "gpu").await, 2);
    world
        .engine
        .record_and_advance("urgent", &urgent.run_id, &key("t"), 1, done())
        .await
        .unwrap();
    assert_eq!(launch_all(&world).await, ["wide/c"]);
    for task in ["b", "c"] {
        world
            .engine
            .record_and_advance("wide", &wide.run_id, &key(task), 1, done())
            .await
            .unwrap();
    }
    assert_eq!(used(&world, "gpu").await, 0);
    assert!(world.store.slot_waiters("gpu").await.unwrap().is_empty());
    for (dag, run) in [("wide", &wide), ("urgent", &urgent)] {
        let run = world.store.run(dag, &run.run_id).await.unwrap().unwrap();
        assert_eq!(run.state, RunState::Succeeded);
    }
    assert!(world.launcher.overlaps() == 0);
}

#[tokio::test]
async fn slots_a_dead_process_left_held_are_given_back_by_the_next_tick() {
    let world = World::of_specs(&[POOLS, URGENT]);
    world.engine.tick().await.unwrap();
    let run = world
        .engine
        .trigger("urgent", RunRequest::by("ana"))
        .await
        .unwrap();
    assert_eq!(launch_all(&world).await, ["urgent/t"]);
    // A try that ended while its process died before giving back (here: a
    // holder of a try that is not there at all).
    let ghost = gone_try("urgent", "t", 0);
    assert!(world.store.take_slots(&ghost, 2).await.unwrap());
    assert_eq!(used(&world, "gpu").await, 2);
    world.engine.tick().await.unwrap();
    assert_eq!(used(&world, "gpu").await, 1, "the live try keeps its slot");
    world
        .engine
        .record_and_advance("urgent", &run.run_id, &key("t"), 1, done())
        .await
        .unwrap();
    assert_eq!(used(&world, "gpu").await, 0);
}

#[tokio::test]
async fn max_active_tasks_holds_across_the_runs_of_a_dag() {
    let limited = "dag: limited\nmax_active_tasks: 1\ntasks:\n  - id: t\n";
    let world = World::of_specs(&[limited]);
    world.engine.tick().await.unwrap();
    let first = world
        .engine
        .trigger("limited", RunRequest::by("ana"))
        .await
        .unwrap();
    world
        .clock
        .set(world_start() + chrono::TimeDelta::seconds(60));
    let second = world
        .engine
        .trigger("limited", RunRequest::by("ana"))
        .await
        .unwrap();
    let launched = messages(&world).await;
    assert_eq!(
        launched.len(),
        1,
        "one try of the DAG at once: {launched:?}"
    );
    assert_eq!(launched[0].run_id, first.run_id);
    world.engine.dispatch(&launched[0]).await.unwrap();
    world
        .engine
        .record_and_advance("limited", &first.run_id, &key("t"), 1, done())
        .await
        .unwrap();
    let next = messages(&world).await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].run_id, second.run_id);
}

/// A 1,000-instance fan-out at priority 0 fills a pool of 2; a single
/// task of another DAG then waits at most one slot's turnover: the next
/// slot that frees is its, at priority 10 and at priority 0 alike (its run
/// holds fewer of the pool's slots than the fan-out's).
#[tokio::test]
async fn a_huge_fan_out_holds_another_runs_single_task_back_one_turnover_at_most() {
    let fan = "dag: fan\ntasks:\n  - id: each\n    pool: gpu\n    map_over: \"{{ params.items }}\"\n    command: [echo, \"{{ item }}\"]\nparams:\n  items: []\n";
    for priority in [10, 0] {
        let single =
            format!("dag: single\ntasks:\n  - id: t\n    pool: gpu\n    priority: {priority}\n");
        let world = World::of_specs(&[POOLS, fan, &single]);
        world.engine.tick().await.unwrap();
        let items: Vec<u32> = (0..1000).collect();
        let mut request = RunRequest::by("ana");
        request
            .params
            .insert("items".into(), serde_json::json!(items));
        let fan_run = world.engine.trigger("fan", request).await.unwrap();
        let first = messages(&world).await;
        assert_eq!(first.len(), 2, "the pool's two slots");
        for message in &first {
            world.engine.dispatch(message).await.unwrap();
        }
        assert_eq!(world.store.slot_waiters("gpu").await.unwrap().len(), 998);
        world
            .clock
            .set(world_start() + chrono::TimeDelta::seconds(60));
        world
            .engine
            .trigger("single", RunRequest::by("ana"))
            .await
            .unwrap();
        assert!(messages(&world).await.is_empty());
        // One slot turns over.
        world
            .engine
            .record_and_advance("fan", &fan_run.run_id, &first[0].key, 1, done())
            .await
            .unwrap();
        let next = messages(&world).await;
        assert_eq!(next.len(), 1);
        assert_eq!(
            next[0].dag, "single",
            "priority {priority}: the single task is next"
        );
    }
}

/// A waiter whose try is gone (its process died before forgetting it)
/// does not keep the slot that frees from the next in line.
#[tokio::test]
async fn a_waiter_whose_try_is_gone_is_passed_over_in_the_same_admission() {
    let world = World::of_specs(&[POOLS, WIDE]);
    world.engine.tick().await.unwrap();
    let wide = world
        .engine
        .trigger("wide", RunRequest::by("ana"))
        .await
        .unwrap();
    assert_eq!(launch_all(&world).await, ["wide/a", "wide/b"]);
    let gone = gone_try("wide", "a", 99);
    world.store.wait_for_slots(&gone).await.unwrap();
    world
        .engine
        .record_and_advance("wide", &wide.run_id, &key("a"), 1, done())
        .await
        .unwrap();
    assert_eq!(
        launch_all(&world).await,
        ["wide/c"],
        "the gone waiter was first in line"
    );
    assert!(world.store.slot_waiters("gpu").await.unwrap().is_empty());
}
