//! The DAGs page and `/api/v1/dags`: each current DAG with its description,
//! owner, tags, schedule and next run, whether it is paused, and a strip of
//! its latest runs; the spec files that do not validate as a banner.

use chrono_tz::Tz;
use serde_json::{Value, json};
use updraft_core::state::Run;
use updraft_engine::Engine;
use updraft_engine::usecase::DagOverview;

use crate::actions::{Actor, pause_button};
use crate::html::{dag_path, escape, page as frame, run_square, time};
use crate::{RECENT_RUNS, Request, Response};

/// Whether a DAG passes the page's filters (`q`: id or description,
/// `tag`, `owner`).
fn shown(dag: &DagOverview, request: &Request) -> bool {
    let spec = &dag.spec;
    let text = request.param("q").map(str::to_lowercase);
    let matches_text = text.is_none_or(|q| {
        spec.id.as_str().contains(&q)
            || spec
                .description
                .as_deref()
                .is_some_and(|d| d.to_lowercase().contains(&q))
    });
    let matches_tag = request
        .param("tag")
        .is_none_or(|tag| spec.tags.iter().any(|t| t == tag));
    let matches_owner = request
        .param("owner")
        .is_none_or(|owner| spec.owner.as_deref() == Some(owner));
    matches_text && matches_tag && matches_owner
}

fn strip(runs: &[Run], tz: Tz) -> String {
    // Oldest left, newest right, as in the grid.
    runs.iter().rev().map(|run| run_square(run, tz)).collect()
}

fn row(dag: &DagOverview, actor: Option<Actor<'_>>) -> String {
    let spec = &dag.spec;
    let tz = spec.schedule.tz();
    let tags: String = spec
        .tags
        .iter()
        .map(|t| format!("<span class=\"tag\">{}</span>", escape(t)))
        .collect();
    let next = match (&dag.next_run, dag.paused) {
        (_, true) => "<span class=\"muted\">paused</span>".to_string(),
        (Some(at), false) => time(*at, tz),
        (None, false) => "<span class=\"muted\">—</span>".to_string(),
    };
    let paused_cell = format!(
        "{} {}",
        if dag.paused {
            "■ paused"
        } else {
            "▶ active"
        },
        actor
            .map(|actor| pause_button(spec.id.as_str(), dag.paused, actor, "/"))
            .unwrap_or_default()
    );
    format!(
        "<tr data-dag=\"{id}\"><td><strong><a href=\"{grid}\">{id}</a></strong><div class=\"muted\">{description}</div></td>\
         <td>{owner}</td><td>{tags}</td><td><code>{schedule}</code> <span class=\"muted\">{tz}</span></td>\
         <td>{next}</td><td>{paused}</td><td><div class=\"strip\">{strip}</div></td></tr>",
        id = escape(spec.id.as_str()),
        grid = escape(&dag_path(spec.id.as_str())),
        description = escape(spec.description.as_deref().unwrap_or_default()),
        owner = escape(spec.owner.as_deref().unwrap_or_default()),
        schedule = escape(spec.schedule.text()),
        tz = escape(tz.name()),
        paused = paused_cell,
        strip = strip(&dag.recent, tz),
    )
}

/// The DAGs page.
pub(crate) async fn page(engine: &Engine, request: &Request, actor: Option<Actor<'_>>) -> Response {
    let overview = match engine.dags_overview(RECENT_RUNS).await {
        Ok(overview) => overview,
        Err(e) => return Response::text(502, &format!("the DAGs could not be read: {e}")),
    };
    let banners: String = overview
        .import_errors
        .iter()
        .map(|e| {
            format!(
                "<div class=\"banner\" role=\"alert\">{}</div>",
                escape(&e.to_string())
            )
        })
        .collect();
    let value = |name: &str| escape(request.param(name).unwrap_or_default());
    let filter = format!(
        "<form class=\"filter\" method=\"get\" action=\"/\">\
         <input name=\"q\" placeholder=\"DAG or description\" value=\"{}\">\
         <input name=\"tag\" placeholder=\"tag\" value=\"{}\">\
         <input name=\"owner\" placeholder=\"owner\" value=\"{}\"><button>Filter</button></form>",
        value("q"),
        value("tag"),
        value("owner"),
    );
    let rows: String = overview
        .dags
        .iter()
        .filter(|dag| shown(dag, request))
        .map(|dag| row(dag, actor))
        .collect();
    let body = format!(
        "<h1>DAGs</h1>{banners}{filter}<table><thead><tr><th>DAG</th><th>owner</th><th>tags</th>\
         <th>schedule</th><th>next run</th><th>schedule state</th><th>last {RECENT_RUNS} runs</th></tr></thead>\
         <tbody>{rows}</tbody></table>"
    );
    Response::html(frame("DAGs", &body, false))
}

/// `/api/v1/dags`.
pub(crate) async fn api(engine: &Engine) -> Response {
    let overview = match engine.dags_overview(RECENT_RUNS).await {
        Ok(overview) => overview,
        Err(e) => return Response::text(502, &format!("the DAGs could not be read: {e}")),
    };
    let dags: Vec<Value> = overview
        .dags
        .iter()
        .map(|dag| {
            let spec = &dag.spec;
            json!({
                "dag": spec.id.as_str(),
                "description": spec.description,
                "owner": spec.owner,
                "tags": spec.tags,
                "schedule": spec.schedule.text(),
                "timezone": spec.schedule.tz().name(),
                "paused": dag.paused,
                "next_run": dag.next_run,
                "recent": dag.recent.iter().map(|run| json!({
                    "run_id": run.run_id,
                    "state": run.state,
                    "logical_date": run.logical_date,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let errors: Vec<Value> = overview
        .import_errors
        .iter()
        .map(|e| json!({"file": e.file, "line": e.pos.line, "column": e.pos.col, "message": e.message}))
        .collect();
    Response::json(&json!({ "dags": dags, "import_errors": errors }))
}
