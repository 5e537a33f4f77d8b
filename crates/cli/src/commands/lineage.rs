//! `updraft lineage URI` and `updraft lineage DAG RUN_ID`: which runs
//! produced and consumed an artifact, or what a run produced and consumed
//! and the runs joined to it through those artifacts.

use std::process::ExitCode;

use updraft_core::state::ArtifactRecord;
use updraft_engine::json::{ArtifactLineageJson, RunLineageJson};

use super::{Context, print_json};
use crate::error::{CliError, CliResult};
use crate::render::table;

fn rows(records: &[ArtifactRecord], with_uri: bool) -> Vec<Vec<String>> {
    records
        .iter()
        .map(|r| {
            let mut row = vec![
                r.dag.to_string(),
                r.run_id.clone(),
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
                    &rows(&lineage.produced_by, false)
                )
            );
            println!("\nconsumed by:");
            println!(
                "{}",
                table(
                    &["DAG", "RUN ID", "TASK", "TRY"],
                    &rows(&lineage.consumed_by, false)
                )
            );
        }
        [dag, run_id] => {
            let lineage = engine.run_lineage(dag, run_id).await?;
            if ctx.json() {
                print_json(&RunLineageJson::new(dag, run_id, &lineage))?;
                return Ok(ExitCode::SUCCESS);
            }
            let header = ["URI", "DAG", "RUN ID", "TASK", "TRY"];
            println!(
                "produced:\n{}",
                table(&header, &rows(&lineage.produced, true))
            );
            println!(
                "\nconsumed:\n{}",
                table(&header, &rows(&lineage.consumed, true))
            );
            let list = |runs: &std::collections::BTreeSet<(String, String)>| {
                runs.iter()
                    .map(|(d, r)| format!("  {d} {r}"))
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
