//! Backfill: runs for the schedule points of a date range,
//! skipping points that already have a run unless asked to rerun the
//! failed ones.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use updraft_core::plan::Rerun;
use updraft_core::schedule::LocalTime;
use updraft_core::spec::DagSpec;
use updraft_core::state::{Run, RunKind, RunState, run_id};

use super::RunRequest;
use crate::{Engine, EngineError, EngineResult};

/// The most runs one backfill makes (and its preview lists): a larger
/// range is backfilled in parts.
pub const MAX_BACKFILL_RUNS: usize = 2_000;

/// The years a date range may name.
const YEARS: std::ops::RangeInclusive<i32> = 1970..=2199;

/// What a backfill did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackfillReport {
    /// Runs created, by id.
    pub created: Vec<String>,
    /// Points that already had a run, left as they were.
    pub skipped: Vec<String>,
    /// Failed runs whose failed tasks were cleared to run again.
    pub rerun: Vec<String>,
}

impl Engine {
    /// Creates `backfill__<logical date>` runs for every schedule point
    /// whose local date lies between `from` and `to` (both included; a
    /// date-time bound is that instant), made by `by`.
    pub async fn backfill(
        &self,
        dag: &str,
        from: &str,
        to: &str,
        rerun_failed: bool,
        by: &str,
    ) -> EngineResult<BackfillReport> {
        let (spec, steps) = self.plan_backfill(dag, from, to).await?;
        let mut report = BackfillReport::default();
        for step in steps {
            match step.existing {
                Some(run) if rerun_failed && run.state == RunState::Failed => {
                    self.rerun(
                        dag,
                        &run.run_id,
                        &Rerun {
                            only_failed: true,
                            ..Rerun::default()
                        },
                        by,
                        None,
                    )
                    .await?;
                    report.rerun.push(run.run_id);
                }
                Some(run) => report.skipped.push(run.run_id),
                None => {
                    let timing = spec.schedule.run_for_point(step.point);
                    if let Some(run) = self
                        .create_run(
                            &spec,
                            RunKind::Backfill,
                            step.run_id,
                            timing,
                            RunRequest::by(by),
                            None,
                        )
                        .await?
                    {
                        self.advance(dag, &run.run_id).await?;
                        report.created.push(run.run_id);
                    }
                }
            }
        }
        Ok(report)
    }
}

/// One schedule point of a backfill's range.
#[derive(Clone, Debug)]
pub struct BackfillStep {
    /// The point (the run's logical date).
    pub point: DateTime<Utc>,
    /// The id a run created for it gets.
    pub run_id: String,
    /// The run the point already has (scheduled or backfilled), if any.
    pub existing: Option<Run>,
}

impl Engine {
    /// What a backfill of the range would do, changing nothing: each
    /// point, and the run it already has.
    pub async fn plan_backfill(
        &self,
        dag: &str,
        from: &str,
        to: &str,
    ) -> EngineResult<(Arc<DagSpec>, Vec<BackfillStep>)> {
        let spec = self.current_spec(dag).await?;
        let tz = spec.schedule.tz();
        if spec.schedule.is_none() {
            return Err(EngineError::refused(format!(
                "DAG `{dag}` has `schedule: none`; backfill needs schedule points"
            )));
        }
        let (first, last) = date_range(from, to, tz)?;
        let points: Vec<_> = spec
            .schedule
            .backfill_points(first, last)
            .take(MAX_BACKFILL_RUNS + 1)
            .collect();
        if points.len() > MAX_BACKFILL_RUNS {
            return Err(EngineError::invalid(
                "to",
                format!(
                    "{from} to {to} holds more than {MAX_BACKFILL_RUNS} schedule points, the most one backfill makes; backfill it in parts"
                ),
            ));
        }
        let store = &self.ports.store;
        let mut steps = Vec::new();
        for point in points {
            let candidates = [
                run_id(RunKind::Scheduled, point, tz),
                run_id(RunKind::Backfill, point, tz),
            ];
            let mut existing = None;
            for id in &candidates {
                if let Some(run) = store.run(dag, id).await? {
                    existing = Some(run);
                    break;
                }
            }
            let [_, run_id] = candidates;
            steps.push(BackfillStep {
                point,
                run_id,
                existing,
            });
        }
        Ok((spec, steps))
    }
}

/// `from` and `to` as bounds in the DAG's zone, `from` not after `to`.
pub(crate) fn date_range(from: &str, to: &str, tz: Tz) -> EngineResult<(LocalTime, LocalTime)> {
    let bound = |text: &str, name: &'static str| {
        let time = LocalTime::parse(text, tz).map_err(|why| EngineError::invalid(name, why))?;
        let year = time.first_instant(tz).with_timezone(&tz).year();
        if !YEARS.contains(&year) {
            return Err(EngineError::invalid(
                name,
                format!(
                    "{text} is outside the years {} to {} a range may name",
                    YEARS.start(),
                    YEARS.end()
                ),
            ));
        }
        Ok(time)
    };
    let (first, last) = (bound(from, "from")?, bound(to, "to")?);
    if first.first_instant(tz) > last.last_instant(tz) {
        return Err(EngineError::invalid(
            "from",
            format!("{from} is after the range's end, {to}"),
        ));
    }
    Ok((first, last))
}
