//! The dispatcher function: SQS batches of task messages, answered with
//! the partial batch failures.

use updraft_aws::functions::FunctionError;
use updraft_aws::permissions::Function;

#[tokio::main]
async fn main() -> Result<(), FunctionError> {
    updraft_aws::runtime::serve(Function::Dispatcher).await
}
