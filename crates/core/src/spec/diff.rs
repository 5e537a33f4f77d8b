//! What changed between two versions of a spec: tasks added, removed and
//! changed (naming the keys that differ), and the DAG-level keys that
//! differ. Compared on the canonical form, so key order, comments and
//! formatting are no change, exactly as for the version itself.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::yaml;

/// A task whose canonical form differs between the versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskChange {
    /// The task.
    pub task: String,
    /// Its keys whose values differ (or that only one version has).
    pub keys: Vec<String>,
}

/// The difference from one spec version to another.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SpecDiff {
    /// Tasks only the second version has, in its order.
    pub added: Vec<String>,
    /// Tasks only the first version has, in its order.
    pub removed: Vec<String>,
    /// Tasks in both that differ, in the second version's order.
    pub changed: Vec<TaskChange>,
    /// DAG-level keys (`schedule`, `params`, `defaults`, ...) that differ.
    pub dag_keys: Vec<String>,
}

impl SpecDiff {
    /// Whether the versions describe the same DAG.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.dag_keys.is_empty()
    }
}

/// The difference from spec source `a` to spec source `b` (stored versions
/// are valid specs; a source that is not is an error saying so).
pub fn spec_diff(a: &str, b: &str) -> Result<SpecDiff, String> {
    let (a, b) = (canonical(a)?, canonical(b)?);
    let (tasks_a, tasks_b) = (tasks(&a), tasks(&b));
    let find = |list: &[(String, Map<String, Value>)], id: &str| {
        list.iter()
            .find(|(t, _)| t == id)
            .map(|(_, body)| body.clone())
    };
    let mut diff = SpecDiff {
        dag_keys: differing_keys(&without_tasks(&a), &without_tasks(&b)),
        ..SpecDiff::default()
    };
    for (id, body) in &tasks_b {
        match find(&tasks_a, id) {
            None => diff.added.push(id.clone()),
            Some(old) => {
                let keys = differing_keys(&old, body);
                if !keys.is_empty() {
                    diff.changed.push(TaskChange {
                        task: id.clone(),
                        keys,
                    });
                }
            }
        }
    }
    for (id, _) in &tasks_a {
        if find(&tasks_b, id).is_none() {
            diff.removed.push(id.clone());
        }
    }
    Ok(diff)
}

fn canonical(source: &str) -> Result<Map<String, Value>, String> {
    let json = yaml::to_json(source)
        .map_err(|e| format!("a stored spec does not parse: {}", e.message))?;
    match json {
        Value::Object(map) => Ok(map),
        _ => Err("a stored spec is not a mapping".into()),
    }
}

/// The tasks by id, in file order.
fn tasks(spec: &Map<String, Value>) -> Vec<(String, Map<String, Value>)> {
    spec.get("tasks")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|task| {
                    let body = task.as_object()?;
                    Some((body.get("id")?.as_str()?.to_string(), body.clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn without_tasks(spec: &Map<String, Value>) -> Map<String, Value> {
    let mut rest = spec.clone();
    rest.remove("tasks");
    rest
}

/// Keys whose values differ, in key order.
fn differing_keys(a: &Map<String, Value>, b: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const V1: &str = "dag: ml\nschedule: none\nparams: { lr: 0.01 }\ntasks:\n  - id: train\n    command: [python, train.py]\n  - id: evaluate\n    after: [train]\n    command: [python, eval.py]\n  - id: report\n    after: [evaluate]\n    command: [echo]\n";

    #[test]
    fn names_added_removed_and_changed_tasks_and_their_keys() {
        let v2 = "dag: ml\nschedule: '@daily'\nparams: { lr: 0.01 }\ntasks:\n  - id: train\n    image: train:2\n    command: [python, train.py, --fast]\n  - id: evaluate\n    command: [python, eval.py]\n    after: [train]\n  - id: publish\n    after: [evaluate]\n    command: [echo, publish]\n";
        assert_eq!(
            spec_diff(V1, v2).unwrap(),
            SpecDiff {
                added: vec!["publish".into()],
                removed: vec!["report".into()],
                changed: vec![TaskChange {
                    task: "train".into(),
                    keys: vec!["command".into(), "image".into()]
                }],
                dag_keys: vec!["schedule".into()],
            }
        );
    }

    #[test]
    fn formatting_comments_and_key_order_are_no_change() {
        let same = "# the same DAG\ntasks:\n  - command: [python, train.py]\n    id: train\n  - {id: evaluate, after: [train], command: [python, eval.py]}\n  - id: report\n    after: [evaluate]\n    command: [echo]\nparams: {lr: 0.01}\nschedule: none\ndag: ml\n";
        assert!(spec_diff(V1, same).unwrap().is_empty());
    }

    /// A spec of `n` tasks whose commands are `commands`.
    fn spec_of(commands: &[u8]) -> String {
        let mut text = String::from("dag: p\ntasks:\n");
        for (i, c) in commands.iter().enumerate() {
            text.push_str(&format!("  - id: t{i}\n    command: [run, \"{c}\"]\n"));
        }
        text
    }

    proptest! {
        /// diff(a, a) is empty; diff(a, b) names exactly the tasks whose
        /// canonical form differs, as added, removed or changed.
        #[test]
        fn the_diff_names_exactly_the_tasks_that_differ(
            a in proptest::collection::vec(0u8..4, 0..8),
            b in proptest::collection::vec(0u8..4, 0..8),
        ) {
            let (sa, sb) = (spec_of(&a), spec_of(&b));
            prop_assert!(spec_diff(&sa, &sa).unwrap().is_empty());
            let diff = spec_diff(&sa, &sb).unwrap();
            let name = |i: usize| format!("t{i}");
            let added: Vec<String> = (a.len()..b.len()).map(name).collect();
            let removed: Vec<String> = (b.len()..a.len()).map(name).collect();
            let changed: Vec<String> = (0..a.len().min(b.len())).filter(|&i| a[i] != b[i]).map(name).collect();
            prop_assert_eq!(&diff.added, &added);
            prop_assert_eq!(&diff.removed, &removed);
            prop_assert_eq!(diff.changed.iter().map(|c| c.task.clone()).collect::<Vec<_>>(), changed);
            prop_assert!(diff.changed.iter().all(|c| c.keys == ["command"]));
            prop_assert!(diff.dag_keys.is_empty());
        }
    }
}
