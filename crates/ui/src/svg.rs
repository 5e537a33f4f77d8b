//! Drawings made by the server: a DAG's graph left to right, the Gantt of
//! a run's tries, and bars of run durations. No script draws anything.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use updraft_core::spec::{Folded, FoldedNode};
use updraft_engine::json::shorten;

use crate::html::escape;

/// How one node of the graph (a task, or a folded group) is drawn.
#[derive(Clone, Debug)]
pub struct Node {
    /// The task id or group name.
    pub label: String,
    /// Whether it stands for a folded group's tasks (drawn doubled).
    pub group: bool,
    /// Its state's name (the CSS class that colours it); a group's: the
    /// most telling of its tasks'.
    pub state: String,
    /// Its state's letter.
    pub letter: char,
    /// For a mapped task or a group: "3/5" (ended well / all).
    pub counts: Option<String>,
    /// Where clicking it goes (a group: the same page with it open).
    pub href: String,
}

const NODE_W: i64 = 160;
const NODE_H: i64 = 38;
const GAP_X: i64 = 50;
const GAP_Y: i64 = 14;

/// The graph, left to right: each node in the column of its longest path
/// from a root; `node` says how node `i` looks.
pub fn graph(folded: &Folded, node: impl Fn(&FoldedNode) -> Node) -> String {
    let count = folded.nodes.len();
    // Nodes come upstreams first.
    let mut layer = vec![0usize; count];
    for n in 0..count {
        layer[n] = folded.upstream[n]
            .iter()
            .map(|&u| layer[u] + 1)
            .max()
            .unwrap_or(0);
    }
    let mut row = vec![0usize; count];
    let mut filled = vec![0usize; layer.iter().max().map_or(0, |m| m + 1)];
    for n in 0..count {
        row[n] = filled[layer[n]];
        filled[layer[n]] += 1;
    }
    let at = |n: usize| {
        (
            10 + layer[n] as i64 * (NODE_W + GAP_X),
            10 + row[n] as i64 * (NODE_H + GAP_Y),
        )
    };
    let width = 20 + filled.len() as i64 * (NODE_W + GAP_X) - GAP_X;
    let height = 20 + filled.iter().max().copied().unwrap_or(0) as i64 * (NODE_H + GAP_Y) - GAP_Y;
    let mut out = format!(
        "<svg class=\"graph\" role=\"img\" aria-label=\"task graph\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (n, ups) in folded.upstream.iter().enumerate() {
        let (x2, y2) = at(n);
        for &u in ups {
            let (x1, y1) = at(u);
            let (x1, y1, y2) = (x1 + NODE_W, y1 + NODE_H / 2, y2 + NODE_H / 2);
            let mid = (x1 + x2) / 2;
            let _ = write!(
                out,
                "<path class=\"edge\" d=\"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}\"/>"
            );
        }
    }
    for (n, folded_node) in folded.nodes.iter().enumerate() {
        let (x, y) = at(n);
        let look = node(folded_node);
        let shown = match look.group {
            true => format!("▸ {}", shorten(&look.label, 18)),
            false => shorten(&look.label, 20),
        };
        let status = match &look.counts {
            Some(counts) => format!("{} {} · {counts}", look.letter, look.state),
            None => format!("{} {}", look.letter, look.state),
        };
        let (data, title) = match look.group {
            true => (
                "data-group",
                format!("group {}: {status}; open it", look.label),
            ),
            false => ("data-task", format!("{}: {status}", look.label)),
        };
        // A folded group is drawn as a stack of two boxes.
        let under = match look.group {
            true => format!(
                "<rect class=\"{state} under\" x=\"{ux}\" y=\"{uy}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"5\"/>",
                state = escape(&look.state),
                ux = x + 4,
                uy = y + 4,
            ),
            false => String::new(),
        };
        let _ = write!(
            out,
            "<a href=\"{href}\" {data}=\"{label}\"><title>{title}</title>{under}\
             <rect class=\"{state}\" x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"5\"/>\
             <text class=\"label\" x=\"{tx}\" y=\"{ty1}\">{shown}</text>\
             <text class=\"label\" x=\"{tx}\" y=\"{ty2}\">{status}</text></a>",
            href = escape(&look.href),
            label = escape(&look.label),
            title = escape(&title),
            status = escape(&status),
            state = escape(&look.state),
            shown = escape(&shown),
            tx = x + 8,
            ty1 = y + 15,
            ty2 = y + 31,
        );
    }
    out.push_str("</svg>");
    out
}

/// One bar of a Gantt chart: a try, waiting from `queued` and running from
/// `start` to `end` (still running: to now).
#[derive(Clone, Debug)]
pub struct Bar {
    /// The row's label (`featurize[3] try 2`).
    pub label: String,
    /// When it was queued, if known.
    pub queued: Option<DateTime<Utc>>,
    /// When it started.
    pub start: DateTime<Utc>,
    /// When it ended.
    pub end: Option<DateTime<Utc>>,
    /// Its state's name.
    pub state: String,
    /// Where clicking it goes.
    pub href: String,
}

const LABEL_W: i64 = 220;
const CHART_W: i64 = 640;
const ROW_H: i64 = 20;

/// A Gantt chart of `bars`, one row each, on a shared time axis.
pub fn gantt(bars: &[Bar], now: DateTime<Utc>, tz: Tz) -> String {
    let Some(first) = bars.iter().map(|b| b.queued.unwrap_or(b.start)).min() else {
        return "<p class=\"muted\">no try has started yet</p>".to_string();
    };
    let last = bars
        .iter()
        .map(|b| b.end.unwrap_or(now))
        .max()
        .unwrap_or(now)
        .max(first);
    let total = ((last - first).num_milliseconds()).max(1) as f64;
    let x = |t: DateTime<Utc>| {
        LABEL_W + ((t - first).num_milliseconds() as f64 / total * CHART_W as f64) as i64
    };
    let height = bars.len() as i64 * ROW_H + 24;
    let width = LABEL_W + CHART_W + 10;
    let mut out = format!(
        "<svg class=\"gantt\" role=\"img\" aria-label=\"Gantt of tries\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = i as i64 * ROW_H;
        let end = bar.end.unwrap_or(now);
        let (sx, ex) = (x(bar.start), x(end).max(x(bar.start) + 2));
        let when = format!(
            "{} → {}",
            bar.start.with_timezone(&tz).format("%H:%M:%S"),
            bar.end.map_or_else(
                || "running".to_string(),
                |e| e.with_timezone(&tz).format("%H:%M:%S").to_string()
            )
        );
        let _ = write!(
            out,
            "<a href=\"{href}\" class=\"bar\" data-label=\"{label}\"><title>{label}: {state}, {when}</title>\
             <text x=\"0\" y=\"{ty}\">{short}</text>",
            href = escape(&bar.href),
            label = escape(&bar.label),
            state = escape(&bar.state),
            short = escape(&shorten(&bar.label, 30)),
            ty = y + 14,
        );
        if let Some(queued) = bar.queued.filter(|q| *q < bar.start) {
            let qx = x(queued);
            let _ = write!(
                out,
                "<rect class=\"wait\" x=\"{qx}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                y + 4,
                (sx - qx).max(1),
                ROW_H - 8
            );
        }
        let _ = write!(
            out,
            "<rect class=\"{}\" x=\"{sx}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"2\"/></a>",
            escape(&bar.state),
            y + 3,
            ex - sx,
            ROW_H - 6
        );
    }
    let axis = bars.len() as i64 * ROW_H + 16;
    let _ = write!(
        out,
        "<text x=\"{LABEL_W}\" y=\"{axis}\">{}</text><text x=\"{}\" y=\"{axis}\" text-anchor=\"end\">{}</text></svg>",
        first.with_timezone(&tz).format("%H:%M:%S"),
        LABEL_W + CHART_W,
        last.with_timezone(&tz).format("%H:%M:%S %Z"),
    );
    out
}

/// One run's bar in the durations chart.
#[derive(Clone, Debug)]
pub struct Duration {
    /// What the bar is called on hover.
    pub label: String,
    /// Seconds, if the run started.
    pub seconds: Option<f64>,
    /// Its state's name.
    pub state: String,
}

const COLUMN_W: i64 = 20;
const BARS_H: i64 = 80;

/// Bars of run durations (oldest first) with their median marked, one
/// small drawing per run so that each sits in its grid column; the median
/// is a dashed line through all of them.
pub fn durations(runs: &[Duration]) -> Vec<String> {
    let mut known: Vec<f64> = runs.iter().filter_map(|r| r.seconds).collect();
    known.sort_by(f64::total_cmp);
    let longest = known.last().copied().unwrap_or(0.0).max(0.001);
    let median = median(&known);
    let height = |seconds: f64| ((seconds / longest) * BARS_H as f64).round() as i64;
    runs.iter()
        .map(|run| {
            let mut out = format!(
                "<svg class=\"duration\" width=\"{COLUMN_W}\" height=\"{BARS_H}\" viewBox=\"0 0 {COLUMN_W} {BARS_H}\" \
                 xmlns=\"http://www.w3.org/2000/svg\">"
            );
            if let Some(seconds) = run.seconds {
                let h = height(seconds).max(1);
                let _ = write!(
                    out,
                    "<rect class=\"{state}\" x=\"3\" y=\"{y}\" width=\"{w}\" height=\"{h}\"><title>{label}: {took}</title></rect>",
                    state = escape(&run.state),
                    y = BARS_H - h,
                    w = COLUMN_W - 6,
                    label = escape(&run.label),
                    took = updraft_engine::json::duration(std::time::Duration::from_secs_f64(seconds)),
                );
            }
            if let Some(median) = median {
                let y = (BARS_H - height(median)).clamp(1, BARS_H - 1);
                let _ = write!(
                    out,
                    "<line class=\"median\" x1=\"0\" x2=\"{COLUMN_W}\" y1=\"{y}\" y2=\"{y}\"><title>median {}</title></line>",
                    updraft_engine::json::duration(std::time::Duration::from_secs_f64(median)),
                );
            }
            out.push_str("</svg>");
            out
        })
        .collect()
}

/// The median of sorted values.
pub fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_middle_twos_mean() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[1.0, 2.0, 10.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0, 4.0, 10.0]), Some(3.0));
    }

    #[test]
    fn a_graph_puts_each_task_right_of_its_upstreams() {
        let spec = updraft_core::spec::parse_spec(
            "g.yaml",
            "dag: g\nschedule: none\ntasks:\n  - {id: a, command: [x]}\n  - {id: b, command: [x], after: [a]}\n  - {id: c, command: [x], after: [a, b]}\n",
        )
        .unwrap();
        let folded = updraft_core::spec::fold_groups(&spec, None);
        let svg = graph(&folded, |node| Node {
            label: match node {
                FoldedNode::Task(t) => spec.tasks[*t].id.to_string(),
                FoldedNode::Group { name, .. } => name.clone(),
            },
            group: matches!(node, FoldedNode::Group { .. }),
            state: "pending".into(),
            letter: '·',
            counts: None,
            href: "/x".into(),
        });
        let x_of = |task: &str| -> i64 {
            let at = svg.find(&format!("data-task=\"{task}\"")).unwrap();
            let rect = &svg[at..];
            let x = rect.split("x=\"").nth(1).unwrap();
            x[..x.find('"').unwrap()].parse().unwrap()
        };
        assert!(x_of("a") < x_of("b") && x_of("b") < x_of("c"), "{svg}");
        assert_eq!(svg.matches("class=\"edge\"").count(), 3);
    }
}
