//! The runs list, with the filters of `updraft runs` and its experiment
//! columns (params, metrics; sortable by a click on a header), and Compare
//! of the runs selected in it.

use std::fmt::Write;

use updraft_core::runs_view::{Cell, Column};
use updraft_engine::Engine;
use updraft_engine::usecase::{Comparison, RunFilters};

use crate::html::{escape, page, run_path, time};
use crate::http::encode;
use crate::plots;
use crate::{Request, Response};
use updraft_core::state::Run;
use updraft_engine::json::{duration, span};

/// What the page's query asks, as `updraft runs` options.
pub(crate) fn filters(request: &Request) -> RunFilters {
    let one = |name: &str| request.param(name).map(String::from);
    let all = |name: &str| request.params(name);
    RunFilters {
        dag: one("dag"),
        states: all("state"),
        label: one("label"),
        since: one("since"),
        until: one("until"),
        params: all("param"),
        produced: one("produced"),
        triggered_by: one("triggered_by"),
        note_contains: one("note"),
        columns: one("columns"),
        wheres: all("where"),
        sort: one("sort"),
        limit: request
            .param("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(50)
            .min(1000),
    }
}

fn cell_html(column: &Column, cell: Cell, tz: chrono_tz::Tz) -> String {
    match cell {
        Cell::Empty => String::new(),
        Cell::Number(seconds) if *column == Column::Duration => {
            duration(std::time::Duration::from_secs_f64(seconds.max(0.0)))
        }
        Cell::Number(n) => n.to_string(),
        Cell::Text(text) => escape(&text),
        Cell::Time(t) => time(t, tz),
    }
}

/// The columns asked for, with the run id (first), its state and its note
/// added where they are missing: whatever else a reader picks, each row
/// links to its run and says how it went.
fn with_identity(asked: &[Column]) -> Vec<Column> {
    let mut columns = asked.to_vec();
    if !columns.contains(&Column::RunId) {
        columns.insert(0, Column::RunId);
    }
    if !columns.contains(&Column::State) {
        let after_id = columns
            .iter()
            .position(|c| *c == Column::RunId)
            .unwrap_or(0);
        columns.insert(after_id + 1, Column::State);
    }
    if !columns.contains(&Column::Note) {
        columns.push(Column::Note);
    }
    columns
}

/// The query of this page but the plot's choices: what the plot form
/// keeps as it asks again.
fn kept_query(request: &Request) -> Vec<(String, String)> {
    request
        .query
        .iter()
        .filter(|(k, _)| k != "x" && k != "y")
        .cloned()
        .collect()
}

/// The query of this page with `sort` set to `to`.
fn sorted_by(request: &Request, to: &str) -> String {
    let mut pairs: Vec<String> = request
        .query
        .iter()
        .filter(|(k, _)| k != "sort")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    pairs.push(format!("sort={}", encode(to)));
    format!("/runs?{}", pairs.join("&"))
}

/// `/runs`.
pub(crate) async fn page_of(engine: &Engine, request: &Request) -> Response {
    let asked = filters(request);
    let table = match engine.runs_table(&asked).await {
        Ok(table) => table,
        Err(e) => return crate::failure(&e),
    };
    let value = |name: &str| escape(request.param(name).unwrap_or_default());
    let mut body = format!(
        "<h1>Runs</h1><form class=\"filter\" method=\"get\" action=\"/runs\">\
         <input name=\"dag\" placeholder=\"DAG\" value=\"{}\"><input name=\"state\" placeholder=\"state\" value=\"{}\">\
         <input name=\"label\" placeholder=\"label\" value=\"{}\"><input name=\"param\" placeholder=\"param key=value\" value=\"{}\">\
         <input name=\"triggered_by\" placeholder=\"triggered by\" value=\"{}\"><input name=\"since\" placeholder=\"since 2026-11-01\" value=\"{}\">\
         <input name=\"until\" placeholder=\"until\" value=\"{}\"><input name=\"produced\" placeholder=\"produced artifact URI\" value=\"{}\">\
         <input name=\"columns\" placeholder=\"columns\" value=\"{}\"><button>Filter</button></form>",
        value("dag"),
        value("state"),
        value("label"),
        value("param"),
        value("triggered_by"),
        value("since"),
        value("until"),
        value("produced"),
        value("columns"),
    );
    let compare = asked
        .dag
        .as_deref()
        .map(|dag| format!("/dags/{}/compare", encode(dag)));
    match &compare {
        Some(action) => {
            let _ = write!(body, "<form method=\"get\" action=\"{}\">", escape(action));
        }
        None => body.push_str(
            "<p class=\"muted\">Filter by one DAG to select runs and compare them.</p><form>",
        ),
    }
    body.push_str("<table class=\"runs\"><thead><tr><th></th>");
    let current = request.param("sort").unwrap_or_default();
    let columns = with_identity(&table.view.columns);
    for column in &columns {
        let name = column.name();
        let next = if current == name {
            format!("-{name}")
        } else {
            name.clone()
        };
        let arrow = match current {
            c if c == name => " ▲",
            c if c.strip_prefix('-') == Some(name.as_str()) => " ▼",
            _ => "",
        };
        let _ = write!(
            body,
            "<th><a href=\"{}\">{}</a>{arrow}</th>",
            escape(&sorted_by(request, &next)),
            escape(&name)
        );
    }
    body.push_str("</tr></thead><tbody>");
    for (run, tz) in &table.runs {
        let _ = write!(
            body,
            "<tr data-run=\"{id}\"><td><input type=\"checkbox\" name=\"run\" value=\"{id}\"{disabled}></td>",
            id = escape(&run.run_id),
            disabled = if compare.is_some() { "" } else { " disabled" },
        );
        for column in &columns {
            let cell = cell_html(column, column.cell(run), *tz);
            let cell = match column {
                Column::RunId => format!(
                    "<a href=\"{}\">{cell}</a>",
                    escape(&run_path(run.dag.as_str(), &run.run_id))
                ),
                Column::State => format!("<span class=\"badge {}\">{cell}</span>", run.state),
                _ => cell,
            };
            let _ = write!(body, "<td>{cell}</td>");
        }
        body.push_str("</tr>");
    }
    body.push_str("</tbody></table>");
    if compare.is_some() {
        body.push_str("<p><button>Compare selected</button></p>");
    }
    body.push_str("</form>");
    if asked.dag.is_some() {
        let runs: Vec<Run> = table.runs.iter().map(|(run, _)| run.clone()).collect();
        body.push_str(&plots::section(
            &runs,
            "/runs",
            &kept_query(request),
            request.param("x"),
            request.param("y"),
        ));
    }
    Response::html(page("runs", &body, false))
}

fn compare_html(c: &Comparison) -> String {
    let mut out = String::from("<table class=\"compare\"><thead><tr><th></th>");
    for r in &c.runs {
        let run = &r.detail.run;
        let _ = write!(
            out,
            "<th><a href=\"{}\">{}</a></th>",
            escape(&run_path(run.dag.as_str(), &run.run_id)),
            escape(&run.run_id)
        );
    }
    out.push_str("</tr></thead><tbody>");
    let first = &c.runs[0].detail.run;
    let mut row = |name: &str, cells: Vec<String>, differs: bool| {
        let _ = write!(
            out,
            "<tr{}><th>{}</th>{}</tr>",
            if differs { " class=\"differs\"" } else { "" },
            escape(name),
            cells
                .iter()
                .map(|c| format!("<td>{c}</td>"))
                .collect::<String>()
        );
    };
    row(
        "state",
        c.runs
            .iter()
            .map(|r| r.detail.run.state.to_string())
            .collect(),
        false,
    );
    row(
        "duration",
        c.runs
            .iter()
            .map(|r| {
                span(r.detail.run.started_at, r.detail.run.ended_at)
                    .map(duration)
                    .unwrap_or_default()
            })
            .collect(),
        false,
    );
    let params: std::collections::BTreeSet<&String> = c
        .runs
        .iter()
        .flat_map(|r| r.detail.run.params.keys())
        .collect();
    for key in params {
        let values: Vec<String> = c
            .runs
            .iter()
            .map(|r| {
                r.detail
                    .run
                    .params
                    .get(key)
                    .map(|v| escape(&v.to_string()))
                    .unwrap_or_default()
            })
            .collect();
        let differs = c
            .runs
            .iter()
            .any(|r| r.detail.run.params.get(key) != first.params.get(key));
        row(&format!("params.{key}"), values, differs);
    }
    let metrics: std::collections::BTreeSet<&String> = c
        .runs
        .iter()
        .flat_map(|r| r.detail.run.metrics.keys())
        .collect();
    for name in metrics {
        let base = first.metrics.get(name).copied();
        let values: Vec<String> = c
            .runs
            .iter()
            .map(|r| match (r.detail.run.metrics.get(name), base) {
                (Some(v), Some(b)) if r.detail.run.run_id != first.run_id => {
                    format!("{v} ({:+})", v - b)
                }
                (Some(v), _) => v.to_string(),
                (None, _) => String::new(),
            })
            .collect();
        row(&format!("metrics.{name}"), values, false);
    }
    out.push_str("</tbody></table>");
    for (run, diff) in c.runs.iter().zip(&c.spec_diffs).skip(1) {
        if diff.is_empty() {
            continue;
        }
        let text = serde_json::to_string_pretty(diff).unwrap_or_default();
        let _ = write!(
            out,
            "<h2>Spec of {} against {}</h2><pre class=\"diff\">{}</pre>",
            escape(&run.detail.run.run_id),
            escape(&first.run_id),
            escape(&text)
        );
    }
    out
}

/// `/dags/{dag}/compare?run=A&run=B`.
pub(crate) async fn compare_page(engine: &Engine, dag: &str, request: &Request) -> Response {
    let ids = request.params("run");
    if ids.len() < 2 {
        return Response::text(400, "select two runs or more to compare");
    }
    let comparison = match engine.compare(dag, &ids).await {
        Ok(c) => c,
        Err(e) => return crate::failure(&e),
    };
    let runs: Vec<Run> = comparison
        .runs
        .iter()
        .map(|r| r.detail.run.clone())
        .collect();
    let plots = plots::section(
        &runs,
        &format!("/dags/{}/compare", encode(dag)),
        &kept_query(request),
        request.param("x"),
        request.param("y"),
    );
    let body = format!(
        "<h1>Compare runs of {}</h1><p class=\"muted\">The first run is the baseline.</p>{}{plots}",
        escape(dag),
        compare_html(&comparison)
    );
    Response::html(page(&format!("compare {dag}"), &body, false))
}
