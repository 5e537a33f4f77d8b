//! The command line (docs/cli.md). Global options are accepted before or
//! after the subcommand and each is also read from an environment variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// updraft: DAGs on AWS managed services that cost nothing while idle, or
/// on this machine with SQLite and local processes.
#[derive(Debug, Parser)]
#[command(name = "updraft", version, about, propagate_version = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Where runs execute and state lives.
    #[arg(long, global = true, env = "UPDRAFT_BACKEND", value_enum, default_value_t = Backend::Local)]
    pub backend: Backend,
    /// The local state directory. (`runs --state` filters by run state.)
    #[arg(long, global = true, env = "UPDRAFT_STATE", default_value = ".updraft")]
    pub state_dir: PathBuf,
    /// The directory of DAG specs.
    #[arg(
        long,
        global = true,
        env = "UPDRAFT_SPECS",
        default_value = "dag-specs"
    )]
    pub specs: PathBuf,
    /// The CloudFormation stack whose outputs name the deployment's
    /// resources (--backend aws); UPDRAFT_* variables override them.
    #[arg(long, global = true, env = "UPDRAFT_STACK")]
    pub stack: Option<String>,
    /// An AWS-compatible endpoint (moto, LocalStack); the SDK also reads AWS_ENDPOINT_URL.
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// The AWS region (else the standard chain: AWS_REGION, the profile).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// A named AWS profile.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// How read commands print. (No environment variable: UPDRAFT_OUTPUT
    /// is where a task writes its output.)
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Where runs execute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// This machine: SQLite and local processes.
    Local,
    /// AWS: DynamoDB, SQS, ECS, SageMaker.
    Aws,
}

/// How read commands print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables and lines for people.
    Text,
    /// JSON for programs.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check specs; print every problem as file:line:col: reason.
    Validate {
        /// Spec files or directories (default: the spec directory).
        paths: Vec<PathBuf>,
    },
    /// Run the scheduler and workers on this machine until Ctrl-C.
    Dev {
        /// Tries that run at once (default: the number of cores).
        #[arg(long)]
        workers: Option<usize>,
        /// Seconds between scheduler ticks.
        #[arg(long, default_value_t = 2.0)]
        tick: f64,
        /// The port of the dashboard served beside the loop (0: any free port).
        #[arg(long, default_value_t = 8080, conflicts_with = "no_ui")]
        ui_port: u16,
        /// Serve no dashboard.
        #[arg(long)]
        no_ui: bool,
        /// Run COMMAND (with `sh -c`) for each run state change and failed
        /// try, the event's JSON on its stdin.
        #[arg(long, value_name = "COMMAND")]
        on_event: Option<String>,
    },
    /// Serve the dashboard over the selected backend until Ctrl-C.
    Ui {
        /// The port (0: any free port; the address is printed).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The address to listen on; anything but loopback is announced with a warning.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// Also answer requests for this host name (repeatable): the name
        /// people open the dashboard by, when it is not the bound address.
        #[arg(long = "allowed-host", value_name = "NAME")]
        allowed_hosts: Vec<String>,
        /// Show no action and refuse every change (403).
        #[arg(long)]
        read_only: bool,
        /// Show the values of tries' environment variables, not only their
        /// names (not with --read-only: values may be secrets).
        #[arg(long, conflicts_with = "read_only")]
        show_env: bool,
        /// Open the dashboard in the default browser.
        #[arg(long)]
        open: bool,
    },
    /// Trigger a run and execute it here, in the foreground; exit 0 if it succeeds.
    Run {
        #[command(flatten)]
        run: NewRun,
        /// Tries that run at once (default: the number of cores).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Trigger a manual run, executed by `updraft dev`.
    Trigger {
        #[command(flatten)]
        run: NewRun,
        /// Wait until the run ends; exit 0 if it succeeded, 1 if it failed.
        #[arg(long)]
        wait: bool,
    },
    /// Run tasks of a run again, from any state of the run.
    Rerun {
        /// The DAG.
        dag: String,
        /// The run.
        run_id: String,
        /// Tasks to rerun (default: every task).
        tasks: Vec<String>,
        /// Also every task downstream of them.
        #[arg(long)]
        downstream: bool,
        /// Also every task upstream of them.
        #[arg(long)]
        upstream: bool,
        /// Only tasks that failed or could not run because of a failure.
        #[arg(long)]
        failed: bool,
        /// Only this mapped instance of the named tasks.
        #[arg(long)]
        map_index: Option<u32>,
        /// A free-text line that becomes the run's note (kept in its audit entry too).
        #[arg(long)]
        note: Option<String>,
        /// Wait until the run ends; exit 0 if it succeeded, 1 if it failed.
        #[arg(long)]
        wait: bool,
    },
    /// List runs, newest first.
    Runs {
        /// Only this DAG.
        dag: Option<String>,
        /// Only runs in this state (repeatable).
        #[arg(long = "state", value_name = "STATE")]
        states: Vec<String>,
        /// Only runs with this label.
        #[arg(long)]
        label: Option<String>,
        /// Only runs created since: 2026-11-21, 2026-11-21T09:00, RFC 3339 (UTC unless it has an offset).
        #[arg(long)]
        since: Option<String>,
        /// Only runs created until then (a date covers that whole day).
        #[arg(long)]
        until: Option<String>,
        /// Only runs whose param has this value: key=value (repeatable).
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Only runs that produced this artifact URI.
        #[arg(long)]
        produced: Option<String>,
        /// Only runs made by this caller (`user@host`, an AWS ARN, `schedule`).
        #[arg(long)]
        triggered_by: Option<String>,
        /// Only runs whose note contains this text (in any case).
        #[arg(long)]
        note_contains: Option<String>,
        /// Columns to show: run_id, state, duration, params.KEY, metrics.TASK.NAME, ... (comma-separated).
        #[arg(long)]
        columns: Option<String>,
        /// Only runs where COLUMN OP VALUE holds (OP: = != < <= > >=); repeatable.
        #[arg(long = "where", value_name = "COLUMN OP VALUE")]
        wheres: Vec<String>,
        /// Order by these columns (comma-separated; `-column` for largest first).
        #[arg(long, allow_hyphen_values = true)]
        sort: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show a run: each task's state, try, start and duration.
    Show {
        /// The DAG.
        dag: String,
        /// The run.
        run_id: String,
    },
    /// Print the log of a task's try (the latest by default).
    Logs {
        /// The DAG.
        dag: String,
        /// The run.
        run_id: String,
        /// The task.
        task: String,
        /// Which mapped instance, for a mapped task.
        #[arg(long)]
        map_index: Option<u32>,
        /// Which try.
        #[arg(long = "try")]
        try_number: Option<u32>,
    },
    /// Print a task's output JSON whole.
    Output {
        /// The DAG.
        dag: String,
        /// The run.
        run_id: String,
        /// The task.
        task: String,
        /// Which mapped instance.
        #[arg(long)]
        map_index: Option<u32>,
    },
    /// Who produced and consumed an artifact (URI), or what a run (DAG RUN_ID) produced and consumed.
    Lineage {
        /// An artifact URI, or a DAG followed by a run id.
        #[arg(required = true, num_args = 1..=2, value_name = "URI | DAG RUN_ID")]
        target: Vec<String>,
    },
    /// Set a task's state by hand: success or failed.
    Mark {
        /// The DAG.
        dag: String,
        /// The run.
        run_id: String,
        /// The task.
        task: String,
        /// success or failed.
        state: String,
        /// Which mapped instance.
        #[arg(long)]
        map_index: Option<u32>,
    },
    /// Decide what an approval task asks: one of its options.
    Approve {
        /// The DAG.
        dag: String,
        /// The run.
        run_id: String,
        /// The approval task.
        task: String,
        /// The choice (approve, reject, or one of the task's options).
        #[arg(long)]
        choice: String,
        /// Why, kept with the decision.
        #[arg(long)]
        note: Option<String>,
    },
    /// Stop a run: its tries in flight are stopped, what waits is skipped,
    /// and the run ends cancelled.
    Cancel {
        /// The DAG.
        dag: String,
        /// The run.
        run_id: String,
        /// Why, kept with the run's audit entries.
        #[arg(long)]
        note: Option<String>,
    },
    /// Create runs for the schedule points between two dates.
    Backfill {
        /// The DAG.
        dag: String,
        /// First date (or date-time), included.
        #[arg(long)]
        from: String,
        /// Last date (or date-time), included.
        #[arg(long)]
        to: String,
        /// Rerun the failed tasks of failed runs in the range instead of skipping them.
        #[arg(long)]
        rerun_failed: bool,
    },
    /// List the runs a DAG's schedule makes, without creating any: run id,
    /// logical date and data interval, DST changes marked.
    Schedule {
        /// The DAG.
        dag: String,
        /// How many points after now (default 10).
        #[arg(long, conflicts_with = "from")]
        next: Option<usize>,
        /// First date (or date-time) of a range, included; with --to.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// Last date (or date-time) of a range, included; with --from.
        #[arg(long, requires = "from")]
        to: Option<String>,
    },
    /// Runs side by side: who, note, params, metrics, tasks, artifacts and
    /// how their specs differ.
    Compare {
        /// The DAG.
        dag: String,
        /// Two runs or more; the first is the baseline.
        #[arg(required = true, num_args = 2..)]
        run_ids: Vec<String>,
    },
    /// A DAG's stored spec versions: when each was first seen, how many runs used it.
    Versions {
        /// The DAG.
        dag: String,
    },
    /// What changed between two stored spec versions (short prefixes accepted).
    Diff {
        /// The DAG.
        dag: String,
        /// The version to compare from.
        from: String,
        /// The version to compare to.
        to: String,
    },
    /// Delete ended runs past their DAG's `retention` (400 days unless it
    /// says), never a DAG's latest run, with their logs.
    Clean {
        /// Every DAG's retention instead, e.g. 90d.
        #[arg(long)]
        older_than: Option<String>,
        /// List what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Stop creating scheduled runs of a DAG.
    Pause {
        /// The DAG.
        dag: String,
    },
    /// Resume creating scheduled runs of a DAG.
    Unpause {
        /// The DAG.
        dag: String,
    },
    /// Check a deployment, one line each: locally the state directory and
    /// whether `dev` runs; on AWS the stack's outputs and rules, the
    /// planner's last tick, the dead-letter queue and the functions'
    /// errors; on both, import errors and tries past their timeout. Exits
    /// 1 when something is wrong.
    Doctor,
    /// Pools and DAG limits: slots, used, waiting, and the tries holding them.
    Pools {
        /// Change a pool (without: list them).
        #[command(subcommand)]
        command: Option<PoolsCommand>,
    },
    /// Print one task rendered for a run: command, environment,
    /// hyperparameters, artifacts, and the run's dates in the DAG's zone.
    Render(OneTask),
    /// Run one task here in the foreground, its log on the terminal, and
    /// print its output; records nothing.
    Test {
        /// The task.
        #[command(flatten)]
        task: OneTask,
        /// For a task of a service kind: send its calls with your AWS
        /// credentials and wait for its end (without it, nothing is sent).
        #[arg(long)]
        live: bool,
    },

    /// Draw a DAG's tasks and edges (mapped tasks marked).
    Graph {
        /// The DAG.
        dag: String,
        /// text for a terminal, mermaid for Markdown, dot for Graphviz.
        #[arg(long, value_enum, default_value_t = GraphStyle::Text)]
        format: GraphStyle,
    },
    /// Start a project: a commented example spec, the schema for editors
    /// and a .gitignore for the state directory.
    Init {
        /// Where (default: here); created if missing.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Print a completion script for a shell (see docs/cli.md to install it).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the JSON Schema of a DAG spec (or of pools.yaml), for editors.
    Schema {
        /// The schema of pools.yaml instead.
        #[arg(long)]
        pools: bool,
    },
    /// Validate specs, then upload them to the stack's bucket (--backend aws).
    Deploy {
        /// Spec files or directories (default: the spec directory).
        paths: Vec<PathBuf>,
    },
    /// Work with AWS resources.
    Aws {
        /// What to do.
        #[command(subcommand)]
        command: AwsCommand,
    },
    /// Runs one try and records its exit status (used by `updraft dev`).
    #[command(name = "__supervise", hide = true)]
    Supervise {
        /// Where to write the exit status.
        #[arg(long, required_unless_present = "standby")]
        exit_file: Option<PathBuf>,
        /// Wait for the try on stdin, as a spare the loop started ahead.
        #[arg(long, conflicts_with_all = ["exit_file", "argv"])]
        standby: bool,
        /// The argv.
        #[arg(last = true, required_unless_present = "standby")]
        argv: Vec<String>,
    },
}

/// A manual run to make: `run` and `trigger` ask the same.
#[derive(Debug, Args)]
pub struct NewRun {
    /// The DAG.
    pub dag: String,
    /// Params overriding the spec's: key=value (the value is JSON if it parses as JSON).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Labels for finding the run later.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// A free-text line kept on the run, shown by `runs` and `show`.
    #[arg(long)]
    pub note: Option<String>,
}

/// One task of the spec directory, for the run a date makes.
#[derive(Debug, Args)]
pub struct OneTask {
    /// The DAG.
    pub dag: String,
    /// The task.
    pub task: String,
    /// The run's logical date: the schedule point on that local date, or a
    /// manual run at that instant (default: a manual run now).
    #[arg(long)]
    pub date: Option<String>,
    /// Params overriding the spec's: key=value (the value is JSON if it parses as JSON).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Upstream outputs: a run id whose outputs to read, or a JSON file of
    /// outputs by task id.
    #[arg(long, value_name = "RUN_ID | FILE")]
    pub outputs_from: Option<String>,
    /// Which instance of a mapped task (default 0).
    #[arg(long)]
    pub map_index: Option<u32>,
}

/// How `updraft graph` draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphStyle {
    /// One line per task, after its upstreams.
    Text,
    /// A Mermaid flowchart.
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

/// `updraft pools ...`.
#[derive(Debug, Subcommand)]
pub enum PoolsCommand {
    /// Give a pool this many slots now, over what pools.yaml declares.
    Set {
        /// The pool.
        name: String,
        /// Its slots (at least 1).
        slots: u32,
    },
    /// Give a pool back the slots pools.yaml declares.
    Reset {
        /// The pool.
        name: String,
    },
}

/// `updraft aws ...`.
#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// Create the table, queues, bucket and cluster on an AWS-compatible endpoint.
    Init {
        /// Prefix of the resource names.
        #[arg(long, default_value = "updraft")]
        name: String,
    },
}
