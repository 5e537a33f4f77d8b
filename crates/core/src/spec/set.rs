//! Validating a directory of specs as one set: a DAG id declared in two
//! files is an error naming both, and neither file is scheduled.

use std::collections::BTreeMap;

use crate::spec::{
    DagSpec, Diagnostic, POOLS_FILE, PoolSpec, SpecErrors, TriggerOn, parse_pools, parse_spec,
};
use crate::yaml::Pos;

/// One spec file's name and text, as read by the caller.
#[derive(Clone, Debug)]
pub struct SpecFile {
    /// The file's name, used in messages.
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// The valid DAGs of a set of files and every error of the rest.
#[derive(Debug, Default)]
pub struct SpecSet {
    /// Valid DAGs, by id.
    pub dags: BTreeMap<String, DagSpec>,
    /// Every problem, file by file, in line order.
    pub errors: Vec<Diagnostic>,
    /// What is valid but likely wrong (an unquoted param in a shell line),
    /// file by file, in line order.
    pub warnings: Vec<Diagnostic>,
    /// The pools of the set's `pools.yaml`, if it has a valid one.
    pub pools: Option<BTreeMap<String, PoolSpec>>,
}

impl SpecSet {
    /// Each declared pool's slots.
    pub fn pool_slots(&self) -> Option<BTreeMap<String, u32>> {
        let pools = self.pools.as_ref()?;
        Some(
            pools
                .iter()
                .map(|(name, p)| (name.clone(), p.slots))
                .collect(),
        )
    }
}

/// Whether a file is the pools file rather than a DAG (by its name, in a
/// directory, a bucket or alone).
pub fn is_pools_file(name: &str) -> bool {
    name.rsplit(['/', '\\']).next() == Some(POOLS_FILE)
}

/// A spec file's bytes as text: a spec is UTF-8, and anything else is that
/// file's error, at the first byte that is not.
pub fn spec_text(file: &str, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() as u32 + 1;
        let col = valid.iter().rev().take_while(|b| **b != b'\n').count() as u32 + 1;
        Diagnostic {
            file: file.to_string(),
            pos: Pos { line, col },
            message: "the file is not UTF-8 text; save it as UTF-8".into(),
        }
    })
}

/// Parses every file; DAG ids declared more than once are dropped from
/// `dags` and reported in each file that declares them. A `pools.yaml`
/// among them declares the pools the DAGs may name.
pub fn validate_set(files: &[SpecFile]) -> SpecSet {
    let mut set = SpecSet::default();
    let mut by_id: BTreeMap<String, Vec<DagSpec>> = BTreeMap::new();
    let mut pools_file = None;
    for file in files {
        if is_pools_file(&file.name) {
            pools_file = Some(file.name.as_str());
            match parse_pools(&file.name, &file.text) {
                Ok(pools) => set.pools = Some(pools),
                Err(SpecErrors(errors)) => set.errors.extend(errors),
            }
            continue;
        }
        set.warnings
            .extend(super::unquoted_in_shell(&file.name, &file.text));
        match parse_spec(&file.name, &file.text) {
            Ok(spec) if spec.id.as_str() == "pools" => set.errors.push(Diagnostic {
                file: file.name.clone(),
                pos: Pos { line: 1, col: 1 },
                message: format!("DAG id `pools` is kept for {POOLS_FILE}; name the DAG otherwise"),
            }),
            Ok(spec) => by_id.entry(spec.id.to_string()).or_default().push(spec),
            Err(SpecErrors(errors)) => set.errors.extend(errors),
        }
    }
    for (id, mut specs) in by_id {
        if specs.len() == 1 {
            set.dags.insert(id, specs.remove(0));
            continue;
        }
        let names: Vec<&str> = specs.iter().map(|s| s.file.as_str()).collect();
        for spec in &specs {
            let others: Vec<&str> = names.iter().copied().filter(|n| *n != spec.file).collect();
            set.errors.push(Diagnostic {
                file: spec.file.clone(),
                pos: Pos { line: 1, col: 1 },
                message: format!(
                    "DAG id `{id}` is also declared in {}; neither file is scheduled until one is renamed",
                    others.join(", ")
                ),
            });
        }
    }
    let mut wrong = check_triggers(&set.dags);
    if pools_file.is_none() || set.pools.is_some() {
        wrong.extend(check_pools(&set.dags, set.pools.as_ref()));
    }
    for diagnostic in wrong {
        set.dags.retain(|_, spec| spec.file != diagnostic.file);
        set.errors.push(diagnostic);
    }
    set.errors
        .sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
    set
}

/// The problems of `dag:` triggers across the set: a DAG that is not
/// there, and DAGs that trigger each other in a cycle (each DAG of the
/// cycle is told, naming it).
fn check_triggers(dags: &BTreeMap<String, DagSpec>) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    let upstreams = |spec: &DagSpec| -> Vec<(String, Pos)> {
        spec.triggers
            .iter()
            .flat_map(|t| {
                t.on.leaves().into_iter().filter_map(|leaf| match leaf {
                    TriggerOn::Dag { dag, .. } => Some((dag.to_string(), t.pos)),
                    _ => None,
                })
            })
            .collect()
    };
    for spec in dags.values() {
        for (upstream, pos) in upstreams(spec) {
            if !dags.contains_key(&upstream) {
                let known: Vec<&str> = dags.keys().map(String::as_str).collect();
                errors.push(Diagnostic {
                    file: spec.file.clone(),
                    pos,
                    message: format!(
                        "unknown DAG `{upstream}` in `triggers`; known DAGs: {}",
                        known.join(", ")
                    ),
                });
            }
        }
    }
    // A run of `a` ending starts one of `b` when `b` triggers on `a`: the
    // edge a → b. A cycle would start runs forever.
    for start in dags.keys() {
        if let Some(cycle) = cycle_through(dags, start, &upstreams) {
            let spec = &dags[start];
            let pos = upstreams(spec)
                .into_iter()
                .find(|(up, _)| Some(up) == cycle.get(cycle.len() - 2))
                .map_or(Pos { line: 1, col: 1 }, |(_, pos)| pos);
            errors.push(Diagnostic {
                file: spec.file.clone(),
                pos,
                message: format!(
                    "DAG triggers form a cycle: {}; a run would start the next forever",
                    cycle.join(" → ")
                ),
            });
        }
    }
    errors
}

/// The shortest path of triggers from `start` back to itself, as DAG ids
/// in the order runs would start (`a → b → a`).
fn cycle_through(
    dags: &BTreeMap<String, DagSpec>,
    start: &str,
    upstreams: &dyn Fn(&DagSpec) -> Vec<(String, Pos)>,
) -> Option<Vec<String>> {
    // Breadth-first over "is triggered by" from `start`: reaching `start`
    // again closes a cycle; the path read backwards is the order of runs.
    let mut paths: Vec<Vec<String>> = vec![vec![start.to_string()]];
    let mut seen = std::collections::BTreeSet::new();
    while !paths.is_empty() {
        let mut next = Vec::new();
        for path in paths {
            let last = path.last().map(String::as_str).unwrap_or(start);
            let Some(spec) = dags.get(last) else { continue };
            for (up, _) in upstreams(spec) {
                let mut longer = path.clone();
                longer.push(up.clone());
                if up == start {
                    longer.reverse();
                    return Some(longer);
                }
                if seen.insert(up) {
                    next.push(longer);
                }
            }
        }
        paths = next;
    }
    None
}

/// The pools the DAGs name that `pools` does not declare, or that have
/// fewer slots than a try takes.
fn check_pools(
    dags: &BTreeMap<String, DagSpec>,
    pools: Option<&BTreeMap<String, PoolSpec>>,
) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for spec in dags.values() {
        for task in &spec.tasks {
            let Some(need) = &task.pool else { continue };
            let message = match pools.and_then(|p| p.get(&need.pool)) {
                Some(pool) if need.slots > pool.slots => format!(
                    "task `{}` takes {} slots of pool `{}`, which has {}",
                    task.id, need.slots, need.pool, pool.slots
                ),
                Some(_) => continue,
                None => match pools {
                    Some(pools) => {
                        let known: Vec<&str> = pools.keys().map(String::as_str).collect();
                        format!(
                            "unknown pool `{}`; {POOLS_FILE} declares: {}",
                            need.pool,
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        )
                    }
                    None => format!(
                        "unknown pool `{}`: pools are declared in {POOLS_FILE} beside the specs",
                        need.pool
                    ),
                },
            };
            errors.push(Diagnostic {
                file: spec.file.clone(),
                pos: need.pos,
                message,
            });
        }
    }
    errors.dedup();
    errors
}
