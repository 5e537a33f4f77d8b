//! The SQLite store and queue pass the engine's port conformance suites,
//! with every racer on its own connection to one database file.

use std::sync::Arc;
use std::time::Duration;

use updraft_engine::ports::{StateStore, TaskQueue};
use updraft_engine::testing::{StoreUnderTest, run_queue_suite};
use updraft_local::sqlite::{Sqlite, SqliteQueue, SqliteStore};

/// Four connections to one new database file, its directory kept as long
/// as the store.
async fn fresh_store() -> StoreUnderTest {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let handles = (0..4)
        .map(|_| Arc::new(SqliteStore(Sqlite::open(&path).unwrap())) as Arc<dyn StateStore>)
        .collect();
    StoreUnderTest::new(handles).keeping(dir)
}

mod store_contract {
    updraft_engine::store_contract!(super::fresh_store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_queue_conforms() {
    let visibility = Duration::from_millis(400);
    let dirs = std::cell::RefCell::new(Vec::new());
    run_queue_suite(
        || {
            let dir = tempfile::tempdir().unwrap();
            let db = Sqlite::open(&dir.path().join("state.db")).unwrap();
            dirs.borrow_mut().push(dir);
            Arc::new(SqliteQueue::new(db, visibility)) as Arc<dyn TaskQueue>
        },
        visibility,
    )
    .await;
}
