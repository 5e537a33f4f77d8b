//! `updraft trigger DAG`: a manual run, executed by `updraft dev`.

use std::process::ExitCode;

use updraft_engine::usecase::RunRequest;

use super::{Context, print_json, run_exit, wait_for_run};
use crate::error::{CliError, CliResult};
use updraft_engine::json::RunJson;

pub async fn trigger(
    ctx: &Context,
    dag: &str,
    request: RunRequest,
    wait: bool,
) -> CliResult<ExitCode> {
    if wait && !ctx.dev_running()? {
        return Err(CliError::Infra(format!(
            "no `updraft dev` is running on {}; start one, or use `updraft run {dag}`",
            ctx.state_dir().display()
        )));
    }
    let engine = ctx.engine().await?;
    let run = engine.trigger(dag, request).await?;
    let run = if wait {
        wait_for_run(ctx, &engine, dag, &run.run_id).await?
    } else {
        run
    };
    if ctx.json() {
        let spec = engine.spec_of(&run).await?;
        print_json(&RunJson::new(&run, spec.schedule.tz()))?;
    } else {
        println!("{} {} {}", run.dag, run.run_id, run.state);
    }
    Ok(if wait {
        run_exit(&run)
    } else {
        ExitCode::SUCCESS
    })
}
