//! updraft-ui: the dashboard — server-rendered pages and a JSON API over
//! the engine's queries and use cases.
//!
//! The router takes a [`Request`] and gives a [`Response`], knowing nothing
//! of sockets, so the same pages can be served by `updraft ui`, by `updraft
//! dev` ([`serve`]), or from a Lambda function URL.
//!
//! # Layout
//! - [`http`]: the request and response the router speaks.
//! - [`html`]: escaping and the page frame; every string from a spec, a
//!   param, an output or a log goes through [`html::escape`].
//! - `dags`, `grid`, `run`, `task`: the pages; [`svg`] draws their graphs,
//!   Gantt charts and duration bars.
//! - `actions`: trigger, rerun, mark, cancel, pause, backfill.
//! - `api`: `/api/v1/`, the shapes of `updraft_engine::json`, as `updraft
//!   --output json` prints them.
//! - [`serve`]: the HTTP/1.1 listener.

use std::sync::Arc;

use updraft_engine::Engine;

mod actions;
mod api;
mod dags;
mod grid;
pub mod html;
pub mod http;
mod lineage;
mod params;
mod plots;
mod run;
mod runs;
pub mod serve;
pub mod svg;
mod task;

use actions::Actor;
use updraft_engine::EngineError;

pub use http::{Request, Response};

/// How many runs the DAGs page shows per DAG.
pub const RECENT_RUNS: usize = 25;

/// The dashboard over one engine.
pub struct Ui {
    engine: Arc<Engine>,
    read_only: bool,
    show_env: bool,
    by: String,
    token: String,
}

impl Ui {
    /// The dashboard; `read_only` hides every action and refuses them.
    pub fn new(engine: Arc<Engine>, read_only: bool) -> Ui {
        Ui {
            engine,
            read_only,
            show_env: false,
            by: "updraft ui".to_string(),
            token: html::random_token(),
        }
    }

    /// Shows the values of a try's environment variables, not only their
    /// names (which may be secrets a viewer should not read); never on a
    /// read-only dashboard.
    pub fn showing_env(mut self, show: bool) -> Ui {
        self.show_env = show && !self.read_only;
        self
    }

    /// Whom the runs, reruns and marks made here are recorded as made by.
    pub fn acting_as(mut self, by: &str) -> Ui {
        self.by = by.to_string();
        self
    }

    /// The token every form carries and every POST must send back, so a
    /// page of another site cannot make the user's browser act here.
    pub fn action_token(&self) -> &str {
        &self.token
    }

    fn actor(&self) -> Option<Actor<'_>> {
        (!self.read_only).then_some(Actor {
            by: &self.by,
            token: &self.token,
        })
    }

    /// Answers one request.
    pub async fn handle(&self, request: &Request) -> Response {
        let engine = &self.engine;
        let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
        if request.method == "POST" {
            let Some(actor) = self.actor() else {
                return read_only();
            };
            if request.cross_origin {
                return Response::text(
                    403,
                    "this action came from a page of another site (its Origin is not this dashboard's)",
                );
            }
            let token = request.field("token").unwrap_or_default().as_bytes();
            if !constant_time_eq(token, self.token.as_bytes()) {
                return Response::text(
                    403,
                    "this action did not come from a page of this dashboard (its token is missing or stale); reload the page",
                );
            }
            return match segments.as_slice() {
                ["dags", dag, "trigger"] => actions::trigger(engine, dag, request, actor).await,
                ["dags", dag, "backfill"] => actions::backfill(engine, dag, request, actor).await,
                ["dags", dag, "backfill", "preview"] => {
                    actions::backfill_dialog(engine, dag, request, actor).await
                }
                ["dags", dag, "pause"] => actions::pause(engine, dag, true, request).await,
                ["dags", dag, "unpause"] => actions::pause(engine, dag, false, request).await,
                ["dags", dag, "runs", run, "rerun"] => {
                    actions::rerun(engine, dag, run, request, actor).await
                }
                ["dags", dag, "runs", run, "mark"] => {
                    actions::mark(engine, dag, run, request, actor).await
                }
                ["dags", dag, "runs", run, "approve"] => {
                    actions::approve(engine, dag, run, request, actor).await
                }
                ["dags", dag, "runs", run, "cancel"] => {
                    actions::cancel(engine, dag, run, request, actor).await
                }
                _ => Response::text(404, &format!("no action at {}", request.path)),
            };
        }
        if request.method != "GET" {
            return Response::text(405, &format!("{} is not answered here", request.method));
        }
        match segments.as_slice() {
            [] => dags::page(engine, request, self.actor()).await,
            ["static", "app.js"] => Response::asset("text/javascript; charset=utf-8", SCRIPT),
            ["api", "v1", rest @ ..] => api::answer(engine, rest, request).await,
            ["dags", dag] => {
                let paused = engine.is_paused(dag).await.unwrap_or(false);
                grid::page_of(
                    engine,
                    dag,
                    request,
                    &actions::dag_nav(dag, paused, self.actor()),
                )
                .await
            }
            ["dags", dag, "trigger"] => match self.actor() {
                Some(actor) => actions::trigger_form(engine, dag, actor).await,
                None => read_only(),
            },
            ["dags", dag, "backfill"] => match self.actor() {
                Some(actor) => actions::backfill_dialog(engine, dag, request, actor).await,
                None => read_only(),
            },
            ["runs"] => runs::page_of(engine, request).await,
            ["lineage"] => match request.param("uri") {
                Some(uri) => lineage::artifact_page(engine, uri).await,
                None => Response::text(400, "give the artifact: /lineage?uri=URI"),
            },
            ["dags", dag, "compare"] => runs::compare_page(engine, dag, request).await,
            ["dags", dag, "runs", run] => self.run_page(dag, run, request).await,
            ["dags", dag, "runs", run, "lineage"] => lineage::run_page(engine, dag, run).await,
            ["dags", dag, "runs", run, "rerun"] => match self.actor() {
                Some(actor) => actions::rerun_dialog(engine, dag, run, request, actor).await,
                None => read_only(),
            },
            ["dags", dag, "runs", run, "tasks", task] => {
                let key = updraft_core::ids::TaskId::parse(task).map(|task_id| {
                    updraft_core::state::TaskKey {
                        task_id,
                        map_index: request.param("map_index").and_then(|i| i.parse().ok()),
                    }
                });
                let nav = match key {
                    Ok(key) => actions::task_nav(dag, run, &key, self.actor()),
                    Err(_) => String::new(),
                };
                let actions = task::TaskActions {
                    buttons: &nav,
                    actor: self.actor(),
                };
                task::page_of(engine, dag, run, task, request, actions, self.show_env).await
            }
            _ => Response::text(404, &format!("no page at {}", request.path)),
        }
    }

    async fn run_page(&self, dag: &str, run_id: &str, request: &Request) -> Response {
        let detail = match self.engine.run_detail(dag, run_id).await {
            Ok(detail) => detail,
            Err(e) => return failure(&e),
        };
        let ended = detail.run.state.is_terminal();
        let nav = actions::run_nav(dag, run_id, ended, self.actor());
        let gantt_page = request
            .param("gantt")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let now = self.engine.now();
        let failures = self
            .engine
            .failed_tries(&detail, run::FAILURES_SHOWN, run::TAIL_LINES)
            .await;
        let view = run::View {
            gantt_page,
            open_group: request.param("group"),
            failures,
        };
        let body = run::render(&detail, now, &view, &nav);
        Response::html(html::page(&format!("{dag} {run_id}"), &body, !ended))
    }
}

fn read_only() -> Response {
    Response::text(403, "this dashboard is read-only (updraft ui --read-only)")
}

/// A use case's error as a page that says what is wrong, with the status
/// of its kind: 404 missing, 400 bad input, 409 a state that does not
/// allow it or a lost race, 503 the backend failed, 500 stored state that
/// cannot be right.
pub(crate) fn failure(error: &EngineError) -> Response {
    Response {
        status: status_of(error),
        ..Response::html(html::error_page(&error.to_string()))
    }
}

/// The status of a use case's error.
pub(crate) fn status_of(error: &EngineError) -> u16 {
    match error {
        EngineError::NotFound(_) => 404,
        EngineError::Invalid { .. } => 400,
        EngineError::Conflict(_) => 409,
        EngineError::Unavailable(_) => 503,
        EngineError::Internal(_) => 500,
    }
}

/// The dashboard's one script: confirmations, and refreshing live pages.
const SCRIPT: &str = include_str!("app.js");

/// Whether `a` equals `b`, in a time that does not depend on where they
/// first differ (so the token cannot be guessed a byte at a time).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
