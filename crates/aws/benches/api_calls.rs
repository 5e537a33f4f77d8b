//! AWS API calls per task attempt, counted by an SDK interceptor on every
//! client of the functions, for the chain example (three tasks, one try
//! each) run through the dispatcher and recorder against moto; and the
//! requests of an idle planner tick. `make bench` runs it.
//!
//! Targets: at most 8 DynamoDB write units per try beyond its run's own
//! (what DynamoDB bills, where a transaction's item counts twice) and 3
//! SQS requests per attempt; an idle tick is 5 queries (issue 11 added the stops a crash
//! left undone, issue 13 the events a failure left unpublished, issue 14
//! the pools) and, since issue 24, the planner's heartbeat. Also what a
//! pool adds to each try.

use std::collections::BTreeMap;
use updraft_engine::usecase::RunRequest;

use aws_sdk_dynamodb::config::SharedInterceptor;
use serde_json::json;
use updraft_aws::clients::Clients;
use updraft_aws::functions::planner;
use updraft_aws::specs::deploy;
use updraft_aws::testing::{
    CallCounter, Ending, Player, WriteUnits, deployment, dispatcher_function, sdk,
};
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
    let units = WriteUnits::default();
    let sdk = sdk();
    let clients = Clients::with_interceptors(
        &sdk,
        &[
            SharedInterceptor::new(counter.clone()),
            SharedInterceptor::new(units.clone()),
        ],
    );
    let mut settings = deployment(&clients).await;
    // As the functions run it: publishing its events to the bus, ringing
    // the dispatcher for what it queues (a function of the test server's
    // that runs nothing: the player plays the invocations).
    settings.dispatcher_function = Some(dispatcher_function(&clients.caller).await);
    let mut counted = clients.clone();
    let ringing = counter.clone();
    counted.caller =
        clients
            .caller
            .clone()
            .observed(std::sync::Arc::new(move |service, action, _| {
                ringing.count(service, action)
            }));
    let engine = settings.engine_over(&counted);
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
    planner(&engine, &settings.bucket, &tick).await.unwrap();
    let first_tick = counter.take();
    planner(&engine, &settings.bucket, &tick).await.unwrap();
    let idle_tick = counter.take();
    units.take();

    let run = engine
        .trigger("chain", RunRequest::by("tester"))
        .await
        .unwrap();
    let trigger = counter.take();
    let trigger_units: f64 = units.take().values().sum();
    let mut player = Player::new(&settings);
    player.duplicate_events = false;
    let (mut dispatcher, mut recorder) = (Counts::new(), Counts::new());
    let mut attempt_units: BTreeMap<String, f64> = BTreeMap::new();
    for _ in 0..20 {
        let delivered = player.deliver(&engine).await;
        add(&mut dispatcher, counter.take());
        let ended = player.finish(&engine, |_| Ending::default()).await;
        add(&mut recorder, counter.take());
        for (operation, n) in units.take() {
            *attempt_units.entry(operation).or_default() += n;
        }
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
    let rings = total(&all, |s, o| (s, o) == ("lambda", "Invoke"));
    println!();
    println!(
        "per attempt: DynamoDB write requests {:.2} (billed by the write units below), DynamoDB reads {:.2}, SQS {:.2} (the send, the dispatcher's receive and delete, and the empty receive that ends each drain: nothing polls), ECS {:.2}, dispatcher rings {:.2}",
        per(writes),
        per(reads),
        per(sqs),
        per(ecs),
        per(rings)
    );
    let by_operation: Vec<String> = attempt_units
        .iter()
        .map(|(operation, n)| format!("{operation} {:.2}", n / ATTEMPTS as f64))
        .collect();
    println!(
        "per attempt: DynamoDB write units {:.2} ({}; the trigger's {trigger_units:.0} units on top), from each request's items by DynamoDB's rules (1 per started KB of an item, twice in a transaction; 1 for an update or a delete)",
        attempt_units.values().sum::<f64>() / ATTEMPTS as f64,
        by_operation.join(", ")
    );
    let (per_try, per_run) = write_units_per_try(&clients, &counter, &units).await;
    println!(
        "DynamoDB write units per try beyond its run's own: {per_try:.2} (target <= 8; a chain of 6 against a chain of 3, trigger to end); each run's own (its trigger, its end): {per_run:.2}"
    );
    println!("trigger (CLI): {} requests", total(&trigger, |_, _| true));
    experiment_queries(&settings, &clients, &counter, &run.run_id).await;
    println!(
        "planner tick, no active runs: first after a deploy {} requests, then {} (target: 5 queries, the heartbeat and the queue's count): {:?}",
        total(&first_tick, |_, _| true),
        total(&idle_tick, |_, _| true),
        idle_tick
            .keys()
            .map(|(s, o)| format!("{s} {o}"))
            .collect::<Vec<_>>()
    );
    let (ticks, idle, scheduler) = idle_day(&clients, &counter).await;
    let by_service: Vec<String> = idle
        .iter()
        .map(|((service, operation), n)| format!("{service} {operation} {n}"))
        .collect();
    println!(
        "an idle stack's simulated day: {ticks} ticks (the hourly safety rule's; target 24), so {ticks} planner invocations; {}; EventBridge Scheduler {scheduler}; nothing polls the task queue",
        by_service.join(", ")
    );
    pool_overhead(&clients, &counter, &units).await;
    // `UPDRAFT_BENCH_SCALE=0` skips the runs at scale (many minutes on moto).
    if std::env::var("UPDRAFT_BENCH_SCALE").as_deref() != Ok("0") {
        scale(&clients, &counter).await;
    }
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

/// Issue 11's scale figures: ticks with 1,000 active runs (those that
/// start them, then one with all of them running), and the recorder
/// expanding a mapped task into 10,000 instances and queueing them, each
/// against the function's timeout.
async fn scale(clients: &Clients, counter: &CallCounter) {
    expansion(clients, counter).await;
    ticks(clients, counter).await;
}

/// The chain run through the dispatcher and recorder after `files` were
/// deployed (`tries` tasks): its requests, how long it took and its
/// DynamoDB write units, trigger to end.
async fn chain_run(
    clients: &Clients,
    (counter, units): (&CallCounter, &WriteUnits),
    files: &[SpecFile],
    tries: usize,
) -> (Counts, std::time::Duration, f64) {
    let settings = deployment(clients).await;
    let engine = settings.engine_over(clients);
    deploy(
        &clients.s3,
        &settings.bucket,
        engine.ports().store.as_ref(),
        files,
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    counter.take();
    units.take();
    engine
        .trigger("chain", RunRequest::by("tester"))
        .await
        .unwrap();
    let mut player = Player::new(&settings);
    player.duplicate_events = false;
    let mut all = counter.take();
    for _ in 0..20 {
        let moved =
            player.deliver(&engine).await + player.finish(&engine, |_| Ending::default()).await;
        add(&mut all, counter.take());
        if moved == 0 {
            break;
        }
    }
    assert_eq!(player.ended.len(), tries);
    let spent = units.take().values().sum();
    (all, started.elapsed(), spent)
}

/// The write units a try costs beyond its run's own (the trigger, the
/// run's end): a chain of six against a chain of three, trigger to end,
/// the difference over the three more tries. Returns that and a run's own.
async fn write_units_per_try(
    clients: &Clients,
    counter: &CallCounter,
    units: &WriteUnits,
) -> (f64, f64) {
    let chain = |n: usize| {
        let mut text = String::from("dag: chain\ntasks:\n  - id: t1\n    command: [echo, t1]\n");
        for i in 2..=n {
            let j = i - 1;
            text += &format!("  - id: t{i}\n    after: [t{j}]\n    command: [echo, t{i}]\n");
        }
        SpecFile {
            name: "chain.yaml".into(),
            text,
        }
    };
    let mut spent = Vec::new();
    for n in [3, 6] {
        spent.push(chain_run(clients, (counter, units), &[chain(n)], n).await.2);
    }
    let per_try = (spent[1] - spent[0]) / 3.0;
    (per_try, spent[0] - 3.0 * per_try)
}

/// An idle stack's requests over a simulated day, as the stack ticks it:
/// by the hourly safety rule, and by the wake-up whenever a tick set it
/// sooner. Its DAGs are deployed and not due that day (a daily DAG from
/// the day after). Returns the ticks, the requests by service and
/// operation, and the Scheduler calls.
async fn idle_day(clients: &Clients, counter: &CallCounter) -> (usize, Counts, usize) {
    use chrono::{Duration, TimeZone, Utc};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use updraft_aws::wake::SchedulerWaker;
    use updraft_engine::memory::ManualClock;

    let daily = "dag: daily\nschedule: '@daily'\nstart: 2026-12-08T12:00:00Z\ntasks:\n  - id: a\n    command: [echo]\n";
    let (mut settings, _) = deployed(clients, daily).await;
    // The stack's queue: each tick asks whether a message waits that no
    // dispatcher took.
    settings.dispatcher_function = Some("updraft-dispatcher".into());
    let day = Utc.with_ymd_and_hms(2026, 12, 7, 0, 30, 0).unwrap();
    let clock = Arc::new(ManualClock::new(day));
    let mut ports = settings.ports(clients);
    ports.clock = clock.clone();
    let schedule = updraft_aws::testing::unique("wake");
    let made = json!({
        "Name": schedule,
        "ScheduleExpression": "at(2099-12-31T00:00:00)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": "arn:aws:lambda:us-east-1:123456789012:function:planner", "RoleArn": "arn:aws:iam::123456789012:role/wake"},
    });
    clients
        .caller
        .call("scheduler", "CreateSchedule", &made)
        .await
        .unwrap();
    let scheduler_calls = Arc::new(AtomicUsize::new(0));
    let calls = scheduler_calls.clone();
    let observed = clients.caller.clone().observed(Arc::new(move |_, _, _| {
        calls.fetch_add(1, Ordering::Relaxed);
    }));
    let engine = Engine::new(ports).with_waker(Arc::new(SchedulerWaker::new(observed, schedule)));
    counter.take();
    scheduler_calls.store(0, Ordering::Relaxed);
    let (mut ticks, mut at, mut rule) = (0, day, day + Duration::hours(1));
    while at < day + Duration::days(1) {
        let report = engine.tick().await.unwrap();
        ticks += 1;
        let woken = (report.next_due < at + Duration::hours(1)).then_some(report.next_due);
        at = woken.map_or(rule, |w| w.min(rule));
        if at == rule {
            rule += Duration::hours(1);
        }
        clock.set(at);
    }
    (
        ticks,
        counter.take(),
        scheduler_calls.load(Ordering::Relaxed),
    )
}

/// What taking and giving back a pool's slot adds to each try: the chain
/// with every task in a pool (never full), against the chain without.
async fn pool_overhead(clients: &Clients, counter: &CallCounter, units: &WriteUnits) {
    let chain = SpecFile {
        name: "chain.yaml".into(),
        text: CHAIN.into(),
    };
    let pooled = SpecFile {
        name: "chain.yaml".into(),
        text: CHAIN.replace("tasks:", "defaults: { pool: gpu }\ntasks:"),
    };
    let pools = SpecFile {
        name: "pools.yaml".into(),
        text: "pools:\n  gpu: 4\n".into(),
    };
    let ran = (counter, units);
    let (plain, plain_time, _) = chain_run(clients, ran, &[chain], ATTEMPTS).await;
    let (with_pool, pool_time, _) = chain_run(clients, ran, &[pooled, pools], ATTEMPTS).await;
    let per = |counts: &Counts, keep: &dyn Fn(&str, &str) -> bool| {
        total(counts, keep) as f64 / ATTEMPTS as f64
    };
    let writes = |s: &str, o: &str| s == "DynamoDB" && is_dynamodb_write(o);
    let reads = |s: &str, o: &str| s == "DynamoDB" && !is_dynamodb_write(o);
    let any = |_: &str, _: &str| true;
    println!(
        "a pool's overhead per try (chain of {ATTEMPTS}, trigger to end, pool never full): requests {:.2} -> {:.2} (DynamoDB writes {:.2} -> {:.2}, reads {:.2} -> {:.2}); time {:.0} ms -> {:.0} ms per try",
        per(&plain, &any),
        per(&with_pool, &any),
        per(&plain, &writes),
        per(&with_pool, &writes),
        per(&plain, &reads),
        per(&with_pool, &reads),
        plain_time.as_secs_f64() * 1000.0 / ATTEMPTS as f64,
        pool_time.as_secs_f64() * 1000.0 / ATTEMPTS as f64,
    );
}

/// A deployment with `spec` deployed, and its engine.
async fn deployed(clients: &Clients, spec: &str) -> (updraft_aws::settings::Settings, Engine) {
    let settings = deployment(clients).await;
    let engine = Engine::new(settings.ports(clients));
    updraft_aws::testing::deploy_spec(&clients.s3, &settings, &engine, spec).await;
    (settings, engine)
}

/// Each invocation gets the function's timeout as its budget, as in
/// Lambda: what does not fit is left to the next one.
fn budget(seconds: u64) -> Option<std::time::Instant> {
    Some(std::time::Instant::now() + std::time::Duration::from_secs(seconds))
}

/// Ticks over 1,000 queued runs until all are started, then one over the
/// same 1,000 runs running.
async fn ticks(clients: &Clients, counter: &CallCounter) {
    let wide = "dag: wide\nmax_active_runs: 1000\ntasks:\n  - id: only\n    command: [echo]\n";
    let (settings, engine) = deployed(clients, wide).await;
    let spec = engine.current_spec("wide").await.unwrap();
    let store = engine.ports().store.clone();
    let base = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    for i in 0..1000 {
        let at = base + chrono::TimeDelta::minutes(i);
        let run = updraft_core::state::Run {
            dag: spec.id.clone(),
            run_id: format!("manual__{i:04}"),
            kind: updraft_core::state::RunKind::Manual,
            state: updraft_core::state::RunState::Queued,
            spec_version: spec.version.clone(),
            logical_date: at,
            data_interval_start: at,
            data_interval_end: at,
            params: Default::default(),
            labels: Vec::new(),
            created_at: at,
            started_at: None,
            ended_at: None,
            triggered_by: "bench".into(),
            note: None,
            reason: None,
            metrics: Default::default(),
            deadline_missed_at: None,
            trigger: None,
            parent: None,
            revision: 0,
        };
        let instances = updraft_core::plan::initial_instances(&spec);
        assert!(store.create_run(&run, &instances, &[]).await.unwrap());
    }
    let tick = json!({"source": "aws.events", "detail-type": "Scheduled Event"});
    // Ticks start the 1,000 queued runs (as many as each budget allows),
    // then one more finds all 1,000 running: the steady tick.
    let mut starting = true;
    for n in 1..=6 {
        counter.take();
        let started = std::time::Instant::now();
        engine.set_deadline(budget(60));
        let report = planner(&engine, &settings.bucket, &tick).await.unwrap();
        let took = started.elapsed();
        let calls = counter.take();
        let label = match starting {
            true => format!("tick {n} starting 1,000 queued runs"),
            false => "tick over 1,000 running runs (the steady tick)".to_string(),
        };
        println!(
            "planner {label}: {} requests in {:.1} s (budget 60 s): {} runs advanced, {} left to the next tick",
            total(&calls, |_, _| true),
            took.as_secs_f64(),
            report["advanced"],
            report["deferred"]
        );
        if !starting {
            break;
        }
        starting = report["deferred"] != 0;
    }
}

/// The recorder ending a task that a mapped task of 10,000 items follows.
async fn expansion(clients: &Clients, counter: &CallCounter) {
    let fan = "dag: fan\nparams: { items: [] }\ntasks:\n  - id: first\n    command: [echo]\n  - id: each\n    after: [first]\n    map_over: \"{{ params.items }}\"\n    command: [echo]\n";
    let (settings, engine) = deployed(clients, fan).await;
    let store = engine.ports().store.clone();
    let items: Vec<usize> = (0..10_000).collect();
    let request = RunRequest {
        params: serde_json::Map::from_iter([("items".to_string(), json!(items))]),
        ..RunRequest::by("bench")
    };
    let run = engine.trigger("fan", request).await.unwrap();
    let mut player = Player::new(&settings);
    player.duplicate_events = false;
    let first = loop {
        player.deliver(&engine).await;
        let attempt = store
            .attempt(
                "fan",
                &run.run_id,
                &updraft_core::state::TaskKey::task(
                    updraft_core::ids::TaskId::parse("first").unwrap(),
                ),
                1,
            )
            .await
            .unwrap();
        if let Some(handle) = attempt.and_then(|a| a.handle) {
            break handle;
        }
    };
    counter.take();
    let started = std::time::Instant::now();
    engine.set_deadline(budget(30));
    let done = updraft_engine::ports::Completion {
        outcome: updraft_core::plan::Outcome::Succeeded,
        exit_code: Some(0),
    };
    engine.record_handle(&first, done).await.unwrap();
    let took = started.elapsed();
    let calls = counter.take();
    let instances = store.instances("fan", &run.run_id).await.unwrap();
    let queued = instances
        .iter()
        .filter(|i| i.state == updraft_core::state::TaskState::Queued)
        .count();
    println!(
        "recorder, expanding a mapped task into 10,000 instances and queueing them (budget 30 s): {} instances made, {queued} queued, {} requests in {:.1} s: {}",
        instances.len() - 2,
        total(&calls, |_, _| true),
        took.as_secs_f64(),
        calls
            .iter()
            .map(|((s, o), n)| format!("{s} {o} x{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // What the recorder's budget left, the next planner tick queues.
    let tick = json!({"source": "aws.events", "detail-type": "Scheduled Event"});
    counter.take();
    let started = std::time::Instant::now();
    engine.set_deadline(budget(60));
    planner(&engine, &settings.bucket, &tick).await.unwrap();
    let took = started.elapsed();
    let calls = counter.take();
    let queued = store
        .instances("fan", &run.run_id)
        .await
        .unwrap()
        .iter()
        .filter(|i| i.state == updraft_core::state::TaskState::Queued)
        .count();
    println!(
        "the next planner tick (budget 60 s): {queued} of 10,000 queued, {} requests in {:.1} s",
        total(&calls, |_, _| true),
        took.as_secs_f64(),
    );
}
