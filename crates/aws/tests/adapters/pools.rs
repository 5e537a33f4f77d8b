//! Issue 14 on AWS: pools counted in DynamoDB through the real functions.
//! Eight processes queueing tries of a pool of three at once never hold
//! more than three slots (and send only those tries' messages); the rest
//! run as slots free, through the dispatcher, ECS and the recorder; a slot
//! a dead process left held is given back by the next planner tick.

use std::sync::Arc;

use serde_json::json;
use updraft_aws::clients::Clients;
use updraft_aws::functions::planner;
use updraft_aws::specs::deploy;
use updraft_aws::testing::{Player, deployment, s3, sdk};
use updraft_core::spec::SpecFile;
use updraft_core::state::{RunState, TaskKey};
use updraft_engine::Engine;
use updraft_engine::ports::{HandleRef, SlotClaim, StateStore};
use updraft_engine::usecase::RunRequest;

use crate::functions::failing;

/// DAG `one_<i>`: one task in pool gpu.
fn one(i: usize) -> SpecFile {
    SpecFile {
        name: format!("one_{i}.yaml"),
        text: format!("dag: one_{i}\ntasks:\n  - id: t\n    pool: gpu\n    command: [echo, hi]\n"),
    }
}

async fn used(store: &dyn StateStore) -> u32 {
    let holders = store.slot_holders("gpu").await.unwrap();
    holders.iter().map(|h| h.slots).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_racing_processes_on_a_pool_of_three_hold_three_slots() {
    let clients = Clients::new(&sdk());
    let settings = deployment(&clients).await;
    let engine = Arc::new(Engine::new(settings.ports(&clients)));
    let mut files: Vec<SpecFile> = (0..8).map(one).collect();
    files.push(SpecFile {
        name: "pools.yaml".into(),
        text: "pools:\n  gpu: 3\n".into(),
    });
    let store = engine.ports().store.clone();
    deploy(&s3(), &settings.bucket, store.as_ref(), &files)
        .await
        .unwrap();
    // Eight processes, each its own engine and clients, each triggering a
    // run of its DAG at once: each queues its try and races for a slot.
    let mut racers = Vec::new();
    for i in 0..8 {
        let settings = settings.clone();
        racers.push(tokio::spawn(async move {
            let clients = Clients::new(&sdk());
            let engine = Engine::new(settings.ports(&clients));
            let dag = format!("one_{i}");
            let run = engine.trigger(&dag, RunRequest::by("racer")).await.unwrap();
            (dag, run.run_id)
        }));
    }
    let mut runs = Vec::new();
    for racer in racers {
        runs.push(racer.await.unwrap());
    }
    assert_eq!(
        used(store.as_ref()).await,
        3,
        "a pool of 3 under 8 racing queuers"
    );
    assert_eq!(store.slot_waiters("gpu").await.unwrap().len(), 5);
    let mut player = Player::new(&settings);
    assert_eq!(
        player.deliver(&engine).await,
        3,
        "only the tries holding slots were sent"
    );
    assert_eq!(player.deliver(&engine).await, 0);
    for _ in 0..20 {
        player.finish(&engine, failing(None)).await;
        assert!(used(store.as_ref()).await <= 3);
        if player.deliver(&engine).await == 0 && used(store.as_ref()).await == 0 {
            break;
        }
    }
    for (dag, run_id) in &runs {
        let run = store.run(dag, run_id).await.unwrap().unwrap();
        assert_eq!(run.state, RunState::Succeeded, "{dag} {run_id}");
    }
    assert_eq!(player.launches_of("t"), 8);
    assert!(store.slot_waiters("gpu").await.unwrap().is_empty());

    // A process took a slot and died before its try got anywhere.
    let ghost = SlotClaim {
        pool: "gpu".into(),
        holder: "one_0/ghost/t#1".into(),
        of: HandleRef {
            dag: "one_0".into(),
            run_id: "ghost".into(),
            key: TaskKey::task(updraft_core::ids::TaskId::parse("t").unwrap()),
            try_number: 1,
        },
        slots: 1,
        at: chrono::Utc::now(),
        priority: 0,
    };
    assert!(store.take_slots(&ghost, 3).await.unwrap());
    let tick = json!({ "source": "aws.scheduler", "detail-type": "Scheduled Event" });
    planner(&engine, &settings.bucket, &tick).await.unwrap();
    assert_eq!(used(store.as_ref()).await, 0, "given back by the next tick");
}
