//! `updraft run DAG`: trigger a run and execute it here, in the foreground.

use std::process::ExitCode;
use std::time::Duration;

use updraft_local::QueueKind;
use updraft_local::dev::Scope;

use super::dev::{default_workers, hold_lock};
use updraft_engine::usecase::RunRequest;

use super::{Context, print_json, run_exit};
use crate::error::{CliError, CliResult};
use crate::signals::shutdown_signal;
use updraft_engine::json::DetailJson;

use crate::render::{detail_text, printable};

pub async fn run(
    ctx: &Context,
    dag: &str,
    request: RunRequest,
    workers: Option<usize>,
) -> CliResult<ExitCode> {
    let _lock = hold_lock(
        ctx,
        "an `updraft dev` is running (use `updraft trigger --wait` instead)",
    )?;
    let local = ctx.local(QueueKind::Private)?;
    let engine = local.engine.clone();
    let run = engine.trigger(dag, request).await?;
    let mut runner = local.into_loop(
        workers.unwrap_or_else(default_workers),
        Duration::from_millis(500),
    );
    let scope = Scope::Run {
        dag: dag.to_string(),
        run_id: run.run_id.clone(),
    };
    let Some(ended) = runner.run(scope, shutdown_signal()).await? else {
        return Err(CliError::User(format!(
            "interrupted; run `{}` stays {}; `updraft dev` will finish it",
            run.run_id, run.state
        )));
    };
    let detail = engine.run_detail(dag, &ended.run_id).await?;
    if ctx.json() {
        print_json(&DetailJson::new(&detail))?;
    } else {
        println!("\n{}", printable(&detail_text(&detail)));
    }
    Ok(run_exit(&ended))
}
