//! Trigger rules: given how a task's upstream instances stand, may it run,
//! must it wait, or can it never run?

use crate::spec::TriggerRule;
use crate::state::TaskState;

/// How the upstream instances of one task stand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpstreamCounts {
    /// Upstream instances in all.
    pub total: usize,
    /// Succeeded.
    pub succeeded: usize,
    /// Failed (their own try).
    pub failed: usize,
    /// Could not run because their own upstreams failed.
    pub upstream_failed: usize,
    /// Skipped.
    pub skipped: usize,
    /// In any terminal state.
    pub done: usize,
}

impl UpstreamCounts {
    /// Counts one upstream instance.
    pub fn add(&mut self, state: TaskState) {
        self.total += 1;
        match state {
            TaskState::Succeeded => self.succeeded += 1,
            TaskState::Failed => self.failed += 1,
            TaskState::UpstreamFailed => self.upstream_failed += 1,
            TaskState::Skipped => self.skipped += 1,
            _ => {}
        }
        if state.is_terminal() {
            self.done += 1;
        }
    }

    /// Failed or could not run.
    fn any_failed(&self) -> usize {
        self.failed + self.upstream_failed
    }
}

/// What the planner does with a pending task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Not yet decidable.
    Wait,
    /// Queue it.
    Run,
    /// The rule can no longer hold because of how upstreams ended (skips,
    /// or successes where failures were wanted).
    Skip,
    /// The rule can no longer hold because upstreams failed.
    UpstreamFailed,
}

/// Applies a trigger rule as Airflow does. A task with no upstream always
/// runs. Rules that can be decided early are (a failed upstream fails an
/// `all_success` task at once; a skipped one skips a `none_skipped` task).
pub fn decide(rule: TriggerRule, c: UpstreamCounts) -> Decision {
    if c.total == 0 {
        return Decision::Run;
    }
    let all_done = c.done == c.total;
    let failed = c.any_failed();
    match rule {
        TriggerRule::Always => Decision::Run,
        TriggerRule::AllSuccess if failed > 0 => Decision::UpstreamFailed,
        TriggerRule::AllSuccess if c.skipped > 0 => Decision::Skip,
        TriggerRule::AllSuccess if c.succeeded == c.total => Decision::Run,
        TriggerRule::AllFailed if c.succeeded > 0 || c.skipped > 0 => Decision::Skip,
        TriggerRule::AllFailed if failed == c.total => Decision::Run,
        TriggerRule::AllDone if all_done => Decision::Run,
        TriggerRule::OneFailed if failed > 0 => Decision::Run,
        TriggerRule::OneFailed if all_done => Decision::Skip,
        TriggerRule::OneSuccess if c.succeeded > 0 => Decision::Run,
        TriggerRule::OneSuccess if all_done && c.skipped == c.total => Decision::Skip,
        TriggerRule::OneSuccess if all_done => Decision::UpstreamFailed,
        // As in Airflow, an upstream that could not run is not "done" here.
        TriggerRule::OneDone if c.succeeded + c.failed > 0 => Decision::Run,
        TriggerRule::OneDone if all_done => Decision::Skip,
        TriggerRule::NoneFailed | TriggerRule::NoneFailedMinOneSuccess if failed > 0 => {
            Decision::UpstreamFailed
        }
        TriggerRule::NoneFailedMinOneSuccess if c.skipped == c.total => Decision::Skip,
        TriggerRule::NoneFailed | TriggerRule::NoneFailedMinOneSuccess if all_done => Decision::Run,
        TriggerRule::NoneSkipped if c.skipped > 0 => Decision::Skip,
        TriggerRule::NoneSkipped if all_done => Decision::Run,
        TriggerRule::AllSkipped if c.succeeded > 0 || failed > 0 => Decision::Skip,
        TriggerRule::AllSkipped if c.skipped == c.total => Decision::Run,
        _ => Decision::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskState::*;

    fn counts(states: &[TaskState]) -> UpstreamCounts {
        let mut c = UpstreamCounts::default();
        states.iter().for_each(|s| c.add(*s));
        c
    }

    fn rule(rule: TriggerRule, states: &[TaskState]) -> Decision {
        decide(rule, counts(states))
    }

    #[test]
    fn all_success() {
        assert_eq!(
            rule(TriggerRule::AllSuccess, &[Succeeded, Succeeded]),
            Decision::Run
        );
        assert_eq!(
            rule(TriggerRule::AllSuccess, &[Succeeded, Running]),
            Decision::Wait
        );
        assert_eq!(
            rule(TriggerRule::AllSuccess, &[Failed, Running]),
            Decision::UpstreamFailed
        );
        assert_eq!(
            rule(TriggerRule::AllSuccess, &[UpstreamFailed, Succeeded]),
            Decision::UpstreamFailed
        );
        assert_eq!(
            rule(TriggerRule::AllSuccess, &[Skipped, Succeeded]),
            Decision::Skip
        );
        assert_eq!(rule(TriggerRule::AllSuccess, &[RetryWait]), Decision::Wait);
    }

    #[test]
    fn all_done() {
        assert_eq!(
            rule(TriggerRule::AllDone, &[Failed, Skipped, UpstreamFailed]),
            Decision::Run
        );
        assert_eq!(
            rule(TriggerRule::AllDone, &[Failed, Queued]),
            Decision::Wait
        );
    }

    #[test]
    fn one_failed() {
        assert_eq!(
            rule(TriggerRule::OneFailed, &[Failed, Running]),
            Decision::Run
        );
        assert_eq!(
            rule(TriggerRule::OneFailed, &[Succeeded, Running]),
            Decision::Wait
        );
        assert_eq!(
            rule(TriggerRule::OneFailed, &[Succeeded, Skipped]),
            Decision::Skip
        );
    }

    #[test]
    fn one_success() {
        assert_eq!(
            rule(TriggerRule::OneSuccess, &[Succeeded, Pending]),
            Decision::Run
        );
        assert_eq!(
            rule(TriggerRule::OneSuccess, &[Failed, Pending]),
            Decision::Wait
        );
        assert_eq!(
            rule(TriggerRule::OneSuccess, &[Failed, Skipped]),
            Decision::UpstreamFailed
        );
        assert_eq!(
            rule(TriggerRule::OneSuccess, &[Skipped, Skipped]),
            Decision::Skip
        );
    }

    #[test]
    fn none_failed() {
        assert_eq!(
            rule(TriggerRule::NoneFailed, &[Succeeded, Skipped]),
            Decision::Run
        );
        assert_eq!(
            rule(TriggerRule::NoneFailed, &[Skipped, Running]),
            Decision::Wait
        );
        assert_eq!(
            rule(TriggerRule::NoneFailed, &[Failed, Running]),
            Decision::UpstreamFailed
        );
    }

    #[test]
    fn all_failed_runs_when_every_upstream_failed_and_skips_at_the_first_success_or_skip() {
        assert_eq!(
            rule(TriggerRule::AllFailed, &[Failed, UpstreamFailed]),
            Decision::Run
        );
        assert_eq!(
            rule(TriggerRule::AllFailed, &[Failed, Running]),
            Decision::Wait
        );
        assert_eq!(
            rule(TriggerRule::AllFailed, &[Succeeded, Running]),
            Decision::Skip
        );
        assert_eq!(
            rule(TriggerRule::AllFailed, &[Skipped, Failed]),
            Decision::Skip
        );
    }

    #[test]
    fn one_done_runs_at_the_first_success_or_failure_of_its_own() {
        assert_eq!(
            rule(TriggerRule::OneDone, &[Succeeded, Running]),
            Decision::Run
        );
        assert_eq!(
            rule(TriggerRule::OneDone, &[Failed, Pending]),
            Decision::Run
        );
        assert_eq!(
            rule(TriggerRule::OneDone, &[UpstreamFailed, Running]),
            Decision::Wait,
            "an upstream that could not run did not finish"
        );
        assert_eq!(
            rule(TriggerRule::OneDone, &[UpstreamFailed, Skipped]),
            Decision::Skip
        );
    }

    #[test]
    fn none_failed_min_one_success_joins_a_branch() {
        let join = TriggerRule::NoneFailedMinOneSuccess;
        assert_eq!(rule(join, &[Succeeded, Skipped]), Decision::Run);
        assert_eq!(rule(join, &[Succeeded, Running]), Decision::Wait);
        assert_eq!(rule(join, &[Skipped, Skipped]), Decision::Skip);
        assert_eq!(rule(join, &[Skipped, Running]), Decision::Wait);
        assert_eq!(rule(join, &[Failed, Running]), Decision::UpstreamFailed);
        assert_eq!(
            rule(join, &[UpstreamFailed, Skipped]),
            Decision::UpstreamFailed
        );
    }

    #[test]
    fn none_skipped_runs_after_any_end_but_a_skip() {
        assert_eq!(
            rule(TriggerRule::NoneSkipped, &[Succeeded, Failed]),
            Decision::Run
        );
        assert_eq!(
            rule(TriggerRule::NoneSkipped, &[Succeeded, Running]),
            Decision::Wait
        );
        assert_eq!(
            rule(TriggerRule::NoneSkipped, &[Skipped, Running]),
            Decision::Skip
        );
    }

    #[test]
    fn all_skipped_runs_only_when_every_upstream_was_skipped() {
        assert_eq!(
            rule(TriggerRule::AllSkipped, &[Skipped, Skipped]),
            Decision::Run
        );
        assert_eq!(
            rule(TriggerRule::AllSkipped, &[Skipped, Running]),
            Decision::Wait
        );
        assert_eq!(
            rule(TriggerRule::AllSkipped, &[Skipped, Succeeded]),
            Decision::Skip
        );
        assert_eq!(
            rule(TriggerRule::AllSkipped, &[UpstreamFailed, Running]),
            Decision::Skip
        );
    }

    #[test]
    fn always_runs_at_once_whatever_its_upstreams_do() {
        for states in [&[Pending, Running][..], &[Failed], &[Skipped, Queued]] {
            assert_eq!(rule(TriggerRule::Always, states), Decision::Run);
        }
    }

    #[test]
    fn no_upstream_always_runs() {
        for (r, _) in TriggerRule::ALL {
            assert_eq!(rule(r, &[]), Decision::Run);
        }
    }
}
