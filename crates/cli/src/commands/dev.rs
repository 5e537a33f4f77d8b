//! `updraft dev`: the scheduler and workers on this machine until Ctrl-C.

use std::process::ExitCode;
use std::time::Duration;

use updraft_local::dev::Scope;
use updraft_local::lock::DevLock;
use updraft_local::{LocalEvents, QueueKind};

use super::Context;
use super::ui::Serving;
use crate::error::{CliError, CliResult};
use crate::signals::shutdown_signal;

pub async fn dev(
    ctx: &Context,
    workers: Option<usize>,
    tick: f64,
    ui: Option<Serving>,
    events: LocalEvents,
) -> CliResult<ExitCode> {
    let _lock = hold_lock(ctx, "another `updraft dev` (or `updraft run`) is running")?;
    if !(0.05..=3600.0).contains(&tick) {
        return Err(CliError::User(format!(
            "--tick {tick}: give seconds between 0.05 and 3600"
        )));
    }
    let workers = workers.unwrap_or_else(default_workers);
    let local = ctx.local_with(QueueKind::Shared, events)?;
    println!(
        "updraft dev: specs {}, state {}, {workers} worker(s); Ctrl-C to stop",
        ctx.global.specs.display(),
        ctx.global.state_dir.display()
    );
    // A busy port costs the dashboard, not the loop.
    let dashboard = match &ui {
        Some(serving) => {
            match super::ui::start(ctx, local.engine.clone(), serving, "--ui-port").await {
                Ok(served) => Some(tokio::spawn(served)),
                Err(e) => {
                    eprintln!("updraft dev: warning: no dashboard: {e}");
                    None
                }
            }
        }
        None => None,
    };
    let mut dev = local.into_loop(workers, Duration::from_secs_f64(tick));
    let ran = dev.run(Scope::All, shutdown_signal()).await;
    if let Some(dashboard) = dashboard {
        dashboard.abort();
    }
    ran?;
    println!("updraft dev: stopped; tries still running are recorded by the next `updraft dev`");
    Ok(ExitCode::SUCCESS)
}

/// Takes the state directory's loop lock, or explains who has it.
pub fn hold_lock(ctx: &Context, who: &str) -> CliResult<DevLock> {
    let state = ctx.state_dir();
    match DevLock::acquire(state) {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => Err(CliError::User(format!(
            "{who} on {} (it holds {}/dev.lock)",
            state.display(),
            state.display()
        ))),
        Err(e) => Err(CliError::Infra(format!(
            "locking {}/dev.lock: {e}",
            state.display()
        ))),
    }
}

pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
