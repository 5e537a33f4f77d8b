//! The planner's wake-up on moto's EventBridge Scheduler, through the real
//! requests: a tick sets its successor, a run made meanwhile pulls it
//! within the minute, one set sooner stays.

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;
use updraft_aws::call::Caller;
use updraft_aws::clients::Clients;
use updraft_aws::functions::planner;
use updraft_aws::testing::{deployment, s3, sdk, unique};
use updraft_aws::wake::SchedulerWaker;
use updraft_engine::Engine;
use updraft_engine::ports::Waker;
use updraft_engine::usecase::RunRequest;

use crate::functions::deploy_spec;

const PLANNER: &str = "arn:aws:lambda:us-east-1:123456789012:function:planner";
const ROLE: &str = "arn:aws:iam::123456789012:role/wake";

/// A waker of a schedule made as the stack makes it.
async fn waker() -> SchedulerWaker {
    SchedulerWaker::new(Caller::new(&sdk()), stack_schedule().await)
}

/// A wake-up schedule made as the stack makes it (far in the future until
/// a tick moves it); its name.
pub(crate) async fn stack_schedule() -> String {
    let name = unique("wake");
    let made = json!({
        "Name": name,
        "ScheduleExpression": "at(2099-12-31T00:00:00)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": PLANNER, "RoleArn": ROLE, "Input": "{\"source\":\"updraft.wake\"}"},
    });
    Caller::new(&sdk())
        .call("scheduler", "CreateSchedule", &made)
        .await
        .unwrap();
    name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wake_up_is_one_schedule_set_again_or_pulled_sooner() {
    let waker = waker().await;
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
    assert_eq!(
        schedule["Target"]["Arn"], PLANNER,
        "the stack's target kept"
    );
    assert_eq!(schedule["Target"]["RoleArn"], ROLE);
    assert_eq!(schedule["FlexibleTimeWindow"]["Mode"], "OFF");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_sets_its_successor_and_a_trigger_pulls_it() {
    let clients = Clients::new(&sdk());
    let settings = deployment(&clients).await;
    let waker = Arc::new(waker().await);
    let engine = Engine::new(settings.ports(&clients)).with_waker(waker.clone());
    // Every ten minutes from five minutes on: nothing runs yet, and the
    // first point is 5 to 15 minutes away.
    let start = (Utc::now() + Duration::minutes(5)).to_rfc3339();
    let spec = format!(
        "dag: later\nschedule: '*/10 * * * *'\nstart: {start}\ntasks:\n  - id: a\n    command: [echo]\n"
    );
    deploy_spec(&settings, &engine, &spec).await;
    let report = engine.tick().await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let set = waker.set_for().await.unwrap().unwrap();
    let away = set - Utc::now();
    assert!(
        away > Duration::minutes(4) && away <= Duration::minutes(15),
        "the first point: {set}"
    );
    engine
        .trigger("later", RunRequest::by("tester"))
        .await
        .unwrap();
    let pulled = waker.set_for().await.unwrap().unwrap();
    // Within the minute, rounded up to the second.
    assert!(pulled - Utc::now() <= Duration::seconds(61), "{pulled}");
}

/// A DAG uploaded while the planner sleeps until its safety tick, and due
/// sooner: the upload's planner invocation sets the wake-up for its point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_of_a_dag_due_sooner_moves_the_wake_up() {
    let clients = Clients::new(&sdk());
    let settings = deployment(&clients).await;
    let waker = Arc::new(waker().await);
    let engine = settings.engine_over(&clients).with_waker(waker.clone());
    let start = (Utc::now() + Duration::minutes(5)).to_rfc3339();
    let spec = format!(
        "dag: soon\nschedule: '*/10 * * * *'\nstart: {start}\ntasks:\n  - id: a\n    command: [echo]\n"
    );
    s3().put_object()
        .bucket(&settings.bucket)
        .key("specs/soon.yaml")
        .body(spec.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let uploaded = json!({
        "detail-type": "Object Created", "source": "aws.s3",
        "detail": {"bucket": {"name": settings.bucket}, "object": {"key": "specs/soon.yaml"}}
    });
    let synced = planner(&engine, &settings.bucket, &uploaded).await.unwrap();
    assert_eq!(synced["synced"][0]["dag"], "soon", "{synced}");
    let set = waker.set_for().await.unwrap().unwrap();
    let away = set - Utc::now();
    assert!(
        away > Duration::minutes(4) && away <= Duration::minutes(15),
        "the new DAG's first point: {set}"
    );
    assert_eq!(synced["next_due"], set.to_rfc3339(), "{synced}");
}
