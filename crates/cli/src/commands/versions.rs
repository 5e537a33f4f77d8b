//! `updraft versions DAG` and `updraft diff DAG A B`: a DAG's stored spec
//! versions, and what changed between two of them.

use std::process::ExitCode;

use serde_json::json;
use updraft_core::spec::SpecDiff;
use updraft_engine::EngineError;

use super::{Context, print_json};
use crate::error::{CliError, CliResult};
use crate::render::table;

pub async fn versions(ctx: &Context, dag: &str) -> CliResult<ExitCode> {
    let versions = ctx.engine().await?.versions(dag).await?;
    if ctx.json() {
        let list: Vec<_> = versions
            .iter()
            .map(|v| {
                json!({
                    "version": v.version,
                    "first_seen": v.first_seen.map(|t| t.to_rfc3339()),
                    "runs": v.runs,
                    "current": v.current,
                })
            })
            .collect();
        print_json(&serde_json::Value::Array(list))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            vec![
                v.version[..12.min(v.version.len())].to_string(),
                v.first_seen
                    .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
                    .unwrap_or_else(|| "-".into()),
                v.runs.to_string(),
                if v.current { "current" } else { "" }.to_string(),
            ]
        })
        .collect();
    println!("{}", table(&["VERSION", "FIRST SEEN", "RUNS", ""], &rows));
    Ok(ExitCode::SUCCESS)
}

pub async fn diff(ctx: &Context, dag: &str, from: &str, to: &str) -> CliResult<ExitCode> {
    let (from, to, diff) = match ctx.engine().await?.version_diff(dag, from, to).await {
        Ok(found) => found,
        Err(EngineError::NotFound(missing)) => {
            return Err(CliError::User(format!(
                "{missing}; `updraft versions {dag}` lists them"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if ctx.json() {
        print_json(&json!({ "from": from, "to": to, "difference": diff }))?;
    } else {
        println!("{} -> {}", short(&from), short(&to));
        println!("{}", diff_text(&diff, "  "));
    }
    Ok(ExitCode::SUCCESS)
}

/// The first 12 characters of a version, as `git` shortens a commit.
pub fn short(version: &str) -> &str {
    &version[..12.min(version.len())]
}

/// A spec difference as lines, each starting with `indent`.
pub fn diff_text(diff: &SpecDiff, indent: &str) -> String {
    if diff.is_empty() {
        return format!("{indent}no difference");
    }
    let mut lines = Vec::new();
    for task in &diff.added {
        lines.push(format!("{indent}+ {task} (added)"));
    }
    for task in &diff.removed {
        lines.push(format!("{indent}- {task} (removed)"));
    }
    for change in &diff.changed {
        lines.push(format!(
            "{indent}~ {}: {}",
            change.task,
            change.keys.join(", ")
        ));
    }
    if !diff.dag_keys.is_empty() {
        lines.push(format!("{indent}~ (DAG): {}", diff.dag_keys.join(", ")));
    }
    lines.join("\n")
}
