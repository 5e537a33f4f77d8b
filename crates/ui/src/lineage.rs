//! Lineage drawn as a small graph: who produced an artifact and which runs
//! consumed it; a run's upstream and downstream runs through artifacts.

use std::collections::BTreeSet;
use std::fmt::Write;

use updraft_core::state::ArtifactRecord;
use updraft_engine::Engine;

use crate::Response;
use crate::html::{artifact_path, escape, page, run_path};
use updraft_engine::json::shorten;

/// Three columns of boxes joined left to right: `left` → `middle` →
/// `right`, each box a label and a link.
fn three_columns(
    left: &[(String, String)],
    middle: &[(String, String)],
    right: &[(String, String)],
) -> String {
    const W: usize = 240;
    const H: usize = 30;
    const GAP: usize = 12;
    let rows = left.len().max(middle.len()).max(right.len()).max(1);
    let height = rows * (H + GAP) + GAP;
    let width = 3 * W + 2 * 80 + 20;
    let x = |column: usize| 10 + column * (W + 80);
    let y = |row: usize| GAP + row * (H + GAP);
    let mut out = format!(
        "<svg class=\"lineage\" role=\"img\" aria-label=\"lineage\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (column, boxes) in [left, middle, right].iter().enumerate() {
        for (row, (label, href)) in boxes.iter().enumerate() {
            if column > 0 {
                for from in 0..[left, middle, right][column - 1].len() {
                    let (x1, y1) = (x(column - 1) + W, y(from) + H / 2);
                    let (x2, y2) = (x(column), y(row) + H / 2);
                    let _ = write!(
                        out,
                        "<path class=\"edge\" d=\"M{x1},{y1} C{m},{y1} {m},{y2} {x2},{y2}\"/>",
                        m = (x1 + x2) / 2
                    );
                }
            }
            let _ = write!(
                out,
                "<a href=\"{href}\"><title>{label}</title><rect class=\"{class}\" x=\"{bx}\" y=\"{by}\" width=\"{W}\" height=\"{H}\" rx=\"4\"/>\
                 <text class=\"label\" x=\"{tx}\" y=\"{ty}\">{short}</text></a>",
                href = escape(href),
                label = escape(label),
                class = if column == 1 { "mapped" } else { "succeeded" },
                bx = x(column),
                by = y(row),
                tx = x(column) + 8,
                ty = y(row) + 19,
                short = escape(&shorten(label, 34)),
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// What names a run in a drawing, and where it leads: a run no longer
/// kept leads to its lineage page, which says it expired.
fn run_box(
    dag: &str,
    run_id: &str,
    label: String,
    expired: &BTreeSet<(String, String)>,
) -> (String, String) {
    match expired.contains(&(dag.to_string(), run_id.to_string())) {
        true => (
            format!("{label} (expired)"),
            format!("{}/lineage", run_path(dag, run_id)),
        ),
        false => (label, run_path(dag, run_id)),
    }
}

fn runs_of(
    records: &[ArtifactRecord],
    expired: &BTreeSet<(String, String)>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for r in records {
        let label = format!("{} {} ({})", r.dag, r.run_id, r.key);
        let run = run_box(r.dag.as_str(), &r.run_id, label, expired);
        if !out.iter().any(|(l, _)| *l == run.0) {
            out.push(run);
        }
    }
    out
}

/// `/lineage?uri=URI`.
pub(crate) async fn artifact_page(engine: &Engine, uri: &str) -> Response {
    let lineage = match engine.artifact_lineage(uri).await {
        Ok(lineage) => lineage,
        Err(e) => return crate::failure(&e),
    };
    let drawing = three_columns(
        &runs_of(&lineage.produced_by, &lineage.expired_runs),
        &[(uri.to_string(), artifact_path(uri))],
        &runs_of(&lineage.consumed_by, &lineage.expired_runs),
    );
    let body = format!(
        "<h1>Lineage of <code>{}</code></h1><p class=\"muted\">produced by (left), consumed by (right)</p>{drawing}",
        escape(uri)
    );
    Response::html(page("lineage", &body, false))
}

/// `/dags/{dag}/runs/{run}/lineage`.
pub(crate) async fn run_page(engine: &Engine, dag: &str, run_id: &str) -> Response {
    let lineage = match engine.run_lineage(dag, run_id).await {
        Ok(lineage) => lineage,
        Err(e) => return crate::failure(&e),
    };
    if lineage.expired {
        let body = format!(
            "<h1>Lineage of {dag} {id}</h1><p>This run has expired: ended runs are deleted after \
             their DAG's <code>retention</code>, and their lineage with them.</p>",
            dag = escape(dag),
            id = escape(run_id),
        );
        return Response::html(page("lineage", &body, false));
    }
    let runs = |set: &BTreeSet<(String, String)>| -> Vec<(String, String)> {
        set.iter()
            .map(|(d, r)| run_box(d, r, format!("{d} {r}"), &lineage.expired_runs))
            .collect()
    };
    let drawing = three_columns(
        &runs(&lineage.upstream),
        &[(format!("{dag} {run_id}"), run_path(dag, run_id))],
        &runs(&lineage.downstream),
    );
    let artifacts = |records: &[ArtifactRecord]| -> String {
        let mut uris: Vec<&str> = records.iter().map(|r| r.uri.as_str()).collect();
        uris.dedup();
        uris.iter()
            .map(|u| {
                format!(
                    "<li><a href=\"{}\">{}</a></li>",
                    escape(&artifact_path(u)),
                    escape(u)
                )
            })
            .collect()
    };
    let body = format!(
        "<h1>Lineage of <a href=\"{run}\">{dag} {id}</a></h1>\
         <p class=\"muted\">runs upstream (left) and downstream (right) through artifacts</p>{drawing}\
         <h2>Produced</h2><ul>{produced}</ul><h2>Consumed</h2><ul>{consumed}</ul>",
        run = escape(&run_path(dag, run_id)),
        dag = escape(dag),
        id = escape(run_id),
        produced = artifacts(&lineage.produced),
        consumed = artifacts(&lineage.consumed),
    );
    Response::html(page("lineage", &body, false))
}
