//! When a DAG runs: cron points in the DAG's time zone, the run each point
//! makes, and which runs a tick creates (docs/schedules.md).
//!
//! A point is a local wall-clock time that matches the cron expression. It
//! fires at the instant that time happens in the DAG's zone; a time inside a
//! spring-forward gap fires when the gap ends, and a time that happens twice
//! in the fall-back hour fires once, at its first occurrence.

mod cron;
mod preview;
mod wake;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

pub use cron::Cron;
pub use preview::{OffsetChange, PlannedRun, Preview, PreviewRange, offset_changes};
pub use wake::{BUSY_TICK, SAFETY_TICK, next_point, next_tick};

/// A DAG's schedule: a cron expression (or preset) in a time zone, a fixed
/// interval from `start`, or none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    rule: Rule,
    tz: Tz,
}

/// What makes the points.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    None,
    Cron(Cron),
    /// Every `step` from `anchor`, in real time (DST does not stretch it).
    Every {
        step: Duration,
        anchor: DateTime<Utc>,
    },
}

/// The times a run is about; see docs/schedules.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunTiming {
    /// The schedule point (or trigger time) the run is for.
    pub logical_date: DateTime<Utc>,
    /// Start of the data interval (inclusive).
    pub data_interval_start: DateTime<Utc>,
    /// End of the data interval (exclusive).
    pub data_interval_end: DateTime<Utc>,
}

/// What bounds a DAG's scheduled runs: the spec's `start`, `end`, `catchup`
/// and `max_active_runs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedulePolicy {
    /// The first instant a point may be at.
    pub start: Option<DateTime<Utc>>,
    /// The last instant a point may be at.
    pub end: Option<DateTime<Utc>>,
    /// Create every missed point since `start`, not only the latest.
    pub catchup: bool,
    /// How many runs may be active at once.
    pub max_active_runs: u32,
}

/// How far back [`Schedule::previous_before`] looks before giving up.
const MAX_LOOKBACK_DAYS: i64 = 366 * 9;

impl Schedule {
    /// Parses a 5-field cron expression, a preset (`@hourly`, `@daily`,
    /// `@weekly`, `@monthly`, `@quarterly`, `@yearly`) or `none`.
    pub fn parse(text: &str, tz: Tz) -> Result<Schedule, String> {
        Schedule::parse_from(text, tz, None)
    }

    /// Parses a schedule whose DAG starts at `start`: also `every 90m`, a
    /// fixed interval counted from `start`.
    pub fn parse_from(
        text: &str,
        tz: Tz,
        start: Option<DateTime<Utc>>,
    ) -> Result<Schedule, String> {
        let text = text.trim();
        let cron = |expr: &str| Cron::parse(expr).map(Rule::Cron);
        let rule = match text {
            "none" => Ok(Rule::None),
            "@hourly" => cron("0 * * * *"),
            "@daily" | "@midnight" => cron("0 0 * * *"),
            "@weekly" => cron("0 0 * * 0"),
            "@monthly" => cron("0 0 1 * *"),
            "@quarterly" => cron("0 0 1 */3 *"),
            "@yearly" | "@annually" => cron("0 0 1 1 *"),
            preset if preset.starts_with('@') => Err(format!(
                "unknown schedule preset `{preset}`; use @hourly, @daily, @weekly, @monthly, @quarterly, @yearly, every <duration>, a 5-field cron expression or none"
            )),
            every if every.starts_with("every ") => every_rule(&every[6..], start),
            expr => cron(expr),
        }?;
        Ok(Schedule {
            text: text.to_string(),
            rule,
            tz,
        })
    }

    /// A schedule that never fires: the DAG runs only when triggered.
    pub fn none(tz: Tz) -> Schedule {
        Schedule {
            text: "none".into(),
            rule: Rule::None,
            tz,
        }
    }

    /// The schedule as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The zone the schedule and all date macros use.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Whether the DAG runs only when triggered.
    pub fn is_none(&self) -> bool {
        self.rule == Rule::None
    }

    /// Every point strictly after `after`, in order.
    pub fn points_after(&self, after: DateTime<Utc>) -> Points<'_> {
        let next = match &self.rule {
            Rule::None => Next::Never,
            Rule::Cron(cron) => Next::Cron {
                cron,
                tz: self.tz,
                // Start a day and more before, in local time, so that no
                // offset change can hide a point whose instant is after
                // `after`.
                cursor: Some(after.with_timezone(&self.tz).naive_local() - Duration::hours(26)),
            },
            Rule::Every { step, anchor } => {
                // The last point at or before `after`, or the one just past.
                let size = step.num_seconds();
                let steps = (after - *anchor).num_seconds().div_euclid(size);
                let point = steps
                    .checked_mul(size)
                    .and_then(Duration::try_seconds)
                    .and_then(|offset| anchor.checked_add_signed(offset));
                Next::Every { step: *step, point }
            }
        };
        Points { next, last: after }
    }

    /// The first point strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.points_after(t).next()
    }

    /// The last point strictly before `t`.
    pub fn previous_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.rule {
            Rule::None => return None,
            Rule::Every { step, .. } => {
                return self
                    .points_after(t - *step - *step)
                    .take_while(|p| *p < t)
                    .last();
            }
            Rule::Cron(_) => {}
        }
        let mut days = 2;
        while days <= MAX_LOOKBACK_DAYS * 2 {
            let found = self
                .points_after(t - Duration::days(days))
                .take_while(|p| *p < t)
                .last();
            if found.is_some() {
                return found;
            }
            days *= 2;
        }
        None
    }

    /// The last point at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.previous_before(t + Duration::nanoseconds(1))
    }

    /// Every point in `[from, to]`.
    pub fn points_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.points_after(from - Duration::nanoseconds(1))
            .take_while(move |p| *p <= to)
    }

    /// The run for a schedule point: `logical_date` is the point and the
    /// data interval runs from the previous point to it.
    pub fn run_for_point(&self, point: DateTime<Utc>) -> RunTiming {
        RunTiming {
            logical_date: point,
            data_interval_start: self.previous_before(point).unwrap_or(point),
            data_interval_end: point,
        }
    }

    /// The run a manual trigger at `now` makes: `logical_date` is `now` and
    /// the data interval is the latest complete one, the one the scheduled
    /// run at the latest point covered. Without a schedule the interval is
    /// empty, at `now`.
    pub fn run_for_trigger(&self, now: DateTime<Utc>) -> RunTiming {
        let interval = self
            .latest_at_or_before(now)
            .map(|end| (self.previous_before(end).unwrap_or(end), end))
            .unwrap_or((now, now));
        RunTiming {
            logical_date: now,
            data_interval_start: interval.0,
            data_interval_end: interval.1,
        }
    }

    /// The points a tick at `now` should create runs for, oldest first.
    ///
    /// `last_point` is the latest point a run was already created for and
    /// `active_runs` how many runs are queued or running. With `catchup`,
    /// every missed point since `start` (or since `last_point`) is due, as
    /// many as `max_active_runs` leaves room for; without it only the latest
    /// point is.
    pub fn due_points(
        &self,
        policy: &SchedulePolicy,
        last_point: Option<DateTime<Utc>>,
        active_runs: usize,
        now: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let room = (policy.max_active_runs as usize).saturating_sub(active_runs);
        if room == 0 {
            return Vec::new();
        }
        let until = policy.end.map_or(now, |end| end.min(now));
        let after_bound = |p: &DateTime<Utc>| {
            last_point.is_none_or(|last| *p > last) && policy.start.is_none_or(|s| *p >= s)
        };
        if policy.catchup {
            let from = match (last_point, policy.start) {
                (Some(last), _) => last,
                (None, Some(start)) => start - Duration::nanoseconds(1),
                (None, None) => return self.latest_due(until, after_bound),
            };
            return self
                .points_after(from)
                .take_while(|p| *p <= until)
                .filter(after_bound)
                .take(room)
                .collect();
        }
        self.latest_due(until, after_bound)
    }

    fn latest_due(
        &self,
        until: DateTime<Utc>,
        after_bound: impl Fn(&DateTime<Utc>) -> bool,
    ) -> Vec<DateTime<Utc>> {
        self.latest_at_or_before(until)
            .filter(after_bound)
            .into_iter()
            .collect()
    }

    /// The points a backfill from `from` to `to` covers: every point whose
    /// local date lies between two dates, both included; a date-time bound
    /// is taken as that instant.
    pub fn backfill_points(
        &self,
        from: LocalTime,
        to: LocalTime,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.points_between(from.first_instant(self.tz), to.last_instant(self.tz))
    }
}

/// An iterator over schedule points, in order, each once.
pub struct Points<'a> {
    next: Next<'a>,
    last: DateTime<Utc>,
}

/// Where the next point comes from.
enum Next<'a> {
    Never,
    Cron {
        cron: &'a Cron,
        tz: Tz,
        cursor: Option<NaiveDateTime>,
    },
    Every {
        step: Duration,
        point: Option<DateTime<Utc>>,
    },
}

impl Iterator for Points<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        loop {
            let instant = match &mut self.next {
                Next::Never => return None,
                Next::Cron { cron, tz, cursor } => {
                    let local = cron.next_match((*cursor)?)?;
                    *cursor = local.checked_add_signed(Duration::minutes(1));
                    resolve_local(*tz, local)
                }
                Next::Every { step, point } => {
                    let current = (*point)?;
                    *point = current.checked_add_signed(*step);
                    current
                }
            };
            // Instants never decrease as local time increases, so skipping
            // the ones not after the last keeps each point exactly once.
            if instant > self.last {
                self.last = instant;
                return Some(instant);
            }
        }
    }
}

/// `every <duration>`: at least a minute, in whole minutes, from `start`.
fn every_rule(text: &str, start: Option<DateTime<Utc>>) -> Result<Rule, String> {
    let step = crate::duration::parse_duration(text)?;
    if step.as_secs() < 60 || step.as_secs() % 60 != 0 {
        return Err(format!(
            "`every {text}`: the interval must be whole minutes, at least 1m"
        ));
    }
    let anchor = start.ok_or_else(|| {
        format!("`every {text}` needs a `start`: the points are `start`, `start` + {text}, ...")
    })?;
    let step = Duration::seconds(step.as_secs() as i64);
    Ok(Rule::Every { step, anchor })
}

/// The instant a local wall-clock time happens in `tz`: the first
/// occurrence when it happens twice, the end of the gap when it never does.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    // Gaps are whole minutes and at most a day long (Samoa, 2011).
    for _ in 0..=24 * 60 {
        if let Some(earliest) = tz.from_local_datetime(&probe).earliest() {
            return earliest.with_timezone(&Utc);
        }
        probe += Duration::minutes(1);
    }
    Utc.from_utc_datetime(&local)
}

/// A time bound as written in a spec or on the command line: a local date,
/// or a date-time (local unless it carries an offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalTime {
    /// A whole local day.
    Date(NaiveDate),
    /// An exact instant.
    Instant(DateTime<Utc>),
}

impl LocalTime {
    /// Parses `2026-11-01`, `2026-11-01T09:00[:00]` (local to `tz`) or an
    /// RFC 3339 time with an offset.
    pub fn parse(text: &str, tz: Tz) -> Result<LocalTime, String> {
        let text = text.trim();
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(LocalTime::Date(date));
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(LocalTime::Instant(t.with_timezone(&Utc)));
        }
        for format in [
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
        ] {
            if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
                return Ok(LocalTime::Instant(resolve_local(tz, local)));
            }
        }
        Err(format!(
            "`{text}` is not a date or time; write 2026-11-01, 2026-11-01T09:00 or 2026-11-01T09:00:00+09:00"
        ))
    }

    /// The first instant the bound covers.
    pub fn first_instant(self, tz: Tz) -> DateTime<Utc> {
        match self {
            LocalTime::Date(date) => resolve_local(tz, date.and_time(NaiveTime::MIN)),
            LocalTime::Instant(t) => t,
        }
    }

    /// The last instant the bound covers.
    pub fn last_instant(self, tz: Tz) -> DateTime<Utc> {
        match self {
            LocalTime::Date(date) => match date.succ_opt() {
                Some(next) => {
                    resolve_local(tz, next.and_time(NaiveTime::MIN)) - Duration::nanoseconds(1)
                }
                None => DateTime::<Utc>::MAX_UTC,
            },
            LocalTime::Instant(t) => t,
        }
    }
}

#[cfg(test)]
mod tests;
