//! Rerun ("clear") chosen tasks of a run, from any state of the run.

use updraft_core::ids::TaskId;
use updraft_core::plan::{Rerun, reopen, rerun};
use updraft_core::state::{AuditAction, AuditEntry, Run, TaskKey, Transition};

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
        let now = self.ports.clock.now();
        let (run, transitions) = self.plan_rerun(dag, run_id, request).await?;
        let cleared = cleared_keys(&transitions);
        if cleared.is_empty() {
            return Ok(cleared);
        }
        // Kept before the change, so that no cleared try lacks its reason;
        // if the change then fails, the entry says what was asked.
        let entry = AuditEntry {
            at: now,
            by: by.to_string(),
            action: AuditAction::Rerun,
            tasks: cleared.iter().map(ToString::to_string).collect(),
            options: rerun_options(request),
            note,
        };
        store.put_audit(dag, run_id, &entry).await?;
        self.apply(&run, transitions).await?;
        // The reopening (and the note) hold even if the run changed since
        // it was read.
        self.modify_run(dag, run_id, |run| {
            let mut changed = false;
            if run.state.is_terminal() {
                reopen(run, now);
                changed = true;
            }
            if entry.note.is_some() && run.note != entry.note {
                run.note = entry.note.clone();
                changed = true;
            }
            changed
        })
        .await?;
        self.advance(dag, run_id).await?;
        self.wake_soon().await;
        Ok(cleared)
    }
}

impl Engine {
    /// The task instances a rerun would clear, changing nothing: what the
    /// dashboard lists before the rerun is confirmed.
    pub async fn rerun_preview(
        &self,
        dag: &str,
        run_id: &str,
        request: &Rerun,
    ) -> EngineResult<Vec<TaskKey>> {
        let (_, transitions) = self.plan_rerun(dag, run_id, request).await?;
        Ok(cleared_keys(&transitions))
    }

    async fn plan_rerun(
        &self,
        dag: &str,
        run_id: &str,
        request: &Rerun,
    ) -> EngineResult<(Run, Vec<Transition>)> {
        let run = self.find_run(dag, run_id).await?;
        let spec = self.spec_of(&run).await?;
        let instances = self.ports.store.instances(dag, run_id).await?;
        let transitions = rerun(&spec, &run, &instances, request, self.ports.clock.now())
            .map_err(|e| EngineError::not_found(e.to_string()))?;
        Ok((run, transitions))
    }
}

fn cleared_keys(transitions: &[Transition]) -> Vec<TaskKey> {
    transitions
        .iter()
        .filter_map(|t| match t {
            Transition::Task(change) => Some(change.next.key.clone()),
            Transition::Run(_) | Transition::Create(_) => None,
        })
        .collect()
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

/// A rerun request from what a person typed (task names, a map index, the
/// three switches), checked as every shell checks it: task names must be
/// valid, and a map index needs the task it indexes.
pub fn rerun_request(
    tasks: &[String],
    map_index: Option<u32>,
    downstream: bool,
    upstream: bool,
    only_failed: bool,
) -> EngineResult<Rerun> {
    let tasks = tasks
        .iter()
        .map(|t| TaskId::parse(t).map_err(|why| EngineError::invalid("task", why)))
        .collect::<EngineResult<Vec<_>>>()?;
    if map_index.is_some() && tasks.is_empty() {
        return Err(EngineError::invalid(
            "map_index",
            "a map index needs a task name",
        ));
    }
    Ok(Rerun {
        tasks,
        map_index,
        downstream,
        upstream,
        only_failed,
    })
}
