//! The kinds of task an AWS service runs by its own API — a Lambda
//! invocation, a Glue job, an Athena query, any AWS action — rather than in
//! a container: which keys each takes, and reading them from a profile and
//! a task. A key may be written on the profile and again on the task, which
//! wins; every string in a value is a template.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::spec::read::{Reader, Written};
use crate::spec::sensors::{Condition, DEFAULT_SENSOR_EVERY, DEFAULT_SENSOR_TIMEOUT, WaitFor};
use crate::yaml::{Node, Pos, Value as Yaml};

/// A kind of task that a service's API runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKind {
    /// One synchronous invocation of a Lambda function.
    Lambda,
    /// An AWS Batch job.
    Batch,
    /// A run of a Glue job.
    Glue,
    /// A crawl of a Glue crawler.
    GlueCrawler,
    /// An Athena query.
    Athena,
    /// A job run on an EMR Serverless application.
    EmrServerless,
    /// A Step Functions execution.
    StepFunctions,
    /// A SageMaker processing job.
    SagemakerProcessing,
    /// Any AWS API action, optionally followed by a wait on a describe call.
    Aws,
}

/// What a key's value must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A string.
    Text,
    /// A mapping.
    Mapping,
    /// A list.
    List,
    /// A whole number, or a template that renders one.
    Count,
    /// A duration such as `30m`.
    Duration,
}

/// One key a kind takes.
#[derive(Clone, Copy, Debug)]
pub struct KindKey {
    /// Its name in specs.
    pub name: &'static str,
    /// What its value must be.
    pub shape: Shape,
    /// Whether every task of the kind needs it (on the task or its profile).
    pub required: bool,
}

const fn key(name: &'static str, shape: Shape, required: bool) -> KindKey {
    KindKey {
        name,
        shape,
        required,
    }
}

use Shape::{Count, Duration, List, Mapping, Text};

const LAMBDA: &[KindKey] = &[key("function", Text, true), key("payload", Mapping, false)];
const BATCH: &[KindKey] = &[
    key("job_queue", Text, true),
    key("job_definition", Text, true),
    key("vcpus", Count, false),
    key("memory", Count, false),
    key("gpus", Count, false),
];
const GLUE: &[KindKey] = &[key("job", Text, true), key("arguments", Mapping, false)];
const GLUE_CRAWLER: &[KindKey] = &[key("crawler", Text, true)];
const ATHENA: &[KindKey] = &[
    key("query", Text, true),
    key("workgroup", Text, false),
    key("output_location", Text, false),
    key("database", Text, false),
];
const EMR_SERVERLESS: &[KindKey] = &[
    key("application_id", Text, true),
    key("execution_role", Text, true),
    key("entry_point", Text, true),
    key("arguments", List, false),
    key("spark_submit_parameters", Text, false),
];
const STEP_FUNCTIONS: &[KindKey] = &[
    key("state_machine", Text, true),
    key("input", Mapping, false),
];
const SAGEMAKER_PROCESSING: &[KindKey] = &[
    key("instance_type", Text, true),
    key("instance_count", Count, false),
    key("volume_size", Count, false),
    key("max_runtime", Duration, false),
    key("inputs", Mapping, false),
    key("outputs", Mapping, false),
];
const AWS: &[KindKey] = &[key("call", Mapping, false), key("wait", Mapping, false)];

/// The IAM role a kind's calls run as (every kind takes it).
pub const ROLE: KindKey = key("role", Shape::Text, false);

impl ServiceKind {
    /// Every kind with its spelling in specs.
    pub const ALL: [(ServiceKind, &'static str); 9] = [
        (ServiceKind::Lambda, "lambda"),
        (ServiceKind::Batch, "batch"),
        (ServiceKind::Glue, "glue"),
        (ServiceKind::GlueCrawler, "glue_crawler"),
        (ServiceKind::Athena, "athena"),
        (ServiceKind::EmrServerless, "emr_serverless"),
        (ServiceKind::StepFunctions, "step_functions"),
        (ServiceKind::SagemakerProcessing, "sagemaker_processing"),
        (ServiceKind::Aws, "aws"),
    ];

    /// The kind spelled `name`.
    pub fn parse(name: &str) -> Option<ServiceKind> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }

    /// Its spelling in specs.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("aws", |(_, n)| n)
    }

    /// The keys it takes besides `kind`, `role` and the capacity keys.
    pub fn keys(self) -> &'static [KindKey] {
        match self {
            ServiceKind::Lambda => LAMBDA,
            ServiceKind::Batch => BATCH,
            ServiceKind::Glue => GLUE,
            ServiceKind::GlueCrawler => GLUE_CRAWLER,
            ServiceKind::Athena => ATHENA,
            ServiceKind::EmrServerless => EMR_SERVERLESS,
            ServiceKind::StepFunctions => STEP_FUNCTIONS,
            ServiceKind::SagemakerProcessing => SAGEMAKER_PROCESSING,
            ServiceKind::Aws => AWS,
        }
    }

    /// The key named `name`, if this kind takes it.
    pub fn key(self, name: &str) -> Option<KindKey> {
        if name == ROLE.name {
            return Some(ROLE);
        }
        self.keys().iter().copied().find(|k| k.name == name)
    }

    /// Whether its tries run the task's `image`, `command` and
    /// `environment` (the others have no container of their own).
    pub fn runs_a_container(self) -> bool {
        matches!(self, ServiceKind::Batch | ServiceKind::SagemakerProcessing)
    }
}

/// Every key some kind takes, so a task may write it.
pub fn all_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = ServiceKind::ALL
        .iter()
        .flat_map(|(k, _)| k.keys().iter().map(|key| key.name))
        .chain([ROLE.name])
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// A profile of one of these kinds: its kind and the keys written on it.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceProfile {
    /// What runs a try.
    pub kind: ServiceKind,
    /// The keys written on the profile (strings are templates).
    pub settings: Map<String, Value>,
}

/// What a task of one of these kinds sends: its profile's keys with the
/// task's own over them.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceTask {
    /// What runs a try.
    pub kind: ServiceKind,
    /// Every key, the task's over its profile's (strings are templates).
    pub settings: Map<String, Value>,
}

/// How often a waiting try of a kind is poked when it asks for none
/// (`every` of a wait) and AWS sends no event that ends it.
pub const DEFAULT_POKE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

impl ServiceTask {
    /// How often its try must be looked at, for a kind that ends by
    /// polling rather than by an event: a `wait:`'s `every`, a crawl.
    pub fn poke_interval(&self) -> Option<std::time::Duration> {
        match self.kind {
            ServiceKind::Aws => {
                let wait = self.settings.get("wait")?.as_object()?;
                Some(
                    wait.get("every")
                        .and_then(serde_json::Value::as_str)
                        .and_then(|every| crate::duration::parse_duration(every).ok())
                        .unwrap_or(DEFAULT_POKE_INTERVAL)
                        .max(MIN_POKE_INTERVAL),
                )
            }
            ServiceKind::GlueCrawler => Some(DEFAULT_POKE_INTERVAL),
            _ => None,
        }
    }
}

/// Keys whose strings are JMESPath expressions, not templates: the
/// conditions of a `wait`, and any key ending in `.$` (a value taken from
/// the call's response, as in Step Functions' parameters).
pub fn is_expression_key(key: &str) -> bool {
    matches!(key, "success" | "failure") || key.ends_with(".$")
}

/// Reads one key of a kind from a profile or a task, checking its shape;
/// adds every template string in it (and where) to `templates`.
pub(crate) fn read_value<'n>(
    reader: &mut Reader<'_>,
    kind: ServiceKind,
    name: &str,
    node: &'n Node<'n>,
    templates: &mut Vec<Written<'n>>,
) -> Option<Value> {
    let Some(key) = kind.key(name) else {
        let known: Vec<&str> = kind.keys().iter().map(|k| k.name).collect();
        reader.error(
            node.pos,
            format!(
                "`{name}` is not a key of `kind: {}`; it takes {}",
                kind.as_str(),
                known.join(", ")
            ),
        );
        return None;
    };
    let template = matches!(&node.value, Yaml::Str(s) if s.contains('{'));
    let fits = match key.shape {
        Shape::Text => matches!(node.value, Yaml::Str(_) | Yaml::Int(_) | Yaml::Float(_)),
        Shape::Mapping => matches!(node.value, Yaml::Map(_)) || template,
        Shape::List => matches!(node.value, Yaml::Seq(_)) || template,
        Shape::Count => matches!(node.value, Yaml::Int(i) if i >= 0) || template,
        Shape::Duration => match &node.value {
            Yaml::Str(s) => template || crate::duration::parse_duration(s).is_ok(),
            _ => false,
        },
    };
    if !fits {
        let want = match key.shape {
            Shape::Text => "a string",
            Shape::Mapping => "a mapping",
            Shape::List => "a list",
            Shape::Count => "a whole number",
            Shape::Duration => "a duration such as 30m",
        };
        reader.error(
            node.pos,
            format!(
                "`{name}` of `kind: {}` must be {want}, not {}",
                kind.as_str(),
                node.kind()
            ),
        );
        return None;
    }
    collect_templates(node, name, templates);
    let value = match &node.value {
        Yaml::Int(i) if key.shape == Shape::Text => Value::String(i.to_string()),
        Yaml::Float(f) if key.shape == Shape::Text => Value::String(f.to_string()),
        _ => node.to_json(),
    };
    if kind == ServiceKind::Aws {
        check_aws_step(reader, name, node);
    }
    Some(value)
}

/// Every string holding `{` under `node`, but expressions.
fn collect_templates<'n>(node: &'n Node<'n>, key: &str, templates: &mut Vec<Written<'n>>) {
    if is_expression_key(key) {
        return;
    }
    match &node.value {
        Yaml::Str(s) if s.contains('{') => templates.push((Cow::Borrowed(s), node.pos)),
        Yaml::Seq(items) => items
            .iter()
            .for_each(|item| collect_templates(item, key, templates)),
        Yaml::Map(entries) => entries
            .iter()
            .for_each(|e| collect_templates(&e.value, e.key, templates)),
        _ => {}
    }
}

const CALL_KEYS: &[&str] = &["service", "action", "params"];
const WAIT_KEYS: &[&str] = &[
    "service",
    "action",
    "params",
    "every",
    "timeout",
    "success",
    "failure",
    "soft_fail",
];

/// The least time between two pokes of a wait.
pub const MIN_POKE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// `call:` and `wait:` of `kind: aws`: their keys, an action's spelling,
/// the poke interval.
fn check_aws_step(reader: &mut Reader<'_>, name: &str, node: &Node) {
    if !matches!(node.value, Yaml::Map(_)) {
        return;
    }
    let allowed = if name == "call" { CALL_KEYS } else { WAIT_KEYS };
    let fields = reader.fields(node, &format!("`{name}`"), allowed);
    if name == "call" {
        for required in ["service", "action"] {
            if fields.get(required).is_none() {
                reader.error(node.pos, format!("`call` needs `{required}`"));
            }
        }
    } else {
        if fields.get("action").is_none() {
            reader.error(node.pos, "`wait` needs `action` (a describe call)");
        }
        if fields.get("success").is_none() {
            reader.error(
                node.pos,
                "`wait` needs `success`, an expression over the describe call's response such as \"Crawler.State == 'READY'\"",
            );
        }
        if let Some(every) = fields.get("every")
            && let Some(d) = reader.duration(every, "`every`")
            && d < MIN_POKE_INTERVAL
        {
            reader.error(every.pos, "`every` must be at least 5s");
        }
        if let Some(timeout) = fields.get("timeout") {
            reader.duration(timeout, "`timeout`");
        }
        if let Some(soft_fail) = fields.get("soft_fail") {
            reader.boolean(soft_fail, "`soft_fail`");
        }
    }
    if let Some(action) = fields.get("action")
        && let Yaml::Str(text) = &action.value
        && !text.chars().next().is_some_and(|c| c.is_ascii_uppercase())
    {
        reader.error(
            action.pos,
            format!("`action` is the API's name for it, such as StartCrawler, not `{text}`"),
        );
    }
    if let Some(params) = fields.get("params")
        && !matches!(params.value, Yaml::Map(_))
    {
        reader.error(
            params.pos,
            "`params` must be a mapping of the action's parameters",
        );
    }
}

/// The sensor a `kind: aws` task with a `wait:` and no `call:` is: it
/// waits in the state `waiting`, looked at every `every`, as any sensor.
/// `None` for any other task; a refusal names what is wrong.
pub(crate) fn sensor_of(task: &ServiceTask) -> Option<Result<WaitFor, String>> {
    if task.kind != ServiceKind::Aws {
        return None;
    }
    let wait = task.settings.get("wait")?.as_object()?;
    let text = |key: &str| wait.get(key).and_then(Value::as_str).map(str::to_string);
    let duration = |key: &str| text(key).and_then(|t| crate::duration::parse_duration(&t).ok());
    let soft_fail = wait.get("soft_fail").and_then(Value::as_bool);
    if task.settings.contains_key("call") {
        return soft_fail
            .map(|_| Err("`soft_fail` is for a sensor, a `wait` with no `call`".to_string()));
    }
    let Some(service) = text("service") else {
        return Some(Err("a `wait` with no `call` needs its `service`".into()));
    };
    Some(Ok(WaitFor {
        every: duration("every").unwrap_or(DEFAULT_SENSOR_EVERY),
        timeout: duration("timeout").unwrap_or(DEFAULT_SENSOR_TIMEOUT),
        soft_fail: soft_fail.unwrap_or(false),
        condition: Condition::Aws {
            service,
            action: text("action").unwrap_or_default(),
            success: text("success").unwrap_or_default(),
        },
    }))
}

/// A task's settings: its profile's, then each of the task's own keys over
/// them. Reports each required key neither names, at `at`.
pub(crate) fn merge(
    reader: &mut Reader<'_>,
    profile: &ServiceProfile,
    own: Map<String, Value>,
    at: Pos,
    task: &str,
) -> ServiceTask {
    let mut settings = profile.settings.clone();
    settings.extend(own);
    for key in profile.kind.keys().iter().filter(|k| k.required) {
        if !settings.contains_key(key.name) {
            reader.error(
                at,
                format!(
                    "task `{task}` on a `kind: {}` profile needs `{}` (on the task or its profile)",
                    profile.kind.as_str(),
                    key.name
                ),
            );
        }
    }
    if profile.kind == ServiceKind::Aws
        && !settings.contains_key("call")
        && !settings.contains_key("wait")
    {
        reader.error(
            at,
            format!("task `{task}` of `kind: aws` needs a `call`, a `wait`, or both"),
        );
    }
    ServiceTask {
        kind: profile.kind,
        settings,
    }
}
