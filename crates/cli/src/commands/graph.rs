//! `updraft graph DAG [--format text|mermaid|dot]`: a spec's tasks and
//! edges, from the spec directory.

use std::process::ExitCode;

use updraft_core::spec::{GraphFormat, draw};

use super::Context;
use crate::args::GraphStyle;
use crate::error::CliResult;

pub fn graph(ctx: &Context, dag: &str, style: GraphStyle) -> CliResult<ExitCode> {
    let spec = super::validate::spec_in_directory(ctx, dag)?;
    let format = match style {
        GraphStyle::Text => GraphFormat::Text,
        GraphStyle::Mermaid => GraphFormat::Mermaid,
        GraphStyle::Dot => GraphFormat::Dot,
    };
    print!("{}", draw(&spec, format));
    Ok(ExitCode::SUCCESS)
}
