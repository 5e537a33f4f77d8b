//! The use cases as stories over in-memory adapters and a launcher that
//! counts what it starts: duplicate messages, duplicate and stale
//! completions, a dispatcher that dies mid-launch, ticks, max_active_runs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use updraft_core::plan::Outcome;
use updraft_core::state::{RunState, TaskKey, TaskState};
use updraft_engine::Settings;
use updraft_engine::ports::{Completion, LaunchRequest, Launcher, TaskMessage, TaskQueue};
use updraft_engine::testing::World;
use updraft_engine::usecase::{Dispatched, RunRequest};

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn world(yaml: &str) -> World {
    World::new(yaml, None, Settings::default())
}

const CHAIN: &str =
    "dag: d\ntasks:\n  - id: a\n    command: [x]\n  - id: b\n    after: [a]\n    command: [x]\n";

async fn next_message(world: &World) -> TaskMessage {
    world.next_message().await.expect("a queued message")
}

fn key(task: &str) -> TaskKey {
    TaskKey::task(updraft_core::ids::TaskId::parse(task).unwrap())
}

fn ok() -> Completion {
    Completion {
        outcome: Outcome::Succeeded,
        exit_code: Some(0),
    }
}

#[tokio::test]
async fn the_same_message_delivered_twice_launches_once() {
    let world = world(CHAIN);
    let run = world
        .engine
        .trigger("d", RunRequest::by("tester"))
        .await
        .unwrap();
    let message = next_message(&world).await;
    assert!(matches!(
        world.engine.dispatch(&message).await.unwrap(),
        Dispatched::Launched(_)
    ));
    assert_eq!(
        world.engine.dispatch(&message).await.unwrap(),
        Dispatched::Stale
    );
    assert_eq!(world.launcher.starts(), 1);
    let a = world
        .engine
        .ports()
        .store
        .instance("d", &run.run_id, &key("a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.state, a.try_number), (TaskState::Running, 1));
    assert_eq!(world.events.dropped().len(), 1, "the duplicate is reported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_message_delivered_concurrently_launches_once() {
    let world = world(CHAIN);
    world
        .engine
        .trigger("d", RunRequest::by("tester"))
        .await
        .unwrap();
    let message = next_message(&world).await;
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (engine, message) = (world.engine.clone(), message.clone());
            tokio::spawn(async move { engine.dispatch(&message).await.unwrap() })
        })
        .collect();
    let mut launched = 0;
    for racer in racers {
        launched += usize::from(matches!(racer.await.unwrap(), Dispatched::Launched(_)));
    }
    assert_eq!((launched, world.launcher.starts()), (1, 1));
}

#[tokio::test]
async fn completions_twice_out_of_order_or_for_an_old_try_are_dropped() {
    let world = world(
        "dag: d\ndefaults: { retries: 1, retry_delay: 0s }\ntasks:\n  - id: a\n    command: [x]\n",
    );
    let run = world
        .engine
        .trigger("d", RunRequest::by("tester"))
        .await
        .unwrap();
    let id = run.run_id.as_str();
    assert!(
        !world
            .engine
            .record("d", id, &key("a"), 1, ok())
            .await
            .unwrap(),
        "before it was launched"
    );
    world
        .engine
        .dispatch(&next_message(&world).await)
        .await
        .unwrap();
    let failed = Completion {
        outcome: Outcome::Failed {
            reason: "exit code 1".into(),
        },
        exit_code: Some(1),
    };
    assert!(
        world
            .engine
            .record_and_advance("d", id, &key("a"), 1, failed.clone())
            .await
            .unwrap()
    );
    assert!(
        !world
            .engine
            .record("d", id, &key("a"), 1, failed)
            .await
            .unwrap(),
        "the same completion again"
    );
    world.engine.tick().await.unwrap();
    world
        .engine
        .dispatch(&next_message(&world).await)
        .await
        .unwrap();
    assert!(
        !world
            .engine
            .record("d", id, &key("a"), 1, ok())
            .await
            .unwrap(),
        "a completion for the old try"
    );
    assert!(
        world
            .engine
            .record_and_advance("d", id, &key("a"), 2, ok())
            .await
            .unwrap()
    );
    let run = world
        .engine
        .ports()
        .store
        .run("d", id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.state, RunState::Succeeded);
    let attempts = world.engine.ports().store.attempts("d", id).await.unwrap();
    let states: Vec<_> = attempts
        .iter()
        .map(|a| (a.try_number, a.state, a.exit_code))
        .collect();
    assert_eq!(
        states,
        [
            (1, TaskState::Failed, Some(1)),
            (2, TaskState::Succeeded, Some(0))
        ]
    );
}

/// A dispatcher that dies after launching but before recording `running`
/// leaves the try in `launching`; reconciliation queues it again, and the
/// idempotent launch finds the same process: one start per try.
#[tokio::test]
async fn a_dispatcher_dying_mid_launch_does_not_start_a_second_process() {
    let world = world(CHAIN);
    let run = world
        .engine
        .trigger("d", RunRequest::by("tester"))
        .await
        .unwrap();
    let id = run.run_id.as_str();
    let message = next_message(&world).await;
    // What the dying dispatcher managed: queued -> launching, then launch.
    let store = world.engine.ports().store.clone();
    let queued = store.instance("d", id, &key("a")).await.unwrap().unwrap();
    let launching =
        updraft_core::plan::start_launch(&queued, 1, updraft_engine::testing::t0()).unwrap();
    assert!(
        store
            .update_instance("d", id, &launching, &[])
            .await
            .unwrap()
    );
    let request = LaunchRequest {
        dag: "d".into(),
        run_id: id.into(),
        key: key("a"),
        try_number: 1,
        task: updraft_core::template::RenderedTask {
            image: None,
            command: Some(vec!["x".into()]),
            ..Default::default()
        },
        compute: None,
        timeout: None,
        relaunch: false,
    };
    world.launcher.launch(&request).await.unwrap();
    drop(message);

    world.engine.tick().await.unwrap();
    assert!(
        world.queue.receive(1).await.unwrap().is_empty(),
        "not yet: it may still be launching"
    );
    world.clock.set(t("2026-11-21T00:10:00Z"));
    world.engine.tick().await.unwrap();
    let again = next_message(&world).await;
    assert_eq!(again.try_number, 1, "the same try");
    assert!(matches!(
        world.engine.dispatch(&again).await.unwrap(),
        Dispatched::Launched(_)
    ));
    assert_eq!(world.launcher.starts(), 1, "one process for try 1");
    assert_eq!(
        world.launcher.launches().values().sum::<usize>(),
        2,
        "launched twice, started once"
    );
    assert!(
        world
            .engine
            .record_and_advance("d", id, &key("a"), 1, ok())
            .await
            .unwrap()
    );
    assert_eq!(next_message(&world).await.key, key("b"));
}

#[tokio::test]
async fn ticks_create_each_scheduled_run_once_and_respect_max_active_runs() {
    let world = world(
        "dag: d\nschedule: '@hourly'\nstart: 2026-11-20T22:00:00Z\ncatchup: true\nmax_active_runs: 1\ntasks:\n  - id: a\n    command: [x]\n",
    );
    let (first, second) = tokio::join!(world.engine.tick(), world.engine.tick());
    let created = first.unwrap().created.len() + second.unwrap().created.len();
    assert_eq!(
        created, 1,
        "max_active_runs 1: one run, created once by two ticks"
    );
    let runs = world.engine.ports().store.active_runs().await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].run_id, "scheduled__2026-11-20T22:00:00+00:00");
    assert_eq!(runs[0].state, RunState::Running);
    world
        .engine
        .dispatch(&next_message(&world).await)
        .await
        .unwrap();
    world
        .engine
        .record_and_advance("d", &runs[0].run_id, &key("a"), 1, ok())
        .await
        .unwrap();
    let report = world.engine.tick().await.unwrap();
    assert_eq!(
        report.created.len(),
        1,
        "the next missed point, once the first ended"
    );
    assert_eq!(
        report.created[0].run_id,
        "scheduled__2026-11-20T23:00:00+00:00"
    );
}

/// A run whose creation died after writing the run but before its task
/// instances is completed by the next advance.
#[tokio::test]
async fn a_run_missing_task_instances_gets_them_on_advance() {
    let world = world(CHAIN);
    let run = world
        .engine
        .trigger("d", RunRequest::by("tester"))
        .await
        .unwrap();
    let store = world.engine.ports().store.clone();
    let mut half = run.clone();
    half.run_id = "manual__half".into();
    half.state = RunState::Queued;
    half.logical_date += chrono::TimeDelta::minutes(1);
    assert!(store.create_run(&half, &[], &[]).await.unwrap());
    world.engine.advance("d", "manual__half").await.unwrap();
    let instances = store.instances("d", "manual__half").await.unwrap();
    assert_eq!(instances.len(), 2);
    let a = store
        .instance("d", "manual__half", &key("a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.state, TaskState::Queued);
}

#[tokio::test]
async fn a_retry_is_woken_by_a_delayed_message_when_it_is_due() {
    let world = world(
        "dag: d\ndefaults: { retries: 1, retry_delay: 1s }\ntasks:\n  - id: a\n    command: [x]\n",
    );
    let run = world
        .engine
        .trigger("d", RunRequest::by("tester"))
        .await
        .unwrap();
    let id = run.run_id.as_str();
    let first = next_message(&world).await;
    world.engine.dispatch(&first).await.unwrap();
    let failed = Completion {
        outcome: Outcome::Failed {
            reason: "exit code 1".into(),
        },
        exit_code: Some(1),
    };
    assert!(
        world
            .engine
            .record_and_advance("d", id, &key("a"), 1, failed)
            .await
            .unwrap()
    );
    assert!(
        world.queue.receive(10).await.unwrap().is_empty(),
        "the wake-up is delayed until the retry is due"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let wake = next_message(&world).await;
    assert_eq!(wake.try_number, 2);

    // Early by the engine's clock: sent again for the rest of the wait.
    assert_eq!(
        world.engine.dispatch(&wake).await.unwrap(),
        Dispatched::Woken
    );
    let a = world
        .engine
        .ports()
        .store
        .instance("d", id, &key("a"))
        .await;
    assert_eq!(a.unwrap().unwrap().state, TaskState::RetryWait);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = next_message(&world).await;
    assert_eq!(again, wake);

    world.clock.set(t("2026-11-21T00:00:31Z"));
    assert_eq!(
        world.engine.dispatch(&again).await.unwrap(),
        Dispatched::Woken
    );
    let queued = next_message(&world).await;
    assert_eq!(queued.try_number, 2);
    assert!(matches!(
        world.engine.dispatch(&queued).await.unwrap(),
        Dispatched::Launched(_)
    ));
    assert_eq!(world.launcher.starts(), 2);
}

/// Issue 10: a run keeps who made it and its note; each rerun and mark
/// adds an audit entry naming who did what, and a rerun's note becomes the
/// run's note.
#[tokio::test]
async fn runs_keep_who_made_them_and_every_rerun_and_mark() {
    let world = world(CHAIN);
    let engine = &world.engine;
    let request = RunRequest {
        note: Some("lr 0.02 on last week".into()),
        ..RunRequest::by("ana@laptop")
    };
    let run = engine.trigger("d", request).await.unwrap();
    assert_eq!(run.triggered_by, "ana@laptop");
    let id = run.run_id.as_str();
    for _ in 0..2 {
        engine.dispatch(&next_message(&world).await).await.unwrap();
        let task =
            if engine.run_detail("d", id).await.unwrap().instances[0].state == TaskState::Running {
                "a"
            } else {
                "b"
            };
        engine.record("d", id, &key(task), 1, ok()).await.unwrap();
        engine.advance("d", id).await.unwrap();
    }
    assert_eq!(
        engine.run_detail("d", id).await.unwrap().run.state,
        RunState::Succeeded
    );
    let rerun = updraft_core::plan::Rerun {
        tasks: vec![updraft_core::ids::TaskId::parse("b").unwrap()],
        ..Default::default()
    };
    let note = Some("b again with the fixed loader".to_string());
    let cleared = engine
        .rerun("d", id, &rerun, "bob@desk", note.clone())
        .await
        .unwrap();
    assert_eq!(cleared, [key("b")]);
    world.clock.set(t("2026-11-21T00:01:00Z"));
    engine
        .mark("d", id, &key("b"), TaskState::Succeeded, "carol@ops")
        .await
        .unwrap();
    let detail = engine.run_detail("d", id).await.unwrap();
    assert_eq!(detail.run.triggered_by, "ana@laptop");
    assert_eq!(detail.run.note, note);
    let audit: Vec<(String, String, Vec<String>, Vec<String>)> = detail
        .audit
        .iter()
        .map(|e| {
            (
                e.by.clone(),
                e.action.to_string(),
                e.tasks.clone(),
                e.options.clone(),
            )
        })
        .collect();
    assert_eq!(
        audit,
        [
            ("bob@desk".into(), "rerun".into(), vec!["b".into()], vec![]),
            (
                "carol@ops".into(),
                "mark".into(),
                vec!["b".into()],
                vec!["succeeded".into()]
            ),
        ]
    );
    assert_eq!(detail.audit[0].note, note);
}

/// Issues 11 and 26: a run whose pinned spec version is missing (a row
/// written by hand) ends failed, saying why, with nothing launched; the
/// tick still advances the run after it.
#[tokio::test]
async fn a_run_pinned_to_a_missing_version_fails_and_the_tick_goes_on() {
    let world = world(CHAIN);
    let healthy = world
        .engine
        .trigger("d", RunRequest::by("tester"))
        .await
        .unwrap();
    let store = world.engine.ports().store.clone();
    let mut broken = healthy.clone();
    broken.run_id = "manual__broken".into();
    broken.spec_version = "no-such-version".into();
    broken.created_at -= chrono::Duration::minutes(1);
    broken.logical_date = broken.created_at;
    assert!(store.create_run(&broken, &[], &[]).await.unwrap());
    let mut waiting = healthy.clone();
    waiting.run_id = "manual__waiting".into();
    waiting.state = RunState::Queued;
    waiting.logical_date += chrono::Duration::minutes(1);
    let spec = world.engine.spec_of(&healthy).await.unwrap();
    let pending = updraft_core::plan::initial_instances(&spec);
    assert!(store.create_run(&waiting, &pending, &[]).await.unwrap());

    let report = world.engine.tick().await.unwrap();
    assert_eq!(report.failures, [], "handled, not failing the tick");
    let broken = store.run("d", "manual__broken").await.unwrap().unwrap();
    assert_eq!(broken.state, RunState::Failed);
    assert_eq!(
        broken.reason.as_deref(),
        Some("spec version no-such-version of DAG `d` is not a deployed version")
    );
    assert!(broken.ended_at.is_some());
    let a = store
        .instance("d", "manual__waiting", &key("a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        a.state,
        TaskState::Queued,
        "the run after the broken one advanced"
    );
}

/// Issue 11: a scheduled point that a backfill already ran is not created
/// again by the scheduler.
#[tokio::test]
async fn a_point_a_backfill_ran_is_not_scheduled_again() {
    let world = world(
        "dag: d\nschedule: '@hourly'\nstart: 2026-11-20T22:00:00Z\ncatchup: true\ntasks:\n  - id: a\n    command: [x]\n",
    );
    let report = world
        .engine
        .backfill(
            "d",
            "2026-11-20T22:00:00Z",
            "2026-11-20T23:00:00Z",
            false,
            "ana",
        )
        .await
        .unwrap();
    assert_eq!(report.created.len(), 2, "{report:?}");
    let ticked = world.engine.tick().await.unwrap();
    let ids: Vec<&str> = ticked.created.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(
        ids,
        ["scheduled__2026-11-21T00:00:00+00:00"],
        "only the point no backfill covered"
    );
}

/// The dashboard's first page: each current DAG, paused or when it next
/// runs, and its latest runs newest first.
#[tokio::test]
async fn the_dags_overview_shows_each_dag_its_next_point_and_latest_runs() {
    let world = world(
        "dag: d\nschedule: '@hourly'\nstart: 2026-11-20T22:00:00Z\ntasks:\n  - id: a\n    command: [x]\n",
    );
    let first = world
        .engine
        .trigger("d", RunRequest::by("ana"))
        .await
        .unwrap();
    world.clock.set(t("2026-11-21T00:00:31Z"));
    let second = world
        .engine
        .trigger("d", RunRequest::by("ben"))
        .await
        .unwrap();
    let overview = world.engine.dags_overview(25).await.unwrap();
    assert_eq!(overview.dags.len(), 1);
    let d = &overview.dags[0];
    assert!(!d.paused);
    assert_eq!(d.next_run, Some(t("2026-11-21T01:00:00Z")));
    let ids: Vec<&str> = d.recent.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, [second.run_id.as_str(), first.run_id.as_str()]);
    assert_eq!(
        world.engine.dags_overview(1).await.unwrap().dags[0]
            .recent
            .len(),
        1
    );

    world.engine.set_paused("d", true).await.unwrap();
    let paused = &world.engine.dags_overview(25).await.unwrap().dags[0];
    assert!(paused.paused);
    assert_eq!(paused.next_run, None, "a paused DAG does not run next");
}
