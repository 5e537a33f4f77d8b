//! The `StateStore` contract, as tests any implementation runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use updraft_core::ids::{DagId, TaskId};
use updraft_core::notify::Notice;
use updraft_core::plan::{initial_instances, mark_running, start_launch};
use updraft_core::spec::parse_spec;
use updraft_core::state::{
    ArtifactRecord, ArtifactUse, Attempt, AuditAction, AuditEntry, RunState, TaskInstance, TaskKey,
    TaskState, TaskTransition,
};

use super::fixtures::{run, t0};

use crate::ports::{
    DagChange, DagMeta, HandleRef, LaunchRecord, PendingStop, PoolSize, RunQuery, SlotClaim,
    StateStore, StoredVersion, TryEnd,
};

/// Several handles on one fresh, empty store: for a database, one
/// connection each, so races go through the database.
pub type StoreHandles = Vec<Arc<dyn StateStore>>;

/// One `#[tokio::test]` per case of the `StateStore` contract, each on a
/// fresh store from `$fresh` (an `async fn() -> StoreUnderTest`), so that every
/// case is listed, runs alone by name, and fails on its own:
///
/// ```ignore
/// mod store_contract {
///     updraft_engine::store_contract!(super::fresh_store);
/// }
/// ```
#[macro_export]
macro_rules! store_contract {
    ($fresh:path) => {
        $crate::store_contract!(@cases $fresh; put_if_absent_creates_a_run_once, task_transitions_are_compare_and_set, many_task_transitions_apply_those_still_as_expected, run_transitions_are_compare_and_set, racing_callers_win_a_task_transition_exactly_once, racing_callers_win_a_run_transition_exactly_once, racing_creators_create_a_run_once, racing_starters_keep_max_active_runs, racing_dag_changes_keep_each_others_fields, queries_filter_and_order_runs, attempts_keep_the_history_of_every_try, dag_metadata_and_spec_versions_round_trip, mapped_instances_are_created_once, artifacts_are_found_by_uri_and_by_run, queries_filter_by_params_and_until, launch_handles_lead_back_to_their_try, stops_are_kept_until_cleared, the_heartbeat_keeps_the_latest_tick, launches_and_ends_are_recorded_by_compare_and_set, a_launch_or_an_end_keeps_the_record_of_another, who_notes_metrics_and_audit_entries_are_kept, events_are_kept_with_the_change_that_made_them, slots_are_taken_and_given_back_once, waiters_and_pool_sizes_are_kept, racing_takers_never_hold_more_slots_than_a_pool_has, a_deleted_run_leaves_nothing_of_itself);
    };
    (@cases $fresh:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store: $crate::testing::StoreUnderTest = $fresh().await;
                $crate::testing::store_suite::$case(store.handles.clone()).await;
            }
        )*
    };
}

/// Several handles on one fresh, empty store, and whatever must live as
/// long as it (a temporary directory).
pub struct StoreUnderTest {
    /// The handles; for a database, one connection each.
    pub handles: StoreHandles,
    /// Dropped after the case.
    pub keep: Option<Box<dyn std::any::Any + Send>>,
}

impl StoreUnderTest {
    /// Handles with nothing else to keep.
    pub fn new(handles: StoreHandles) -> StoreUnderTest {
        StoreUnderTest {
            handles,
            keep: None,
        }
    }

    /// Keeps `guard` alive as long as the store.
    pub fn keeping(mut self, guard: impl std::any::Any + Send) -> StoreUnderTest {
        self.keep = Some(Box::new(guard));
        self
    }
}

fn claim(holder: &str, slots: u32) -> SlotClaim {
    SlotClaim {
        pool: "gpu".into(),
        holder: holder.into(),
        of: HandleRef {
            dag: "d".into(),
            run_id: "r1".into(),
            key: TaskKey::task(TaskId::parse("t").unwrap()),
            try_number: 1,
        },
        slots,
        at: t0(),
        priority: 0,
    }
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn waiters_and_pool_sizes_are_kept(handles: StoreHandles) {
    let store = &handles[0];
    assert!(store.slot_waiters("gpu").await.unwrap().is_empty());
    let mut urgent = claim("d/r1/b#1", 2);
    urgent.priority = 10;
    store.wait_for_slots(&claim("d/r1/a#1", 1)).await.unwrap();
    store.wait_for_slots(&urgent).await.unwrap();
    store.wait_for_slots(&urgent).await.unwrap();
    let mut waiting = store.slot_waiters("gpu").await.unwrap();
    waiting.sort_by(|a, b| a.holder.cmp(&b.holder));
    assert_eq!(
        waiting,
        [claim("d/r1/a#1", 1), urgent],
        "kept once, as written"
    );
    store.stop_waiting("gpu", "d/r1/a#1").await.unwrap();
    store.stop_waiting("gpu", "nobody").await.unwrap();
    assert_eq!(store.slot_waiters("gpu").await.unwrap().len(), 1);
    assert!(store.slot_waiters("other").await.unwrap().is_empty());

    let size = |pool: &str, declared, set| PoolSize {
        pool: pool.into(),
        declared,
        set,
    };
    assert!(store.pool_sizes().await.unwrap().is_empty());
    let declared = BTreeMap::from([("gpu".to_string(), 2), ("db".to_string(), 4)]);
    store.declare_pools(&declared).await.unwrap();
    store.set_pool_slots("gpu", Some(5)).await.unwrap();
    store.set_pool_slots("adhoc", Some(1)).await.unwrap();
    // Slots held before a size was declared stay held.
    assert!(store.take_slots(&claim("d/r1/c#1", 1), 5).await.unwrap());
    let mut sizes = store.pool_sizes().await.unwrap();
    sizes.sort_by(|a, b| a.pool.cmp(&b.pool));
    assert_eq!(
        sizes,
        [
            size("adhoc", None, Some(1)),
            size("db", Some(4), None),
            size("gpu", Some(2), Some(5)),
        ]
    );
    store
        .declare_pools(&BTreeMap::from([("gpu".to_string(), 3)]))
        .await
        .unwrap();
    store.set_pool_slots("gpu", None).await.unwrap();
    let mut sizes = store.pool_sizes().await.unwrap();
    sizes.sort_by(|a, b| a.pool.cmp(&b.pool));
    assert_eq!(
        sizes,
        [size("adhoc", None, Some(1)), size("gpu", Some(3), None)],
        "db no longer declared; gpu back to its declared size"
    );
    assert_eq!(sizes[1].slots(), Some(3));
    assert_eq!(store.slot_holders("gpu").await.unwrap().len(), 1);
    // Taking still works on an item the sizes made.
    assert!(store.take_slots(&claim("d/r1/d#1", 2), 3).await.unwrap());
    assert!(!store.take_slots(&claim("d/r1/e#1", 1), 3).await.unwrap());
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn slots_are_taken_and_given_back_once(handles: StoreHandles) {
    let store = &handles[0];
    assert!(store.slot_holders("gpu").await.unwrap().is_empty());
    assert!(store.take_slots(&claim("d/r1/a#1", 2), 3).await.unwrap());
    assert!(
        store.take_slots(&claim("d/r1/a#1", 2), 3).await.unwrap(),
        "taken twice: held once"
    );
    assert!(
        !store.take_slots(&claim("d/r1/b#1", 2), 3).await.unwrap(),
        "1 of 3 free"
    );
    assert!(store.take_slots(&claim("d/r1/c#1", 1), 3).await.unwrap());
    let mut holders: Vec<(String, u32)> = store
        .slot_holders("gpu")
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.holder, c.slots))
        .collect();
    holders.sort();
    assert_eq!(
        holders,
        [("d/r1/a#1".to_string(), 2), ("d/r1/c#1".to_string(), 1)]
    );
    store.give_back_slots("gpu", "d/r1/a#1").await.unwrap();
    store.give_back_slots("gpu", "d/r1/a#1").await.unwrap();
    store.give_back_slots("gpu", "nobody").await.unwrap();
    store.give_back_slots("other", "nobody").await.unwrap();
    assert!(
        store.take_slots(&claim("d/r1/b#1", 2), 3).await.unwrap(),
        "freed"
    );
    assert_eq!(store.slot_holders("gpu").await.unwrap().len(), 2);
    assert!(store.slot_holders("other").await.unwrap().is_empty());
}

/// Eight takers through separate handles, racing for a pool of three:
/// three hold a slot, whatever the interleaving.
/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn racing_takers_never_hold_more_slots_than_a_pool_has(handles: StoreHandles) {
    let mut racers = Vec::new();
    for (i, store) in (0..8).zip(handles.iter().cycle()) {
        let store = store.clone();
        racers.push(tokio::spawn(async move {
            store
                .take_slots(&claim(&format!("d/r{i}/a#1"), 1), 3)
                .await
                .unwrap()
        }));
    }
    let mut taken = 0;
    for racer in racers {
        taken += usize::from(racer.await.unwrap());
    }
    assert_eq!(taken, 3, "a pool of 3 under 8 racing takers");
    assert_eq!(handles[0].slot_holders("gpu").await.unwrap().len(), 3);
}

/// An event as a change would make it: what the outbox keeps is opaque.
fn notice(id: &str) -> Notice {
    Notice {
        id: id.into(),
        detail_type: updraft_core::notify::RUN_STATE_CHANGE.into(),
        time: t0(),
        detail: serde_json::json!({ "dag": "d", "state": id }),
    }
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn events_are_kept_with_the_change_that_made_them(handles: StoreHandles) {
    let store = &handles[0];
    register(store, &["d"]).await;
    let queued = run("d", "r1", 0, &[]);
    assert!(
        store
            .create_run(&queued, &instances(), &[notice("queued")])
            .await
            .unwrap()
    );
    assert!(
        !store
            .create_run(&queued, &instances(), &[notice("queued again")])
            .await
            .unwrap()
    );
    let mut running = queued.clone();
    running.state = RunState::Running;
    assert!(
        store
            .start_run(&running, 1, &[notice("running")])
            .await
            .unwrap()
    );
    assert!(
        !store
            .start_run(&running, 1, &[notice("running twice")])
            .await
            .unwrap(),
        "a refused change keeps no event"
    );
    let pending = store.instance("d", "r1", &key("a")).await.unwrap().unwrap();
    let change = queue(&pending);
    assert!(
        store
            .update_instance("d", "r1", &change, &[notice("a queued")])
            .await
            .unwrap()
    );
    assert!(
        !store
            .update_instance("d", "r1", &change, &[notice("a queued twice")])
            .await
            .unwrap()
    );
    let mut failed = running.clone();
    failed.revision = 1;
    failed.state = RunState::Failed;
    assert!(
        store
            .update_run(RunState::Running, &failed, &[notice("failed"), notice("b")])
            .await
            .unwrap()
    );
    assert!(
        !store
            .update_run(RunState::Running, &failed, &[notice("failed twice")])
            .await
            .unwrap()
    );
    let mut kept: Vec<String> = store
        .outbox(100)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    kept.sort();
    assert_eq!(kept, ["a queued", "b", "failed", "queued", "running"]);
    assert_eq!(store.outbox(2).await.unwrap().len(), 2, "a page");
    store
        .clear_outbox(&["queued".into(), "b".into(), "unknown".into()])
        .await
        .unwrap();
    let mut left: Vec<String> = store
        .outbox(100)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    left.sort();
    assert_eq!(left, ["a queued", "failed", "running"]);
    let failed_event = store
        .outbox(100)
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.id == "failed")
        .unwrap();
    assert_eq!(failed_event, notice("failed"), "kept whole");
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn who_notes_metrics_and_audit_entries_are_kept(handles: StoreHandles) {
    let store = &handles[0];
    register(store, &["d"]).await;
    let mut mine = run("d", "r0", 0, &[]);
    mine.triggered_by = "ana@laptop".into();
    mine.note = Some("LR 0.02 on last week's data".into());
    mine.metrics.insert("evaluate.accuracy".into(), 0.93);
    let mut theirs = run("d", "r1", 10, &[]);
    theirs.triggered_by = "schedule".into();
    store.create_run(&mine, &instances(), &[]).await.unwrap();
    store.create_run(&theirs, &instances(), &[]).await.unwrap();
    assert_eq!(store.run("d", "r0").await.unwrap(), Some(mine.clone()));
    let ids = |runs: Vec<updraft_core::state::Run>| {
        runs.into_iter().map(|r| r.run_id).collect::<Vec<_>>()
    };
    let by_who = RunQuery {
        triggered_by: Some("schedule".into()),
        ..RunQuery::default()
    };
    assert_eq!(ids(store.runs(&by_who).await.unwrap()), ["r1"]);
    let by_note = RunQuery {
        note_contains: Some("last WEEK".into()),
        ..RunQuery::default()
    };
    assert_eq!(ids(store.runs(&by_note).await.unwrap()), ["r0"]);

    let entry = |minutes: i64, action: AuditAction| AuditEntry {
        at: t0() + chrono::Duration::minutes(minutes),
        by: "ana@laptop".into(),
        action,
        tasks: vec!["b".into()],
        options: vec!["--downstream".into()],
        note: Some("again".into()),
    };
    let (first, second) = (entry(1, AuditAction::Rerun), entry(2, AuditAction::Mark));
    store.put_audit("d", "r0", &second).await.unwrap();
    store.put_audit("d", "r0", &first).await.unwrap();
    assert_eq!(store.audit("d", "r0").await.unwrap(), [first, second]);
    assert!(store.audit("d", "r1").await.unwrap().is_empty());
    assert!(
        store.instances("d", "r0").await.unwrap().len() == 2
            && store.attempts("d", "r0").await.unwrap().is_empty(),
        "audit entries are neither instances nor attempts"
    );
}

/// Run `r1` of `d` made, with its task `a` queued and then launching; the
/// launch's change.
async fn a_launching(store: &Arc<dyn StateStore>) -> TaskTransition {
    store
        .create_run(&run("d", "r1", 0, &[]), &instances(), &[])
        .await
        .unwrap();
    let pending = store.instance("d", "r1", &key("a")).await.unwrap().unwrap();
    let queued = queue(&pending);
    let launching = start_launch(&queued.next, 1, t0()).unwrap();
    for change in [&queued, &launching] {
        assert!(store.update_instance("d", "r1", change, &[]).await.unwrap());
    }
    launching
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn launches_and_ends_are_recorded_by_compare_and_set(handles: StoreHandles) {
    let store = &handles[0];
    let launching = a_launching(store).await;
    let running = mark_running(&launching.next, 1, t0()).unwrap();
    let try_ref = HandleRef {
        dag: "d".into(),
        run_id: "r1".into(),
        key: key("a"),
        try_number: 1,
    };
    let mut attempt = Attempt {
        handle: Some("task/1".into()),
        started_at: Some(t0()),
        produced: vec!["s3://b/model".into()],
        ..Attempt::new(key("a"), 1, TaskState::Running)
    };
    let launching_attempt = Attempt {
        state: TaskState::Launching,
        handle: None,
        ..attempt.clone()
    };
    assert!(
        store
            .put_new_attempt("d", "r1", &launching_attempt)
            .await
            .unwrap()
    );
    assert!(
        !store.put_new_attempt("d", "r1", &attempt).await.unwrap(),
        "a try's record is new only once"
    );
    assert_eq!(
        store
            .attempt("d", "r1", &key("a"), 1)
            .await
            .unwrap()
            .unwrap(),
        launching_attempt,
        "and the first record is left as it was"
    );
    let launch = LaunchRecord {
        handle: "task/1",
        try_ref: &try_ref,
        attempt: &attempt,
    };
    assert!(store.record_launch(&launch, &running).await.unwrap());
    assert_eq!(store.handle("task/1").await.unwrap(), Some(try_ref.clone()));
    assert_eq!(
        store
            .attempt("d", "r1", &key("a"), 1)
            .await
            .unwrap()
            .as_ref(),
        Some(&attempt)
    );
    assert_eq!(
        store.instance("d", "r1", &key("a")).await.unwrap().unwrap(),
        running.next
    );
    assert!(
        !store.record_launch(&launch, &running).await.unwrap(),
        "a launch of an instance that moved on is refused"
    );

    let mut succeeded = running.clone();
    succeeded.expect_state = TaskState::Running;
    succeeded.next.state = TaskState::Succeeded;
    attempt.state = TaskState::Succeeded;
    let lineage = [ArtifactRecord {
        uri: "s3://b/model".into(),
        used: ArtifactUse::Produced,
        dag: DagId::parse("d").unwrap(),
        run_id: "r1".into(),
        key: key("a"),
        try_number: 1,
        at: t0(),
    }];
    assert!(
        store
            .record_end(&TryEnd {
                dag: "d",
                run_id: "r1",
                change: &succeeded,
                attempt: Some(&attempt),
                lineage: &lineage,
                notices: &[],
            })
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .attempt("d", "r1", &key("a"), 1)
            .await
            .unwrap()
            .unwrap()
            .state,
        TaskState::Succeeded
    );
    assert_eq!(store.artifact("s3://b/model").await.unwrap().len(), 1);
    assert!(
        !store
            .record_end(&TryEnd {
                dag: "d",
                run_id: "r1",
                change: &succeeded,
                attempt: Some(&attempt),
                lineage: &lineage,
                notices: &[],
            })
            .await
            .unwrap(),
        "an end recorded twice applies once"
    );
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)):
/// a relaunch that finds its try already ended leaves the end on record,
/// and an end read before a launch was recorded does not close that
/// launch's record.
pub async fn a_launch_or_an_end_keeps_the_record_of_another(handles: StoreHandles) {
    let store = &handles[0];
    let launching = a_launching(store).await;
    let try_ref = HandleRef {
        dag: "d".into(),
        run_id: "r1".into(),
        key: key("a"),
        try_number: 1,
    };
    let running = Attempt {
        handle: Some("task/1".into()),
        started_at: Some(t0()),
        ..Attempt::new(key("a"), 1, TaskState::Running)
    };
    let ended = Attempt {
        state: TaskState::Succeeded,
        ended_at: Some(t0()),
        exit_code: Some(0),
        ..running.clone()
    };
    let stored = async || {
        store
            .attempt("d", "r1", &key("a"), 1)
            .await
            .unwrap()
            .unwrap()
    };
    store.put_attempt("d", "r1", &ended).await.unwrap();
    let relaunch = LaunchRecord {
        handle: "task/1",
        try_ref: &try_ref,
        attempt: &running,
    };
    let mark = mark_running(&launching.next, 1, t0()).unwrap();
    store.record_launch(&relaunch, &mark).await.unwrap();
    assert_eq!(stored().await, ended, "the end stays on record");

    // An end that read the try's record before its launch was recorded.
    store.put_attempt("d", "r1", &running).await.unwrap();
    let unlaunched = Attempt {
        handle: None,
        ..ended.clone()
    };
    let mut failed = mark.clone();
    failed.expect_state = TaskState::Running;
    failed.next.state = TaskState::Failed;
    let end = TryEnd {
        dag: "d",
        run_id: "r1",
        change: &failed,
        attempt: Some(&unlaunched),
        lineage: &[],
        notices: &[],
    };
    assert!(!store.record_end(&end).await.unwrap());
    assert_eq!(stored().await, running, "the launch's record stays");
    assert_eq!(
        store.instance("d", "r1", &key("a")).await.unwrap().unwrap(),
        mark.next
    );
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn stops_are_kept_until_cleared(handles: StoreHandles) {
    let store = &handles[0];
    assert_eq!(store.stops().await.unwrap(), []);
    let stop = |handle: &str, reason: &str| PendingStop {
        handle: handle.into(),
        try_ref: HandleRef {
            dag: "d".into(),
            run_id: "r1".into(),
            key: key("a"),
            try_number: 1,
        },
        reason: reason.into(),
        at: t0(),
    };
    let (first, second) = (stop("arn:task/1", "timed out"), stop("arn:task/2", "rerun"));
    store.put_stop(&first).await.unwrap();
    store.put_stop(&second).await.unwrap();
    // Keeping one twice keeps the first.
    store.put_stop(&stop("arn:task/1", "again")).await.unwrap();
    let mut kept = store.stops().await.unwrap();
    kept.sort_by(|a, b| a.handle.cmp(&b.handle));
    assert_eq!(kept, [first, second.clone()]);
    store.clear_stop("arn:task/1").await.unwrap();
    store.clear_stop("arn:task/1").await.unwrap();
    assert_eq!(store.stops().await.unwrap(), [second]);
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn the_heartbeat_keeps_the_latest_tick(handles: StoreHandles) {
    let store = &handles[0];
    assert_eq!(store.last_tick().await.unwrap(), None);
    let later = t0() + chrono::Duration::seconds(61);
    store.note_tick(t0()).await.unwrap();
    assert_eq!(store.last_tick().await.unwrap(), Some(t0()));
    store.note_tick(later).await.unwrap();
    // A slow tick that ends after a later one began leaves the later.
    store.note_tick(t0()).await.unwrap();
    assert_eq!(store.last_tick().await.unwrap(), Some(later));
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn launch_handles_lead_back_to_their_try(handles: StoreHandles) {
    let store = &handles[0];
    let arn = "arn:aws:ecs:us-east-1:123456789012:task/updraft/9f1bd8e4";
    assert_eq!(store.handle(arn).await.unwrap(), None);
    let try_ref = HandleRef {
        dag: "d".into(),
        run_id: "r1".into(),
        key: key("a"),
        try_number: 2,
    };
    store.put_handle(arn, &try_ref).await.unwrap();
    store.put_handle(arn, &try_ref).await.unwrap();
    assert_eq!(store.handle(arn).await.unwrap(), Some(try_ref));
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn mapped_instances_are_created_once(handles: StoreHandles) {
    handles[0]
        .create_run(&run("d", "r1", 0, &[]), &instances(), &[])
        .await
        .unwrap();
    let mapped: Vec<TaskInstance> = (0..3)
        .map(|i| {
            let mut instance = TaskInstance::pending(TaskKey {
                task_id: TaskId::parse("b").unwrap(),
                map_index: Some(i),
            });
            instance.item = Some(serde_json::json!(format!("shard-{i}")));
            instance
        })
        .collect();
    let mut racers = Vec::new();
    for store in handles.iter().cycle().take(4) {
        let (store, mapped) = (store.clone(), mapped.clone());
        racers.push(tokio::spawn(async move {
            store.create_instances("d", "r1", &mapped).await.unwrap()
        }));
    }
    let mut created = 0;
    for racer in racers {
        created += racer.await.unwrap();
    }
    assert_eq!(created, 3, "each mapped instance is created once");
    let all = handles[0].instances("d", "r1").await.unwrap();
    assert_eq!(all.len(), 5, "two tasks and three mapped instances");
    let second = TaskKey {
        task_id: TaskId::parse("b").unwrap(),
        map_index: Some(1),
    };
    let stored = handles[0]
        .instance("d", "r1", &second)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.item, Some(serde_json::json!("shard-1")));
    assert!(
        handles[0]
            .instance("d", "r1", &key("b"))
            .await
            .unwrap()
            .is_some(),
        "the unmapped key is another instance"
    );
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn artifacts_are_found_by_uri_and_by_run(handles: StoreHandles) {
    let store = &handles[0];
    let record = |uri: &str, used, run_id: &str, minutes| ArtifactRecord {
        uri: uri.into(),
        used,
        dag: DagId::parse("d").unwrap(),
        run_id: run_id.into(),
        key: key("a"),
        try_number: 1,
        at: t0() + chrono::Duration::minutes(minutes),
    };
    let model = "s3://models/m.tar.gz";
    let first = record(model, ArtifactUse::Produced, "r1", 0);
    let second = record(model, ArtifactUse::Produced, "r2", 10);
    let read = record(model, ArtifactUse::Consumed, "r3", 20);
    store
        .put_artifacts(&[first.clone(), read.clone()])
        .await
        .unwrap();
    store
        .put_artifacts(&[second.clone(), first.clone()])
        .await
        .unwrap();
    assert_eq!(
        store.artifact(model).await.unwrap(),
        vec![read.clone(), second, first.clone()],
        "newest first, each once"
    );
    assert_eq!(store.run_artifacts("d", "r1").await.unwrap(), vec![first]);
    assert!(store.artifact("s3://other").await.unwrap().is_empty());
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn a_deleted_run_leaves_nothing_of_itself(handles: StoreHandles) {
    let store = &handles[0];
    register(store, &["d"]).await;
    let (gone, kept) = (run("d", "r1", 0, &[]), run("d", "r2", 10, &[]));
    store.create_run(&gone, &instances(), &[]).await.unwrap();
    store.create_run(&kept, &instances(), &[]).await.unwrap();
    let arn = "arn:aws:ecs:us-east-1:123456789012:task/updraft/0d1e";
    for run_id in ["r1", "r2"] {
        let attempt = Attempt {
            key: key("a"),
            try_number: 1,
            state: TaskState::Succeeded,
            handle: Some(format!("{arn}-{run_id}")),
            started_at: Some(t0()),
            ended_at: Some(t0()),
            exit_code: Some(0),
            reason: None,
            log: None,
            output_location: None,
            output: None,
            produced: Vec::new(),
            consumed: Vec::new(),
        };
        store.put_attempt("d", run_id, &attempt).await.unwrap();
        let try_ref = HandleRef {
            dag: "d".into(),
            run_id: run_id.into(),
            key: key("a"),
            try_number: 1,
        };
        store
            .put_handle(&format!("{arn}-{run_id}"), &try_ref)
            .await
            .unwrap();
        let entry = AuditEntry {
            at: t0(),
            by: "ana@laptop".into(),
            action: AuditAction::Rerun,
            tasks: vec!["a".into()],
            options: Vec::new(),
            note: None,
        };
        store.put_audit("d", run_id, &entry).await.unwrap();
    }
    let record = |used, run_id: &str| ArtifactRecord {
        uri: "s3://lake/day.parquet".into(),
        used,
        dag: DagId::parse("d").unwrap(),
        run_id: run_id.into(),
        key: key("a"),
        try_number: 1,
        at: t0(),
    };
    let read = record(ArtifactUse::Consumed, "r2");
    store
        .put_artifacts(&[record(ArtifactUse::Produced, "r1"), read.clone()])
        .await
        .unwrap();

    store.delete_run("d", "r1").await.unwrap();
    // Again, as a clean that died halfway would.
    store.delete_run("d", "r1").await.unwrap();
    assert_eq!(store.run("d", "r1").await.unwrap(), None);
    assert!(store.instances("d", "r1").await.unwrap().is_empty());
    assert!(store.attempts("d", "r1").await.unwrap().is_empty());
    assert!(store.audit("d", "r1").await.unwrap().is_empty());
    assert!(store.run_artifacts("d", "r1").await.unwrap().is_empty());
    assert_eq!(store.handle(&format!("{arn}-r1")).await.unwrap(), None);
    assert_eq!(
        store.artifact("s3://lake/day.parquet").await.unwrap(),
        std::slice::from_ref(&read)
    );
    // The other run whole.
    assert_eq!(store.run("d", "r2").await.unwrap(), Some(kept));
    assert_eq!(store.instances("d", "r2").await.unwrap().len(), 2);
    assert_eq!(store.attempts("d", "r2").await.unwrap().len(), 1);
    assert_eq!(store.audit("d", "r2").await.unwrap().len(), 1);
    assert_eq!(store.run_artifacts("d", "r2").await.unwrap(), [read]);
    assert!(store.handle(&format!("{arn}-r2")).await.unwrap().is_some());
    // Its logical date is free again (a backfill may make it anew).
    assert!(
        store
            .create_run(&run("d", "r1-again", 0, &[]), &instances(), &[])
            .await
            .unwrap()
    );
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn queries_filter_by_params_and_until(handles: StoreHandles) {
    let store = &handles[0];
    register(store, &["d"]).await;
    for (i, lr) in [0.1, 0.2].into_iter().enumerate() {
        let mut r = run("d", &format!("r{i}"), i as i64 * 10, &[]);
        r.params.insert("lr".into(), serde_json::json!(lr));
        store.create_run(&r, &instances(), &[]).await.unwrap();
    }
    let ids = |runs: Vec<updraft_core::state::Run>| {
        runs.into_iter().map(|r| r.run_id).collect::<Vec<_>>()
    };
    let by_param = RunQuery {
        params: vec![("lr".into(), serde_json::json!(0.2))],
        ..RunQuery::default()
    };
    assert_eq!(ids(store.runs(&by_param).await.unwrap()), ["r1"]);
    let until = RunQuery {
        until: Some(t0() + chrono::Duration::minutes(5)),
        ..RunQuery::default()
    };
    assert_eq!(ids(store.runs(&until).await.unwrap()), ["r0"]);
}

/// Stores the DAGs' metadata: runs are made only for DAGs that have it.
async fn register(store: &Arc<dyn StateStore>, dags: &[&str]) {
    for dag in dags {
        let dag = DagId::parse(dag).unwrap();
        store
            .update_dag(&dag, &DagChange::Paused(false))
            .await
            .unwrap();
    }
}

fn instances() -> Vec<TaskInstance> {
    let spec = parse_spec(
        "s.yaml",
        "dag: d\ntasks:\n  - id: a\n  - id: b\n    after: [a]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    initial_instances(&spec)
}

fn key(task: &str) -> TaskKey {
    TaskKey::task(TaskId::parse(task).unwrap_or_else(|e| panic!("{e}")))
}

fn queue(instance: &TaskInstance) -> TaskTransition {
    let mut next = instance.clone();
    next.state = TaskState::Queued;
    next.try_number += 1;
    next.queued_at = Some(t0());
    TaskTransition::new(instance, next)
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn put_if_absent_creates_a_run_once(handles: StoreHandles) {
    let store = &handles[0];
    let first = run("d", "r1", 0, &[]);
    assert!(
        store.create_run(&first, &instances(), &[]).await.unwrap(),
        "the first create wins"
    );
    let mut second = first.clone();
    second.labels = vec!["overwrite".into()];
    assert!(
        !store.create_run(&second, &[], &[]).await.unwrap(),
        "a second create of the same id loses"
    );
    let stored = store.run("d", "r1").await.unwrap().expect("run stored");
    assert_eq!(stored, first, "and does not overwrite");
    assert_eq!(store.instances("d", "r1").await.unwrap().len(), 2);
    assert_eq!(
        store
            .instance("d", "r1", &key("b"))
            .await
            .unwrap()
            .unwrap()
            .state,
        TaskState::Pending
    );
    let mut same_date = run("d", "r2", 0, &[]);
    same_date.kind = updraft_core::state::RunKind::Backfill;
    assert!(
        !store.create_run(&same_date, &[], &[]).await.unwrap(),
        "one run per DAG and logical date, whatever made it"
    );
    assert!(store.run("d", "r2").await.unwrap().is_none());
    let other_dag = run("e", "r2", 0, &[]);
    assert!(store.create_run(&other_dag, &[], &[]).await.unwrap());
    assert!(store.run("d", "missing").await.unwrap().is_none());
    assert!(
        store
            .instance("d", "r1", &key("zzz"))
            .await
            .unwrap()
            .is_none()
    );
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn task_transitions_are_compare_and_set(handles: StoreHandles) {
    let store = &handles[0];
    store
        .create_run(&run("d", "r1", 0, &[]), &instances(), &[])
        .await
        .unwrap();
    let pending = store.instance("d", "r1", &key("a")).await.unwrap().unwrap();
    let queued = queue(&pending);
    assert!(
        store
            .update_instance("d", "r1", &queued, &[])
            .await
            .unwrap()
    );
    assert!(
        !store
            .update_instance("d", "r1", &queued, &[])
            .await
            .unwrap(),
        "the same change twice applies once"
    );
    let stored = store.instance("d", "r1", &key("a")).await.unwrap().unwrap();
    assert_eq!(stored, queued.next, "the whole record is written");
    let mut wrong_try = start_launch(&stored, 1, t0()).unwrap();
    wrong_try.expect_try = 2;
    assert!(
        !store
            .update_instance("d", "r1", &wrong_try, &[])
            .await
            .unwrap(),
        "a change for another try is refused"
    );
    let launch = start_launch(&stored, 1, t0()).unwrap();
    assert!(
        store
            .update_instance("d", "r1", &launch, &[])
            .await
            .unwrap()
    );
    assert!(
        !store
            .update_instance("d", "other", &launch, &[])
            .await
            .unwrap(),
        "no such run"
    );
}

/// Many instances queued at once (more than one DynamoDB transaction
/// holds): each change holds only if its instance is still as expected,
/// and one that lost its race does not undo the others.
/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn many_task_transitions_apply_those_still_as_expected(handles: StoreHandles) {
    let store = &handles[0];
    store
        .create_run(&run("d", "r1", 0, &[]), &instances(), &[])
        .await
        .unwrap();
    let mapped: Vec<TaskInstance> = (0..150)
        .map(|i| {
            TaskInstance::pending(TaskKey {
                task_id: TaskId::parse("b").unwrap(),
                map_index: Some(i),
            })
        })
        .collect();
    store.create_instances("d", "r1", &mapped).await.unwrap();
    let changes: Vec<TaskTransition> = mapped.iter().map(queue).collect();
    // Another writer got to instance 120 first.
    assert!(
        store
            .update_instance("d", "r1", &changes[120], &[])
            .await
            .unwrap()
    );
    let applied = store.update_instances("d", "r1", &changes).await.unwrap();
    assert_eq!(applied.len(), 150);
    assert!(!applied[120], "the change that lost its race is refused");
    assert_eq!(
        applied.iter().filter(|a| **a).count(),
        149,
        "every other change holds"
    );
    let queued = store
        .instances("d", "r1")
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.state == TaskState::Queued)
        .count();
    assert_eq!(queued, 150);
    assert!(
        store
            .update_instances("d", "r1", &changes[..10])
            .await
            .unwrap()
            .iter()
            .all(|a| !a),
        "the same changes again apply none"
    );
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn run_transitions_are_compare_and_set(handles: StoreHandles) {
    let store = &handles[0];
    let queued = run("d", "r1", 0, &[]);
    store.create_run(&queued, &instances(), &[]).await.unwrap();
    let mut running = queued.clone();
    running.state = RunState::Running;
    running.started_at = Some(t0());
    assert!(
        store
            .update_run(RunState::Queued, &running, &[])
            .await
            .unwrap()
    );
    assert!(
        !store
            .update_run(RunState::Queued, &running, &[])
            .await
            .unwrap()
    );
    let stored = store.run("d", "r1").await.unwrap().unwrap();
    assert_eq!(stored.revision, 1, "each write is one revision up");
    running.revision = 1;
    assert_eq!(stored, running);

    // Two writers read revision 1; the first writes a note, the second,
    // whose copy is stale though the state still matches, is refused.
    let (mut first, mut stale) = (stored.clone(), stored);
    first.note = Some("from the first writer".into());
    stale.metrics.insert("a.loss".into(), 0.5);
    assert!(
        store
            .update_run(RunState::Running, &first, &[])
            .await
            .unwrap()
    );
    assert!(
        !store
            .update_run(RunState::Running, &stale, &[])
            .await
            .unwrap()
    );
    let kept = store.run("d", "r1").await.unwrap().unwrap();
    assert_eq!((kept.note, kept.revision), (first.note, 2));
    assert!(kept.metrics.is_empty());
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn racing_callers_win_a_task_transition_exactly_once(handles: StoreHandles) {
    handles[0]
        .create_run(&run("d", "r1", 0, &[]), &instances(), &[])
        .await
        .unwrap();
    for round in 0..20 {
        let current = handles[0]
            .instance("d", "r1", &key("a"))
            .await
            .unwrap()
            .unwrap();
        let change = queue(&current);
        let mut racers = Vec::new();
        for store in handles.iter().cycle().take(8) {
            let (store, change) = (store.clone(), change.clone());
            racers.push(tokio::spawn(async move {
                store
                    .update_instance("d", "r1", &change, &[])
                    .await
                    .unwrap()
            }));
        }
        let mut wins = 0;
        for racer in racers {
            wins += usize::from(racer.await.unwrap());
        }
        assert_eq!(
            wins, 1,
            "round {round}: {wins} callers won one compare-and-set"
        );
    }
    assert_eq!(
        handles[0]
            .instance("d", "r1", &key("a"))
            .await
            .unwrap()
            .unwrap()
            .try_number,
        20
    );
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn racing_callers_win_a_run_transition_exactly_once(handles: StoreHandles) {
    let queued = run("d", "r1", 0, &[]);
    handles[0]
        .create_run(&queued, &instances(), &[])
        .await
        .unwrap();
    let mut racers = Vec::new();
    for (i, store) in handles.iter().cycle().take(8).enumerate() {
        let mut next = queued.clone();
        next.state = RunState::Running;
        next.labels = vec![format!("winner-{i}")];
        let store = store.clone();
        racers.push(tokio::spawn(async move {
            store
                .update_run(RunState::Queued, &next, &[])
                .await
                .unwrap()
        }));
    }
    let mut wins = 0;
    for racer in racers {
        wins += usize::from(racer.await.unwrap());
    }
    assert_eq!(wins, 1);
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn racing_creators_create_a_run_once(handles: StoreHandles) {
    let mut racers = Vec::new();
    // Half race for one id, half for one logical date under other ids (a
    // tick and a backfill making the same date).
    for (i, store) in handles.iter().cycle().take(8).enumerate() {
        let store = store.clone();
        let id = if i % 2 == 0 {
            "same".to_string()
        } else {
            format!("backfill{i}")
        };
        racers.push(tokio::spawn(async move {
            store
                .create_run(&run("d", &id, 0, &[]), &instances(), &[])
                .await
                .unwrap()
        }));
    }
    let mut wins = 0;
    for racer in racers {
        wins += usize::from(racer.await.unwrap());
    }
    assert_eq!(wins, 1, "racing creators make one run of one date");
    let query = RunQuery {
        dag: Some("d".into()),
        ..RunQuery::default()
    };
    let runs = handles[0].runs(&query).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let made = &runs[0].run_id;
    assert_eq!(handles[0].instances("d", made).await.unwrap().len(), 2);
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn racing_starters_keep_max_active_runs(handles: StoreHandles) {
    register(&handles[0], &["d"]).await;
    let queued: Vec<_> = (0..4).map(|i| run("d", &format!("r{i}"), i, &[])).collect();
    for r in &queued {
        assert!(handles[0].create_run(r, &[], &[]).await.unwrap());
    }
    let started = |r: &updraft_core::state::Run| {
        let mut next = r.clone();
        next.state = RunState::Running;
        next
    };
    let mut racers = Vec::new();
    for (r, store) in queued.iter().zip(handles.iter().cycle()) {
        let (store, next) = (store.clone(), started(r));
        racers.push(tokio::spawn(async move {
            store.start_run(&next, 2, &[]).await.unwrap()
        }));
    }
    let mut wins = Vec::new();
    for (r, racer) in queued.iter().zip(racers) {
        if racer.await.unwrap() {
            wins.push(r.clone());
        }
    }
    assert_eq!(
        wins.len(),
        2,
        "max_active_runs: 2 under four racing starters"
    );
    let waiting: Vec<_> = queued.iter().filter(|r| !wins.contains(r)).collect();
    let store = &handles[0];
    assert!(!store.start_run(&started(waiting[0]), 2, &[]).await.unwrap());
    // One ends: its slot is free again.
    let mut ended = store.run("d", &wins[0].run_id).await.unwrap().unwrap();
    let running = ended.clone();
    ended.state = RunState::Succeeded;
    assert!(store.update_run(running.state, &ended, &[]).await.unwrap());
    assert!(store.start_run(&started(waiting[0]), 2, &[]).await.unwrap());
    assert!(
        !store.start_run(&started(waiting[0]), 5, &[]).await.unwrap(),
        "only a queued run starts"
    );
}

/// Ticks noting their last point, a pause and two deploys, all at once on
/// one DAG: the pause holds, the last point is the latest, and exactly one
/// deploy's source wins its compare-and-set (the other must read again).
/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn racing_dag_changes_keep_each_others_fields(handles: StoreHandles) {
    let d = DagId::parse("d").unwrap();
    let deploy = |n: u32| DagChange::Source {
        current_version: Some(format!("v{n}")),
        import_error: None,
        source_version: Some(format!("s{n}")),
        expect: Some(None),
        retention_secs: None,
    };
    let mut changes = vec![DagChange::Paused(true), deploy(1), deploy(2)];
    changes.extend((1..=5).map(|m| DagChange::LastPoint(t0() + chrono::Duration::minutes(m))));
    let mut racers = Vec::new();
    for (change, store) in changes.into_iter().zip(handles.iter().cycle()) {
        let (store, d) = (store.clone(), d.clone());
        racers.push(tokio::spawn(async move {
            let held = store.update_dag(&d, &change).await.unwrap();
            (change, held)
        }));
    }
    let mut deploys_held = Vec::new();
    for racer in racers {
        let (change, held) = racer.await.unwrap();
        match change {
            DagChange::Source { source_version, .. } if held => deploys_held.push(source_version),
            DagChange::Paused(_) => assert!(held, "a pause always holds"),
            _ => {}
        }
    }
    assert_eq!(deploys_held.len(), 1, "one deploy wins: {deploys_held:?}");
    let meta = handles[0].dag("d").await.unwrap().unwrap();
    assert!(meta.paused, "the pause was not undone");
    assert_eq!(meta.last_point, Some(t0() + chrono::Duration::minutes(5)));
    assert_eq!(meta.source_version, deploys_held[0]);
    let version = meta.source_version.as_deref().map(|s| s.replace('s', "v"));
    assert_eq!(
        meta.current_version, version,
        "the winner's version is current"
    );
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn queries_filter_and_order_runs(handles: StoreHandles) {
    let store = &handles[0];
    register(store, &["d", "e"]).await;
    for (i, (dag, id, labels)) in [
        ("d", "r1", vec!["x"]),
        ("d", "r2", vec![]),
        ("e", "r3", vec!["x", "y"]),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .create_run(&run(dag, id, i as i64 * 10, &labels), &instances(), &[])
            .await
            .unwrap();
    }
    let mut done = store.run("d", "r2").await.unwrap().unwrap();
    done.state = RunState::Failed;
    store
        .update_run(RunState::Queued, &done, &[])
        .await
        .unwrap();
    let ids = |runs: Vec<updraft_core::state::Run>| {
        runs.into_iter().map(|r| r.run_id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(store.runs(&RunQuery::default()).await.unwrap()),
        ["r3", "r2", "r1"],
        "newest first"
    );
    assert_eq!(
        ids(store
            .runs(&RunQuery {
                dag: Some("d".into()),
                ..RunQuery::default()
            })
            .await
            .unwrap()),
        ["r2", "r1"]
    );
    assert_eq!(
        ids(store
            .runs(&RunQuery {
                states: vec![RunState::Failed],
                ..RunQuery::default()
            })
            .await
            .unwrap()),
        ["r2"]
    );
    assert_eq!(
        ids(store
            .runs(&RunQuery {
                label: Some("x".into()),
                ..RunQuery::default()
            })
            .await
            .unwrap()),
        ["r3", "r1"]
    );
    assert_eq!(
        ids(store
            .runs(&RunQuery {
                since: Some(t0() + chrono::Duration::minutes(10)),
                ..RunQuery::default()
            })
            .await
            .unwrap()),
        ["r3", "r2"]
    );
    assert_eq!(
        ids(store
            .runs(&RunQuery {
                limit: Some(1),
                ..RunQuery::default()
            })
            .await
            .unwrap()),
        ["r3"]
    );
    let mut active = ids(store.active_runs().await.unwrap());
    active.sort();
    assert_eq!(
        active,
        ["r1", "r3"],
        "only queued and running runs are active"
    );
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn attempts_keep_the_history_of_every_try(handles: StoreHandles) {
    let store = &handles[0];
    store
        .create_run(&run("d", "r1", 0, &[]), &instances(), &[])
        .await
        .unwrap();
    let attempt = |try_number, state| Attempt {
        key: key("a"),
        try_number,
        state,
        handle: Some(format!("pid:{try_number}")),
        started_at: Some(t0()),
        ended_at: None,
        exit_code: None,
        reason: None,
        log: None,
        output_location: Some(format!("s3://b/outputs/{try_number}.json")),
        output: Some(serde_json::json!({ "try": try_number })),
        produced: vec!["s3://b/model.tar.gz".into()],
        consumed: Vec::new(),
    };
    store
        .put_attempt("d", "r1", &attempt(1, TaskState::Running))
        .await
        .unwrap();
    let mut ended = attempt(1, TaskState::Failed);
    ended.exit_code = Some(3);
    store.put_attempt("d", "r1", &ended).await.unwrap();
    store
        .put_attempt("d", "r1", &attempt(2, TaskState::Running))
        .await
        .unwrap();
    let mut all = store.attempts("d", "r1").await.unwrap();
    all.sort_by_key(|a| a.try_number);
    assert_eq!(
        all,
        vec![ended.clone(), attempt(2, TaskState::Running)],
        "one record per try, the latest write wins"
    );
    assert_eq!(
        store.attempt("d", "r1", &key("a"), 1).await.unwrap(),
        Some(ended)
    );
    assert_eq!(store.attempt("d", "r1", &key("a"), 9).await.unwrap(), None);
    assert!(store.attempts("d", "other").await.unwrap().is_empty());
}

/// A case of the contract (see [`store_contract!`](crate::store_contract)).
pub async fn dag_metadata_and_spec_versions_round_trip(handles: StoreHandles) {
    let store = &handles[0];
    assert!(store.dag("d").await.unwrap().is_none());
    let d = DagId::parse("d").unwrap();
    let mut meta = DagMeta::new(d.clone());
    assert!(
        store
            .update_dag(&d, &DagChange::Paused(true))
            .await
            .unwrap()
    );
    assert!(
        store
            .update_dag(&d, &DagChange::LastPoint(t0()))
            .await
            .unwrap()
    );
    (meta.paused, meta.last_point) = (true, Some(t0()));
    assert_eq!(store.dag("d").await.unwrap(), Some(meta.clone()));
    assert!(
        !store
            .update_dag(&d, &DagChange::LastPoint(t0()))
            .await
            .unwrap(),
        "the last point only moves on"
    );
    let v1 = |expect: Option<Option<String>>| DagChange::Source {
        current_version: Some("v1".into()),
        import_error: None,
        source_version: Some("s1".into()),
        expect,
        retention_secs: Some(Some(86_400)),
    };
    assert!(store.update_dag(&d, &v1(Some(None))).await.unwrap());
    assert!(
        !store.update_dag(&d, &v1(Some(None))).await.unwrap(),
        "a compare-and-set on the object version"
    );
    let broken = DagChange::Source {
        current_version: None,
        import_error: Some("x.yaml:1:1: bad".into()),
        source_version: Some("s2".into()),
        expect: Some(Some("s1".into())),
        // A file that does not load leaves the retention as it was.
        retention_secs: None,
    };
    assert!(store.update_dag(&d, &broken).await.unwrap());
    assert!(
        store
            .update_dag(&d, &DagChange::Paused(false))
            .await
            .unwrap()
    );
    meta.paused = false;
    meta.import_error = Some("x.yaml:1:1: bad".into());
    meta.source_version = Some("s2".into());
    meta.retention_secs = Some(86_400);
    assert_eq!(
        store.dags().await.unwrap(),
        vec![meta],
        "each change kept the others' fields"
    );
    let later = t0() + chrono::Duration::minutes(1);
    store
        .put_spec_version("d", "v1", "dag: d\n", t0())
        .await
        .unwrap();
    store
        .put_spec_version("d", "v1", "dag: d\n", later)
        .await
        .unwrap();
    store
        .put_spec_version("d", "v2", "dag: d\n# 2\n", later)
        .await
        .unwrap();
    store
        .put_spec_version("e", "v9", "dag: e\n", later)
        .await
        .unwrap();
    assert_eq!(
        store.spec_version("d", "v1").await.unwrap().as_deref(),
        Some("dag: d\n")
    );
    assert_eq!(store.spec_version("d", "v3").await.unwrap(), None);
    let mut versions = store.spec_versions("d").await.unwrap();
    versions.sort_by(|a, b| a.version.cmp(&b.version));
    assert_eq!(
        versions,
        [
            StoredVersion {
                version: "v1".into(),
                first_seen: Some(t0())
            },
            StoredVersion {
                version: "v2".into(),
                first_seen: Some(later)
            }
        ],
        "a version stored twice keeps when it was first seen"
    );
}
