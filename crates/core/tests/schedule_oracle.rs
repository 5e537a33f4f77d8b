//! The schedule code against a brute-force oracle (issue 16).
//!
//! Random cron expressions, built as data and written out in every syntax
//! form, in eight zones, over windows that cross spring-forward and
//! fall-back. The oracle knows nothing of `Cron`: it takes the generated
//! fields as sets, walks every UTC minute of the window and fires a point at
//! the first instant each matching local wall time is reached — once, at
//! the end of a gap for a time that never happens, at the first occurrence
//! for a time that happens twice. The schedule must make exactly those
//! points.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use proptest::prelude::*;
use updraft_core::schedule::Schedule;

const ZONES: [Tz; 8] = [
    chrono_tz::UTC,
    chrono_tz::Asia::Tokyo,
    chrono_tz::Asia::Kolkata,
    chrono_tz::America::New_York,
    chrono_tz::Europe::Berlin,
    chrono_tz::Australia::Sydney,
    chrono_tz::America::Sao_Paulo,
    chrono_tz::Pacific::Chatham,
];

const PRESETS: [&str; 8] = [
    "@hourly",
    "@daily",
    "@midnight",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
    "@annually",
];

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// One element of a field's list.
#[derive(Clone, Debug)]
enum Part {
    Star,
    StarStep(u32),
    Value(u32),
    Range(u32, u32),
    RangeStep(u32, u32, u32),
    /// `v/step`: from `v` to the field's maximum.
    ValueStep(u32, u32),
}

/// An element of the day-of-month list.
#[derive(Clone, Debug)]
enum DomPart {
    Plain(Part),
    Last,
}

/// An element of the day-of-week list; weekdays are 0–7, 7 being Sunday.
#[derive(Clone, Debug)]
enum DowPart {
    Plain(Part),
    /// The month's last such weekday, written in one of three styles.
    Last(u32, u8),
    /// The month's n-th such weekday.
    Nth(u32, u32),
}

/// A generated expression and how to write it.
#[derive(Clone, Debug)]
struct Expr {
    minutes: Vec<Part>,
    hours: Vec<Part>,
    dom: Vec<DomPart>,
    months: Vec<Part>,
    dow: Vec<DowPart>,
    /// Write months and weekdays by name where one exists.
    names: bool,
}

/// A generated schedule: a cron expression, a preset, or `every`.
#[derive(Clone, Debug)]
enum Generated {
    Cron(Expr),
    Preset(&'static str),
    Every { minutes: i64 },
}

/// The fields as sets, for the oracle.
struct Sets {
    minutes: BTreeSet<u32>,
    hours: BTreeSet<u32>,
    dom: BTreeSet<u32>,
    dom_last: bool,
    months: BTreeSet<u32>,
    dow: BTreeSet<u32>,
    dow_last: BTreeSet<u32>,
    dow_nth: BTreeSet<(u32, u32)>,
}

fn values(part: &Part, min: u32, max: u32) -> BTreeSet<u32> {
    let stepped = |lo: u32, hi: u32, step: u32| (lo..=hi).step_by(step as usize).collect();
    match *part {
        Part::Star => stepped(min, max, 1),
        Part::StarStep(s) => stepped(min, max, s),
        Part::Value(v) => stepped(v, v, 1),
        Part::Range(a, b) => stepped(a, b, 1),
        Part::RangeStep(a, b, s) => stepped(a, b, s),
        Part::ValueStep(v, s) => stepped(v, max, s),
    }
}

fn union(parts: &[Part], min: u32, max: u32) -> BTreeSet<u32> {
    parts.iter().flat_map(|p| values(p, min, max)).collect()
}

impl Expr {
    fn sets(&self) -> Sets {
        let sunday = |v: u32| v % 7;
        let mut sets = Sets {
            minutes: union(&self.minutes, 0, 59),
            hours: union(&self.hours, 0, 23),
            dom: BTreeSet::new(),
            dom_last: false,
            months: union(&self.months, 1, 12),
            dow: BTreeSet::new(),
            dow_last: BTreeSet::new(),
            dow_nth: BTreeSet::new(),
        };
        for part in &self.dom {
            match part {
                DomPart::Plain(p) => sets.dom.extend(values(p, 1, 31)),
                DomPart::Last => sets.dom_last = true,
            }
        }
        for part in &self.dow {
            match part {
                DowPart::Plain(p) => sets.dow.extend(values(p, 0, 7).into_iter().map(sunday)),
                DowPart::Last(d, _) => {
                    sets.dow_last.insert(sunday(*d));
                }
                DowPart::Nth(d, n) => {
                    sets.dow_nth.insert((sunday(*d), *n));
                }
            }
        }
        sets
    }

    fn text(&self) -> String {
        let plain = |parts: &[Part], names: Option<&[&str]>, first: u32| -> Vec<String> {
            parts.iter().map(|p| write_part(p, names, first)).collect()
        };
        let month_names = self.names.then_some(&MONTHS[..]);
        let day_names = self.names.then_some(&WEEKDAYS[..]);
        let dom: Vec<String> = self
            .dom
            .iter()
            .map(|p| match p {
                DomPart::Plain(p) => write_part(p, None, 1),
                DomPart::Last => "L".into(),
            })
            .collect();
        let dow: Vec<String> = self
            .dow
            .iter()
            .map(|p| match p {
                DowPart::Plain(p) => write_part(p, day_names, 0),
                DowPart::Last(d, 0) => format!("{d}L"),
                DowPart::Last(d, 1) => format!("{}L", WEEKDAYS[*d as usize % 7].to_uppercase()),
                DowPart::Last(d, _) => format!("L{d}"),
                DowPart::Nth(d, n) if self.names => {
                    format!("{}#{n}", WEEKDAYS[*d as usize % 7].to_uppercase())
                }
                DowPart::Nth(d, n) => format!("{d}#{n}"),
            })
            .collect();
        [
            plain(&self.minutes, None, 0).join(","),
            plain(&self.hours, None, 0).join(","),
            dom.join(","),
            plain(&self.months, month_names, 1).join(","),
            dow.join(","),
        ]
        .join(" ")
    }
}

/// A part as written; a value with a name may be written by it (Sunday as
/// 7 stays a number, or `sun` at the end of a range).
fn write_part(part: &Part, names: Option<&[&str]>, first: u32) -> String {
    let name = |v: u32| match names {
        Some(names) => names[(v - first) as usize % names.len()].to_string(),
        None => v.to_string(),
    };
    let single = |v: u32| match names {
        Some(names) if ((v - first) as usize) < names.len() => name(v),
        _ => v.to_string(),
    };
    // `sun-sun` is Sunday alone: a range from Sunday ends on 7.
    let end = |a: u32, b: u32| {
        if a == 0 && b == 7 {
            "7".into()
        } else {
            name(b)
        }
    };
    match *part {
        Part::Star => "*".into(),
        Part::StarStep(s) => format!("*/{s}"),
        Part::Value(v) => single(v),
        Part::Range(a, b) => format!("{}-{}", single(a), end(a, b)),
        Part::RangeStep(a, b, s) => format!("{}-{}/{s}", single(a), end(a, b)),
        Part::ValueStep(v, s) => format!("{}/{s}", single(v)),
    }
}

/// What a preset stands for, as the oracle's own sets.
fn preset_expr(preset: &str) -> Expr {
    let at = |v| vec![Part::Value(v)];
    let every = || vec![Part::Star];
    let (minutes, hours, dom, months, dow) = match preset {
        "@hourly" => (at(0), every(), every(), every(), every()),
        "@daily" | "@midnight" => (at(0), at(0), every(), every(), every()),
        "@weekly" => (at(0), at(0), every(), every(), at(0)),
        "@monthly" => (at(0), at(0), at(1), every(), every()),
        "@quarterly" => (
            at(0),
            at(0),
            at(1),
            vec![Part::RangeStep(1, 12, 3)],
            every(),
        ),
        "@yearly" | "@annually" => (at(0), at(0), at(1), at(1), every()),
        other => panic!("no preset {other}"),
    };
    Expr {
        minutes,
        hours,
        dom: dom.into_iter().map(DomPart::Plain).collect(),
        months,
        dow: dow.into_iter().map(DowPart::Plain).collect(),
        names: false,
    }
}

impl Sets {
    /// Whether a local wall time matches, by the fields' definitions.
    fn matches(&self, t: NaiveDateTime) -> bool {
        let date = t.date();
        if !self.minutes.contains(&t.minute())
            || !self.hours.contains(&t.hour())
            || !self.months.contains(&date.month())
        {
            return false;
        }
        let weekday = date.weekday().num_days_from_sunday();
        let same_weekday_in_month = |step: i64| {
            (1..6)
                .filter_map(|k| date.checked_add_signed(Duration::days(7 * k * step)))
                .take_while(|d| d.month() == date.month())
                .count() as u32
        };
        let last_day = date.succ_opt().is_none_or(|d| d.month() != date.month());
        let dom = self.dom.contains(&date.day()) || (self.dom_last && last_day);
        let dow = self.dow.contains(&weekday)
            || (self.dow_last.contains(&weekday) && same_weekday_in_month(1) == 0)
            || self
                .dow_nth
                .contains(&(weekday, same_weekday_in_month(-1) + 1));
        let every_dom = (1..=31).all(|d| self.dom.contains(&d));
        let every_dow = (0..=6).all(|d| self.dow.contains(&d));
        if every_dom || every_dow {
            dom && dow
        } else {
            dom || dow
        }
    }
}

/// The instant of every matching local wall time in `[from, to]`.
fn oracle(sets: &Sets, tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let local = |u: DateTime<Utc>| u.with_timezone(&tz).naive_local();
    // Start well before `from`, so that a wall time reached before it (the
    // first pass of a repeated hour) is known to have fired already.
    let mut u = floor_minute(from - Duration::hours(30));
    let mut reached = local(u) - Duration::minutes(1);
    let mut points = Vec::new();
    while u <= to {
        let wall = local(u);
        if wall > reached {
            let mut m = reached + Duration::minutes(1);
            let mut fires = false;
            while m <= wall {
                fires |= sets.matches(m);
                m += Duration::minutes(1);
            }
            if fires && u >= from {
                points.push(u);
            }
            reached = wall;
        }
        u += Duration::minutes(1);
    }
    points
}

/// Every `step` minutes from `anchor`, in real time.
fn every_oracle(
    step: i64,
    anchor: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let mut u = floor_minute(from);
    let mut points = Vec::new();
    while u <= to {
        if u >= from && (u - anchor).num_minutes().rem_euclid(step) == 0 {
            points.push(u);
        }
        u += Duration::minutes(1);
    }
    points
}

fn floor_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(t.timestamp().div_euclid(60) * 60, 0)
        .unwrap()
}

/// Offset changes by zone name and year.
type Transitions = HashMap<(String, i32), Vec<DateTime<Utc>>>;

/// The instants a zone changes its offset in a year, found by scanning.
fn transitions(tz: Tz, year: i32) -> Vec<DateTime<Utc>> {
    static CACHE: Mutex<Option<Transitions>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap();
    let cache = cache.get_or_insert_with(HashMap::new);
    cache
        .entry((tz.name().to_string(), year))
        .or_insert_with(|| {
            let offset = |u: DateTime<Utc>| tz.offset_from_utc_datetime(&u.naive_utc()).fix();
            let start = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap();
            let mut found = Vec::new();
            let mut u = start;
            while u.year() == year {
                let next = u + Duration::hours(1);
                if offset(u) != offset(next) {
                    let mut m = u;
                    while offset(m) == offset(u) {
                        m += Duration::minutes(1);
                    }
                    found.push(m);
                }
                u = next;
            }
            found
        })
        .clone()
}

fn part(min: u32, max: u32) -> BoxedStrategy<Part> {
    let span = max - min;
    prop_oneof![
        2 => Just(Part::Star),
        2 => (2..=span.max(2)).prop_map(Part::StarStep),
        4 => (min..=max).prop_map(Part::Value),
        2 => (min..=max, min..=max).prop_map(|(a, b)| Part::Range(a.min(b), a.max(b))),
        2 => (min..=max, min..=max, 2..=(span / 2).max(2))
            .prop_map(|(a, b, s)| Part::RangeStep(a.min(b), a.max(b), s)),
        1 => (min..=max, 2..=(span / 2).max(2)).prop_map(|(v, s)| Part::ValueStep(v, s)),
    ]
    .boxed()
}

/// Mostly one element, sometimes a list of two or three.
fn list<S: Strategy + Clone>(item: S) -> impl Strategy<Value = Vec<S::Value>> {
    prop_oneof![
        3 => proptest::collection::vec(item.clone(), 1..=1),
        1 => proptest::collection::vec(item, 2..=3),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    let dom = prop_oneof![
        6 => part(1, 31).prop_map(DomPart::Plain),
        1 => Just(DomPart::Last),
    ];
    let dow = prop_oneof![
        6 => part(0, 7).prop_map(DowPart::Plain),
        1 => (0..=7u32, 0..3u8).prop_map(|(d, style)| DowPart::Last(d, style)),
        1 => (0..=7u32, 1..=5u32).prop_map(|(d, n)| DowPart::Nth(d, n)),
    ];
    (
        list(part(0, 59)),
        list(part(0, 23)),
        list(dom),
        list(part(1, 12)),
        list(dow),
        any::<bool>(),
    )
        .prop_map(|(minutes, hours, dom, months, dow, names)| Expr {
            minutes,
            hours,
            dom,
            months,
            dow,
            names,
        })
}

fn generated() -> impl Strategy<Value = Generated> {
    prop_oneof![
        20 => expr().prop_map(Generated::Cron),
        2 => proptest::sample::select(&PRESETS[..]).prop_map(Generated::Preset),
        1 => prop_oneof![1..=180i64, Just(90i64), Just(1440i64), 1..=4000i64]
            .prop_map(|minutes| Generated::Every { minutes }),
    ]
}

/// A window: a zone, and `[from, to]` around one of its offset changes
/// (most of the time) or anywhere in a year, a few hours to some weeks long.
#[derive(Clone, Debug)]
struct Window {
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

fn window() -> impl Strategy<Value = Window> {
    (
        proptest::sample::select(&ZONES[..]),
        2015..=2030i32,
        any::<proptest::sample::Index>(),
        0..=(3 * 24 * 60i64),
        prop_oneof![8 => 60..=(6 * 24 * 60i64), 1 => (6 * 24 * 60)..=(40 * 24 * 60i64)],
        prop_oneof![Just(0i64), Just(30), 0..60i64],
        0..(365 * 24 * 60i64),
        0..4u8,
    )
        .prop_map(
            |(tz, year, which, before, length, seconds, anywhere, kind)| {
                let changes = transitions(tz, year);
                let year_start = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap();
                let around = match changes.len() {
                    n if n > 0 && kind > 0 => changes[which.index(n)] - Duration::minutes(before),
                    _ => year_start + Duration::minutes(anywhere),
                };
                let from = around + Duration::seconds(seconds);
                Window {
                    tz,
                    from,
                    to: from + Duration::minutes(length),
                }
            },
        )
}

/// How a failing case reads as a regression test of `schedule/tests.rs`.
fn as_regression(text: &str, w: &Window) -> String {
    format!(
        "points({text:?}, chrono_tz::{}, {:?}, {:?})",
        w.tz.name().replace('/', "::"),
        w.from.to_rfc3339(),
        w.to.to_rfc3339()
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn schedule_points_equal_the_oracle(schedule in generated(), w in window()) {
        let (text, expected, anchor) = match &schedule {
            Generated::Cron(expr) => (expr.text(), Some(expr.sets()), None),
            Generated::Preset(p) => (p.to_string(), Some(preset_expr(p).sets()), None),
            Generated::Every { minutes } => {
                let anchor = floor_minute(w.from - Duration::minutes(minutes * 7 + 13));
                (format!("every {minutes}m"), None, Some(anchor))
            }
        };
        let parsed = Schedule::parse_from(&text, w.tz, anchor);
        let expected_points = match (&expected, anchor) {
            (Some(sets), _) => oracle(sets, w.tz, w.from, w.to),
            (None, Some(anchor)) => every_oracle(text[6..text.len() - 1].parse().unwrap(), anchor, w.from, w.to),
            (None, None) => unreachable!(),
        };
        let schedule = match parsed {
            Ok(schedule) => schedule,
            Err(why) => {
                prop_assert!(why.contains("never fires"), "{text}: {why}");
                let sets = expected.as_ref().expect("only cron can never fire");
                let days = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap().iter_days().take(400 * 366);
                prop_assert!(
                    days.into_iter().all(|d| !sets.matches_day(d)),
                    "{text} was refused as never firing, but the oracle finds a day"
                );
                return Ok(());
            }
        };
        let got: Vec<DateTime<Utc>> = schedule.points_between(w.from, w.to).collect();
        prop_assert_eq!(&got, &expected_points, "{}", as_regression(&text, &w));
        if let [.., before, last] = expected_points[..] {
            prop_assert_eq!(schedule.previous_before(last), Some(before), "previous_before: {}", as_regression(&text, &w));
        }
        if let [first, after, ..] = expected_points[..] {
            prop_assert_eq!(schedule.next_after(first), Some(after), "next_after: {}", as_regression(&text, &w));
        }
    }
}

impl Sets {
    /// Whether some time of a local day matches.
    fn matches_day(&self, date: NaiveDate) -> bool {
        match (self.hours.first(), self.minutes.first()) {
            (Some(&h), Some(&m)) => self.matches(date.and_hms_opt(h, m, 0).unwrap()),
            _ => false,
        }
    }
}
