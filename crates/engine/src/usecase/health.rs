//! What `updraft doctor` asks of the state, on either backend: DAGs whose
//! spec does not import, tries still running past their timeout (the
//! planner fails those at its next tick, so one found here means ticks
//! are not happening or not getting through), and the scheduler's last
//! tick.

use chrono::{DateTime, Duration, Utc};
use updraft_core::plan::try_deadline;
use updraft_core::state::TaskState;

use crate::Engine;
use crate::error::EngineResult;

/// A try still running after its timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverdueTry {
    /// Its DAG.
    pub dag: String,
    /// Its run.
    pub run_id: String,
    /// Its task instance (`task` or `task[map index]`) and try, as `show`
    /// prints them.
    pub task: String,
    /// When its timeout ran out.
    pub deadline: DateTime<Utc>,
}

/// The state's part of a deployment's health.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Each DAG whose spec file does not import, with the reason.
    pub import_errors: Vec<(String, String)>,
    /// Tries running longer than their timeout plus `grace`.
    pub overdue: Vec<OverdueTry>,
    /// When the scheduler last ticked, if the store keeps a heartbeat.
    pub last_tick: Option<DateTime<Utc>>,
    /// When the oldest active run was made: while one is, the scheduler
    /// wakes every minute.
    pub active_since: Option<DateTime<Utc>>,
}

/// How long an active run may go without a tick before it is news: the
/// minute the scheduler wakes at while one is, and two more.
const BUSY_LATE: Duration = Duration::minutes(3);

impl Engine {
    /// Reads the state's health; `grace` is how long after a timeout the
    /// planner may take to fail the try (a tick or two).
    pub async fn health(&self, grace: Duration) -> EngineResult<Health> {
        let store = &self.ports.store;
        let now = self.ports.clock.now();
        let import_errors = store
            .dags()
            .await?
            .into_iter()
            .filter_map(|meta| Some((meta.dag.to_string(), meta.import_error?)))
            .collect();
        let mut overdue = Vec::new();
        let active = store.active_runs().await?;
        let active_since = active.iter().map(|r| r.created_at).min();
        for run in active {
            let spec = self.spec_of(&run).await?;
            for instance in store.instances(run.dag.as_str(), &run.run_id).await? {
                if instance.state != TaskState::Running {
                    continue;
                }
                let Some(task) = spec.task(instance.key.task_id.as_str()) else {
                    continue;
                };
                if let Some(deadline) = try_deadline(task, &instance)
                    && deadline + grace < now
                {
                    overdue.push(OverdueTry {
                        dag: run.dag.to_string(),
                        run_id: run.run_id.clone(),
                        task: format!("{} try {}", instance.key, instance.try_number),
                        deadline,
                    });
                }
            }
        }
        Ok(Health {
            import_errors,
            overdue,
            last_tick: store.last_tick().await?,
            active_since,
        })
    }
}

/// One line of `updraft doctor`: what was checked and, when it is wrong,
/// what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Whether all is well.
    pub ok: bool,
    /// What was found.
    pub what: String,
    /// What to do about it, when it is wrong.
    pub fix: Option<String>,
}

impl Finding {
    /// All is well.
    pub fn ok(what: impl Into<String>) -> Finding {
        Finding {
            ok: true,
            what: what.into(),
            fix: None,
        }
    }

    /// Something is wrong, and `fix` says what to do.
    pub fn wrong(what: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            ok: false,
            what: what.into(),
            fix: Some(fix.into()),
        }
    }
}

/// A duration as a person reads it: `45 s`, `12 min`, `3 h`, `2 days`.
pub fn ago(span: Duration) -> String {
    let seconds = span.num_seconds().max(0);
    match seconds {
        0..60 => format!("{seconds} s"),
        60..7_200 => format!("{} min", seconds / 60),
        7_200..172_800 => format!("{} h", seconds / 3_600),
        _ => format!("{} days", seconds / 86_400),
    }
}

impl Health {
    /// The findings of the state at `now`: the last tick held against
    /// `every`, the schedule the scheduler ticks on (when known, it is late
    /// after two of its intervals and a minute), import errors, and tries
    /// past their timeout.
    pub fn findings(&self, now: DateTime<Utc>, every: Option<Duration>) -> Vec<Finding> {
        let mut findings = Vec::new();
        let on = every
            .map(|e| format!(", every {}", ago(e)))
            .unwrap_or_default();
        findings.push(match (self.last_tick, every) {
            (None, Some(_)) => Finding::wrong(
                "the planner has never ticked",
                "check that its tick rule is enabled and read the planner's log",
            ),
            (None, None) => Finding::ok("no tick noted yet"),
            (Some(at), Some(every)) if now - at > every * 2 + Duration::minutes(1) => {
                Finding::wrong(
                    format!("the planner last ticked {} ago{on}", ago(now - at)),
                    "check that its tick rule is enabled and read the planner's log for the error",
                )
            }
            // Woken every minute while a run is active (on AWS, by its
            // wake-up schedule).
            (Some(at), Some(_))
                if now - at > BUSY_LATE
                    && self.active_since.is_some_and(|since| now - since > BUSY_LATE) =>
            {
                Finding::wrong(
                    format!(
                        "the planner last ticked {} ago, with a run active for {}: it ticks every minute while one is",
                        ago(now - at),
                        ago(now - self.active_since.unwrap_or(now))
                    ),
                    "check that its wake-up schedule is enabled and read the planner's log for the error",
                )
            }
            (Some(at), _) => Finding::ok(format!("last tick {} ago{on}", ago(now - at))),
        });
        if self.import_errors.is_empty() {
            findings.push(Finding::ok("every DAG's spec imports"));
        }
        for (dag, error) in &self.import_errors {
            findings.push(Finding::wrong(
                format!("DAG {dag} does not import: {error}"),
                "fix its spec file (updraft validate) and deploy it again; its other runs go on",
            ));
        }
        if self.overdue.is_empty() {
            findings.push(Finding::ok("no try running past its timeout"));
        }
        for stuck in &self.overdue {
            findings.push(Finding::wrong(
                format!(
                    "{} of run {} ({}) is running {} past its timeout",
                    stuck.task,
                    stuck.run_id,
                    stuck.dag,
                    ago(now - stuck.deadline)
                ),
                "the planner fails such a try at its next tick: see the tick above; or end it with updraft mark",
            ));
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap()
    }

    fn tick_finding(last: Option<i64>, now: i64, every: Option<i64>) -> Finding {
        let health = Health {
            last_tick: last.map(at),
            ..Health::default()
        };
        health.findings(at(now), every.map(Duration::minutes))[0].clone()
    }

    #[test]
    fn a_tick_is_late_after_two_intervals_and_a_minute() {
        assert!(tick_finding(Some(0), 3, Some(1)).ok);
        let late = tick_finding(Some(0), 4, Some(1));
        assert_eq!(
            (late.ok, late.what.as_str()),
            (false, "the planner last ticked 4 min ago, every 1 min")
        );
        assert!(tick_finding(Some(0), 10, Some(5)).ok);
        assert!(!tick_finding(None, 0, Some(1)).ok);
        // Locally the schedule is dev's own: the tick is only told.
        assert!(tick_finding(None, 0, None).ok);
        assert!(tick_finding(Some(0), 600, None).ok);
    }

    #[test]
    fn while_a_run_is_active_a_tick_is_late_after_three_minutes() {
        let health = |since: i64| Health {
            last_tick: Some(at(0)),
            active_since: Some(at(since)),
            ..Health::default()
        };
        let hourly = Some(Duration::minutes(60));
        assert!(health(0).findings(at(3), hourly)[0].ok);
        let late = &health(0).findings(at(10), hourly)[0];
        assert_eq!(
            (late.ok, late.what.as_str()),
            (
                false,
                "the planner last ticked 10 min ago, with a run active for 10 min: it ticks every minute while one is"
            )
        );
        // A run made a minute ago: its wake-up has not come yet.
        assert!(health(9).findings(at(10), hourly)[0].ok);
        // Locally dev ticks at its own pace.
        assert!(health(0).findings(at(10), None)[0].ok);
    }

    #[test]
    fn import_errors_and_overdue_tries_are_each_a_line() {
        let health = Health {
            import_errors: vec![("etl".into(), "etl.yaml:3:1: unknown key".into())],
            overdue: vec![OverdueTry {
                dag: "etl".into(),
                run_id: "manual__x".into(),
                task: "load try 2".into(),
                deadline: at(0),
            }],
            last_tick: Some(at(9)),
            active_since: None,
        };
        let wrong: Vec<String> = health
            .findings(at(10), Some(Duration::minutes(1)))
            .into_iter()
            .filter(|f| !f.ok)
            .map(|f| f.what)
            .collect();
        assert_eq!(
            wrong,
            [
                "DAG etl does not import: etl.yaml:3:1: unknown key",
                "load try 2 of run manual__x (etl) is running 10 min past its timeout",
            ]
        );
    }
}
