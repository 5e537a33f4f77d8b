//! `updraft schema [--pools]`: the JSON Schema editors complete specs with.

use std::process::ExitCode;

use updraft_core::spec::{dag_schema, pools_schema};

use crate::error::CliResult;

pub fn schema(pools: bool) -> CliResult<ExitCode> {
    let schema = if pools { pools_schema() } else { dag_schema() };
    println!(
        "{}",
        serde_json::to_string_pretty(&schema).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
