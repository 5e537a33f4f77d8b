//! `updraft rerun DAG RUN_ID [TASK...]`: clear tasks so they run again.

use std::process::ExitCode;

use updraft_core::plan::Rerun;
use updraft_engine::usecase::rerun_request;

use super::{Context, run_exit, wait_for_run};
use crate::error::{CliError, CliResult};

pub fn request(
    tasks: Vec<String>,
    downstream: bool,
    upstream: bool,
    failed: bool,
    map_index: Option<u32>,
) -> CliResult<Rerun> {
    Ok(rerun_request(
        &tasks, map_index, downstream, upstream, failed,
    )?)
}

pub async fn rerun(
    ctx: &Context,
    dag: &str,
    run_id: &str,
    request: &Rerun,
    note: Option<String>,
    wait: bool,
) -> CliResult<ExitCode> {
    if wait && !ctx.dev_running()? {
        return Err(CliError::Infra(format!(
            "no `updraft dev` is running on {}; start one to execute the rerun",
            ctx.state_dir().display()
        )));
    }
    let engine = ctx.engine().await?;
    let cleared = engine
        .rerun(dag, run_id, request, &ctx.caller().await?, note)
        .await?;
    if cleared.is_empty() {
        println!("nothing to rerun: no task of {run_id} matched");
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<String> = cleared.iter().map(ToString::to_string).collect();
    println!(
        "cleared {} task(s) of {run_id}: {}",
        names.len(),
        names.join(", ")
    );
    if wait {
        let run = wait_for_run(ctx, &engine, dag, run_id).await?;
        println!("{} {} {}", run.dag, run.run_id, run.state);
        return Ok(run_exit(&run));
    }
    if !ctx.dev_running()? {
        println!(
            "no `updraft dev` is running on {}; the tasks run when one starts",
            ctx.state_dir().display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
