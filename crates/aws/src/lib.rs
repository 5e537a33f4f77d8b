//! updraft-aws: the AWS adapters (docs/architecture.md, "What runs where on AWS").
//!
//! # Layout
//! - [`call`]: any action of any AWS service, signed, without a client
//!   per service (`kind: aws` and the kinds built on it).
//! - [`clients`]: one client per service, from one SDK configuration.
//! - [`cloudwatch`]: tries' logs from CloudWatch Logs.
//! - [`console`]: where a try's work is in the AWS console.
//! - [`connect`]: SDK configuration, honouring `AWS_ENDPOINT_URL` so the
//!   whole AWS path runs against moto or LocalStack.
//! - [`keys`]: the single-table key design, readable in the console.
//! - [`dynamo`]: the `StateStore` over DynamoDB, every transition a
//!   conditional write.
//! - [`ecs`]: tries as ECS Fargate tasks.
//! - [`events`]: ECS and SageMaker state-change events as completions.
//! - [`eventbridge`]: updraft's own events out, on the stack's bus.
//! - [`kinds`]: tries a service runs by its API (Glue, Athena, Step
//!   Functions, any action with a wait), over [`call`].
//! - [`launch`]: one launcher routing tries to ECS or SageMaker.
//! - [`try_names`]: the names both derive from a try (digest, bucket prefix).
//! - [`functions`]: what the planner, dispatcher and recorder do per event.
//! - [`fuzz`]: the bodies of the event parsers' fuzz targets.
//! - [`permissions`]: the IAM actions each request needs, to check the
//!   roles against the requests the functions send.
//! - [`runtime`]: a function's cold start: logs, settings, engine.
//! - [`sagemaker`]: tries as SageMaker training jobs.
//! - [`schema`]: the table (with its sparse GSI of active runs), the task
//!   queue and its dead-letter queue, as `updraft aws init` creates them.
//! - [`sdk_error`]: AWS errors as one line.
//! - [`settings`]: a deployment's resources from `UPDRAFT_*` variables.
//! - [`specs`]: specs in S3, served from the table so an idle tick reads
//!   no S3; `deploy` and upload notifications record new versions.
//! - [`spec_objects`]: spec versions too large for an item, in S3.
//! - [`sqs`]: the `TaskQueue` over SQS.
//! - [`stack`]: a deployed stack's outputs and resources, for `doctor`.
//! - [`doctor`]: what `updraft doctor` checks on AWS.
//! - [`wake`]: the planner's wake-up, an EventBridge Scheduler one-time
//!   schedule each tick sets for its successor.
//! - `testing` (feature `test-util`): a moto server for tests.

pub mod bell;
pub mod call;
pub mod clients;
pub mod cloudwatch;
pub mod connect;
pub mod console;
pub mod doctor;
pub mod dynamo;
pub mod ecs;
pub mod eventbridge;
pub mod events;
pub mod functions;
pub mod fuzz;
pub mod keys;
pub mod kinds;
pub mod launch;
pub mod permissions;
pub mod runtime;
pub mod sagemaker;
pub mod schema;
pub mod sdk_error;
pub mod settings;
pub mod spec_objects;
pub mod specs;
pub mod sqs;
pub mod stack;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod try_names;
pub mod wake;
