//! Task groups: `group: NAME` on tasks, `after: [NAME]` meaning after every
//! task of the group, and `groups:` giving a group a description and keys
//! its tasks take unless they write their own (Airflow's TaskGroup and its
//! `default_args`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::spec::RetryPolicy;
use crate::spec::capacity::CapacityKeys;
use crate::spec::read::{Reader, Written};
use crate::yaml::{Node, Value};

/// The keys of one group under `groups:`.
const GROUP_KEYS: &[&str] = &["description", "defaults"];

/// A group as written under `groups:`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupInfo {
    /// What the group does, for people.
    pub description: Option<String>,
}

/// A group's keys for its tasks: retries and timeout, pool and priority.
pub(super) struct GroupDefaults {
    pub(super) retry: (RetryPolicy, Option<std::time::Duration>),
    pub(super) capacity: CapacityKeys,
}

/// Reads `groups:`, each group's defaults over the DAG's.
pub(super) fn read_groups(
    reader: &mut Reader<'_>,
    node: &Node,
    dag: (RetryPolicy, Option<std::time::Duration>),
    dag_capacity: &CapacityKeys,
    default_keys: &[&str],
) -> (BTreeMap<String, GroupInfo>, BTreeMap<String, GroupDefaults>) {
    let mut infos = BTreeMap::new();
    let mut defaults = BTreeMap::new();
    let Value::Map(entries) = &node.value else {
        reader.error(
            node.pos,
            format!("`groups` must be a mapping of names, not {}", node.kind()),
        );
        return (infos, defaults);
    };
    for entry in entries.iter() {
        let fields = reader.fields(&entry.value, &format!("group `{}`", entry.key), GROUP_KEYS);
        let description = fields
            .get("description")
            .and_then(|n| reader.string(n, "`description`"));
        let (retry, capacity) = match fields.get("defaults") {
            Some(n) => {
                let keys = reader.fields(n, "`defaults`", default_keys);
                let retry = super::parse::read_retry(reader, &keys, dag.0, dag.1);
                (retry, CapacityKeys::read(reader, &keys).over(dag_capacity))
            }
            None => (dag, dag_capacity.clone()),
        };
        infos.insert(entry.key.to_string(), GroupInfo { description });
        defaults.insert(entry.key.to_string(), GroupDefaults { retry, capacity });
    }
    (infos, defaults)
}

/// The group a task item names, read before the task itself so that its
/// group's defaults apply.
pub(super) fn group_of<'n>(item: &Node<'n>) -> Option<&'n str> {
    let Value::Map(entries) = item.value else {
        return None;
    };
    entries
        .iter()
        .find(|e| e.key == "group")
        .and_then(|e| match e.value.value {
            Value::Str(name) => Some(name),
            _ => None,
        })
}

/// Every `after` entry naming a group becomes its tasks, in file order. A
/// name both a task and a group is refused, and so is a task after its own
/// group.
pub(super) fn expand_after(
    reader: &mut Reader<'_>,
    tasks: &mut [(&str, Option<&str>, &mut Vec<Written<'_>>)],
) {
    let mut members: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, group, _) in tasks.iter() {
        if let Some(group) = group {
            members.entry(group).or_default().push(id);
        }
    }
    if members.is_empty() {
        return;
    }
    for group in members.keys() {
        if tasks.iter().any(|(id, _, _)| id == group) {
            let pos = tasks
                .iter()
                .flat_map(|(_, _, after)| after.iter())
                .find(|(name, _)| name == group)
                .map(|(_, pos)| *pos);
            if let Some(pos) = pos {
                reader.error(pos, format!("`{group}` names both a task and a group"));
            }
        }
    }
    for (id, own, list) in tasks.iter_mut() {
        let mut expanded = Vec::with_capacity(list.len());
        for (name, pos) in list.drain(..) {
            match members.get(&*name) {
                Some(_) if *own == Some(&*name) => reader.error(
                    pos,
                    format!("task `{id}` is in group `{name}`: it cannot run after its own group"),
                ),
                Some(tasks) if !tasks.contains(&&*name) => {
                    expanded.extend(tasks.iter().map(|t| (Cow::Owned(t.to_string()), pos)));
                }
                _ => expanded.push((name, pos)),
            }
        }
        **list = expanded;
    }
}
