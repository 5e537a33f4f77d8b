//! updraft-core: the pure domain of updraft.
//!
//! # Layout
//! - [`spec`]: DAG specs parsed and validated (file:line:col errors), their
//!   versions (SHA-256 of the canonical form) and diffs.
//! - [`state`]: runs, task instances, attempts and their states.
//! - [`plan`]: the planner: from a run's state to the transitions that
//!   advance it (retries, trigger rules, mapping, reruns, marks, ends).
//! - [`template`]: the Jinja templates of a task's fields, rendered and
//!   checked.
//! - [`ids`]: DAG and task ids, run ids from dates, and hex of digests.
//! - [`yaml`]: a YAML tree whose nodes know their line and column.
//! - [`schedule`]: cron points in a time zone, run intervals, due runs.
//! - [`duration`]: `90s` / `2m` / `2h` / `1d`.
//! - [`runs_view`]: runs as experiments: columns, filters and sort keys.
//! - [`links`]: the dashboard's paths, shared with the events' links.
//! - [`pools`]: which waiting tries take a pool's free slots.
//! - [`retention`]: which ended runs have outlived their DAG's retention.
//! - [`notify`]: the events others react to, read off transitions.
//! - [`fuzz`]: the bodies of the fuzz targets, run by `make test` too.
//!
//! Nothing here does I/O, spawns, sleeps or names an AWS type: callers pass
//! text and snapshots in and get values and transitions out.

pub mod duration;
pub mod fuzz;
pub mod ids;
pub mod links;
pub mod notify;
pub mod plan;
pub mod pools;
pub mod retention;
pub mod runs_view;
pub mod schedule;
pub mod spec;
pub mod state;
pub mod template;
pub mod yaml;
