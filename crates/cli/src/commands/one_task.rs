//! `updraft render DAG TASK` and `updraft test DAG TASK`: one task of the
//! spec directory, rendered for the run a date makes, or run alone in the
//! foreground; neither records anything.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Map, Value, json};
use updraft_aws::call::PlannedCall;
use updraft_aws::clients::Clients;
use updraft_aws::kinds::{LocalServices, ServiceLauncher};
use updraft_core::plan::{Outcome, outputs_of, parse_output};
use updraft_core::spec::{ComputeProfile, DagSpec};
use updraft_core::state::{Attempt, TaskState};
use updraft_engine::ports::{HandleStatus, LaunchRequest, Launcher, LogWindow};
use updraft_engine::usecase::{TaskPreview, TaskPreviewRequest, preview_task};

use super::{Context, parse_params, print_json};
use crate::args::OneTask;
use crate::error::{CliError, CliResult};
use crate::render::time;
use crate::signals::shutdown_signal;

/// Prints the task rendered for the run its date makes.
pub async fn render(ctx: &Context, args: &OneTask) -> CliResult<ExitCode> {
    let (spec, preview) = preview(ctx, args).await?;
    let calls = planned_calls(&spec, &preview).await?;
    if ctx.json() {
        let mut json = preview_json(&spec, &args.task, &preview);
        if let Some(calls) = &calls {
            json["calls"] = json!(calls);
        }
        print_json(&json)?;
    } else {
        print!("{}", preview_text(&spec, &args.task, &preview));
        print!("{}", calls_text(calls.as_deref()));
    }
    Ok(ExitCode::SUCCESS)
}

/// What a bucket is called where the try's names are shown without a
/// stack: the names (job, execution, token) derive from the stack's bucket.
const ANY_STACK: &str = "STACK-BUCKET";

/// The calls a try of a task of a service kind would make (none for a
/// container task): made nowhere, each checked against its service.
async fn planned_calls(
    spec: &DagSpec,
    preview: &TaskPreview,
) -> CliResult<Option<Vec<PlannedCall>>> {
    let Some(task) = spec.task(preview.key.task_id.as_str()) else {
        return Ok(None);
    };
    let Some(profile @ ComputeProfile::Service(_)) = spec.compute_of(task) else {
        return Ok(None);
    };
    let request = launch_request(spec, preview, Some(profile.clone()));
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .http_client(updraft_aws::connect::http_client())
        .build();
    let clients = Clients::new(&sdk);
    let launcher =
        ServiceLauncher::new(clients.caller.clone(), clients.s3.clone(), ANY_STACK.into())
            .with_sagemaker_role(Some("STACK-SAGEMAKER-ROLE".into()));
    launcher
        .plan(&request)
        .await
        .map(Some)
        .map_err(CliError::User)
}

fn calls_text(calls: Option<&[PlannedCall]>) -> String {
    let Some(calls) = calls else {
        return String::new();
    };
    let mut lines = vec![format!(
        "  calls (names from the stack's bucket, shown as {ANY_STACK})"
    )];
    for call in calls {
        lines.push(format!("    {} {}", call.service, call.action));
        let params = serde_json::to_string_pretty(&call.params).unwrap_or_default();
        lines.extend(params.lines().map(|l| format!("      {l}")));
    }
    lines.join("\n") + "\n"
}

fn launch_request(
    spec: &DagSpec,
    preview: &TaskPreview,
    compute: Option<ComputeProfile>,
) -> LaunchRequest {
    LaunchRequest {
        dag: spec.id.to_string(),
        run_id: preview.run.run_id.clone(),
        key: preview.key.clone(),
        try_number: 1,
        task: preview.rendered.clone(),
        compute,
        timeout: preview.timeout,
        relaunch: false,
    }
}

/// Runs the task here with its log on the terminal, then prints its output;
/// exit 0 if it succeeded, 1 if not. A task of a service kind shows its
/// calls and sends them only when asked (`live`).
pub async fn test(ctx: &Context, args: &OneTask, live: bool) -> CliResult<ExitCode> {
    let (spec, preview) = preview(ctx, args).await?;
    eprint!("{}", preview_text(&spec, &args.task, &preview));
    let scratch = std::env::temp_dir().join(format!("updraft-test-{}", std::process::id()));
    if let Some(calls) = planned_calls(&spec, &preview).await? {
        eprint!("{}", calls_text(Some(&calls)));
        if !live {
            eprintln!(
                "sent nothing: `--live` sends them with your AWS credentials; on a stack, `updraft deploy`"
            );
            return Ok(ExitCode::SUCCESS);
        }
        let compute = spec
            .task(&args.task)
            .and_then(|task| spec.compute_of(task))
            .cloned();
        let request = launch_request(&spec, &preview, compute);
        let tested = test_live(&request, &scratch).await;
        let _ = std::fs::remove_dir_all(&scratch);
        return tested;
    }
    let request = launch_request(&spec, &preview, None);
    std::fs::create_dir_all(&scratch)
        .map_err(|e| CliError::Infra(format!("creating {}: {e}", scratch.display())))?;
    let output_file = scratch.join("output.json");
    eprintln!("--- log ---");
    let ran = updraft_local::process::run_in_foreground(&request, &output_file).await;
    let output = std::fs::read_to_string(&output_file).ok();
    let _ = std::fs::remove_dir_all(&scratch);
    let status = ran.map_err(CliError::User)?;
    let skip_code = spec.task(&args.task).map(|t| t.skip_exit_code);
    let skipped = status.code().is_some() && status.code() == skip_code;
    match skipped {
        true => eprintln!(
            "--- skipped (exit code {}) ---",
            status.code().unwrap_or_default()
        ),
        false => eprintln!("--- {} ---", exit_line(status)),
    }
    let checked = output.as_deref().map(parse_output).transpose();
    match checked {
        Ok(Some(value)) => print_json(&value)?,
        Ok(None) => eprintln!("(no output)"),
        Err(why) => {
            eprintln!("the output is not accepted: {why}");
            return Ok(ExitCode::from(1));
        }
    }
    Ok(match status.success() || skipped {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    })
}

/// Launches a try of a service kind with the caller's credentials (its
/// launch remembered in `scratch`, not in the state), waits for its end
/// and prints its log and output; an interrupt stops it.
async fn test_live(request: &LaunchRequest, scratch: &Path) -> CliResult<ExitCode> {
    let services = LocalServices::new(scratch);
    let launched = services
        .launch(request)
        .await
        .map_err(|e| CliError::User(format!("not launched: {e}")))?;
    let handle = launched.handle.clone();
    eprintln!("launched {handle}");
    if let Some(url) = services.console_url(&handle) {
        eprintln!("  {url}");
    }
    let limit = request.timeout.unwrap_or(LIVE_TEST_LIMIT);
    let status = tokio::select! {
        status = services.wait_for_end(&handle, limit) => status?,
        () = shutdown_signal() => {
            services.stop(&handle).await?;
            return Err(CliError::User(format!("interrupted; {handle} was asked to stop")));
        }
    };
    let completion = match status {
        Some(HandleStatus::Ended(completion)) => completion,
        Some(HandleStatus::Lost) => {
            return Err(CliError::User(format!("{handle} is gone and left no end")));
        }
        Some(HandleStatus::Running) | None => {
            services.stop(&handle).await?;
            return Err(CliError::User(format!(
                "{handle} ran past {} and was asked to stop",
                updraft_core::duration::format_duration(limit)
            )));
        }
    };
    let mut attempt = Attempt::new(request.key.clone(), request.try_number, TaskState::Running);
    attempt.handle = Some(handle);
    attempt.log = launched.log;
    attempt.output_location = launched.output;
    if let Ok(page) = services.logs(&attempt, &LogWindow::Tail).await
        && !page.text.is_empty()
    {
        eprintln!("--- log ---");
        eprint!("{}", page.text);
        if !page.text.ends_with('\n') {
            eprintln!();
        }
    }
    if let Outcome::Failed { reason } = &completion.outcome {
        eprintln!("--- failed: {reason} ---");
        return Ok(ExitCode::from(1));
    }
    eprintln!("--- succeeded ---");
    let output = services.read_output(&attempt).await?;
    match output.as_deref().map(parse_output).transpose() {
        Ok(Some(value)) => print_json(&value)?,
        Ok(None) => eprintln!("(no output)"),
        Err(why) => {
            eprintln!("the output is not accepted: {why}");
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How long `test --live` waits for a try whose task sets no `timeout`.
const LIVE_TEST_LIMIT: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

fn exit_line(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => "succeeded (exit code 0)".into(),
        (Some(code), _) => format!("failed (exit code {code})"),
        (None, Some(signal)) => format!("failed (killed by signal {signal})"),
        (None, None) => "failed".into(),
    }
}

/// The DAG from the spec directory and its task rendered as asked.
async fn preview(ctx: &Context, args: &OneTask) -> CliResult<(DagSpec, TaskPreview)> {
    let spec = super::validate::spec_in_directory(ctx, &args.dag)?;
    let outputs = match &args.outputs_from {
        None => Map::new(),
        Some(from) if Path::new(from).is_file() => outputs_file(Path::new(from))?,
        Some(run_id) => {
            let detail = ctx.engine().await?.run_detail(&args.dag, run_id).await?;
            outputs_of(&detail.spec, &detail.instances)
        }
    };
    let request = TaskPreviewRequest {
        task: args.task.clone(),
        date: args.date.clone(),
        params: parse_params(&args.params)?,
        outputs,
        map_index: args.map_index,
    };
    let preview = preview_task(&spec, &request, chrono::Utc::now()).map_err(|e| {
        let e = CliError::from(e);
        match (&e, &args.outputs_from) {
            (CliError::User(why), None) if why.contains("outputs.") => CliError::User(format!(
                "{why} (upstream outputs come from --outputs-from RUN_ID or FILE)"
            )),
            _ => e,
        }
    })?;
    Ok((spec, preview))
}

/// `{"task": {output}, ...}` from a JSON file.
fn outputs_file(path: &Path) -> CliResult<Map<String, Value>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::User(format!("{}: cannot read: {e}", path.display())))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(outputs)) => Ok(outputs),
        Ok(_) => Err(CliError::User(format!(
            "{}: expected a JSON object of outputs by task id, such as {{\"split\": {{\"shards\": [\"a\"]}}}}",
            path.display()
        ))),
        Err(e) => Err(CliError::User(format!(
            "{}:{}:{}: not JSON: {e}",
            path.display(),
            e.line(),
            e.column()
        ))),
    }
}

fn preview_json(spec: &DagSpec, task: &str, preview: &TaskPreview) -> Value {
    let tz = spec.schedule.tz();
    let run = &preview.run;
    let rendered = &preview.rendered;
    json!({
        "dag": spec.id,
        "task": task,
        "run_id": run.run_id,
        "timezone": tz.name(),
        "logical_date": time(run.logical_date, tz),
        "data_interval_start": time(run.data_interval_start, tz),
        "data_interval_end": time(run.data_interval_end, tz),
        "map_index": preview.mapped.map(|(index, _)| index),
        "map_count": preview.mapped.map(|(_, count)| count),
        "item": preview.item,
        "command": rendered.command,
        "environment": rendered.environment,
        "image": rendered.image,
        "hyperparameters": rendered.hyperparameters,
        "produces": preview.produces,
        "consumes": preview.consumes,
    })
}

fn preview_text(spec: &DagSpec, task: &str, preview: &TaskPreview) -> String {
    let tz = spec.schedule.tz();
    let run = &preview.run;
    let rendered = &preview.rendered;
    let mut lines = vec![
        format!("{}.{task} for run {}", spec.id, run.run_id),
        format!(
            "  logical date   {} ({})",
            time(run.logical_date, tz),
            tz.name()
        ),
        format!(
            "  data interval  {} to {}",
            time(run.data_interval_start, tz),
            time(run.data_interval_end, tz)
        ),
    ];
    if let (Some((index, count)), Some(item)) = (preview.mapped, &preview.item) {
        lines.push(format!("  map index      {index} of {count}, item {item}"));
    }
    // A kind a service runs by its API has no container: its calls say it.
    let container = match spec.task(task).and_then(|t| spec.compute_of(t)) {
        Some(ComputeProfile::Service(profile)) => profile.kind.runs_a_container(),
        _ => true,
    };
    if let Some(image) = &rendered.image {
        lines.push(format!("  image          {image}"));
    }
    match &rendered.command {
        Some(argv) => lines.push(format!("  command        {}", shell_words(argv))),
        None if container => lines.push("  command        (the image's own)".into()),
        None => {}
    }
    let mut map = |title: &str, entries: &std::collections::BTreeMap<String, String>| {
        if !entries.is_empty() {
            lines.push(format!("  {title}"));
            lines.extend(entries.iter().map(|(k, v)| format!("    {k}={v}")));
        }
    };
    if container {
        map("environment", &rendered.environment);
    }
    map("hyperparameters", &rendered.hyperparameters);
    for (title, uris) in [
        ("produces", &preview.produces),
        ("consumes", &preview.consumes),
    ] {
        if !uris.is_empty() {
            lines.push(format!("  {title}"));
            lines.extend(uris.iter().map(|u| format!("    {u}")));
        }
    }
    lines.join("\n") + "\n"
}

/// The argv as a shell would need it typed, to copy and paste.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
            match plain {
                true => arg.clone(),
                false => format!("'{}'", arg.replace('\'', r"'\''")),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
