//! One module per command; each parses nothing (clap did), calls one use
//! case and prints.

mod aws;
mod backfill;
mod clean;
mod compare;
mod deploy;
mod dev;
mod doctor;
mod graph;
mod init;
mod lineage;
mod logs;
mod mark;
mod one_task;
mod output;
mod pause;
mod pools;
mod rerun;
mod run;
mod runs;
mod schedule;
mod schema;
mod show;
mod trigger;
mod ui;
mod validate;
mod versions;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use updraft_aws::kinds::LocalServices;
use updraft_core::state::{Run, RunState};
use updraft_engine::Engine;
use updraft_engine::usecase::RunRequest;
use updraft_local::launchers::ServiceKinds;
use updraft_local::lock::DevLock;
use updraft_local::{Local, LocalConfig, LocalEvents, QueueKind};

use crate::args::{AwsCommand, Backend, Cli, Command, Global, Output, PoolsCommand};
use crate::error::{CliError, CliResult};
use crate::progress::Progress;

/// Runs the command.
pub async fn run(cli: Cli) -> CliResult<ExitCode> {
    let ctx = Context {
        global: cli.global,
        aws: tokio::sync::OnceCell::new(),
        caller: tokio::sync::OnceCell::new(),
    };
    if ctx.global.backend == Backend::Aws
        && matches!(cli.command, Command::Dev { .. } | Command::Run { .. })
    {
        return Err(CliError::User(
            "`dev` and `run` execute on this machine (--backend local); on AWS the planner, dispatcher and recorder functions do their work".into(),
        ));
    }
    match cli.command {
        Command::Validate { paths } => validate::validate(&ctx, paths),
        Command::Schema { pools } => schema::schema(pools),
        Command::Init { dir } => init::init(&dir),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            // Written whole, then printed, as every command's output is.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "updraft", &mut script);
            print!("{}", String::from_utf8_lossy(&script));
            Ok(ExitCode::SUCCESS)
        }
        Command::Graph { dag, format } => graph::graph(&ctx, &dag, format),
        Command::Render(args) => one_task::render(&ctx, &args).await,
        Command::Test { task, live } => one_task::test(&ctx, &task, live).await,
        Command::Supervise {
            exit_file,
            standby,
            argv,
        } => {
            let code = match exit_file {
                Some(exit_file) if !standby => updraft_local::process::supervise(&exit_file, &argv),
                _ => updraft_local::standby::serve_standby(),
            };
            Ok(ExitCode::from(code.clamp(0, 255) as u8))
        }
        Command::Aws {
            command: AwsCommand::Init { name },
        } => aws::init(&ctx, &name).await,
        Command::Deploy { paths } => deploy::deploy(&ctx, paths).await,
        Command::Dev {
            workers,
            tick,
            ui_port,
            no_ui,
            on_event,
        } => {
            let ui = (!no_ui).then(|| ui::Serving::local(ui_port));
            let events = match on_event {
                Some(command) => LocalEvents::Command(command),
                None => LocalEvents::Drop,
            };
            dev::dev(&ctx, workers, tick, ui, events).await
        }
        Command::Ui {
            port,
            bind,
            allowed_hosts,
            read_only,
            show_env,
            open,
        } => {
            let serving = ui::Serving {
                addr: std::net::SocketAddr::new(bind, port),
                allowed_hosts,
                read_only,
                show_env,
                open,
            };
            ui::ui(&ctx, serving).await
        }
        Command::Run { run, workers } => {
            let request = ctx.run_request(&run.params, run.labels, run.note).await?;
            run::run(&ctx, &run.dag, request, workers).await
        }
        Command::Trigger { run, wait } => {
            let request = ctx.run_request(&run.params, run.labels, run.note).await?;
            trigger::trigger(&ctx, &run.dag, request, wait).await
        }
        Command::Rerun {
            dag,
            run_id,
            tasks,
            downstream,
            upstream,
            failed,
            map_index,
            note,
            wait,
        } => {
            let request = rerun::request(tasks, downstream, upstream, failed, map_index)?;
            rerun::rerun(&ctx, &dag, &run_id, &request, note, wait).await
        }
        Command::Runs {
            dag,
            states,
            label,
            since,
            until,
            params,
            produced,
            triggered_by,
            note_contains,
            columns,
            wheres,
            sort,
            limit,
        } => {
            let filters = updraft_engine::usecase::RunFilters {
                triggered_by,
                note_contains,
                columns,
                wheres,
                sort,
                dag,
                states,
                label,
                since,
                until,
                params,
                produced,
                limit,
            };
            runs::runs(&ctx, filters).await
        }
        Command::Output {
            dag,
            run_id,
            task,
            map_index,
        } => output::output(&ctx, &dag, &run_id, &task, map_index).await,
        Command::Lineage { target } => lineage::lineage(&ctx, &target).await,
        Command::Show { dag, run_id } => show::show(&ctx, &dag, &run_id).await,
        Command::Logs {
            dag,
            run_id,
            task,
            map_index,
            try_number,
        } => logs::logs(&ctx, &dag, &run_id, &task, (map_index, try_number)).await,
        Command::Mark {
            dag,
            run_id,
            task,
            state,
            map_index,
        } => mark::mark(&ctx, &dag, &run_id, &task, &state, map_index).await,
        Command::Approve {
            dag,
            run_id,
            task,
            choice,
            note,
        } => mark::approve(&ctx, &dag, &run_id, &task, &choice, note.as_deref()).await,
        Command::Cancel { dag, run_id, note } => mark::cancel(&ctx, &dag, &run_id, note).await,
        Command::Backfill {
            dag,
            from,
            to,
            rerun_failed,
        } => backfill::backfill(&ctx, &dag, &from, &to, rerun_failed).await,
        Command::Schedule {
            dag,
            next,
            from,
            to,
        } => {
            let range = from.as_deref().zip(to.as_deref());
            schedule::schedule(&ctx, &dag, next.unwrap_or(10), range).await
        }
        Command::Compare { dag, run_ids } => compare::compare(&ctx, &dag, &run_ids).await,
        Command::Versions { dag } => versions::versions(&ctx, &dag).await,
        Command::Diff { dag, from, to } => versions::diff(&ctx, &dag, &from, &to).await,
        Command::Doctor => doctor::doctor(&ctx).await,
        Command::Pools { command } => match command {
            None => pools::list(&ctx).await,
            Some(PoolsCommand::Set { name, slots }) => pools::set(&ctx, &name, Some(slots)).await,
            Some(PoolsCommand::Reset { name }) => pools::set(&ctx, &name, None).await,
        },
        Command::Clean {
            older_than,
            dry_run,
        } => clean::clean(&ctx, older_than.as_deref(), dry_run).await,
        Command::Pause { dag } => pause::set_paused(&ctx, &dag, true).await,
        Command::Unpause { dag } => pause::set_paused(&ctx, &dag, false).await,
    }
}

/// What every command has: the global options, and the AWS engine once
/// built.
pub struct Context {
    global: Global,
    aws: tokio::sync::OnceCell<Arc<Engine>>,
    caller: tokio::sync::OnceCell<String>,
}

impl Context {
    fn json(&self) -> bool {
        self.global.output == Output::Json
    }

    fn config(&self, events: LocalEvents) -> LocalConfig {
        LocalConfig {
            state: self.global.state_dir.clone(),
            specs: self.global.specs.clone(),
            supervisor: std::env::current_exe().ok(),
            events,
            services: Some(ServiceKinds(Arc::new(LocalServices::new(
                &self.global.state_dir,
            )))),
        }
    }

    /// Local mode with progress lines, keeping the events of its changes
    /// for `updraft dev`.
    fn local(&self, queue: QueueKind) -> CliResult<Local> {
        self.local_with(queue, LocalEvents::Keep)
    }

    /// Local mode with progress lines, its events going as `events` says.
    fn local_with(&self, queue: QueueKind, events: LocalEvents) -> CliResult<Local> {
        let progress = Arc::new(Progress::new(
            self.json(),
            std::env::var_os("UPDRAFT_VERBOSE").is_some(),
        ));
        Ok(Local::open(&self.config(events), queue, progress)?)
    }

    /// An engine for commands that only read or change state, on the
    /// chosen backend.
    async fn engine(&self) -> CliResult<Arc<Engine>> {
        match self.global.backend {
            Backend::Local => Ok(self.local(QueueKind::Shared)?.engine),
            Backend::Aws => {
                let engine = self.aws.get_or_try_init(|| aws::engine(self)).await?;
                Ok(engine.clone())
            }
        }
    }

    /// Who is asking, fetched once per call: `user@host` locally, the
    /// identity ARN on AWS.
    async fn caller(&self) -> CliResult<String> {
        let who = self
            .caller
            .get_or_try_init(|| async {
                match self.global.backend {
                    Backend::Local => Ok(updraft_local::caller()),
                    Backend::Aws => aws::caller(self).await,
                }
            })
            .await?;
        Ok(who.clone())
    }

    /// A run made by the caller, as `trigger` and `run` were asked.
    async fn run_request(
        &self,
        params: &[String],
        labels: Vec<String>,
        note: Option<String>,
    ) -> CliResult<RunRequest> {
        Ok(RunRequest {
            params: parse_params(params)?,
            labels,
            note,
            triggered_by: self.caller().await?,
            parent: None,
        })
    }

    /// Whether something executes queued tries: a `dev` loop on the state
    /// directory, or on AWS the functions, always.
    fn dev_running(&self) -> CliResult<bool> {
        if self.global.backend == Backend::Aws {
            return Ok(true);
        }
        DevLock::is_held(&self.global.state_dir).map_err(|e| {
            CliError::Infra(format!(
                "checking {}/dev.lock: {e}",
                self.global.state_dir.display()
            ))
        })
    }

    fn state_dir(&self) -> &PathBuf {
        &self.global.state_dir
    }
}

/// Prints JSON (a shape of `updraft_engine::json`, or a value) on stdout,
/// its keys in order.
fn print_json(value: &impl serde::Serialize) -> CliResult<()> {
    let text = serde_json::to_string_pretty(&updraft_engine::json::to_value(value))
        .map_err(|e| CliError::Infra(format!("printing JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// `key=value` params; a value that parses as JSON is taken as JSON.
fn parse_params(pairs: &[String]) -> CliResult<Map<String, Value>> {
    let mut params = Map::new();
    for pair in pairs {
        let (key, value) = updraft_engine::usecase::param_pair(pair)?;
        params.insert(key, value);
    }
    Ok(params)
}

/// Exit 0 for a run that succeeded, 1 otherwise.
fn run_exit(run: &Run) -> ExitCode {
    if run.state == RunState::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Waits for a run executed by `updraft dev` to end; fails with exit 2 if
/// no dev loop is (or stays) running.
async fn wait_for_run(ctx: &Context, engine: &Engine, dag: &str, run_id: &str) -> CliResult<Run> {
    let no_dev = || {
        CliError::Infra(format!(
            "no `updraft dev` is running on {}; start one to execute the run, or use `updraft run`",
            ctx.state_dir().display()
        ))
    };
    // `updraft dev` rings it as runs move; without one (no local state, a
    // path too long for a socket) this looks once a second.
    let doorbell = match ctx.global.backend {
        Backend::Local => updraft_local::doorbell::Doorbell::waiting(ctx.state_dir()).ok(),
        Backend::Aws => None,
    };
    loop {
        if !ctx.dev_running()? {
            return Err(no_dev());
        }
        let run = engine.find_run(dag, run_id).await?;
        if run.state.is_terminal() {
            return Ok(run);
        }
        let look_again = tokio::time::sleep(match doorbell {
            Some(_) => Duration::from_secs(1),
            None => Duration::from_millis(200),
        });
        match &doorbell {
            Some(doorbell) => {
                tokio::select! {
                    () = doorbell.rung() => {}
                    () = look_again => {}
                }
            }
            None => look_again.await,
        }
    }
}
