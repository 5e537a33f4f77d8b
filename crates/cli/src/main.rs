//! `updraft`: parse the command line, run one command, print, exit 0, 1
//! (the user's mistake, or a run that failed) or 2 (infrastructure).

mod args;
mod commands;
mod error;
mod progress;
mod render;
mod signals;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use crate::args::Cli;

/// How the standard library names EPIPE in a failed print.
const BROKEN_PIPE: &str = "(os error 32)";

fn main() -> ExitCode {
    // A bug must not show a user a panic message and a backtrace.
    std::panic::set_hook(Box::new(|info| {
        // The YAML library's panics are caught and reported as syntax
        // errors of the file (updraft_core::yaml::parse).
        if info
            .location()
            .is_some_and(|l| l.file().contains("libyaml-safer"))
        {
            return;
        }
        // A reader that went away ends the command quietly.
        if let Some(failed) = info
            .payload_as_str()
            .filter(|m| m.starts_with("failed printing to stdout"))
        {
            if failed.contains(BROKEN_PIPE) {
                std::process::exit(error::READER_GONE.into());
            }
            let _ = writeln!(std::io::stderr(), "updraft: {failed}");
            std::process::exit(2);
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "updraft: internal error{at}; please report it"
        );
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("updraft: {first} (see `updraft --help`)");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("updraft: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("updraft: {}", render::printable(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}
