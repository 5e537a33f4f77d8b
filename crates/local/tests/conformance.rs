//! The SQLite store and queue pass the engine's port conformance suites,
//! with every racer on its own connection to one database file.

use std::sync::Arc;
use std::time::Duration;

use updraft_engine::ports::StateStore;
use updraft_engine::testing::{QueueUnderTest, StoreUnderTest};
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

/// A queue in a new database file, its directory kept as long as the queue.
async fn fresh_queue() -> QueueUnderTest {
    let visibility = Duration::from_millis(400);
    let dir = tempfile::tempdir().unwrap();
    let db = Sqlite::open(&dir.path().join("state.db")).unwrap();
    QueueUnderTest {
        queue: Arc::new(SqliteQueue::new(db, visibility)),
        visibility,
        keep: Some(Box::new(dir)),
    }
}

mod queue_contract {
    updraft_engine::queue_contract!(super::fresh_queue);
}
