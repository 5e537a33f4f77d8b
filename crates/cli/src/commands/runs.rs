//! `updraft runs [DAG]`: runs, newest first, filtered.

use std::process::ExitCode;

use chrono_tz::Tz;
use updraft_core::runs_view::{Cell, Column, RunsView};
use updraft_core::schedule::LocalTime;
use updraft_core::state::{Run, RunState};
use updraft_engine::ports::RunQuery;

use super::{Context, parse_params, print_json};
use crate::error::{CliError, CliResult};
use crate::render::{duration, run_json, table, time};

/// What `runs` was asked to show.
pub struct Filters {
    pub dag: Option<String>,
    pub states: Vec<String>,
    pub label: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub params: Vec<String>,
    pub produced: Option<String>,
    pub triggered_by: Option<String>,
    pub note_contains: Option<String>,
    pub columns: Option<String>,
    pub wheres: Vec<String>,
    pub sort: Option<String>,
    pub limit: usize,
}

fn bound(
    text: Option<String>,
    name: &str,
    last: bool,
) -> CliResult<Option<chrono::DateTime<chrono::Utc>>> {
    text.map(|s| {
        let t = LocalTime::parse(&s, Tz::UTC)
            .map_err(|why| CliError::User(format!("--{name}: {why}")))?;
        Ok(if last {
            t.last_instant(Tz::UTC)
        } else {
            t.first_instant(Tz::UTC)
        })
    })
    .transpose()
}

pub async fn runs(ctx: &Context, filters: Filters) -> CliResult<ExitCode> {
    let states = filters
        .states
        .iter()
        .map(|s| {
            s.parse::<RunState>()
                .map_err(|why| CliError::User(format!("--state: {why}")))
        })
        .collect::<CliResult<Vec<_>>>()?;
    // Filters and order of the view come after the store's; so does the limit.
    let viewed = !filters.wheres.is_empty() || filters.sort.is_some();
    let query = RunQuery {
        dag: filters.dag,
        states,
        label: filters.label,
        since: bound(filters.since, "since", false)?,
        until: bound(filters.until, "until", true)?,
        params: parse_params(&filters.params)?.into_iter().collect(),
        triggered_by: filters.triggered_by,
        note_contains: filters.note_contains,
        limit: (!viewed).then_some(filters.limit),
    };
    let engine = ctx.engine().await?;
    let found = engine.runs(&query, filters.produced.as_deref()).await?;
    // On stderr, so that JSON on stdout stays one document.
    for error in engine.import_errors().await? {
        eprintln!("updraft: spec error, the DAG is not scheduled until fixed: {error}");
    }
    let listed: Vec<Run> = found.iter().map(|(run, _)| run.clone()).collect();
    let view = RunsView::parse(
        filters.columns.as_deref(),
        &filters.wheres,
        filters.sort.as_deref(),
        &listed,
    )
    .map_err(CliError::User)?;
    let mut shown = view.apply(listed);
    shown.truncate(filters.limit);
    let zone = |run: &Run| {
        found
            .iter()
            .find(|(r, _)| r.dag == run.dag && r.run_id == run.run_id)
            .map_or(Tz::UTC, |(_, spec)| spec.schedule.tz())
    };
    if ctx.json() {
        let list: Vec<_> = shown.iter().map(|run| run_json(run, zone(run))).collect();
        print_json(&serde_json::Value::Array(list))?;
        return Ok(ExitCode::SUCCESS);
    }
    if shown.is_empty() {
        println!("no runs");
        return Ok(ExitCode::SUCCESS);
    }
    let header: Vec<String> = view
        .columns
        .iter()
        .map(|c| c.name().to_uppercase())
        .collect();
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|run| {
            let tz = zone(run);
            view.columns
                .iter()
                .map(|column| cell_text(column, column.cell(run), tz))
                .collect()
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    println!("{}", table(&header, &rows));
    Ok(ExitCode::SUCCESS)
}

/// A cell as people read it: times in the DAG's zone, durations as `2m03s`.
fn cell_text(column: &Column, cell: Cell, tz: Tz) -> String {
    match cell {
        Cell::Empty if *column == Column::TriggeredBy => "-".into(),
        Cell::Empty => String::new(),
        Cell::Number(seconds) if *column == Column::Duration => {
            duration(std::time::Duration::from_secs_f64(seconds.max(0.0)))
        }
        Cell::Number(n) => n.to_string(),
        Cell::Text(text) => text,
        Cell::Time(t) => time(t, tz),
    }
}
