//! AWS API calls per task attempt, counted by an SDK interceptor on every
//! client of the functions, for the chain example (three tasks, one try
//! each) run through the dispatcher and recorder against moto; and the
//! requests of an idle planner tick. `make bench` runs it.
//!
//! Targets (issue #4): at most 6 DynamoDB writes and 3 SQS requests per
//! attempt; an idle tick is 3 queries (issue 11 added the stops a crash
//! left undone).

use std::collections::BTreeMap;
use updraft_engine::usecase::RunRequest;

use aws_sdk_dynamodb::config::SharedInterceptor;
use serde_json::json;
use updraft_aws::clients::Clients;
use updraft_aws::functions::planner;
use updraft_aws::specs::deploy;
use updraft_aws::testing::{CallCounter, Ending, Player, deployment, sdk};
use updraft_core::spec::SpecFile;
use updraft_engine::Engine;

const CHAIN: &str = "dag: chain\ntasks:\n  - id: a\n    command: [echo, a]\n  - id: b\n    after: [a]\n    command: [echo, b]\n  - id: c\n    after: [b]\n    command: [echo, c]\n";
const ATTEMPTS: usize = 3;

type Counts = BTreeMap<(String, String), usize>;

fn add(into: &mut Counts, from: Counts) {
    for (key, n) in from {
        *into.entry(key).or_default() += n;
    }
}

fn is_dynamodb_write(operation: &str) -> bool {
    matches!(
        operation,
        "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems"
    )
}

fn total(counts: &Counts, keep: impl Fn(&str, &str) -> bool) -> usize {
    counts
        .iter()
        .filter(|((service, operation), _)| keep(service, operation))
        .map(|(_, n)| n)
        .sum()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let counter = CallCounter::default();
    let sdk = sdk();
    let clients = Clients::with_interceptors(&sdk, &[SharedInterceptor::new(counter.clone())]);
    let settings = deployment(&clients).await;
    let engine = Engine::new(settings.ports(&clients));
    let spec = SpecFile {
        name: "chain.yaml".into(),
        text: CHAIN.into(),
    };
    deploy(
        &clients.s3,
        &settings.bucket,
        engine.ports().store.as_ref(),
        &[spec],
    )
    .await
    .unwrap();

    let tick = json!({"source": "aws.events", "detail-type": "Scheduled Event"});
    counter.take();
    planner(&engine, &clients.s3, &settings.bucket, &tick)
        .await
        .unwrap();
    let first_tick = counter.take();
    planner(&engine, &clients.s3, &settings.bucket, &tick)
        .await
        .unwrap();
    let idle_tick = counter.take();

    let run = engine
        .trigger("chain", RunRequest::by("tester"))
        .await
        .unwrap();
    let trigger = counter.take();
    let mut player = Player::new(&settings);
    player.duplicate_events = false;
    let (mut dispatcher, mut recorder) = (Counts::new(), Counts::new());
    for _ in 0..20 {
        let delivered = player.deliver(&engine).await;
        add(&mut dispatcher, counter.take());
        let ended = player.finish(&engine, |_| Ending::default()).await;
        add(&mut recorder, counter.take());
        if delivered + ended == 0 {
            break;
        }
    }
    let state = engine
        .ports()
        .store
        .run("chain", &run.run_id)
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state.to_string(), "succeeded", "the chain ran");
    assert_eq!(player.ended.len(), ATTEMPTS);

    println!(
        "AWS API calls of the functions, chain of {ATTEMPTS} tasks, one try each (moto 5.2.5)"
    );
    println!(
        "{:<10} {:<22} {:>10} {:>9} {:>12}",
        "service", "operation", "dispatcher", "recorder", "per attempt"
    );
    let mut all = dispatcher.clone();
    add(&mut all, recorder.clone());
    for (key, n) in &all {
        println!(
            "{:<10} {:<22} {:>10} {:>9} {:>12.2}",
            key.0,
            key.1,
            dispatcher.get(key).copied().unwrap_or_default(),
            recorder.get(key).copied().unwrap_or_default(),
            *n as f64 / ATTEMPTS as f64
        );
    }
    let per = |n: usize| n as f64 / ATTEMPTS as f64;
    let writes = total(&all, |s, o| s == "DynamoDB" && is_dynamodb_write(o));
    let reads = total(&all, |s, o| s == "DynamoDB" && !is_dynamodb_write(o));
    let sqs = total(&all, |s, _| s == "SQS");
    let ecs = total(&all, |s, _| s == "ECS");
    println!();
    println!(
        "per attempt: DynamoDB writes {:.2} (target <= 6), DynamoDB reads {:.2}, SQS {:.2} (target <= 3), ECS {:.2}",
        per(writes),
        per(reads),
        per(sqs),
        per(ecs)
    );
    println!(
        "  (the SQS event source's ReceiveMessage and DeleteMessage come on top, batched up to 10 messages each)"
    );
    println!("trigger (CLI): {} requests", total(&trigger, |_, _| true));
    experiment_queries(&settings, &clients, &counter, &run.run_id).await;
    println!(
        "planner tick, no active runs: first after a deploy {} requests, then {} (target <= 3): {:?}",
        total(&first_tick, |_, _| true),
        total(&idle_tick, |_, _| true),
        idle_tick
            .keys()
            .map(|(s, o)| format!("{s} {o}"))
            .collect::<Vec<_>>()
    );
}

/// The requests of the experiment commands, each on a fresh engine as a
/// CLI call has (nothing cached): `runs DAG --columns ...` is one Query of
/// the DAG's partition per page and one GetItem per spec version its runs
/// use; nothing scans the table.
async fn experiment_queries(
    settings: &updraft_aws::settings::Settings,
    clients: &Clients,
    counter: &CallCounter,
    run_id: &str,
) {
    let fresh = || Engine::new(settings.ports(clients));
    counter.take();
    let query = updraft_engine::ports::RunQuery {
        dag: Some("chain".into()),
        ..Default::default()
    };
    let engine = fresh();
    let runs = engine.runs(&query, None).await.unwrap();
    engine.import_errors().await.unwrap();
    let listed = counter.take();
    fresh().versions("chain").await.unwrap();
    let versions = counter.take();
    let ids = [run_id.to_string(), run_id.to_string()];
    fresh().compare("chain", &ids).await.unwrap();
    let compare = counter.take();
    let scans = [&listed, &versions, &compare]
        .iter()
        .map(|c| total(c, |s, o| s == "DynamoDB" && o == "Scan"))
        .sum::<usize>();
    assert_eq!(scans, 0, "no experiment query scans the table");
    let show = |c: &Counts| {
        c.iter()
            .map(|((s, o), n)| format!("{s} {o} x{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "runs chain --columns (CLI), {} run(s): {} requests: {}",
        runs.len(),
        total(&listed, |_, _| true),
        show(&listed)
    );
    println!(
        "versions chain (CLI): {} requests: {}",
        total(&versions, |_, _| true),
        show(&versions)
    );
    println!(
        "compare chain RUN RUN (CLI): {} requests: {}",
        total(&compare, |_, _| true),
        show(&compare)
    );
}
