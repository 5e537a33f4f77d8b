//! For adapter crates' tests (feature `test-util`): the conformance suites
//! every `StateStore` and `TaskQueue` must pass, fixtures for them, and a
//! world of in-memory adapters for use-case stories.

mod crash_points;
mod faults;
mod fixtures;
pub mod queue_suite;
pub mod store_suite;
mod world;

pub use crash_points::{
    FreshStore, Tally, UseCase, every_crash_point_of, every_crash_point_of_every_use_case,
};
pub use faults::{Fault, Faults, FaultyLauncher, FaultyQueue, FaultyStore};
pub use fixtures::{message, run, t0};
pub use queue_suite::QueueUnderTest;
pub use store_suite::{StoreHandles, StoreUnderTest};
pub use world::{CountingLauncher, FixedSpecs, Interference, Recorded, World, world_start};
