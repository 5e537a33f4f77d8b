//! updraft-ui: the dashboard — server-rendered pages and a JSON API over
//! the engine's queries and use cases.
//!
//! The router takes a [`Request`] and gives a [`Response`], knowing nothing
//! of sockets, so the same pages can be served by `updraft ui`, by `updraft
//! dev`, or from a Lambda function URL.
//!
//! # Layout
//! - [`http`]: the request and response the router speaks.
//! - `html`: escaping and the page frame; every string from a spec, a param,
//!   an output or a log goes through [`html::escape`].
//! - `dags`: the DAGs page and `/api/v1/dags`.

use std::sync::Arc;

use updraft_engine::Engine;

mod dags;
pub mod html;
pub mod http;

pub use http::{Request, Response};

/// How many runs the DAGs page shows per DAG.
pub const RECENT_RUNS: usize = 25;

/// The dashboard over one engine.
pub struct Ui {
    engine: Arc<Engine>,
    read_only: bool,
}

impl Ui {
    /// The dashboard; `read_only` hides every action and refuses them.
    pub fn new(engine: Arc<Engine>, read_only: bool) -> Ui {
        Ui { engine, read_only }
    }

    /// Answers one request.
    pub async fn handle(&self, request: &Request) -> Response {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/") => dags::page(&self.engine, request).await,
            ("GET", "/api/v1/dags") => dags::api(&self.engine).await,
            ("POST", _) if self.read_only => {
                Response::text(403, "this dashboard is read-only (updraft ui --read-only)")
            }
            ("GET", _) => Response::text(404, &format!("no page at {}", request.path)),
            _ => Response::text(405, &format!("{} is not answered here", request.method)),
        }
    }
}
