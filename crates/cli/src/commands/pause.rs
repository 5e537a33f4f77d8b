//! `updraft pause DAG` / `updraft unpause DAG`.

use std::process::ExitCode;

use super::Context;
use crate::error::CliResult;

pub async fn set_paused(ctx: &Context, dag: &str, paused: bool) -> CliResult<ExitCode> {
    ctx.engine().await?.set_paused(dag, paused).await?;
    println!(
        "{dag} {}",
        if paused {
            "paused: no new scheduled runs"
        } else {
            "unpaused"
        }
    );
    Ok(ExitCode::SUCCESS)
}
