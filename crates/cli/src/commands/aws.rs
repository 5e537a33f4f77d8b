//! The AWS backend for the CLI: the engine over a deployment named by
//! `UPDRAFT_*` variables, and `updraft aws init` for emulators.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use updraft_aws::clients::Clients;
use updraft_aws::connect::{Endpoint, load};
use updraft_aws::schema::{create_bucket, create_queues, create_table};
use updraft_aws::settings::Settings;
use updraft_engine::Engine;

use super::Context;
use crate::error::{CliError, CliResult};
use crate::progress::Progress;

async fn sdk(ctx: &Context) -> aws_config::SdkConfig {
    let endpoint = Endpoint {
        url: ctx.global.endpoint_url.clone(),
        region: ctx.global.region.clone(),
        profile: ctx.global.profile.clone(),
    };
    load(&endpoint).await
}

/// The deployment's settings: `UPDRAFT_*` variables, else the outputs of
/// the `--stack`.
pub async fn settings(ctx: &Context) -> CliResult<Settings> {
    let outputs = match &ctx.global.stack {
        Some(stack) => stack_outputs(ctx, stack).await?,
        None => BTreeMap::new(),
    };
    Settings::from_env_or_outputs(|name| std::env::var(name).ok(), &outputs).map_err(CliError::User)
}

/// The caller's identity ARN (STS GetCallerIdentity): who runs and audit
/// entries name on AWS.
pub async fn caller(ctx: &Context) -> CliResult<String> {
    let client = aws_sdk_sts::Client::new(&sdk(ctx).await);
    let identity = client.get_caller_identity().send().await.map_err(|e| {
        CliError::Infra(format!(
            "asking STS who is calling: {}",
            updraft_aws::sdk_error::describe(&e)
        ))
    })?;
    identity
        .arn()
        .map(str::to_string)
        .ok_or_else(|| CliError::Infra("STS GetCallerIdentity returned no ARN".into()))
}

/// A stack's outputs, by key.
async fn stack_outputs(ctx: &Context, stack: &str) -> CliResult<BTreeMap<String, String>> {
    updraft_aws::stack::stack_outputs(&sdk(ctx).await, stack)
        .await
        .map_err(|e| CliError::User(format!("reading the outputs of stack `{stack}`: {e}")))
}

/// The engine over the deployment.
pub async fn engine(ctx: &Context) -> CliResult<Arc<Engine>> {
    let settings = settings(ctx).await?;
    let progress = Arc::new(Progress::new(
        ctx.json(),
        std::env::var_os("UPDRAFT_VERBOSE").is_some(),
    ));
    Ok(Arc::new(
        settings.engine(&sdk(ctx).await).with_observer(progress),
    ))
}

/// `updraft aws init`: the resources `infra/template.yaml` declares, on an
/// AWS-compatible endpoint, named `<name>-state`, `<name>-tasks` (and
/// `-dlq`), `<name>-specs` and `<name>`.
pub async fn init(ctx: &Context, name: &str) -> CliResult<ExitCode> {
    if ctx.global.endpoint_url.is_none() && std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        return Err(CliError::User(
            "`updraft aws init` creates resources on an emulator: give --endpoint-url (on AWS, deploy infra/template.yaml with SAM)".into(),
        ));
    }
    let config = sdk(ctx).await;
    let table = format!("{name}-state");
    let queue = format!("{name}-tasks");
    let bucket = format!("{name}-specs");
    create_table(&aws_sdk_dynamodb::Client::new(&config), &table).await?;
    let queue_url = create_queues(&aws_sdk_sqs::Client::new(&config), &queue).await?;
    create_bucket(&Clients::new(&config).s3, &bucket).await?;
    aws_sdk_ecs::Client::new(&config)
        .create_cluster()
        .cluster_name(name)
        .send()
        .await
        .map_err(|e| {
            CliError::Infra(format!(
                "creating ECS cluster {name}: {}",
                updraft_aws::sdk_error::describe(&e)
            ))
        })?;
    println!("export UPDRAFT_TABLE={table}");
    println!("export UPDRAFT_QUEUE_URL={queue_url}");
    println!("export UPDRAFT_BUCKET={bucket}");
    println!("export UPDRAFT_CLUSTER={name}");
    // An emulator's short poll sees every message.
    println!("export UPDRAFT_RECEIVE_WAIT=0");
    Ok(ExitCode::SUCCESS)
}

/// `updraft doctor` on AWS: the stack's outputs when `--stack` names one,
/// then every check of the deployment they name.
pub async fn doctor(ctx: &Context) -> Vec<updraft_engine::usecase::Finding> {
    use updraft_engine::usecase::Finding;
    let sdk = sdk(ctx).await;
    let view = match &ctx.global.stack {
        Some(stack) => match updraft_aws::stack::stack_view(&sdk, stack).await {
            Ok(view) => Some((stack.as_str(), view)),
            Err(e) => {
                return vec![Finding::wrong(
                    format!("stack {stack} cannot be read: {e}"),
                    "check its name, the region and the credentials",
                )];
            }
        },
        None => None,
    };
    // The outputs read once, for the checks and the settings alike.
    let outputs = view
        .as_ref()
        .map(|(_, v)| v.outputs.clone())
        .unwrap_or_default();
    let settings = match Settings::from_env_or_outputs(|name| std::env::var(name).ok(), &outputs) {
        Ok(settings) => settings,
        Err(e) => {
            let mut findings: Vec<Finding> = view
                .iter()
                .map(|(name, view)| updraft_aws::doctor::outputs_finding(name, view))
                .collect();
            findings.push(Finding::wrong(
                format!("the deployment is not named: {e}"),
                "pass --stack NAME",
            ));
            return findings;
        }
    };
    let engine = settings.engine(&sdk);
    let stack = view.as_ref().map(|(name, view)| (*name, view));
    updraft_aws::doctor::check(&sdk, stack, &settings, &engine).await
}
