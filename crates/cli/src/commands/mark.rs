//! `updraft mark DAG RUN_ID TASK success|failed`, `updraft approve DAG
//! RUN_ID TASK --choice C` and `updraft cancel DAG RUN_ID`: a person ends
//! or decides what the scheduler would not.

use std::process::ExitCode;

use updraft_core::ids::TaskId;
use updraft_core::state::TaskKey;
use updraft_engine::usecase::mark_state;

use super::Context;
use crate::error::{CliError, CliResult};

pub async fn mark(
    ctx: &Context,
    dag: &str,
    run_id: &str,
    task: &str,
    state: &str,
    map_index: Option<u32>,
) -> CliResult<ExitCode> {
    let to = mark_state(state).map_err(CliError::of_argument)?;
    let key = TaskKey {
        task_id: TaskId::parse(task).map_err(CliError::User)?,
        map_index,
    };
    let engine = ctx.engine().await?;
    let run = engine
        .mark(dag, run_id, &key, to, &ctx.caller().await?)
        .await?;
    println!("marked {key} of {run_id} {to}; the run is {}", run.state);
    Ok(ExitCode::SUCCESS)
}

pub async fn approve(
    ctx: &Context,
    dag: &str,
    run_id: &str,
    task: &str,
    choice: &str,
    note: Option<&str>,
) -> CliResult<ExitCode> {
    let key = TaskKey::task(TaskId::parse(task).map_err(CliError::User)?);
    let engine = ctx.engine().await?;
    let run = engine
        .approve(dag, run_id, &key, choice, note, &ctx.caller().await?)
        .await?;
    println!(
        "{choice}: decided {key} of {run_id}; the run is {}",
        run.state
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn cancel(
    ctx: &Context,
    dag: &str,
    run_id: &str,
    note: Option<String>,
) -> CliResult<ExitCode> {
    let engine = ctx.engine().await?;
    let run = engine
        .cancel(dag, run_id, &ctx.caller().await?, note)
        .await?;
    println!("cancelled {run_id}; the run is {}", run.state);
    Ok(ExitCode::SUCCESS)
}
