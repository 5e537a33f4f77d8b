//! `updraft runs [DAG]`: runs, newest first, filtered.

use std::process::ExitCode;

use chrono_tz::Tz;
use updraft_core::schedule::LocalTime;
use updraft_core::state::RunState;
use updraft_engine::ports::RunQuery;

use super::{Context, parse_params, print_json};
use crate::error::{CliError, CliResult};
use crate::render::{duration, or_dash, run_json, span, table, time};

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
    let query = RunQuery {
        dag: filters.dag,
        states,
        label: filters.label,
        since: bound(filters.since, "since", false)?,
        until: bound(filters.until, "until", true)?,
        params: parse_params(&filters.params)?.into_iter().collect(),
        triggered_by: filters.triggered_by,
        note_contains: filters.note_contains,
        limit: Some(filters.limit),
    };
    let engine = ctx.engine().await?;
    let runs = engine.runs(&query, filters.produced.as_deref()).await?;
    if ctx.json() {
        let list: Vec<_> = runs
            .iter()
            .map(|(run, spec)| run_json(run, spec.schedule.tz()))
            .collect();
        print_json(&serde_json::Value::Array(list))?;
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!("no runs");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|(run, spec)| {
            let tz = spec.schedule.tz();
            let params = serde_json::Value::Object(run.params.clone());
            vec![
                run.dag.to_string(),
                run.run_id.clone(),
                run.state.to_string(),
                time(run.logical_date, tz),
                span(run.started_at, run.ended_at)
                    .map(duration)
                    .unwrap_or_default(),
                or_dash(&run.triggered_by).to_string(),
                run.labels.join(","),
                if run.params.is_empty() {
                    String::new()
                } else {
                    params.to_string()
                },
                run.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "DAG",
                "RUN ID",
                "STATE",
                "LOGICAL DATE",
                "DURATION",
                "TRIGGERED BY",
                "LABELS",
                "PARAMS",
                "NOTE"
            ],
            &rows
        )
    );
    Ok(ExitCode::SUCCESS)
}
