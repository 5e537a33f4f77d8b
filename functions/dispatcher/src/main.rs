//! The dispatcher function: rung (invoked asynchronously) by whoever queues
//! a try, and by the tick while the task queue still holds messages; it
//! drains the queue.

use updraft_aws::functions::FunctionError;

#[tokio::main]
async fn main() -> Result<(), FunctionError> {
    updraft_aws::runtime::serve(updraft_aws::runtime::dispatch).await
}
