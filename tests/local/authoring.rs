//! Writing specs: the schema editors read, one task rendered or run alone,
//! the graph, a new project started outside this repository, shell
//! completions, and a repository that stands on its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use updraft_e2e::{World, binary};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example(name: &str) -> String {
    std::fs::read_to_string(repository().join("dag-specs").join(name)).unwrap()
}

/// `dag-specs/schema.json` and `pools.schema.json` are what `updraft
/// schema` prints: regenerate them with `updraft schema > dag-specs/schema.json`.
#[test]
fn the_checked_in_schemas_are_what_updraft_schema_prints() {
    let world = World::new();
    for (args, file) in [
        (vec!["schema"], "schema.json"),
        (vec!["schema", "--pools"], "pools.schema.json"),
    ] {
        let printed = world.run(&args).expect(0).stdout;
        assert_eq!(
            printed,
            example(file),
            "dag-specs/{file} differs from `updraft {}`; regenerate it",
            args.join(" ")
        );
    }
}

/// Every example starts with the line that points editors at the schema.
#[test]
fn every_example_names_its_schema() {
    for entry in std::fs::read_dir(repository().join("dag-specs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let schema = match path.file_name().unwrap() == "pools.yaml" {
                true => "pools.schema.json",
                false => "schema.json",
            };
            assert_eq!(
                text.lines().next(),
                Some(format!("# yaml-language-server: $schema=./{schema}").as_str()),
                "{}",
                path.display()
            );
        }
    }
}

const TOKYO: &str = "dag: tokyo\nschedule: \"@daily\"\ntimezone: Asia/Tokyo\ntasks:\n  - id: load\n    command: [load, \"{{ ds }}\", \"{{ data_interval_start | ds }}\", \"{{ ts }}\", \"{{ params.table }}\"]\n    environment: { DAY: \"{{ ds_nodash }}\" }\n    produces: [\"s3://lake/{{ ds }}/part.parquet\"]\n";

/// A daily Asia/Tokyo DAG rendered for 2026-11-21: the run at that day's
/// midnight in Tokyo, its data interval the day before — nothing in UTC.
#[test]
fn render_prints_the_exact_argv_for_a_tokyo_date() {
    let world = World::new();
    world.spec("tokyo.yaml", TOKYO);
    let rendered = world
        .run(&[
            "render",
            "tokyo",
            "load",
            "--date",
            "2026-11-21",
            "--param",
            "table=orders",
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(
        rendered["command"],
        serde_json::json!([
            "load",
            "2026-11-21",
            "2026-11-20",
            "2026-11-21T00:00:00+09:00",
            "orders"
        ])
    );
    assert_eq!(rendered["run_id"], "scheduled__2026-11-21T00:00:00+09:00");
    assert_eq!(rendered["data_interval_start"], "2026-11-20T00:00:00+09:00");
    assert_eq!(rendered["data_interval_end"], "2026-11-21T00:00:00+09:00");
    assert_eq!(rendered["environment"]["DAY"], "20261121");
    assert_eq!(
        rendered["produces"],
        serde_json::json!(["s3://lake/2026-11-21/part.parquet"])
    );
    let text = world
        .run(&[
            "render",
            "tokyo",
            "load",
            "--date",
            "2026-11-21",
            "--param",
            "table=orders",
        ])
        .expect(0)
        .stdout;
    assert!(
        text.contains(
            "  command        load 2026-11-21 2026-11-20 2026-11-21T00:00:00+09:00 orders\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("  data interval  2026-11-20T00:00:00+09:00 to 2026-11-21T00:00:00+09:00"),
        "{text}"
    );
    assert!(
        !world.state().exists(),
        "render created the state directory"
    );
}

/// A missing upstream output, an unknown task and a bad file are one-line
/// errors with exit code 1.
#[test]
fn render_explains_what_is_missing() {
    let world = World::new();
    world.spec("ml_pipeline.yaml", &example("ml_pipeline.yaml"));
    let no_outputs = world.run(&["render", "ml_pipeline", "featurize"]).expect(1);
    assert_eq!(
        no_outputs.stderr,
        "updraft: task `featurize` map_over: template `{{ outputs.prepare.shards }}` failed: undefined value (upstream outputs come from --outputs-from RUN_ID or FILE)\n"
    );
    let unknown = world.run(&["render", "ml_pipeline", "trian"]).expect(1);
    assert!(
        unknown
            .stderr
            .contains("DAG `ml_pipeline` has no task `trian`; its tasks: prepare, featurize, train, evaluate, report"),
        "{}",
        unknown.stderr
    );
    std::fs::write(world.path().join("bad.json"), "{\"prepare\": [1,\n").unwrap();
    let bad = world
        .run(&[
            "render",
            "ml_pipeline",
            "featurize",
            "--outputs-from",
            "bad.json",
        ])
        .expect(1);
    assert!(
        bad.stderr.starts_with("updraft: bad.json:2:"),
        "{}",
        bad.stderr
    );
}

/// Each file and its size and time, under `dir`.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            match meta.is_dir() {
                true => todo.push(entry.path()),
                false => {
                    files.insert(entry.path(), (meta.len(), meta.modified().unwrap()));
                }
            }
        }
    }
    files
}

/// `updraft test` runs the ML example's training step alone, its
/// upstream outputs from a file: the log on the terminal, the output
/// printed, the state directory untouched.
#[test]
fn test_runs_one_task_with_outputs_from_a_file_and_records_nothing() {
    let world = World::new();
    world.spec("ml_pipeline.yaml", &example("ml_pipeline.yaml"));
    world.run(&["run", "ml_pipeline"]).expect(0);
    let before = snapshot(&world.state());
    std::fs::write(
        world.path().join("outputs.json"),
        r#"{"featurize": [{"shard": "shard-0", "rows": 100}, {"shard": "shard-1", "rows": 110}]}"#,
    )
    .unwrap();
    let ran = world
        .run(&[
            "test",
            "ml_pipeline",
            "train",
            "--outputs-from",
            "outputs.json",
            "--param",
            "epochs=2",
        ])
        .expect(0);
    assert!(
        ran.stdout.contains("epoch 2 on 210 rows: loss 0.810"),
        "the task's log: {}",
        ran.stdout
    );
    let output: serde_json::Value =
        serde_json::from_str(&ran.stdout[ran.stdout.find('{').expect("the output printed")..])
            .unwrap();
    assert_eq!(output["loss"], 0.81);
    assert!(
        ran.stderr.contains("--- succeeded (exit code 0) ---"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        snapshot(&world.state()),
        before,
        "the state directory changed"
    );
    let runs = world
        .run(&["runs", "ml_pipeline", "--output", "json"])
        .expect(0)
        .json();
    assert_eq!(runs.as_array().unwrap().len(), 1, "no run was made");
}

/// Upstream outputs read from a run of the DAG: the training step of the
/// ML example rendered with the outputs its featurize instances wrote.
#[test]
fn render_reads_upstream_outputs_from_a_run() {
    let world = World::new();
    world.spec("ml_pipeline.yaml", &example("ml_pipeline.yaml"));
    world
        .run(&["run", "ml_pipeline", "--param", "shards=2"])
        .expect(0);
    let run_id = world.latest_run("ml_pipeline")["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let rendered = world
        .run(&[
            "render",
            "ml_pipeline",
            "train",
            "--outputs-from",
            &run_id,
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(
        rendered["command"][3],
        r#"[{"rows": 100, "shard": "shard-0"}, {"rows": 110, "shard": "shard-1"}]"#
    );
    assert_eq!(rendered["hyperparameters"]["epochs"], "3");
}

/// A task that fails exits 1 with its exit code said.
#[test]
fn test_exits_1_when_the_task_fails() {
    let world = World::new();
    world.spec(
        "fails.yaml",
        "dag: fails\ntasks:\n  - id: boom\n    command: [sh, -c, \"echo going down; exit 3\"]\n",
    );
    let ran = world.run(&["test", "fails", "boom"]).expect(1);
    assert_eq!(ran.stdout, "going down\n");
    assert!(
        ran.stderr.contains("--- failed (exit code 3) ---"),
        "{}",
        ran.stderr
    );
}

/// `updraft graph` draws the ML example in each format.
#[test]
fn graph_draws_the_ml_example() {
    let world = World::new();
    world.spec("ml_pipeline.yaml", &example("ml_pipeline.yaml"));
    let text = world.run(&["graph", "ml_pipeline"]).expect(0).stdout;
    assert_eq!(
        text,
        "ml_pipeline: 5 tasks\n  prepare\n  featurize (mapped)  after prepare\n  train               after featurize\n  evaluate            after train\n  report (all_done)   after evaluate\n"
    );
    let mermaid = world
        .run(&["graph", "ml_pipeline", "--format", "mermaid"])
        .expect(0)
        .stdout;
    assert_eq!(
        mermaid,
        "flowchart LR\n  prepare[\"prepare\"]\n  featurize[[\"featurize (mapped)\"]]\n  train[\"train\"]\n  evaluate[\"evaluate\"]\n  report[\"report (all_done)\"]\n  prepare --> featurize\n  featurize --> train\n  train --> evaluate\n  evaluate --> report\n"
    );
    world.spec("daily_etl.yaml", &example("daily_etl.yaml"));
    assert_eq!(
        world.run(&["graph", "daily_etl"]).expect(0).stdout,
        "daily_etl: 2 tasks\n  extract\n  load     after extract\n"
    );
    let dot = world
        .run(&["graph", "ml_pipeline", "--format", "dot"])
        .expect(0)
        .stdout;
    assert!(dot.starts_with("digraph \"ml_pipeline\" {\n"), "{dot}");
    assert!(dot.contains("  \"featurize\" [label=\"featurize (mapped)\", shape=box3d];\n"));
    assert!(dot.contains("  \"train\" -> \"evaluate\";\n"));
}

/// A new project outside this repository, as the README starts one: init,
/// validate, render, test, graph, run, runs — with nothing but the binary
/// and the default directories.
#[test]
fn a_new_project_starts_with_init_in_an_empty_directory() {
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("my-dags");
    let updraft = |args: &[&str]| {
        let out = Command::new(binary())
            .args(args)
            .current_dir(if project.exists() {
                &project
            } else {
                home.path()
            })
            .env_remove("UPDRAFT_BACKEND")
            .env_remove("UPDRAFT_SPECS")
            .env_remove("UPDRAFT_STATE")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let errors = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "updraft {}: {text}{errors}",
            args.join(" ")
        );
        text
    };
    let wrote = updraft(&["init", "my-dags"]);
    assert!(wrote.contains("dag-specs/hello.yaml"), "{wrote}");
    for file in [
        "dag-specs/hello.yaml",
        "dag-specs/schema.json",
        "dag-specs/pools.schema.json",
        ".gitignore",
    ] {
        assert!(project.join(file).is_file(), "{file}");
    }
    assert!(
        std::fs::read_to_string(project.join(".gitignore"))
            .unwrap()
            .contains(".updraft/")
    );
    updraft(&["validate"]);
    let rendered = updraft(&["render", "hello", "greet", "--date", "2026-12-01"]);
    assert!(
        rendered.contains("echo \"hello for 2026-11-30 (run of 2026-12-01)\""),
        "{rendered}"
    );
    let tested = updraft(&["test", "hello", "each", "--map-index", "1"]);
    assert!(tested.contains("\"name\": \"Grace\""), "{tested}");
    assert!(
        updraft(&["graph", "hello", "--format", "mermaid"]).contains("each[[\"each (mapped)\"]]")
    );
    assert!(
        !project.join(".updraft").exists(),
        "render and test record nothing"
    );
    updraft(&["run", "hello"]);
    let runs: serde_json::Value =
        serde_json::from_str(&updraft(&["runs", "--output", "json"])).unwrap();
    assert_eq!(runs[0]["dag"], "hello");
    assert_eq!(runs[0]["state"], "succeeded");
    assert!(
        project.join(".updraft").is_dir(),
        "the state stays in the project"
    );
    let again = updraft(&["init"]);
    assert!(again.contains("kept"), "init keeps what exists: {again}");
}

/// `updraft completions` prints a script each shell accepts the form of.
#[test]
fn completions_name_the_commands() {
    let world = World::new();
    let bash = world.run(&["completions", "bash"]).expect(0).stdout;
    assert!(bash.contains("complete -F _updraft"), "{bash}");
    for shell in ["zsh", "fish"] {
        let script = world.run(&["completions", shell]).expect(0).stdout;
        assert!(script.contains("rerun"), "{shell}");
        assert!(script.contains("backfill"), "{shell}");
    }
    world.run(&["completions", "tcsh"]).expect(1);
}

/// No file of the repository points outside it: the README, docs, code
/// and examples stand on their own.
#[test]
fn nothing_in_the_repository_names_a_path_outside_it() {
    let outside = [
        ["..", "/shared"].concat(),
        ["shared/", "DESIGN"].concat(),
        ["DESIGN", ".md"].concat(),
        ["DESIGN ", "§"].concat(),
        ["STYLE", ".md"].concat(),
        ["TOOLCHAIN", ".md"].concat(),
        ["AWS-EMULATOR", ".md"].concat(),
        ["/work", "/"].concat(),
    ];
    let mut found = Vec::new();
    let mut todo = vec![repository()];
    let mut read = 0;
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                // Build output and installed packages are not ours.
                if !(name.starts_with('.')
                    || name == "target"
                    || name == "corpus"
                    || name == "artifacts"
                    || name == "node_modules"
                    || name == "dist")
                {
                    todo.push(path);
                }
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            read += 1;
            for (n, line) in text.lines().enumerate() {
                if outside.iter().any(|o| line.contains(o.as_str())) {
                    found.push(format!("{}:{}: {line}", path.display(), n + 1));
                }
            }
        }
    }
    assert!(read > 100, "read {read} files");
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// A task an AWS service runs: `render` shows the exact calls its try would
/// make (each checked against the service's model), `test` shows them and
/// sends nothing, and `run` without AWS settings fails its try in one line
/// saying what it needs.
#[test]
fn render_and_test_show_a_service_tasks_calls_and_send_nothing() {
    let world = World::new();
    world.spec(
        "lake.yaml",
        "dag: lake\nparams: { bucket: lake }\ncompute:\n  etl: { kind: glue, job: ingest }\n  s3: { kind: aws }\ntasks:\n  - id: load\n    compute: etl\n    arguments: { --day: \"{{ ds }}\" }\n  - id: bad\n    compute: s3\n    call: { service: s3, action: Teleport, params: {} }\n",
    );
    let rendered = world
        .run(&[
            "render",
            "lake",
            "load",
            "--date",
            "2026-12-03",
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    let call = &rendered["calls"][0];
    assert_eq!(
        (&call["service"], &call["action"]),
        (&json!("glue"), &json!("StartJobRun"))
    );
    assert_eq!(call["params"]["JobName"], "ingest");
    assert_eq!(call["params"]["Arguments"]["--day"], "2026-12-03");
    assert_eq!(
        call["params"]["Arguments"]["--updraft-try"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    let tested = world
        .run(&["test", "lake", "load", "--date", "2026-12-03"])
        .expect(0);
    assert!(
        tested.stderr.contains("    glue StartJobRun\n"),
        "{}",
        tested.stderr
    );
    assert!(tested.stderr.contains("sent nothing"), "{}", tested.stderr);
    // An action the service does not have is refused before anything runs.
    let bad = world.run(&["render", "lake", "bad"]).expect(1);
    assert_eq!(
        bad.stderr,
        "updraft: s3 Teleport: UnknownOperation: s3 has no action `Teleport`\n"
    );
    // Locally such a try calls AWS as the caller; with no region or no
    // credentials it fails at once, saying what it needs.
    for var in [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        world.unset_env(var);
    }
    let nowhere = world.path().join("no-such-aws-file");
    world.set_env("AWS_CONFIG_FILE", nowhere.to_str().unwrap());
    world.set_env("AWS_SHARED_CREDENTIALS_FILE", nowhere.to_str().unwrap());
    world.set_env("AWS_EC2_METADATA_DISABLED", "true");
    let ran = world.run(&["run", "lake"]).expect(1);
    let reason = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        reason.contains(
            "a `kind: glue` task calls AWS from this machine, and no AWS region is set (AWS_REGION, or a profile's region)"
        ),
        "{reason}"
    );
    world.set_env("AWS_REGION", "eu-west-1");
    let ran = world.run(&["run", "lake"]).expect(1);
    let reason = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        reason.contains(
            "a `kind: glue` task calls AWS from this machine, and no AWS credentials were found"
        ),
        "{reason}"
    );
}
