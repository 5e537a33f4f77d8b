//! Every crash point of every use case over the SQLite store local mode
//! uses (see `updraft_engine::testing::every_crash_point_of_every_use_case`).

use std::sync::Arc;

use updraft_engine::ports::StateStore;
use updraft_engine::testing::{Faults, FaultyStore, every_crash_point_of_every_use_case};
use updraft_local::sqlite::{Sqlite, SqliteStore};

#[tokio::test]
async fn every_crash_point_over_sqlite_leaves_nothing_lost_doubled_or_stranded() {
    let dir = tempfile::tempdir().unwrap();
    let next = std::cell::Cell::new(0);
    let fresh = |faults: &Faults| {
        next.set(next.get() + 1);
        let path = dir.path().join(format!("state-{}.db", next.get()));
        let store = Arc::new(SqliteStore(Sqlite::open(&path).unwrap())) as Arc<dyn StateStore>;
        FaultyStore::pair(store, faults)
    };
    let tally = every_crash_point_of_every_use_case(&fresh).await;
    tally.assert_clean();
}
