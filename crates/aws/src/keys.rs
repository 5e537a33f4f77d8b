//! The single-table design (docs/aws.md, "The table"). Keys read well in the console:
//!
//! | item | PK | SK |
//! | --- | --- | --- |
//! | DAG metadata (one item per DAG, so one listing query) | `DAGS` | `<dag>` |
//! | spec version | `DAG#<dag>` | `SPEC#<sha256>` |
//! | run | `DAG#<dag>` | `RUN#<run_id>` |
//! | a run's claim of its logical date | `DAG#<dag>` | `DATE#<logical date, UTC>` |
//! | task instance | `RUN#<dag>#<run_id>` | `TASK#<task_id>#<map_index:05>` (`-` unmapped) |
//! | attempt | `RUN#<dag>#<run_id>` | `TRY#<task_id>#<map_index:05>#<try:03>` |
//! | audit entry | `RUN#<dag>#<run_id>` | `AUDIT#<at, UTC to the nanosecond>#<by>` |
//! | launch handle | `HANDLE#<arn or job name>` | `HANDLE` |
//! | stop not yet carried out | `STOPS` | `<arn or job name>` |
//! | event not yet published | `OUTBOX` | `<event id>` |
//! | a pool's size and slots in use, by holder | `POOLS` | `<pool>` |
//! | a try waiting for slots of a pool | `POOLWAIT#<pool>` | `<dag>/<run_id>/<task>#<try>` |
//! | artifact, by URI | `ARTIFACT#<uri>` | `<at>#<dag>#<run_id>#<task>#<index>#<try>#<use>` |
//! | artifact, by run | `RUN#<dag>#<run_id>` | `ARTIFACT#<use>#<uri>#<task>#<index>#<try>` |

use chrono::{DateTime, SecondsFormat, Utc};
use updraft_core::state::TaskKey;

/// The partition listing every DAG (sort key: the DAG id), so a tick finds
/// the DAGs with one query.
pub const DAGS: &str = "DAGS";

/// The partition of stops asked for and not yet carried out (sort key:
/// the handle), which every tick reads with one query.
pub const STOPS: &str = "STOPS";

/// The partition of events kept with their changes and not yet published
/// (sort key: the event id), which every tick reads with one query.
pub const OUTBOX: &str = "OUTBOX";

/// The partition of pools' slot accounting (sort key: the pool): one item
/// per pool, its `used` count and its `holders` changed together by
/// conditional writes, beside its `declared` and `slots_set` sizes.
pub const POOLS: &str = "POOLS";

/// The planner's heartbeat: one item (sort key [`HEARTBEAT`]) whose
/// `ticked_at` says when its last tick ended.
pub const PLANNER: &str = "PLANNER";
/// The sort key of the planner's heartbeat.
pub const HEARTBEAT: &str = "HEARTBEAT";

/// The partition key attribute.
pub const PK: &str = "PK";
/// The sort key attribute.
pub const SK: &str = "SK";
/// The sparse GSI of active runs: only queued and running runs have its key.
pub const ACTIVE_INDEX: &str = "active-runs";
/// The GSI's partition key attribute.
pub const ACTIVE: &str = "active";
/// The GSI's sort key attribute (also a plain attribute of every run).
pub const CREATED_AT: &str = "created_at";
/// The value of `active` on an active run.
pub const ACTIVE_VALUE: &str = "ACTIVE";

/// `DAG#<dag>`.
pub fn dag_pk(dag: &str) -> String {
    format!("DAG#{dag}")
}

/// `SPEC#<version>`.
pub fn spec_sk(version: &str) -> String {
    format!("SPEC#{version}")
}

/// `RUN#<run_id>`.
pub fn run_sk(run_id: &str) -> String {
    format!("RUN#{run_id}")
}

/// `DATE#<logical date>`: at most one run per DAG and logical date,
/// whichever made it (the scheduler, a backfill, a trigger).
pub fn date_sk(logical_date: DateTime<Utc>) -> String {
    format!(
        "DATE#{}",
        logical_date.to_rfc3339_opts(SecondsFormat::Micros, true)
    )
}

/// `RUN#<dag>#<run_id>`: the partition of a run's tasks and tries.
pub fn run_pk(dag: &str, run_id: &str) -> String {
    format!("RUN#{dag}#{run_id}")
}

fn index(key: &TaskKey) -> String {
    key.map_index
        .map_or_else(|| "-".to_string(), |i| format!("{i:05}"))
}

/// `TASK#<task_id>#<map_index:05>`.
pub fn task_sk(key: &TaskKey) -> String {
    format!("TASK#{}#{}", key.task_id, index(key))
}

/// `TRY#<task_id>#<map_index:05>#<try:03>`.
pub fn try_sk(key: &TaskKey, try_number: u32) -> String {
    format!("TRY#{}#{}#{try_number:03}", key.task_id, index(key))
}

/// `AUDIT#<at>#<by>`: sorts a run's audit entries oldest first.
pub fn audit_sk(at: DateTime<Utc>, by: &str) -> String {
    format!(
        "AUDIT#{}#{by}",
        at.to_rfc3339_opts(SecondsFormat::Nanos, true)
    )
}

/// `POOLWAIT#<pool>`: the tries waiting for slots of a pool, one item each.
pub fn pool_wait_pk(pool: &str) -> String {
    format!("POOLWAIT#{pool}")
}

/// `HANDLE#<arn or job name>`: which try a launch handle belongs to.
pub fn handle_pk(handle: &str) -> String {
    format!("HANDLE#{handle}")
}

/// `ARTIFACT#<uri>`.
pub fn artifact_pk(uri: &str) -> String {
    format!("ARTIFACT#{uri}")
}

/// The sort key of an artifact record under its URI: newest last.
pub fn artifact_sk(
    at: &str,
    dag: &str,
    run_id: &str,
    key: &TaskKey,
    try_number: u32,
    used: &str,
) -> String {
    format!(
        "{at}#{dag}#{run_id}#{}#{}#{try_number:03}#{used}",
        key.task_id,
        index(key)
    )
}

/// The sort key of an artifact record under its run.
pub fn run_artifact_sk(used: &str, uri: &str, key: &TaskKey, try_number: u32) -> String {
    format!(
        "ARTIFACT#{used}#{uri}#{}#{}#{try_number:03}",
        key.task_id,
        index(key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use updraft_core::ids::TaskId;

    #[test]
    fn keys_read_as_the_design_says() {
        let mapped = TaskKey {
            task_id: TaskId::parse("featurize").unwrap(),
            map_index: Some(3),
        };
        let single = TaskKey::task(TaskId::parse("train").unwrap());
        assert_eq!(
            run_pk("etl", "scheduled__2026-11-21T00:00:00+09:00"),
            "RUN#etl#scheduled__2026-11-21T00:00:00+09:00"
        );
        assert_eq!(task_sk(&mapped), "TASK#featurize#00003");
        assert_eq!(task_sk(&single), "TASK#train#-");
        assert_eq!(try_sk(&mapped, 2), "TRY#featurize#00003#002");
    }
}
