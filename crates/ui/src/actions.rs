//! The dashboard's actions, each through the same use case as the CLI:
//! trigger, rerun, mark, cancel, pause, backfill. Each says what it will
//! do before it is confirmed — a form, a preview of the task instances a
//! rerun clears or of the runs a backfill makes, or the browser's confirm
//! — and is a POST carrying the page's action token.

use std::fmt::Write;

use updraft_core::ids::TaskId;
use updraft_core::plan::Rerun;
use updraft_core::state::TaskKey;
use updraft_engine::usecase::{
    MAX_BACKFILL_RUNS, RunRequest, mark_state, rerun_request as rerun_request_of,
};
use updraft_engine::{Engine, EngineError, EngineResult};

use crate::html::{dag_path, escape, form, page, run_path, task_path, time};
use crate::{Request, Response};

/// Who acts, with which token; `None` when the dashboard is read-only.
#[derive(Clone, Copy)]
pub(crate) struct Actor<'a> {
    pub by: &'a str,
    pub token: &'a str,
}

fn button(
    action: &str,
    token: &str,
    label: &str,
    confirm: &str,
    fields: &[(&str, &str)],
) -> String {
    let mut out = form(action, token, Some(confirm));
    for (name, value) in fields {
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        );
    }
    let _ = write!(out, "<button>{}</button></form>", escape(label));
    out
}

/// The paused switch of a DAG: a button that flips it, after a confirm,
/// and comes back to the page `back`.
pub(crate) fn pause_button(dag: &str, paused: bool, actor: Actor<'_>, back: &str) -> String {
    let base = dag_path(dag);
    if paused {
        button(
            &format!("{base}/unpause"),
            actor.token,
            "▶ Unpause",
            &format!("Unpause {dag}? Its schedule makes runs again."),
            &[("back", back)],
        )
    } else {
        button(
            &format!("{base}/pause"),
            actor.token,
            "■ Pause",
            &format!(
                "Pause {dag}? Its schedule makes no runs until unpaused; runs in flight go on."
            ),
            &[("back", back)],
        )
    }
}

/// The buttons of a DAG's grid.
pub(crate) fn dag_nav(dag: &str, paused: bool, actor: Option<Actor<'_>>) -> String {
    let Some(actor) = actor else {
        return String::new();
    };
    let base = dag_path(dag);
    format!(
        "<nav class=\"actions\"><a class=\"button\" href=\"{t}\">Trigger…</a>\
         <a class=\"button\" href=\"{b}\">Backfill…</a>{pause}<a class=\"button\" href=\"{r}\">Runs list</a></nav>",
        t = escape(&format!("{base}/trigger")),
        b = escape(&format!("{base}/backfill")),
        r = escape(&format!("/runs?dag={}", crate::http::encode(dag))),
        pause = pause_button(dag, paused, actor, &base),
    )
}

/// The buttons of a run's page.
pub(crate) fn run_nav(dag: &str, run_id: &str, ended: bool, actor: Option<Actor<'_>>) -> String {
    let Some(actor) = actor else {
        return String::new();
    };
    let base = run_path(dag, run_id);
    let mut out = format!(
        "<nav class=\"actions\"><a class=\"button\" href=\"{}\">Rerun failed + downstream…</a>\
         <a class=\"button\" href=\"{}\">Rerun…</a>",
        escape(&format!("{base}/rerun?failed=1&downstream=1")),
        escape(&format!("{base}/rerun")),
    );
    if !ended {
        out.push_str(&button(
            &format!("{base}/cancel"),
            actor.token,
            "✕ Cancel run",
            &format!(
                "Cancel run {run_id}? Its tries in flight are stopped and what waits is skipped."
            ),
            &[],
        ));
    }
    out.push_str("</nav>");
    out
}

/// The buttons of a task's panel.
pub(crate) fn task_nav(dag: &str, run_id: &str, key: &TaskKey, actor: Option<Actor<'_>>) -> String {
    let Some(actor) = actor else {
        return String::new();
    };
    let base = run_path(dag, run_id);
    let task = key.task_id.as_str();
    let index = key.map_index.map(|i| i.to_string()).unwrap_or_default();
    let mut rerun = format!(
        "{base}/rerun?task={}&downstream=1",
        crate::http::encode(task)
    );
    if !index.is_empty() {
        rerun.push_str(&format!("&map_index={index}"));
    }
    let mut out = format!(
        "<nav class=\"actions\"><a class=\"button\" href=\"{}\">Rerun this and downstream…</a>",
        escape(&rerun)
    );
    for (state, label) in [("success", "✓ Mark success"), ("failed", "✗ Mark failed")] {
        out.push_str(&button(
            &format!("{base}/mark"),
            actor.token,
            label,
            &format!("Mark {key} of run {run_id} {state}? Its downstream tasks follow from it."),
            &[("task", task), ("map_index", &index), ("state", state)],
        ));
    }
    out.push_str("</nav>");
    out
}

/// `GET /dags/{dag}/trigger`: the form, the spec's params as defaults.
pub(crate) async fn trigger_form(engine: &Engine, dag: &str, actor: Actor<'_>) -> Response {
    let spec = match engine.current_spec(dag).await {
        Ok(spec) => spec,
        Err(e) => return crate::failure(&e),
    };
    let fields = crate::params::inputs(&spec);
    let body = format!(
        "<h1>Trigger {dag}</h1><p>A manual run of the current spec, made by {by}. \
         A typed param's value must fit its type; another's is JSON when it parses as JSON, else text.</p>{form}<div class=\"fields\">{fields}\
         <label>labels <input name=\"labels\" placeholder=\"comma-separated\"></label>\
         <label>note <input name=\"note\"></label></div><button>Trigger</button></form>",
        dag = escape(dag),
        by = escape(actor.by),
        form = form(&format!("{}/trigger", dag_path(dag)), actor.token, None),
    );
    Response::html(page(&format!("trigger {dag}"), &body, false))
}

/// `POST /dags/{dag}/trigger`.
pub(crate) async fn trigger(
    engine: &Engine,
    dag: &str,
    request: &Request,
    actor: Actor<'_>,
) -> Response {
    let spec = match engine.current_spec(dag).await {
        Ok(spec) => spec,
        Err(e) => return crate::failure(&e),
    };
    let params = crate::params::read(&spec, &request.form);
    let labels = request
        .field("labels")
        .map(|l| {
            l.split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let run_request = RunRequest {
        params,
        labels,
        note: request.field("note").map(String::from),
        triggered_by: actor.by.to_string(),
        parent: None,
    };
    match engine.trigger(dag, run_request).await {
        Ok(run) => Response::redirect(&run_path(dag, &run.run_id)),
        Err(e) => crate::failure(&e),
    }
}

/// What a rerun request asks, from a query or a form, checked as the CLI
/// checks it.
fn rerun_request(pairs: &[(String, String)]) -> EngineResult<Rerun> {
    let on = |name: &str| {
        pairs
            .iter()
            .any(|(k, v)| k == name && !v.is_empty() && v != "0")
    };
    let tasks: Vec<String> = pairs
        .iter()
        .filter(|(k, v)| k == "task" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    let map_index = match pairs
        .iter()
        .find(|(k, v)| k == "map_index" && !v.is_empty())
    {
        Some((_, v)) => Some(
            v.parse()
                .map_err(|_| EngineError::invalid("map_index", format!("`{v}` is not a number")))?,
        ),
        None => None,
    };
    rerun_request_of(
        &tasks,
        map_index,
        on("downstream"),
        on("upstream"),
        on("failed"),
    )
}

/// `GET /dags/{dag}/runs/{run}/rerun`: the options, and exactly the task
/// instances they clear.
pub(crate) async fn rerun_dialog(
    engine: &Engine,
    dag: &str,
    run_id: &str,
    request: &Request,
    actor: Actor<'_>,
) -> Response {
    let detail = match engine.run_detail(dag, run_id).await {
        Ok(detail) => detail,
        Err(e) => return crate::failure(&e),
    };
    let asked = match rerun_request(&request.query) {
        Ok(asked) => asked,
        Err(e) => return crate::failure(&e),
    };
    let cleared = match engine.rerun_preview(dag, run_id, &asked).await {
        Ok(cleared) => cleared,
        Err(e) => return crate::failure(&e),
    };
    let checked = |on: bool| if on { " checked" } else { "" };
    let mut tasks = String::new();
    for task in &detail.spec.tasks {
        let id = task.id.as_str();
        let _ = write!(
            tasks,
            "<label><input type=\"checkbox\" name=\"task\" value=\"{id}\"{}> {id}</label> ",
            checked(asked.tasks.iter().any(|t| t.as_str() == id)),
            id = escape(id),
        );
    }
    let options = format!(
        "<form method=\"get\" class=\"rerun\"><fieldset><legend>tasks (none: every task)</legend>{tasks}</fieldset>\
         <label><input type=\"checkbox\" name=\"downstream\" value=\"1\"{}> downstream</label> \
         <label><input type=\"checkbox\" name=\"upstream\" value=\"1\"{}> upstream</label> \
         <label><input type=\"checkbox\" name=\"failed\" value=\"1\"{}> failed only</label> \
         <label>map index <input name=\"map_index\" size=\"5\" value=\"{}\"></label> <button>Preview</button></form>",
        checked(asked.downstream),
        checked(asked.upstream),
        checked(asked.only_failed),
        asked.map_index.map(|i| i.to_string()).unwrap_or_default(),
    );
    let listed: String = cleared
        .iter()
        .map(|key| {
            format!(
                "<li data-cleared=\"{k}\">{k}</li>",
                k = escape(&key.to_string())
            )
        })
        .collect();
    let confirm = if cleared.is_empty() {
        "<p class=\"muted\">Nothing matches: no task instance would be cleared.</p>".to_string()
    } else {
        let mut out = form(
            &format!("{}/rerun", run_path(dag, run_id)),
            actor.token,
            None,
        );
        for (name, value) in &request.query {
            let _ = write!(
                out,
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(name),
                escape(value)
            );
        }
        let _ = write!(
            out,
            "<label>note <input name=\"note\"></label> <button>Rerun these {}</button></form>",
            cleared.len()
        );
        out
    };
    let body = format!(
        "<h1>Rerun in <a href=\"{run}\">{id}</a></h1>{options}<h2>Will be cleared and run again</h2>\
         <ul class=\"cleared\">{listed}</ul>{confirm}",
        run = escape(&run_path(dag, run_id)),
        id = escape(run_id),
    );
    Response::html(page(&format!("rerun {run_id}"), &body, false))
}

/// `POST /dags/{dag}/runs/{run}/rerun`.
pub(crate) async fn rerun(
    engine: &Engine,
    dag: &str,
    run_id: &str,
    request: &Request,
    actor: Actor<'_>,
) -> Response {
    let asked = match rerun_request(&request.form) {
        Ok(asked) => asked,
        Err(e) => return crate::failure(&e),
    };
    let note = request.field("note").map(String::from);
    match engine.rerun(dag, run_id, &asked, actor.by, note).await {
        Ok(_) => Response::redirect(&run_path(dag, run_id)),
        Err(e) => crate::failure(&e),
    }
}

/// `POST /dags/{dag}/runs/{run}/mark`.
pub(crate) async fn mark(
    engine: &Engine,
    dag: &str,
    run_id: &str,
    request: &Request,
    actor: Actor<'_>,
) -> Response {
    let to = match mark_state(request.field("state").unwrap_or_default()) {
        Ok(to) => to,
        Err(e) => return crate::failure(&e),
    };
    let task = match TaskId::parse(request.field("task").unwrap_or_default()) {
        Ok(task) => task,
        Err(why) => return crate::failure(&EngineError::invalid("task", why)),
    };
    let map_index = match request
        .field("map_index")
        .map(str::parse::<u32>)
        .transpose()
    {
        Ok(index) => index,
        Err(_) => return Response::text(400, "the map index is not a number"),
    };
    let key = TaskKey {
        task_id: task,
        map_index,
    };
    match engine.mark(dag, run_id, &key, to, actor.by).await {
        Ok(_) => Response::redirect(&task_path(dag, run_id, key.task_id.as_str(), map_index)),
        Err(e) => crate::failure(&e),
    }
}

/// What an approval's page offers an operator: its options to choose
/// from and a note, posted to `approve` (nothing on a read-only dashboard).
pub(crate) fn approval_form(
    dag: &str,
    run_id: &str,
    task: &str,
    options: &[String],
    actor: Option<Actor<'_>>,
) -> String {
    let Some(actor) = actor else {
        return String::new();
    };
    let options: String = options
        .iter()
        .map(|o| format!("<option>{}</option>", escape(o)))
        .collect();
    format!(
        "{form}<input type=\"hidden\" name=\"task\" value=\"{task}\">\
         <label>choice <select name=\"choice\">{options}</select></label> \
         <label>note <input name=\"note\"></label> <button>Decide</button></form>",
        form = form(
            &format!("{}/approve", run_path(dag, run_id)),
            actor.token,
            None
        ),
        task = escape(task),
    )
}

/// `POST /dags/{dag}/runs/{run}/approve`: the decision, by the signed-in
/// person.
pub(crate) async fn approve(
    engine: &Engine,
    dag: &str,
    run_id: &str,
    request: &Request,
    actor: Actor<'_>,
) -> Response {
    let task = match TaskId::parse(request.field("task").unwrap_or_default()) {
        Ok(task) => task,
        Err(why) => return crate::failure(&EngineError::invalid("task", why)),
    };
    let note = request.field("note").filter(|n| !n.is_empty());
    let choice = request.field("choice").unwrap_or_default();
    let key = TaskKey::task(task);
    match engine
        .approve(dag, run_id, &key, choice, note, actor.by)
        .await
    {
        Ok(_) => Response::redirect(&task_path(dag, run_id, key.task_id.as_str(), None)),
        Err(e) => crate::failure(&e),
    }
}

/// `POST /dags/{dag}/runs/{run}/cancel`.
pub(crate) async fn cancel(
    engine: &Engine,
    dag: &str,
    run_id: &str,
    request: &Request,
    actor: Actor<'_>,
) -> Response {
    let note = request.field("note").map(String::from);
    match engine.cancel(dag, run_id, actor.by, note).await {
        Ok(_) => Response::redirect(&run_path(dag, run_id)),
        Err(e) => crate::failure(&e),
    }
}

/// Whether `path` leads to a page of this dashboard: a path, not a
/// scheme-relative URL (`//host`, or `/\host`, which browsers read alike),
/// and nothing a header could be split by.
fn is_own_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.chars().any(|c| c == '\\' || c.is_control())
}

/// `POST /dags/{dag}/pause` and `/unpause`; back to the page that asked
/// (a path of this dashboard only).
pub(crate) async fn pause(engine: &Engine, dag: &str, paused: bool, request: &Request) -> Response {
    let back = request
        .field("back")
        .filter(|b| is_own_path(b))
        .map_or_else(|| dag_path(dag), String::from);
    match engine.set_paused(dag, paused).await {
        Ok(()) => Response::redirect(&back),
        Err(e) => crate::failure(&e),
    }
}

/// `GET /dags/{dag}/backfill`: the range; `POST /dags/{dag}/backfill/preview`
/// (with the token, as the preview reads a run per point): the range and
/// the runs it would make.
pub(crate) async fn backfill_dialog(
    engine: &Engine,
    dag: &str,
    request: &Request,
    actor: Actor<'_>,
) -> Response {
    let value = |name| request.field(name).or_else(|| request.param(name));
    let (from, to) = (value("from"), value("to"));
    let rerun_failed = value("rerun_failed").is_some_and(|v| !v.is_empty());
    let preview = format!("{}/backfill/preview", dag_path(dag));
    let range = format!(
        "{}<label>from <input name=\"from\" value=\"{}\" placeholder=\"2026-11-01\"></label> \
         <label>to <input name=\"to\" value=\"{}\" placeholder=\"2026-11-03\"></label> \
         <label><input type=\"checkbox\" name=\"rerun_failed\" value=\"1\"{}> rerun the failed tasks of failed runs</label> \
         <button>Preview</button></form><p class=\"muted\">Dates are in the DAG's time zone; both are included; one backfill makes at most {MAX_BACKFILL_RUNS} runs.</p>",
        form(&preview, actor.token, None).replacen("<form ", "<form class=\"backfill\" ", 1),
        escape(from.unwrap_or_default()),
        escape(to.unwrap_or_default()),
        if rerun_failed { " checked" } else { "" },
    );
    let mut body = format!(
        "<h1>Backfill <a href=\"{}\">{}</a></h1>{range}",
        escape(&dag_path(dag)),
        escape(dag)
    );
    let previewed = match request.method.as_str() {
        "POST" => from.zip(to),
        _ => None,
    };
    if let Some((from, to)) = previewed {
        let (spec, steps) = match engine.plan_backfill(dag, from, to).await {
            Ok(plan) => plan,
            Err(e) => return crate::failure(&e),
        };
        let tz = spec.schedule.tz();
        body.push_str(
            "<table class=\"preview\"><thead><tr><th>logical date</th><th>run</th><th>what happens</th></tr></thead><tbody>",
        );
        let mut creates = 0;
        for step in &steps {
            let what = match &step.existing {
                Some(run) if rerun_failed && run.state == updraft_core::state::RunState::Failed => {
                    format!("its failed tasks run again in {}", escape(&run.run_id))
                }
                Some(run) => format!("skipped: {} exists ({})", escape(&run.run_id), run.state),
                None => {
                    creates += 1;
                    "created".to_string()
                }
            };
            let _ = write!(
                body,
                "<tr data-point=\"{iso}\"><td>{when}</td><td>{id}</td><td>{what}</td></tr>",
                iso = step.point.with_timezone(&tz).to_rfc3339(),
                when = time(step.point, tz),
                id = escape(&step.run_id),
            );
        }
        body.push_str("</tbody></table>");
        let mut confirm = form(&format!("{}/backfill", dag_path(dag)), actor.token, None);
        let _ = write!(
            confirm,
            "<input type=\"hidden\" name=\"from\" value=\"{}\"><input type=\"hidden\" name=\"to\" value=\"{}\">\
             <input type=\"hidden\" name=\"rerun_failed\" value=\"{}\"><button>Backfill: create {creates} run(s)</button></form>",
            escape(from),
            escape(to),
            if rerun_failed { "1" } else { "" },
        );
        body.push_str(&confirm);
    }
    Response::html(page(&format!("backfill {dag}"), &body, false))
}

/// `POST /dags/{dag}/backfill`.
pub(crate) async fn backfill(
    engine: &Engine,
    dag: &str,
    request: &Request,
    actor: Actor<'_>,
) -> Response {
    let (Some(from), Some(to)) = (request.field("from"), request.field("to")) else {
        return Response::text(400, "a backfill needs from and to");
    };
    let rerun_failed = request.field("rerun_failed").is_some();
    match engine.backfill(dag, from, to, rerun_failed, actor.by).await {
        Ok(_) => Response::redirect(&dag_path(dag)),
        Err(e) => crate::failure(&e),
    }
}
