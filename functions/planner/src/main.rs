//! The planner function: an EventBridge schedule tick, or S3 notifications
//! of uploaded spec files.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use updraft_aws::functions::planner;
use updraft_aws::runtime::init;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let state = init().await?;
    let state = &state;
    let s3 = &state.clients.s3;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let budget = updraft_aws::runtime::deadline(event.context.deadline);
        state.engine.set_deadline(Some(budget));
        planner(&state.engine, s3, &state.settings.bucket, &event.payload).await
    }))
    .await
}
