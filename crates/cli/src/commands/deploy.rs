//! `updraft deploy PATH...`: validate, then upload specs to the bucket.

use std::path::PathBuf;
use std::process::ExitCode;

use updraft_engine::usecase::Deployment;

use super::{Context, validate::spec_files};
use crate::args::Backend;
use crate::error::{CliError, CliResult};

pub async fn deploy(ctx: &Context, paths: Vec<PathBuf>) -> CliResult<ExitCode> {
    if ctx.global.backend != Backend::Aws {
        return Err(CliError::User(
            "deploy uploads to AWS: give --backend aws (locally, `dev` reads the spec directory)"
                .into(),
        ));
    }
    let files = spec_files(ctx, paths)?;
    let settings = super::aws::settings(ctx).await?;
    let engine = ctx.engine().await?;
    match engine.deploy_specs(&files).await? {
        Deployment::Deployed(dags) => {
            println!(
                "deployed {} to s3://{}/specs/: {}",
                dags.len(),
                settings.bucket,
                dags.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Deployment::Rejected(problems) => {
            for problem in &problems {
                println!("{problem}");
            }
            eprintln!("updraft: nothing deployed: {} problem(s)", problems.len());
            Ok(ExitCode::from(1))
        }
    }
}
