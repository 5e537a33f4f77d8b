//! `updraft doctor`: whether the deployment works, one line per check.

use std::process::ExitCode;

use chrono::Utc;
use serde_json::json;
use updraft_engine::usecase::Finding;

use super::{Context, print_json};
use crate::args::Backend;
use crate::error::CliResult;

pub async fn doctor(ctx: &Context) -> CliResult<ExitCode> {
    let findings = match ctx.global.backend {
        Backend::Local => local(ctx).await?,
        Backend::Aws => super::aws::doctor(ctx).await,
    };
    if ctx.json() {
        let list: Vec<_> = findings
            .iter()
            .map(|f| json!({ "ok": f.ok, "what": f.what, "fix": f.fix }))
            .collect();
        print_json(&serde_json::Value::Array(list))?;
    } else {
        for finding in &findings {
            match (finding.ok, &finding.fix) {
                (true, _) => println!("✔ {}", finding.what),
                (false, Some(fix)) => println!("✘ {}: {fix}", finding.what),
                (false, None) => println!("✘ {}", finding.what),
            }
        }
    }
    Ok(if findings.iter().all(|f| f.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The state directory, `dev`, and the state's health.
async fn local(ctx: &Context) -> CliResult<Vec<Finding>> {
    let state = ctx.state_dir();
    if !state.join("state.db").is_file() {
        return Ok(vec![Finding::wrong(
            format!("no state in {}", state.display()),
            "run updraft dev (or updraft run DAG) in this directory, or pass --state-dir",
        )]);
    }
    let mut findings = vec![Finding::ok(format!("state in {}", state.display()))];
    findings.push(if ctx.dev_running()? {
        Finding::ok("updraft dev is running")
    } else {
        Finding::wrong(
            "updraft dev is not running: nothing is scheduled or launched",
            "start it: updraft dev",
        )
    });
    let health = ctx
        .engine()
        .await?
        .health(chrono::Duration::minutes(1))
        .await?;
    findings.extend(health.findings(Utc::now(), None));
    Ok(findings)
}
