//! See a DAG's schedule without running it: the runs its points would make,
//! read from the deployed spec and creating nothing.

use std::sync::Arc;

use updraft_core::schedule::{Preview, PreviewRange};
use updraft_core::spec::DagSpec;

use super::backfill::date_range;
use super::specs::find_spec;
use crate::{Engine, EngineError, EngineResult};

/// The most points a preview lists, the next ones or a range's.
pub const MAX_PREVIEW_POINTS: usize = 10_000;

impl Engine {
    /// The next `next` points after now, or with `from` and `to` every
    /// point a backfill of that range would cover (dates in the DAG's zone).
    pub async fn schedule_preview(
        &self,
        dag: &str,
        next: usize,
        range: Option<(&str, &str)>,
    ) -> EngineResult<(Arc<DagSpec>, Preview)> {
        let spec = find_spec(&self.ports.specs.load().await?, dag)?;
        if spec.schedule.is_none() {
            return Err(EngineError::refused(format!(
                "DAG `{dag}` has `schedule: none`: it runs only when triggered"
            )));
        }
        if next > MAX_PREVIEW_POINTS {
            return Err(EngineError::invalid(
                "next",
                format!(
                    "{next} is more than {MAX_PREVIEW_POINTS}, the most points a preview lists"
                ),
            ));
        }
        let range = match range {
            None => PreviewRange::Next {
                now: self.ports.clock.now(),
                count: next,
            },
            Some((from, to)) => {
                let (from, to) = date_range(from, to, spec.schedule.tz())?;
                PreviewRange::Between {
                    from,
                    to,
                    limit: MAX_PREVIEW_POINTS,
                }
            }
        };
        let preview = spec.schedule.preview(&spec.policy, range);
        Ok((spec, preview))
    }
}
