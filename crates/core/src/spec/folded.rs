//! A DAG's graph with its task groups folded: each group drawn as one node
//! standing for its tasks (Airflow's collapsed TaskGroup), unless it is the
//! one a reader opened. What the dashboard's graph and grid draw.

use std::collections::BTreeSet;

use crate::spec::DagSpec;

/// One node of a folded graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FoldedNode {
    /// A task, by its index in the spec.
    Task(usize),
    /// A group's tasks drawn as one node, by their indexes in the spec.
    Group {
        /// The group's name.
        name: String,
        /// Its tasks.
        tasks: Vec<usize>,
    },
}

/// A graph of tasks and folded groups, nodes in an order where each comes
/// after its upstreams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folded {
    /// The nodes, upstreams first.
    pub nodes: Vec<FoldedNode>,
    /// For each node, the nodes right before it.
    pub upstream: Vec<Vec<usize>>,
}

/// `spec`'s graph with every group folded but `open`. A group whose folding
/// would make a cycle (a task outside it both after one of its tasks and
/// before another) stays unfolded, so the drawing never lies about order.
pub fn fold_groups(spec: &DagSpec, open: Option<&str>) -> Folded {
    let mut folded_groups: BTreeSet<&str> = BTreeSet::new();
    let candidates: BTreeSet<&str> = spec
        .tasks
        .iter()
        .filter_map(|t| t.group.as_deref())
        .filter(|g| Some(*g) != open)
        .collect();
    for group in candidates {
        folded_groups.insert(group);
        if build(spec, &folded_groups).is_none() {
            folded_groups.remove(group);
        }
    }
    build(spec, &folded_groups).unwrap_or_else(|| unfolded(spec))
}

/// Every task its own node: always acyclic, as the spec is.
fn unfolded(spec: &DagSpec) -> Folded {
    let order = spec.topological_order();
    let mut place = vec![0; spec.tasks.len()];
    for (at, &t) in order.iter().enumerate() {
        place[t] = at;
    }
    Folded {
        nodes: order.iter().map(|&t| FoldedNode::Task(t)).collect(),
        upstream: order
            .iter()
            .map(|&t| spec.tasks[t].upstream.iter().map(|&u| place[u]).collect())
            .collect(),
    }
}

/// The graph with `groups` folded, or none if it has a cycle.
fn build(spec: &DagSpec, groups: &BTreeSet<&str>) -> Option<Folded> {
    // Nodes in the order their first task comes.
    let mut nodes: Vec<FoldedNode> = Vec::new();
    let mut node_of = vec![0usize; spec.tasks.len()];
    for &t in spec.topological_order() {
        let group = spec.tasks[t]
            .group
            .as_deref()
            .filter(|g| groups.contains(g));
        let existing = group.and_then(|g| {
            nodes
                .iter()
                .position(|n| matches!(n, FoldedNode::Group { name, .. } if name == g))
        });
        match (group, existing) {
            (Some(_), Some(at)) => {
                if let FoldedNode::Group { tasks, .. } = &mut nodes[at] {
                    tasks.push(t);
                }
                node_of[t] = at;
            }
            (Some(g), None) => {
                node_of[t] = nodes.len();
                nodes.push(FoldedNode::Group {
                    name: g.to_string(),
                    tasks: vec![t],
                });
            }
            (None, _) => {
                node_of[t] = nodes.len();
                nodes.push(FoldedNode::Task(t));
            }
        }
    }
    let mut upstream: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); nodes.len()];
    for (t, task) in spec.tasks.iter().enumerate() {
        for &u in &task.upstream {
            if node_of[u] != node_of[t] {
                upstream[node_of[t]].insert(node_of[u]);
            }
        }
    }
    let order = topological(&upstream)?;
    let mut place = vec![0; nodes.len()];
    for (at, &n) in order.iter().enumerate() {
        place[n] = at;
    }
    Some(Folded {
        nodes: order.iter().map(|&n| nodes[n].clone()).collect(),
        upstream: order
            .iter()
            .map(|&n| upstream[n].iter().map(|&u| place[u]).collect())
            .collect(),
    })
}

/// Kahn's order of a graph given by each node's upstreams; none if it has
/// a cycle. Ties keep the nodes' own order.
fn topological(upstream: &[BTreeSet<usize>]) -> Option<Vec<usize>> {
    let mut waiting: Vec<usize> = upstream.iter().map(BTreeSet::len).collect();
    let mut downstream = vec![Vec::new(); upstream.len()];
    for (n, ups) in upstream.iter().enumerate() {
        for &u in ups {
            downstream[u].push(n);
        }
    }
    let mut ready: BTreeSet<usize> = (0..upstream.len()).filter(|&n| waiting[n] == 0).collect();
    let mut order = Vec::with_capacity(upstream.len());
    while let Some(n) = ready.pop_first() {
        order.push(n);
        for &d in &downstream[n] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.insert(d);
            }
        }
    }
    (order.len() == upstream.len()).then_some(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_spec;

    /// extract → (group etl: clean → load) → report
    const GROUPED: &str = "dag: g\ntasks:\n  - id: extract\n    command: [x]\n  - id: clean\n    group: etl\n    after: [extract]\n    command: [x]\n  - id: load\n    group: etl\n    after: [clean]\n    command: [x]\n  - id: report\n    after: [etl]\n    command: [x]\n";

    fn names(spec: &DagSpec, folded: &Folded) -> Vec<String> {
        folded
            .nodes
            .iter()
            .map(|n| match n {
                FoldedNode::Task(t) => spec.tasks[*t].id.to_string(),
                FoldedNode::Group { name, tasks } => format!("{name}{tasks:?}"),
            })
            .collect()
    }

    #[test]
    fn a_group_folds_into_one_node_with_its_edges() {
        let spec = parse_spec("g.yaml", GROUPED).unwrap();
        let folded = fold_groups(&spec, None);
        assert_eq!(names(&spec, &folded), ["extract", "etl[1, 2]", "report"]);
        assert_eq!(folded.upstream, [vec![], vec![0], vec![1]]);
        let open = fold_groups(&spec, Some("etl"));
        assert_eq!(names(&spec, &open), ["extract", "clean", "load", "report"]);
        assert_eq!(open.upstream, [vec![], vec![0], vec![1], vec![1, 2]]);
    }

    #[test]
    fn a_group_a_task_outside_runs_in_the_middle_of_stays_open() {
        // a (etl) → b (outside) → c (etl): folding etl would draw a cycle.
        let text = "dag: g\ntasks:\n  - id: a\n    group: etl\n    command: [x]\n  - id: b\n    after: [a]\n    command: [x]\n  - id: c\n    group: etl\n    after: [b]\n    command: [x]\n";
        let spec = parse_spec("g.yaml", text).unwrap();
        let folded = fold_groups(&spec, None);
        assert_eq!(names(&spec, &folded), ["a", "b", "c"]);
    }
}
