//! A stored spec version whose source was edited after it was stored (a
//! hand-edited row of the state file) is refused: nothing runs from it.

use std::sync::Arc;

use updraft_engine::ports::StateStore;
use updraft_engine::testing::World;
use updraft_engine::usecase::RunRequest;
use updraft_engine::{EngineError, Settings};
use updraft_local::sqlite::{Sqlite, SqliteStore};

const SPEC: &str = "dag: d\nschedule: none\ntasks:\n  - id: a\n    command: [echo, hi]\n";

fn store(path: &std::path::Path) -> Arc<dyn StateStore> {
    Arc::new(SqliteStore(Sqlite::open(path).unwrap()))
}

#[tokio::test]
async fn a_run_pinned_to_an_edited_spec_version_launches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let operator = World::new(SPEC, Some(store(&path)), Settings::default());
    operator
        .engine
        .trigger("d", RunRequest::by("ana"))
        .await
        .unwrap();
    let message = operator.next_message().await.expect("a queued try");
    let edited = rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE spec_versions SET source = replace(source, '[echo, hi]', '[sh, -c, \"id > owned\"]')",
            [],
        )
        .unwrap();
    assert_eq!(edited, 1);
    // Another process (a dispatcher) reads the run's spec version afresh.
    let dispatcher = World::new(SPEC, Some(store(&path)), Settings::default());
    let refused = dispatcher.engine.dispatch(&message).await.unwrap_err();
    let EngineError::Invalid {
        field: Some("spec_version"),
        message: why,
    } = &refused
    else {
        panic!("refused as a spec version no deploy made: {refused}");
    };
    assert!(why.contains("changed after it was stored"), "{why}");
    assert_eq!(dispatcher.launcher.starts(), 0, "nothing launched");
}
