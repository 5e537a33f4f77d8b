//! Which runs have outlived their DAG's retention: ended longer ago than it,
//! and never the latest run of its DAG (by logical date), which
//! `depends_on_past` and catchup read. Airflow keeps every run until
//! someone runs `airflow db clean`; updraft deletes these.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::state::Run;

/// How long ended runs are kept when a DAG does not say.
pub const DEFAULT_RETENTION: Duration = Duration::days(400);

/// Whether the run a DAG ended last, ended (or last kept) at `ended`,
/// must be kept at `now` before it reaches its horizon: within 30 days of
/// it, or half the retention when that is shorter.
pub fn must_keep(ended: DateTime<Utc>, retention: Duration, now: DateTime<Utc>) -> bool {
    let margin = (retention / 2).min(Duration::days(30));
    now >= ended + retention - margin
}

/// The logical date a run id names (`scheduled__2026-12-01T00:00:00+09:00`,
/// `manual__2026-12-07T07:01:58.013Z`), if it names one.
pub fn logical_date_of(run_id: &str) -> Option<DateTime<Utc>> {
    let (_, date) = run_id.split_once("__")?;
    DateTime::parse_from_rfc3339(date)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// The runs of `runs` past their retention at `now`, in the order given.
/// `retention_of` gives a DAG's retention.
pub fn expired(
    runs: &[Run],
    now: DateTime<Utc>,
    retention_of: impl Fn(&str) -> Duration,
) -> Vec<&Run> {
    let mut latest: BTreeMap<&str, &Run> = BTreeMap::new();
    for run in runs {
        let newest = latest.entry(run.dag.as_str()).or_insert(run);
        if (run.logical_date, &run.run_id) > (newest.logical_date, &newest.run_id) {
            *newest = run;
        }
    }
    runs.iter()
        .filter(|run| run.state.is_terminal())
        .filter(|run| !std::ptr::eq(*run, latest[run.dag.as_str()]))
        .filter(|run| {
            let ended = run.ended_at.unwrap_or(run.created_at);
            ended + retention_of(run.dag.as_str()) < now
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::RunState;
    use proptest::prelude::*;

    fn run(dag: &str, day: i64, state: RunState, ended_day: Option<i64>) -> Run {
        let at = |d: i64| DateTime::<Utc>::UNIX_EPOCH + Duration::days(d);
        let mut run: Run = serde_json::from_value(serde_json::json!({
            "dag": dag, "run_id": format!("scheduled__{day}"), "kind": "scheduled",
            "state": "queued", "spec_version": "v",
            "logical_date": at(day), "data_interval_start": at(day),
            "data_interval_end": at(day + 1), "params": {}, "labels": [],
            "created_at": at(day), "started_at": null, "ended_at": null,
        }))
        .unwrap();
        run.state = state;
        run.ended_at = ended_day.map(at);
        run
    }

    fn ids(runs: Vec<&Run>) -> Vec<String> {
        runs.iter()
            .map(|r| format!("{}/{}", r.dag, r.run_id))
            .collect()
    }

    #[test]
    fn ended_runs_past_retention_expire_but_not_the_latest_nor_an_active_one() {
        let now = DateTime::<Utc>::UNIX_EPOCH + Duration::days(100);
        let runs = [
            run("etl", 1, RunState::Succeeded, Some(1)),
            run("etl", 2, RunState::Failed, Some(2)),
            // Active for 80 days: kept whatever its age.
            run("etl", 3, RunState::Running, None),
            // Ended recently.
            run("etl", 4, RunState::Succeeded, Some(95)),
            // The latest of its DAG, however old.
            run("etl", 5, RunState::Succeeded, Some(5)),
            run("ml", 1, RunState::Succeeded, Some(1)),
            run("ml", 2, RunState::Succeeded, Some(2)),
        ];
        let thirty = |_: &str| Duration::days(30);
        assert_eq!(
            ids(expired(&runs, now, thirty)),
            ["etl/scheduled__1", "etl/scheduled__2", "ml/scheduled__1"]
        );
        // Each DAG its own retention.
        let ml_long = |dag: &str| match dag {
            "ml" => Duration::days(365),
            _ => Duration::days(30),
        };
        assert_eq!(
            ids(expired(&runs, now, ml_long)),
            ["etl/scheduled__1", "etl/scheduled__2"]
        );
    }

    #[test]
    fn a_run_id_names_its_logical_date() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            logical_date_of("scheduled__2026-12-01T00:00:00+09:00"),
            Some(at("2026-11-30T15:00:00Z"))
        );
        assert_eq!(
            logical_date_of("manual__2026-12-07T07:01:58.013Z"),
            Some(at("2026-12-07T07:01:58.013Z"))
        );
        assert_eq!(logical_date_of("nightly-7"), None);
        assert_eq!(logical_date_of("manual__yesterday"), None);
    }

    #[test]
    fn the_run_ended_last_is_kept_a_month_before_its_horizon_or_half_a_short_retention() {
        let ended = DateTime::<Utc>::UNIX_EPOCH;
        let year = Duration::days(400);
        assert!(!must_keep(ended, year, ended + Duration::days(369)));
        assert!(must_keep(ended, year, ended + Duration::days(370)));
        let day = Duration::days(1);
        assert!(!must_keep(ended, day, ended + Duration::hours(11)));
        assert!(must_keep(ended, day, ended + Duration::hours(12)));
    }

    proptest! {
        /// Whatever the runs, nothing active, nothing ended within the
        /// retention and no DAG's latest run ever expires.
        #[test]
        fn what_expires_is_always_ended_old_and_not_the_latest(
            specs in proptest::collection::vec((0usize..3, 0i64..60, 0usize..4, 0i64..60), 0..40),
            keep in 0i64..50,
        ) {
            let states = [RunState::Succeeded, RunState::Failed, RunState::Running, RunState::Queued];
            let runs: Vec<Run> = specs
                .iter()
                .enumerate()
                .map(|(i, &(dag, day, state, ended))| {
                    let state = states[state];
                    let ended = state.is_terminal().then_some(day + ended);
                    let mut run = run(["a", "b", "c"][dag], day, state, ended);
                    run.run_id = format!("r{i:03}");
                    run
                })
                .collect();
            let now = DateTime::<Utc>::UNIX_EPOCH + Duration::days(120);
            for gone in expired(&runs, now, |_| Duration::days(keep)) {
                prop_assert!(gone.state.is_terminal());
                prop_assert!(gone.ended_at.unwrap() + Duration::days(keep) < now);
                let newer = runs
                    .iter()
                    .any(|r| r.dag == gone.dag && (r.logical_date, &r.run_id) > (gone.logical_date, &gone.run_id));
                prop_assert!(newer, "{} is its DAG's latest run", gone.run_id);
            }
        }
    }
}
