//! The audit entry of a rerun is written before the rerun's changes: a
//! rerun that fails right after it (injected: DynamoDB refuses every write
//! putting a task instance back to `pending`) leaves the entry saying what
//! was asked and the run as it was; asked again, the rerun goes through
//! and adds its own entry.

use aws_sdk_dynamodb::config::SharedInterceptor;
use updraft_aws::clients::Clients;
use updraft_aws::testing::{RefuseState, sdk};
use updraft_core::ids::TaskId;
use updraft_core::plan::Rerun;
use updraft_core::state::TaskState;
use updraft_engine::Engine;
use updraft_engine::usecase::RunRequest;

use crate::functions::{CHAIN, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_that_fails_after_its_audit_entry_changes_nothing_else_and_can_be_asked_again() {
    let world = world(CHAIN).await;
    let faulty = Engine::new(world.settings.ports(&Clients::with_interceptors(
        &sdk(),
        &[SharedInterceptor::new(RefuseState("pending"))],
    )));
    let run = world
        .engine
        .trigger("chain", RunRequest::by("ana"))
        .await
        .unwrap();
    let id = run.run_id.as_str();
    let store = &world.engine.ports().store;
    let before = store.instances("chain", id).await.unwrap();
    assert!(before.iter().any(|i| i.state == TaskState::Queued));
    let request = Rerun {
        tasks: vec![TaskId::parse("a").unwrap()],
        ..Rerun::default()
    };

    let failed = faulty
        .rerun("chain", id, &request, "bob", Some("again".into()))
        .await;
    assert!(failed.is_err(), "the injected fault stops the rerun");
    let audit = store.audit("chain", id).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].by.as_str(), &audit[0].tasks),
        ("bob", &vec!["a".to_string()])
    );
    assert_eq!(
        store.instances("chain", id).await.unwrap(),
        before,
        "no task changed"
    );
    assert_eq!(store.run("chain", id).await.unwrap().unwrap().note, None);

    let cleared = world
        .engine
        .rerun("chain", id, &request, "bob", Some("again".into()))
        .await
        .unwrap();
    assert_eq!(cleared.len(), 1);
    assert_eq!(store.audit("chain", id).await.unwrap().len(), 2);
    assert_eq!(
        store
            .run("chain", id)
            .await
            .unwrap()
            .unwrap()
            .note
            .as_deref(),
        Some("again")
    );
}
