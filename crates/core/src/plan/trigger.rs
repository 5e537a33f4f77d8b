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
    /// Failed or upstream_failed.
    pub failed: usize,
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
            TaskState::Failed | TaskState::UpstreamFailed => self.failed += 1,
            TaskState::Skipped => self.skipped += 1,
            _ => {}
        }
        if state.is_terminal() {
            self.done += 1;
        }
    }
}

/// What the planner does with a pending task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Not yet decidable.
    Wait,
    /// Queue it.
    Run,
    /// The rule can no longer hold because upstreams were skipped.
    Skip,
    /// The rule can no longer hold because upstreams failed.
    UpstreamFailed,
}

/// Applies a trigger rule. A task with no upstream always runs. Rules that
/// can be decided early are (a failed upstream fails an `all_success` task
/// at once, as in Airflow).
pub fn decide(rule: TriggerRule, c: UpstreamCounts) -> Decision {
    if c.total == 0 {
        return Decision::Run;
    }
    let all_done = c.done == c.total;
    match rule {
        TriggerRule::AllSuccess if c.failed > 0 => Decision::UpstreamFailed,
        TriggerRule::AllSuccess if c.skipped > 0 => Decision::Skip,
        TriggerRule::AllSuccess if c.succeeded == c.total => Decision::Run,
        TriggerRule::AllDone if all_done => Decision::Run,
        TriggerRule::OneFailed if c.failed > 0 => Decision::Run,
        TriggerRule::OneFailed if all_done => Decision::Skip,
        TriggerRule::OneSuccess if c.succeeded > 0 => Decision::Run,
        TriggerRule::OneSuccess if all_done && c.skipped == c.total => Decision::Skip,
        TriggerRule::OneSuccess if all_done => Decision::UpstreamFailed,
        TriggerRule::NoneFailed if c.failed > 0 => Decision::UpstreamFailed,
        TriggerRule::NoneFailed if all_done => Decision::Run,
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
    fn no_upstream_always_runs() {
        for (r, _) in TriggerRule::ALL {
            assert_eq!(rule(r, &[]), Decision::Run);
        }
    }
}
