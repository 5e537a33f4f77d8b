//! Progress lines as things happen: runs created and ended, tries started
//! and ended with their duration.

use std::io::Write;
use std::sync::Mutex;

use chrono::Local;
use updraft_core::state::TaskState;
use updraft_engine::events::{Event, Observer};

use crate::render::duration;

/// Prints events, one line each, to stdout or (beside JSON output) stderr.
pub struct Progress {
    to_stderr: bool,
    verbose: bool,
    last_import_errors: Mutex<Vec<String>>,
}

impl Progress {
    /// A printer; `verbose` also prints dropped stale messages.
    pub fn new(to_stderr: bool, verbose: bool) -> Progress {
        Progress {
            to_stderr,
            verbose,
            last_import_errors: Mutex::default(),
        }
    }

    fn print(&self, line: &str) {
        let stamped = format!("{} {line}", Local::now().format("%H:%M:%S"));
        let _ = if self.to_stderr {
            writeln!(std::io::stderr(), "{stamped}")
        } else {
            writeln!(std::io::stdout(), "{stamped}")
        };
    }
}

impl Observer for Progress {
    fn on(&self, event: &Event) {
        match event {
            Event::RunCreated(run) => {
                self.print(&format!("run  {} {} created", run.dag, run.run_id))
            }
            Event::RunEnded(run) => {
                let took = crate::render::span(run.started_at, run.ended_at)
                    .map(|d| format!(" in {}", duration(d)));
                self.print(&format!(
                    "run  {} {} {}{}",
                    run.dag,
                    run.run_id,
                    run.state,
                    took.unwrap_or_default()
                ));
            }
            Event::TaskStarted {
                dag,
                run_id,
                key,
                try_number,
                ..
            } => {
                self.print(&format!(
                    "task {dag} {run_id} {key} try {try_number} started"
                ));
            }
            Event::TaskEnded {
                dag,
                run_id,
                key,
                try_number,
                state,
                duration: took,
                reason,
            } => {
                let took = took
                    .map(|d| format!(" after {}", duration(d)))
                    .unwrap_or_default();
                let why = reason
                    .as_ref()
                    .filter(|_| *state != TaskState::Succeeded)
                    .map(|r| format!(": {r}"));
                let line = match state {
                    TaskState::RetryWait => format!("try {try_number} failed{took}, will retry"),
                    TaskState::UpstreamFailed | TaskState::Skipped => state.to_string(),
                    other => format!("try {try_number} {other}{took}"),
                };
                self.print(&format!(
                    "task {dag} {run_id} {key} {line}{}",
                    why.unwrap_or_default()
                ));
            }
            Event::Dropped { what } if self.verbose => self.print(&format!("dropped {what}")),
            Event::WaitingForPool { holder, pool } if self.verbose => {
                self.print(&format!("waiting {holder} for pool {pool}"))
            }
            Event::SlotsReclaimed { holder, pool } => self.print(&format!(
                "warning: gave back slots of pool {pool} that {holder} held after it ended"
            )),
            Event::ImportErrors(errors) => {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                let mut last = self
                    .last_import_errors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if *last != lines {
                    for line in &lines {
                        self.print(&format!("spec error {line}"));
                    }
                    *last = lines;
                }
            }
            Event::Isolated { what, error } => {
                self.print(&format!("error {what}: {error} (the others go on)"))
            }
            Event::EventCommandFailed { what, error } => {
                self.print(&format!("warning: {what} failed: {error}"))
            }
            Event::Unpublished { count, error } => self.print(&format!(
                "warning: {count} event(s) not published, tried again next tick: {error}"
            )),
            Event::TaskQueued { .. }
            | Event::Dropped { .. }
            | Event::Deferred { .. }
            | Event::WaitingForPool { .. } => {}
        }
    }
}
