//! `updraft backfill DAG --from DATE --to DATE [--rerun-failed]`.

use std::process::ExitCode;

use super::Context;
use crate::error::CliResult;

pub async fn backfill(
    ctx: &Context,
    dag: &str,
    from: &str,
    to: &str,
    rerun_failed: bool,
) -> CliResult<ExitCode> {
    let engine = ctx.engine().await?;
    let by = ctx.caller().await?;
    let report = engine.backfill(dag, from, to, rerun_failed, &by).await?;
    for id in &report.created {
        println!("created {id}");
    }
    for id in &report.rerun {
        println!("rerun failed tasks of {id}");
    }
    for id in &report.skipped {
        println!("skipped {id} (it already has a run)");
    }
    println!(
        "{} run(s) created, {} rerun, {} skipped",
        report.created.len(),
        report.rerun.len(),
        report.skipped.len()
    );
    if !report.created.is_empty() && !ctx.dev_running()? {
        println!(
            "no `updraft dev` is running on {}; the runs start when one does",
            ctx.state_dir().display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
