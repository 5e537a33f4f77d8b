//! The recorder function: ECS and SageMaker state-change events.

use updraft_aws::functions::FunctionError;
use updraft_aws::permissions::Function;

#[tokio::main]
async fn main() -> Result<(), FunctionError> {
    updraft_aws::runtime::serve(Function::Recorder).await
}
