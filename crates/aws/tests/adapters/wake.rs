//! The planner's wake-up on moto's EventBridge Scheduler, through the real
//! requests: a tick sets its successor, a run made meanwhile pulls it
//! within the minute, one set sooner stays.

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;
use updraft_aws::call::Caller;
use updraft_aws::clients::Clients;
use updraft_aws::testing::{deployment, sdk, unique};
use updraft_aws::wake::SchedulerWaker;
use updraft_engine::Engine;
use updraft_engine::ports::Waker;
use updraft_engine::usecase::RunRequest;

use crate::functions::deploy_spec;

fn waker() -> SchedulerWaker {
    SchedulerWaker::new(
        Caller::new(&sdk()),
        unique("wake"),
        "arn:aws:lambda:us-east-1:123456789012:function:planner".into(),
        "arn:aws:iam::123456789012:role/wake".into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wake_up_is_one_schedule_set_again_or_pulled_sooner() {
    let waker = waker();
    assert_eq!(waker.set_for().await.unwrap(), None);
    let now = Utc::now();
    let in_an_hour = now + Duration::hours(1);
    waker.wake_at(in_an_hour).await.unwrap();
    let set = waker.set_for().await.unwrap().unwrap();
    assert!(set >= in_an_hour && set - in_an_hour < Duration::seconds(1));
    waker
        .wake_by(now + Duration::minutes(1), now)
        .await
        .unwrap();
    let pulled = waker.set_for().await.unwrap().unwrap();
    assert!(pulled < set, "pulled sooner: {pulled}");
    waker
        .wake_by(now + Duration::minutes(5), now)
        .await
        .unwrap();
    assert_eq!(waker.set_for().await.unwrap(), Some(pulled), "sooner stays");
    let schedule = Caller::new(&sdk())
        .call("scheduler", "GetSchedule", &json!({"Name": waker.name}))
        .await
        .unwrap();
    assert_eq!(schedule["Target"]["Arn"], waker.planner.as_str());
    assert_eq!(schedule["Target"]["RoleArn"], waker.role.as_str());
    assert_eq!(schedule["FlexibleTimeWindow"]["Mode"], "OFF");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_sets_its_successor_and_a_trigger_pulls_it() {
    let clients = Clients::new(&sdk());
    let settings = deployment(&clients).await;
    let waker = Arc::new(waker());
    let engine = Engine::new(settings.ports(&clients)).with_waker(waker.clone());
    deploy_spec(
        &settings,
        &engine,
        "dag: later\nschedule: '@daily'\nstart: 2099-01-01\ntasks:\n  - id: a\n    command: [echo]\n",
    )
    .await;
    let before = Utc::now();
    let report = engine.tick().await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let set = waker.set_for().await.unwrap().unwrap();
    assert!(
        set - before >= Duration::minutes(59),
        "the safety tick: {set}"
    );
    engine
        .trigger("later", RunRequest::by("tester"))
        .await
        .unwrap();
    let pulled = waker.set_for().await.unwrap().unwrap();
    // Within the minute, rounded up to the second.
    assert!(pulled - Utc::now() <= Duration::seconds(61), "{pulled}");
}
