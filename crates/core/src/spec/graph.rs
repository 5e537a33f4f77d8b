//! The task graph of a spec: duplicate ids, unknown `after` names, cycles
//! (printed in run order), and the topological order the planner walks.

use std::collections::HashMap;

use foldhash::HashMapExt;

use crate::ids::TaskId;
use crate::spec::read::{Reader, Written};
use crate::yaml::Pos;

/// A task as the graph check sees it.
pub(crate) struct Node<'a> {
    pub id: &'a TaskId,
    pub id_pos: Pos,
    pub after: &'a [Written<'a>],
}

/// Edges and order of a valid graph.
pub(crate) struct Graph {
    /// Each task's place, by id (looked up for every `after` name and by
    /// the planner: hashed quickly).
    pub index: foldhash::HashMap<TaskId, usize>,
    pub upstream: Vec<Vec<usize>>,
    pub downstream: Vec<Vec<usize>>,
    pub order: Vec<usize>,
}

/// Checks the graph; `None` if it has an error (already reported).
pub(crate) fn check(reader: &mut Reader<'_>, nodes: &[Node<'_>]) -> Option<Graph> {
    let errors_before = reader.errors.len();
    let mut index: foldhash::HashMap<TaskId, usize> = foldhash::HashMap::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        if let Some(&first) = index.get(node.id) {
            reader.error(
                node.id_pos,
                format!(
                    "duplicate task id `{}` (first defined at line {})",
                    node.id, nodes[first].id_pos.line
                ),
            );
        } else {
            index.insert(node.id.clone(), i);
        }
    }
    let mut upstream: Vec<Vec<usize>> = nodes
        .iter()
        .map(|node| Vec::with_capacity(node.after.len()))
        .collect();
    for (i, node) in nodes.iter().enumerate() {
        for (name, pos) in node.after {
            match index.get(&**name) {
                Some(&up) if up == i => {
                    reader.error(*pos, format!("task `{name}` cannot run after itself"))
                }
                Some(&up) if upstream[i].contains(&up) => {
                    reader.error(*pos, format!("`after` names `{name}` twice"))
                }
                Some(&up) => upstream[i].push(up),
                None => reader.error(*pos, format!("`after` names unknown task `{name}`")),
            }
        }
    }
    // Counted first, so that each list is allocated once at its size.
    let mut fan_out = vec![0; nodes.len()];
    for &up in upstream.iter().flatten() {
        fan_out[up] += 1;
    }
    let mut downstream: Vec<Vec<usize>> = fan_out.into_iter().map(Vec::with_capacity).collect();
    for (i, ups) in upstream.iter().enumerate() {
        for &up in ups {
            downstream[up].push(i);
        }
    }
    match topological_order(&upstream, &downstream) {
        Ok(order) if reader.errors.len() == errors_before => Some(Graph {
            index,
            upstream,
            downstream,
            order,
        }),
        Ok(_) => None,
        Err(remaining) => {
            report_cycles(reader, nodes, &upstream, &remaining);
            None
        }
    }
}

/// Kahn's algorithm, in file order where the graph allows; on a cycle the
/// tasks that could not be ordered.
fn topological_order(
    upstream: &[Vec<usize>],
    downstream: &[Vec<usize>],
) -> Result<Vec<usize>, Vec<bool>> {
    let mut waiting: Vec<usize> = upstream.iter().map(Vec::len).collect();
    let mut ready: std::collections::VecDeque<usize> =
        (0..upstream.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(upstream.len());
    while let Some(task) = ready.pop_front() {
        order.push(task);
        for &down in &downstream[task] {
            waiting[down] -= 1;
            if waiting[down] == 0 {
                ready.push_back(down);
            }
        }
    }
    if order.len() == upstream.len() {
        Ok(order)
    } else {
        Err(waiting.iter().map(|&w| w > 0).collect())
    }
}

/// Every unordered task has an unordered upstream, so walking upstream from
/// one always closes a loop. Report each loop once.
fn report_cycles(
    reader: &mut Reader<'_>,
    nodes: &[Node<'_>],
    upstream: &[Vec<usize>],
    remaining: &[bool],
) {
    let mut seen = vec![false; nodes.len()];
    for start in (0..nodes.len()).filter(|&i| remaining[i]) {
        if seen[start] {
            continue;
        }
        let mut path = Vec::new();
        let mut position: HashMap<usize, usize> = HashMap::new();
        let mut current = start;
        while !seen[current] {
            seen[current] = true;
            position.insert(current, path.len());
            path.push(current);
            match upstream[current].iter().copied().find(|&up| remaining[up]) {
                Some(up) => current = up,
                None => break,
            }
        }
        let Some(&from) = position.get(&current) else {
            continue; // ran into a loop reported before
        };
        // The walk went upstream; print in run order: a -> b means b runs after a.
        let mut cycle: Vec<usize> = path[from..].iter().rev().copied().collect();
        let first = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
        cycle.rotate_left(first);
        let names: Vec<&str> = cycle
            .iter()
            .chain(cycle.first())
            .map(|&t| nodes[t].id.as_str())
            .collect();
        reader.error(
            nodes[cycle[0]].id_pos,
            format!("cycle: {}", names.join(" -> ")),
        );
    }
}
