//! The JSON Schemas editors use agree with `validate`: every example and
//! docs spec passes both; what the schema refuses, `validate` refuses too;
//! and where the schema accepts what `validate` refuses, the reason is one
//! of the rules across fields that docs/specs.md names.

mod common;

use std::path::Path;

use common::{doc_files, spec_blocks};
use serde_json::Value;
use updraft_core::spec::{dag_schema, parse_pools, parse_spec, pools_schema};

/// A compiled schema and the instance check.
struct Checker {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl Checker {
    fn new(schema: Value) -> Checker {
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler
            .add_resource("urn:updraft:schema", schema)
            .expect("the schema loads");
        let index = compiler
            .compile("urn:updraft:schema", &mut schemas)
            .unwrap_or_else(|e| panic!("the schema compiles: {e:#}"));
        Checker { schemas, index }
    }

    /// The first reason the schema refuses `yaml`, if it does.
    fn refusal(&self, yaml: &str) -> Option<String> {
        let json = updraft_core::yaml::to_json(yaml).expect("YAML");
        self.schemas
            .validate(&json, self.index)
            .err()
            .map(|e| format!("{e:#}"))
    }
}

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.yaml` file under `dir`, its subdirectories' included.
fn yaml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml") {
            files.push(path);
        }
    }
    files
}

/// Every example spec (the ports of Airflow's Amazon examples under
/// `dag-specs/examples/aws/` too) passes the schema and validates.
#[test]
fn every_example_passes_the_schema() {
    let dag = Checker::new(dag_schema());
    let mut checked = 0;
    for path in yaml_files(&root().join("dag-specs")) {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(dag.refusal(&text), None, "{}", path.display());
        if let Err(e) = updraft_core::spec::parse_spec(&path.display().to_string(), &text) {
            panic!("{e}");
        }
        checked += 1;
    }
    let ports = yaml_files(&root().join("dag-specs/examples/aws")).len();
    assert!(
        ports >= 5,
        "only {ports} ports of Airflow's Amazon examples"
    );
    let starter = std::fs::read_to_string(root().join("crates/cli/starter/hello.yaml")).unwrap();
    assert_eq!(
        dag.refusal(&starter),
        None,
        "the starter spec of `updraft init`"
    );
    assert!(checked >= 3);
}

/// Every whole spec in the README and docs/ passes its schema.
#[test]
fn every_spec_in_the_docs_passes_the_schema() {
    let (dag, pools) = (Checker::new(dag_schema()), Checker::new(pools_schema()));
    let mut checked = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, body) in spec_blocks(&text) {
            let checker = match body.starts_with("pools:") {
                true => &pools,
                false => &dag,
            };
            assert_eq!(checker.refusal(&body), None, "{}:{at}", file.display());
            checked += 1;
        }
    }
    assert!(checked >= 5, "found {checked} specs in the docs");
}

const BASE: &str = "dag: demo\ntasks:\n  - id: a\n    command: [echo, hi]\n";

/// Specs both accept: each key in its forms.
const VALID: &[&str] = &[
    "dag: demo\ndescription: d\nowner: o\ntags: [x, 1]\nschedule: \"30 2 * * *\"\ntimezone: Asia/Tokyo\nstart: 2026-11-01\nend: 2026-12-01T09:00\ncatchup: true\nmax_active_runs: 2\nmax_active_tasks: 3\nmax_active_tasks_per_run: 1\nrun_timeout: 2h\nsla: 1h30m\nparams: { lr: 0.1, names: [a] }\ndefaults: { retries: 2, retry_delay: 0s, retry_backoff: 2, timeout: 10m, priority: -3 }\ntasks:\n  - id: a\n    command: [sleep, 5, true]\n",
    "dag: demo\nschedule: every 90m\nstart: 2026-11-01T00:00:00+09:00\ntasks:\n  - id: a\n    command: [echo]\n",
    "dag: demo\nschedule: \"@quarterly\"\ntasks:\n  - id: a\n    command: [echo]\n",
    "dag: demo\nschedule: none\ntriggers:\n  - dag: demo2\n    state: any\n    debounce: 5m\n  - artifact: \"s3://lake/{date}/*.parquet\"\ntasks:\n  - id: a\n    command: [echo]\n",
    "dag: demo\ncompute:\n  cpu: { kind: ecs, task_definition: runner, cpu: 1024, memory: 4096, ephemeral_storage: 50, pool: warehouse, pool_slots: 2 }\n  gpu: { kind: sagemaker, instance_type: ml.g5.2xlarge, instance_count: 2, volume_size: 100, max_runtime: 24h, priority: 5 }\ntasks:\n  - id: a\n    compute: cpu\n    command: [echo]\n  - id: b\n    after: [a]\n    compute: gpu\n    image: \"img:{{ ds }}\"\n    hyperparameters: { lr: \"{{ params.lr | default(1) }}\", n: 3 }\n",
    "dag: demo\ncompute:\n  lake: { kind: glue, job: ingest, role: \"arn:aws:iam::1:role/t\", pool: warehouse }\n  q: { kind: athena, workgroup: primary }\n  sfn: { kind: step_functions, state_machine: arn }\n  any: { kind: aws }\ntasks:\n  - id: a\n    compute: lake\n    arguments: { --day: \"{{ ds }}\" }\n  - id: b\n    compute: q\n    query: \"SELECT 1\"\n  - id: c\n    compute: sfn\n    input: \"{{ params }}\"\n  - id: d\n    compute: any\n    call: { service: s3, action: PutObject, params: { Bucket: b, Key: k } }\n    wait: { action: HeadObject, params: { Bucket: b, Key: k }, every: 10s, success: \"ContentLength > `0`\" }\n",
    "dag: demo\ntasks:\n  - id: split\n    command: [echo]\n  - id: each\n    description: one per shard\n    after: [split]\n    map_over: \"{{ outputs.split.shards }}\"\n    max_parallel: 4\n    max_map: 100\n    trigger_rule: none_failed\n    retries: 1\n    retry_delay: 30s\n    environment: { SHARD: \"{{ item }}\", N: 1 }\n    produces: [\"s3://b/{{ ds }}\"]\n    consumes: [\"s3://a/{{ ds }}\"]\n    command: [echo, \"{{ item }}\"]\n  - id: all\n    after: [each]\n    map_over: [1, 2]\n    command: [echo]\n",
];

/// Specs the schema refuses, each for a reason of its own: `validate`
/// must refuse each too.
const REFUSED: &[&str] = &[
    "dag: Demo\ntasks:\n  - id: a\n",
    "dag: demo\ntasks: []\n",
    "dag: demo\n",
    "tasks:\n  - id: a\n",
    "dag: demo\nretries: 2\ntasks:\n  - id: a\n",
    "dag: demo\ntasks:\n  - id: a\n    retires: 2\n",
    "dag: demo\ntasks:\n  - command: [echo]\n",
    "dag: demo\ntasks:\n  - id: 1a\n",
    "dag: demo\ntasks:\n  - id: a\n    command: echo hi\n",
    "dag: demo\ntasks:\n  - id: a\n    trigger_rule: all_succeeded\n",
    "dag: demo\ntasks:\n  - id: a\n    retries: -1\n",
    "dag: demo\ntasks:\n  - id: a\n    retries: 1.5\n",
    "dag: demo\ntasks:\n  - id: a\n    retry_delay: 5 minutes\n",
    "dag: demo\ntasks:\n  - id: a\n    timeout: 0s\n",
    "dag: demo\ntasks:\n  - id: a\n    retry_backoff: 0.5\n",
    "dag: demo\ntasks:\n  - id: a\n    max_parallel: 0\n    map_over: [1]\n",
    "dag: demo\ntasks:\n  - id: a\n    map_over: just text\n",
    "dag: demo\ntasks:\n  - id: a\n    environment: [A]\n",
    "dag: demo\ntasks:\n  - id: a\n    priority: 1.5\n",
    "dag: demo\ntasks:\n  - id: a\n    pool_slots: 0\n",
    "dag: demo\ntimezone: Asia/Tokio\ntasks:\n  - id: a\n",
    "dag: demo\nschedule: \"0 3 * *\"\ntasks:\n  - id: a\n",
    "dag: demo\nschedule: \"@fortnightly\"\ntasks:\n  - id: a\n",
    "dag: demo\nstart: yesterday\ntasks:\n  - id: a\n",
    "dag: demo\ncatchup: yes please\ntasks:\n  - id: a\n",
    "dag: demo\nmax_active_runs: 0\ntasks:\n  - id: a\n",
    "dag: demo\nrun_timeout: 0m\ntasks:\n  - id: a\n",
    "dag: demo\nparams: [a]\ntasks:\n  - id: a\n",
    "dag: demo\ndefaults: { retries: 1, compute: cpu }\ntasks:\n  - id: a\n",
    "dag: demo\ncompute:\n  cpu: { kind: lamda }\ntasks:\n  - id: a\n",
    "dag: demo\ncompute:\n  cpu: { kind: ecs }\ntasks:\n  - id: a\n",
    "dag: demo\ncompute:\n  cpu: { kind: ecs, task_definition: t, instance_type: ml.m5.large }\ntasks:\n  - id: a\n",
    "dag: demo\ncompute:\n  cpu: { kind: ecs, task_definition: t, ephemeral_storage: 10 }\ntasks:\n  - id: a\n",
    "dag: demo\ncompute:\n  gpu: { kind: sagemaker, instance_type: g5.2xlarge }\ntasks:\n  - id: a\n",
    "dag: demo\ntriggers:\n  - artifact: s3://a/b\n    state: failed\ntasks:\n  - id: a\n",
    "dag: demo\ntriggers:\n  - dag: other\n    state: done\ntasks:\n  - id: a\n",
    "dag: demo\ntriggers:\n  - debounce: 5m\ntasks:\n  - id: a\n",
    "dag: demo\ntriggers:\n  - dag: other\n    artifact: s3://a/b\ntasks:\n  - id: a\n",
    "dag: demo\ntriggers:\n  - dag: other\n    debounce: soon\ntasks:\n  - id: a\n",
    "dag: demo\ntasks:\n  - id: a\n    after: [Nope]\n",
    "dag: demo\ncompute:\n  q: { kind: athena, workgroup: [a] }\ntasks:\n  - id: a\n    compute: q\n    query: x\n",
    "dag: demo\ncompute:\n  q: { kind: athena, job: x }\ntasks:\n  - id: a\n    compute: q\n    query: x\n",
];

/// Specs the schema accepts but `validate` refuses, each by a rule across
/// fields (or a value no pattern can judge) that docs/specs.md names.
const ACROSS_FIELDS: &[&str] = &[
    "dag: demo\ntasks:\n  - id: a\n    after: [b]\n",
    "dag: demo\ntasks:\n  - id: a\n    after: [b]\n  - id: b\n    after: [a]\n",
    "dag: demo\ntasks:\n  - id: a\n  - id: a\n",
    "dag: demo\ntasks:\n  - id: a\n    command: [echo, \"{{ outputs.b.x }}\"]\n  - id: b\n",
    "dag: demo\ntasks:\n  - id: a\n    command: [echo, \"{{ execution_date }}\"]\n",
    "dag: demo\ntasks:\n  - id: a\n    compute: missing\n",
    "dag: demo\ncatchup: true\ntasks:\n  - id: a\n",
    "dag: demo\ntasks:\n  - id: a\n    pool_slots: 2\n",
    "dag: demo\ntasks:\n  - id: a\n    hyperparameters: { lr: 1 }\n",
    "dag: demo\ntasks:\n  - id: a\n    max_parallel: 2\n",
    "dag: demo\ncompute:\n  gpu: { kind: sagemaker, instance_type: ml.g5.2xlarge }\ntasks:\n  - id: a\n    compute: gpu\n",
    "dag: demo\nschedule: \"0 25 * * *\"\ntasks:\n  - id: a\n",
    "dag: demo\nstart: 2026-02-30\ntasks:\n  - id: a\n",
    "dag: demo\ntriggers:\n  - artifact: \"s3://a/{date\"\ntasks:\n  - id: a\n",
];

#[test]
fn what_both_accept_and_what_the_schema_refuses_validate_refuses_too() {
    let schema = Checker::new(dag_schema());
    assert_eq!(schema.refusal(BASE), None);
    parse_spec("base.yaml", BASE).unwrap();
    for spec in VALID {
        assert_eq!(schema.refusal(spec), None, "schema refuses:\n{spec}");
        if let Err(e) = parse_spec("valid.yaml", spec) {
            panic!("validate refuses:\n{spec}\n{e}");
        }
    }
    for spec in REFUSED {
        assert!(schema.refusal(spec).is_some(), "schema accepts:\n{spec}");
        assert!(
            parse_spec("refused.yaml", spec).is_err(),
            "the schema refuses but validate accepts:\n{spec}"
        );
    }
    for spec in ACROSS_FIELDS {
        assert_eq!(
            schema.refusal(spec),
            None,
            "the schema refuses, so this belongs in REFUSED:\n{spec}"
        );
        assert!(
            parse_spec("across.yaml", spec).is_err(),
            "validate accepts:\n{spec}"
        );
    }
}

#[test]
fn the_pools_schema_agrees_with_parse_pools() {
    let schema = Checker::new(pools_schema());
    for valid in [
        "pools:\n  gpu: 2\n",
        "pools:\n  warehouse: { slots: 4, description: loads }\n",
    ] {
        assert_eq!(schema.refusal(valid), None, "{valid}");
        parse_pools("pools.yaml", valid).unwrap();
    }
    for refused in [
        "pools:\n  gpu: 0\n",
        "pools:\n  GPU: 2\n",
        "pools:\n  gpu: { size: 2 }\n",
        "pools:\n  gpu: two\n",
        "pool:\n  gpu: 2\n",
    ] {
        assert!(schema.refusal(refused).is_some(), "{refused}");
        assert!(parse_pools("pools.yaml", refused).is_err(), "{refused}");
    }
}

/// The schema describes every key it knows, and lists the trigger rules
/// and compute kinds.
#[test]
fn every_key_has_a_description() {
    fn walk(value: &Value, at: &str, missing: &mut Vec<String>) {
        let Value::Object(map) = value else { return };
        if let Some(Value::Object(properties)) = map.get("properties") {
            for (key, property) in properties {
                if property.get("description").is_none() {
                    missing.push(format!("{at}/{key}"));
                }
            }
        }
        for (key, child) in map {
            match child {
                Value::Array(items) => items
                    .iter()
                    .for_each(|item| walk(item, &format!("{at}/{key}"), missing)),
                _ => walk(child, &format!("{at}/{key}"), missing),
            }
        }
    }
    let schema = dag_schema();
    let mut missing = Vec::new();
    walk(&schema, "", &mut missing);
    walk(&pools_schema(), "pools", &mut missing);
    assert!(missing.is_empty(), "no description: {missing:?}");
    let rules = &schema["properties"]["tasks"]["items"]["properties"]["trigger_rule"]["enum"];
    assert_eq!(
        rules,
        &serde_json::json!([
            "all_success",
            "all_failed",
            "all_done",
            "one_failed",
            "one_success",
            "one_done",
            "none_failed",
            "none_failed_min_one_success",
            "none_skipped",
            "all_skipped",
            "always"
        ])
    );
    assert_eq!(
        schema["properties"]["compute"]["additionalProperties"]["properties"]["kind"]["enum"],
        serde_json::json!([
            "ecs",
            "sagemaker",
            "lambda",
            "batch",
            "glue",
            "glue_crawler",
            "athena",
            "emr_serverless",
            "step_functions",
            "sagemaker_processing",
            "aws"
        ])
    );
}
