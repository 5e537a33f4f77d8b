//! Control flow beyond trigger rules: a branch's choice and a short circuit
//! skip the tasks after them, whatever those tasks' own rules say.

use std::collections::HashMap;

use serde_json::Value;

use crate::spec::{Approval, DagSpec, ShortCircuit, TaskSpec};
use crate::state::{TaskInstance, TaskState};

/// What a task's upstream branches and short circuits say of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing: its trigger rule decides.
    Free,
    /// A short circuit before it, or a branch right before it, has not
    /// ended: it waits, whatever its rule.
    Hold,
    /// It is skipped, for this reason.
    Skip(String),
}

/// Where the short circuits of a run stand, task by task, filled in
/// topological order.
pub(crate) struct Circuits {
    /// The task whose short circuit (`true`) cuts this one, if one does.
    cut_by: Vec<Option<usize>>,
    /// Whether a short circuit (`true`) before it has not ended yet.
    open: Vec<bool>,
}

impl Circuits {
    pub(crate) fn new(spec: &DagSpec) -> Circuits {
        Circuits {
            cut_by: vec![None; spec.tasks.len()],
            open: vec![false; spec.tasks.len()],
        }
    }

    /// The verdict on task `t`, once every task before it was looked at.
    /// `main[u]` is the instance of unmapped task `u`; `fresh` holds the
    /// outputs this plan gave (an approval decided by its timeout).
    pub(crate) fn verdict(
        &mut self,
        spec: &DagSpec,
        t: usize,
        main: &[Option<usize>],
        instances: &[TaskInstance],
        state: &[TaskState],
        fresh: &HashMap<usize, Value>,
    ) -> Verdict {
        let task = &spec.tasks[t];
        let mut skip = None;
        let mut waits = false;
        for &u in &task.upstream {
            let up = &spec.tasks[u];
            if self.cut_by[u].is_some() {
                self.cut_by[t] = self.cut_by[u];
            }
            self.open[t] |= self.open[u];
            let Some(i) = main[u] else {
                continue;
            };
            let output = fresh.get(&i).or(instances[i].output.as_ref());
            let broken = stops(state[i], output)
                || up.approval.is_some()
                    && state[i] == TaskState::Succeeded
                    && Approval::rejected(output);
            // Whatever its rule, a task right after a branch or a short
            // circuit runs only once that has decided.
            waits |=
                (up.branch || up.short_circuit != ShortCircuit::Off) && !state[i].is_terminal();
            match up.short_circuit {
                ShortCircuit::All if broken => self.cut_by[t] = Some(u),
                ShortCircuit::All if !state[i].is_terminal() => self.open[t] = true,
                ShortCircuit::RespectTriggerRules if broken => {
                    skip = Some(format!("short-circuited by `{}`", up.id));
                }
                _ => {}
            }
            if up.branch && state[i] == TaskState::Succeeded && !chose(output, task.id.as_str()) {
                skip = Some(format!("not chosen by branch `{}`", up.id));
            }
        }
        if let Some(by) = self.cut_by[t] {
            self.open[t] = false;
            return Verdict::Skip(format!("short-circuited by `{}`", spec.tasks[by].id));
        }
        match (skip, self.open[t] || waits) {
            (Some(reason), _) => Verdict::Skip(reason),
            (None, true) => Verdict::Hold,
            (None, false) => Verdict::Free,
        }
    }
}

/// Whether a short-circuit task's end stops what follows: it was skipped,
/// or its output says `"continue": false`.
fn stops(state: TaskState, output: Option<&Value>) -> bool {
    state == TaskState::Skipped
        || state == TaskState::Succeeded
            && output.and_then(|o| o.get("continue")) == Some(&Value::Bool(false))
}

/// The tasks a branch's output chooses (`branch`: a task id or a list).
fn chosen(output: Option<&Value>) -> Option<Vec<&str>> {
    match output?.get("branch")? {
        Value::String(one) => Some(vec![one.as_str()]),
        Value::Array(many) => many.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// Whether a succeeded branch's output lets `task` run. A branch marked
/// succeeded by hand, with no output, lets every task run.
fn chose(output: Option<&Value>, task: &str) -> bool {
    match output.and_then(|o| o.get("branch")) {
        None => true,
        Some(_) => chosen(output).is_some_and(|tasks| tasks.contains(&task)),
    }
}

/// Checks a branch task's output as its try ends: it must name, under
/// `branch`, tasks right after it (`[]` for none). The error fails the try.
pub fn check_branch(spec: &DagSpec, task: &TaskSpec, output: Option<&Value>) -> Result<(), String> {
    let Some(index) = spec.task_index(task.id.as_str()) else {
        return Ok(());
    };
    let after: Vec<&str> = spec
        .downstream_of(index)
        .iter()
        .map(|&d| spec.tasks[d].id.as_str())
        .collect();
    let Some(tasks) = chosen(output) else {
        return Err(format!(
            "a branch's output must name the tasks to run under `branch`, e.g. {{\"branch\": \"{}\"}} or {{\"branch\": []}}; the tasks right after `{}`: {}",
            after.first().copied().unwrap_or("task"),
            task.id,
            after.join(", ")
        ));
    };
    match tasks.iter().find(|t| !after.contains(t)) {
        Some(stranger) => Err(format!(
            "`branch` names `{stranger}`, which does not run right after `{}`; choose among: {}",
            task.id,
            after.join(", ")
        )),
        None => Ok(()),
    }
}
