//! Validating a directory of specs as one set: a DAG id declared in two
//! files is an error naming both, and neither file is scheduled.

use std::collections::BTreeMap;

use crate::spec::{DagSpec, Diagnostic, SpecErrors, parse_spec};
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
}

/// Parses every file; DAG ids declared more than once are dropped from
/// `dags` and reported in each file that declares them.
pub fn validate_set(files: &[SpecFile]) -> SpecSet {
    let mut set = SpecSet::default();
    let mut by_id: BTreeMap<String, Vec<DagSpec>> = BTreeMap::new();
    for file in files {
        match parse_spec(&file.name, &file.text) {
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
    set.errors
        .sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
    set
}
