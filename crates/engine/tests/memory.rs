//! The in-memory adapters pass the port conformance suites.

use std::sync::Arc;
use std::time::Duration;

use updraft_engine::memory::{MemoryQueue, MemoryStore};
use updraft_engine::ports::StateStore;
use updraft_engine::testing::{QueueUnderTest, StoreUnderTest};

async fn fresh_store() -> StoreUnderTest {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    StoreUnderTest::new(vec![store.clone(), store])
}

mod store_contract {
    updraft_engine::store_contract!(super::fresh_store);
}

async fn fresh_queue() -> QueueUnderTest {
    let visibility = Duration::from_millis(300);
    QueueUnderTest {
        queue: Arc::new(MemoryQueue::new(visibility)),
        visibility,
        keep: None,
    }
}

mod queue_contract {
    updraft_engine::queue_contract!(super::fresh_queue);
}
