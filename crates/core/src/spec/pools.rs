//! `pools.yaml`: the named pools of slots tries share across DAGs and runs,
//! read and validated like a spec, every problem with its file:line.
//!
//! ```yaml
//! pools:
//!   gpu: 2                    # two slots
//!   warehouse:
//!     slots: 4
//!     description: concurrent loads the warehouse takes
//! ```

use std::collections::BTreeMap;

use crate::ids::DagId;
use crate::spec::SpecErrors;
use crate::spec::read::Reader;
use crate::yaml::{self, Value};

/// The name of the pools file in a spec directory.
pub const POOLS_FILE: &str = "pools.yaml";

/// One pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    /// How many slots it has.
    pub slots: u32,
    /// For people.
    pub description: Option<String>,
}

/// Reads a pools file: pool names like DAG ids, at least one slot each.
pub fn parse_pools(file: &str, text: &str) -> Result<BTreeMap<String, PoolSpec>, SpecErrors> {
    let mut reader = Reader::new(file);
    let arena = yaml::Arena::new();
    let root = match yaml::parse(text, &arena) {
        Ok(root) => root,
        Err(e) => {
            reader.error(e.pos, e.message);
            return Err(SpecErrors(reader.errors));
        }
    };
    let mut pools = BTreeMap::new();
    let fields = reader.fields(&root, "the pools file", &["pools"]);
    let entries = match fields.get("pools").map(|n| (&n.value, n.pos)) {
        Some((Value::Map(entries), _)) => *entries,
        Some((_, pos)) => {
            reader.error(pos, "`pools` must be a mapping of pool names to slots");
            &[]
        }
        None => {
            reader.error(root.pos, "missing `pools:` (pool names and their slots)");
            &[]
        }
    };
    for entry in entries {
        if let Err(why) = DagId::parse(entry.key) {
            let why = why.replace("DAG id", "pool name");
            reader.error(entry.key_pos, why);
            continue;
        }
        let what = format!("the slots of pool `{}`", entry.key);
        let (slots, description) = match &entry.value.value {
            Value::Map(_) => {
                let fields = reader.fields(
                    &entry.value,
                    &format!("pool `{}`", entry.key),
                    &["slots", "description"],
                );
                let slots = match fields.get("slots") {
                    Some(node) => reader.count(node, &what).map(|n| (n, node.pos)),
                    None => {
                        reader.error(
                            entry.value.pos,
                            format!("pool `{}` needs `slots`", entry.key),
                        );
                        None
                    }
                };
                let description = fields
                    .get("description")
                    .and_then(|n| reader.string(n, "`description`"));
                (slots, description)
            }
            _ => (
                reader
                    .count(&entry.value, &what)
                    .map(|n| (n, entry.value.pos)),
                None,
            ),
        };
        match slots {
            Some((0, pos)) => reader.error(pos, format!("{what} must be at least 1")),
            Some((slots, _)) => {
                pools.insert(entry.key.to_string(), PoolSpec { slots, description });
            }
            None => {}
        }
    }
    match reader.errors.is_empty() {
        true => Ok(pools),
        false => {
            let mut errors = reader.errors;
            errors.sort_by_key(|d| d.pos);
            Err(SpecErrors(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_have_a_name_and_slots() {
        let pools = parse_pools(
            "pools.yaml",
            "pools:\n  gpu: 2\n  warehouse:\n    slots: 4\n    description: loads\n",
        )
        .unwrap();
        assert_eq!(pools["gpu"].slots, 2);
        assert_eq!(pools["warehouse"].slots, 4);
        assert_eq!(pools["warehouse"].description.as_deref(), Some("loads"));
    }

    #[test]
    fn bad_pools_are_told_with_their_line() {
        let errors = |text: &str| match parse_pools("pools.yaml", text) {
            Ok(_) => Vec::new(),
            Err(SpecErrors(list)) => list.iter().map(ToString::to_string).collect::<Vec<_>>(),
        };
        assert_eq!(
            errors("pools:\n  gpu: 0\n  big: lots\n  Bad: 1\n  w: {slot: 2}\n"),
            [
                "pools.yaml:2:8: the slots of pool `gpu` must be at least 1",
                "pools.yaml:3:8: the slots of pool `big` must be a whole number of 0 or more",
                "pools.yaml:4:3: `Bad` is not a valid pool name: use 1-64 characters a-z, 0-9, `_` or `-`, starting with a letter",
                "pools.yaml:5:6: pool `w` needs `slots`",
                "pools.yaml:5:7: unknown key `slot` in pool `w`; did you mean `slots`?",
            ]
        );
        assert_eq!(
            errors("gpu: 2\n"),
            [
                "pools.yaml:1:1: unknown key `gpu` in the pools file; expected one of: pools",
                "pools.yaml:1:1: missing `pools:` (pool names and their slots)",
            ]
        );
    }
}
