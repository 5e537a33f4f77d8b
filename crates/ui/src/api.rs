//! `/api/v1/`: what the pages show, as JSON in the shapes `updraft
//! --output json` prints, for scripts. Read-only: changes go through the
//! CLI (or the pages' forms).

use serde_json::json;
use updraft_engine::ports::LogWindow;
use updraft_engine::{Engine, EngineError};

use crate::{Request, Response};
use updraft_engine::json::{
    ArtifactLineageJson, ComparisonJson, DetailJson, RunJson, RunLineageJson,
};

fn error(e: &EngineError) -> Response {
    Response {
        status: crate::status_of(e),
        ..Response::json(&json!({ "error": e.to_string() }))
    }
}

/// Answers `GET /api/v1/{rest}`.
pub(crate) async fn answer(engine: &Engine, rest: &[&str], request: &Request) -> Response {
    match rest {
        ["dags"] => crate::dags::api(engine).await,
        ["runs"] => match engine.runs_table(&crate::runs::filters(request)).await {
            Ok(table) => Response::json(
                &table
                    .runs
                    .iter()
                    .map(|(run, tz)| RunJson::new(run, *tz))
                    .collect::<Vec<_>>(),
            ),
            Err(e) => error(&e),
        },
        ["dags", dag, "runs", run] => match engine.run_detail(dag, run).await {
            Ok(detail) => Response::json(&DetailJson::new(&detail)),
            Err(e) => error(&e),
        },
        ["dags", dag, "runs", run, "lineage"] => match engine.run_lineage(dag, run).await {
            Ok(lineage) => Response::json(&RunLineageJson::new(dag, run, &lineage)),
            Err(e) => error(&e),
        },
        ["dags", dag, "runs", run, "tasks", task, "log"] => {
            let number = |name| request.param(name).and_then(|t| t.parse().ok());
            let chosen = (number("map_index"), number("try"));
            let window = log_window(request);
            match engine.logs(dag, run, task, chosen, &window).await {
                Ok((attempt, page)) => Response::json(&json!({
                    "task": attempt.key.to_string(),
                    "try_number": attempt.try_number,
                    "state": attempt.state,
                    "log": page.text,
                    "earlier": page.earlier,
                    "later": page.later,
                })),
                Err(e) => error(&e),
            }
        }
        ["dags", dag, "runs", run, "tasks", task, "output"] => {
            let map_index = request.param("map_index").and_then(|i| i.parse().ok());
            match engine.output(dag, run, task, map_index).await {
                Ok(output) => Response::json(&output),
                Err(e) => error(&e),
            }
        }
        ["dags", dag, "compare"] => {
            let ids: Vec<String> = request
                .query
                .iter()
                .filter(|(k, _)| k == "run")
                .map(|(_, v)| v.clone())
                .collect();
            match engine.compare(dag, &ids).await {
                Ok(c) => Response::json(&ComparisonJson::new(&c)),
                Err(e) => error(&e),
            }
        }
        ["lineage"] => {
            let Some(uri) = request.param("uri") else {
                return Response::text(400, "give the artifact: /api/v1/lineage?uri=URI");
            };
            match engine.artifact_lineage(uri).await {
                Ok(lineage) => Response::json(&ArtifactLineageJson::new(uri, &lineage)),
                Err(e) => error(&e),
            }
        }
        _ => Response {
            status: 404,
            ..Response::json(&json!({ "error": format!("no API at {}", request.path) }))
        },
    }
}

/// The part of a log a request asks for: `?before=` or `?after=` a cursor
/// of an earlier page, else its last page.
pub(crate) fn log_window(request: &Request) -> LogWindow {
    match (request.param("before"), request.param("after")) {
        (Some(before), _) => LogWindow::Before(before.to_string()),
        (None, Some(after)) => LogWindow::After(after.to_string()),
        (None, None) => LogWindow::Tail,
    }
}
