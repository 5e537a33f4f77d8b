//! When the scheduler must tick next, so that an idle deployment is not
//! woken every minute for nothing: a minute on while anything is in
//! flight, else the next schedule point of any scheduled DAG, and never
//! more than an hour away (the safety tick: a lost wake-up costs at most
//! that).

use chrono::{DateTime, Duration, Utc};

use super::{Schedule, SchedulePolicy};

/// The tick's pace while a run is active or work is left over: what
/// reconciling tries whose end events were lost needs.
pub const BUSY_TICK: Duration = Duration::minutes(1);

/// The longest the scheduler sleeps, whatever is due.
pub const SAFETY_TICK: Duration = Duration::hours(1);

/// The first point of `schedule` strictly after `now` that `policy` lets
/// run (at or after its `start`, at or before its `end`).
pub fn next_point(
    schedule: &Schedule,
    policy: &SchedulePolicy,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let after = match policy.start {
        Some(start) if start > now => start - Duration::nanoseconds(1),
        _ => now,
    };
    schedule
        .next_after(after)
        .filter(|point| policy.end.is_none_or(|end| *point <= end))
}

/// When the scheduler must tick next: `now` plus [`BUSY_TICK`] if `busy`
/// (a run active, a stop or event left over), else the earliest next point
/// of `scheduled` (the DAGs neither paused nor broken), at most
/// [`SAFETY_TICK`] away.
pub fn next_tick<'a>(
    now: DateTime<Utc>,
    busy: bool,
    scheduled: impl IntoIterator<Item = (&'a Schedule, &'a SchedulePolicy)>,
) -> DateTime<Utc> {
    let safety = now + SAFETY_TICK;
    if busy {
        return now + BUSY_TICK;
    }
    scheduled
        .into_iter()
        .filter_map(|(schedule, policy)| next_point(schedule, policy, now))
        .fold(safety, DateTime::min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn policy() -> SchedulePolicy {
        SchedulePolicy {
            start: None,
            end: None,
            catchup: false,
            max_active_runs: 1,
        }
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 8, h, m, 0).unwrap()
    }

    fn cron(text: &str) -> Schedule {
        Schedule::parse(text, chrono_tz::UTC).unwrap()
    }

    #[test]
    fn idle_it_wakes_for_the_next_point_or_the_safety_tick() {
        let (hourly, five, daily) = (cron("@hourly"), cron("*/5 * * * *"), cron("@daily"));
        let p = policy();
        assert_eq!(next_tick(at(10, 7), false, [(&daily, &p)]), at(11, 7));
        assert_eq!(
            next_tick(at(10, 7), false, [(&daily, &p), (&hourly, &p)]),
            at(11, 0)
        );
        assert_eq!(
            next_tick(at(10, 7), false, [(&hourly, &p), (&five, &p)]),
            at(10, 10)
        );
        assert_eq!(
            next_tick(at(10, 7), false, []),
            at(11, 7),
            "nothing scheduled"
        );
        assert_eq!(next_tick(at(10, 7), true, [(&five, &p)]), at(10, 8), "busy");
    }

    #[test]
    fn a_point_outside_start_and_end_wakes_nothing() {
        let hourly = cron("@hourly");
        let ended = SchedulePolicy {
            end: Some(at(9, 0)),
            ..policy()
        };
        assert_eq!(next_point(&hourly, &ended, at(10, 7)), None);
        let later = SchedulePolicy {
            start: Some(at(12, 30)),
            ..policy()
        };
        assert_eq!(next_point(&hourly, &later, at(10, 7)), Some(at(13, 0)));
        let at_start = SchedulePolicy {
            start: Some(at(12, 0)),
            ..policy()
        };
        assert_eq!(next_point(&hourly, &at_start, at(10, 7)), Some(at(12, 0)));
    }

    proptest! {
        /// Never late for a point, never more than the safety tick away,
        /// never in the past.
        #[test]
        fn no_point_falls_before_the_next_tick(
            minute in 0i64..(60 * 24 * 400),
            step in prop::sample::select(vec!["*/7 * * * *", "@hourly", "@daily", "15 3 * * 1", "0 0 29 2 *"]),
            start_in in -3000i64..3000,
            busy in any::<bool>(),
        ) {
            let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(minute);
            let schedule = cron(step);
            let policy = SchedulePolicy { start: Some(now + Duration::minutes(start_in)), ..policy() };
            let next = next_tick(now, busy, [(&schedule, &policy)]);
            prop_assert!(next > now && next <= now + SAFETY_TICK);
            let first_due = schedule
                .points_after(now)
                .find(|p| policy.start.is_none_or(|s| *p >= s));
            if let Some(point) = first_due {
                prop_assert!(next <= point, "{point} passed by a tick at {next}");
            }
        }
    }
}
