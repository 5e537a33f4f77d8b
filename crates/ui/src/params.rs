//! The trigger form's params: each typed param gets the input its type
//! calls for (a list for an `enum` or a boolean, a number field with its
//! bounds, a text area for JSON), with its description; what comes back is
//! read as that type.

use std::fmt::Write;

use serde_json::{Map, Value};
use updraft_core::spec::{DagSpec, ParamRule};
use updraft_engine::usecase::param_value;

use crate::html::escape;

/// Every param of the spec, default or typed, in name order.
fn names(spec: &DagSpec) -> Vec<&String> {
    let mut names: Vec<&String> = spec.params.keys().chain(spec.param_rules.keys()).collect();
    names.sort();
    names.dedup();
    names
}

/// The labelled inputs of the trigger form.
pub(crate) fn inputs(spec: &DagSpec) -> String {
    let mut out = String::new();
    for name in names(spec) {
        let rule = spec.param_rules.get(name);
        let default = spec.params.get(name);
        let help = rule
            .and_then(|r| r.description.as_deref())
            .map(|d| format!("<small class=\"muted\">{}</small>", escape(d)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<label class=\"param\">{n}{input}{help}</label>",
            n = escape(name),
            input = input(&format!("param.{name}"), rule, default),
        );
    }
    out
}

/// A value as the form shows it: a string as it is, anything else as JSON.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn input(field: &str, rule: Option<&ParamRule>, default: Option<&Value>) -> String {
    let field = escape(field);
    let value = default.map(shown).unwrap_or_default();
    let Some(rule) = rule else {
        let json = default.map(Value::to_string).unwrap_or_default();
        return format!("<input name=\"{field}\" value=\"{}\">", escape(&json));
    };
    let choices = match (&rule.one_of, rule.kind.as_deref()) {
        (Some(values), _) => Some(values.clone()),
        (None, Some("boolean")) => Some(vec![Value::Bool(true), Value::Bool(false)]),
        _ => None,
    };
    if let Some(choices) = choices {
        let mut options = String::new();
        for choice in choices {
            let text = escape(&shown(&choice));
            let selected = if Some(&choice) == default {
                " selected"
            } else {
                ""
            };
            let _ = write!(
                options,
                "<option value=\"{text}\"{selected}>{text}</option>"
            );
        }
        return format!("<select name=\"{field}\">{options}</select>");
    }
    match rule.kind.as_deref() {
        Some(kind @ ("number" | "integer")) => {
            let step = if kind == "integer" { "1" } else { "any" };
            let bound = |name: &str, b: Option<f64>| {
                b.map(|b| format!(" {name}=\"{b}\"")).unwrap_or_default()
            };
            format!(
                "<input type=\"number\" step=\"{step}\"{}{} name=\"{field}\" value=\"{}\">",
                bound("min", rule.minimum),
                bound("max", rule.maximum),
                escape(&value)
            )
        }
        Some("array" | "object") => format!(
            "<textarea name=\"{field}\" rows=\"3\">{}</textarea>",
            escape(&default.map(Value::to_string).unwrap_or_default())
        ),
        _ => format!("<input name=\"{field}\" value=\"{}\">", escape(&value)),
    }
}

/// The params a submitted form gives: a typed param's text read as its
/// type (a string param's as it is), an empty typed field left out so the
/// default holds; an untyped param's text as JSON when it parses.
pub(crate) fn read(spec: &DagSpec, form: &[(String, String)]) -> Map<String, Value> {
    let mut params = Map::new();
    for (name, text) in form {
        let Some(key) = name.strip_prefix("param.") else {
            continue;
        };
        let value = match spec.param_rules.get(key) {
            Some(_) if text.is_empty() => continue,
            Some(rule) if rule.kind.as_deref() == Some("string") => Value::String(text.clone()),
            _ => param_value(text),
        };
        params.insert(key.to_string(), value);
    }
    params
}

#[cfg(test)]
mod tests {
    use updraft_core::spec::parse_spec;

    use super::*;

    const TRAIN: &str = "dag: train\nparams:\n  lr: { type: number, default: 0.01, minimum: 0, maximum: 1, description: learning rate }\n  mode: { enum: [full, incremental], default: incremental }\n  label: { type: string, default: '42' }\n  epochs: 10\ntasks:\n  - id: fit\n";

    #[test]
    fn each_typed_param_gets_the_input_its_type_calls_for() {
        let spec = parse_spec("train.yaml", TRAIN).unwrap();
        let html = inputs(&spec);
        assert!(html.contains("<input type=\"number\" step=\"any\" min=\"0\" max=\"1\" name=\"param.lr\" value=\"0.01\">"), "{html}");
        assert!(
            html.contains("<small class=\"muted\">learning rate</small>"),
            "{html}"
        );
        assert!(html.contains("<select name=\"param.mode\"><option value=\"full\">full</option><option value=\"incremental\" selected>incremental</option></select>"), "{html}");
        assert!(
            html.contains("<input name=\"param.epochs\" value=\"10\">"),
            "{html}"
        );
    }

    #[test]
    fn a_string_param_keeps_its_text_and_an_empty_typed_field_its_default() {
        let spec = parse_spec("train.yaml", TRAIN).unwrap();
        let form = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let params = read(
            &spec,
            &form(&[
                ("param.label", "42"),
                ("param.lr", ""),
                ("param.epochs", "12"),
            ]),
        );
        assert_eq!(params["label"], "42");
        assert_eq!(params["epochs"], 12);
        assert!(!params.contains_key("lr"));
    }
}
