//! The in-memory adapters pass the port conformance suites.

use std::sync::Arc;
use std::time::Duration;

use updraft_engine::memory::{MemoryQueue, MemoryStore};
use updraft_engine::ports::{StateStore, TaskQueue};
use updraft_engine::testing::{StoreUnderTest, run_queue_suite};

async fn fresh_store() -> StoreUnderTest {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    StoreUnderTest::new(vec![store.clone(), store])
}

mod store_contract {
    updraft_engine::store_contract!(super::fresh_store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_queue_conforms() {
    let visibility = Duration::from_millis(300);
    run_queue_suite(
        || Arc::new(MemoryQueue::new(visibility)) as Arc<dyn TaskQueue>,
        visibility,
    )
    .await;
}
