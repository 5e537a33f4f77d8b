//! Rerun ("clear") chosen tasks of a run, from any state of the run.

use updraft_core::plan::{Rerun, rerun};
use updraft_core::state::{AuditAction, AuditEntry, RunTransition, TaskKey, Transition};

use crate::{Engine, EngineError, EngineResult};

impl Engine {
    /// Clears the chosen task instances back to `pending` (stopping any
    /// still in flight), reopens the run and advances it; `by` is kept in
    /// the run's audit entries, and `note`, if given, becomes the run's
    /// note. Returns the keys cleared; empty if nothing matched.
    pub async fn rerun(
        &self,
        dag: &str,
        run_id: &str,
        request: &Rerun,
        by: &str,
        note: Option<String>,
    ) -> EngineResult<Vec<TaskKey>> {
        let store = &self.ports.store;
        let run = store
            .run(dag, run_id)
            .await?
            .ok_or_else(|| EngineError::user(format!("DAG `{dag}` has no run `{run_id}`")))?;
        let spec = self.spec_of(&run).await?;
        let instances = store.instances(dag, run_id).await?;
        let mut transitions = rerun(&spec, &run, &instances, request)
            .map_err(|e| EngineError::user(e.to_string()))?;
        let cleared: Vec<TaskKey> = transitions
            .iter()
            .filter_map(|t| match t {
                Transition::Task(change) => Some(change.next.key.clone()),
                Transition::Run(_) | Transition::Create(_) => None,
            })
            .collect();
        if cleared.is_empty() {
            return Ok(cleared);
        }
        if note.is_some() {
            with_note(&mut transitions, &run, note.clone());
        }
        // Kept before the change, so that no cleared try lacks its reason;
        // if the change then fails, the entry says what was asked.
        let entry = AuditEntry {
            at: self.ports.clock.now(),
            by: by.to_string(),
            action: AuditAction::Rerun,
            tasks: cleared.iter().map(ToString::to_string).collect(),
            options: rerun_options(request),
            note,
        };
        store.put_audit(dag, run_id, &entry).await?;
        self.apply(&run, transitions).await?;
        self.advance(dag, run_id).await?;
        Ok(cleared)
    }
}

/// The run's own transition carries the note: the reopening of an ended
/// run, or one that keeps the run's state.
fn with_note(
    transitions: &mut Vec<Transition>,
    run: &updraft_core::state::Run,
    note: Option<String>,
) {
    let reopen = transitions.iter_mut().find_map(|t| match t {
        Transition::Run(change) => Some(change),
        _ => None,
    });
    match reopen {
        Some(change) => change.next.note = note,
        None => {
            let mut next = run.clone();
            next.note = note;
            transitions.push(Transition::Run(RunTransition {
                expect_state: run.state,
                next,
            }));
        }
    }
}

/// A rerun's options as the CLI spells them.
fn rerun_options(request: &Rerun) -> Vec<String> {
    let mut options = Vec::new();
    for (on, flag) in [
        (request.downstream, "--downstream"),
        (request.upstream, "--upstream"),
        (request.only_failed, "--failed"),
    ] {
        if on {
            options.push(flag.to_string());
        }
    }
    if let Some(i) = request.map_index {
        options.push(format!("--map-index {i}"));
    }
    options
}
