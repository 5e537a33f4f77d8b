//! `updraft runs [DAG]`: runs, newest first, filtered.

use std::process::ExitCode;

use chrono_tz::Tz;
use updraft_core::runs_view::{Cell, Column};
use updraft_engine::usecase::{RunFilters, RunsTable};

use super::{Context, print_json};
use crate::error::CliResult;
use updraft_engine::json::RunJson;

use crate::render::{duration, table, time};

pub async fn runs(ctx: &Context, filters: RunFilters) -> CliResult<ExitCode> {
    let engine = ctx.engine().await?;
    let RunsTable { view, runs: shown } = engine.runs_table(&filters).await?;
    // On stderr, so that JSON on stdout stays one document.
    for error in engine.import_errors().await? {
        eprintln!("updraft: spec error, the DAG is not scheduled until fixed: {error}");
    }
    if ctx.json() {
        let list: Vec<_> = shown
            .iter()
            .map(|(run, tz)| RunJson::new(run, *tz))
            .collect();
        print_json(&list)?;
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
        .map(|(run, tz)| {
            let tz = *tz;
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
