//! The in-memory adapters pass the port conformance suites.

use std::sync::Arc;
use std::time::Duration;

use updraft_engine::memory::{MemoryQueue, MemoryStore};
use updraft_engine::ports::{StateStore, TaskQueue};
use updraft_engine::testing::{run_queue_suite, run_store_suite};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    run_store_suite(|| {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
        vec![store.clone(), store]
    })
    .await;
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
