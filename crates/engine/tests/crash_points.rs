//! Every crash point of every use case over the in-memory store (see
//! `updraft_engine::testing::every_crash_point_of_every_use_case`).

use std::sync::Arc;

use updraft_engine::memory::MemoryStore;
use updraft_engine::testing::{FaultyStore, every_crash_point_of_every_use_case};

#[tokio::test]
async fn every_crash_point_of_every_use_case_leaves_nothing_lost_doubled_or_stranded() {
    let tally = every_crash_point_of_every_use_case(&|faults| {
        FaultyStore::pair(Arc::new(MemoryStore::default()), faults)
    })
    .await;
    tally.assert_clean();
}
