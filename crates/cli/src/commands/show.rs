//! `updraft show DAG RUN_ID`: a run's tasks with state, try, start, duration.

use std::process::ExitCode;

use super::{Context, print_json};
use crate::error::CliResult;
use updraft_engine::json::DetailJson;

use crate::render::{detail_text, printable};

pub async fn show(ctx: &Context, dag: &str, run_id: &str) -> CliResult<ExitCode> {
    let detail = ctx.engine().await?.run_detail(dag, run_id).await?;
    if ctx.json() {
        print_json(&DetailJson::new(&detail))?;
    } else {
        println!("{}", printable(&detail_text(&detail)));
    }
    Ok(ExitCode::SUCCESS)
}
