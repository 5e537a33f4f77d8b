//! `updraft runs [DAG]`: runs, newest first.

use std::process::ExitCode;

use chrono_tz::Tz;
use updraft_core::schedule::LocalTime;
use updraft_core::state::RunState;
use updraft_engine::ports::RunQuery;

use super::{Context, print_json};
use crate::error::{CliError, CliResult};
use crate::render::{duration, run_json, span, table, time};

pub async fn runs(
    ctx: &Context,
    dag: Option<String>,
    states: &[String],
    label: Option<String>,
    since: Option<String>,
    limit: usize,
) -> CliResult<ExitCode> {
    let states = states
        .iter()
        .map(|s| {
            s.parse::<RunState>()
                .map_err(|why| CliError::User(format!("--state: {why}")))
        })
        .collect::<CliResult<Vec<_>>>()?;
    let since = since
        .map(|s| {
            LocalTime::parse(&s, Tz::UTC)
                .map(|t| t.first_instant(Tz::UTC))
                .map_err(|why| CliError::User(format!("--since: {why}")))
        })
        .transpose()?;
    let engine = ctx.engine()?;
    let query = RunQuery {
        dag,
        states,
        label,
        since,
        limit: Some(limit),
    };
    let runs = engine.runs(&query).await?;
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
            vec![
                run.dag.to_string(),
                run.run_id.clone(),
                run.state.to_string(),
                time(run.logical_date, tz),
                span(run.started_at, run.ended_at)
                    .map(duration)
                    .unwrap_or_default(),
                run.labels.join(","),
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
                "LABELS"
            ],
            &rows
        )
    );
    Ok(ExitCode::SUCCESS)
}
