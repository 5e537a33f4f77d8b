//! `updraft validate [PATH...]`: every problem as file:line:col: reason.

use std::path::PathBuf;
use std::process::ExitCode;

use updraft_core::spec::{DagSpec, SpecFile};
use updraft_engine::usecase::unknown_dag;
use updraft_local::specdir::{is_spec_file, read_spec_files, validate_spec_files};

use super::Context;
use crate::error::{CliError, CliResult};
use crate::render::printable;

/// The spec files under `paths` (the spec directory by default), in order.
fn spec_paths(ctx: &Context, paths: Vec<PathBuf>) -> CliResult<Vec<PathBuf>> {
    let paths = if paths.is_empty() {
        vec![ctx.global.specs.clone()]
    } else {
        paths
    };
    let mut files = Vec::new();
    for path in &paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| {
                CliError::User(format!(
                    "{}: cannot read the directory: {e}",
                    path.display()
                ))
            })?;
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| is_spec_file(p))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(CliError::User(format!(
                "{}: no such file or directory",
                path.display()
            )));
        }
    }
    Ok(files)
}

/// The spec files under `paths`, read; an unreadable file is an error.
pub fn spec_files(ctx: &Context, paths: Vec<PathBuf>) -> CliResult<Vec<SpecFile>> {
    read_spec_files(&spec_paths(ctx, paths)?)
        .into_iter()
        .map(|read| read.map_err(|e| CliError::User(e.to_string())))
        .collect()
}

/// One DAG of the spec directory, validated with the others (`graph`,
/// `render`, `test` read what is being written, not what was deployed).
pub fn spec_in_directory(ctx: &Context, dag: &str) -> CliResult<DagSpec> {
    let (_, mut set) = validate_spec_files(&spec_paths(ctx, Vec::new())?);
    if let Some(spec) = set.dags.remove(dag) {
        return Ok(spec);
    }
    let known: Vec<&str> = set.dags.keys().map(String::as_str).collect();
    let within = ctx.global.specs.display().to_string();
    Err(CliError::User(unknown_dag(
        dag,
        &within,
        &known,
        &set.errors,
    )))
}

pub fn validate(ctx: &Context, paths: Vec<PathBuf>) -> CliResult<ExitCode> {
    let files = spec_paths(ctx, paths)?;
    let (specs, set) = validate_spec_files(&files);
    let problems: Vec<String> = set.errors.iter().map(ToString::to_string).collect();
    for problem in &problems {
        println!("{}", printable(problem));
    }
    for warning in &set.warnings {
        println!("{}", printable(&warning.to_string()));
    }
    if problems.is_empty() {
        let ids: Vec<&str> = set.dags.keys().map(String::as_str).collect();
        println!("{} spec file(s) valid: {}", specs.len(), ids.join(", "));
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "updraft: {} problem(s) in {} spec file(s)",
            problems.len(),
            files.len()
        );
        Ok(ExitCode::from(1))
    }
}
