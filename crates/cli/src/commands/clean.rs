//! `updraft clean [--older-than 90d] [--dry-run]`: delete ended runs past
//! their DAG's retention.

use std::process::ExitCode;

use chrono::SecondsFormat;
use serde_json::json;
use updraft_core::duration::parse_duration;

use super::{Context, print_json};
use crate::args::Backend;
use crate::error::{CliError, CliResult};

pub async fn clean(ctx: &Context, older_than: Option<&str>, dry_run: bool) -> CliResult<ExitCode> {
    let older_than = older_than
        .map(|text| {
            parse_duration(text)
                .ok()
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .filter(|d| *d > chrono::Duration::zero())
                .ok_or_else(|| {
                    CliError::User(format!("--older-than {text}: give a duration such as 90d"))
                })
        })
        .transpose()?;
    let engine = ctx.engine().await?;
    let gone = match ctx.global.backend {
        Backend::Local => {
            updraft_local::clean(&engine, ctx.state_dir(), older_than, dry_run).await?
        }
        // Logs in CloudWatch keep the log groups' own retention.
        Backend::Aws => engine.clean(older_than, dry_run).await?,
    };
    let ended = |run: &updraft_core::state::Run| {
        run.ended_at
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    if ctx.json() {
        let runs: Vec<_> = gone
            .iter()
            .map(|r| json!({ "dag": r.dag.as_str(), "run_id": r.run_id, "state": r.state.as_str(), "ended_at": ended(r) }))
            .collect();
        print_json(&json!({ "dry_run": dry_run, "runs": runs }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    println!("{verb} {} run(s) past retention", gone.len());
    for run in &gone {
        println!(
            "  {} {} {} ended {}",
            run.dag,
            run.run_id,
            run.state,
            ended(run)
        );
    }
    Ok(ExitCode::SUCCESS)
}
