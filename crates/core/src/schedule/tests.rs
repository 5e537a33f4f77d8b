//! Schedule points across DST changes, asserted as exact UTC instants.

use super::*;
use chrono_tz::{America::New_York, Asia::Tokyo, Europe::Berlin};

fn z(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn points(cron: &str, tz: Tz, from: &str, to: &str) -> Vec<String> {
    Schedule::parse(cron, tz)
        .unwrap()
        .points_between(z(from), z(to))
        .map(|p| p.format("%m-%dT%H:%MZ").to_string())
        .collect()
}

mod new_york {
    use super::*;

    // 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z).
    #[test]
    fn hourly_across_spring_forward_fires_at_the_end_of_the_gap_once() {
        assert_eq!(
            points(
                "0 * * * *",
                New_York,
                "2026-03-08T05:00:00Z",
                "2026-03-08T08:00:00Z"
            ),
            [
                "03-08T05:00Z",
                "03-08T06:00Z",
                "03-08T07:00Z",
                "03-08T08:00Z"
            ]
        );
    }

    #[test]
    fn daily_0230_fires_once_on_the_spring_forward_day_when_the_gap_ends() {
        assert_eq!(
            points(
                "30 2 * * *",
                New_York,
                "2026-03-07T00:00:00Z",
                "2026-03-10T00:00:00Z"
            ),
            ["03-07T07:30Z", "03-08T07:00Z", "03-09T06:30Z"]
        );
    }

    #[test]
    fn every_15_minutes_collapses_the_gap_into_one_point() {
        assert_eq!(
            points(
                "*/15 * * * *",
                New_York,
                "2026-03-08T06:30:00Z",
                "2026-03-08T07:15:00Z"
            ),
            [
                "03-08T06:30Z",
                "03-08T06:45Z",
                "03-08T07:00Z",
                "03-08T07:15Z"
            ]
        );
    }

    // 2026-11-01: 02:00 EDT falls back to 01:00 EST (06:00Z); 01:xx happens twice.
    #[test]
    fn hourly_across_fall_back_fires_the_repeated_hour_once() {
        assert_eq!(
            points(
                "0 * * * *",
                New_York,
                "2026-11-01T04:00:00Z",
                "2026-11-01T08:00:00Z"
            ),
            [
                "11-01T04:00Z",
                "11-01T05:00Z",
                "11-01T07:00Z",
                "11-01T08:00Z"
            ]
        );
    }

    #[test]
    fn daily_0230_fires_once_a_day_across_fall_back() {
        assert_eq!(
            points(
                "30 2 * * *",
                New_York,
                "2026-10-31T00:00:00Z",
                "2026-11-03T00:00:00Z"
            ),
            ["10-31T06:30Z", "11-01T07:30Z", "11-02T07:30Z"]
        );
    }

    #[test]
    fn every_15_minutes_fires_the_ambiguous_quarter_hours_at_their_first_occurrence() {
        assert_eq!(
            points(
                "*/15 * * * *",
                New_York,
                "2026-11-01T05:30:00Z",
                "2026-11-01T07:15:00Z"
            ),
            [
                "11-01T05:30Z",
                "11-01T05:45Z",
                "11-01T07:00Z",
                "11-01T07:15Z"
            ]
        );
    }
}

mod berlin {
    use super::*;

    // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z).
    #[test]
    fn hourly_across_spring_forward() {
        assert_eq!(
            points(
                "@hourly",
                Berlin,
                "2026-03-28T23:00:00Z",
                "2026-03-29T02:00:00Z"
            ),
            [
                "03-28T23:00Z",
                "03-29T00:00Z",
                "03-29T01:00Z",
                "03-29T02:00Z"
            ]
        );
    }

    #[test]
    fn daily_0230_across_spring_forward() {
        assert_eq!(
            points(
                "30 2 * * *",
                Berlin,
                "2026-03-28T00:00:00Z",
                "2026-03-31T00:00:00Z"
            ),
            ["03-28T01:30Z", "03-29T01:00Z", "03-30T00:30Z"]
        );
    }

    #[test]
    fn every_15_minutes_across_spring_forward() {
        assert_eq!(
            points(
                "*/15 * * * *",
                Berlin,
                "2026-03-29T00:30:00Z",
                "2026-03-29T01:15:00Z"
            ),
            [
                "03-29T00:30Z",
                "03-29T00:45Z",
                "03-29T01:00Z",
                "03-29T01:15Z"
            ]
        );
    }

    // 2026-10-25: 03:00 CEST falls back to 02:00 CET (01:00Z); 02:xx happens twice.
    #[test]
    fn hourly_across_fall_back() {
        assert_eq!(
            points(
                "@hourly",
                Berlin,
                "2026-10-24T23:00:00Z",
                "2026-10-25T03:00:00Z"
            ),
            [
                "10-24T23:00Z",
                "10-25T00:00Z",
                "10-25T02:00Z",
                "10-25T03:00Z"
            ]
        );
    }

    #[test]
    fn daily_0230_across_fall_back_fires_at_the_first_occurrence() {
        assert_eq!(
            points(
                "30 2 * * *",
                Berlin,
                "2026-10-24T00:00:00Z",
                "2026-10-27T00:00:00Z"
            ),
            ["10-24T00:30Z", "10-25T00:30Z", "10-26T01:30Z"]
        );
    }

    #[test]
    fn every_15_minutes_across_fall_back() {
        assert_eq!(
            points(
                "*/15 * * * *",
                Berlin,
                "2026-10-25T00:30:00Z",
                "2026-10-25T02:15:00Z"
            ),
            [
                "10-25T00:30Z",
                "10-25T00:45Z",
                "10-25T02:00Z",
                "10-25T02:15Z"
            ]
        );
    }
}

mod tokyo {
    use super::*;

    #[test]
    fn hourly_is_regular() {
        assert_eq!(
            points(
                "0 * * * *",
                Tokyo,
                "2026-11-20T14:00:00Z",
                "2026-11-20T16:00:00Z"
            ),
            ["11-20T14:00Z", "11-20T15:00Z", "11-20T16:00Z"]
        );
    }

    #[test]
    fn daily_0230_is_the_previous_utc_day() {
        assert_eq!(
            points(
                "30 2 * * *",
                Tokyo,
                "2026-11-20T00:00:00Z",
                "2026-11-22T00:00:00Z"
            ),
            ["11-20T17:30Z", "11-21T17:30Z"]
        );
    }

    #[test]
    fn every_15_minutes() {
        assert_eq!(
            points(
                "*/15 * * * *",
                Tokyo,
                "2026-11-20T14:50:00Z",
                "2026-11-20T15:30:00Z"
            ),
            ["11-20T15:00Z", "11-20T15:15Z", "11-20T15:30Z"]
        );
    }

    #[test]
    fn daily_run_at_midnight_covers_yesterday() {
        let schedule = Schedule::parse("@daily", Tokyo).unwrap();
        let point = z("2026-11-21T00:00:00+09:00");
        assert_eq!(schedule.next_after(z("2026-11-20T12:00:00Z")), Some(point));
        let run = schedule.run_for_point(point);
        assert_eq!(run.logical_date, point);
        assert_eq!(run.data_interval_start, z("2026-11-20T00:00:00+09:00"));
        assert_eq!(run.data_interval_end, point);
    }
}

#[test]
fn next_and_previous_are_strict() {
    let schedule = Schedule::parse("30 2 * * *", New_York).unwrap();
    let point = z("2026-03-08T07:00:00Z");
    assert_eq!(schedule.next_after(point), Some(z("2026-03-09T06:30:00Z")));
    assert_eq!(
        schedule.previous_before(point),
        Some(z("2026-03-07T07:30:00Z"))
    );
    assert_eq!(schedule.latest_at_or_before(point), Some(point));
    let yearly = Schedule::parse("@yearly", Berlin).unwrap();
    assert_eq!(
        yearly.previous_before(z("2026-11-21T00:00:00Z")),
        Some(z("2026-01-01T00:00:00+01:00"))
    );
}

#[test]
fn manual_runs_cover_the_latest_complete_interval() {
    let schedule = Schedule::parse("@daily", Tokyo).unwrap();
    let now = z("2026-11-21T06:00:00Z"); // 15:00 JST
    let run = schedule.run_for_trigger(now);
    assert_eq!(run.logical_date, now);
    assert_eq!(run.data_interval_start, z("2026-11-20T00:00:00+09:00"));
    assert_eq!(run.data_interval_end, z("2026-11-21T00:00:00+09:00"));
    let unscheduled = Schedule::none(Tokyo).run_for_trigger(now);
    assert_eq!(
        (
            unscheduled.data_interval_start,
            unscheduled.data_interval_end
        ),
        (now, now)
    );
}

#[test]
fn none_never_fires() {
    let schedule = Schedule::parse("none", Tokyo).unwrap();
    assert!(schedule.is_none());
    assert_eq!(schedule.next_after(z("2026-11-21T00:00:00Z")), None);
    assert_eq!(schedule.previous_before(z("2026-11-21T00:00:00Z")), None);
}

#[test]
fn unknown_presets_are_rejected() {
    let err = Schedule::parse("@fortnightly", Tokyo).unwrap_err();
    assert!(
        err.starts_with("unknown schedule preset `@fortnightly`"),
        "{err}"
    );
}

mod due {
    use super::*;

    fn policy(start: Option<&str>, catchup: bool, max_active_runs: u32) -> SchedulePolicy {
        SchedulePolicy {
            start: start.map(z),
            end: None,
            catchup,
            max_active_runs,
        }
    }

    fn daily() -> Schedule {
        Schedule::parse("@daily", Tokyo).unwrap()
    }

    #[test]
    fn catchup_creates_every_missed_point_since_start_up_to_the_limit() {
        let now = z("2026-11-05T12:00:00+09:00");
        let due = daily().due_points(
            &policy(Some("2026-11-01T00:00:00+09:00"), true, 3),
            None,
            0,
            now,
        );
        assert_eq!(
            due,
            [
                z("2026-11-01T00:00:00+09:00"),
                z("2026-11-02T00:00:00+09:00"),
                z("2026-11-03T00:00:00+09:00")
            ]
        );
        let after = daily().due_points(
            &policy(Some("2026-11-01T00:00:00+09:00"), true, 3),
            Some(z("2026-11-03T00:00:00+09:00")),
            1,
            now,
        );
        assert_eq!(
            after,
            [
                z("2026-11-04T00:00:00+09:00"),
                z("2026-11-05T00:00:00+09:00")
            ]
        );
    }

    #[test]
    fn without_catchup_only_the_latest_point_is_due_once() {
        let now = z("2026-11-05T12:00:00+09:00");
        let p = policy(Some("2026-11-01T00:00:00+09:00"), false, 16);
        assert_eq!(
            daily().due_points(&p, None, 0, now),
            [z("2026-11-05T00:00:00+09:00")]
        );
        assert!(
            daily()
                .due_points(&p, Some(z("2026-11-05T00:00:00+09:00")), 0, now)
                .is_empty()
        );
    }

    #[test]
    fn nothing_is_due_before_start_after_end_or_at_the_active_run_limit() {
        let now = z("2026-11-05T12:00:00+09:00");
        let future = policy(Some("2026-12-01T00:00:00+09:00"), true, 16);
        assert!(daily().due_points(&future, None, 0, now).is_empty());
        let ended = SchedulePolicy {
            end: Some(z("2026-11-02T00:00:00+09:00")),
            ..policy(Some("2026-11-01T00:00:00+09:00"), true, 16)
        };
        assert_eq!(daily().due_points(&ended, None, 0, now).len(), 2);
        let full = policy(Some("2026-11-01T00:00:00+09:00"), true, 2);
        assert!(daily().due_points(&full, None, 2, now).is_empty());
    }
}

mod backfill {
    use super::*;

    #[test]
    fn date_bounds_cover_whole_local_days_both_included() {
        let schedule = Schedule::parse("30 2 * * *", Tokyo).unwrap();
        let from = LocalTime::parse("2026-11-01", Tokyo).unwrap();
        let to = LocalTime::parse("2026-11-03", Tokyo).unwrap();
        assert_eq!(
            schedule.backfill_points(from, to).collect::<Vec<_>>(),
            [
                z("2026-11-01T02:30:00+09:00"),
                z("2026-11-02T02:30:00+09:00"),
                z("2026-11-03T02:30:00+09:00")
            ]
        );
    }

    #[test]
    fn date_time_bounds_are_instants() {
        let schedule = Schedule::parse("@hourly", Berlin).unwrap();
        let from = LocalTime::parse("2026-11-01T10:30", Berlin).unwrap();
        let to = LocalTime::parse("2026-11-01T12:00:00+01:00", Berlin).unwrap();
        assert_eq!(
            schedule.backfill_points(from, to).collect::<Vec<_>>(),
            [
                z("2026-11-01T11:00:00+01:00"),
                z("2026-11-01T12:00:00+01:00")
            ]
        );
    }

    #[test]
    fn bad_bounds_say_what_to_write() {
        let err = LocalTime::parse("yesterday", Tokyo).unwrap_err();
        assert!(err.contains("is not a date or time"), "{err}");
    }
}

/// The rows of issue 16's table: December 2026 in UTC, the days each
/// schedule fires on (Airflow's croniter agrees).
mod issue_16 {
    use super::*;
    use chrono::Datelike;

    fn december_days(cron: &str) -> Vec<u32> {
        let schedule = Schedule::parse(cron, chrono_tz::UTC).unwrap();
        let (from, to) = (
            LocalTime::parse("2026-12-01", chrono_tz::UTC).unwrap(),
            LocalTime::parse("2026-12-31", chrono_tz::UTC).unwrap(),
        );
        schedule
            .backfill_points(from, to)
            .map(|p| {
                assert_eq!(p.format("%H:%M").to_string(), "12:00");
                p.day()
            })
            .collect()
    }

    #[test]
    fn every_15_days_from_the_first() {
        assert_eq!(december_days("0 12 */15 * *"), [1, 16, 31]);
    }

    #[test]
    fn every_fourth_weekday_from_sunday_is_sundays_and_thursdays() {
        assert_eq!(
            december_days("0 12 * * */4"),
            [3, 6, 10, 13, 17, 20, 24, 27, 31]
        );
    }

    #[test]
    fn odd_days_or_mondays() {
        let expected: Vec<u32> = (1..=31)
            .filter(|d| d % 2 == 1 || [7, 14, 21, 28].contains(d))
            .collect();
        assert_eq!(december_days("0 12 */2 * 1"), expected);
    }

    #[test]
    fn a_stepped_range_as_before() {
        assert_eq!(december_days("0 12 1-31/15 * *"), [1, 16, 31]);
    }
}

mod presets_and_intervals {
    use super::*;

    #[test]
    fn quarterly_is_the_first_of_every_third_month() {
        assert_eq!(
            points(
                "@quarterly",
                Tokyo,
                "2026-01-01T00:00:00Z",
                "2027-01-01T00:00:00Z"
            ),
            [
                "03-31T15:00Z",
                "06-30T15:00Z",
                "09-30T15:00Z",
                "12-31T15:00Z"
            ]
        );
    }

    #[test]
    fn every_90m_counts_real_time_from_start_across_fall_back() {
        let start = z("2026-10-31T22:00:00-04:00");
        let schedule = Schedule::parse_from("every 90m", New_York, Some(start)).unwrap();
        let got: Vec<String> = schedule
            .points_between(z("2026-11-01T03:00:00Z"), z("2026-11-01T09:00:00Z"))
            .map(|p| p.format("%H:%MZ").to_string())
            .collect();
        assert_eq!(got, ["03:30Z", "05:00Z", "06:30Z", "08:00Z"]);
        let point = z("2026-11-01T06:30:00Z");
        assert_eq!(
            schedule.previous_before(point),
            Some(z("2026-11-01T05:00:00Z"))
        );
        let run = schedule.run_for_point(start);
        assert_eq!(run.data_interval_start, start - Duration::minutes(90));
    }

    #[test]
    fn every_needs_a_start_and_whole_minutes() {
        let err = Schedule::parse("every 90m", Tokyo).unwrap_err();
        assert!(err.contains("`every 90m` needs a `start`"), "{err}");
        let start = Some(z("2026-11-01T00:00:00Z"));
        for (text, expected) in [
            ("every 30s", "whole minutes, at least 1m"),
            ("every 90s", "whole minutes, at least 1m"),
            ("every soon", "is not a duration"),
        ] {
            let err = Schedule::parse_from(text, Tokyo, start).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
