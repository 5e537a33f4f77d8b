//! Tasks of a service kind: keys on the profile and the task, their
//! shapes, and the keys each kind needs.

use serde_json::json;

use super::*;

const GLUE: &str = r#"dag: lake
params: { day: "2026-12-01", limit: 100 }
compute:
  ingest: { kind: glue, job: ingest-raw, arguments: { --mode: full } }
  scan: { kind: athena, workgroup: primary, database: lake }
  poll: { kind: aws }
tasks:
  - id: load
    compute: ingest
    arguments: { --day: "{{ params.day }}" }
  - id: check
    after: [load]
    compute: scan
    query: "SELECT count(*) AS n FROM events WHERE day = '{{ params.day }}'"
  - id: crawl
    after: [check]
    compute: poll
    call: { service: glue, action: StartCrawler, params: { Name: raw } }
    wait:
      action: GetCrawler
      params: { Name: raw }
      every: 30s
      success: "Crawler.State == 'READY' && {a: Crawler.LastCrawl.Status}.a == 'SUCCEEDED'"
"#;

fn spec_errors(text: &str) -> Vec<String> {
    match parse_spec("k.yaml", text) {
        Ok(_) => Vec::new(),
        Err(SpecErrors(list)) => list
            .into_iter()
            .map(|d| format!("{}:{}: {}", d.pos.line, d.pos.col, d.message))
            .collect(),
    }
}

fn replaced(line: usize, with: &str) -> String {
    GLUE.lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == line { with } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_tasks_keys_go_over_its_profiles() {
    let spec = parse_spec("k.yaml", GLUE).unwrap();
    let load = spec.task("load").unwrap().service.as_ref().unwrap();
    assert_eq!(load.kind, ServiceKind::Glue);
    assert_eq!(load.settings["job"], "ingest-raw");
    // The task's mapping replaces the profile's whole, as any key does.
    assert_eq!(
        load.settings["arguments"],
        json!({"--day": "{{ params.day }}"})
    );
    let check = spec.task("check").unwrap().service.as_ref().unwrap();
    assert_eq!(check.settings["workgroup"], "primary");
    assert!(
        check.settings["query"]
            .as_str()
            .unwrap()
            .contains("count(*)")
    );
    // A JMESPath expression holding braces is not read as a template.
    let crawl = spec.task("crawl").unwrap().service.as_ref().unwrap();
    assert!(
        crawl.settings["wait"]["success"]
            .as_str()
            .unwrap()
            .contains("{a:")
    );
}

#[test]
fn a_kinds_key_elsewhere_says_which_kinds_take_it() {
    assert_eq!(
        spec_errors(&replaced(10, "    query: \"SELECT 1\"")),
        ["10:12: `query` is not a key of `kind: glue`; it takes job, arguments"]
    );
    let on_default = GLUE.replace("    compute: ingest\n", "");
    assert_eq!(
        spec_errors(&on_default),
        [
            "9:16: `arguments` is for a task on a compute profile of `kind: glue` or `kind: emr_serverless`"
        ]
    );
}

#[test]
fn required_keys_and_shapes_are_checked_where_written() {
    assert_eq!(
        spec_errors(&replaced(
            5,
            "  scan: { kind: athena, workgroup: [primary] }"
        )),
        ["5:36: `workgroup` of `kind: athena` must be a string, not a list",]
    );
    let no_query = GLUE.replace(
        "    query: \"SELECT count(*) AS n FROM events WHERE day = '{{ params.day }}'\"\n",
        "",
    );
    assert_eq!(
        spec_errors(&no_query),
        [
            "13:14: task `check` on a `kind: athena` profile needs `query` (on the task or its profile)"
        ]
    );
    assert_eq!(
        spec_errors(&replaced(10, "    arguments: [--day]")),
        ["10:16: `arguments` of `kind: glue` must be a mapping, not a list"]
    );
}

#[test]
fn a_task_without_a_container_takes_no_command() {
    assert_eq!(
        spec_errors(&replaced(10, "    command: [echo, hi]")),
        ["10:14: `command` is not used by a `kind: glue` task, which runs no container of its own"]
    );
}

#[test]
fn templates_in_a_kinds_keys_are_checked_like_any() {
    assert_eq!(
        spec_errors(&replaced(
            10,
            "    arguments: { --n: \"{{ outputs.check.n }}\" }"
        )),
        [
            "10:23: template reads `outputs.check`, but `check` is not upstream of `load`; add it to `after`"
        ]
    );
    // On the profile too, for each task on it.
    assert_eq!(
        spec_errors(&replaced(
            5,
            "  scan: { kind: athena, workgroup: \"{{ nope }}\" }"
        )),
        [
            "5:36: template `{{ nope }}` reads unknown variable `nope`; known variables: dag, run_id, task_id, try_number, logical_date, data_interval_start, data_interval_end, ds, ds_nodash, ts, params, outputs, trigger"
        ]
    );
}

#[test]
fn a_generic_step_is_checked_before_it_runs() {
    assert_eq!(
        spec_errors(&replaced(
            18,
            "    call: { service: glue, action: startCrawler }"
        )),
        ["18:36: `action` is the API's name for it, such as StartCrawler, not `startCrawler`"]
    );
    assert_eq!(
        spec_errors(&replaced(22, "      every: 1s")),
        ["22:14: `every` must be at least 5s"]
    );
    let no_success = GLUE.replace(
        "      success: \"Crawler.State == 'READY' && {a: Crawler.LastCrawl.Status}.a == 'SUCCEEDED'\"\n",
        "",
    );
    assert_eq!(
        spec_errors(&no_success),
        [
            "20:7: `wait` needs `success`, an expression over the describe call's response such as \"Crawler.State == 'READY'\""
        ]
    );
    let neither = GLUE.lines().take(17).collect::<Vec<_>>().join("\n");
    assert_eq!(
        spec_errors(&neither),
        ["17:14: task `crawl` of `kind: aws` needs a `call`, a `wait`, or both"]
    );
}

#[test]
fn a_wait_is_poked_as_often_as_it_asks_and_no_more_often_than_5s() {
    let spec = parse_spec("k.yaml", GLUE).unwrap();
    let poke = |id: &str| {
        spec.task(id)
            .unwrap()
            .service
            .as_ref()
            .unwrap()
            .poke_interval()
    };
    assert_eq!(poke("crawl"), Some(std::time::Duration::from_secs(30)));
    // Glue and Athena end by their events; reconciliation looks them up late.
    assert_eq!(poke("load"), None);
    let default = parse_spec("k.yaml", &GLUE.replace("      every: 30s\n", "")).unwrap();
    let crawl = default.task("crawl").unwrap().service.as_ref().unwrap();
    assert_eq!(crawl.poke_interval(), Some(DEFAULT_POKE_INTERVAL));
}

#[test]
fn a_training_task_takes_named_input_channels() {
    let spec = parse_spec(
        "k.yaml",
        "dag: d\ncompute:\n  gpu: { kind: sagemaker, instance_type: ml.m5.large }\ntasks:\n  - id: train\n    compute: gpu\n    image: xgboost:1\n    inputs: { train: \"s3://data/{{ ds }}/train/\", validation: s3://data/validation/ }\n",
    )
    .unwrap();
    let train = spec.task("train").unwrap();
    assert_eq!(train.inputs["train"], "s3://data/{{ ds }}/train/");
    assert_eq!(train.inputs.len(), 2);
    assert!(train.service.is_none());
    let on_ecs = "dag: d\ntasks:\n  - id: t\n    inputs: { a: s3://x/ }\n";
    assert_eq!(
        spec_errors(on_ecs),
        [
            "4:13: `inputs` is for a task on a compute profile of `kind: sagemaker` or `kind: sagemaker_processing`"
        ]
    );
}

/// Issue 28: a `kind: aws` task with only a `wait:` is a sensor, waiting
/// in the state `waiting` as any sensor does, at its wait's pace.
#[test]
fn a_wait_without_a_call_is_a_sensor() {
    let text = "dag: s\ncompute:\n  s3: { kind: aws }\ntasks:\n  - id: landed\n    compute: s3\n    wait: { service: s3, action: HeadObject, params: { Bucket: b, Key: k }, every: 30s, timeout: 2h, soft_fail: true, success: ContentLength }\n";
    let spec = parse_spec("s.yaml", text).unwrap();
    let sensor = spec.task("landed").unwrap().wait_for.clone().unwrap();
    assert_eq!(
        (sensor.every, sensor.timeout, sensor.soft_fail),
        (Duration::from_secs(30), Duration::from_secs(7200), true)
    );
    assert_eq!(
        sensor.condition.describe(),
        "s3 HeadObject to answer `ContentLength`"
    );
    // A step that calls first is not a sensor.
    let crawl = parse_spec("k.yaml", GLUE).unwrap();
    assert!(crawl.task("crawl").unwrap().wait_for.is_none());

    let no_service = text.replace("service: s3, ", "");
    assert_eq!(
        spec_errors(&no_service),
        ["6:14: a `wait` with no `call` needs its `service`"]
    );
    assert_eq!(
        spec_errors(&replaced(22, "      every: 30s\n      soft_fail: true")),
        ["17:14: `soft_fail` is for a sensor, a `wait` with no `call`"]
    );
}
