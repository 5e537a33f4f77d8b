//! What every function does at cold start: JSON logs through `tracing`,
//! the SDK configuration, the settings from `UPDRAFT_*` variables, and the
//! engine. Building clients makes no network call.

use crate::clients::Clients;
use updraft_engine::Engine;
use updraft_engine::events::{Event, Observer};

use crate::connect::{Endpoint, load};
use crate::functions::FunctionError;
use crate::settings::Settings;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// Logs engine events as structured `tracing` events.
pub struct LogEvents;

impl Observer for LogEvents {
    fn on(&self, event: &Event) {
        match event {
            Event::RunCreated(run) => {
                tracing::info!(dag = %run.dag, run_id = %run.run_id, "run created")
            }
            Event::RunEnded(run) => {
                tracing::info!(dag = %run.dag, run_id = %run.run_id, state = %run.state, "run ended")
            }
            Event::TaskQueued {
                dag,
                run_id,
                key,
                try_number,
            } => {
                tracing::info!(%dag, %run_id, task = %key, try_number, "task queued")
            }
            Event::TaskStarted {
                dag,
                run_id,
                key,
                try_number,
                handle,
            } => {
                tracing::info!(%dag, %run_id, task = %key, try_number, %handle, "task started")
            }
            Event::TaskEnded {
                dag,
                run_id,
                key,
                try_number,
                state,
                reason,
                ..
            } => {
                tracing::info!(%dag, %run_id, task = %key, try_number, %state, reason = reason.as_deref().unwrap_or(""), "task ended")
            }
            Event::Dropped { what } => {
                tracing::info!(%what, "dropped a stale or duplicate message or event")
            }
            Event::WaitingForPool { holder, pool } => {
                tracing::info!(%holder, %pool, "waiting for pool slots")
            }
            Event::SlotsReclaimed { holder, pool } => {
                tracing::warn!(%holder, %pool, "gave back slots an ended try still held")
            }
            Event::ImportErrors(errors) => {
                for error in errors {
                    tracing::warn!(error = %error, "spec import error");
                }
            }
            Event::Isolated { what, error } => {
                tracing::error!(%what, %error, "failed; the tick went on with the others")
            }
            Event::Deferred { what } => {
                tracing::warn!(%what, "out of time: left to the next invocation")
            }
            Event::EventCommandFailed { what, error } => {
                tracing::warn!(%what, %error, "an event command failed")
            }
            Event::Unpublished { count, error } => {
                tracing::warn!(count, %error, "events not published; the next tick publishes them")
            }
        }
    }
}

/// The instant an invocation must have answered by, from the Lambda
/// context's deadline (milliseconds since the epoch): the engine's work
/// budget.
pub fn deadline(epoch_millis: u64) -> std::time::Instant {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let left = std::time::Duration::from_millis(epoch_millis).saturating_sub(now);
    std::time::Instant::now() + left
}

/// A function's state, built once at cold start.
pub struct FunctionState {
    /// The clients (`AWS_ENDPOINT_URL` honoured).
    pub clients: Clients,
    /// Where the deployment's resources are.
    pub settings: Settings,
    /// The use cases.
    pub engine: Engine,
}

/// One invocation's work under way.
pub type Invocation<'a> = Pin<Box<dyn Future<Output = Result<Value, FunctionError>> + 'a>>;

/// What a function does with its state and an invocation's event.
pub type Handler = for<'a> fn(&'a FunctionState, &'a Value) -> Invocation<'a>;

/// Runs one of the stack's functions: its state built once at cold start,
/// then each invocation handed to `handler` with the invocation's deadline
/// as the engine's work budget. What each function's `main` calls, with its
/// own handler, so a binary links only the work it does.
#[cfg(feature = "lambda")]
pub async fn serve(handler: Handler) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{LambdaEvent, service_fn};
    let state = init().await?;
    let state = &state;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            state
                .engine
                .set_deadline(Some(deadline(event.context.deadline)));
            handler(state, &event.payload).await
        },
    ))
    .await
}

/// The planner's handler.
pub fn plan<'a>(state: &'a FunctionState, event: &'a Value) -> Invocation<'a> {
    Box::pin(crate::functions::planner(
        &state.engine,
        &state.settings.bucket,
        event,
    ))
}

/// The dispatcher's handler.
pub fn dispatch<'a>(state: &'a FunctionState, event: &'a Value) -> Invocation<'a> {
    Box::pin(crate::functions::dispatcher(&state.engine, event))
}

/// The recorder's handler.
pub fn record<'a>(state: &'a FunctionState, event: &'a Value) -> Invocation<'a> {
    Box::pin(crate::functions::recorder(&state.engine, event))
}

/// Initializes logging and builds the function's state; an error names the
/// missing configuration.
pub async fn init() -> Result<FunctionState, String> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .without_time()
        .init();
    let settings = Settings::from_env(|name| std::env::var(name).ok())?;
    let clients = Clients::new(&load(&Endpoint::default()).await);
    let engine = settings
        .engine_over(&clients)
        .with_observer(std::sync::Arc::new(LogEvents));
    Ok(FunctionState {
        clients,
        settings,
        engine,
    })
}
