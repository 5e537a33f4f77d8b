//! The AWS adapters against one moto server on 127.0.0.1, one module per
//! area; each test makes its own uniquely named resources.

mod audit;
mod bell;
mod call;
mod conformance;
mod connect;
mod control_flow;
mod crash_points;
mod dashboard;
mod dead_letters;
mod ecs;
mod functions;
mod idempotency;
mod kinds;
mod notices;
mod operator;
mod permissions;
mod pools;
mod races;
mod retention;
mod sagemaker;
mod specs;
mod template;
mod wake;
mod watched;
