//! The planner function: an EventBridge schedule tick, or S3 notifications
//! of uploaded spec files.

use updraft_aws::functions::FunctionError;

#[tokio::main]
async fn main() -> Result<(), FunctionError> {
    updraft_aws::runtime::serve(updraft_aws::runtime::plan).await
}
