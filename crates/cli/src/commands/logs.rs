//! `updraft logs DAG RUN_ID TASK [--map-index I] [--try N]`: a try's log.

use std::io::Write;
use std::process::ExitCode;

use updraft_engine::ports::LogWindow;

use super::Context;
use crate::error::{CliError, CliResult};

pub async fn logs(
    ctx: &Context,
    dag: &str,
    run_id: &str,
    task: &str,
    chosen: (Option<u32>, Option<u32>),
) -> CliResult<ExitCode> {
    let engine = ctx.engine().await?;
    let mut out = std::io::stdout().lock();
    let mut window = LogWindow::Head;
    // Page by page, so a log of any size is printed in bounded memory;
    // bounded in pages too, for a log that grows as fast as it is read.
    for _ in 0..MAX_PAGES {
        let (attempt, page) = engine.logs(dag, run_id, task, chosen, &window).await?;
        if window == LogWindow::Head && page.text.is_empty() {
            eprintln!("(try {} of {task} wrote no output)", attempt.try_number);
        }
        match out.write_all(page.text.as_bytes()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                return Ok(ExitCode::from(crate::error::READER_GONE));
            }
            Err(e) => return Err(CliError::Infra(format!("printing the log: {e}"))),
        }
        match page.later {
            Some(later) if !page.text.is_empty() => window = LogWindow::After(later),
            _ => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The most pages one `logs` prints (at about 64 KiB each, 64 GiB).
const MAX_PAGES: usize = 1 << 20;
