//! Five-field cron expressions, matched against local wall-clock time.
//!
//! Fields are minute, hour, day of month, month, day of week, each a list of
//! `*`, values, ranges and steps (`*/15`, `1-31/15`, `5/15`), with the names
//! `jan`–`dec` and `sun`–`sat`; `7` is Sunday too. Day of month also takes
//! `L` (the month's last day); day of week takes `5L`, `FRIL` or `L5` (the
//! month's last Friday) and `MON#1` (its first Monday).
//!
//! The two day fields combine as in Airflow (croniter): when neither allows
//! every day, a day matches if either field matches; otherwise both must.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// A parsed cron expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    months: u16,
    days_of_month: DaysOfMonth,
    days_of_week: DaysOfWeek,
    either_day: bool,
}

/// The day-of-month field: plain days (bits 1–31) and `L`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DaysOfMonth {
    days: u32,
    last: bool,
}

/// The day-of-week field: plain weekdays (bits 0–6, Sunday first), the
/// last of a weekday in its month, and the n-th (bits 1–5) of a weekday.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DaysOfWeek {
    days: u8,
    last: u8,
    nth: [u8; 7],
}

/// Every day of a month, bits 1–31.
const ALL_DAYS_OF_MONTH: u32 = !1;
/// Every weekday, bits 0–6.
const ALL_DAYS_OF_WEEK: u8 = 0x7f;

/// How far ahead a search for the next matching day may look: long enough
/// for the rarest day there is, a fifth Monday in February, even across a
/// century year that is not leap.
const MAX_SEARCH_DAYS: u32 = 366 * 50;

const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    /// Parses `min hour dom month dow`.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "`{text}` is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            ));
        }
        let wrong = |i: usize, name: &str, why: String| {
            format!("cron `{text}`: {name} field `{}`: {why}", fields[i])
        };
        let minutes = parse_field(fields[0], &MINUTE).map_err(|why| wrong(0, "minute", why))?;
        let hours = parse_field(fields[1], &HOUR).map_err(|why| wrong(1, "hour", why))?;
        let days_of_month =
            parse_days_of_month(fields[2]).map_err(|why| wrong(2, "day-of-month", why))?;
        let months = parse_field(fields[3], &MONTH).map_err(|why| wrong(3, "month", why))?;
        let days_of_week =
            parse_days_of_week(fields[4]).map_err(|why| wrong(4, "day-of-week", why))?;
        let either_day =
            days_of_month.days != ALL_DAYS_OF_MONTH && days_of_week.days != ALL_DAYS_OF_WEEK;
        let cron = Cron {
            minutes,
            hours: hours as u32,
            months: months as u16,
            days_of_month,
            days_of_week,
            either_day,
        };
        // Every combination of month length, leap year and first weekday
        // happens within fifty years of any day.
        let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
        if cron.next_day(epoch).is_none() {
            return Err(format!("cron `{text}` never fires: no month has that day"));
        }
        Ok(cron)
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let dom = self.days_of_month.matches(date);
        let dow = self.days_of_week.matches(date);
        if self.either_day {
            dom || dow
        } else {
            dom && dow
        }
    }

    /// The first matching day at or after `date`.
    fn next_day(&self, mut date: NaiveDate) -> Option<NaiveDate> {
        for _ in 0..MAX_SEARCH_DAYS {
            if self.day_matches(date) {
                return Some(date);
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// The first matching local time at or after `from` (rounded up to a
    /// whole minute), or `None` if there is none within fifty years.
    pub fn next_match(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut date = from.date();
        let (mut hour, mut minute) = (from.hour(), from.minute());
        if from.second() > 0 || from.nanosecond() > 0 {
            minute += 1;
        }
        loop {
            let day = self.next_day(date)?;
            if day != date {
                (date, hour, minute) = (day, 0, 0);
            }
            if let Some(found) = self.time_in_day(hour, minute) {
                return Some(date.and_time(found));
            }
            date = date.succ_opt()?;
            (hour, minute) = (0, 0);
        }
    }

    fn time_in_day(&self, hour: u32, minute: u32) -> Option<NaiveTime> {
        let h = next_bit(self.hours as u64, hour)?;
        let from_minute = if h == hour { minute } else { 0 };
        if let Some(m) = next_bit(self.minutes, from_minute) {
            return NaiveTime::from_hms_opt(h, m, 0);
        }
        let h = next_bit(self.hours as u64, h + 1)?;
        NaiveTime::from_hms_opt(h, next_bit(self.minutes, 0)?, 0)
    }
}

impl DaysOfMonth {
    fn matches(&self, date: NaiveDate) -> bool {
        self.days & (1 << date.day()) != 0 || (self.last && is_last_day(date))
    }
}

impl DaysOfWeek {
    fn matches(&self, date: NaiveDate) -> bool {
        let day = date.weekday().num_days_from_sunday() as usize;
        let weekday = 1u8 << day;
        let last_of_month = (date + Duration::days(7)).month() != date.month();
        let nth = 1u8 << ((date.day() - 1) / 7 + 1);
        self.days & weekday != 0
            || (self.last & weekday != 0 && last_of_month)
            || self.nth[day] & nth != 0
    }
}

/// Whether no later day of the same month exists.
fn is_last_day(date: NaiveDate) -> bool {
    date.succ_opt()
        .is_none_or(|next| next.month() != date.month())
}

/// The smallest set bit at or above `from`.
fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = mask >> from;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

/// The values one field allows and the names it knows.
struct FieldRange {
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Whether a range may end on Sunday written as 0 (`sat-sun`).
    ends_on_sunday: bool,
}

const MINUTE: FieldRange = FieldRange {
    min: 0,
    max: 59,
    names: &[],
    ends_on_sunday: false,
};
const HOUR: FieldRange = FieldRange {
    min: 0,
    max: 23,
    names: &[],
    ends_on_sunday: false,
};
const DAY_OF_MONTH: FieldRange = FieldRange {
    min: 1,
    max: 31,
    names: &[],
    ends_on_sunday: false,
};
const MONTH: FieldRange = FieldRange {
    min: 1,
    max: 12,
    names: &MONTH_NAMES,
    ends_on_sunday: false,
};
const DAY_OF_WEEK: FieldRange = FieldRange {
    min: 0,
    max: 7,
    names: &DAY_NAMES,
    ends_on_sunday: true,
};

/// A comma-separated list of `*`, values, ranges and steps.
fn parse_field(text: &str, range: &FieldRange) -> Result<u64, String> {
    let mut mask = 0;
    for part in text.split(',') {
        mask |= parse_part(part, range)?;
    }
    Ok(mask)
}

/// One element of a list: `*`, `v`, `a-b`, each with an optional `/step`
/// (`v/step` runs from `v` to the field's maximum).
fn parse_part(part: &str, range: &FieldRange) -> Result<u64, String> {
    let (span, step) = match part.split_once('/') {
        Some((span, step)) => {
            let step: u32 = step
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| format!("step `{step}` must be a positive number"))?;
            (span, step)
        }
        None => (part, 1),
    };
    let (lo, hi) = if span == "*" {
        (range.min, range.max)
    } else if let Some((lo, hi)) = span.split_once('-') {
        let lo = value(lo, range)?;
        let mut hi = value(hi, range)?;
        if range.ends_on_sunday && hi == 0 && lo > 0 {
            hi = 7;
        }
        (lo, hi)
    } else {
        let v = value(span, range)?;
        (v, if part.contains('/') { range.max } else { v })
    };
    if lo > hi {
        return Err(format!("range {lo}-{hi} runs backwards"));
    }
    Ok((lo..=hi)
        .step_by(step as usize)
        .fold(0, |mask, v| mask | 1 << v))
}

fn value(text: &str, range: &FieldRange) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = range.names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + range.min);
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{text}` is not a number"));
    }
    let v: u32 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if v < range.min || v > range.max {
        return Err(format!("{v} is outside {}-{}", range.min, range.max));
    }
    Ok(v)
}

fn parse_days_of_month(text: &str) -> Result<DaysOfMonth, String> {
    let mut field = DaysOfMonth {
        days: 0,
        last: false,
    };
    for part in text.split(',') {
        if part.eq_ignore_ascii_case("l") {
            field.last = true;
        } else {
            field.days |= parse_part(part, &DAY_OF_MONTH)? as u32;
        }
    }
    Ok(field)
}

fn parse_days_of_week(text: &str) -> Result<DaysOfWeek, String> {
    let mut field = DaysOfWeek {
        days: 0,
        last: 0,
        nth: [0; 7],
    };
    let weekday = |text: &str| value(text, &DAY_OF_WEEK).map(|v| (v % 7) as usize);
    for part in text.split(',') {
        let lower = part.to_ascii_lowercase();
        if let Some((day, n)) = lower.split_once('#') {
            let n: u32 = n
                .parse()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or_else(|| {
                    format!("`#{n}` must be #1 to #5: MON#1 is a month's first Monday")
                })?;
            field.nth[weekday(day)?] |= 1 << n;
        } else if lower == "l" {
            return Err(
                "`L` in day-of-week needs a weekday: 5L, FRIL or L5 is a month's last Friday"
                    .into(),
            );
        } else if let Some(day) = lower.strip_suffix('l').or_else(|| lower.strip_prefix('l')) {
            field.last |= 1 << weekday(day)?;
        } else {
            let mask = parse_part(part, &DAY_OF_WEEK)?;
            // 7 is Sunday too.
            field.days |= ((mask | mask >> 7) & ALL_DAYS_OF_WEEK as u64) as u8;
        }
    }
    Ok(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    fn next(cron: &str, from: &str) -> String {
        Cron::parse(cron)
            .unwrap()
            .next_match(at(from))
            .unwrap()
            .format("%Y-%m-%d %H:%M %a")
            .to_string()
    }

    /// The days in November 2026 an expression matches (at 12:00).
    fn november_days(cron: &str) -> Vec<u32> {
        let cron = Cron::parse(cron).unwrap();
        (1..=30)
            .filter(|d| cron.day_matches(NaiveDate::from_ymd_opt(2026, 11, *d).unwrap()))
            .collect()
    }

    #[test]
    fn finds_the_next_matching_minute() {
        assert_eq!(
            next("*/15 * * * *", "2026-11-21 10:01"),
            "2026-11-21 10:15 Sat"
        );
        assert_eq!(
            next("30 2 * * *", "2026-11-21 02:30"),
            "2026-11-21 02:30 Sat"
        );
        assert_eq!(
            next("30 2 * * *", "2026-11-21 02:31"),
            "2026-11-22 02:30 Sun"
        );
        assert_eq!(
            next("0 9 * * mon-fri", "2026-11-21 10:00"),
            "2026-11-23 09:00 Mon"
        );
        assert_eq!(
            next("0 0 1 jan *", "2026-11-21 00:00"),
            "2027-01-01 00:00 Fri"
        );
        assert_eq!(
            next("0 0 29 2 *", "2097-03-01 00:00"),
            "2104-02-29 00:00 Fri"
        );
        assert_eq!(
            next("59 23 * * 7", "2026-11-21 00:00"),
            "2026-11-22 23:59 Sun"
        );
    }

    #[test]
    fn both_day_fields_restricted_means_either() {
        // The 13th, or any Friday.
        assert_eq!(
            next("0 0 13 * 5", "2026-11-14 00:00"),
            "2026-11-20 00:00 Fri"
        );
        assert_eq!(
            next("0 0 13 * 5", "2026-11-28 00:00"),
            "2026-12-04 00:00 Fri"
        );
    }

    /// Issue 16: a step on `*` in a day field restricts it, and a field that
    /// allows every day (however written) leaves the other alone.
    #[test]
    fn steps_on_star_restrict_the_day_fields() {
        // 2026-11-01 is a Sunday.
        assert_eq!(november_days("0 12 */15 * *"), [1, 16]);
        assert_eq!(
            november_days("0 12 * * */4"),
            [1, 5, 8, 12, 15, 19, 22, 26, 29]
        );
        let odd_or_monday: Vec<u32> = (1..=30).filter(|d| d % 2 == 1 || d % 7 == 2).collect();
        assert_eq!(november_days("0 12 */2 * 1"), odd_or_monday);
        assert_eq!(november_days("0 12 1-31/15 * *"), [1, 16]);
        // `1-31` and `0-6` allow every day, as `*` does: only the other field counts.
        assert_eq!(november_days("0 12 1-31 * 1"), [2, 9, 16, 23, 30]);
        assert_eq!(
            november_days("0 12 */1 * sun-sat"),
            (1..=30).collect::<Vec<_>>()
        );
        assert_eq!(november_days("0 12 10 * 0-7"), [10]);
    }

    #[test]
    fn last_days_and_nth_weekdays() {
        assert_eq!(november_days("0 0 L * *"), [30]);
        assert_eq!(
            next("0 0 L 2 *", "2028-01-01 00:00"),
            "2028-02-29 00:00 Tue"
        );
        assert_eq!(
            next("0 0 L 2 *", "2027-01-01 00:00"),
            "2027-02-28 00:00 Sun"
        );
        assert_eq!(november_days("0 0 1,L * *"), [1, 30]);
        // Last Friday: 5L, FRIL and croniter's L5 say the same.
        for last_friday in ["0 0 * * 5L", "0 0 * * FRIL", "0 0 * * L5", "0 0 * * fril"] {
            assert_eq!(november_days(last_friday), [27], "{last_friday}");
        }
        assert_eq!(november_days("0 0 * * MON#1"), [2]);
        assert_eq!(november_days("0 0 * * 1#1,fri#3"), [2, 20]);
        assert_eq!(november_days("0 0 * * sun#5"), [29]);
        assert_eq!(november_days("0 0 * * mon#5"), [30]);
        assert_eq!(november_days("0 0 * * tue#5"), Vec::<u32>::new());
        // With a restricted day of month, either matches.
        assert_eq!(november_days("0 0 15 * MON#1"), [2, 15]);
        assert_eq!(november_days("0 0 L * 7L"), [29, 30]);
        // February 2016 had five Mondays; the next February that does is 2044.
        assert_eq!(
            next("0 0 * 2 mon#5", "2016-03-01 00:00"),
            "2044-02-29 00:00 Mon"
        );
    }

    #[test]
    fn weekday_ranges_may_end_on_sunday_as_zero() {
        assert_eq!(
            november_days("0 0 * * sat-sun"),
            [1, 7, 8, 14, 15, 21, 22, 28, 29]
        );
        assert_eq!(november_days("0 0 * * 6-0"), november_days("0 0 * * 6,7"));
    }

    #[test]
    fn seconds_round_up_to_the_next_minute() {
        let cron = Cron::parse("* * * * *").unwrap();
        let from = at("2026-11-21 10:00") + chrono::Duration::seconds(1);
        assert_eq!(cron.next_match(from), Some(at("2026-11-21 10:01")));
    }

    #[test]
    fn bad_expressions_say_which_field_is_wrong() {
        let cases = [
            ("* * * *", "it needs 5 fields"),
            ("60 * * * *", "minute field `60`: 60 is outside 0-59"),
            ("* 24 * * *", "hour field `24`: 24 is outside 0-23"),
            ("* * 0 * *", "day-of-month field `0`"),
            ("* * * 13 *", "month field `13`"),
            ("* * * * 8", "day-of-week field `8`"),
            ("*/0 * * * *", "step `0` must be a positive number"),
            ("5-1 * * * *", "range 5-1 runs backwards"),
            ("x * * * *", "`x` is not a number"),
            ("+5 * * * *", "`+5` is not a number"),
            ("0 0 30 2 *", "never fires"),
            ("0 0 * 2 tue#6", "`#6` must be #1 to #5"),
            ("0 0 * * L", "`L` in day-of-week needs a weekday"),
            ("0 0 * * xL", "`x` is not a number"),
            ("0 0 LW * *", "`LW` is not a number"),
            ("0 0 * * mon#x", "`#x` must be #1 to #5"),
        ];
        for (expr, expected) in cases {
            let err = Cron::parse(expr).unwrap_err();
            assert!(err.contains(expected), "{expr}: {err}");
        }
    }
}
