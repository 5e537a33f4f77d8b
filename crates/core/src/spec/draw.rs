//! A DAG drawn as text, Mermaid or Graphviz DOT (`updraft graph`), so a
//! reviewer sees the graph a spec declares without running it.

use std::fmt::Write;

use crate::spec::{DagSpec, TaskSpec, TriggerRule};

/// How [`draw`] writes the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    /// One line per task, after its upstreams, for a terminal.
    Text,
    /// A Mermaid flowchart, for Markdown that renders it (GitHub, GitLab).
    Mermaid,
    /// Graphviz DOT, for `dot -Tsvg`.
    Dot,
}

/// The DAG's tasks and edges in `format`; mapped tasks are marked.
pub fn draw(spec: &DagSpec, format: GraphFormat) -> String {
    match format {
        GraphFormat::Text => text(spec),
        GraphFormat::Mermaid => mermaid(spec),
        GraphFormat::Dot => dot(spec),
    }
}

/// What a task's node (or grid row) says besides its id: mapped, its
/// trigger rule, the setups it tears down, its group.
pub fn task_marks(task: &TaskSpec) -> Vec<String> {
    let mut marks = Vec::new();
    if task.map_over.is_some() {
        marks.push("mapped".to_string());
    }
    if task.trigger_rule != TriggerRule::AllSuccess {
        marks.push(task.trigger_rule.as_str().to_string());
    }
    if !task.teardown_of.is_empty() {
        let setups: Vec<&str> = task.teardown_of.iter().map(|s| s.as_str()).collect();
        marks.push(format!("teardown of {}", setups.join(", ")));
    }
    if let Some(group) = &task.group {
        marks.push(format!("group {group}"));
    }
    marks
}

fn label(task: &TaskSpec) -> String {
    let marks = task_marks(task);
    match marks.is_empty() {
        true => task.id.to_string(),
        false => format!("{} ({})", task.id, marks.join(", ")),
    }
}

fn text(spec: &DagSpec) -> String {
    let mut out = format!("{}: {} tasks\n", spec.id, spec.tasks.len());
    let ordered: Vec<&TaskSpec> = spec
        .topological_order()
        .iter()
        .map(|&i| &spec.tasks[i])
        .collect();
    let width = ordered.iter().map(|t| label(t).len()).max().unwrap_or(0);
    for task in ordered {
        let after: Vec<&str> = task.after.iter().map(|a| a.as_str()).collect();
        let line = match after.is_empty() {
            true => label(task),
            false => format!("{:<width$}  after {}", label(task), after.join(", ")),
        };
        let _ = writeln!(out, "  {}", line.trim_end());
    }
    out
}

fn mermaid(spec: &DagSpec) -> String {
    let mut out = String::from("flowchart LR\n");
    for task in &spec.tasks {
        // A mapped task is a stack of boxes: Mermaid's subroutine shape.
        let (open, close) = match task.map_over.is_some() {
            true => ("[[", "]]"),
            false => ("[", "]"),
        };
        let _ = writeln!(out, "  {}{open}\"{}\"{close}", task.id, label(task));
    }
    for (group, members) in groups(spec) {
        let _ = writeln!(out, "  subgraph group_{group}[\"{group}\"]");
        for task in members {
            let _ = writeln!(out, "    {task}");
        }
        out.push_str("  end\n");
    }
    for task in &spec.tasks {
        for up in &task.upstream {
            let _ = writeln!(out, "  {} --> {}", spec.tasks[*up].id, task.id);
        }
    }
    out
}

/// Each group's tasks, in the spec's order: drawn as a box around them.
fn groups(spec: &DagSpec) -> std::collections::BTreeMap<&str, Vec<&str>> {
    let mut groups: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for task in &spec.tasks {
        if let Some(group) = &task.group {
            groups.entry(group).or_default().push(task.id.as_str());
        }
    }
    groups
}

fn dot(spec: &DagSpec) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box];\n",
        spec.id
    );
    for task in &spec.tasks {
        let shape = match task.map_over.is_some() {
            true => ", shape=box3d",
            false => "",
        };
        let _ = writeln!(out, "  \"{}\" [label=\"{}\"{shape}];", task.id, label(task));
    }
    for (group, members) in groups(spec) {
        let _ = writeln!(
            out,
            "  subgraph \"cluster_{group}\" {{\n    label=\"{group}\";"
        );
        for task in members {
            let _ = writeln!(out, "    \"{task}\";");
        }
        out.push_str("  }\n");
    }
    for task in &spec.tasks {
        for up in &task.upstream {
            let _ = writeln!(out, "  \"{}\" -> \"{}\";", spec.tasks[*up].id, task.id);
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_spec;

    const FAN: &str = "dag: fan\ntasks:\n  - id: split\n    command: [echo]\n  - id: each\n    after: [split]\n    map_over: \"{{ outputs.split.shards }}\"\n    command: [echo]\n  - id: report\n    after: [each, split]\n    trigger_rule: all_done\n    command: [echo]\n";

    #[test]
    fn text_lists_each_task_after_its_upstreams_and_marks_mapped_ones() {
        let spec = parse_spec("fan.yaml", FAN).unwrap();
        assert_eq!(
            draw(&spec, GraphFormat::Text),
            "fan: 3 tasks\n  split\n  each (mapped)      after split\n  report (all_done)  after each, split\n"
        );
    }

    #[test]
    fn mermaid_draws_mapped_tasks_as_stacks() {
        let spec = parse_spec("fan.yaml", FAN).unwrap();
        assert_eq!(
            draw(&spec, GraphFormat::Mermaid),
            "flowchart LR\n  split[\"split\"]\n  each[[\"each (mapped)\"]]\n  report[\"report (all_done)\"]\n  split --> each\n  each --> report\n  split --> report\n"
        );
    }

    #[test]
    fn groups_are_boxes_around_their_tasks_and_after_a_group_is_after_each_task() {
        let text = "dag: g\ntasks:\n  - id: a\n    group: etl\n    command: [x]\n  - id: b\n    group: etl\n    command: [x]\n  - id: c\n    after: [etl]\n    command: [x]\n";
        let spec = parse_spec("g.yaml", text).unwrap();
        assert_eq!(
            draw(&spec, GraphFormat::Mermaid),
            "flowchart LR\n  a[\"a (group etl)\"]\n  b[\"b (group etl)\"]\n  c[\"c\"]\n  subgraph group_etl[\"etl\"]\n    a\n    b\n  end\n  a --> c\n  b --> c\n"
        );
        let dot = draw(&spec, GraphFormat::Dot);
        assert!(
            dot.contains(
                "  subgraph \"cluster_etl\" {\n    label=\"etl\";\n    \"a\";\n    \"b\";\n  }\n"
            ),
            "{dot}"
        );
        assert!(dot.contains("\"b\" -> \"c\""), "{dot}");
    }

    #[test]
    fn dot_draws_every_edge() {
        let spec = parse_spec("fan.yaml", FAN).unwrap();
        assert_eq!(
            draw(&spec, GraphFormat::Dot),
            "digraph \"fan\" {\n  rankdir=LR;\n  node [shape=box];\n  \"split\" [label=\"split\"];\n  \"each\" [label=\"each (mapped)\", shape=box3d];\n  \"report\" [label=\"report (all_done)\"];\n  \"split\" -> \"each\";\n  \"each\" -> \"report\";\n  \"split\" -> \"report\";\n}\n"
        );
    }
}
