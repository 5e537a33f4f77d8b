//! JSON Schemas (draft 2020-12) of a DAG spec and of `pools.yaml`, for
//! editors: completion, a description on hover and a squiggle under a
//! misspelt key before `updraft validate` runs.
//!
//! The schema checks each value's form; `validate` stays the authority.
//! What only the parser can tell — rules across fields (an `after` naming
//! a task of the DAG, cycles, templates reading upstream outputs, a
//! `compute` naming a profile, `catchup: true` needing `start`,
//! `pool_slots` needing a `pool`, `hyperparameters` only on SageMaker,
//! `max_parallel`/`max_map` only with `map_over`) and what a pattern cannot
//! say (a cron field's values, a date that exists) — it leaves to `validate`.
//! It is stricter in one way: an optional key written with no value
//! (`owner:`), which `validate` reads as absent.

use serde_json::{Value, json};

use crate::spec::{KindKey, PARAM_TYPES, ROLE, ServiceKind, Shape, TriggerRule};

/// Where editors find the schema of the DAG specs beside them.
pub const SCHEMA_FILE: &str = "schema.json";

/// Where editors find the schema of `pools.yaml`.
pub const POOLS_SCHEMA_FILE: &str = "pools.schema.json";

/// Ids of DAGs, tasks and pools.
const ID_PATTERN: &str = "^[a-z][a-z0-9_-]{0,63}$";

/// `90s`, `2m`, `2h`, `1d`, `1h30m`.
const DURATION_PATTERN: &str = r"^\s*([0-9]+[smhd])+\s*$";

/// A duration with at least one amount that is not zero.
const POSITIVE_DURATION_PATTERN: &str =
    r"^\s*([0-9]+[smhd])*0*[1-9][0-9]*[smhd]([0-9]+[smhd])*\s*$";

/// A date, a local date-time, or an RFC 3339 time with its offset.
const TIME_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$";

/// `none`, a preset, `every <duration>` or five cron fields.
const SCHEDULE_PATTERN: &str = r"^\s*(none|@(hourly|daily|midnight|weekly|monthly|quarterly|yearly|annually)|every\s+([0-9]+[smhd])+|\S+(\s+\S+){4})\s*$";

/// The JSON Schema of one DAG spec file.
pub fn dag_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "updraft DAG spec",
        "description": "One DAG: its schedule, defaults, compute profiles and tasks. `updraft validate` checks what this schema cannot (tasks named by `after`, cycles, templates).",
        "type": "object",
        "required": ["dag", "tasks"],
        "additionalProperties": false,
        "$defs": { "condition": condition(false) },
        "properties": {
            "dag": id("The DAG id: 1-64 characters a-z 0-9 _ -, starting with a letter. Declared by exactly one file."),
            "description": text("What the DAG does, for people."),
            "owner": text("Who to ask about this DAG."),
            "tags": {
                "description": "Labels for finding DAGs (`updraft runs`, the dashboard's filters).",
                "type": "array",
                "items": scalar("A tag.")
            },
            "schedule": {
                "description": "When the DAG runs, in `timezone`: a 5-field cron expression (`30 2 * * *`, with `L`, `5L`, `MON#1`), a preset (@hourly, @daily, @weekly, @monthly, @quarterly, @yearly), `every 90m` (from `start`), or `none` (only when triggered). Default: none.",
                "type": "string",
                "pattern": SCHEDULE_PATTERN,
                "examples": ["0 3 * * *", "@daily", "every 90m", "none"]
            },
            "timezone": {
                "description": "IANA time zone of the schedule, `start`/`end` and every date in templates (`ds` is the local date). Default: UTC.",
                "type": "string",
                "enum": time_zones()
            },
            "start": time("The first instant a schedule point may be at: a date (local midnight), a local date-time, or an RFC 3339 time with offset. Required with `catchup: true`."),
            "end": time("The last instant a schedule point may be at; a date covers that whole local day."),
            "catchup": {
                "description": "true: a tick creates a run for every missed point since `start`; false (default): only the latest.",
                "type": "boolean"
            },
            "max_active_runs": count(1, "Runs running at once; more wait queued. Default 16."),
            "max_active_tasks": count(1, "Tries of the DAG queued or running at once, across all its runs."),
            "max_active_tasks_per_run": count(1, "Tries queued or running at once in each run; the rest wait pending, the highest priority first."),
            "run_timeout": positive_duration("How long a run may take from its start; past it the run fails and its tries are stopped (Airflow's dagrun_timeout)."),
            "sla": positive_duration("When a run should have succeeded by, after its data interval ends; a run late past it is told once as `updraft Run Deadline Missed`."),
            "retention": positive_duration("How long its ended runs are kept: `updraft clean` deletes older ones, never a DAG's latest run (default 400d)."),
            "groups": {
                "description": "Task groups: a description and `defaults` (as the DAG's) their tasks take unless they write their own.",
                "type": "object",
                "additionalProperties": {
                    "description": "One group.",
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "description": { "description": "What the group does.", "type": "string" },
                        "defaults": { "description": "Keys its tasks take unless they write their own: retries, retry_delay, retry_backoff, timeout, pool, pool_slots, priority.", "type": "object" }
                    }
                }
            },
            "latest_only": {
                "description": "Only the latest scheduled run does anything: in catch-up and backfill runs every task is skipped and the run succeeds. Default false.",
                "type": "boolean"
            },
            "triggers": {
                "description": "What else starts runs: another DAG's runs ending, or artifacts appearing.",
                "type": "array",
                "items": trigger()
            },
            "params": {
                "description": "Params, read in templates as `params.<name>`: each a default a trigger may override, or a schema ({type, default, enum, minimum, maximum, description}) every run's value is checked against.",
                "type": "object",
                "additionalProperties": param()
            },
            "defaults": {
                "description": "Keys every task takes unless it writes its own.",
                "type": "object",
                "additionalProperties": false,
                "properties": retry_and_capacity()
            },
            "compute": {
                "description": "Named compute profiles that tasks name in `compute`.",
                "type": "object",
                "propertyNames": { "pattern": r"^\S+$" },
                "additionalProperties": profile()
            },
            "tasks": {
                "description": "The tasks, at least one.",
                "type": "array",
                "minItems": 1,
                "items": task()
            }
        }
    })
}

/// The JSON Schema of `pools.yaml`.
pub fn pools_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "updraft pools",
        "description": "Pools of slots shared by every DAG: a try of a task with `pool: NAME` takes `pool_slots` of them before it launches.",
        "type": "object",
        "required": ["pools"],
        "additionalProperties": false,
        "properties": {
            "pools": {
                "description": "Each pool's name (as a DAG id) and its slots.",
                "type": "object",
                "propertyNames": { "pattern": ID_PATTERN },
                "additionalProperties": {
                    "oneOf": [
                        count(1, "How many slots the pool has."),
                        {
                            "type": "object",
                            "required": ["slots"],
                            "additionalProperties": false,
                            "properties": {
                                "slots": count(1, "How many slots the pool has."),
                                "description": text("What the pool guards, for people.")
                            }
                        }
                    ]
                }
            }
        }
    })
}

fn task() -> Value {
    let mut properties = json!({
        "id": id("Unique within the DAG: 1-64 characters a-z 0-9 _ -, starting with a letter."),
        "description": text("What the task does, for people."),
        "after": {
            "description": "Tasks this one runs after.",
            "type": "array",
            "items": id("A task of this DAG.")
        },
        "compute": text("A profile name from `compute`. Default: the deployment's ECS task definition (locally, a process)."),
        "image": text("Container image (a template). Required on a SageMaker profile; ignored locally."),
        "command": {
            "description": "The argv, a list; each element is a template rendered on its own, never passed through a shell (write [sh, -c, \"...\"] for a shell line).",
            "type": "array",
            "items": scalar("One argument (a template).")
        },
        "environment": templates("Environment variables; values are templates."),
        "hyperparameters": templates("Only on a SageMaker profile: the training job's hyperparameters; values are templates."),
        "trigger_rule": {
            "description": "When the task may run, from its upstreams' ends. Default: all_success.",
            "type": "string",
            "enum": TriggerRule::ALL.iter().map(|(_, name)| *name).collect::<Vec<_>>()
        },
        "branch": {
            "description": "Its output chooses, under `branch`, which tasks right after it run (a task id or a list; [] for none); the others are skipped.",
            "type": "boolean"
        },
        "short_circuit": {
            "description": "When it ends skipped or its output says \"continue\": false: true skips every task after it, whatever its trigger rule; respect_trigger_rules skips the tasks right after it and lets the rest follow their rules.",
            "enum": [true, false, "respect_trigger_rules"]
        },
        "wait_for": wait_for(),
        "trigger_dag": {
            "description": "Makes the task (with no command) start a run of another DAG; with `wait`, it ends as that run ends.",
            "type": "object",
            "additionalProperties": false,
            "required": ["dag"],
            "properties": {
                "dag": { "description": "The DAG to run.", "type": "string" },
                "params": { "description": "Params over its defaults (string values are templates), checked as any run's.", "type": "object" },
                "wait": { "description": "End as the run ends (succeeded if it succeeded, failed otherwise). Default false.", "type": "boolean" }
            }
        },
        "teardown": {
            "description": "Makes the task the teardown of these setup tasks: it runs once the tasks between them ended, whatever their state, if the setups succeeded.",
            "type": "array",
            "items": { "description": "A setup task's id.", "type": "string" }
        },
        "fail_run": {
            "description": "For a teardown: its failure fails the run (by default it does not).",
            "type": "boolean"
        },
        "group": {
            "description": "The task group it belongs to: `after: [GROUP]` means after every task of it, and `groups:` may give it defaults.",
            "type": "string"
        },
        "depends_on_past": {
            "description": "Waits until the same task of the run before (by logical date) succeeded or was skipped. Default false.",
            "type": "boolean"
        },
        "approval": {
            "description": "Makes the task (with no command) wait for a person's decision: `updraft approve` or the dashboard.",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "prompt": { "description": "What the person is asked.", "type": "string" },
                "options": { "description": "The choices. Default [approve, reject]; `reject` also skips what follows.", "type": "array", "items": { "description": "One choice.", "type": "string" }, "minItems": 1 },
                "timeout": { "description": "How long it waits for a decision. Default 7d.", "type": "string" },
                "default": { "description": "The choice taken past `timeout`; without one the task fails then.", "type": "string" }
            }
        },
        "latest_only": {
            "description": "Skipped in every run but the latest scheduled one (catch-up and backfill runs); its downstream follow their trigger rules. A manual run is never skipped. Default false.",
            "type": "boolean"
        },
        "skip_exit_code": {
            "description": "A try exiting with this code ends skipped, not failed, and is not retried. Default 99.",
            "type": "integer",
            "minimum": 1,
            "maximum": 255
        },
        "map_over": {
            "description": "One instance of the task per item: a list, or a template that renders one (\"{{ outputs.split.shards }}\").",
            "oneOf": [
                { "type": "array" },
                { "type": "string", "pattern": r"\{" }
            ]
        },
        "max_parallel": count(1, "With map_over: at most this many instances queued or running at once."),
        "max_map": count(1, "With map_over: a longer list fails the task. Default 10000."),
        "produces": uris("Artifact URIs (templates) each succeeded try produced, for lineage and artifact triggers."),
        "consumes": uris("Artifact URIs (templates) each succeeded try consumed, for lineage.")
    });
    extend(&mut properties, retry_and_capacity());
    for (service, _) in ServiceKind::ALL {
        for key in service.keys().iter().chain([&ROLE]) {
            if properties.get(key.name).is_none() {
                let kinds: Vec<&str> = ServiceKind::ALL
                    .iter()
                    .filter(|(k, _)| k.key(key.name).is_some())
                    .map(|(_, name)| *name)
                    .collect();
                properties[key.name] = json!({
                    "description": format!("On a profile of kind {}: overrides the profile's `{}` (docs/kinds.md).", kinds.join(" or "), key.name)
                });
            }
        }
    }
    json!({
        "description": "A task: one command on ECS, SageMaker or (locally) a process.",
        "type": "object",
        "required": ["id"],
        "additionalProperties": false,
        "properties": properties
    })
}

/// The keys a task, `defaults` (and, for capacity, a profile) may write.
fn retry_and_capacity() -> Value {
    let mut keys = json!({
        "retries": count(0, "Tries after the first failed one. Default 0."),
        "retry_delay": duration("Wait before the first retry. Default 5m."),
        "retry_backoff": {
            "description": "Each further retry waits this many times longer (at most 7 days). Default 1.0.",
            "type": "number",
            "minimum": 1
        },
        "timeout": positive_duration("A try running longer is stopped and counts as failed.")
    });
    extend(&mut keys, capacity());
    keys
}

fn capacity() -> Value {
    json!({
        "pool": id("A pool of pools.yaml whose slots each try takes before it launches."),
        "pool_slots": count(1, "Slots of `pool` one try takes. Default 1."),
        "priority": {
            "description": "When slots are scarce (a pool, max_active_tasks_per_run), higher goes first. Default 0.",
            "type": "integer",
            "minimum": -1_000_000_000,
            "maximum": 1_000_000_000
        }
    })
}

fn profile() -> Value {
    let kind = |name: &str| json!({ "description": "Where the task runs.", "const": name });
    let mut ecs = json!({
        "kind": kind("ecs"),
        "task_definition": text("The ECS task definition (family or ARN) to run."),
        "cpu": count(0, "CPU units (1024 = one vCPU)."),
        "memory": count(0, "Memory in MiB."),
        "ephemeral_storage": {
            "description": "Disk in GiB (21-200 on Fargate).",
            "type": "integer",
            "minimum": 21,
            "maximum": 200
        }
    });
    extend(&mut ecs, capacity());
    let mut sagemaker = json!({
        "kind": kind("sagemaker"),
        "instance_type": {
            "description": "A SageMaker instance type.",
            "type": "string",
            "pattern": r"^ml\.",
            "examples": ["ml.g5.2xlarge", "ml.m5.xlarge"]
        },
        "instance_count": count(0, "Instances of the training job. Default 1."),
        "volume_size": count(0, "Disk per instance in GiB. Default 30."),
        "max_runtime": duration("The job's stopping condition; default the task's timeout, else 24h; at most 28 days.")
    });
    extend(&mut sagemaker, capacity());
    let mut kinds = vec!["ecs", "sagemaker"];
    kinds.extend(ServiceKind::ALL.iter().map(|(_, name)| *name));
    let mut branches = vec![
        json!({
            "required": ["kind", "task_definition"],
            "additionalProperties": false,
            "properties": ecs
        }),
        json!({
            "required": ["kind", "instance_type"],
            "additionalProperties": false,
            "properties": sagemaker
        }),
    ];
    for (service, name) in ServiceKind::ALL {
        let mut properties = json!({ "kind": kind(name), "role": kind_key(ROLE) });
        for key in service.keys() {
            properties[key.name] = kind_key(*key);
        }
        extend(&mut properties, capacity());
        // Required keys may be written on each task instead.
        branches.push(json!({
            "required": ["kind"],
            "additionalProperties": false,
            "properties": properties
        }));
    }
    json!({
        "description": "A compute profile: `kind: ecs` (Fargate), `kind: sagemaker` (a training job), or a kind an AWS service runs by its API (docs/kinds.md).",
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": { "description": "What runs a try (docs/kinds.md).", "enum": kinds }
        },
        "oneOf": branches
    })
}

/// A key of a service kind, on a profile or a task: its shape, or a
/// template (a string holding `{`) that renders it.
fn kind_key(key: KindKey) -> Value {
    let template = json!({ "type": "string", "pattern": r"\{" });
    let description = format!(
        "A key of `kind: ...` profiles (docs/kinds.md){}.",
        match key.required {
            true => "; every task on the profile needs it, on the task or the profile",
            false => "",
        }
    );
    match key.shape {
        Shape::Text => scalar(&description),
        Shape::Duration => duration(&description),
        Shape::Count => {
            json!({ "description": description, "oneOf": [{ "type": "integer", "minimum": 0 }, template] })
        }
        Shape::Mapping => {
            json!({ "description": description, "oneOf": [{ "type": "object" }, template] })
        }
        Shape::List => {
            json!({ "description": description, "oneOf": [{ "type": "array" }, template] })
        }
    }
}

fn trigger() -> Value {
    let mut shapes = condition(true);
    shapes["description"] = json!(
        "Another DAG's runs ending (`dag`), artifacts appearing (`artifact`), or `all` / `any` of those."
    );
    shapes
}

/// One condition of a trigger; `top`: the trigger itself, which may also
/// say `debounce` (and `within` for `all`). Nested conditions refer to
/// `$defs/condition`.
fn condition(top: bool) -> Value {
    let nested = json!({ "$ref": "#/$defs/condition" });
    let list = |what: &str| json!({ "description": what, "type": "array", "minItems": 1, "items": nested });
    let mut shapes = [
        json!({
            "required": ["dag"],
            "properties": {
                "dag": id("The DAG whose runs ending start one of this DAG."),
                "state": {
                    "description": "Which ends start a run. Default: succeeded.",
                    "type": "string",
                    "enum": ["succeeded", "failed", "any"]
                }
            }
        }),
        json!({
            "required": ["artifact"],
            "properties": {
                "artifact": {
                    "description": "A URI pattern: `{name}` matches part of one path segment and becomes the param `name`; `*` matches any part of one segment.",
                    "type": "string",
                    "examples": ["s3://lake/raw/{date}/*.parquet"]
                }
            }
        }),
        json!({
            "required": ["all"],
            "properties": { "all": list("Every one of these, for the same logical date (or `within` one window).") }
        }),
        json!({
            "required": ["any"],
            "properties": { "any": list("Any one of these.") }
        }),
    ];
    for shape in &mut shapes {
        shape["additionalProperties"] = json!(false);
        if top {
            shape["properties"]["debounce"] = positive_duration(
                "Gather the events of one window into one run, started when it ends.",
            );
            if shape["required"][0] != "dag" && shape["required"][0] != "artifact" {
                shape["properties"]["within"] = positive_duration(
                    "With `all`: every condition happens within one window of this length (from the epoch); default: for the same logical date.",
                );
            }
        }
    }
    json!({ "type": "object", "oneOf": shapes })
}

fn id(description: &str) -> Value {
    json!({ "description": description, "type": "string", "pattern": ID_PATTERN })
}

fn text(description: &str) -> Value {
    json!({ "description": description, "type": "string" })
}

/// A value read as text: `sleep 5` means the word "5".
fn scalar(description: &str) -> Value {
    json!({ "description": description, "type": ["string", "number", "boolean"] })
}

fn count(minimum: u32, description: &str) -> Value {
    json!({
        "description": description,
        "type": "integer",
        "minimum": minimum,
        "maximum": u32::MAX
    })
}

fn duration(description: &str) -> Value {
    json!({
        "description": format!("{description} A duration: 90s, 2m, 2h, 1d or 1h30m."),
        "type": "string",
        "pattern": DURATION_PATTERN
    })
}

fn positive_duration(description: &str) -> Value {
    json!({
        "description": format!("{description} A duration longer than 0s: 90s, 2m, 2h, 1d or 1h30m."),
        "type": "string",
        "pattern": POSITIVE_DURATION_PATTERN
    })
}

fn time(description: &str) -> Value {
    json!({
        "description": description,
        "type": "string",
        "pattern": TIME_PATTERN,
        "examples": ["2026-11-01", "2026-11-01T09:00", "2026-11-01T09:00:00+09:00"]
    })
}

fn templates(description: &str) -> Value {
    json!({
        "description": description,
        "type": "object",
        "additionalProperties": scalar("A value (a template).")
    })
}

fn uris(description: &str) -> Value {
    json!({ "description": description, "type": "array", "items": scalar("A URI (a template).") })
}

fn time_zones() -> Vec<&'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect()
}

fn extend(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

/// One entry of `params:`: a bare default, or a schema (a mapping with
/// `type` or `enum`).
fn param() -> Value {
    json!({
        "description": "A default value, or the param's schema (a mapping with `type` or `enum`).",
        "if": {
            "type": "object",
            "anyOf": [{ "required": ["type"] }, { "required": ["enum"] }]
        },
        "then": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "type": { "description": "The value's JSON type.", "enum": PARAM_TYPES },
                "default": { "description": "The value when a run is given none; it must fit the rest." },
                "enum": { "description": "The values allowed.", "type": "array", "minItems": 1 },
                "minimum": { "description": "The least number allowed.", "type": "number" },
                "maximum": { "description": "The greatest number allowed.", "type": "number" },
                "description": { "description": "What the param is for, shown by the dashboard's trigger form.", "type": "string" }
            }
        }
    })
}

/// `wait_for:` of a sensor: one condition, and how often and how long.
fn wait_for() -> Value {
    json!({
        "description": "Makes the task a sensor (with no command): it waits for one condition, looked at every `every`, holding no worker in between.",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "every": { "description": "How often the condition is looked at (at least 5s). Default 1m.", "type": "string" },
            "timeout": { "description": "How long it waits before it fails (or, with soft_fail, is skipped). Default 7d.", "type": "string" },
            "soft_fail": { "description": "Running out of time skips it rather than fails it.", "type": "boolean" },
            "command": { "description": "Done when this command exits 0 (each look a short-lived process; local mode).", "type": "array", "items": { "description": "One argument (a template).", "type": "string" } },
            "file": { "description": "Done when this path exists (a template; local mode).", "type": "string" },
            "time": { "description": "Done once this time has passed: a time, optionally + or - a duration (\"{{ data_interval_end }} + 2h\").", "type": "string" },
            "dag": { "description": "Done when another DAG's task (or run) of a logical date reaches `state`.", "type": "string" },
            "task": { "description": "The other DAG's task; without it, its whole run.", "type": "string" },
            "logical_date": { "description": "The other run's logical date: a date or a time (a template); default this run's.", "type": "string" },
            "state": { "description": "The state to reach. Default succeeded.", "enum": ["succeeded", "failed", "skipped"] }
        }
    })
}
