//! Typed params: a param written as a schema (`lr: {type: number, default:
//! 0.01, minimum: 0}`) rather than a bare default, checked whenever a run
//! is made, as Airflow's `Param` is.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The JSON types a param may be declared as.
pub const PARAM_TYPES: [&str; 6] = ["string", "number", "integer", "boolean", "array", "object"];

/// The keys of a param's schema.
pub const PARAM_SCHEMA_KEYS: [&str; 6] = [
    "type",
    "default",
    "enum",
    "minimum",
    "maximum",
    "description",
];

/// What a param's value must be.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamRule {
    /// One of [`PARAM_TYPES`].
    pub kind: Option<String>,
    /// The values allowed, if only some are.
    pub one_of: Option<Vec<Value>>,
    /// The least number allowed.
    pub minimum: Option<f64>,
    /// The greatest number allowed.
    pub maximum: Option<f64>,
    /// What the param is for, shown by the trigger form.
    pub description: Option<String>,
    /// Whether the schema gives a default (else a run must be given one).
    pub has_default: bool,
}

/// Whether a written param value is a schema rather than a bare default:
/// a mapping with `type` or `enum`. (An object default goes under
/// `default:`.)
pub fn is_param_schema(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|m| m.contains_key("type") || m.contains_key("enum"))
}

impl ParamRule {
    /// Whether `value` fits; the error says how it does not.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        if let Some(kind) = &self.kind
            && !fits_type(kind, value)
        {
            return Err(format!("{value} is not {}", article(kind)));
        }
        if let Some(allowed) = &self.one_of
            && !allowed.contains(value)
        {
            let names: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return Err(format!("{value} is not one of {}", names.join(", ")));
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = self.minimum.filter(|min| n < *min) {
                return Err(format!("{value} is below the minimum {min}"));
            }
            if let Some(max) = self.maximum.filter(|max| n > *max) {
                return Err(format!("{value} is above the maximum {max}"));
            }
        }
        Ok(())
    }
}

fn fits_type(kind: &str, value: &Value) -> bool {
    match kind {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn article(kind: &str) -> String {
    match kind {
        "integer" | "array" | "object" => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

/// Checks a run's params (the spec's defaults with what the run was given
/// over them) against the rules: one line naming the param and the rule.
pub fn check_params(
    rules: &BTreeMap<String, ParamRule>,
    params: &Map<String, Value>,
) -> Result<(), String> {
    for (name, rule) in rules {
        match params.get(name) {
            None | Some(Value::Null) if !rule.has_default => {
                return Err(format!("param `{name}` has no default: give it a value"));
            }
            Some(value) => rule
                .check(value)
                .map_err(|why| format!("param `{name}`: {why}"))?,
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(kind: &str) -> ParamRule {
        ParamRule {
            kind: Some(kind.into()),
            has_default: true,
            ..ParamRule::default()
        }
    }

    #[test]
    fn a_value_is_checked_against_its_type_enum_and_bounds() {
        let lr = ParamRule {
            minimum: Some(0.0),
            maximum: Some(1.0),
            ..rule("number")
        };
        assert_eq!(lr.check(&json!(0.5)), Ok(()));
        assert_eq!(lr.check(&json!(2)), Err("2 is above the maximum 1".into()));
        assert_eq!(
            lr.check(&json!(-1)),
            Err("-1 is below the minimum 0".into())
        );
        assert_eq!(
            lr.check(&json!("0.5")),
            Err("\"0.5\" is not a number".into())
        );
        assert_eq!(
            rule("integer").check(&json!(1.5)),
            Err("1.5 is not an integer".into())
        );
        let mode = ParamRule {
            one_of: Some(vec![json!("full"), json!("incremental")]),
            ..ParamRule::default()
        };
        assert_eq!(
            mode.check(&json!("partial")),
            Err("\"partial\" is not one of \"full\", \"incremental\"".into())
        );
    }

    #[test]
    fn a_param_without_default_must_be_given() {
        let rules = BTreeMap::from([(
            "day".to_string(),
            ParamRule {
                has_default: false,
                ..rule("string")
            },
        )]);
        assert_eq!(
            check_params(&rules, &Map::new()),
            Err("param `day` has no default: give it a value".into())
        );
        let given = json!({"day": "2026-12-01"});
        assert_eq!(check_params(&rules, given.as_object().unwrap()), Ok(()));
        let wrong = json!({"day": 3});
        assert_eq!(
            check_params(&rules, wrong.as_object().unwrap()),
            Err("param `day`: 3 is not a string".into())
        );
    }
}
