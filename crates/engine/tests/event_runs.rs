//! Issue 13, triggers: a run of A that ends starts exactly one run of B
//! with A's logical date (only if B waits for that end); an artifact a run
//! produced, or one that appeared in a bucket, starts one run with the
//! pattern's parts as params, also when told twice; with `debounce`, the
//! events of a window start one run that lists them all.

use chrono::TimeDelta;
use updraft_core::plan::Outcome;
use updraft_core::state::{RunKind, RunState, TaskKey};
use updraft_engine::ports::{Clock, Completion};
use updraft_engine::testing::World;
use updraft_engine::usecase::{BY_EVENTS, RunRequest};

const A: &str = "dag: a\ntasks:\n  - id: t\n    command: [x]\n";
const B: &str = "dag: b\ntriggers:\n  - dag: a\ntasks:\n  - id: t\n    command: [echo, '{{ trigger.run_id }}']\n";

fn key(task: &str) -> TaskKey {
    TaskKey::task(updraft_core::ids::TaskId::parse(task).unwrap())
}

fn ending(ok: bool) -> Completion {
    Completion {
        outcome: match ok {
            true => Outcome::Succeeded,
            false => Outcome::Failed {
                reason: "exit code 1".into(),
            },
        },
        exit_code: Some(i32::from(!ok)),
    }
}

/// Runs DAG `dag` to its end, each try ending as `ok` says; returns the run id.
async fn run_to_end(world: &World, dag: &str, ok: bool) -> String {
    let run = world
        .engine
        .trigger(dag, RunRequest::by("ana"))
        .await
        .unwrap();
    // Tries of runs it triggered before may wait on the queue ahead of it.
    let message = loop {
        let message = world.next_message().await.expect("a queued try");
        if message.run_id == run.run_id {
            break message;
        }
    };
    world.engine.dispatch(&message).await.unwrap();
    world
        .engine
        .record_and_advance(dag, &run.run_id, &key("t"), 1, ending(ok))
        .await
        .unwrap();
    run.run_id
}

async fn runs_of(world: &World, dag: &str) -> Vec<updraft_core::state::Run> {
    let query = updraft_engine::ports::RunQuery {
        dag: Some(dag.into()),
        ..Default::default()
    };
    world.store.runs(&query).await.unwrap()
}

#[tokio::test]
async fn a_succeeded_run_of_a_starts_exactly_one_run_of_b_with_its_logical_date() {
    let world = World::of_specs(&[A, B]);
    let upstream = run_to_end(&world, "a", true).await;
    let b = runs_of(&world, "b").await;
    assert_eq!(b.len(), 1, "{b:?}");
    let a = world.store.run("a", &upstream).await.unwrap().unwrap();
    assert_eq!(b[0].logical_date, a.logical_date);
    assert_eq!(
        (b[0].data_interval_start, b[0].data_interval_end),
        (a.data_interval_start, a.data_interval_end)
    );
    assert_eq!(
        (b[0].kind, b[0].triggered_by.as_str()),
        (RunKind::Triggered, BY_EVENTS)
    );
    let trigger = b[0].trigger.as_ref().unwrap();
    assert_eq!(trigger.events[0]["run_id"], upstream.as_str());
    assert_eq!(
        trigger.describe(),
        format!("run {upstream} of a (succeeded)")
    );
    // `{{ trigger }}` names the upstream run.
    let message = world.next_message().await.expect("b's try");
    assert_eq!(message.dag, "b");
    let detail = world.engine.run_detail("b", &b[0].run_id).await.unwrap();
    let (rendered, _, _) = world
        .engine
        .rendered_try(&detail, &key("t"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rendered.command.unwrap(), ["echo", upstream.as_str()]);

    // The same end told again (a tick publishing it twice) starts no other.
    world.engine.tick().await.unwrap();
    world.engine.tick().await.unwrap();
    assert_eq!(runs_of(&world, "b").await.len(), 1);
}

#[tokio::test]
async fn a_failed_run_of_a_starts_b_only_when_b_waits_for_failures() {
    let world = World::of_specs(&[A, B]);
    run_to_end(&world, "a", false).await;
    assert!(runs_of(&world, "b").await.is_empty());

    let on_failure = B.replace("  - dag: a\n", "  - dag: a\n    state: failed\n");
    let world = World::of_specs(&[A, &on_failure]);
    run_to_end(&world, "a", false).await;
    assert_eq!(runs_of(&world, "b").await.len(), 1);
    let any = B.replace("  - dag: a\n", "  - dag: a\n    state: any\n");
    let world = World::of_specs(&[A, &any]);
    run_to_end(&world, "a", true).await;
    world.clock.set(world.clock.now() + TimeDelta::seconds(1));
    run_to_end(&world, "a", false).await;
    assert_eq!(runs_of(&world, "b").await.len(), 2);
}

const PRODUCER: &str = "dag: producer\ntasks:\n  - id: t\n    command: [x]\n    produces: [\"s3://lake/raw/{{ ds }}/part.parquet\"]\n";
const CONSUMER: &str = "dag: consumer\ntriggers:\n  - artifact: \"s3://lake/raw/{date}/*.parquet\"\ntasks:\n  - id: t\n    command: [echo, '{{ params.date }}', '{{ trigger.uri }}']\n";

#[tokio::test]
async fn an_artifact_a_run_produced_starts_a_run_with_the_patterns_parts_as_params() {
    let world = World::of_specs(&[PRODUCER, CONSUMER]);
    let producer = run_to_end(&world, "producer", true).await;
    let runs = runs_of(&world, "consumer").await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].params["date"], "2026-11-21");
    let trigger = runs[0].trigger.as_ref().unwrap();
    assert_eq!(
        trigger.events[0]["uri"],
        "s3://lake/raw/2026-11-21/part.parquet"
    );
    assert_eq!(trigger.events[0]["producer"]["run_id"], producer.as_str());
    // Lineage links the producer's run and the consumer's.
    let records = world
        .store
        .artifact("s3://lake/raw/2026-11-21/part.parquet")
        .await
        .unwrap();
    let mut users: Vec<(String, String)> = records
        .iter()
        .map(|r| (r.dag.to_string(), format!("{:?}", r.used)))
        .collect();
    users.sort();
    assert_eq!(
        users,
        [
            ("consumer".to_string(), "Consumed".to_string()),
            ("producer".to_string(), "Produced".to_string())
        ]
    );
}

#[tokio::test]
async fn an_object_in_a_bucket_told_twice_starts_one_run() {
    let world = World::of_specs(&[CONSUMER]);
    let at = world.clock.now();
    let uri = "s3://lake/raw/2026-11-20/x.parquet";
    let first = world
        .engine
        .artifact_appeared(uri, Some("v1".into()), at)
        .await
        .unwrap();
    let again = world
        .engine
        .artifact_appeared(uri, Some("v1".into()), at)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert!(again.is_empty(), "told twice, started once");
    let runs = runs_of(&world, "consumer").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].params["date"], "2026-11-20");
    assert_eq!(runs[0].trigger.as_ref().unwrap().events[0]["version"], "v1");
    let none = world
        .engine
        .artifact_appeared("s3://lake/other/x.parquet", None, at)
        .await
        .unwrap();
    assert!(none.is_empty(), "no pattern matches");
}

#[tokio::test]
async fn five_objects_within_the_debounce_window_start_one_run_listing_five() {
    let debounced = CONSUMER.replace("*.parquet\"\n", "*.parquet\"\n    debounce: 5m\n");
    let world = World::of_specs(&[&debounced]);
    let start = world.clock.now();
    for i in 0..5 {
        let at = start + TimeDelta::seconds(10 * i);
        world.clock.set(at);
        let uri = format!("s3://lake/raw/2026-11-20/part-{i}.parquet");
        world
            .engine
            .artifact_appeared(&uri, None, at)
            .await
            .unwrap();
        // One told twice joins once.
        world
            .engine
            .artifact_appeared(&uri, None, at)
            .await
            .unwrap();
    }
    let runs = runs_of(&world, "consumer").await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let trigger = runs[0].trigger.as_ref().unwrap();
    assert_eq!(trigger.events.len(), 5);
    assert_eq!(
        runs[0].state,
        RunState::Queued,
        "gathering until the window ends"
    );
    assert!(world.next_message().await.is_none(), "nothing runs yet");
    world.clock.set(trigger.gather_until.unwrap());
    world.engine.tick().await.unwrap();
    let run = world
        .store
        .run("consumer", &runs[0].run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.state, RunState::Running);
    assert!(world.next_message().await.is_some(), "its task is queued");
}

#[tokio::test]
async fn a_paused_dag_starts_no_triggered_run() {
    let world = World::of_specs(&[A, B]);
    world.engine.sync_specs().await.unwrap();
    world.engine.set_paused("b", true).await.unwrap();
    run_to_end(&world, "a", true).await;
    assert!(runs_of(&world, "b").await.is_empty());
}

/// A run that ended in a process that published nothing (it died, or it is
/// a command that leaves its events to `updraft dev`) still starts the run
/// it implies: the next tick finds the end in the outbox.
#[tokio::test]
async fn an_end_left_in_the_outbox_starts_its_runs_at_the_next_tick() {
    let world = World::of_specs(&[A, B]);
    let quiet = updraft_engine::Engine::new(world.engine.ports().clone()).keeping_events();
    let run = quiet.trigger("a", RunRequest::by("ana")).await.unwrap();
    let message = world.next_message().await.expect("a's try");
    quiet.dispatch(&message).await.unwrap();
    quiet
        .record_and_advance("a", &run.run_id, &key("t"), 1, ending(true))
        .await
        .unwrap();
    assert!(runs_of(&world, "b").await.is_empty(), "nothing reacted yet");
    world.engine.tick().await.unwrap();
    assert_eq!(runs_of(&world, "b").await.len(), 1);
    world.engine.tick().await.unwrap();
    assert_eq!(runs_of(&world, "b").await.len(), 1, "and only once");
}

/// A try producing more artifacts than an event lists: the event lists a
/// hundred and counts them all, and the trigger still sees every one.
#[tokio::test]
async fn a_try_with_many_artifacts_triggers_on_every_one() {
    let produces: Vec<String> = (0..150)
        .map(|i| format!("\"s3://lake/raw/{{{{ ds }}}}/p{i}.parquet\""))
        .collect();
    let producer = format!(
        "dag: producer\ntasks:\n  - id: t\n    command: [x]\n    produces: [{}]\n",
        produces.join(", ")
    );
    let consumer = CONSUMER.replace("*.parquet\"\n", "*.parquet\"\n    debounce: 5m\n");
    let world = World::of_specs(&[&producer, &consumer]);
    run_to_end(&world, "producer", true).await;
    let event = world
        .bus
        .published()
        .into_iter()
        .find(|n| n.detail_type == updraft_core::notify::ARTIFACT_PRODUCED)
        .expect("the artifacts' event");
    assert_eq!(event.detail["uris"].as_array().unwrap().len(), 100);
    assert_eq!(event.detail["uri_count"], 150);
    let runs = runs_of(&world, "consumer").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].trigger.as_ref().unwrap().events.len(), 150);
}
