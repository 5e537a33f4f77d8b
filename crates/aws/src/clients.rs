//! One client per AWS service a deployment uses, all from one SDK
//! configuration, optionally with interceptors (tests count requests).

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::SharedInterceptor;

/// The clients of a deployment.
#[derive(Clone, Debug)]
pub struct Clients {
    /// State.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The task queue.
    pub sqs: aws_sdk_sqs::Client,
    /// Specs and outputs.
    pub s3: aws_sdk_s3::Client,
    /// Tries on Fargate.
    pub ecs: aws_sdk_ecs::Client,
    /// Tries as training jobs.
    pub sagemaker: aws_sdk_sagemaker::Client,
    /// Tries' logs.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// Events out.
    pub events: aws_sdk_eventbridge::Client,
    /// Any other service's actions (the service kinds).
    pub caller: crate::call::Caller,
}

/// A service's client from `sdk` with `interceptors` on it.
macro_rules! client {
    ($service:ident, $sdk:expr, $interceptors:expr) => {{
        let mut builder = $service::config::Builder::from($sdk);
        for interceptor in $interceptors {
            builder.push_interceptor(interceptor.clone());
        }
        builder
    }};
}

impl Clients {
    /// Clients with no interceptors. Building them makes no request.
    pub fn new(sdk: &SdkConfig) -> Clients {
        Clients::with_interceptors(sdk, &[])
    }

    /// Clients that run `interceptors` on every request.
    pub fn with_interceptors(sdk: &SdkConfig, interceptors: &[SharedInterceptor]) -> Clients {
        // Emulators need path-style bucket addressing.
        let s3 = client!(aws_sdk_s3, sdk, interceptors)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                client!(aws_sdk_dynamodb, sdk, interceptors).build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(client!(aws_sdk_sqs, sdk, interceptors).build()),
            s3: aws_sdk_s3::Client::from_conf(s3),
            ecs: aws_sdk_ecs::Client::from_conf(client!(aws_sdk_ecs, sdk, interceptors).build()),
            sagemaker: aws_sdk_sagemaker::Client::from_conf(
                client!(aws_sdk_sagemaker, sdk, interceptors).build(),
            ),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                client!(aws_sdk_cloudwatchlogs, sdk, interceptors).build(),
            ),
            events: aws_sdk_eventbridge::Client::from_conf(
                client!(aws_sdk_eventbridge, sdk, interceptors).build(),
            ),
            caller: crate::call::Caller::new(sdk).with_sts(aws_sdk_sts::Client::from_conf(
                client!(aws_sdk_sts, sdk, interceptors).build(),
            )),
        }
    }
}
