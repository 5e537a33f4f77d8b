//! `updraft schedule DAG [--next N] [--from D --to D]`: the runs a schedule
//! makes, with their ids and data intervals, and the DST changes among them.

use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};
use updraft_core::duration::format_duration;
use updraft_core::schedule::{OffsetChange, Preview};
use updraft_engine::usecase::MAX_PREVIEW_POINTS;

use super::{Context, print_json};
use crate::error::CliResult;
use crate::render::{table, time};

pub async fn schedule(
    ctx: &Context,
    dag: &str,
    next: usize,
    range: Option<(&str, &str)>,
) -> CliResult<ExitCode> {
    let (spec, preview) = ctx
        .engine()
        .await?
        .schedule_preview(dag, next, range)
        .await?;
    let tz = spec.schedule.tz();
    if ctx.json() {
        print_json(&json!({
            "dag": dag,
            "schedule": spec.schedule.text(),
            "timezone": tz.name(),
            "runs": preview.runs.iter().map(|run| {
                let t = &run.timing;
                json!({
                    "run_id": run.run_id,
                    "logical_date": time(t.logical_date, tz),
                    "logical_date_utc": utc(t.logical_date),
                    "data_interval_start": time(t.data_interval_start, tz),
                    "data_interval_end": time(t.data_interval_end, tz),
                    "data_interval_start_utc": utc(t.data_interval_start),
                    "data_interval_end_utc": utc(t.data_interval_end),
                })
            }).collect::<Vec<Value>>(),
            "offset_changes": preview.offset_changes.iter().map(|c| json!({
                "at": utc(c.at),
                "before": c.before.to_string(),
                "after": c.after.to_string(),
            })).collect::<Vec<Value>>(),
            "truncated": preview.truncated,
        }))?;
    } else {
        println!(
            "{dag}: schedule `{}` in {}",
            spec.schedule.text(),
            tz.name()
        );
        println!("{}", text(&preview, tz));
    }
    Ok(ExitCode::SUCCESS)
}

fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The runs as a table, a line for each offset change where it falls.
fn text(preview: &Preview, tz: Tz) -> String {
    let zone = tz.name();
    let rows: Vec<Vec<String>> = preview
        .runs
        .iter()
        .map(|run| {
            let t = &run.timing;
            vec![
                run.run_id.clone(),
                time(t.logical_date, tz),
                utc(t.logical_date),
                format!(
                    "{} .. {}",
                    time(t.data_interval_start, tz),
                    time(t.data_interval_end, tz)
                ),
            ]
        })
        .collect();
    let logical = format!("LOGICAL DATE ({zone})");
    let interval = format!("DATA INTERVAL ({zone})");
    let rendered = table(&["RUN ID", &logical, "UTC", &interval], &rows);
    let mut lines = rendered.lines();
    let mut out: Vec<String> = lines.next().map(String::from).into_iter().collect();
    let mut changes = preview.offset_changes.iter().peekable();
    for (run, line) in preview.runs.iter().zip(lines) {
        while let Some(change) = changes.next_if(|c| c.at <= run.timing.logical_date) {
            out.push(change_line(change, tz));
        }
        out.push(line.to_string());
    }
    out.extend(changes.map(|c| change_line(c, tz)));
    if preview.runs.is_empty() {
        out.push("(no points)".into());
    }
    if preview.truncated {
        out.push(format!(
            "(the first {MAX_PREVIEW_POINTS} points; narrow --from/--to for the rest)"
        ));
    }
    out.join("\n")
}

/// `~~ 2026-11-01T06:00:00Z: clocks go back 1h (-04:00 EDT to -05:00 EST)`.
fn change_line(change: &OffsetChange, tz: Tz) -> String {
    let shift = change.after.local_minus_utc() - change.before.local_minus_utc();
    let direction = if shift > 0 { "forward" } else { "back" };
    let name = |offset: FixedOffset, at: DateTime<Utc>| {
        format!("{offset} {}", at.with_timezone(&tz).format("%Z"))
    };
    let just_before = change.at - chrono::Duration::seconds(1);
    format!(
        "~~ {}: clocks go {direction} {} ({} to {})",
        utc(change.at),
        format_duration(Duration::from_secs(shift.unsigned_abs() as u64)),
        name(change.before, just_before),
        name(change.after, change.at),
    )
}
