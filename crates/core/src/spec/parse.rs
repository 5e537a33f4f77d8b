//! Reading one spec file into a [`DagSpec`], collecting every error.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;

use chrono::DateTime;
use chrono_tz::Tz;

use crate::ids::{DagId, TaskId};
use crate::schedule::{LocalTime, Schedule, SchedulePolicy};
use crate::spec::capacity::CapacityKeys;
use crate::spec::graph::{self, Graph};
use crate::spec::groups::{expand_after, group_of, read_groups};
use crate::spec::kinds::{self, ServiceKind, ServiceProfile};
use crate::spec::read::{Fields, Reader, Written};
use crate::spec::sensors::{REJECT, read_approval, read_trigger_dag, read_wait_for};
use crate::spec::written_templates::Templates;
use crate::spec::{
    Argv, ArtifactPattern, ComputeProfile, DEFAULT_MAX_MAP, DEFAULT_SKIP_EXIT_CODE, DagSpec,
    EcsProfile, MapOver, PARAM_SCHEMA_KEYS, PARAM_TYPES, ParamRule, RetryPolicy, SagemakerProfile,
    ShortCircuit, SpecErrors, TaskSpec, TemplateMap, Trigger, TriggerOn, TriggerRule, UpstreamEnd,
    is_param_schema, spec_version,
};
use crate::template::{TemplateChecker, TemplateUse, check_substitutions};
use crate::yaml::{self, Node, Pos, Value};

const DAG_KEYS: &[&str] = &[
    "dag",
    "description",
    "owner",
    "tags",
    "schedule",
    "timezone",
    "start",
    "end",
    "catchup",
    "max_active_runs",
    "max_active_tasks",
    "max_active_tasks_per_run",
    "run_timeout",
    "sla",
    "retention",
    "latest_only",
    "groups",
    "triggers",
    "params",
    "defaults",
    "compute",
    "tasks",
];
const TRIGGER_KEYS: &[&str] = &[
    "dag", "state", "artifact", "all", "any", "debounce", "within",
];
/// The keys of a condition inside `all:` / `any:`.
const CONDITION_KEYS: &[&str] = &["dag", "state", "artifact", "all", "any"];
const DEFAULT_KEYS: &[&str] = &[
    "retries",
    "retry_delay",
    "retry_backoff",
    "timeout",
    "pool",
    "pool_slots",
    "priority",
];
const TASK_KEYS: &[&str] = &[
    "id",
    "description",
    "after",
    "compute",
    "image",
    "command",
    "environment",
    "hyperparameters",
    "trigger_rule",
    "skip_exit_code",
    "branch",
    "short_circuit",
    "latest_only",
    "wait_for",
    "approval",
    "depends_on_past",
    "trigger_dag",
    "group",
    "teardown",
    "fail_run",
    "retries",
    "retry_delay",
    "retry_backoff",
    "timeout",
    "map_over",
    "max_parallel",
    "max_map",
    "produces",
    "consumes",
    "pool",
    "pool_slots",
    "priority",
];
const ECS_KEYS: &[&str] = &[
    "kind",
    "task_definition",
    "cpu",
    "memory",
    "ephemeral_storage",
    "pool",
    "pool_slots",
    "priority",
];
const SAGEMAKER_KEYS: &[&str] = &[
    "kind",
    "instance_type",
    "instance_count",
    "volume_size",
    "max_runtime",
    "pool",
    "pool_slots",
    "priority",
];

/// Every key a task may write: its own, and every service kind's (checked
/// against its profile's kind once profiles are read). Built once: a spec
/// may hold 10,000 tasks.
fn task_keys() -> &'static [&'static str] {
    static KEYS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
        let mut keys = TASK_KEYS.to_vec();
        keys.extend(
            kinds::all_keys()
                .into_iter()
                .filter(|k| !TASK_KEYS.contains(k)),
        );
        keys
    });
    &KEYS
}

/// The default for `max_active_runs`, as in Airflow.
pub const DEFAULT_MAX_ACTIVE_RUNS: u32 = 16;

/// Parses a stored spec version's source and checks that it is the version
/// it is stored as (its canonical form hashes to `version`): a source
/// changed after it was stored — a hand-edited row or item — is refused,
/// never run. `file` only names it in messages.
pub fn parse_stored_spec(file: &str, version: &str, source: &str) -> Result<DagSpec, String> {
    let spec = parse_spec(file, source).map_err(|e| format!("no longer parses: {e}"))?;
    if spec.version != version {
        return Err(format!(
            "does not match its source, which hashes to {}: it was changed after it was stored",
            spec.version
        ));
    }
    Ok(spec)
}

/// Parses and validates one spec file. `file` only names it in messages.
pub fn parse_spec(file: &str, text: &str) -> Result<DagSpec, SpecErrors> {
    let mut reader = Reader::new(file);
    let arena = yaml::Arena::new();
    let root = match yaml::parse(text, &arena) {
        Ok(root) => root,
        Err(e) => {
            reader.error(e.pos, e.message);
            return Err(SpecErrors(reader.errors));
        }
    };
    let spec = read_dag(&mut reader, file, &root);
    let mut errors = reader.errors;
    match spec {
        Some(spec) if errors.is_empty() => Ok(spec),
        _ => {
            errors.sort_by_key(|d| d.pos);
            Err(SpecErrors(errors))
        }
    }
}

/// What the checks need of a task while it is read, beside its spec
/// (kept apart: the specs become the DAG's list as they are).
struct Draft<'n> {
    id_pos: Pos,
    after: Vec<Written<'n>>,
    compute_pos: Pos,
    hyperparameters_pos: Pos,
    templates: Vec<Written<'n>>,
    capacity: CapacityKeys,
    /// Keys of a service kind written on the task, read once its
    /// profile's kind is known.
    service_keys: Vec<(&'n str, &'n Node<'n>)>,
    /// Where `image`, `command` and `environment` are, if written.
    container_keys: [(&'static str, Option<Pos>); 3],
    /// Where `branch: true` is written.
    branch_pos: Option<Pos>,
}

/// Reads a mapping of names to templated strings (`environment`,
/// `hyperparameters`).
fn template_map<'n>(
    reader: &mut Reader<'_>,
    fields: &Fields<'n>,
    key: &str,
    templates: &mut Templates<'n>,
) -> TemplateMap {
    let Some(node) = fields.get(key) else {
        return TemplateMap::default();
    };
    let Value::Map(entries) = &node.value else {
        reader.error(
            node.pos,
            format!("`{key}` must be a mapping, not {}", node.kind()),
        );
        return TemplateMap::default();
    };
    let mut pairs = Vec::with_capacity(entries.len());
    for entry in entries.iter() {
        // A string (nearly every value) needs no name for an error.
        let value = match &entry.value.value {
            Value::Str(text) => Some(Cow::Borrowed(*text)),
            _ => reader.text_of(&entry.value, &format!("`{key}` `{}`", entry.key)),
        };
        if let Some(value) = value {
            if is_template(&value) {
                templates.push((value.clone(), entry.value.pos));
            }
            pairs.push((entry.key.to_string(), value.into_owned()));
        }
    }
    pairs.into_iter().collect()
}

/// Reads a list of templated strings (`produces`, `consumes`).
fn template_list<'n>(
    reader: &mut Reader<'_>,
    fields: &Fields<'n>,
    key: &str,
    templates: &mut Templates<'n>,
) -> Vec<String> {
    match fields.get(key) {
        Some(node) => template_texts(reader, node, &format!("`{key}`"), templates)
            .map(Cow::into_owned)
            .collect(),
        None => Vec::new(),
    }
}

/// A list of scalars as text (a command's arguments, `produces`), each one
/// holding template syntax also added to `templates`.
fn template_texts<'n>(
    reader: &mut Reader<'_>,
    node: &'n Node<'n>,
    what: &str,
    templates: &mut Templates<'n>,
) -> impl Iterator<Item = Cow<'n, str>> {
    reader.list(node, what).iter().filter_map(move |item| {
        let text = reader.text_of(item, what)?;
        if is_template(&text) {
            templates.push((text.clone(), item.pos));
        }
        Some(text)
    })
}

/// A task's `command`, allocated once at its size.
fn read_command<'n>(
    reader: &mut Reader<'_>,
    node: &'n Node<'n>,
    templates: &mut Templates<'n>,
) -> Argv {
    let items = match &node.value {
        Value::Str(_) => {
            reader.error(node.pos, "`command` is a list of arguments, e.g. [python, train.py, --day, \"{{ ds }}\"]; for a shell line write [sh, -c, \"...\"]");
            return Argv::default();
        }
        Value::Seq(items) => &items[..],
        _ => &[],
    };
    // Sized from the text as written, a number guessed at 8 bytes.
    let bytes = items.iter().map(|item| match &item.value {
        Value::Str(text) => text.len(),
        _ => 8,
    });
    let mut argv = Argv::with_capacity(items.len(), bytes.sum());
    for arg in template_texts(reader, node, "`command`", templates) {
        argv.push(&arg);
    }
    argv
}

fn read_map_over<'n>(
    reader: &mut Reader<'_>,
    fields: &Fields<'n>,
    templates: &mut Templates<'n>,
) -> Option<MapOver> {
    let node = fields.get("map_over")?;
    match &node.value {
        Value::Seq(_) => match node.to_json() {
            serde_json::Value::Array(items) => Some(MapOver::Items(items)),
            _ => None,
        },
        Value::Str(text) if is_template(text) => {
            templates.push((Cow::Borrowed(text), node.pos));
            Some(MapOver::Template(text.to_string()))
        }
        _ => {
            reader.error(node.pos, "`map_over` is a list, or a template that renders one such as \"{{ outputs.split.shards }}\"");
            None
        }
    }
}

/// `params:`: each a bare default, or a schema (`{type, default, enum,
/// minimum, maximum, description}`) whose default must fit it. A param with
/// no default needs a value from each run's maker: a scheduled DAG may not
/// have one.
fn read_params(
    reader: &mut Reader<'_>,
    node: &Node,
    schedule: Option<&Schedule>,
) -> (
    Option<serde_json::Map<String, serde_json::Value>>,
    BTreeMap<String, ParamRule>,
) {
    let Value::Map(entries) = &node.value else {
        reader.error(
            node.pos,
            format!("`params` must be a mapping, not {}", node.kind()),
        );
        return (None, BTreeMap::new());
    };
    let mut defaults = serde_json::Map::new();
    let mut rules = BTreeMap::new();
    for entry in entries.iter() {
        let name = &entry.key;
        let value = entry.value.to_json();
        if !is_param_schema(&value) {
            defaults.insert(name.to_string(), value);
            continue;
        }
        let what = format!("param `{name}`");
        let fields = reader.fields(&entry.value, &what, &PARAM_SCHEMA_KEYS);
        let mut rule = ParamRule::default();
        if let Some(n) = fields.get("type") {
            rule.kind = reader.string(n, "`type`").filter(|kind| {
                let known = PARAM_TYPES.contains(&kind.as_str());
                if !known {
                    reader.error(
                        n.pos,
                        format!("{what}: `type` is one of {}", PARAM_TYPES.join(", ")),
                    );
                }
                known
            });
        }
        if let Some(n) = fields.get("enum") {
            match n.to_json() {
                serde_json::Value::Array(values) if !values.is_empty() => {
                    rule.one_of = Some(values)
                }
                _ => reader.error(
                    n.pos,
                    format!("{what}: `enum` is a list of the values allowed"),
                ),
            }
        }
        for (key, bound) in [
            ("minimum", &mut rule.minimum),
            ("maximum", &mut rule.maximum),
        ] {
            if let Some(n) = fields.get(key) {
                *bound = n.to_json().as_f64();
                if bound.is_none() {
                    reader.error(n.pos, format!("{what}: `{key}` is a number"));
                }
            }
        }
        rule.description = fields
            .get("description")
            .and_then(|n| reader.string(n, "`description`"));
        match fields.get("default") {
            Some(n) => {
                let default = n.to_json();
                if let Err(why) = rule.check(&default) {
                    reader.error(n.pos, format!("{what}'s default: {why}"));
                }
                rule.has_default = true;
                defaults.insert(name.to_string(), default);
            }
            None if schedule.is_some_and(|s| !s.is_none()) => reader.error(
                entry.key_pos,
                format!("{what} has no default, which the schedule's runs need"),
            ),
            None => {}
        }
        rules.insert(name.to_string(), rule);
    }
    (Some(defaults), rules)
}

/// A `true`/`false` key; `false` when not written.
fn flag(reader: &mut Reader<'_>, fields: &Fields<'_>, key: &str) -> bool {
    fields
        .get(key)
        .and_then(|n| reader.boolean(n, &format!("`{key}`")))
        .unwrap_or(false)
}

fn positive(reader: &mut Reader<'_>, fields: &Fields<'_>, key: &str) -> Option<u32> {
    let node = fields.get(key)?;
    match reader.count(node, &format!("`{key}`"))? {
        0 => {
            reader.error(node.pos, format!("`{key}` must be at least 1"));
            None
        }
        n => Some(n),
    }
}

fn read_dag<'n>(reader: &mut Reader<'_>, file: &str, root: &'n Node<'n>) -> Option<DagSpec> {
    if !matches!(root.value, Value::Map(_)) {
        reader.error(
            root.pos,
            format!("the spec must be a mapping, not {}", root.kind()),
        );
        return None;
    }
    let fields = reader.fields(root, "the spec", DAG_KEYS);
    let id = match fields.get("dag") {
        Some(node) => reader.string(node, "`dag`").and_then(|text| {
            DagId::parse(&text)
                .map_err(|why| reader.error(node.pos, why))
                .ok()
        }),
        None => {
            reader.error(root.pos, "missing `dag:` (the DAG id)");
            None
        }
    };
    let tz = read_timezone(reader, &fields);
    let policy = read_policy(reader, &fields, tz);
    // When `start` itself is wrong (reported already), any start will do to
    // check the schedule's own syntax.
    let start = policy
        .as_ref()
        .map_or(Some(DateTime::UNIX_EPOCH), |p| p.start);
    let schedule = match fields.get("schedule") {
        Some(node) => reader.text(node, "`schedule`").and_then(|text| {
            Schedule::parse_from(&text, tz, start)
                .map_err(|why| reader.error(node.pos, why))
                .ok()
        }),
        None => Some(Schedule::none(tz)),
    };
    let (params, param_rules) = match fields.get("params") {
        Some(node) => read_params(reader, node, schedule.as_ref()),
        None => (Some(Default::default()), BTreeMap::new()),
    };
    let tags = fields
        .get("tags")
        .map(|n| reader.texts(n, "`tags`"))
        .unwrap_or_default();
    let description = fields
        .get("description")
        .and_then(|n| reader.string(n, "`description`"));
    let owner = fields
        .get("owner")
        .and_then(|n| reader.string(n, "`owner`"));
    let (defaults, default_capacity) = match fields.get("defaults") {
        Some(node) => {
            let defaults = reader.fields(node, "`defaults`", DEFAULT_KEYS);
            let capacity = CapacityKeys::read(reader, &defaults);
            let retry = read_retry(reader, &defaults, RetryPolicy::default(), None);
            (retry, capacity)
        }
        None => ((RetryPolicy::default(), None), CapacityKeys::default()),
    };
    let max_active_tasks = positive(reader, &fields, "max_active_tasks");
    let max_active_tasks_per_run = positive(reader, &fields, "max_active_tasks_per_run");
    let run_timeout = read_longer_than_zero(reader, &fields, "run_timeout");
    let sla = read_longer_than_zero(reader, &fields, "sla");
    let retention = read_longer_than_zero(reader, &fields, "retention");
    let latest_only = flag(reader, &fields, "latest_only");
    let triggers = fields
        .get("triggers")
        .map(|node| read_triggers(reader, node))
        .unwrap_or_default();
    let Profiles {
        profiles: compute,
        capacities: profile_capacity,
        templates: profile_templates,
    } = read_compute(reader, fields.get("compute"));
    let (groups, group_defaults) = match fields.get("groups") {
        Some(node) => read_groups(reader, node, defaults, &default_capacity, DEFAULT_KEYS),
        None => Default::default(),
    };
    let (mut specs, mut drafts): (Vec<TaskSpec>, Vec<Draft>) = match fields.get("tasks") {
        Some(node) => {
            let items = reader.list(node, "`tasks`");
            if items.is_empty() && matches!(node.value, Value::Seq(_)) {
                reader.error(node.pos, "`tasks` is empty; a DAG needs at least one task");
            }
            // Sized up front: a spec is large, and growing a vector of
            // ten thousand of them by doubling copies it over and over.
            let mut specs = Vec::with_capacity(items.len());
            let mut drafts = Vec::with_capacity(items.len());
            for item in items {
                let group = group_of(item).and_then(|g| group_defaults.get(g));
                if let Some((spec, draft)) =
                    read_task(reader, item, group.map_or(defaults, |g| g.retry))
                {
                    specs.push(spec);
                    drafts.push(draft);
                }
            }
            (specs, drafts)
        }
        None => {
            reader.error(root.pos, "missing `tasks:` (the list of tasks)");
            (Vec::new(), Vec::new())
        }
    };
    for (spec, draft) in specs.iter_mut().zip(&drafts) {
        let dag_base = match spec.group.as_ref().and_then(|g| group_defaults.get(g)) {
            Some(group) => group.capacity.clone(),
            None => default_capacity.clone(),
        };
        let base = match spec.compute.as_ref().and_then(|n| profile_capacity.get(n)) {
            Some(profile) => profile.over(&dag_base),
            None => dag_base,
        };
        (spec.pool, spec.priority) = draft.capacity.over(&base).resolve(reader);
    }
    for (spec, draft) in specs.iter_mut().zip(&mut drafts) {
        let profile = spec.compute.as_ref().and_then(|n| compute.get(n));
        read_service_task(reader, spec, draft, profile);
        if let Some(templates) = spec.compute.as_ref().and_then(|n| profile_templates.get(n)) {
            draft.templates.extend(templates.iter().cloned());
        }
        if !spec.hyperparameters.is_empty()
            && !matches!(profile, Some(ComputeProfile::Sagemaker(_)))
        {
            reader.error(
                draft.hyperparameters_pos,
                "`hyperparameters` are for a task on a `kind: sagemaker` compute profile",
            );
        }
        if matches!(profile, Some(ComputeProfile::Sagemaker(_))) && spec.image.is_none() {
            reader.error(
                draft.compute_pos,
                "a task on a `kind: sagemaker` profile needs an `image` (SageMaker has no default)",
            );
        }
        if let Some(name) = &spec.compute
            && profile.is_none()
        {
            let known: Vec<&str> = compute.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "none is defined under `compute:`".to_string()
            } else {
                format!("defined: {}", known.join(", "))
            };
            reader.error(
                draft.compute_pos,
                format!("unknown compute profile `{name}`; {known}"),
            );
        }
    }
    let mut afters: Vec<_> = specs
        .iter()
        .zip(&mut drafts)
        .map(|(s, d)| (s.id.as_str(), s.group.as_deref(), &mut d.after))
        .collect();
    expand_after(reader, &mut afters);
    let nodes: Vec<graph::Node<'_>> = specs
        .iter()
        .zip(&drafts)
        .map(|(s, d)| graph::Node {
            id: &s.id,
            id_pos: d.id_pos,
            after: &d.after,
        })
        .collect();
    let graph = graph::check(reader, &nodes);
    if let Some(graph) = &graph {
        check_templates(reader, &mut specs, &drafts, graph);
    }
    let Graph {
        index,
        upstream,
        downstream,
        order,
    } = graph?;
    // In a valid graph `after` names exactly the upstream tasks, in order:
    // their ids are shared, not read again.
    let ids: Vec<TaskId> = specs.iter().map(|s| s.id.clone()).collect();
    for (spec, up) in specs.iter_mut().zip(upstream) {
        spec.after = up.iter().map(|&u| ids[u].clone()).collect();
        spec.upstream = up;
    }
    for ((spec, draft), down) in specs.iter().zip(&drafts).zip(&downstream) {
        if let (Some(pos), true) = (draft.branch_pos, down.is_empty()) {
            reader.error(
                pos,
                format!(
                    "`branch: true` on `{}`, but no task runs after it: a branch chooses among the tasks right after it",
                    spec.id
                ),
            );
        }
    }
    Some(DagSpec {
        id: id?,
        file: file.to_string(),
        version: spec_version(root),
        description,
        owner,
        tags: tags.into_iter().map(|(t, _)| t.into_owned()).collect(),
        schedule: schedule?,
        policy: policy?,
        run_timeout,
        sla,
        retention,
        latest_only,
        triggers,
        max_active_tasks,
        max_active_tasks_per_run,
        params: params?,
        param_rules,
        compute,
        groups,
        tasks: specs,
        index,
        downstream,
        order,
    })
}

/// `triggers:`, a list of `{dag, state}`, `{artifact}`, `{all}` or `{any}`
/// items, each with an optional `debounce` (`within` for `all`).
fn read_triggers(reader: &mut Reader<'_>, node: &Node) -> Vec<Trigger> {
    let mut triggers = Vec::new();
    for item in reader.list(node, "`triggers`") {
        let fields = reader.fields(item, "a trigger", TRIGGER_KEYS);
        let debounce = read_longer_than_zero(reader, &fields, "debounce");
        let within = read_longer_than_zero(reader, &fields, "within");
        let Some(on) = read_condition(reader, item, &fields, 0) else {
            continue;
        };
        if let Some(node) = fields.get("debounce").filter(|_| on.awaits_all()) {
            reader.error(
                node.pos,
                "`debounce` gathers single events; an `all:` trigger gathers by logical date, or by `within: DURATION`",
            );
        }
        if let Some(node) = fields.get("within").filter(|_| !on.awaits_all()) {
            reader.error(node.pos, "`within` is for an `all:` trigger");
        }
        triggers.push(Trigger {
            on,
            debounce,
            within,
            pos: item.pos,
        });
    }
    triggers
}

/// How deep `all:` / `any:` may nest.
const MAX_CONDITION_DEPTH: usize = 4;

/// One condition of a trigger: `dag:` (with `state`), `artifact:`, or
/// `all:` / `any:` of conditions.
fn read_condition(
    reader: &mut Reader<'_>,
    item: &Node,
    fields: &Fields<'_>,
    depth: usize,
) -> Option<TriggerOn> {
    let given: Vec<&str> = ["dag", "artifact", "all", "any"]
        .into_iter()
        .filter(|k| fields.get(k).is_some())
        .collect();
    if given.len() > 1 {
        let second = fields.get(given[1]).map_or(item.pos, |n| n.pos);
        reader.error(
            second,
            format!(
                "a trigger waits for one of `dag`, `artifact`, `all` or `any`, not `{}` and `{}`",
                given[0], given[1]
            ),
        );
        return None;
    }
    if let Some(state) = fields.get("state").filter(|_| given != ["dag"]) {
        reader.error(state.pos, "`state` is for a `dag:` trigger");
    }
    match given.first().copied() {
        Some("dag") => {
            let dag = fields.get("dag")?;
            let when = match fields.get("state") {
                Some(state) => reader.string(state, "`state`").and_then(|text| {
                    UpstreamEnd::parse(&text).or_else(|| {
                        reader.error(
                            state.pos,
                            format!("`state: {text}`: expected succeeded, failed or any"),
                        );
                        None
                    })
                }),
                None => Some(UpstreamEnd::Succeeded),
            };
            let id = reader.string(dag, "`dag`").and_then(|text| {
                DagId::parse(&text)
                    .map_err(|why| reader.error(dag.pos, why))
                    .ok()
            });
            id.zip(when).map(|(dag, when)| TriggerOn::Dag { dag, when })
        }
        Some("artifact") => {
            let artifact = fields.get("artifact")?;
            reader.string(artifact, "`artifact`").and_then(|text| {
                ArtifactPattern::parse(&text)
                    .map_err(|why| reader.error(artifact.pos, why))
                    .ok()
                    .map(TriggerOn::Artifact)
            })
        }
        Some(word @ ("all" | "any")) => {
            let list = fields.get(word)?;
            if depth >= MAX_CONDITION_DEPTH {
                reader.error(
                    list.pos,
                    format!("`{word}` nested deeper than {MAX_CONDITION_DEPTH}"),
                );
                return None;
            }
            let mut parts = Vec::new();
            let mut complete = true;
            for part in reader.list(list, &format!("`{word}`")) {
                let inner = reader.fields(part, "a condition", CONDITION_KEYS);
                match read_condition(reader, part, &inner, depth + 1) {
                    Some(condition) => parts.push(condition),
                    None => complete = false,
                }
            }
            if complete && parts.is_empty() && matches!(list.value, Value::Seq(_)) {
                reader.error(list.pos, format!("`{word}` needs at least one condition"));
                return None;
            }
            complete.then_some(match word {
                "all" => TriggerOn::All(parts),
                _ => TriggerOn::Any(parts),
            })
        }
        _ => {
            reader.error(
                item.pos,
                "a trigger needs `dag: OTHER_DAG`, `artifact: PATTERN`, `all: [...]` or `any: [...]`",
            );
            None
        }
    }
}

fn read_timezone(reader: &mut Reader<'_>, fields: &Fields<'_>) -> Tz {
    let Some(node) = fields.get("timezone") else {
        return Tz::UTC;
    };
    let Some(name) = reader.string(node, "`timezone`") else {
        return Tz::UTC;
    };
    Tz::from_str(&name).unwrap_or_else(|_| {
        let same_but_case = chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(&name));
        let hint = match same_but_case {
            Some(tz) => format!("did you mean `{}`?", tz.name()),
            None => "use an IANA name such as Asia/Tokyo, Europe/Berlin or UTC".to_string(),
        };
        reader.error(node.pos, format!("unknown time zone `{name}`; {hint}"));
        Tz::UTC
    })
}

fn read_policy(reader: &mut Reader<'_>, fields: &Fields<'_>, tz: Tz) -> Option<SchedulePolicy> {
    let mut bound = |key: &str| -> Result<Option<LocalTime>, ()> {
        let Some(node) = fields.get(key) else {
            return Ok(None);
        };
        let text = reader.text(node, &format!("`{key}`")).ok_or(())?;
        LocalTime::parse(&text, tz)
            .map(Some)
            .map_err(|why| reader.error(node.pos, format!("`{key}`: {why}")))
    };
    let (start, end) = (bound("start"), bound("end"));
    let catchup = fields
        .get("catchup")
        .map(|n| (n.pos, reader.boolean(n, "`catchup`")));
    let max_active_runs = match fields.get("max_active_runs") {
        Some(node) => match reader.count(node, "`max_active_runs`") {
            Some(0) => {
                reader.error(node.pos, "`max_active_runs` must be at least 1");
                None
            }
            other => other,
        },
        None => Some(DEFAULT_MAX_ACTIVE_RUNS),
    };
    if let (Some((pos, Some(true))), Ok(None)) = (catchup, start) {
        reader.error(pos, "`catchup: true` needs a `start` to catch up from");
    }
    let catchup = match catchup {
        Some((_, value)) => value?,
        None => false,
    };
    Some(SchedulePolicy {
        start: start.ok()?.map(|s| s.first_instant(tz)),
        end: end.ok()?.map(|e| e.last_instant(tz)),
        catchup,
        max_active_runs: max_active_runs?,
    })
}

pub(super) fn read_retry(
    reader: &mut Reader<'_>,
    fields: &Fields<'_>,
    base: RetryPolicy,
    timeout: Option<std::time::Duration>,
) -> (RetryPolicy, Option<std::time::Duration>) {
    let mut retry = base;
    if let Some(n) = fields
        .get("retries")
        .and_then(|n| reader.count(n, "`retries`"))
    {
        retry.retries = n;
    }
    if let Some(d) = fields
        .get("retry_delay")
        .and_then(|n| reader.duration(n, "`retry_delay`"))
    {
        retry.delay = d;
    }
    if let Some(node) = fields.get("retry_backoff") {
        match reader.number(node, "`retry_backoff`") {
            Some(b) if b >= 1.0 => retry.backoff = b,
            Some(_) => reader.error(node.pos, "`retry_backoff` must be 1.0 or more"),
            None => {}
        }
    }
    let timeout = read_longer_than_zero(reader, fields, "timeout").or(timeout);
    (retry, timeout)
}

/// A duration that must be longer than zero (`timeout`, `run_timeout`).
fn read_longer_than_zero(
    reader: &mut Reader<'_>,
    fields: &Fields<'_>,
    key: &str,
) -> Option<std::time::Duration> {
    let node = fields.get(key)?;
    match reader.duration(node, &format!("`{key}`")) {
        Some(d) if d.is_zero() => {
            reader.error(node.pos, format!("`{key}` must be longer than 0s"));
            None
        }
        other => other,
    }
}

/// The compute profiles, the capacity keys each writes, and the templates
/// in each (checked for every task on it).
#[derive(Default)]
struct Profiles<'n> {
    profiles: BTreeMap<String, ComputeProfile>,
    capacities: BTreeMap<String, CapacityKeys>,
    templates: BTreeMap<String, Vec<Written<'n>>>,
}

/// The keys a profile of a service kind may write besides the kind's own.
const SERVICE_PROFILE_KEYS: &[&str] = &["kind", "pool", "pool_slots", "priority"];

/// A task's keys of a service kind, checked against its profile's kind and
/// merged over the profile's; or, on any other profile, reported.
fn read_service_task<'n>(
    reader: &mut Reader<'_>,
    spec: &mut TaskSpec,
    draft: &mut Draft<'n>,
    profile: Option<&ComputeProfile>,
) {
    if let Some(ComputeProfile::Sagemaker(_)) = profile {
        // A training job's named S3 input channels.
        draft.service_keys.retain(|(name, node)| {
            if *name != "inputs" {
                return true;
            }
            let Value::Map(entries) = &node.value else {
                reader.error(
                    node.pos,
                    format!(
                        "`inputs` must be a mapping of channel names to S3 URIs, not {}",
                        node.kind()
                    ),
                );
                return false;
            };
            for entry in entries.iter() {
                let what = format!("`inputs` `{}`", entry.key);
                if let Some(uri) = reader.text_of(&entry.value, &what) {
                    if is_template(&uri) {
                        draft.templates.push((uri.clone(), entry.value.pos));
                    }
                    spec.inputs.insert(entry.key.to_string(), uri.into_owned());
                }
            }
            false
        });
    }
    let Some(ComputeProfile::Service(profile)) = profile else {
        for (name, node) in &draft.service_keys {
            let mut kinds: Vec<&str> = ServiceKind::ALL
                .iter()
                .filter(|(k, _)| k.key(name).is_some())
                .map(|(_, n)| *n)
                .collect();
            if *name == "inputs" {
                kinds.insert(0, "sagemaker");
            }
            reader.error(
                node.pos,
                format!(
                    "`{name}` is for a task on a compute profile of `kind: {}`",
                    kinds.join("` or `kind: ")
                ),
            );
        }
        return;
    };
    if !profile.kind.runs_a_container() {
        for (name, pos) in &draft.container_keys {
            let Some(pos) = *pos else { continue };
            reader.error(
                pos,
                format!(
                    "`{name}` is not used by a `kind: {}` task, which runs no container of its own",
                    profile.kind.as_str()
                ),
            );
        }
    } else if profile.kind == ServiceKind::SagemakerProcessing && spec.image.is_none() {
        reader.error(
            draft.compute_pos,
            "a task on a `kind: sagemaker_processing` profile needs an `image`",
        );
    }
    let mut own = serde_json::Map::new();
    for &(name, node) in &draft.service_keys {
        if let Some(value) =
            kinds::read_value(reader, profile.kind, name, node, &mut draft.templates)
        {
            own.insert(name.to_string(), value);
        }
    }
    let id = spec.id.to_string();
    let service = kinds::merge(reader, profile, own, draft.compute_pos, &id);
    match kinds::sensor_of(&service) {
        Some(Ok(sensor)) => spec.wait_for = Some(sensor),
        Some(Err(why)) => reader.error(draft.compute_pos, why),
        None => {}
    }
    spec.service = Some(service);
}

/// A profile of a service kind: its keys and their templates.
fn read_service_profile<'n>(
    reader: &mut Reader<'_>,
    kind: ServiceKind,
    node: &'n Node<'n>,
    what: &str,
    templates: &mut Vec<Written<'n>>,
) -> (ServiceProfile, CapacityKeys) {
    let mut allowed: Vec<&str> = SERVICE_PROFILE_KEYS.to_vec();
    allowed.extend(kind.keys().iter().map(|k| k.name));
    allowed.push(kinds::ROLE.name);
    let fields = reader.fields(node, what, &allowed);
    let capacity = CapacityKeys::read(reader, &fields);
    let mut settings = serde_json::Map::new();
    if let Value::Map(entries) = &node.value {
        for entry in entries.iter() {
            if SERVICE_PROFILE_KEYS.contains(&entry.key)
                || !allowed.contains(&entry.key)
                || entry.value.value == Value::Null
            {
                continue;
            }
            if let Some(value) = kinds::read_value(reader, kind, entry.key, &entry.value, templates)
            {
                settings.insert(entry.key.to_string(), value);
            }
        }
    }
    (ServiceProfile { kind, settings }, capacity)
}

fn read_compute<'n>(reader: &mut Reader<'_>, node: Option<&'n Node<'n>>) -> Profiles<'n> {
    let mut out = Profiles::default();
    let Some(node) = node else {
        return out;
    };
    let Value::Map(entries) = &node.value else {
        reader.error(
            node.pos,
            format!(
                "`compute` must be a mapping of profile names, not {}",
                node.kind()
            ),
        );
        return out;
    };
    let Profiles {
        profiles,
        capacities,
        templates,
    } = &mut out;
    for entry in entries.iter() {
        let what = format!("compute profile `{}`", entry.key);
        let kind = match &entry.value.value {
            Value::Map(fields) => fields.iter().find(|f| f.key == "kind").map(|f| &f.value),
            _ => None,
        };
        let Some(kind_node) = kind else {
            reader.error(
                entry.value.pos,
                format!("{what} needs a `kind`: {}", kind_names()),
            );
            continue;
        };
        let profile = match reader.string(kind_node, "`kind`").as_deref() {
            Some("ecs") => {
                let fields = reader.fields(&entry.value, &what, ECS_KEYS);
                capacities.insert(entry.key.to_string(), CapacityKeys::read(reader, &fields));
                read_ecs(reader, &fields, &entry.value, &what).map(ComputeProfile::Ecs)
            }
            Some("sagemaker") => {
                let fields = reader.fields(&entry.value, &what, SAGEMAKER_KEYS);
                capacities.insert(entry.key.to_string(), CapacityKeys::read(reader, &fields));
                read_sagemaker(reader, &fields, &entry.value, &what).map(ComputeProfile::Sagemaker)
            }
            Some(other) => match ServiceKind::parse(other) {
                Some(kind) => {
                    let found = templates.entry(entry.key.to_string()).or_default();
                    let (profile, capacity) =
                        read_service_profile(reader, kind, &entry.value, &what, found);
                    capacities.insert(entry.key.to_string(), capacity);
                    Some(ComputeProfile::Service(profile))
                }
                None => {
                    reader.error(
                        kind_node.pos,
                        format!("unknown compute kind `{other}`; use {}", kind_names()),
                    );
                    None
                }
            },
            None => None,
        };
        if let Some(profile) = profile {
            profiles.insert(entry.key.to_string(), profile);
        }
    }
    out
}

/// Every compute kind, for messages.
fn kind_names() -> String {
    let mut names = vec!["ecs", "sagemaker"];
    names.extend(ServiceKind::ALL.iter().map(|(_, n)| *n));
    names.join(", ")
}

fn required_string(
    reader: &mut Reader<'_>,
    fields: &Fields<'_>,
    at: &Node,
    key: &str,
    what: &str,
) -> Option<String> {
    match fields.get(key) {
        Some(node) => reader.string(node, &format!("`{key}`")),
        None => {
            reader.error(at.pos, format!("{what} needs `{key}`"));
            None
        }
    }
}

fn optional_count(reader: &mut Reader<'_>, fields: &Fields<'_>, key: &str) -> Option<u32> {
    fields
        .get(key)
        .and_then(|n| reader.count(n, &format!("`{key}`")))
}

fn read_ecs(
    reader: &mut Reader<'_>,
    fields: &Fields<'_>,
    node: &Node,
    what: &str,
) -> Option<EcsProfile> {
    let task_definition = required_string(reader, fields, node, "task_definition", what);
    let ephemeral_storage = optional_count(reader, fields, "ephemeral_storage");
    if let (Some(gib), Some(n)) = (ephemeral_storage, fields.get("ephemeral_storage"))
        && !(21..=200).contains(&gib)
    {
        reader.error(
            n.pos,
            "`ephemeral_storage` is in GiB and must be 21-200 on Fargate",
        );
    }
    Some(EcsProfile {
        task_definition: task_definition?,
        cpu: optional_count(reader, fields, "cpu"),
        memory: optional_count(reader, fields, "memory"),
        ephemeral_storage,
    })
}

fn read_sagemaker(
    reader: &mut Reader<'_>,
    fields: &Fields<'_>,
    node: &Node,
    what: &str,
) -> Option<SagemakerProfile> {
    let instance_type = required_string(reader, fields, node, "instance_type", what);
    if let (Some(t), Some(n)) = (&instance_type, fields.get("instance_type"))
        && !t.starts_with("ml.")
    {
        reader.error(
            n.pos,
            format!("`instance_type` `{t}` is not a SageMaker type such as ml.g5.2xlarge"),
        );
    }
    Some(SagemakerProfile {
        instance_type: instance_type?,
        instance_count: optional_count(reader, fields, "instance_count")
            .unwrap_or(1)
            .max(1),
        volume_size: optional_count(reader, fields, "volume_size").unwrap_or(30),
        max_runtime: fields
            .get("max_runtime")
            .and_then(|n| reader.duration(n, "`max_runtime`")),
    })
}

fn read_task<'n>(
    reader: &mut Reader<'_>,
    node: &'n Node<'n>,
    (retry, timeout): (RetryPolicy, Option<std::time::Duration>),
) -> Option<(TaskSpec, Draft<'n>)> {
    let allowed = task_keys();
    let fields = reader.fields(node, "a task", allowed);
    let Some(id_node) = fields.get("id") else {
        reader.error(node.pos, "a task needs an `id`");
        return None;
    };
    // An invalid id is reported but kept, so `after` lists naming it do not
    // add errors of their own; the spec is rejected anyway.
    let id = reader.string(id_node, "task `id`").map(|text| {
        TaskId::parse(&text).unwrap_or_else(|why| {
            reader.error(id_node.pos, why);
            TaskId::new_unchecked(text)
        })
    })?;
    let mut templates = Templates::default();
    let mut after = fields
        .get("after")
        .map(|n| reader.texts(n, "`after`"))
        .unwrap_or_default();
    // A teardown runs after its setups.
    let teardown: Vec<Written<'n>> = fields
        .get("teardown")
        .map(|n| reader.texts(n, "`teardown`"))
        .unwrap_or_default();
    for (setup, pos) in &teardown {
        if !after.iter().any(|(a, _)| a == setup) {
            after.push((setup.clone(), *pos));
        }
    }
    let fail_run = flag(reader, &fields, "fail_run");
    if let (Some(n), true) = (fields.get("fail_run"), teardown.is_empty()) {
        reader.error(
            n.pos,
            "`fail_run` applies only to a teardown (a task with `teardown:`)",
        );
    }
    let image = fields.get("image").and_then(|n| {
        let image = reader.string(n, "`image`")?;
        if is_template(&image) {
            templates.push((Cow::Owned(image.clone()), n.pos));
        }
        Some(image)
    });
    let command = fields
        .get("command")
        .map(|n| read_command(reader, n, &mut templates));
    let environment = template_map(reader, &fields, "environment", &mut templates);
    let hyperparameters = template_map(reader, &fields, "hyperparameters", &mut templates);
    let trigger_rule = fields.get("trigger_rule").and_then(|n| {
        let text = reader.string(n, "`trigger_rule`")?;
        let rule = TriggerRule::ALL
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(r, _)| *r);
        if rule.is_none() {
            let names: Vec<&str> = TriggerRule::ALL.iter().map(|(_, n)| *n).collect();
            reader.error(
                n.pos,
                format!(
                    "unknown trigger rule `{text}`; use one of {}",
                    names.join(", ")
                ),
            );
        }
        rule
    });
    let compute_node = fields.get("compute");
    let compute = compute_node.and_then(|n| reader.string(n, "`compute`"));
    let (retry, timeout) = read_retry(reader, &fields, retry, timeout);
    let map_over = read_map_over(reader, &fields, &mut templates);
    let skip_exit_code =
        fields
            .get("skip_exit_code")
            .and_then(|n| match reader.count(n, "`skip_exit_code`")? {
                code @ 1..=255 => Some(code as i32),
                _ => {
                    reader.error(n.pos, "`skip_exit_code` is an exit code from 1 to 255");
                    None
                }
            });
    let wait_for = fields
        .get("wait_for")
        .and_then(|n| read_wait_for(reader, n, &mut templates));
    let approval = fields
        .get("approval")
        .and_then(|n| read_approval(reader, n));
    let trigger_dag = fields
        .get("trigger_dag")
        .and_then(|n| read_trigger_dag(reader, n, &mut templates));
    for (waits, what) in [
        ("wait_for", "a sensor (`wait_for`)"),
        ("approval", "an approval"),
        ("trigger_dag", "a `trigger_dag` task"),
    ] {
        let Some(n) = fields.get(waits) else { continue };
        for key in [
            "command", "image", "compute", "map_over", "wait_for", "approval",
        ] {
            if key != waits && fields.get(key).is_some() {
                reader.error(
                    n.pos,
                    format!("{what} runs nothing of its own: it takes no `{key}`"),
                );
            }
        }
    }
    // A rejection stops what follows, as a short circuit does.
    let rejects = approval
        .as_ref()
        .is_some_and(|a| a.options.iter().any(|o| o == REJECT));
    let branch = flag(reader, &fields, "branch");
    let latest_only = flag(reader, &fields, "latest_only");
    let depends_on_past = flag(reader, &fields, "depends_on_past");
    let short_circuit = fields.get("short_circuit").and_then(|n| match &n.value {
        Value::Bool(true) => Some(ShortCircuit::All),
        Value::Bool(false) => Some(ShortCircuit::Off),
        Value::Str("respect_trigger_rules") => Some(ShortCircuit::RespectTriggerRules),
        _ => {
            reader.error(
                n.pos,
                "`short_circuit` is true, false or respect_trigger_rules",
            );
            None
        }
    });
    let max_parallel = positive(reader, &fields, "max_parallel");
    let max_map = positive(reader, &fields, "max_map");
    if map_over.is_some() {
        for key in ["branch", "short_circuit"] {
            if let Some(node) = fields.get(key) {
                reader.error(
                    node.pos,
                    format!("`{key}` applies only to a task without `map_over`"),
                );
            }
        }
    }
    if map_over.is_none() {
        for key in ["max_parallel", "max_map"] {
            if let Some(node) = fields.get(key) {
                reader.error(
                    node.pos,
                    format!("`{key}` applies only to a task with `map_over`"),
                );
            }
        }
    }
    let capacity = CapacityKeys::read(reader, &fields);
    let service_keys = match &node.value {
        Value::Map(entries) => entries
            .iter()
            .filter(|e| !TASK_KEYS.contains(&e.key) && e.value.value != Value::Null)
            .filter(|e| allowed.contains(&e.key))
            .map(|e| (e.key, &e.value))
            .collect(),
        _ => Vec::new(),
    };
    let container_keys =
        ["image", "command", "environment"].map(|k| (k, fields.get(k).map(|n| n.pos)));
    let produces = template_list(reader, &fields, "produces", &mut templates);
    let consumes = template_list(reader, &fields, "consumes", &mut templates);
    let templates = templates.finish(reader);
    let spec = TaskSpec {
        // Set from the graph, once groups are expanded.
        after: Vec::new(),
        id,
        pos: node.pos,
        description: fields
            .get("description")
            .and_then(|n| reader.string(n, "`description`")),
        upstream: Vec::new(),
        compute,
        image,
        command,
        environment,
        hyperparameters,
        trigger_rule: trigger_rule.unwrap_or_default(),
        skip_exit_code: skip_exit_code.unwrap_or(DEFAULT_SKIP_EXIT_CODE),
        branch,
        short_circuit: short_circuit.unwrap_or(match rejects {
            true => ShortCircuit::All,
            false => ShortCircuit::Off,
        }),
        latest_only,
        depends_on_past,
        teardown_of: teardown
            .iter()
            .filter_map(|(s, _)| TaskId::parse(s).ok())
            .collect(),
        fail_run,
        group: fields
            .get("group")
            .and_then(|n| reader.string(n, "`group`")),
        wait_for,
        approval,
        trigger_dag,
        retry,
        timeout,
        map_over,
        max_parallel,
        max_map: max_map.unwrap_or(DEFAULT_MAX_MAP),
        produces,
        consumes,
        reads_outputs: false,
        pool: None,
        priority: 0,
        service: None,
        inputs: BTreeMap::new(),
    };
    let draft = Draft {
        id_pos: id_node.pos,
        after,
        compute_pos: compute_node.map_or(node.pos, |n| n.pos),
        hyperparameters_pos: fields.get("hyperparameters").map_or(node.pos, |n| n.pos),
        templates,
        capacity,
        service_keys,
        container_keys,
        branch_pos: fields.get("branch").filter(|_| branch).map(|n| n.pos),
    };
    Some((spec, draft))
}

/// Only strings with a `{` can hold template syntax.
fn is_template(text: &str) -> bool {
    text.contains('{')
}

/// Every template parses, reads only known variables, and reads outputs
/// only of tasks that run before it.
fn check_templates(
    reader: &mut Reader<'_>,
    specs: &mut [TaskSpec],
    drafts: &[Draft],
    graph: &Graph,
) {
    // Built only for a template beyond substitutions, each parsed once:
    // generated specs repeat the same templates across many tasks.
    let mut checker: Option<TemplateChecker> = None;
    let mut parsed: foldhash::HashMap<&str, Result<TemplateUse, String>> = Default::default();
    for (task, (spec, draft)) in specs.iter_mut().zip(drafts).enumerate() {
        let mut ancestors: Option<HashSet<usize>> = None;
        for (source, pos) in &draft.templates {
            let substituted;
            let checked = match check_substitutions(source) {
                Some(checked) => {
                    substituted = checked;
                    &substituted
                }
                None => parsed.entry(source).or_insert_with(|| {
                    checker
                        .get_or_insert_with(TemplateChecker::default)
                        .check_parsed(source)
                }),
            };
            let used = match checked {
                Ok(used) => used,
                Err(why) => {
                    reader.error(*pos, why.clone());
                    continue;
                }
            };
            if !used.outputs.is_empty() {
                spec.reads_outputs = true;
            }
            if used.reads_item && spec.map_over.is_none() {
                reader.error(*pos, format!("template `{source}` reads `item`, which only mapped tasks have (add `map_over`)"));
            }
            for name in &used.outputs {
                let ancestors =
                    ancestors.get_or_insert_with(|| ancestors_of(task, &graph.upstream));
                let known = graph
                    .index
                    .get(name.as_str())
                    .is_some_and(|i| ancestors.contains(i));
                if !known {
                    let why = if graph.index.contains_key(name.as_str()) {
                        format!(
                            "template reads `outputs.{name}`, but `{name}` is not upstream of `{}`; add it to `after`",
                            spec.id
                        )
                    } else {
                        format!("template reads `outputs.{name}`, but there is no task `{name}`")
                    };
                    reader.error(*pos, why);
                }
            }
        }
    }
}

fn ancestors_of(task: usize, upstream: &[Vec<usize>]) -> HashSet<usize> {
    let mut seen = HashSet::new();
    let mut stack = upstream[task].clone();
    while let Some(up) = stack.pop() {
        if seen.insert(up) {
            stack.extend(&upstream[up]);
        }
    }
    seen
}
