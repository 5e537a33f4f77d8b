//! Issue 28, sensors: a `waiting` task is looked at when its run is
//! planned and its look is due, holds nothing in between, and goes on once
//! its condition holds — another DAG's task of the same logical date, or a
//! time passing.

use chrono::TimeDelta;
use updraft_core::plan::Outcome;
use updraft_core::state::{RunState, TaskKey, TaskState};
use updraft_engine::ports::{Clock, Completion};
use updraft_engine::testing::World;
use updraft_engine::usecase::RunRequest;

const INGEST: &str = "dag: ingest\nschedule: '@daily'\ntasks:\n  - id: load\n    command: [x]\n";
const GATE: &str = "dag: gate
tasks:
  - id: upstream
    wait_for: { dag: ingest, task: load, logical_date: '{{ ds }}', every: 1m }
  - id: later
    wait_for: { time: '{{ data_interval_end }} + 1h', every: 10m }
  - id: report
    after: [upstream, later]
    command: [x]
";

fn key(task: &str) -> TaskKey {
    TaskKey::task(updraft_core::ids::TaskId::parse(task).unwrap())
}

async fn state(world: &World, run_id: &str, task: &str) -> TaskState {
    world
        .store
        .instance("gate", run_id, &key(task))
        .await
        .unwrap()
        .unwrap()
        .state
}

#[tokio::test]
async fn a_sensor_goes_on_when_another_dags_task_of_its_date_succeeds_and_a_time_passes() {
    let world = World::of_specs(&[INGEST, GATE]);
    let engine = &world.engine;
    let gate = engine.trigger("gate", RunRequest::by("ana")).await.unwrap();
    let id = gate.run_id.as_str();
    assert_eq!(state(&world, id, "upstream").await, TaskState::Waiting);
    assert_eq!(state(&world, id, "later").await, TaskState::Waiting);
    assert_eq!(world.launcher.starts(), 0, "a sensor launches nothing");
    let attempt = world
        .store
        .attempt("gate", id, &key("upstream"), 1)
        .await
        .unwrap()
        .expect("its try is on record");
    assert_eq!(attempt.state, TaskState::Waiting);
    let looked = world
        .store
        .instance("gate", id, &key("upstream"))
        .await
        .unwrap()
        .unwrap()
        .poke_at;
    assert_eq!(
        looked,
        Some(world.clock.now() + TimeDelta::minutes(1)),
        "looked once, next in a minute"
    );

    // ingest's run of that day: its load succeeds.
    let day = world.clock.now().format("%Y-%m-%d").to_string();
    engine
        .backfill("ingest", &day, &day, false, "ana")
        .await
        .unwrap();
    let message = world.next_message().await.expect("ingest's try");
    engine.dispatch(&message).await.unwrap();
    let done = Completion {
        outcome: Outcome::Succeeded,
        exit_code: Some(0),
    };
    engine
        .record_and_advance("ingest", &message.run_id, &key("load"), 1, done)
        .await
        .unwrap();

    // Not due yet: nothing is looked at.
    engine.advance("gate", id).await.unwrap();
    assert_eq!(state(&world, id, "upstream").await, TaskState::Waiting);
    world.clock.set(world.clock.now() + TimeDelta::minutes(1));
    engine.advance("gate", id).await.unwrap();
    assert_eq!(state(&world, id, "upstream").await, TaskState::Succeeded);
    assert_eq!(state(&world, id, "later").await, TaskState::Waiting);

    world.clock.set(world.clock.now() + TimeDelta::hours(1));
    engine.advance("gate", id).await.unwrap();
    assert_eq!(state(&world, id, "later").await, TaskState::Succeeded);
    let run = world.store.run("gate", id).await.unwrap().unwrap();
    assert_eq!(run.state, RunState::Running);
    assert_eq!(world.launcher.starts(), 1, "only ingest's load ran so far");
}

const SHIP: &str = "dag: ship
tasks:
  - id: sign_off
    approval: { prompt: Ship it?, timeout: 2d }
  - id: publish
    after: [sign_off]
    command: [x]
";

#[tokio::test]
async fn an_approval_tells_the_team_and_a_decision_goes_on_with_its_output() {
    let world = World::of_specs(&[SHIP]);
    let engine = &world.engine;
    let run = engine.trigger("ship", RunRequest::by("ana")).await.unwrap();
    engine.publish_outbox().await.unwrap();
    let asked: Vec<_> = world
        .bus
        .published()
        .into_iter()
        .filter(|n| n.detail_type == updraft_core::notify::APPROVAL_REQUESTED)
        .collect();
    assert_eq!(asked.len(), 1, "one request");
    assert_eq!(asked[0].detail["prompt"], "Ship it?");
    assert_eq!(
        asked[0].detail["options"],
        serde_json::json!(["approve", "reject"])
    );

    let refused = engine
        .approve("ship", &run.run_id, &key("sign_off"), "later", None, "bo")
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "choice `later` is not one of approve, reject"
    );
    engine
        .approve(
            "ship",
            &run.run_id,
            &key("sign_off"),
            "approve",
            Some("ok"),
            "bo",
        )
        .await
        .unwrap();
    let decided = world
        .store
        .instance("ship", &run.run_id, &key("sign_off"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(decided.state, TaskState::Succeeded);
    assert_eq!(
        decided.output,
        Some(serde_json::json!({"choice": "approve", "by": "bo", "note": "ok"}))
    );
    let publish = world
        .store
        .instance("ship", &run.run_id, &key("publish"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(publish.state, TaskState::Queued);
}

const DAILY: &str = "dag: daily\nschedule: '@daily'\ntasks:\n  - id: load\n    depends_on_past: true\n    command: [x]\n";

#[tokio::test]
async fn a_task_depending_on_its_past_waits_for_the_run_before() {
    let world = World::of_specs(&[DAILY]);
    let engine = &world.engine;
    engine
        .backfill("daily", "2026-11-10", "2026-11-11", false, "ana")
        .await
        .unwrap();
    let first = world.next_message().await.expect("the first day's load");
    assert!(first.run_id.contains("2026-11-10"), "{}", first.run_id);
    assert!(
        world.next_message().await.is_none(),
        "the second day's waits"
    );
    engine.dispatch(&first).await.unwrap();
    let failed = Completion {
        outcome: Outcome::Failed {
            reason: "exit code 1".into(),
        },
        exit_code: Some(1),
    };
    engine
        .record_and_advance("daily", &first.run_id, &key("load"), 1, failed)
        .await
        .unwrap();
    engine.tick().await.unwrap();
    assert!(
        world.next_message().await.is_none(),
        "a failed day before holds it"
    );
    engine
        .mark(
            "daily",
            &first.run_id,
            &key("load"),
            TaskState::Succeeded,
            "ana",
        )
        .await
        .unwrap();
    engine.tick().await.unwrap();
    let second = world.next_message().await.expect("now it runs");
    assert!(second.run_id.contains("2026-11-11"), "{}", second.run_id);
}

const PARENT: &str = "dag: parent
params: { day: '2026-12-01' }
tasks:
  - id: kick
    trigger_dag: { dag: child, params: { day: '{{ params.day }}' }, wait: true }
  - id: after
    after: [kick]
    command: [x]
";
const CHILD: &str = "dag: child\nparams:\n  day: { type: string, default: none }\ntasks:\n  - id: work\n    command: [x]\n";

#[tokio::test]
async fn a_trigger_dag_task_starts_a_run_naming_its_parent_and_ends_as_it_ends() {
    let world = World::of_specs(&[PARENT, CHILD]);
    let engine = &world.engine;
    let parent = engine
        .trigger("parent", RunRequest::by("ana"))
        .await
        .unwrap();
    let query = updraft_engine::ports::RunQuery {
        dag: Some("child".into()),
        ..Default::default()
    };
    let children = world.store.runs(&query).await.unwrap();
    assert_eq!(children.len(), 1);
    let child = &children[0];
    assert_eq!(
        child.params["day"], "2026-12-01",
        "its params rendered over the child's"
    );
    let named = child.parent.as_ref().expect("it names its parent");
    assert_eq!(
        (
            named.dag.as_str(),
            named.run_id.as_str(),
            named.task.as_str()
        ),
        ("parent", parent.run_id.as_str(), "kick")
    );
    // Looked at again: the same run, not a second.
    world.clock.set(world.clock.now() + TimeDelta::seconds(10));
    engine.advance("parent", &parent.run_id).await.unwrap();
    assert_eq!(world.store.runs(&query).await.unwrap().len(), 1);

    // The child runs (a tick starts it) and succeeds: the task goes on.
    engine.tick().await.unwrap();
    let message = loop {
        let m = world.next_message().await.expect("the child's try");
        if m.dag == "child" {
            break m;
        }
    };
    engine.dispatch(&message).await.unwrap();
    let done = Completion {
        outcome: Outcome::Succeeded,
        exit_code: Some(0),
    };
    engine
        .record_and_advance("child", &message.run_id, &key("work"), 1, done)
        .await
        .unwrap();
    world.clock.set(world.clock.now() + TimeDelta::seconds(10));
    engine.advance("parent", &parent.run_id).await.unwrap();
    let kick = world
        .store
        .instance("parent", &parent.run_id, &key("kick"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kick.state, TaskState::Succeeded);
    assert_eq!(kick.output.unwrap()["run_id"], child.run_id.as_str());
}

#[tokio::test]
async fn a_trigger_dag_task_whose_params_do_not_fit_fails_saying_why() {
    let child = "dag: child\nparams:\n  day: { type: integer, default: 1 }\ntasks:\n  - id: work\n    command: [x]\n";
    let world = World::of_specs(&[PARENT, child]);
    let parent = world
        .engine
        .trigger("parent", RunRequest::by("ana"))
        .await
        .unwrap();
    let kick = world
        .store
        .instance("parent", &parent.run_id, &key("kick"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kick.state, TaskState::Failed);
    assert_eq!(
        kick.reason.as_deref(),
        Some("cannot start a run of child: param `day`: \"2026-12-01\" is not an integer")
    );
}
