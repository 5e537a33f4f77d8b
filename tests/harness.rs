//! A harness for end-to-end tests: a temporary spec and state directory,
//! the real `updraft` binary run with a deadline, and a background
//! `updraft dev` that is killed when the test ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "lambda_runtime_api.rs"]
pub mod lambda;

/// The `updraft` binary: `UPDRAFT_BIN`, or the one `cargo build` put next
/// to this test's target directory.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("UPDRAFT_BIN") {
        return PathBuf::from(path);
    }
    built("updraft", "updraft-cli")
}

/// A binary `cargo build -p PACKAGE` put next to this test's target
/// directory.
pub fn built(name: &str, package: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let debug = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/debug/deps/<test>");
    let bin = debug.join(name);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p {package}` first (make test does)",
        bin.display()
    );
    bin
}

/// One test's world.
pub struct World {
    dir: tempfile::TempDir,
    env: std::cell::RefCell<Vec<(String, String)>>,
    unset: std::cell::RefCell<Vec<String>>,
}

/// What a command did.
pub struct Ran {
    /// Its exit code.
    pub code: i32,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Ran {
    /// Standard output as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    /// Asserts the exit code, showing the output if it differs.
    pub fn expect(self, code: i32) -> Ran {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A background `updraft dev`, killed on drop.
pub struct Dev {
    child: Child,
}

impl Dev {
    /// Its process id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Kills it with SIGKILL, as a crash would.
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    /// An empty spec directory and state directory.
    pub fn new() -> World {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir(dir.path().join("specs")).expect("the spec directory");
        World {
            dir,
            env: Default::default(),
            unset: Default::default(),
        }
    }

    /// An empty world whose `updraft` talks to the moto server, its
    /// resources made fresh by `updraft aws init --name <prefix>-…` and
    /// named in the environment as that command prints them.
    pub fn on_moto(prefix: &str) -> World {
        let world = World::new();
        world.set_env("AWS_ACCESS_KEY_ID", "test");
        world.set_env("AWS_SECRET_ACCESS_KEY", "test");
        world.set_env("AWS_REGION", "us-east-1");
        world.set_env("AWS_ENDPOINT_URL", &updraft_aws::testing::endpoint());
        world.set_env("UPDRAFT_BACKEND", "aws");
        let name = updraft_aws::testing::unique(prefix);
        let init = world.run(&["aws", "init", "--name", &name]).expect(0);
        for line in init.stdout.lines() {
            let (key, value) = line
                .strip_prefix("export ")
                .and_then(|l| l.split_once('='))
                .unwrap_or_else(|| panic!("`aws init` printed `{line}`, not an export"));
            world.set_env(key, value);
        }
        world
    }

    /// Sets an environment variable for every later command.
    pub fn set_env(&self, name: &str, value: &str) {
        self.env
            .borrow_mut()
            .push((name.to_string(), value.to_string()));
    }

    /// Removes a variable of this process's environment from every later
    /// command (one [`World::set_env`] sets still counts).
    pub fn unset_env(&self, name: &str) {
        self.unset.borrow_mut().push(name.to_string());
    }

    /// Every variable [`World::set_env`] set, in order.
    pub fn envs(&self) -> Vec<(String, String)> {
        self.env.borrow().clone()
    }

    /// The value [`World::set_env`] last gave a variable.
    pub fn env(&self, name: &str) -> Option<String> {
        self.env
            .borrow()
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// The temporary directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The state directory.
    pub fn state(&self) -> PathBuf {
        self.path().join("state")
    }

    /// Writes a spec file.
    pub fn spec(&self, name: &str, yaml: &str) {
        std::fs::write(self.path().join("specs").join(name), yaml).expect("spec written");
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary());
        for name in self.unset.borrow().iter() {
            command.env_remove(name);
        }
        command
            .args(args)
            .arg("--state-dir")
            .arg(self.state())
            .arg("--specs")
            .arg(self.path().join("specs"))
            .current_dir(self.path())
            .env_remove("UPDRAFT_BACKEND")
            .env("WORLD", self.path())
            .envs(
                self.env
                    .borrow()
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            );
        command
    }

    /// Runs `updraft ARGS` and waits for it, at most `limit`.
    pub fn run_for(&self, args: &[&str], limit: Duration) -> Ran {
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("updraft starts");
        finished(child, args, limit)
    }

    /// Runs `updraft ARGS` with its stdout a pipe whose reader is gone
    /// (`updraft ARGS | head` once `head` has exited).
    pub fn run_into_closed_pipe(&self, args: &[&str]) -> Ran {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let child = self
            .command(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .expect("updraft starts");
        finished(child, args, Duration::from_secs(60))
    }

    /// Runs `updraft ARGS` with a 60-second limit.
    pub fn run(&self, args: &[&str]) -> Ran {
        self.run_for(args, Duration::from_secs(60))
    }

    /// Starts `updraft dev` in the background, and waits until it holds its lock.
    pub fn dev(&self) -> Dev {
        self.dev_with(&["--no-ui"])
    }

    /// Starts `updraft dev` with its dashboard on a free port; gives the
    /// dashboard's address (`http://127.0.0.1:PORT`).
    pub fn dev_with_ui(&self) -> (Dev, String) {
        let dev = self.dev_with(&["--ui-port", "0"]);
        let mut url = None;
        let found = eventually(Duration::from_secs(20), || {
            url = served_at(&self.dev_output());
            url.is_some()
        });
        assert!(
            found,
            "updraft dev served no dashboard: {}",
            self.dev_output()
        );
        (dev, url.unwrap_or_default())
    }

    /// Starts `updraft ui ARGS` on a free port; gives it and its address.
    pub fn ui(&self, args: &[&str]) -> (Dev, String) {
        let log = std::fs::File::create(self.path().join("ui.out")).expect("ui log");
        let mut all = vec!["ui", "--port", "0"];
        all.extend_from_slice(args);
        let child = self
            .command(&all)
            .stdout(log.try_clone().expect("ui log"))
            .stderr(log)
            .spawn()
            .expect("updraft ui starts");
        let ui = Dev { child };
        let output = || std::fs::read_to_string(self.path().join("ui.out")).unwrap_or_default();
        let mut url = None;
        let found = eventually(Duration::from_secs(20), || {
            url = served_at(&output());
            url.is_some()
        });
        assert!(found, "updraft ui did not start: {}", output());
        (ui, url.unwrap_or_default())
    }

    /// Starts `updraft dev` with extra options.
    pub fn dev_with(&self, extra: &[&str]) -> Dev {
        let log = std::fs::File::create(self.path().join("dev.out")).expect("dev log");
        let mut args = vec!["dev", "--workers", "4"];
        if !extra.contains(&"--tick") {
            args.extend(["--tick", "0.3"]);
        }
        args.extend_from_slice(extra);
        let child = self
            .command(&args)
            .stdout(log.try_clone().expect("dev log"))
            .stderr(log)
            .spawn()
            .expect("updraft dev starts");
        let dev = Dev { child };
        let ready = eventually(Duration::from_secs(20), || {
            std::fs::read_to_string(self.path().join("dev.out"))
                .is_ok_and(|t| t.contains("updraft dev:"))
        });
        assert!(ready, "updraft dev did not start: {}", self.dev_output());
        dev
    }

    /// What the background dev printed.
    pub fn dev_output(&self) -> String {
        std::fs::read_to_string(self.path().join("dev.out")).unwrap_or_default()
    }

    /// `updraft show DAG RUN --output json`.
    pub fn show(&self, dag: &str, run_id: &str) -> Value {
        self.run(&["show", dag, run_id, "--output", "json"])
            .expect(0)
            .json()
    }

    /// The newest run of a DAG, as JSON.
    pub fn latest_run(&self, dag: &str) -> Value {
        let runs = self
            .run(&["runs", dag, "--output", "json"])
            .expect(0)
            .json();
        runs[0].clone()
    }

    /// (state, try_number) of one task in `show` JSON.
    pub fn task(show: &Value, task: &str) -> (String, u64) {
        let entry = show["tasks"]
            .as_array()
            .and_then(|tasks| tasks.iter().find(|t| t["task_id"] == task))
            .unwrap_or_else(|| panic!("no task {task} in {show}"));
        (
            entry["state"].as_str().unwrap_or_default().to_string(),
            entry["try_number"].as_u64().unwrap_or_default(),
        )
    }
}

/// The address a `updraft ui: http://HOST:PORT/ ...` line names.
fn served_at(output: &str) -> Option<String> {
    let line = output
        .lines()
        .find(|l| l.starts_with("updraft ui: http://"))?;
    let url = line
        .strip_prefix("updraft ui: ")?
        .split_whitespace()
        .next()?;
    Some(url.trim_end_matches('/').to_string())
}

/// The `start end` lines tasks appended to `WORLD/spans`, by their own
/// clocks.
pub fn spans(world: &World) -> Vec<(f64, f64)> {
    std::fs::read_to_string(world.path().join("spans"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (a, b) = l.split_once(' ').expect("a `start end` line");
            (a.parse().expect("a start"), b.parse().expect("an end"))
        })
        .collect()
}

/// The most spans that overlapped at any one start.
pub fn most_at_once(spans: &[(f64, f64)]) -> usize {
    spans
        .iter()
        .map(|(start, _)| {
            spans
                .iter()
                .filter(|(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// What `updraft ARGS`, started as `child`, did once it exited; it may
/// take at most `limit`.
fn finished(child: Child, args: &[&str], limit: Duration) -> Ran {
    let output = wait_with_deadline(child, limit)
        .unwrap_or_else(|| panic!("`updraft {}` took over {limit:?}", args.join(" ")));
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Polls `ready` every 50 ms until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ready()
}

/// Waits for a child, reading its pipes on threads so a chatty child
/// cannot block on a full pipe.
fn wait_with_deadline(mut child: Child, limit: Duration) -> Option<Output> {
    fn drain(
        pipe: Option<impl std::io::Read + Send + 'static>,
    ) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    // Waited for on a thread rather than polled, so the caller learns of
    // the exit at once (the benches time it). The pid stays the child's
    // until that wait reaps it, so a kill past the limit cannot hit another.
    let pid = child.id() as i32;
    let (exited, exit) = std::sync::mpsc::channel();
    std::thread::spawn(move || exited.send(child.wait()));
    let status = match exit.recv_timeout(limit) {
        Ok(Ok(status)) => status,
        _ => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = exit.recv();
            return None;
        }
    };
    Some(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Whether a process exists.
pub fn alive(pid: i32) -> bool {
    // Signal 0 checks existence without touching the process.
    unsafe { libc::kill(pid, 0) == 0 }
}
