//! The use cases, one per module. Each is a method on [`crate::Engine`].

mod advance;
mod announce;
mod approve;
mod backfill;
mod cancel;
mod capacity;
mod clean;
mod dispatch;
mod drain;
mod event_runs;
mod experiments;
mod health;
mod manual_run;
mod mark;
mod one_task;
mod overview;
mod pause;
mod queries;
mod reconcile;
mod record;
mod rerun;
mod runs_table;
mod schedule;
mod sense;
mod specs;
mod stop;
mod tick;

/// Re-planning after a lost compare-and-set race settles in a round or two;
/// the bound only guards against a store that never agrees.
pub(crate) const MAX_ROUNDS: usize = 8;

pub use backfill::{BackfillReport, BackfillStep, MAX_BACKFILL_RUNS};
pub use capacity::{DAG_LIMIT_POOL, PoolReport, holder_id};
pub use dispatch::{Dispatched, MAX_DELIVERIES, Settled, redelivery_delay};
pub use drain::{DRAIN_BATCH, Drained};
pub use event_runs::BY_EVENTS;
pub use experiments::{ComparedRun, Comparison, VersionUse};
pub use health::{Finding, Health, OverdueTry, ago};
pub use manual_run::RunRequest;
pub use mark::mark_state;
pub use one_task::{TaskPreview, TaskPreviewRequest, preview_task};
pub use overview::{DagGrid, DagOverview, DagsOverview};
pub use queries::{ArtifactLineage, FailedTry, RunDetail, RunLineage};
pub use rerun::rerun_request;
pub use runs_table::{RunFilters, RunsTable, param_pair, param_value};
pub use schedule::MAX_PREVIEW_POINTS;
pub use specs::{Deployment, SPEC_PREFIX, SpecIngest, Synced, spec_key, unknown_dag};
pub use tick::TickReport;
