//! A schedule seen without running it: the runs its points would make and
//! the offset changes (DST) between them — the quickest answer to "why did
//! my run have yesterday's date".

use chrono::{DateTime, Duration, FixedOffset, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use super::{LocalTime, RunTiming, Schedule, SchedulePolicy};
use crate::state::{RunKind, run_id};

/// The run one schedule point would make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedRun {
    /// The id a scheduled run of the point gets.
    pub run_id: String,
    /// Its logical date and data interval.
    pub timing: RunTiming,
}

/// An instant the zone's UTC offset changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetChange {
    /// The first instant of the new offset.
    pub at: DateTime<Utc>,
    /// The offset until then.
    pub before: FixedOffset,
    /// The offset from then on.
    pub after: FixedOffset,
}

/// Which points to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreviewRange {
    /// The next `count` points the scheduler would create after `now`
    /// (within the DAG's `start` and `end`).
    Next {
        /// From when.
        now: DateTime<Utc>,
        /// How many.
        count: usize,
    },
    /// Every point a backfill of the range would create, at most `limit`.
    Between {
        /// First date or instant, included.
        from: LocalTime,
        /// Last date or instant, included.
        to: LocalTime,
        /// How many at most.
        limit: usize,
    },
}

/// A schedule's points over a range, with the offset changes inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// The runs, oldest first.
    pub runs: Vec<PlannedRun>,
    /// Offset changes from the first data interval's start to the last
    /// point (or the range's end).
    pub offset_changes: Vec<OffsetChange>,
    /// Whether the range held more points than were taken.
    pub truncated: bool,
}

impl Schedule {
    /// The runs a range of the schedule would make, without making them.
    pub fn preview(&self, policy: &SchedulePolicy, range: PreviewRange) -> Preview {
        let (points, truncated, bounds) = match range {
            PreviewRange::Next { now, count } => {
                let after = policy
                    .start
                    .map_or(now, |start| now.max(start - Duration::nanoseconds(1)));
                let points: Vec<_> = self
                    .points_after(after)
                    .take_while(|p| policy.end.is_none_or(|end| *p <= end))
                    .take(count)
                    .collect();
                (points, false, (now, now))
            }
            PreviewRange::Between { from, to, limit } => {
                let (from, to) = (from.first_instant(self.tz), to.last_instant(self.tz));
                let mut points: Vec<_> = self.points_between(from, to).take(limit + 1).collect();
                let truncated = points.len() > limit;
                points.truncate(limit);
                (points, truncated, (from, to))
            }
        };
        let runs: Vec<PlannedRun> = points
            .into_iter()
            .map(|point| PlannedRun {
                run_id: run_id(RunKind::Scheduled, point, self.tz),
                timing: self.run_for_point(point),
            })
            .collect();
        let first = runs
            .first()
            .map_or(bounds.0, |r| r.timing.data_interval_start.min(bounds.0));
        let last = runs
            .last()
            .map_or(bounds.1, |r| r.timing.logical_date.max(bounds.1));
        Preview {
            offset_changes: offset_changes(self.tz, first, last),
            runs,
            truncated,
        }
    }
}

/// Every change of `tz`'s UTC offset in `(from, to]`.
pub fn offset_changes(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<OffsetChange> {
    let offset = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    let mut changes = Vec::new();
    let mut t = from;
    // Zones change their offset at most a few times a year, never twice
    // within an hour.
    while t < to {
        let next = (t + Duration::hours(1)).min(to);
        if offset(t) != offset(next) {
            let (mut lo, mut hi) = (t, next);
            while hi - lo > Duration::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if offset(mid) == offset(lo) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let at = DateTime::from_timestamp(hi.timestamp(), 0).unwrap_or(hi);
            changes.push(OffsetChange {
                at,
                before: offset(lo),
                after: offset(at),
            });
        }
        t = next;
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;

    fn z(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn policy() -> SchedulePolicy {
        SchedulePolicy {
            start: None,
            end: None,
            catchup: false,
            max_active_runs: 16,
        }
    }

    #[test]
    fn finds_the_fall_back_to_the_second() {
        let changes = offset_changes(
            New_York,
            z("2026-10-31T00:00:00Z"),
            z("2026-11-02T00:00:00Z"),
        );
        assert_eq!(
            changes,
            [OffsetChange {
                at: z("2026-11-01T06:00:00Z"),
                before: FixedOffset::west_opt(4 * 3600).unwrap(),
                after: FixedOffset::west_opt(5 * 3600).unwrap(),
            }]
        );
        assert!(
            offset_changes(
                chrono_tz::Asia::Tokyo,
                z("2026-01-01T00:00:00Z"),
                z("2027-01-01T00:00:00Z")
            )
            .is_empty()
        );
    }

    #[test]
    fn next_points_respect_start_and_end() {
        let schedule = Schedule::parse("@daily", chrono_tz::UTC).unwrap();
        let bounded = SchedulePolicy {
            start: Some(z("2026-12-10T00:00:00Z")),
            end: Some(z("2026-12-11T23:59:59Z")),
            ..policy()
        };
        let preview = schedule.preview(
            &bounded,
            PreviewRange::Next {
                now: z("2026-12-01T12:00:00Z"),
                count: 5,
            },
        );
        let ids: Vec<&str> = preview.runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "scheduled__2026-12-10T00:00:00+00:00",
                "scheduled__2026-12-11T00:00:00+00:00"
            ]
        );
    }

    #[test]
    fn a_range_says_when_it_held_more_points_than_shown() {
        let schedule = Schedule::parse("@hourly", chrono_tz::UTC).unwrap();
        let day = LocalTime::parse("2026-12-01", chrono_tz::UTC).unwrap();
        let range = |limit| PreviewRange::Between {
            from: day,
            to: day,
            limit,
        };
        let preview = schedule.preview(&policy(), range(10));
        assert_eq!((preview.runs.len(), preview.truncated), (10, true));
        let preview = schedule.preview(&policy(), range(24));
        assert_eq!((preview.runs.len(), preview.truncated), (24, false));
    }
}
