//! `updraft logs DAG RUN_ID TASK [--try N]`: a try's log.

use std::io::Write;
use std::process::ExitCode;

use super::Context;
use crate::error::{CliError, CliResult};

pub async fn logs(
    ctx: &Context,
    dag: &str,
    run_id: &str,
    task: &str,
    try_number: Option<u32>,
) -> CliResult<ExitCode> {
    let (attempt, text) = ctx
        .engine()
        .await?
        .logs(dag, run_id, task, try_number)
        .await?;
    let mut out = std::io::stdout();
    if text.is_empty() {
        eprintln!("(try {} of {task} wrote no output)", attempt.try_number);
    }
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::Infra(format!("printing the log: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
