//! `updraft lineage URI` and `updraft lineage DAG RUN_ID`: which runs
//! produced and consumed an artifact, or what a run produced and consumed
//! and the runs joined to it through those artifacts.

use std::collections::BTreeSet;
use std::process::ExitCode;

use updraft_core::state::ArtifactRecord;
use updraft_engine::json::{ArtifactLineageJson, RunLineageJson};

use super::{Context, print_json};
use crate::error::{CliError, CliResult};
use crate::render::table;

/// A run's id, marked when the run is no longer kept.
fn run_label(dag: &str, run_id: &str, expired: &BTreeSet<(String, String)>) -> String {
    match expired.contains(&(dag.to_string(), run_id.to_string())) {
        true => format!("{run_id} (expired)"),
        false => run_id.to_string(),
    }
}

fn rows(
    records: &[ArtifactRecord],
    with_uri: bool,
    expired: &BTreeSet<(String, String)>,
) -> Vec<Vec<String>> {
    records
        .iter()
        .map(|r| {
            let mut row = vec![
                r.dag.to_string(),
                run_label(r.dag.as_str(), &r.run_id, expired),
                r.key.to_string(),
                r.try_number.to_string(),
            ];
            if with_uri {
                row.insert(0, r.uri.clone());
            }
            row
        })
        .collect()
}

pub async fn lineage(ctx: &Context, target: &[String]) -> CliResult<ExitCode> {
    let engine = ctx.engine().await?;
    match target {
        [uri] => {
            let lineage = engine.artifact_lineage(uri).await?;
            if ctx.json() {
                print_json(&ArtifactLineageJson::new(uri, &lineage))?;
                return Ok(ExitCode::SUCCESS);
            }
            if lineage.produced_by.is_empty() && lineage.consumed_by.is_empty() {
                println!("no run produced or consumed {uri}");
                return Ok(ExitCode::SUCCESS);
            }
            println!("{uri}\n\nproduced by (newest first):");
            println!(
                "{}",
                table(
                    &["DAG", "RUN ID", "TASK", "TRY"],
                    &rows(&lineage.produced_by, false, &lineage.expired_runs)
                )
            );
            println!("\nconsumed by:");
            println!(
                "{}",
                table(
                    &["DAG", "RUN ID", "TASK", "TRY"],
                    &rows(&lineage.consumed_by, false, &lineage.expired_runs)
                )
            );
        }
        [dag, run_id] => {
            let lineage = engine.run_lineage(dag, run_id).await?;
            if ctx.json() {
                print_json(&RunLineageJson::new(dag, run_id, &lineage))?;
                return Ok(ExitCode::SUCCESS);
            }
            if lineage.expired {
                println!(
                    "{dag} {run_id} has expired: ended runs are deleted after their DAG's retention, and their lineage with them"
                );
                return Ok(ExitCode::SUCCESS);
            }
            let expired = &lineage.expired_runs;
            let header = ["URI", "DAG", "RUN ID", "TASK", "TRY"];
            println!(
                "produced:\n{}",
                table(&header, &rows(&lineage.produced, true, expired))
            );
            println!(
                "\nconsumed:\n{}",
                table(&header, &rows(&lineage.consumed, true, expired))
            );
            let list = |runs: &BTreeSet<(String, String)>| {
                runs.iter()
                    .map(|(d, r)| format!("  {d} {}", run_label(d, r, expired)))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            println!(
                "\nupstream runs (produced what this run consumed):\n{}",
                list(&lineage.upstream)
            );
            println!(
                "\ndownstream runs (consumed what this run produced):\n{}",
                list(&lineage.downstream)
            );
        }
        _ => {
            return Err(CliError::User(
                "lineage takes an artifact URI, or a DAG and a run id".into(),
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}
