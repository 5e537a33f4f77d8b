//! The dashboard function: every page, action and `/api/v1/` route of
//! `updraft ui`, behind a function URL, for people signed in with the
//! team's OpenID Connect issuer. The function URL's event becomes the
//! router's request and its answer the response; nothing else happens
//! here.

mod config;

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{Error, Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let state = updraft_aws::runtime::init().await?;
    let sign_in = config::sign_in(&state.clients.caller, |name| std::env::var(name).ok()).await?;
    let ui = updraft_ui::Ui::signed_in(Arc::new(state.engine), sign_in);
    let ui = &ui;
    lambda_http::run(service_fn(move |event: Request| async move {
        let (parts, body) = event.into_parts();
        let request = updraft_ui::Request::from_http(&parts, body.as_ref());
        Ok::<_, Infallible>(ui.handle(&request).await.into_http())
    }))
    .await
}
