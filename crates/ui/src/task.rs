//! A task's panel in a run: every try with its times, exit code or reason;
//! the log of a try (tailing while it runs), the output JSON, metrics, the
//! rendered command, and the artifacts the try produced and consumed. A
//! mapped task without an index lists its instances, a page at a time.

use std::fmt::Write;

use updraft_core::plan::output_metrics;
use updraft_core::state::{Attempt, TaskKey, TaskState};
use updraft_engine::Engine;
use updraft_engine::ports::{LogPage, LogWindow};
use updraft_engine::usecase::RunDetail;

use crate::actions::{Actor, approval_form};
use crate::html::{escape, opt_time, run_path, task_badge, task_path, try_path};
use crate::http::encode;
use crate::run::artifact_links;
use crate::{Request, Response};
use updraft_engine::json::{duration, span};

/// How many instances one page of a mapped task lists.
pub const INSTANCES_PAGE: usize = 100;

fn instances(detail: &RunDetail, task: &str, page: usize) -> String {
    let run = &detail.run;
    let children: Vec<_> = detail
        .instances
        .iter()
        .filter(|i| i.key.task_id.as_str() == task && i.key.map_index.is_some())
        .collect();
    let pages = children.len().div_ceil(INSTANCES_PAGE).max(1);
    let page = page.min(pages - 1);
    let mut out = format!(
        "<p>{} instances; page {} of {pages}</p><table><thead><tr><th>instance</th><th>state</th>\
         <th>try</th><th>duration</th><th>note</th></tr></thead><tbody>",
        children.len(),
        page + 1
    );
    for i in children
        .iter()
        .skip(page * INSTANCES_PAGE)
        .take(INSTANCES_PAGE)
    {
        let _ = write!(
            out,
            "<tr data-instance=\"{key}\"><td><a href=\"{href}\">{key}</a></td><td>{state}</td><td>{try_}</td>\
             <td>{took}</td><td>{note}</td></tr>",
            key = escape(&i.key.to_string()),
            href = escape(&task_path(
                run.dag.as_str(),
                &run.run_id,
                task,
                i.key.map_index
            )),
            state = task_badge(i.state),
            try_ = i.try_number,
            took = span(i.started_at, i.ended_at)
                .map(duration)
                .unwrap_or_default(),
            note = escape(i.reason.as_deref().unwrap_or_default()),
        );
    }
    out.push_str("</tbody></table>");
    let base = task_path(run.dag.as_str(), &run.run_id, task, None);
    if page > 0 {
        let _ = write!(
            out,
            "<a href=\"{}?page={}\">previous</a> ",
            escape(&base),
            page - 1
        );
    }
    if page + 1 < pages {
        let _ = write!(
            out,
            "<a href=\"{}?page={}\">next</a>",
            escape(&base),
            page + 1
        );
    }
    out
}

fn tries(detail: &RunDetail, tries: &[&Attempt], chosen: u32) -> String {
    let tz = detail.spec.schedule.tz();
    let run = &detail.run;
    let mut out = String::from(
        "<table class=\"tries\"><thead><tr><th>try</th><th>state</th><th>started</th><th>ended</th>\
         <th>duration</th><th>exit code</th><th>reason</th></tr></thead><tbody>",
    );
    for a in tries {
        let mark = if a.try_number == chosen { " ◂" } else { "" };
        let href = try_path(run.dag.as_str(), &run.run_id, &a.key, a.try_number);
        let _ = write!(
            out,
            "<tr data-try=\"{n}\"><td><a href=\"{href}\">{n}</a>{mark}</td><td>{state}</td><td>{start}</td><td>{end}</td>\
             <td>{took}</td><td>{code}</td><td>{reason}</td></tr>",
            n = a.try_number,
            href = escape(&href),
            state = task_badge(a.state),
            start = opt_time(a.started_at, tz),
            end = opt_time(a.ended_at, tz),
            took = span(a.started_at, a.ended_at)
                .map(duration)
                .unwrap_or_default(),
            code = a.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            reason = escape(a.reason.as_deref().unwrap_or_default()),
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// The try's rendered fields; environment values only with `show_env`.
async fn rendered(engine: &Engine, detail: &RunDetail, key: &TaskKey, show_env: bool) -> String {
    let (task, produced, consumed) = match engine.rendered_try(detail, key).await {
        Ok(Ok(rendered)) => rendered,
        Ok(Err(why)) => return format!("<p class=\"banner\">{}</p>", escape(&why)),
        Err(e) => return format!("<p class=\"banner\">{}</p>", escape(&e.to_string())),
    };
    let mut out = String::from("<dl class=\"facts\">");
    if let Some(image) = &task.image {
        let _ = write!(out, "<dt>image</dt><dd><code>{}</code></dd>", escape(image));
    }
    if let Some(command) = &task.command {
        let argv = serde_json::to_string(command).unwrap_or_default();
        let _ = write!(
            out,
            "<dt>command</dt><dd><code class=\"argv\">{}</code></dd>",
            escape(&argv)
        );
    }
    for (name, map, shown) in [
        ("environment", &task.environment, show_env),
        ("hyperparameters", &task.hyperparameters, true),
    ] {
        if !map.is_empty() {
            let lines: String = map
                .iter()
                .map(|(k, v)| match shown {
                    true => format!("<div><code>{}={}</code></div>", escape(k), escape(v)),
                    false => format!("<div><code>{}</code></div>", escape(k)),
                })
                .collect();
            let hidden = match shown {
                true => "",
                false => {
                    "<div class=\"muted\">values hidden (a dashboard started with --show-env shows them)</div>"
                }
            };
            let _ = write!(out, "<dt>{name}</dt><dd>{lines}{hidden}</dd>");
        }
    }
    let _ = write!(
        out,
        "<dt>produces</dt><dd>{}</dd><dt>consumes</dt><dd>{}</dd></dl>",
        artifact_links(&produced),
        artifact_links(&consumed)
    );
    out
}

/// A try's log, a page of it: the last unless `?before=` asks for an
/// earlier one, with a link to page back. A live page fetched again by the
/// dashboard's script (`?refresh=1`) leaves the log out: the script keeps
/// the one it shows and appends what the log API gives after its
/// `data-later` cursor, so a tailing page reads only what is new.
async fn log_section(
    engine: &Engine,
    dag: &str,
    run_id: &str,
    attempt: &Attempt,
    request: &Request,
) -> String {
    let n = attempt.try_number;
    let here = try_path(dag, run_id, &attempt.key, n);
    let mut api = format!(
        "/api/v1{}/log?try={n}",
        task_path(dag, run_id, attempt.key.task_id.as_str(), None)
    );
    if let Some(i) = attempt.key.map_index {
        let _ = write!(api, "&map_index={i}");
    }
    if request.param("refresh").is_some() && request.param("before").is_none() {
        return format!(
            "<section><h2>Log of try {n}</h2><pre class=\"log\" id=\"log\" data-keep=\"1\" data-try=\"{n}\"></pre></section>"
        );
    }
    let window = crate::api::log_window(request);
    let paged_back = matches!(window, LogWindow::Before(_));
    let page = match engine.attempt_log(attempt, &window).await {
        Ok(page) => page,
        Err(e) => LogPage {
            text: format!("(the log could not be read: {e})"),
            ..LogPage::default()
        },
    };
    let mut links = String::new();
    if let Some(earlier) = &page.earlier {
        let _ = write!(
            links,
            "<a href=\"{}\">earlier</a> ",
            escape(&format!("{here}&before={}", encode(earlier)))
        );
    }
    if paged_back {
        let _ = write!(links, "<a href=\"{}\">latest</a>", escape(&here));
    }
    // Only the latest page tails; a page further back stays as it is.
    let later = match (&page.later, paged_back) {
        (Some(later), false) => format!(
            " data-later=\"{}\" data-src=\"{}\"",
            escape(later),
            escape(&api)
        ),
        _ => String::new(),
    };
    format!(
        "<section><h2>Log of try {n}</h2><p class=\"muted\">{links}</p><pre class=\"log\" id=\"log\" data-try=\"{n}\"{later}>{}</pre></section>",
        escape(&page.text)
    )
}

/// `/dags/{dag}/runs/{run}/tasks/{task}`.
/// What the person at the dashboard may do on a task's page (nothing on a
/// read-only one).
pub(crate) struct TaskActions<'a> {
    /// Rerun and mark.
    pub buttons: &'a str,
    /// Who may decide an approval here (`None`: a read-only dashboard).
    pub actor: Option<Actor<'a>>,
}

pub(crate) async fn page_of(
    engine: &Engine,
    dag: &str,
    run_id: &str,
    task: &str,
    request: &Request,
    actions: TaskActions<'_>,
    show_env: bool,
) -> Response {
    let TaskActions {
        buttons: actions,
        actor,
    } = actions;
    let detail = match engine.run_detail(dag, run_id).await {
        Ok(detail) => detail,
        Err(e) => return crate::failure(&e),
    };
    let map_index = request.param("map_index").and_then(|i| i.parse().ok());
    let Some(instance) = detail
        .instances
        .iter()
        .find(|i| i.key.task_id.as_str() == task && i.key.map_index == map_index)
    else {
        return Response::text(
            404,
            &format!("run `{run_id}` has no task instance `{task}`"),
        );
    };
    let key = instance.key.clone();
    let title = format!("{key} · {run_id}");
    let head = format!(
        "<h1><a href=\"{run}\">{dag} · {id}</a> · {key}</h1><p>{state} try {try_}</p>{actions}",
        run = escape(&run_path(dag, run_id)),
        dag = escape(dag),
        id = escape(run_id),
        key = escape(&key.to_string()),
        state = task_badge(instance.state),
        try_ = instance.try_number,
    );
    if instance.state == TaskState::Mapped {
        let page = request
            .param("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let body = format!(
            "{head}<section><h2>Instances</h2>{}</section>",
            instances(&detail, task, page)
        );
        return Response::html(crate::html::page(
            &title,
            &body,
            !detail.run.state.is_terminal(),
        ));
    }
    let all: Vec<&Attempt> = detail.attempts.iter().filter(|a| a.key == key).collect();
    let chosen = request
        .param("try")
        .and_then(|t| t.parse().ok())
        .or(all.last().map(|a| a.try_number))
        .unwrap_or(0);
    let mut body = head;
    let waits = detail
        .spec
        .task(task)
        .and_then(|t| t.wait_for.as_ref())
        .filter(|_| instance.state == TaskState::Waiting);
    if let Some(wait) = waits {
        // What a sensor waits for, until when, and when it looks next.
        let tz = detail.spec.schedule.tz();
        let at = |t: Option<chrono::DateTime<chrono::Utc>>| opt_time(t, tz);
        let until = instance
            .started_at
            .map(|s| s + chrono::Duration::from_std(wait.timeout).unwrap_or(chrono::Duration::MAX));
        let _ = write!(
            body,
            "<p class=\"sensor\">waiting for {what}; it looks again at {next} and gives up at {until}</p>",
            what = escape(&wait.condition.describe()),
            next = at(instance.poke_at),
            until = at(until),
        );
    }
    let asks = detail
        .spec
        .task(task)
        .and_then(|t| t.approval.as_ref())
        .filter(|_| instance.state == TaskState::Waiting);
    if let Some(approval) = asks {
        // What a person is asked, until when; an operator decides here.
        let tz = detail.spec.schedule.tz();
        let until = instance.started_at.map(|s| {
            s + chrono::Duration::from_std(approval.timeout).unwrap_or(chrono::Duration::MAX)
        });
        let then = match &approval.default {
            Some(choice) => format!("then {} is taken", escape(choice)),
            None => "then it fails".into(),
        };
        let _ = write!(
            body,
            "<section class=\"approval\"><h2>Waiting for a decision</h2><p class=\"prompt\">{prompt}</p>\
             <p>{choices} — until {until}; {then}.</p>{form}</section>",
            prompt = escape(&approval.prompt),
            choices = escape(&approval.options.join(" / ")),
            until = opt_time(until, tz),
            form = approval_form(dag, run_id, task, &approval.options, actor),
        );
    }
    let console = all
        .iter()
        .find(|a| a.try_number == chosen)
        .and_then(|a| engine.console_url(a))
        .map(|url| {
            format!(
                "<p><a class=\"console\" href=\"{}\" rel=\"noopener noreferrer\" target=\"_blank\">try {chosen} in the AWS console</a></p>",
                escape(&url)
            )
        })
        .unwrap_or_default();
    let _ = write!(
        body,
        "<section><h2>Tries</h2>{}{console}</section>",
        tries(&detail, &all, chosen)
    );
    if let Some(attempt) = all.iter().find(|a| a.try_number == chosen) {
        // A sensor's try has no process, so no log.
        if attempt.log.is_some() || attempt.handle.is_some() {
            body.push_str(&log_section(engine, dag, run_id, attempt, request).await);
        }
        if let Some(output) = &attempt.output {
            let pretty = serde_json::to_string_pretty(output).unwrap_or_default();
            let _ = write!(
                body,
                "<section><h2>Output</h2><pre class=\"output\">{}</pre>",
                escape(&pretty)
            );
            let metrics = output_metrics(output).unwrap_or_default();
            if !metrics.is_empty() {
                body.push_str(
                    "<table><thead><tr><th>metric</th><th>value</th></tr></thead><tbody>",
                );
                for (name, value) in metrics {
                    let _ = write!(body, "<tr><td>{}</td><td>{value}</td></tr>", escape(&name));
                }
                body.push_str("</tbody></table>");
            }
            body.push_str("</section>");
        }
        let _ = write!(
            body,
            "<section><h2>Artifacts of try {chosen}</h2><dl class=\"facts\"><dt>produced</dt><dd>{}</dd>\
             <dt>consumed</dt><dd>{}</dd></dl></section>",
            artifact_links(&attempt.produced),
            artifact_links(&attempt.consumed),
        );
    }
    let _ = write!(
        body,
        "<section><h2>Rendered</h2>{}</section>",
        rendered(engine, &detail, &key, show_env).await
    );
    Response::html(crate::html::page(
        &title,
        &body,
        !detail.run.state.is_terminal(),
    ))
}
