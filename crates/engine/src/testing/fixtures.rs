//! Records for the suites.

use chrono::{DateTime, Duration, Utc};
use updraft_core::ids::{DagId, TaskId};
use updraft_core::state::{Run, RunKind, RunState, TaskKey};

use crate::ports::TaskMessage;

/// A fixed instant.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// A queued run of `dag`, created `minutes` after [`t0`], with labels.
pub fn run(dag: &str, run_id: &str, minutes: i64, labels: &[&str]) -> Run {
    Run {
        dag: DagId::parse(dag).unwrap_or_else(|e| panic!("{e}")),
        run_id: run_id.to_string(),
        kind: RunKind::Manual,
        state: RunState::Queued,
        spec_version: "v1".into(),
        // One run per DAG and logical date: each run has its own.
        logical_date: t0() + Duration::minutes(minutes),
        data_interval_start: t0(),
        data_interval_end: t0(),
        params: Default::default(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        created_at: t0() + Duration::minutes(minutes),
        started_at: None,
        ended_at: None,
        triggered_by: String::new(),
        note: None,
        reason: None,
        metrics: Default::default(),
        deadline_missed_at: None,
        trigger: None,
        parent: None,
        revision: 0,
    }
}

/// A task message for try `try_number` of task `task`.
pub fn message(run_id: &str, task: &str, try_number: u32) -> TaskMessage {
    TaskMessage {
        dag: "d".into(),
        run_id: run_id.into(),
        key: TaskKey::task(TaskId::parse(task).unwrap_or_else(|e| panic!("{e}"))),
        try_number,
    }
}
