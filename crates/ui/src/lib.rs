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
//! - [`auth`]: sign-in for a dashboard hosted for a team (OpenID Connect,
//!   signed sessions, viewers and operators); `plots`: experiment plots.

use std::sync::Arc;

use updraft_engine::Engine;

mod actions;
mod api;
pub mod auth;
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
#[cfg(feature = "test-util")]
pub mod testing;

use actions::Actor;
use updraft_engine::EngineError;

pub use http::{Request, Response};

/// How many runs the DAGs page shows per DAG.
pub const RECENT_RUNS: usize = 25;

/// The dashboard over one engine.
pub struct Ui {
    engine: Arc<Engine>,
    access: Access,
}

/// Who may look and act.
enum Access {
    /// `updraft ui` and `updraft dev`: whoever reaches it, acting as the
    /// one who started it, with a token random for the process.
    Local {
        read_only: bool,
        show_env: bool,
        by: String,
        token: String,
    },
    /// Hosted for a team: people signed in with its issuer, each acting as
    /// themselves (operators) or only looking (viewers).
    SignedIn(Box<auth::SignIn>),
}

/// Who is acting on one request, and what they see.
struct Visit {
    /// Their name and action token, if they may act.
    acting: Option<(String, String)>,
    /// Whether they see the values of a try's environment.
    show_env: bool,
    /// Why they may not act, when they may not.
    refusal: &'static str,
    /// Who is signed in, for the header of every page (with sign-out).
    who: Option<String>,
}

impl Visit {
    fn actor(&self) -> Option<Actor<'_>> {
        self.acting.as_ref().map(|(by, token)| Actor { by, token })
    }
}

impl Ui {
    /// The dashboard; `read_only` hides every action and refuses them.
    pub fn new(engine: Arc<Engine>, read_only: bool) -> Ui {
        Ui {
            engine,
            access: Access::Local {
                read_only,
                show_env: false,
                by: "updraft ui".to_string(),
                token: html::random_token(),
            },
        }
    }

    /// The dashboard of a team: every page and call needs a person signed
    /// in with `sign_in`'s issuer.
    pub fn signed_in(engine: Arc<Engine>, sign_in: auth::SignIn) -> Ui {
        Ui {
            engine,
            access: Access::SignedIn(Box::new(sign_in)),
        }
    }

    /// Shows the values of a try's environment variables, not only their
    /// names (which may be secrets a viewer should not read); never on a
    /// read-only dashboard.
    pub fn showing_env(mut self, show: bool) -> Ui {
        if let Access::Local {
            read_only,
            show_env,
            ..
        } = &mut self.access
        {
            *show_env = show && !*read_only;
        }
        self
    }

    /// Whom the runs, reruns and marks made here are recorded as made by.
    pub fn acting_as(mut self, name: &str) -> Ui {
        if let Access::Local { by, .. } = &mut self.access {
            *by = name.to_string();
        }
        self
    }

    /// The token every form carries and every POST must send back, so a
    /// page of another site cannot make the user's browser act here (on a
    /// local dashboard; a signed-in one derives one per session).
    pub fn action_token(&self) -> &str {
        match &self.access {
            Access::Local { token, .. } => token,
            Access::SignedIn(_) => "",
        }
    }

    /// Answers one request.
    pub async fn handle(&self, request: &Request) -> Response {
        let visit = match &self.access {
            Access::Local {
                read_only,
                show_env,
                by,
                token,
            } => Visit {
                acting: (!read_only).then(|| (by.clone(), token.clone())),
                show_env: *show_env,
                refusal: "this dashboard is read-only (updraft ui --read-only)",
                who: None,
            },
            Access::SignedIn(sign_in) => {
                if request.segments.first().is_some_and(|s| s == "auth") {
                    return sign_in.route(request).await;
                }
                let Some(person) = sign_in.person(request).await else {
                    return sign_in.refuse(request);
                };
                let operator = person.role == auth::Role::Operator;
                let role = if operator { "operator" } else { "viewer" };
                let token = sign_in.key().action_token(&person.session);
                let who = format!(
                    "<span class=\"who\">{} · {role} · <form class=\"signout\" method=\"post\" action=\"/auth/logout\"><input type=\"hidden\" name=\"token\" value=\"{token}\"><button>sign out</button></form></span>",
                    html::escape(&person.by())
                );
                Visit {
                    who: Some(who),
                    acting: operator.then(|| (person.by(), token)),
                    show_env: operator,
                    refusal: "you are signed in as a viewer: only operators act here",
                }
            }
        };
        let mut response = self.answer(request, &visit).await;
        if let Some(who) = &visit.who
            && response.content_type.starts_with("text/html")
        {
            response.body = response
                .body
                .replacen("</header>", &format!("{who}</header>"), 1);
        }
        response
    }

    async fn answer(&self, request: &Request, visit: &Visit) -> Response {
        let engine = &self.engine;
        let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
        if request.method == "POST" {
            let Some(actor) = visit.actor() else {
                return Response::text(403, visit.refusal);
            };
            if request.cross_origin {
                return Response::text(
                    403,
                    "this action came from a page of another site (its Origin is not this dashboard's)",
                );
            }
            let token = request.field("token").unwrap_or_default().as_bytes();
            if !constant_time_eq(token, actor.token.as_bytes()) {
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
            [] => dags::page(engine, request, visit.actor()).await,
            ["static", "app.js"] => Response::asset("text/javascript; charset=utf-8", SCRIPT),
            ["api", "v1", rest @ ..] => api::answer(engine, rest, request).await,
            ["dags", dag] => {
                let paused = engine.is_paused(dag).await.unwrap_or(false);
                grid::page_of(
                    engine,
                    dag,
                    request,
                    &actions::dag_nav(dag, paused, visit.actor()),
                )
                .await
            }
            ["dags", dag, "trigger"] => match visit.actor() {
                Some(actor) => actions::trigger_form(engine, dag, actor).await,
                None => Response::text(403, visit.refusal),
            },
            ["dags", dag, "backfill"] => match visit.actor() {
                Some(actor) => actions::backfill_dialog(engine, dag, request, actor).await,
                None => Response::text(403, visit.refusal),
            },
            ["runs"] => runs::page_of(engine, request).await,
            ["lineage"] => match request.param("uri") {
                Some(uri) => lineage::artifact_page(engine, uri).await,
                None => Response::text(400, "give the artifact: /lineage?uri=URI"),
            },
            ["dags", dag, "compare"] => runs::compare_page(engine, dag, request).await,
            ["dags", dag, "runs", run] => self.run_page(dag, run, request, visit).await,
            ["dags", dag, "runs", run, "lineage"] => lineage::run_page(engine, dag, run).await,
            ["dags", dag, "runs", run, "rerun"] => match visit.actor() {
                Some(actor) => actions::rerun_dialog(engine, dag, run, request, actor).await,
                None => Response::text(403, visit.refusal),
            },
            ["dags", dag, "runs", run, "tasks", task] => {
                let key = updraft_core::ids::TaskId::parse(task).map(|task_id| {
                    updraft_core::state::TaskKey {
                        task_id,
                        map_index: request.param("map_index").and_then(|i| i.parse().ok()),
                    }
                });
                let nav = match key {
                    Ok(key) => actions::task_nav(dag, run, &key, visit.actor()),
                    Err(_) => String::new(),
                };
                let actions = task::TaskActions {
                    buttons: &nav,
                    actor: visit.actor(),
                };
                task::page_of(engine, dag, run, task, request, actions, visit.show_env).await
            }
            _ => Response::text(404, &format!("no page at {}", request.path)),
        }
    }

    async fn run_page(
        &self,
        dag: &str,
        run_id: &str,
        request: &Request,
        visit: &Visit,
    ) -> Response {
        let detail = match self.engine.run_detail(dag, run_id).await {
            Ok(detail) => detail,
            Err(e) => return failure(&e),
        };
        let ended = detail.run.state.is_terminal();
        let nav = actions::run_nav(dag, run_id, ended, visit.actor());
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
