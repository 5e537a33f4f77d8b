//! `updraft init [DIR]`: what a new project starts from — a commented
//! example DAG, the schemas editors complete specs with, and a .gitignore
//! for the local state. Files that exist are left as they are.

use std::path::Path;
use std::process::ExitCode;

use updraft_core::spec::{POOLS_SCHEMA_FILE, SCHEMA_FILE, dag_schema, pools_schema};

use crate::error::{CliError, CliResult};

/// The example DAG, validated by the tests as users get it.
const EXAMPLE: &str = include_str!("../../starter/hello.yaml");

pub fn init(dir: &Path) -> CliResult<ExitCode> {
    let specs = dir.join("dag-specs");
    std::fs::create_dir_all(&specs)
        .map_err(|e| CliError::User(format!("{}: cannot create: {e}", specs.display())))?;
    let pretty = |schema| serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n";
    let files = [
        (specs.join("hello.yaml"), EXAMPLE.to_string()),
        (specs.join(SCHEMA_FILE), pretty(dag_schema())),
        (specs.join(POOLS_SCHEMA_FILE), pretty(pools_schema())),
        (
            dir.join(".gitignore"),
            "# updraft's local state (updraft dev, run, trigger)\n.updraft/\n".to_string(),
        ),
    ];
    for (path, text) in files {
        if path.exists() {
            println!("kept    {} (it exists)", path.display());
            continue;
        }
        std::fs::write(&path, text)
            .map_err(|e| CliError::User(format!("{}: cannot write: {e}", path.display())))?;
        println!("wrote   {}", path.display());
    }
    println!("next: updraft validate && updraft run hello && updraft runs");
    Ok(ExitCode::SUCCESS)
}
