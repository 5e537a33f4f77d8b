//! Templated spec fields (`command`, `environment`, `image`), rendered with
//! minijinja and the variables and filters of docs/specs.md.
//!
//! Dates are passed to templates as RFC 3339 strings in the DAG's time zone
//! (`2026-11-21T00:00:00+09:00`), so they print as people expect and the
//! date filters keep the zone: `ds` of that value is `2026-11-21`, not the
//! UTC date. A string without `{` is not a template and is used as written.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, Utc};
use chrono_tz::Tz;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use serde_json::{Map, Value, json};

use crate::schedule::{RunTiming, resolve_local};
use crate::spec::{ServiceKind, TaskSpec};

/// The variables a template may read.
pub const VARIABLES: &[&str] = &[
    "dag",
    "run_id",
    "task_id",
    "try_number",
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "ds",
    "ds_nodash",
    "ts",
    "params",
    "outputs",
    "trigger",
];

/// Functions minijinja provides that a template may call.
const GLOBALS: &[&str] = &["range", "dict", "namespace"];

/// Names people bring from Airflow, with what updraft calls them.
const AIRFLOW_NAMES: &[(&str, &str)] = &[
    ("execution_date", "logical_date"),
    ("next_ds", "data_interval_end | ds"),
    ("prev_ds", "data_interval_start | ds"),
    ("ti", "outputs.<task>"),
    ("task_instance", "outputs.<task>"),
];

/// What parsing a template found: the upstream tasks whose outputs it
/// reads, and whether it reads `item` (only mapped tasks have one).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TemplateUse {
    /// Tasks named in `outputs.<task>`.
    pub outputs: Vec<String>,
    /// Whether it reads `item`.
    pub reads_item: bool,
}

/// Parses templates once per spec, with the filters registered.
pub struct TemplateChecker {
    env: Environment<'static>,
}

impl Default for TemplateChecker {
    fn default() -> Self {
        TemplateChecker {
            env: environment(Tz::UTC),
        }
    }
}

impl TemplateChecker {
    /// Checks syntax and that every variable read is one of [`VARIABLES`].
    pub fn check(&self, source: &str) -> Result<TemplateUse, String> {
        check_substitutions(source).unwrap_or_else(|| self.check_parsed(source))
    }

    /// [`TemplateChecker::check`] by minijinja's parser, for any template.
    pub(crate) fn check_parsed(&self, source: &str) -> Result<TemplateUse, String> {
        let template = self
            .env
            .template_from_str(source)
            .map_err(|e| {
                let hint = match source.contains("{#") {
                    // A shell's `${#var}` (its length) opens a comment.
                    true => "; `{#` starts a template comment: write a shell's ${#var} another way or inside {% raw %}...{% endraw %}",
                    false => "",
                };
                format!("template `{source}` does not parse: {}{hint}", error_text(&e))
            })?;
        let mut paths: Vec<String> = template.undeclared_variables(true).into_iter().collect();
        paths.sort();
        let mut used = TemplateUse::default();
        for path in &paths {
            note_use(&mut used, path).map_err(|name| unknown_variable(source, name))?;
        }
        used.outputs.sort();
        Ok(used)
    }
}

/// [`TemplateChecker::check`] of a template made only of `{{ name.path }}`
/// substitutions (most are), read without parsing it or allocating — a
/// quarter of validating a large spec went to parsing each such template
/// twice. `None` for anything else: blocks, comments, filters, literals,
/// calls. Its answer is the parser's: outputs sorted, the first unknown
/// variable by name.
pub(crate) fn check_substitutions(source: &str) -> Option<Result<TemplateUse, String>> {
    let mut used = TemplateUse::default();
    let mut unknown: Option<&str> = None;
    // Scanned byte by byte: the strings are short, and the standard
    // library's searchers cost more to set up than the rest of the check.
    let bytes = source.as_bytes();
    let mut at = 0;
    while let Some(open) = position(bytes, at, b'{') {
        match bytes.get(open + 1) {
            Some(b'{') => {}
            Some(b'%' | b'#') => return None,
            _ => {
                at = open + 1;
                continue;
            }
        }
        let start = open + 2;
        let close = closing_braces(bytes, start)?;
        let inner = source[start..close].trim_ascii();
        let inner = inner.strip_prefix('-').unwrap_or(inner);
        let inner = inner.strip_suffix('-').unwrap_or(inner).trim_ascii();
        let first = inner.split_once('.').map_or(inner, |(first, _)| first);
        let literal = ["true", "false", "none", "True", "False", "None"].contains(&first);
        if literal || !is_path(inner) {
            return None;
        }
        if let Err(name) = note_use(&mut used, inner) {
            unknown = Some(unknown.map_or(name, |known| known.min(name)));
        }
        at = close + 2;
    }
    used.outputs.sort();
    Some(match unknown {
        Some(name) => Err(unknown_variable(source, name)),
        None => Ok(used),
    })
}

/// Where `byte` is next in `bytes`, from `from` on.
fn position(bytes: &[u8], from: usize, byte: u8) -> Option<usize> {
    bytes[from..]
        .iter()
        .position(|&b| b == byte)
        .map(|i| from + i)
}

/// Where the first `}}` from `from` on starts.
fn closing_braces(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let brace = position(bytes, at, b'}')?;
        if bytes.get(brace + 1) == Some(&b'}') {
            return Some(brace);
        }
        at = brace + 1;
    }
}

/// Whether `text` is names joined by dots, each a letter or `_` and then
/// letters, digits and `_`.
fn is_path(text: &str) -> bool {
    let mut name_starts = true;
    for &b in text.as_bytes() {
        name_starts = match b {
            b'.' if !name_starts => true,
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => false,
            b'0'..=b'9' if !name_starts => false,
            _ => return false,
        };
    }
    !name_starts
}

/// Notes what a variable path (`outputs.extract.rows`) reads; the name it
/// starts with if that is no variable.
fn note_use<'p>(used: &mut TemplateUse, path: &'p str) -> Result<(), &'p str> {
    let (name, rest) = path.split_once('.').unwrap_or((path, ""));
    if name == "outputs" {
        let task = rest.split_once('.').map_or(rest, |(task, _)| task);
        if !task.is_empty() && !used.outputs.iter().any(|known| known == task) {
            used.outputs.push(task.to_string());
        }
    } else if name == "item" {
        used.reads_item = true;
    } else if !VARIABLES.contains(&name) && !GLOBALS.contains(&name) {
        return Err(name);
    }
    Ok(())
}

fn unknown_variable(source: &str, name: &str) -> String {
    let hint = match AIRFLOW_NAMES.iter().find(|(old, _)| *old == name) {
        Some((_, new)) => format!("updraft writes it as `{new}`"),
        None => format!("known variables: {}", VARIABLES.join(", ")),
    };
    format!("template `{source}` reads unknown variable `{name}`; {hint}")
}

/// Everything a task's templates can read.
#[derive(Clone, Debug)]
pub struct TemplateVars<'a> {
    /// The DAG id.
    pub dag: &'a str,
    /// The run id.
    pub run_id: &'a str,
    /// The task id.
    pub task_id: &'a str,
    /// The try being rendered for, from 1.
    pub try_number: u32,
    /// The run's logical date and data interval.
    pub timing: RunTiming,
    /// The DAG's time zone.
    pub tz: Tz,
    /// The run's params (spec defaults with the trigger's overrides).
    pub params: &'a Map<String, Value>,
    /// Upstream outputs by task id.
    pub outputs: &'a Map<String, Value>,
    /// A mapped instance's item.
    pub item: Option<&'a Value>,
    /// What started a triggered run (see `RunTrigger::template_value`).
    pub trigger: Option<&'a Value>,
}

/// What a try is for: its DAG, run, task and try, the run's dates (in the
/// DAG's zone), params and mapped item — the event a `kind: lambda` task
/// sends when it names no `payload`.
pub fn run_context(vars: &TemplateVars<'_>) -> Value {
    let local = |t: DateTime<Utc>| format_time(t.with_timezone(&vars.tz).fixed_offset());
    json!({
        "dag": vars.dag,
        "run_id": vars.run_id,
        "task_id": vars.task_id,
        "try_number": vars.try_number,
        "logical_date": local(vars.timing.logical_date),
        "data_interval_start": local(vars.timing.data_interval_start),
        "data_interval_end": local(vars.timing.data_interval_end),
        "params": vars.params,
        "item": vars.item,
    })
}

/// Renders one task's templates with one set of variables.
pub struct Renderer {
    env: Environment<'static>,
    context: minijinja::Value,
}

impl Renderer {
    /// Prepares the variables and filters of one task attempt.
    pub fn new(vars: &TemplateVars<'_>) -> Renderer {
        let tz = vars.tz;
        let logical = vars.timing.logical_date.with_timezone(&tz);
        let mut context = run_context(vars);
        context["ds"] = json!(logical.format("%Y-%m-%d").to_string());
        context["ds_nodash"] = json!(logical.format("%Y%m%d").to_string());
        context["ts"] = context["logical_date"].clone();
        context["outputs"] = json!(vars.outputs);
        context["trigger"] = json!(vars.trigger);
        Renderer {
            env: environment(tz),
            context: minijinja::Value::from(minijinja::value::Serde(context)),
        }
    }

    /// Renders one templated string.
    pub fn render(&self, source: &str) -> Result<String, String> {
        if !source.contains('{') {
            return Ok(source.to_string());
        }
        let fail = |e: Error| format!("template `{source}` failed: {}", error_text(&e));
        let template = self.env.template_from_str(source).map_err(fail)?;
        let mut out = Capped::default();
        if let Err(e) = template.render_captured_to(self.context.clone(), &mut out) {
            if out.full {
                return Err(format!(
                    "template `{source}` renders more than {MAX_RENDERED} bytes (the limit)"
                ));
            }
            return Err(fail(e));
        }
        let text = String::from_utf8(out.text)
            .map_err(|_| format!("template `{source}` rendered text that is not UTF-8"))?;
        Ok(text)
    }
}

/// A rendering's text, refusing to grow past [`MAX_RENDERED`].
#[derive(Default)]
struct Capped {
    text: Vec<u8>,
    full: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.text.len() + buf.len() > MAX_RENDERED {
            self.full = true;
            return Err(std::io::Error::other("the rendered text is too long"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A task's templated fields, rendered for one attempt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RenderedTask {
    /// The container image.
    pub image: Option<String>,
    /// The argv.
    pub command: Option<Vec<String>>,
    /// The environment variables.
    pub environment: BTreeMap<String, String>,
    /// SageMaker training hyperparameters.
    pub hyperparameters: BTreeMap<String, String>,
    /// A training job's input channels: name to S3 URI.
    pub inputs: BTreeMap<String, String>,
    /// The keys of a task of a service kind (its profile's, then its own),
    /// rendered.
    pub service: Option<serde_json::Map<String, Value>>,
}

/// The longest param value passed as a variable: SageMaker's limit on one
/// value, well within ECS's on a launch's overrides.
pub const PARAM_VARIABLE_LIMIT: usize = 512;

/// `UPDRAFT_PARAM_<NAME>`: a param's variable, its name upper-cased with
/// every character but letters and digits written `_`.
pub fn param_variable(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_uppercase(),
            false => '_',
        })
        .collect();
    format!("UPDRAFT_PARAM_{name}")
}

/// Each param as a variable (a string as it is, any other value as its
/// JSON), so a script reads it from its environment instead of having it
/// interpolated into its shell line; values over
/// [`PARAM_VARIABLE_LIMIT`] are left to templates.
fn param_variables(params: &Map<String, Value>) -> impl Iterator<Item = (String, String)> + '_ {
    params.iter().filter_map(|(name, value)| {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        (text.len() <= PARAM_VARIABLE_LIMIT).then(|| (param_variable(name), text))
    })
}

/// Renders every templated field of a task, and adds each param as a
/// variable (the task's own `environment` wins); an error names the field.
pub fn render_task(task: &TaskSpec, vars: &TemplateVars<'_>) -> Result<RenderedTask, String> {
    let renderer = Renderer::new(vars);
    let field = |name: String, source: &str| {
        renderer
            .render(source)
            .map_err(|why| format!("task `{}` {name}: {why}", task.id))
    };
    Ok(RenderedTask {
        image: task
            .image
            .as_deref()
            .map(|i| field("image".into(), i))
            .transpose()?,
        command: task
            .command
            .as_ref()
            .map(|args| {
                args.iter()
                    .enumerate()
                    .map(|(i, arg)| field(format!("command[{i}]"), arg))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?,
        environment: param_variables(vars.params)
            .map(Ok)
            .chain(
                task.environment
                    .iter()
                    .map(|(k, v)| Ok((k.to_string(), field(format!("environment {k}"), v)?))),
            )
            .collect::<Result<_, String>>()?,
        hyperparameters: task
            .hyperparameters
            .iter()
            .map(|(k, v)| Ok((k.to_string(), field(format!("hyperparameters {k}"), v)?)))
            .collect::<Result<_, String>>()?,
        inputs: task
            .inputs
            .iter()
            .map(|(k, v)| Ok((k.clone(), field(format!("inputs {k}"), v)?)))
            .collect::<Result<_, String>>()?,
        service: task
            .service
            .as_ref()
            .map(|service| {
                let mut settings = renderer
                    .render_settings(&service.settings)
                    .map_err(|why| format!("task `{}` {why}", task.id))?;
                if service.kind == ServiceKind::Lambda && !settings.contains_key("payload") {
                    settings.insert("payload".into(), run_context(vars));
                }
                Ok::<_, String>(settings)
            })
            .transpose()?,
    })
}

/// The expression of a template that is one `{{ expr }}` and nothing else.
fn single_expression(source: &str) -> Option<&str> {
    source
        .trim()
        .strip_prefix("{{")
        .and_then(|rest| rest.strip_suffix("}}"))
        .filter(|expr| !expr.contains("{{") && !expr.contains("}}"))
}

impl Renderer {
    /// The value of one expression, as JSON.
    fn evaluate(&self, source: &str, expr: &str) -> Result<Value, String> {
        let fail = |e: Error| format!("template `{source}` failed: {}", error_text(&e));
        let compiled = self.env.compile_expression(expr).map_err(fail)?;
        let result = compiled.eval(self.context.clone()).map_err(fail)?;
        serde_json::to_value(&result)
            .map_err(|e| format!("template `{source}` gave no JSON value: {e}"))
    }

    /// Renders every template string of a service kind's keys: a string that
    /// is one `{{ expr }}` keeps the expression's type (a number, a list, a
    /// mapping); JMESPath expressions are left as written.
    pub fn render_settings(
        &self,
        settings: &Map<String, Value>,
    ) -> Result<Map<String, Value>, String> {
        settings
            .iter()
            .map(|(key, value)| Ok((key.clone(), self.render_setting(key, value)?)))
            .collect()
    }

    fn render_setting(&self, key: &str, value: &Value) -> Result<Value, String> {
        if crate::spec::is_expression_key(key) {
            return Ok(value.clone());
        }
        match value {
            Value::String(source) if source.contains('{') => match single_expression(source) {
                Some(expr) => self
                    .evaluate(source, expr)
                    .map_err(|why| format!("{key}: {why}")),
                None => self
                    .render(source)
                    .map(Value::String)
                    .map_err(|why| format!("{key}: {why}")),
            },
            Value::Array(items) => items
                .iter()
                .map(|item| self.render_setting(key, item))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            Value::Object(map) => self.render_settings(map).map(Value::Object),
            other => Ok(other.clone()),
        }
    }

    /// Renders a template that must produce a list: a single `{{ expr }}`
    /// is evaluated as an expression (so a list stays a list); anything
    /// else is rendered and read as JSON.
    pub fn render_list(&self, source: &str) -> Result<Vec<Value>, String> {
        let value: Value = match single_expression(source) {
            Some(expr) => self.evaluate(source, expr)?,
            None => {
                let text = self.render(source)?;
                serde_json::from_str(&text).map_err(|_| {
                    format!("template `{source}` rendered `{text}`, which is not a JSON list")
                })?
            }
        };
        match value {
            Value::Array(items) => Ok(items),
            other => Err(format!(
                "template `{source}` gave {}, not a list",
                kind(&other)
            )),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The most steps one template may take to render: a spec's templates take
/// tens to thousands; a loop nested to run for minutes is refused instead.
pub const TEMPLATE_FUEL: u64 = 2_000_000;

/// The longest text one template may render to.
pub const MAX_RENDERED: usize = 1 << 20;

fn environment(tz: Tz) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.add_filter("ds", |v: String| {
        Ok(parse_time(&v)?.format("%Y-%m-%d").to_string())
    });
    env.add_filter("ts", |v: String| Ok(format_time(parse_time(&v)?)));
    env.add_filter("shquote", |v: minijinja::Value| shquote(&v));
    env.add_filter("utc", |v: String| {
        Ok(parse_time(&v)?
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::AutoSi, true))
    });
    env.add_filter("date", |v: String, format: String| {
        let time = parse_time(&v)?;
        if StrftimeItems::new(&format).any(|item| matches!(item, Item::Error)) {
            return Err(invalid(format!("`{format}` is not a valid date format")));
        }
        let mut out = String::new();
        write!(out, "{}", time.format(&format))
            .map_err(|_| invalid(format!("cannot format with `{format}`")))?;
        Ok(out)
    });
    env.add_filter("add_days", move |v: String, days: i64| {
        let time = parse_time(&v)?;
        let shifted = if v.ends_with('Z') {
            time.checked_add_signed(
                Duration::try_days(days).ok_or_else(|| invalid("too many days"))?,
            )
            .ok_or_else(|| invalid("date out of range"))?
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
        } else {
            let local = time.with_timezone(&tz).naive_local();
            let moved = local
                .checked_add_signed(
                    Duration::try_days(days).ok_or_else(|| invalid("too many days"))?,
                )
                .ok_or_else(|| invalid("date out of range"))?;
            format_time(resolve_local(tz, moved).with_timezone(&tz).fixed_offset())
        };
        Ok(shifted)
    });
    env
}

/// `value` as one word of a POSIX shell line, whatever it holds: in single
/// quotes, each `'` in it written `'\''`. A string is quoted as it is; any
/// other value as its JSON (a list stays one word).
fn shquote(value: &minijinja::Value) -> Result<String, Error> {
    let text = match value.as_str() {
        Some(text) => text.to_string(),
        None => serde_json::to_string(value)
            .map_err(|e| invalid(format!("cannot quote the value: {e}")))?,
    };
    Ok(format!("'{}'", text.replace('\'', "'\\''")))
}

fn parse_time(text: &str) -> Result<DateTime<FixedOffset>, Error> {
    DateTime::parse_from_rfc3339(text).map_err(|_| {
        invalid(format!(
            "`{text}` is not a date-time like 2026-11-21T00:00:00+09:00"
        ))
    })
}

fn format_time(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

fn error_text(e: &Error) -> String {
    if e.kind() == ErrorKind::OutOfFuel {
        return format!("it takes more than {TEMPLATE_FUEL} steps to render (the limit)");
    }
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests;
