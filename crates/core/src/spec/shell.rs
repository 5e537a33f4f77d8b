//! Warnings, not errors: a `[sh, -c, "..."]` command whose shell line
//! interpolates a value someone else chose — a param (a trigger's or a
//! dashboard form's), an upstream output, what triggered the run — without
//! `| shquote`, so a value holding `; rm -rf ~` runs as a second command.
//! The spec stays valid: a team may trust its params.

use super::Diagnostic;
use crate::yaml::{self, Node, Value};

/// Shells whose `-c` takes a shell line.
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "ash"];

/// Variables whose values come from outside the spec.
const OUTSIDE: &[&str] = &["params", "outputs", "trigger"];

/// Every unquoted interpolation of an outside value into a shell line of
/// `text`'s task commands, at the line of its argument.
pub fn unquoted_in_shell(file: &str, text: &str) -> Vec<Diagnostic> {
    let arena = yaml::Arena::new();
    let Ok(document) = yaml::parse(text, &arena) else {
        return Vec::new();
    };
    let mut warnings = Vec::new();
    for task in entries(&document, "tasks") {
        let Some(Value::Seq(args)) = field(task, "command").map(|n| &n.value) else {
            continue;
        };
        let Some(line) = shell_line(args) else {
            continue;
        };
        let Value::Str(script) = &line.value else {
            continue;
        };
        for expression in unquoted(script) {
            warnings.push(Diagnostic {
                file: file.to_string(),
                pos: line.pos,
                message: format!(
                    "warning: `{{{{ {expression} }}}}` puts a value from outside the spec into a shell line unquoted, where `;`, `$(...)` or a space in it changes the command; write `{{{{ {expression} | shquote }}}}`, or read it from the environment (params are $UPDRAFT_PARAM_<NAME>)"
                ),
            });
        }
    }
    warnings
}

fn field<'n>(node: &'n Node<'n>, key: &str) -> Option<&'n Node<'n>> {
    match &node.value {
        Value::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
        _ => None,
    }
}

fn entries<'n>(node: &'n Node<'n>, key: &str) -> &'n [Node<'n>] {
    match field(node, key).map(|n| &n.value) {
        Some(Value::Seq(items)) => items,
        _ => &[],
    }
}

/// The argument a shell runs as its line: the one after the first short
/// option holding `c` (`-c`, `-ec`, `-euxc`), when the program is a shell.
fn shell_line<'n>(args: &'n [Node<'n>]) -> Option<&'n Node<'n>> {
    let program = text(args.first()?)?;
    let name = program.rsplit('/').next().unwrap_or(program);
    if !SHELLS.contains(&name) {
        return None;
    }
    let flag = args[1..].iter().position(|arg| {
        text(arg).is_some_and(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('c'))
    })?;
    args.get(flag + 2)
}

/// The `{{ ... }}` expressions of `script` that read an outside value and
/// do not end in `| shquote`.
fn unquoted(script: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = script;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        let expression = after[..end].trim_matches(|c: char| c.is_whitespace() || c == '-');
        rest = &after[end + 2..];
        let quoted = expression
            .rsplit('|')
            .next()
            .is_some_and(|last| last.trim().starts_with("shquote"))
            && expression.contains('|');
        if !quoted && reads_outside(expression) {
            found.push(expression.to_string());
        }
    }
    found
}

fn text<'n>(node: &'n Node<'_>) -> Option<&'n str> {
    match &node.value {
        Value::Str(s) => Some(&**s),
        _ => None,
    }
}

fn reads_outside(expression: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    OUTSIDE.iter().any(|name| {
        expression.match_indices(name).any(|(at, _)| {
            let before = expression[..at].chars().next_back();
            let after = expression[at + name.len()..].chars().next();
            !before.is_some_and(|c| is_word(c) || c == '.' || c == '\'' || c == '"')
                && !after.is_some_and(is_word)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(command: &str) -> Vec<String> {
        let text = format!("dag: d\ntasks:\n  - id: t\n    command: {command}\n");
        unquoted_in_shell("d.yaml", &text)
            .into_iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn an_unquoted_param_output_or_trigger_in_a_shell_line_is_warned_at_its_line() {
        let found =
            warnings(r#"[sh, -c, "echo {{ params.x }} {{ outputs.a.n }} {{trigger.uri}}"]"#);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].starts_with("d.yaml:4:23: warning: `{{ params.x }}` puts a value from outside the spec into a shell line unquoted"),
            "{}",
            found[0]
        );
        assert!(found[0].contains("write `{{ params.x | shquote }}`"));
        assert!(found[1].contains("`{{ outputs.a.n }}`"));
        assert!(found[2].contains("`{{ trigger.uri }}`"));
        assert_eq!(
            warnings(r#"[/bin/bash, -euo, pipefail, -c, "run {{ params['x'] | upper }}"]"#).len(),
            1
        );
        assert_eq!(warnings(r#"[bash, -ec, "run {{ params.x }}"]"#).len(), 1);
    }

    #[test]
    fn quoted_values_spec_values_and_plain_argv_are_not_warned() {
        for command in [
            r#"[sh, -c, "echo {{ params.x | shquote }} {{ outputs.a | tojson | shquote }}"]"#,
            r#"[sh, -c, "echo {{ ds }} {{ run_id }} {{ dag }}"]"#,
            // argv words are never split by a shell
            r#"[python, job.py, "{{ params.x }}"]"#,
            r#"[bash, script.sh, "{{ params.x }}"]"#,
            r#"[sh, -c, "echo {{ my_params }} {{ 'params' }}"]"#,
        ] {
            assert_eq!(warnings(command), Vec::<String>::new(), "{command}");
        }
    }
}
