//! The recorder function: ECS and SageMaker state-change events.

use updraft_aws::functions::FunctionError;

#[tokio::main]
async fn main() -> Result<(), FunctionError> {
    updraft_aws::runtime::serve(updraft_aws::runtime::record).await
}
