//! The dispatcher function: SQS batches of task messages, answered with
//! the partial batch failures.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use updraft_aws::functions::dispatcher;
use updraft_aws::runtime::init;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let state = init().await?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let budget = updraft_aws::runtime::deadline(event.context.deadline);
        state.engine.set_deadline(Some(budget));
        dispatcher(&state.engine, &event.payload).await
    }))
    .await
}
