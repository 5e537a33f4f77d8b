//! Spec validation: every error with its line, column and message.

use super::*;

/// A valid spec every test can break in one place.
const GOOD: &str = r#"dag: nightly_training
description: Train and evaluate the ranking model
owner: ml-platform
tags: [ml, nightly]
schedule: "0 3 * * *"
timezone: Asia/Tokyo
start: 2026-11-01
catchup: false
max_active_runs: 1
params: { lr: 0.001, epochs: 10 }
defaults: { retries: 2, retry_delay: 2m, retry_backoff: 2.0, timeout: 2h }
compute:
  cpu-small: { kind: ecs, task_definition: updraft-runner, cpu: 1024, memory: 4096 }
  gpu-train: { kind: sagemaker, instance_type: ml.g5.2xlarge, max_runtime: 24h }
tasks:
  - id: extract
    compute: cpu-small
    command: [python, extract.py, --day, "{{ data_interval_start | ds }}"]
  - id: train
    after: [extract]
    compute: gpu-train
    retries: 0
    environment: { LR: "{{ params.lr }}", SHARDS: "{{ outputs.extract.count }}" }
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/train:2
  - id: report
    after: [train]
    trigger_rule: all_done
    command: [sh, -c, "echo done"]
"#;

fn errors(text: &str) -> Vec<String> {
    match parse_spec("dags/x.yaml", text) {
        Ok(_) => Vec::new(),
        Err(SpecErrors(list)) => list
            .into_iter()
            .map(|d| {
                assert_eq!(d.file, "dags/x.yaml");
                format!("{}:{}: {}", d.pos.line, d.pos.col, d.message)
            })
            .collect(),
    }
}

/// `GOOD` with one line replaced.
fn with_line(line: usize, replacement: &str) -> String {
    GOOD.lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == line { replacement } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_design_example_parses_into_a_typed_spec() {
    let spec = parse_spec("x.yaml", GOOD).unwrap();
    assert_eq!(spec.id.as_str(), "nightly_training");
    assert_eq!(spec.schedule.tz(), chrono_tz::Asia::Tokyo);
    assert_eq!(spec.policy.max_active_runs, 1);
    assert_eq!(
        spec.policy.start.unwrap().to_rfc3339(),
        "2026-10-31T15:00:00+00:00",
        "start is local midnight in the DAG's zone"
    );
    assert_eq!(spec.params["epochs"], 10);
    let train = spec.task("train").unwrap();
    assert_eq!(train.retry.retries, 0, "a task overrides defaults");
    assert_eq!(
        train.retry.delay,
        Duration::from_secs(120),
        "and inherits the rest"
    );
    assert_eq!(train.timeout, Some(Duration::from_secs(7_200)));
    assert_eq!(
        spec.task("report").unwrap().trigger_rule,
        TriggerRule::AllDone
    );
    assert!(
        matches!(spec.compute_of(train), Some(ComputeProfile::Sagemaker(p)) if p.instance_count == 1)
    );
    let order: Vec<&str> = spec
        .topological_order()
        .iter()
        .map(|&i| spec.tasks[i].id.as_str())
        .collect();
    assert_eq!(order, ["extract", "train", "report"]);
    assert_eq!(spec.version.len(), 64);
}

#[test]
fn unknown_keys_are_named_with_a_suggestion() {
    assert_eq!(
        errors(&with_line(3, "ownr: me")),
        ["3:1: unknown key `ownr` in the spec; did you mean `owner`?"]
    );
    assert_eq!(
        errors(&with_line(22, "    retires: 0")),
        ["22:5: unknown key `retires` in a task; did you mean `retries`?"]
    );
    assert_eq!(
        errors(&with_line(11, "defaults: { retries: 2, backof: 2 }")),
        [
            "11:25: unknown key `backof` in `defaults`; expected one of: retries, retry_delay, retry_backoff, timeout, pool, pool_slots, priority"
        ]
    );
    assert_eq!(
        errors(&with_line(
            13,
            "  cpu-small: { kind: ecs, task_definition: r, gpu: 1 }"
        )),
        ["13:47: unknown key `gpu` in compute profile `cpu-small`; did you mean `cpu`?"]
    );
}

#[test]
fn bad_ids_are_rejected() {
    assert_eq!(
        errors(&with_line(1, "dag: Nightly")),
        [
            "1:6: `Nightly` is not a valid DAG id: use 1-64 characters a-z, 0-9, `_` or `-`, starting with a letter"
        ]
    );
    assert_eq!(
        errors(&with_line(25, "  - id: Report")),
        [
            "25:9: `Report` is not a valid task id: use 1-64 characters a-z, 0-9, `_` or `-`, starting with a letter",
        ],
    );
}

#[test]
fn duplicate_task_ids_name_the_first() {
    let text = "dag: d\ntasks:\n  - id: a\n  - id: b\n  - id: a\n    after: [b]\n";
    assert_eq!(
        errors(text),
        ["5:9: duplicate task id `a` (first defined at line 3)"]
    );
}

#[test]
fn after_must_name_a_known_task() {
    assert_eq!(
        errors(&with_line(20, "    after: [extrct]")),
        ["20:13: `after` names unknown task `extrct`"]
    );
}

#[test]
fn cycles_are_printed_in_run_order() {
    let text = "dag: d\ntasks:\n  - id: a\n    after: [c]\n  - id: b\n    after: [a]\n  - id: c\n    after: [b]\n  - id: d\n    after: [a]\n";
    assert_eq!(errors(text), ["3:9: cycle: a -> b -> c -> a"]);
    let two = "dag: d\ntasks:\n  - id: a\n    after: [b]\n  - id: b\n    after: [a]\n  - id: x\n    after: [x]\n  - id: y\n    after: [z]\n  - id: z\n    after: [y]\n";
    assert_eq!(
        errors(two),
        [
            "3:9: cycle: a -> b -> a",
            "8:13: task `x` cannot run after itself",
            "9:9: cycle: y -> z -> y"
        ]
    );
}

#[test]
fn independent_cycles_are_each_reported() {
    let text = "dag: d\ntasks:\n  - id: a\n    after: [b]\n  - id: b\n    after: [a]\n  - id: y\n    after: [z]\n  - id: z\n    after: [y]\n";
    assert_eq!(
        errors(text),
        ["3:9: cycle: a -> b -> a", "7:9: cycle: y -> z -> y"]
    );
}

#[test]
fn bad_cron_expressions_are_explained() {
    assert_eq!(
        errors(&with_line(5, "schedule: \"0 25 * * *\"")),
        ["5:11: cron `0 25 * * *`: hour field `25`: 25 is outside 0-23"]
    );
    assert_eq!(
        errors(&with_line(5, "schedule: daily")),
        [
            "5:11: `daily` is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week), found 1"
        ]
    );
}

#[test]
fn malformed_day_fields_and_intervals_are_explained() {
    assert_eq!(
        errors(&with_line(5, "schedule: \"0 0 * * MON#6\"")),
        [
            "5:11: cron `0 0 * * MON#6`: day-of-week field `MON#6`: `#6` must be #1 to #5: MON#1 is a month's first Monday"
        ]
    );
    assert_eq!(
        errors(&with_line(5, "schedule: \"0 0 LW * *\"")),
        ["5:11: cron `0 0 LW * *`: day-of-month field `LW`: `LW` is not a number"]
    );
    assert!(errors(&with_line(5, "schedule: every 90m")).is_empty());
    let no_start = with_line(5, "schedule: every 90m").replace("start: 2026-11-01\n", "");
    assert_eq!(
        errors(&no_start),
        ["5:11: `every 90m` needs a `start`: the points are `start`, `start` + 90m, ..."]
    );
}

#[test]
fn unknown_time_zones_are_rejected() {
    assert_eq!(
        errors(&with_line(6, "timezone: Asia/Tokio")),
        [
            "6:11: unknown time zone `Asia/Tokio`; use an IANA name such as Asia/Tokyo, Europe/Berlin or UTC"
        ]
    );
    assert_eq!(
        errors(&with_line(6, "timezone: asia/tokyo")),
        ["6:11: unknown time zone `asia/tokyo`; did you mean `Asia/Tokyo`?"]
    );
}

#[test]
fn template_syntax_errors_are_reported_where_the_template_is() {
    let errs = errors(&with_line(
        18,
        "    command: [python, extract.py, --day, \"{{ ds }\"]",
    ));
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("18:42: template `{{ ds }` does not parse: syntax error"),
        "{errs:?}"
    );
}

#[test]
fn templates_may_read_outputs_only_of_upstream_tasks() {
    assert_eq!(
        errors(&with_line(18, "    command: [\"{{ outputs.report.x }}\"]")),
        [
            "18:15: template reads `outputs.report`, but `report` is not upstream of `extract`; add it to `after`"
        ]
    );
    assert_eq!(
        errors(&with_line(18, "    command: [\"{{ outputs.nope }}\"]")),
        ["18:15: template reads `outputs.nope`, but there is no task `nope`"]
    );
    assert_eq!(
        errors(&with_line(18, "    command: [\"{{ execution_date }}\"]")),
        [
            "18:15: template `{{ execution_date }}` reads unknown variable `execution_date`; updraft writes it as `logical_date`"
        ]
    );
}

#[test]
fn unknown_compute_profiles_list_the_defined_ones() {
    assert_eq!(
        errors(&with_line(17, "    compute: gpu")),
        ["17:14: unknown compute profile `gpu`; defined: cpu-small, gpu-train"]
    );
    assert_eq!(
        errors(&with_line(14, "  gpu-train: { kind: lamda }")),
        [
            "14:22: unknown compute kind `lamda`; use ecs, sagemaker, lambda, batch, glue, glue_crawler, athena, emr_serverless, step_functions, sagemaker_processing, aws",
            "21:14: unknown compute profile `gpu-train`; defined: cpu-small"
        ]
    );
}

#[test]
fn hyperparameters_are_templates_of_a_sagemaker_task_only() {
    let spec = parse_spec(
        "x.yaml",
        &with_line(
            22,
            "    retries: 0\n    hyperparameters: { epochs: \"{{ params.epochs }}\", lr: \"0.1\" }",
        ),
    )
    .unwrap();
    let train = spec.task("train").unwrap();
    assert_eq!(
        train.hyperparameters.get("epochs"),
        Some("{{ params.epochs }}")
    );
    assert_eq!(train.hyperparameters.get("lr"), Some("0.1"));
    assert_eq!(
        errors(&with_line(
            17,
            "    compute: cpu-small\n    hyperparameters: { epochs: \"3\" }"
        )),
        ["18:22: `hyperparameters` are for a task on a `kind: sagemaker` compute profile"]
    );
    assert_eq!(
        errors(&with_line(
            22,
            "    retries: 0\n    hyperparameters: { lr: \"{{ outputs.report.lr }}\" }"
        )),
        [
            "23:28: template reads `outputs.report`, but `report` is not upstream of `train`; add it to `after`"
        ]
    );
}

#[test]
fn a_sagemaker_task_needs_an_image() {
    assert_eq!(
        errors(&with_line(24, "    description: no image")),
        [
            "21:14: a task on a `kind: sagemaker` profile needs an `image` (SageMaker has no default)"
        ]
    );
}

#[test]
fn durations_that_do_not_parse_are_rejected() {
    assert_eq!(
        errors(&with_line(11, "defaults: { retry_delay: 2 minutes }")),
        [
            "11:26: `retry_delay`: `2 minutes` is not a duration; write a number and a unit: 90s, 2m, 2h, 1d or 1h30m"
        ]
    );
    assert_eq!(
        errors(&with_line(
            14,
            "  gpu-train: { kind: sagemaker, instance_type: ml.g5.2xlarge, max_runtime: 1w }"
        )),
        [
            "14:76: `max_runtime`: `1w` is not a duration; write a number and a unit: 90s, 2m, 2h, 1d or 1h30m"
        ]
    );
}

#[test]
fn every_error_of_a_file_is_collected_in_line_order() {
    let text = "dag: Bad\nschedule: \"61 * * * *\"\ntimezone: Mars/Base\ntasks:\n  - id: a\n    after: [ghost]\n    timeout: soon\n    command: [\"{{ nope }}\"]\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 6, "{errs:#?}");
    let lines: Vec<&str> = errs.iter().map(|e| e.split(':').next().unwrap()).collect();
    assert_eq!(lines, ["1", "2", "3", "6", "7", "8"]);
}

#[test]
fn other_structural_errors() {
    assert_eq!(
        errors("tasks: []\n"),
        [
            "1:1: missing `dag:` (the DAG id)",
            "1:8: `tasks` is empty; a DAG needs at least one task"
        ]
    );
    assert_eq!(
        errors("dag: x\n"),
        ["1:1: missing `tasks:` (the list of tasks)"]
    );
    assert_eq!(
        errors(""),
        ["1:1: the file is empty; a spec is a YAML mapping starting with `dag:`"]
    );
    assert_eq!(
        errors("- a\n- b\n"),
        ["1:1: the spec must be a mapping, not a list"]
    );
    assert_eq!(
        errors("dag: x\ncatchup: true\ntasks: [{id: a}]\n"),
        ["2:10: `catchup: true` needs a `start` to catch up from"]
    );
    assert_eq!(
        errors("dag: x\ntasks:\n  - id: a\n    command: python train.py\n"),
        [
            "4:14: `command` is a list of arguments, e.g. [python, train.py, --day, \"{{ ds }}\"]; for a shell line write [sh, -c, \"...\"]"
        ]
    );
    assert_eq!(
        errors("dag: x\ntasks:\n  - id: a\n    trigger_rule: all_faild\n"),
        [
            "4:19: unknown trigger rule `all_faild`; use one of all_success, all_failed, all_done, one_failed, one_success, one_done, none_failed, none_failed_min_one_success, none_skipped, all_skipped, always"
        ]
    );
}

#[test]
fn the_version_ignores_key_order_and_formatting() {
    let a = "dag: x\nschedule: '@daily'\ntasks:\n  - id: a\n    command: [echo, hi]\n";
    let b = "# a comment\ntasks: [{command: [\"echo\", 'hi'], id: a}]\nschedule:   \"@daily\"\ndag: x\n";
    let c = "dag: x\nschedule: '@daily'\ntasks:\n  - id: a\n    command: [echo, ho]\n";
    let version = |t| parse_spec("v.yaml", t).unwrap().version;
    assert_eq!(version(a), version(b));
    assert_ne!(version(a), version(c));
}

#[test]
fn a_dag_id_in_two_files_is_an_error_naming_both() {
    let file = |name: &str, dag: &str| SpecFile {
        name: name.into(),
        text: format!("dag: {dag}\ntasks: [{{id: a}}]\n"),
    };
    let set = validate_set(&[
        file("a.yaml", "etl"),
        file("b.yaml", "etl"),
        file("c.yaml", "ml"),
    ]);
    assert_eq!(set.dags.keys().collect::<Vec<_>>(), ["ml"]);
    let errs: Vec<String> = set.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errs,
        [
            "a.yaml:1:1: DAG id `etl` is also declared in b.yaml; neither file is scheduled until one is renamed",
            "b.yaml:1:1: DAG id `etl` is also declared in a.yaml; neither file is scheduled until one is renamed",
        ]
    );
}

#[test]
fn retry_delays_grow_by_the_backoff() {
    let retry = RetryPolicy {
        retries: 3,
        delay: Duration::from_secs(120),
        backoff: 2.0,
    };
    assert_eq!(retry.delay_after(1), Duration::from_secs(120));
    assert_eq!(retry.delay_after(2), Duration::from_secs(240));
    assert_eq!(retry.delay_after(3), Duration::from_secs(480));
    assert_eq!(retry.delay_after(900), MAX_RETRY_DELAY);
}

#[test]
fn retention_is_a_duration_longer_than_zero() {
    let spec = parse_spec("x.yaml", &with_line(3, "retention: 90d")).unwrap();
    assert_eq!(
        spec.retention,
        Some(std::time::Duration::from_secs(90 * 86_400))
    );
    assert_eq!(parse_spec("x.yaml", GOOD).unwrap().retention, None);
    assert_eq!(
        errors(&with_line(3, "retention: 0d")),
        ["3:12: `retention` must be longer than 0s"]
    );
}

#[test]
fn sla_is_a_duration_longer_than_zero() {
    let spec = parse_spec("x.yaml", &with_line(3, "sla: 90m")).unwrap();
    assert_eq!(spec.sla, Some(std::time::Duration::from_secs(5400)));
    assert_eq!(parse_spec("x.yaml", GOOD).unwrap().sla, None);
    assert_eq!(
        errors(&with_line(3, "sla: 0s")),
        ["3:6: `sla` must be longer than 0s"]
    );
    let bad = errors(&with_line(3, "sla: soon"));
    assert!(
        bad.len() == 1 && bad[0].starts_with("3:6: `sla`"),
        "a bad duration is an error at the value: {bad:?}"
    );
}

#[test]
fn run_timeout_is_a_duration_longer_than_zero() {
    let spec = parse_spec("x.yaml", &with_line(3, "run_timeout: 2h")).unwrap();
    assert_eq!(spec.run_timeout, Some(std::time::Duration::from_secs(7200)));
    assert_eq!(parse_spec("x.yaml", GOOD).unwrap().run_timeout, None);
    assert_eq!(
        errors(&with_line(3, "run_timeout: 0s")),
        ["3:14: `run_timeout` must be longer than 0s"]
    );
}

/// The errors of a spec whose one trigger is `item`, as `line:col: reason`.
fn broken(item: &str) -> Vec<String> {
    let text = format!("dag: load\ntriggers:\n  - {item}\ntasks: [{{id: a}}]\n");
    match parse_spec("x.yaml", &text) {
        Ok(_) => Vec::new(),
        Err(SpecErrors(list)) => list
            .iter()
            .map(|d| format!("{}:{}: {}", d.pos.line, d.pos.col, d.message))
            .collect(),
    }
}

/// Issue 13: `triggers:` of DAGs and artifacts, with file:line errors.
#[test]
fn triggers_wait_for_a_dag_or_an_artifact() {
    let text = "dag: load\ntriggers:\n  - dag: extract\n  - dag: audit\n    state: any\n  - artifact: \"s3://lake/raw/{date}/*.parquet\"\n    debounce: 5m\ntasks: [{id: a}]\n";
    let spec = parse_spec("load.yaml", text).unwrap();
    assert_eq!(spec.triggers.len(), 3);
    assert_eq!(
        spec.triggers[0].on,
        TriggerOn::Dag {
            dag: DagId::parse("extract").unwrap(),
            when: UpstreamEnd::Succeeded
        }
    );
    assert_eq!(spec.triggers[0].pos.line, 3);
    assert!(matches!(
        spec.triggers[1].on,
        TriggerOn::Dag {
            when: UpstreamEnd::Any,
            ..
        }
    ));
    let TriggerOn::Artifact(pattern) = &spec.triggers[2].on else {
        panic!("an artifact trigger");
    };
    assert_eq!(pattern.names(), ["date"]);
    assert_eq!(spec.triggers[2].debounce, Some(Duration::from_secs(300)));
    assert_eq!(
        broken("{dag: extract, state: done}"),
        ["3:27: `state: done`: expected succeeded, failed or any"]
    );
    assert_eq!(
        broken("{artifact: \"s3://b/{x\"}"),
        ["3:16: `{` without its `}` in `s3://b/{x`"]
    );
    assert_eq!(
        broken("{dag: a, artifact: \"s3://b/x\"}"),
        [
            "3:24: a trigger waits for one of `dag`, `artifact`, `all` or `any`, not `dag` and `artifact`"
        ]
    );
    assert_eq!(
        broken("{debounce: 5m}"),
        [
            "3:5: a trigger needs `dag: OTHER_DAG`, `artifact: PATTERN`, `all: [...]` or `any: [...]`"
        ]
    );
    assert_eq!(
        broken("{artifact: \"s3://b/x\", state: failed}"),
        ["3:35: `state` is for a `dag:` trigger"]
    );
    assert_eq!(
        broken("{dag: a, debounce: 0s}"),
        ["3:24: `debounce` must be longer than 0s"]
    );
    assert_eq!(
        broken("{dag: a, when: later}").len(),
        1,
        "unknown keys are named"
    );
}

/// Issue 28: `all:` / `any:` of conditions, nested, with `within`.
#[test]
fn triggers_wait_for_all_or_any_of_their_conditions() {
    let text = "dag: report\ntriggers:\n  - all:\n      - dag: etl\n      - any:\n          - artifact: \"s3://b/{date}/x\"\n          - dag: audit\n            state: any\n    within: 1d\ntasks: [{id: a}]\n";
    let spec = parse_spec("report.yaml", text).unwrap();
    let TriggerOn::All(parts) = &spec.triggers[0].on else {
        panic!("an all trigger: {:?}", spec.triggers[0].on);
    };
    assert!(matches!(&parts[1], TriggerOn::Any(inner) if inner.len() == 2));
    assert_eq!(spec.triggers[0].within, Some(Duration::from_secs(86_400)));
    assert_eq!(
        broken("{all: [{dag: a}], debounce: 5m}"),
        [
            "3:33: `debounce` gathers single events; an `all:` trigger gathers by logical date, or by `within: DURATION`"
        ]
    );
    assert_eq!(
        broken("{dag: a, within: 5m}"),
        ["3:22: `within` is for an `all:` trigger"]
    );
    assert_eq!(
        broken("{all: []}"),
        ["3:11: `all` needs at least one condition"]
    );
    assert_eq!(
        broken("{any: [{dag: a, within: 1h}]}"),
        [
            "3:21: unknown key `within` in a condition; expected one of: dag, state, artifact, all, any"
        ]
    );
    assert_eq!(
        broken("{all: [{dag: a}, {artifact: \"s3://b/{x\"}]}"),
        ["3:33: `{` without its `}` in `s3://b/{x`"]
    );
    assert_eq!(
        broken("{all: [{any: [{all: [{any: [{all: [{dag: a}]}]}]}]}]}"),
        ["3:39: `all` nested deeper than 4"]
    );
}

#[test]
fn dag_triggers_name_known_dags_and_form_no_cycle() {
    let file = |name: &str, text: &str| SpecFile {
        name: name.into(),
        text: text.into(),
    };
    let set = validate_set(&[
        file(
            "a.yaml",
            "dag: a\ntriggers:\n  - dag: c\ntasks: [{id: t}]\n",
        ),
        file(
            "b.yaml",
            "dag: b\ntriggers:\n  - dag: a\ntasks: [{id: t}]\n",
        ),
        file(
            "c.yaml",
            "dag: c\ntriggers:\n  - dag: b\ntasks: [{id: t}]\n",
        ),
        file(
            "d.yaml",
            "dag: d\ntriggers:\n  - dag: a\n  - dag: nope\ntasks: [{id: t}]\n",
        ),
        file(
            "e.yaml",
            "dag: e\ntriggers:\n  - dag: f\ntasks: [{id: t}]\n",
        ),
        file("f.yaml", "dag: f\ntasks: [{id: t}]\n"),
    ]);
    let errs: Vec<String> = set.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errs,
        [
            "a.yaml:3:5: DAG triggers form a cycle: a → b → c → a; a run would start the next forever",
            "b.yaml:3:5: DAG triggers form a cycle: b → c → a → b; a run would start the next forever",
            "c.yaml:3:5: DAG triggers form a cycle: c → a → b → c; a run would start the next forever",
            "d.yaml:4:5: unknown DAG `nope` in `triggers`; known DAGs: a, b, c, d, e, f",
        ]
    );
    assert_eq!(set.dags.keys().collect::<Vec<_>>(), ["e", "f"]);
}

#[test]
fn pool_keys_come_from_the_task_its_profile_or_defaults() {
    let spec = parse_spec(
        "x.yaml",
        r#"dag: shared
defaults: { pool: warehouse, priority: 1 }
compute:
  gpu: { kind: sagemaker, instance_type: ml.g5.2xlarge, pool: gpu, pool_slots: 2 }
tasks:
  - id: load
  - id: train
    compute: gpu
    image: train:1
  - id: urgent
    compute: gpu
    image: train:1
    pool_slots: 1
    priority: 10
  - id: own
    pool: api
    priority: -5
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let pool = |id: &str| {
        let task = spec.task(id).unwrap();
        let need = task.pool.as_ref().unwrap();
        (need.pool.as_str(), need.slots, task.priority)
    };
    assert_eq!(pool("load"), ("warehouse", 1, 1));
    assert_eq!(pool("train"), ("gpu", 2, 1));
    assert_eq!(pool("urgent"), ("gpu", 1, 10));
    assert_eq!(pool("own"), ("api", 1, -5));
    assert_eq!(spec.max_active_tasks, None);
}

#[test]
fn bad_pool_keys_are_told_where_they_are() {
    assert_eq!(
        errors(
            "dag: x\nmax_active_tasks: 0\nmax_active_tasks_per_run: 2\ntasks:\n  - id: a\n    pool_slots: 2\n  - id: b\n    pool: gpu\n    pool_slots: 0\n    priority: 1.5\n"
        ),
        [
            "2:19: `max_active_tasks` must be at least 1",
            "6:17: `pool_slots` needs a `pool` (on the task, its compute profile or `defaults`)",
            "9:17: `pool_slots` must be at least 1",
            "10:15: `priority` must be a whole number (higher goes first; default 0)",
        ]
    );
}

#[test]
fn pools_named_by_tasks_are_declared_in_pools_yaml() {
    let file = |name: &str, text: &str| SpecFile {
        name: name.into(),
        text: text.into(),
    };
    let a = file(
        "specs/a.yaml",
        "dag: a\ntasks:\n  - id: t\n    pool: gpu\n    pool_slots: 3\n  - id: u\n    pool: tpu\n",
    );
    let b = file("specs/b.yaml", "dag: b\ntasks:\n  - id: t\n    pool: gpu\n");
    let pools = file("specs/pools.yaml", "pools:\n  gpu: 2\n  db: 4\n");
    let set = validate_set(&[a.clone(), b.clone(), pools]);
    let errs: Vec<String> = set.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errs,
        [
            "specs/a.yaml:4:11: task `t` takes 3 slots of pool `gpu`, which has 2",
            "specs/a.yaml:7:11: unknown pool `tpu`; pools.yaml declares: db, gpu",
        ]
    );
    assert_eq!(set.dags.keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(set.pools.as_ref().unwrap()["db"].slots, 4);

    let alone = validate_set(std::slice::from_ref(&b));
    assert_eq!(
        alone.errors[0].to_string(),
        "specs/b.yaml:4:11: unknown pool `gpu`: pools are declared in pools.yaml beside the specs"
    );
    // A pools file that does not parse is its own error, not one per task.
    let broken = validate_set(&[b, file("pools.yaml", "pools: 3\n")]);
    let errs: Vec<String> = broken.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errs,
        ["pools.yaml:1:8: `pools` must be a mapping of pool names to slots"]
    );
    let reserved = validate_set(&[file("p.yaml", "dag: pools\ntasks: [{id: t}]\n")]);
    assert_eq!(
        reserved.errors[0].to_string(),
        "p.yaml:1:1: DAG id `pools` is kept for pools.yaml; name the DAG otherwise"
    );
}

/// Issue 26: texts made to stall or crash whoever parses them are refused
/// at a line, naming the limit, within the parser's bounds.
#[test]
fn spec_files_made_to_exhaust_the_parser_are_refused_naming_the_limit() {
    let refused = |text: &str| -> String {
        match parse_spec("bomb.yaml", text) {
            Ok(_) => panic!("accepted"),
            Err(SpecErrors(errors)) => errors[0].to_string(),
        }
    };
    // The billion laughs: nine levels of nine aliases each.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for level in 1..10 {
        let previous = format!("*a{}", level - 1);
        let row = [previous.as_str(); 9].join(", ");
        bomb.push_str(&format!("a{level}: &a{level} [{row}]\n"));
    }
    assert!(bomb.len() < 1000);
    let error = refused(&bomb);
    assert!(error.starts_with("bomb.yaml:"), "{error}");
    assert!(
        error.contains("more than 500000 values, aliases counted as what they repeat (the limit)"),
        "{error}"
    );

    let deep = format!("dag: d\nx: {}{}\n", "[".repeat(20_000), "]".repeat(20_000));
    let error = refused(&deep);
    assert!(
        error.starts_with("bomb.yaml:2:") && error.contains("nested more than 64 deep (the limit)"),
        "{error}"
    );

    let mut wide = String::from("dag: d\nparams:\n");
    for i in 0..60_000 {
        wide.push_str(&format!("  k{i}: {i}\n"));
    }
    let error = refused(&wide);
    assert!(
        error.starts_with("bomb.yaml:10003:3: a mapping holds more than 10000 keys (the limit)"),
        "{error}"
    );

    let big = format!("dag: d\n# {}\n", "x".repeat(5 << 20));
    let error = refused(&big);
    assert!(
        error.starts_with("bomb.yaml:1:1: the file is 524") && error.contains("(the limit)"),
        "{error}"
    );
}

mod kinds;

#[test]
fn branches_and_short_circuits_are_checked_where_written() {
    assert_eq!(
        errors("dag: x\ntasks:\n  - id: a\n    branch: true\n"),
        [
            "4:13: `branch: true` on `a`, but no task runs after it: a branch chooses among the tasks right after it"
        ]
    );
    assert_eq!(
        errors(
            "dag: x\ntasks:\n  - id: a\n    map_over: [1]\n    branch: true\n  - id: b\n    after: [a]\n"
        ),
        ["5:13: `branch` applies only to a task without `map_over`"]
    );
    assert_eq!(
        errors("dag: x\ntasks:\n  - id: a\n    short_circuit: always\n"),
        ["4:20: `short_circuit` is true, false or respect_trigger_rules"]
    );
}

#[test]
fn typed_params_are_read_and_their_defaults_checked() {
    let spec = parse_spec(
        "t.yaml",
        "dag: t\nparams:\n  lr: { type: number, default: 0.01, minimum: 0, maximum: 1, description: rate }\n  mode: { enum: [full, incremental], default: full }\n  day: { type: string }\n  epochs: 10\ntasks:\n  - id: a\n",
    )
    .unwrap();
    assert_eq!(
        spec.params,
        *serde_json::json!({"lr": 0.01, "mode": "full", "epochs": 10})
            .as_object()
            .unwrap()
    );
    assert_eq!(spec.param_rules["lr"].maximum, Some(1.0));
    assert_eq!(spec.param_rules["lr"].description.as_deref(), Some("rate"));
    assert!(!spec.param_rules["day"].has_default);
    assert!(!spec.param_rules.contains_key("epochs"));
    assert_eq!(
        errors(
            "dag: x\nparams:\n  lr: { type: number, default: 2, maximum: 1 }\ntasks:\n  - id: a\n"
        ),
        ["3:32: param `lr`'s default: 2 is above the maximum 1"]
    );
    assert_eq!(
        errors("dag: x\nparams:\n  lr: { type: float }\ntasks:\n  - id: a\n"),
        ["3:15: param `lr`: `type` is one of string, number, integer, boolean, array, object"]
    );
    assert_eq!(
        errors("dag: x\nschedule: '@daily'\nparams:\n  day: { type: string }\ntasks:\n  - id: a\n"),
        ["4:3: param `day` has no default, which the schedule's runs need"]
    );
    assert_eq!(
        errors("dag: x\nparams:\n  lr: { type: number, deflt: 1 }\ntasks:\n  - id: a\n"),
        ["3:23: unknown key `deflt` in param `lr`; did you mean `default`?"]
    );
}

#[test]
fn a_sensor_has_one_condition_and_no_command() {
    let spec = parse_spec(
        "s.yaml",
        "dag: s\ntasks:\n  - id: a\n    wait_for: { dag: upstream, task: load, logical_date: '{{ ds }}', every: 2m }\n",
    )
    .unwrap();
    let wait = spec.task("a").unwrap().wait_for.clone().unwrap();
    assert_eq!(wait.every, std::time::Duration::from_secs(120));
    assert_eq!(wait.timeout, crate::spec::DEFAULT_SENSOR_TIMEOUT);
    assert_eq!(wait.condition.describe(), "upstream.load to be succeeded");
    assert_eq!(
        errors("dag: x\ntasks:\n  - id: a\n    wait_for: { every: 1m }\n"),
        ["4:15: `wait_for` needs one condition: `command`, `file`, `time`, or `dag` (with `task`)"]
    );
    assert_eq!(
        errors("dag: x\ntasks:\n  - id: a\n    command: [true]\n    wait_for: { file: /x }\n"),
        ["5:15: a sensor (`wait_for`) runs nothing of its own: it takes no `command`"]
    );
    assert_eq!(
        errors("dag: x\ntasks:\n  - id: a\n    wait_for: { file: /x, every: 1s }\n"),
        ["4:34: `every` of a sensor is at least 5s"]
    );
    assert_eq!(
        errors("dag: x\ntasks:\n  - id: a\n    wait_for: { time: '{{ nope }} + 1h' }\n"),
        [
            "4:23: template `{{ nope }} + 1h` reads unknown variable `nope`; known variables: dag, run_id, task_id, try_number, logical_date, data_interval_start, data_interval_end, ds, ds_nodash, ts, params, outputs, trigger"
        ]
    );
}

#[test]
fn an_approval_names_its_options_and_a_default_among_them() {
    let spec = parse_spec(
        "a.yaml",
        "dag: a\ntasks:\n  - id: ok\n    approval: { prompt: Go?, options: [yes, no] }\n  - id: next\n    after: [ok]\n",
    )
    .unwrap();
    let ok = spec.task("ok").unwrap();
    assert_eq!(ok.approval.as_ref().unwrap().options, ["yes", "no"]);
    assert_eq!(
        ok.short_circuit,
        ShortCircuit::Off,
        "no `reject`, no short circuit"
    );
    assert_eq!(
        errors("dag: x\ntasks:\n  - id: a\n    approval: { options: [yes, no], default: maybe }\n"),
        ["4:46: `default: maybe` is not one of the options: yes, no"]
    );
    assert_eq!(
        errors("dag: x\ntasks:\n  - id: a\n    command: [x]\n    approval: {}\n"),
        ["5:15: an approval runs nothing of its own: it takes no `command`"]
    );
}

#[test]
fn a_group_gives_its_tasks_defaults_and_after_a_group_means_after_all_of_it() {
    let spec = parse_spec(
        "g.yaml",
        "dag: g
defaults: { retries: 1 }
groups:
  extract: { description: pulls the sources, defaults: { retries: 3, priority: 5 } }
tasks:
  - { id: a, group: extract }
  - { id: b, group: extract, retries: 0 }
  - { id: c, group: load }
  - { id: report, after: [extract, c] }
",
    )
    .unwrap();
    let task = |id: &str| spec.task(id).unwrap();
    assert_eq!(task("a").retry.retries, 3, "the group's over the DAG's");
    assert_eq!(task("a").priority, 5);
    assert_eq!(
        task("b").retry.retries,
        0,
        "the task's own over the group's"
    );
    assert_eq!(
        task("c").retry.retries,
        1,
        "a group without `groups:` entry: the DAG's"
    );
    let after: Vec<&str> = task("report").after.iter().map(|t| t.as_str()).collect();
    assert_eq!(after, ["a", "b", "c"]);
    assert_eq!(
        spec.groups["extract"].description.as_deref(),
        Some("pulls the sources")
    );
    assert_eq!(
        errors("dag: x\ntasks:\n  - { id: a, group: g }\n  - { id: b, group: g, after: [g] }\n"),
        ["4:32: task `b` is in group `g`: it cannot run after its own group"]
    );
}
