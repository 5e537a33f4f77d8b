//! `updraft output DAG RUN_ID TASK [--map-index N]`: a task's output, whole.

use std::process::ExitCode;

use super::{Context, print_json};
use crate::error::CliResult;

pub async fn output(
    ctx: &Context,
    dag: &str,
    run_id: &str,
    task: &str,
    map_index: Option<u32>,
) -> CliResult<ExitCode> {
    let output = ctx
        .engine()
        .await?
        .output(dag, run_id, task, map_index)
        .await?;
    print_json(&output)?;
    Ok(ExitCode::SUCCESS)
}
