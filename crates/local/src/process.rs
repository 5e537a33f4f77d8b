//! Tries as local processes. Each runs its `command` argv directly (never
//! through a shell unless the argv itself is `sh -c ...`) in its own
//! process group, with stdout and stderr in
//! `<state>/logs/<dag>/<run_id>/<task>/<try>.log`.
//!
//! Next to the log, `<try>.pid` makes a launch idempotent (launching the
//! same try again returns the running one) and `<try>.exit` keeps the exit
//! status, written by a supervisor process, so that a `dev` loop killed
//! mid-run learns, when it restarts, how the tries it left behind ended.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc::UnboundedSender;
use updraft_core::plan::{MAX_OUTPUT_BYTES, Outcome};
use updraft_core::state::{Attempt, TaskKey};
use updraft_engine::ports::{
    Completion, HandleStatus, LOG_PAGE_BYTES, LaunchError, LaunchRequest, Launched, Launcher,
    LogPage, LogWindow, Look, PortError, PortResult, Probe,
};

use crate::files::{open_regular, private_append, private_dir};
use crate::standby::{Handoff, Standby};

/// A try that ended, for the loop that records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalCompletion {
    /// The DAG.
    pub dag: String,
    /// The run.
    pub run_id: String,
    /// The task instance.
    pub key: TaskKey,
    /// The try.
    pub try_number: u32,
    /// How it ended.
    pub completion: Completion,
}

/// Launches tries as processes and reports their ends on a channel.
pub struct ProcessLauncher {
    logs: PathBuf,
    supervisor: Option<Standby>,
    ended: UnboundedSender<LocalCompletion>,
    running: Arc<Mutex<HashSet<String>>>,
}

/// How long a stopped try gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

impl ProcessLauncher {
    /// Logs under `logs`; ends reported on `ended`. With a `supervisor`
    /// (the `updraft` binary), each try runs under `updraft __supervise`,
    /// which records its exit status even if this process dies.
    pub fn new(
        logs: PathBuf,
        supervisor: Option<PathBuf>,
        ended: UnboundedSender<LocalCompletion>,
    ) -> ProcessLauncher {
        ProcessLauncher {
            logs,
            supervisor: supervisor.map(Standby::new),
            ended,
            running: Arc::default(),
        }
    }

    /// Retires the spare supervisor if no try was handed off for `idle`.
    pub async fn retire_idle_spare(&self, idle: Duration) {
        if let Some(standby) = &self.supervisor {
            standby.retire_if_idle(idle).await;
        }
    }

    /// How many tries this launcher started that are still running.
    pub fn running(&self) -> usize {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// `<logs>/<dag>/<run_id>/<task>[<index>]/<try>`, without an extension.
    fn base(&self, request: &LaunchRequest) -> PathBuf {
        let task = match request.key.map_index {
            Some(i) => format!("{}[{i}]", request.key.task_id),
            None => request.key.task_id.to_string(),
        };
        self.logs
            .join(&request.dag)
            .join(&request.run_id)
            .join(task)
            .join(request.try_number.to_string())
    }
}

/// Removes every log and output file of a run under `logs` (`updraft
/// clean`); a run without any is fine. A name that could leave the
/// directory is refused.
pub fn remove_run_files(logs: &Path, dag: &str, run_id: &str) -> std::io::Result<()> {
    let safe = |name: &str| !name.is_empty() && !name.contains('/') && name != "..";
    if !safe(dag) || !safe(run_id) {
        return Err(std::io::Error::other(format!(
            "unsafe run path {dag}/{run_id}"
        )));
    }
    match std::fs::remove_dir_all(logs.join(dag).join(run_id)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// What a try finds in its environment: the task's own variables, then
/// updraft's (`UPDRAFT_OUTPUT` names `output`).
fn task_environment(request: &LaunchRequest, output: &Path) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = request
        .task
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut set = |name: &str, value: String| env.push((name.to_string(), value));
    set("UPDRAFT_DAG", request.dag.clone());
    set("UPDRAFT_RUN_ID", request.run_id.clone());
    set("UPDRAFT_TASK_ID", request.key.task_id.to_string());
    set("UPDRAFT_TRY_NUMBER", request.try_number.to_string());
    set("UPDRAFT_OUTPUT", output.display().to_string());
    if let Some(i) = request.key.map_index {
        set("UPDRAFT_MAP_INDEX", i.to_string());
    }
    if !request.task.hyperparameters.is_empty() {
        // As the SageMaker training toolkit passes them, so one script
        // reads them in both places.
        let json = serde_json::to_string(&request.task.hyperparameters).unwrap_or_default();
        set("SM_HPS", json);
    }
    env
}

/// Runs a try in the foreground, its log on this terminal, as `updraft
/// dev` would run it but recording nothing (`updraft test`); `output` is
/// the file it may write its output to.
pub async fn run_in_foreground(
    request: &LaunchRequest,
    output: &Path,
) -> Result<ExitStatus, String> {
    let argv = match &request.task.command {
        Some(argv) if !argv.is_empty() => argv,
        _ => return Err("the task has no `command`; in local mode every task needs one".into()),
    };
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .envs(task_environment(request, output))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", argv[0]))?;
    let limit = request.timeout.unwrap_or(Duration::MAX);
    match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => status.map_err(|e| format!("waiting for `{}`: {e}", argv[0])),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!(
                "the task ran longer than its timeout ({}) and was stopped",
                updraft_core::duration::format_duration(limit)
            ))
        }
    }
}

fn with_ext(base: &Path, ext: &str) -> PathBuf {
    let mut path = base.as_os_str().to_owned();
    path.push(".");
    path.push(ext);
    PathBuf::from(path)
}

/// Runs a sensor's command once, in its own process group, for at most
/// `limit`: exit 0 means the condition holds; past the limit it is killed
/// and counts as "not yet". A command that cannot start fails the try.
async fn probe_command(
    argv: &[String],
    env: &[(String, String)],
    limit: Duration,
) -> Result<bool, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("the sensor's `command` is empty".into());
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| format!("the sensor's command `{program}` cannot start: {e}"))?;
    match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) => Ok(status.success()),
        Ok(Err(e)) => Err(format!("the sensor's command `{program}`: {e}")),
        Err(_) => {
            if let Some(pid) = child.id() {
                signal_group(pid as i32, libc::SIGKILL);
            }
            let _ = child.wait().await;
            Ok(false)
        }
    }
}

/// `pid:<pid>@<base path>`: the process and where its files are.
fn handle_of(pid: u32, base: &Path) -> String {
    format!("pid:{pid}@{}", base.display())
}

fn parse_handle(handle: &str) -> PortResult<(i32, PathBuf)> {
    let parsed = handle
        .strip_prefix("pid:")
        .and_then(|rest| rest.split_once('@'))
        .and_then(|(pid, base)| {
            Some((
                pid.parse::<i32>().ok().filter(|p| *p > 0)?,
                PathBuf::from(base),
            ))
        });
    parsed.ok_or_else(|| PortError::msg(format!("`{handle}` is not a local process handle")))
}

/// The completion an exit status means.
pub fn completion_of(status: ExitStatus) -> Completion {
    match (status.code(), status.signal()) {
        (Some(0), _) => Completion {
            outcome: Outcome::Succeeded,
            exit_code: Some(0),
        },
        (Some(code), _) => Completion {
            outcome: Outcome::Failed {
                reason: format!("exit code {code}"),
            },
            exit_code: Some(code),
        },
        (None, Some(signal)) => Completion {
            outcome: Outcome::Failed {
                reason: format!("killed by signal {signal}"),
            },
            exit_code: Some(128 + signal),
        },
        (None, None) => Completion {
            outcome: Outcome::Failed {
                reason: "ended without a status".into(),
            },
            exit_code: None,
        },
    }
}

fn completion_of_code(code: i32) -> Completion {
    match code {
        0 => Completion {
            outcome: Outcome::Succeeded,
            exit_code: Some(0),
        },
        code => Completion {
            outcome: Outcome::Failed {
                reason: format!("exit code {code}"),
            },
            exit_code: Some(code),
        },
    }
}

/// Writes the exit file atomically, so a reader never sees half of it.
pub fn write_exit_file(path: &Path, code: i32) -> std::io::Result<()> {
    let tmp = with_ext(path, "tmp");
    fs::write(&tmp, code.to_string())?;
    fs::rename(tmp, path)
}

/// The byte range of a log of `len` bytes a window reads: at most
/// [`LOG_PAGE_BYTES`], cursors being byte offsets.
fn log_span(window: &LogWindow, len: u64) -> PortResult<(u64, u64)> {
    let page = LOG_PAGE_BYTES as u64;
    let offset = |cursor: &str| {
        cursor
            .parse::<u64>()
            .map(|at| at.min(len))
            .map_err(|_| PortError::msg(format!("`{cursor}` is not a place in a local log")))
    };
    Ok(match window {
        LogWindow::Head => (0, len.min(page)),
        LogWindow::Tail => (len.saturating_sub(page), len),
        LogWindow::Before(cursor) => {
            let end = offset(cursor)?;
            (end.saturating_sub(page), end)
        }
        LogWindow::After(cursor) => {
            let start = offset(cursor)?;
            (start, len.min(start + page))
        }
    })
}

/// A succeeded try whose output is there but is not a regular file (a
/// FIFO, a device: reading it could block for ever) failed, saying why.
fn with_output_checked(completion: Completion, output: &Path) -> Completion {
    let irregular = fs::metadata(output).is_ok_and(|m| !m.is_file());
    match completion.outcome {
        Outcome::Succeeded if irregular => Completion {
            outcome: Outcome::Failed {
                reason: "its UPDRAFT_OUTPUT is not a regular file; write a JSON object to the file it names".into(),
            },
            ..completion
        },
        _ => completion,
    }
}

fn read_exit_file(path: &Path) -> Option<i32> {
    let mut text = String::new();
    open_regular(path).ok()??.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn alive(pid: i32) -> bool {
    // Signal 0 checks that the process exists without touching it.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn signal_group(pid: i32, signal: i32) {
    // The try runs in its own process group, led by `pid`.
    unsafe {
        libc::kill(-pid, signal);
    }
}

#[async_trait]
impl Launcher for ProcessLauncher {
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, LaunchError> {
        let base = self.base(request);
        let log = with_ext(&base, "log");
        let pid_file = with_ext(&base, "pid");
        if let Some(pid) = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        {
            return Ok(Launched {
                handle: handle_of(pid, &base),
                log: Some(log.display().to_string()),
                output: Some(with_ext(&base, "output.json").display().to_string()),
            });
        }

        let argv = match &request.task.command {
            Some(argv) if !argv.is_empty() => argv.clone(),
            _ => {
                return Err(LaunchError::Refused(
                    "the task has no `command`; in local mode every task needs one".into(),
                ));
            }
        };
        let dir = base.parent().unwrap_or(&self.logs);
        private_dir(dir).map_err(|e| PortError::new(&format!("creating {}", dir.display()), e))?;
        let mut log_file: File = private_append(&log)
            .map_err(|e| PortError::new(&format!("opening {}", log.display()), e))?;
        if let Some(image) = &request.task.image {
            let _ = writeln!(
                log_file,
                "[updraft] local mode: image {image} is not used; the command runs on this machine"
            );
        }
        let exit_file = with_ext(&base, "exit");
        let env = task_environment(request, &with_ext(&base, "output.json"));
        let cannot_start = |e: std::io::Error, program: &str| {
            let line = format!("cannot start `{program}`: {e}");
            match e.kind() {
                // Too many processes or open files for now: that passes.
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => {
                    LaunchError::Unavailable(PortError::msg(line))
                }
                _ => LaunchError::Refused(line),
            }
        };
        let mut child = match &self.supervisor {
            Some(standby) => {
                drop(log_file);
                let handoff = Handoff {
                    argv,
                    env,
                    log: log.clone(),
                    exit_file: exit_file.clone(),
                };
                standby
                    .hand_off(&handoff)
                    .await
                    .map_err(|e| cannot_start(e, "updraft __supervise"))?
            }
            None => {
                let stderr = log_file
                    .try_clone()
                    .map_err(|e| PortError::new("opening the log", e))?;
                tokio::process::Command::new(&argv[0])
                    .args(&argv[1..])
                    .envs(env)
                    .stdin(Stdio::null())
                    .stdout(log_file)
                    .stderr(stderr)
                    .process_group(0)
                    .kill_on_drop(false)
                    .spawn()
                    .map_err(|e| cannot_start(e, &argv[0]))?
            }
        };
        let pid = child.id().unwrap_or_default();
        // Nothing may fail once the try started: without its pid file a
        // relaunch of this try could not find it, which only matters if
        // recording the launch fails too.
        let _ = fs::write(&pid_file, pid.to_string());
        let handle = handle_of(pid, &base);
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(handle.clone());

        let (running, ended, done_handle) =
            (self.running.clone(), self.ended.clone(), handle.clone());
        let (dag, run_id, key, try_number) = (
            request.dag.clone(),
            request.run_id.clone(),
            request.key.clone(),
            request.try_number,
        );
        // A supervisor writes the exit file itself; without one, the waiter
        // does. Writing it twice would only replace one file with another.
        let exit_file = self.supervisor.is_none().then_some(exit_file);
        let output = with_ext(&base, "output.json");
        tokio::spawn(async move {
            let completion = match child.wait().await {
                Ok(status) => {
                    let completion = completion_of(status);
                    if let Some(exit_file) = exit_file {
                        let _ = write_exit_file(&exit_file, completion.exit_code.unwrap_or(-1));
                    }
                    with_output_checked(completion, &output)
                }
                Err(e) => Completion {
                    outcome: Outcome::Failed {
                        reason: format!("lost the process: {e}"),
                    },
                    exit_code: None,
                },
            };
            running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&done_handle);
            let _ = ended.send(LocalCompletion {
                dag,
                run_id,
                key,
                try_number,
                completion,
            });
        });
        Ok(Launched {
            handle,
            log: Some(log.display().to_string()),
            output: Some(with_ext(&base, "output.json").display().to_string()),
        })
    }

    async fn describe(&self, handle: &str) -> PortResult<HandleStatus> {
        let (pid, base) = parse_handle(handle)?;
        let exit_file = with_ext(&base, "exit");
        let output = with_ext(&base, "output.json");
        let ended =
            |code| HandleStatus::Ended(with_output_checked(completion_of_code(code), &output));
        if let Some(code) = read_exit_file(&exit_file) {
            return Ok(ended(code));
        }
        let ours = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(handle);
        if ours || alive(pid) {
            return Ok(HandleStatus::Running);
        }
        // The try may have ended between the first look and now: it writes
        // its exit status before it is gone, so look again before calling
        // it lost.
        Ok(match read_exit_file(&exit_file) {
            Some(code) => ended(code),
            None => HandleStatus::Lost,
        })
    }

    async fn stop(&self, handle: &str) -> PortResult<()> {
        let (pid, base) = parse_handle(handle)?;
        // An ended try's pid may be another process's by now.
        if read_exit_file(&with_ext(&base, "exit")).is_some() {
            return Ok(());
        }
        signal_group(pid, libc::SIGTERM);
        tokio::spawn(async move {
            tokio::time::sleep(STOP_GRACE).await;
            if alive(pid) {
                signal_group(pid, libc::SIGKILL);
            }
        });
        Ok(())
    }

    async fn probe(&self, probe: &Probe) -> PortResult<Look> {
        let found = match probe {
            Probe::File(path) if path.starts_with("s3://") => Err(format!(
                "{path}: locally a `wait_for: file` is a path; an S3 object is waited for with `kind: aws` (HeadObject)"
            )),
            Probe::File(path) => Ok(Path::new(path).exists()),
            Probe::Command { argv, env, limit } => probe_command(argv, env, *limit).await,
            Probe::Service(_) => Err(format!(
                "{} calls AWS: processes cannot look at it",
                probe.describe()
            )),
        };
        Ok(Look::from(found))
    }

    async fn read_output(&self, attempt: &Attempt) -> PortResult<Option<String>> {
        let Some(handle) = &attempt.handle else {
            return Ok(None);
        };
        let (_, base) = parse_handle(handle)?;
        let path = with_ext(&base, "output.json");
        let reading = |e| PortError::new(&format!("reading {}", path.display()), e);
        let Some(file) = open_regular(&path).map_err(reading)? else {
            return Ok(None);
        };
        // One byte past the limit is enough to refuse it.
        let mut bytes = Vec::new();
        file.take(MAX_OUTPUT_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(reading)?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    async fn logs(&self, attempt: &Attempt, window: &LogWindow) -> PortResult<LogPage> {
        let Some(log) = &attempt.log else {
            return Ok(LogPage::default());
        };
        let reading = |e| PortError::new(&format!("reading {log}"), e);
        let Some(mut file) = open_regular(Path::new(log)).map_err(reading)? else {
            return Ok(LogPage::default());
        };
        let len = file.metadata().map_err(reading)?.len();
        let (start, end) = log_span(window, len)?;
        file.seek(SeekFrom::Start(start)).map_err(reading)?;
        let mut bytes = Vec::new();
        file.take(end - start)
            .read_to_end(&mut bytes)
            .map_err(reading)?;
        Ok(LogPage {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            earlier: (start > 0).then(|| start.to_string()),
            later: Some((start + bytes.len() as u64).to_string()),
        })
    }
}

/// Runs `argv` with inherited stdio, waits, writes its exit status to
/// `exit_file` and returns it: `updraft __supervise`.
pub fn supervise(exit_file: &Path, argv: &[String]) -> i32 {
    let Some((program, args)) = argv.split_first() else {
        return 127;
    };
    let mut command = std::process::Command::new(program);
    command.args(args);
    run_to_exit_file(command, exit_file, &mut std::io::stderr())
}

/// Runs `command` to its end, saying on `report` why it could not start
/// (exit code 127); writes its exit code to `exit_file` and returns it.
pub fn run_to_exit_file(
    mut command: std::process::Command,
    exit_file: &Path,
    report: &mut dyn Write,
) -> i32 {
    let code = match command.status() {
        Ok(status) => completion_of(status).exit_code.unwrap_or(1),
        Err(e) => {
            let program = command.get_program().to_string_lossy();
            let _ = writeln!(report, "[updraft] cannot start `{program}`: {e}");
            127
        }
    };
    let _ = write_exit_file(exit_file, code);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A try whose process is gone is ended if it left its exit status
    /// (written before it exits), lost only if it did not.
    #[tokio::test]
    async fn a_gone_try_is_ended_by_its_exit_status_or_lost_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let (ended, _) = tokio::sync::mpsc::unbounded_channel();
        let launcher = ProcessLauncher::new(dir.path().to_path_buf(), None, ended);
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let base = dir.path().join("a/1");
        fs::create_dir_all(dir.path().join("a")).unwrap();
        let handle = handle_of(gone.id(), &base);
        assert_eq!(
            launcher.describe(&handle).await.unwrap(),
            HandleStatus::Lost
        );
        write_exit_file(&with_ext(&base, "exit"), 3).unwrap();
        let HandleStatus::Ended(completion) = launcher.describe(&handle).await.unwrap() else {
            panic!("ended");
        };
        assert_eq!(completion.exit_code, Some(3));
        let own = handle_of(std::process::id(), &dir.path().join("b/1"));
        assert_eq!(
            launcher.describe(&own).await.unwrap(),
            HandleStatus::Running
        );
    }

    /// Issue 11: a huge output is not read whole: one byte past the limit,
    /// and the try fails saying why.
    #[tokio::test]
    async fn a_huge_output_is_read_only_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (ended, _) = tokio::sync::mpsc::unbounded_channel();
        let launcher = ProcessLauncher::new(dir.path().to_path_buf(), None, ended);
        let base = dir.path().join("a/1");
        fs::create_dir_all(dir.path().join("a")).unwrap();
        let huge = format!("{{\"x\": \"{}\"}}", "a".repeat(8 * 1024 * 1024));
        fs::write(with_ext(&base, "output.json"), huge).unwrap();
        let attempt = Attempt {
            handle: Some(handle_of(1, &base)),
            ..Attempt::new(
                TaskKey::task(updraft_core::ids::TaskId::parse("a").unwrap()),
                1,
                updraft_core::state::TaskState::Running,
            )
        };
        let read = launcher.read_output(&attempt).await.unwrap().unwrap();
        assert_eq!(read.len(), MAX_OUTPUT_BYTES + 1);
        let why = updraft_core::plan::parse_output(&read).unwrap_err();
        assert!(
            why.starts_with("output is larger than 262144 bytes"),
            "{why}"
        );
    }
}
