//! For adapter crates' tests (feature `test-util`): the conformance suites
//! every `StateStore` and `TaskQueue` must pass, and fixtures for them.

mod fixtures;
mod queue_suite;
mod store_suite;

pub use fixtures::{message, run, t0};
pub use queue_suite::run_queue_suite;
pub use store_suite::{StoreHandles, run_store_suite};
