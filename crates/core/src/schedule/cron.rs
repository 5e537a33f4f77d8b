//! Five-field cron expressions, matched against local wall-clock time.
//!
//! Fields are minute, hour, day of month, month, day of week, each with `*`,
//! lists, ranges, steps and (for month and weekday) names. As in Vixie cron,
//! when both day fields are restricted a day matches if either does.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// A parsed cron expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    dom_restricted: bool,
    dow_restricted: bool,
}

/// How far ahead a search for the next matching day may look: long enough
/// for a 29 February that skips a non-leap century year.
const MAX_SEARCH_DAYS: u32 = 366 * 9;

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
        let field = |i: usize, name: &str, min: u32, max: u32, names: &[&str]| {
            parse_field(fields[i], min, max, names)
                .map_err(|why| format!("cron `{text}`: {name} field `{}`: {why}", fields[i]))
        };
        let minutes = field(0, "minute", 0, 59, &[])?;
        let hours = field(1, "hour", 0, 23, &[])?;
        let days_of_month = field(2, "day-of-month", 1, 31, &[])?;
        let months = field(3, "month", 1, 12, &MONTH_NAMES)?;
        let mut days_of_week = field(4, "day-of-week", 0, 7, &DAY_NAMES)?;
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week | 1) & 0x7f;
        }
        let cron = Cron {
            minutes,
            hours: hours as u32,
            days_of_month: days_of_month as u32,
            months: months as u16,
            days_of_week: days_of_week as u8,
            dom_restricted: !fields[2].starts_with('*'),
            dow_restricted: !fields[4].starts_with('*'),
        };
        if !cron.can_ever_match() {
            return Err(format!("cron `{text}` never fires: no month has that day"));
        }
        Ok(cron)
    }

    fn can_ever_match(&self) -> bool {
        // A restricted weekday field matches some day of every month.
        if self.dow_restricted {
            return true;
        }
        (1..=12u32).any(|month| {
            let longest = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month as usize - 1];
            self.months & (1 << month) != 0
                && (1..=longest).any(|d| self.days_of_month & (1 << d) != 0)
        })
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let dom = self.days_of_month & (1 << date.day()) != 0;
        let dow = self.days_of_week & (1 << date.weekday().num_days_from_sunday()) != 0;
        match (self.dom_restricted, self.dow_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first matching local time at or after `from` (rounded up to a
    /// whole minute), or `None` if there is none within nine years.
    pub fn next_match(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut date = from.date();
        let (mut hour, mut minute) = (from.hour(), from.minute());
        if from.second() > 0 || from.nanosecond() > 0 {
            minute += 1;
        }
        for _ in 0..MAX_SEARCH_DAYS {
            if self.day_matches(date)
                && let Some(found) = self.time_in_day(hour, minute)
            {
                return Some(date.and_time(found));
            }
            date = date.succ_opt()?;
            (hour, minute) = (0, 0);
        }
        None
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

/// The smallest set bit at or above `from`.
fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = mask >> from;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

fn parse_field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let mut mask = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("step `{step}` must be a positive number"))?;
                (range, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((lo, hi)) = range.split_once('-') {
            (value(lo, min, max, names)?, value(hi, min, max, names)?)
        } else {
            let v = value(range, min, max, names)?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo > hi {
            return Err(format!("range {lo}-{hi} runs backwards"));
        }
        for v in (lo..=hi).step_by(step as usize) {
            mask |= 1 << v;
        }
    }
    Ok(mask)
}

fn value(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + min);
    }
    let v: u32 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if v < min || v > max {
        return Err(format!("{v} is outside {min}-{max}"));
    }
    Ok(v)
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
            ("0 0 30 2 *", "never fires"),
        ];
        for (expr, expected) in cases {
            let err = Cron::parse(expr).unwrap_err();
            assert!(err.contains(expected), "{expr}: {err}");
        }
    }
}
