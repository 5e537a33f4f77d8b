//! Supervisors started ahead of need. Starting `updraft __supervise` costs
//! a few milliseconds (loading a large binary) before it can start a try;
//! a loop that keeps one spare supervisor waiting on its stdin hands the
//! next try over in a write, and a chain of tasks no longer waits for that
//! start between one task and the next.
//!
//! A spare reads one line, the [`Handoff`] as JSON, then runs the try as
//! `updraft __supervise --exit-file ... -- ARGV` would: same process group
//! (its own), same log, same exit file. A spare whose loop goes away, or
//! retires it after a while without tries, reads end-of-file and exits
//! without running anything.

use std::io::{self, BufRead};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

use crate::files::private_append;

/// What a spare supervisor is given to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// The try's argv.
    pub argv: Vec<String>,
    /// Variables added to the supervisor's own environment.
    pub env: Vec<(String, String)>,
    /// The log, appended to (stdout and stderr).
    pub log: PathBuf,
    /// Where the exit status goes.
    pub exit_file: PathBuf,
}

/// At most one spare supervisor, for the next try.
pub struct Standby {
    supervisor: PathBuf,
    /// The spare, and when it was started (at the last hand-off).
    spare: Mutex<Option<(Child, Instant)>>,
}

impl Standby {
    /// Spares of `supervisor` (the `updraft` binary); none is started
    /// until the first try.
    pub fn new(supervisor: PathBuf) -> Standby {
        Standby {
            supervisor,
            spare: Mutex::new(None),
        }
    }

    /// A supervisor running `handoff`: the spare if it is still there, else
    /// one started now. A new spare is started for the next try.
    pub async fn hand_off(&self, handoff: &Handoff) -> io::Result<Child> {
        let mut line = serde_json::to_vec(handoff)?;
        line.push(b'\n');
        let spare = self.take_spare();
        let child = match spare {
            Some(spare) => match give(spare, &line).await {
                Ok(child) => child,
                // It died waiting: a new one gets the try.
                Err(_) => give(self.start()?, &line).await?,
            },
            None => give(self.start()?, &line).await?,
        };
        if let Ok(next) = self.start() {
            *self.spare.lock().unwrap_or_else(|e| e.into_inner()) = Some((next, Instant::now()));
        }
        Ok(child)
    }

    /// Lets the spare go if no try was handed off for `idle`: a loop with
    /// nothing to run keeps no process waiting. Whether one was retired.
    pub async fn retire_if_idle(&self, idle: Duration) -> bool {
        let retired = {
            let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
            match spare.as_ref() {
                Some((_, since)) if since.elapsed() >= idle => spare.take(),
                _ => None,
            }
        };
        let Some((mut child, _)) = retired else {
            return false;
        };
        // End-of-file on its stdin: it exits having run nothing (one that
        // does not at once is left to the runtime to reap).
        drop(child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
        true
    }

    fn take_spare(&self) -> Option<Child> {
        let (mut spare, _) = self
            .spare
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        // One that has exited (killed by someone) is only reaped.
        match spare.try_wait() {
            Ok(None) => Some(spare),
            _ => None,
        }
    }

    fn start(&self) -> io::Result<Child> {
        Command::new(&self.supervisor)
            .args(["__supervise", "--standby"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(false)
            .spawn()
    }
}

/// Writes the handoff to a spare and closes its stdin.
async fn give(mut spare: Child, line: &[u8]) -> io::Result<Child> {
    let mut stdin = spare
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("a spare supervisor without stdin"))?;
    stdin.write_all(line).await?;
    drop(stdin);
    Ok(spare)
}

/// `updraft __supervise --standby`: waits for one [`Handoff`] on stdin and
/// runs it; the exit status, as `supervise` returns it. Nothing handed
/// over (the loop went away) exits 0 having run nothing.
pub fn serve_standby() -> i32 {
    let mut line = String::new();
    match io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => return 0,
        Ok(_) => {}
    }
    let Ok(handoff) = serde_json::from_str::<Handoff>(&line) else {
        return 125;
    };
    run_handoff(&handoff)
}

fn run_handoff(handoff: &Handoff) -> i32 {
    let opened = private_append(&handoff.log).and_then(|log| Ok((log.try_clone()?, log)));
    let Ok((stdout, mut stderr)) = opened else {
        let _ = crate::process::write_exit_file(&handoff.exit_file, 125);
        return 125;
    };
    let Some((program, args)) = handoff.argv.split_first() else {
        let _ = crate::process::write_exit_file(&handoff.exit_file, 127);
        return 127;
    };
    let mut command = std::process::Command::new(program);
    command
        .args(args)
        .envs(handoff.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr.try_clone().map_or(Stdio::null(), Stdio::from));
    crate::process::run_to_exit_file(command, &handoff.exit_file, &mut stderr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handoff_runs_with_its_environment_and_log_and_leaves_its_exit_status() {
        let dir = tempfile::tempdir().unwrap();
        let handoff = Handoff {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "echo \"$GREETING\"; exit 3".into(),
            ],
            env: vec![("GREETING".into(), "hello from a spare".into())],
            log: dir.path().join("1.log"),
            exit_file: dir.path().join("1.exit"),
        };
        assert_eq!(run_handoff(&handoff), 3);
        let log = std::fs::read_to_string(&handoff.log).unwrap();
        assert_eq!(log, "hello from a spare\n");
        assert_eq!(std::fs::read_to_string(&handoff.exit_file).unwrap(), "3");
    }

    #[tokio::test]
    async fn a_spare_left_idle_is_retired_and_exits_having_run_nothing() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // A stand-in for `updraft __supervise --standby`: it notes what it
        // was handed, or that its stdin closed first.
        let supervisor = dir.path().join("supervise");
        let script = format!(
            "#!/bin/sh\nif read -r line; then echo ran >> '{0}/ran'; else echo eof >> '{0}/retired'; fi\n",
            dir.path().display()
        );
        std::fs::write(&supervisor, script).unwrap();
        std::fs::set_permissions(&supervisor, std::fs::Permissions::from_mode(0o755)).unwrap();
        let standby = Standby::new(supervisor);
        let handoff = Handoff {
            argv: vec!["true".into()],
            env: vec![],
            log: dir.path().join("1.log"),
            exit_file: dir.path().join("1.exit"),
        };
        let mut first = standby.hand_off(&handoff).await.unwrap();
        first.wait().await.unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
        assert_eq!(read("ran"), "ran\n");

        assert!(
            !standby.retire_if_idle(Duration::from_secs(3600)).await,
            "just started"
        );
        assert_eq!(read("retired"), "");
        assert!(standby.retire_if_idle(Duration::ZERO).await);
        assert_eq!(read("retired"), "eof\n", "it exited on end-of-file");
        assert!(
            !standby.retire_if_idle(Duration::ZERO).await,
            "none is left"
        );

        // The next try starts a supervisor of its own, and a spare again.
        let mut second = standby.hand_off(&handoff).await.unwrap();
        second.wait().await.unwrap();
        assert_eq!(read("ran"), "ran\nran\n");
        assert!(standby.retire_if_idle(Duration::ZERO).await);
        assert_eq!(read("retired"), "eof\neof\n");
    }

    #[test]
    fn a_program_that_cannot_start_says_so_in_the_log_and_exits_127() {
        let dir = tempfile::tempdir().unwrap();
        let handoff = Handoff {
            argv: vec!["/nonexistent/program".into()],
            env: vec![],
            log: dir.path().join("1.log"),
            exit_file: dir.path().join("1.exit"),
        };
        assert_eq!(run_handoff(&handoff), 127);
        let log = std::fs::read_to_string(&handoff.log).unwrap();
        assert!(
            log.starts_with("[updraft] cannot start `/nonexistent/program`"),
            "{log}"
        );
        assert_eq!(std::fs::read_to_string(&handoff.exit_file).unwrap(), "127");
    }
}
