//! The dispatcher function: SQS batches of task messages, answered with
//! the partial batch failures.

use updraft_aws::functions::FunctionError;

#[tokio::main]
async fn main() -> Result<(), FunctionError> {
    updraft_aws::runtime::serve(updraft_aws::runtime::dispatch).await
}
