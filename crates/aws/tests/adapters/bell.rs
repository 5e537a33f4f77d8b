//! Nothing polls the task queue: whoever queues a try rings the
//! dispatcher (an asynchronous Lambda invocation), coalesced for a fan-out,
//! and the tick rings for what a dispatcher that died left. On a moto
//! server of their own: each ring is an `Invoke`, which moto answers with
//! the canned Lambda replies other tests set on theirs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use updraft_aws::bell::{DispatcherBell, MAX_DISPATCHERS};
use updraft_aws::call::{CallObserver, Caller};
use updraft_aws::clients::Clients;
use updraft_aws::functions::{dispatcher, planner};
use updraft_aws::settings::Settings;
use updraft_aws::sqs::SqsQueue;
use updraft_aws::testing::{OwnServer, deploy_spec, deployment, unique};
use updraft_core::ids::TaskId;
use updraft_core::state::{TaskKey, TaskState};
use updraft_engine::Engine;
use updraft_engine::ports::{TaskMessage, TaskQueue};
use updraft_engine::usecase::RunRequest;

/// The parameters of every Lambda `Invoke` a caller sent.
#[derive(Clone, Default)]
struct Invokes(Arc<Mutex<Vec<Value>>>);

impl Invokes {
    fn observer(&self) -> CallObserver {
        let seen = self.0.clone();
        Arc::new(move |service, action, params| {
            if (service, action) == ("lambda", "Invoke") {
                seen.lock().unwrap().push(Value::Object(params.clone()));
            }
        })
    }

    fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A deployment on `server` that names its dispatcher function, every
/// Lambda call seen by `invokes`, with `spec` deployed: its settings, the
/// engine over it and the dispatcher's name.
async fn ringing_deployment(
    server: &OwnServer,
    invokes: &Invokes,
    spec: &str,
) -> (Settings, Engine, String) {
    let mut clients = Clients::new(&server.sdk());
    clients.caller = clients.caller.observed(invokes.observer());
    let function = server.dispatcher_function(&clients.caller).await;
    let mut settings = deployment(&clients).await;
    settings.dispatcher_function = Some(function.clone());
    (settings.ecs.subnets, settings.ecs.security_groups) = server.default_network();
    let engine = settings.engine_over(&clients);
    deploy_spec(&clients.s3, &settings, &engine, spec).await;
    (settings, engine, function)
}

fn message(i: u32) -> TaskMessage {
    TaskMessage {
        dag: "fan".into(),
        run_id: "manual__1".into(),
        key: TaskKey {
            task_id: TaskId::parse("f").unwrap(),
            map_index: Some(i),
        },
        try_number: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_of_ten_thousand_wakes_ten_dispatchers() {
    let server = OwnServer::start();
    let invokes = Invokes::default();
    let caller = Caller::new(&server.sdk()).observed(invokes.observer());
    let function = server.dispatcher_function(&caller).await;
    let clients = Clients::new(&server.sdk());
    let url = updraft_aws::schema::create_queues(&clients.sqs, &unique("tasks"))
        .await
        .unwrap();
    let bell = DispatcherBell::new(caller, function.clone());
    let queue = SqsQueue::new(clients.sqs.clone(), url).ringing(Arc::new(bell));

    let fan_out: Vec<TaskMessage> = (0..10_000).map(message).collect();
    queue.send_many(&fan_out).await.unwrap();
    let rung = invokes.take();
    assert_eq!(rung.len(), MAX_DISPATCHERS, "coalesced");
    for invoke in &rung {
        assert_eq!(invoke["FunctionName"], function.as_str());
        assert_eq!(invoke["InvocationType"], "Event", "asynchronous");
    }
    assert_eq!(queue.visible().await.unwrap(), 10_000);

    queue.send(&message(0), Duration::ZERO).await.unwrap();
    assert_eq!(invokes.take().len(), 1, "one try, one dispatcher");
    // A delayed message (a retry's wake-up) is not visible yet: the tick
    // rings for it once it is.
    queue
        .send(&message(1), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(invokes.take().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_try_wakes_the_dispatcher_and_the_tick_replaces_one_that_died() {
    let server = OwnServer::start();
    let invokes = Invokes::default();
    let spec = "dag: chain\ntasks:\n  - id: a\n    command: [a]\n  - id: b\n    after: [a]\n    command: [b]\n";
    let (settings, engine, function) = ringing_deployment(&server, &invokes, spec).await;

    let run = engine
        .trigger("chain", RunRequest::by("tester"))
        .await
        .unwrap();
    let rung = invokes.take();
    assert_eq!(rung.len(), 1, "the trigger woke one dispatcher");
    assert_eq!(rung[0]["FunctionName"], function.as_str());
    // That dispatcher died before it received anything: the next tick
    // finds the message waiting and wakes another.
    let tick = json!({"source": "aws.events", "detail-type": "Scheduled Event"});
    planner(&engine, &settings.bucket, &tick).await.unwrap();
    let rung = invokes.take();
    assert_eq!(rung.len(), 1, "the tick woke a dispatcher");
    // Lambda runs it.
    let drained = dispatcher(&engine, &rung[0]["Payload"]).await.unwrap();
    assert_eq!(drained["received"], 1, "{drained}");
    let a = engine
        .ports()
        .store
        .instance(
            "chain",
            &run.run_id,
            &TaskKey::task(TaskId::parse("a").unwrap()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.state, TaskState::Running, "{a:?}");
    // Nothing waits now: the next tick wakes no one.
    planner(&engine, &settings.bucket, &tick).await.unwrap();
    assert_eq!(invokes.take().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_consumer_rings_only_for_what_its_next_receive_leaves() {
    let server = OwnServer::start();
    let invokes = Invokes::default();
    let caller = Caller::new(&server.sdk()).observed(invokes.observer());
    let function = server.dispatcher_function(&caller).await;
    let clients = Clients::new(&server.sdk());
    let url = updraft_aws::schema::create_queues(&clients.sqs, &unique("tasks"))
        .await
        .unwrap();
    let bell = DispatcherBell::new(caller, function);
    let queue = SqsQueue::new(clients.sqs.clone(), url).ringing(Arc::new(bell));

    queue.send(&message(0), Duration::ZERO).await.unwrap();
    assert_eq!(invokes.take().len(), 1, "no one drains yet");
    assert_eq!(queue.receive(10).await.unwrap().len(), 1);
    // Mid-drain, its next receive takes up to ten of what it sends.
    queue.send(&message(1), Duration::ZERO).await.unwrap();
    assert_eq!(invokes.take().len(), 0, "the drainer takes its own");
    let more: Vec<TaskMessage> = (2..26).map(message).collect();
    queue.send_many(&more).await.unwrap();
    assert_eq!(
        invokes.take().len(),
        2,
        "nine more are its own; fifteen wake two others"
    );
    // A receive starts a fresh allowance.
    assert_eq!(queue.receive(10).await.unwrap().len(), 10);
    let next: Vec<TaskMessage> = (26..36).map(message).collect();
    queue.send_many(&next).await.unwrap();
    assert_eq!(invokes.take().len(), 0);
    queue.send(&message(36), Duration::ZERO).await.unwrap();
    assert_eq!(invokes.take().len(), 1, "the eleventh since the receive");
    // A drain ends on an empty receive: from then on every send rings.
    while !queue.receive(10).await.unwrap().is_empty() {}
    queue.send(&message(37), Duration::ZERO).await.unwrap();
    assert_eq!(invokes.take().len(), 1, "the drain is over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_whose_settle_queues_a_try_drains_it_without_waking_another() {
    let server = OwnServer::start();
    let invokes = Invokes::default();
    // Lambda refuses to invoke a function that does not exist: the try
    // fails, and its retry is due at once.
    let spec = "dag: flaky\ncompute:\n  fn: { kind: lambda, function: not-there }\ntasks:\n  - id: a\n    compute: fn\n    retries: 1\n    retry_delay: 0s\n";
    let (_, engine, _) = ringing_deployment(&server, &invokes, spec).await;
    let run = engine
        .trigger("flaky", RunRequest::by("tester"))
        .await
        .unwrap();
    let rung = invokes.take();
    assert_eq!(rung.len(), 1, "the trigger woke one dispatcher");

    let drained = dispatcher(&engine, &rung[0]["Payload"]).await.unwrap();
    assert_eq!(drained["received"], 2, "the try and its retry: {drained}");
    assert_eq!(
        invokes.take().len(),
        0,
        "the retry woke no second dispatcher"
    );
    let a = engine
        .ports()
        .store
        .instance(
            "flaky",
            &run.run_id,
            &TaskKey::task(TaskId::parse("a").unwrap()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.state, a.try_number), (TaskState::Failed, 2), "{a:?}");
}
