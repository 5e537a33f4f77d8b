//! Sensors: `wait_for:` on a task makes it wait for a condition — a
//! command that exits 0, a file, a time, another DAG's task — looked at
//! every so often, holding nothing in between (Airflow's sensors in
//! `reschedule` mode, without a worker).

use std::borrow::Cow;
use std::time::Duration;

use crate::ids::DagId;
use crate::spec::read::{Fields, Reader};
use crate::spec::written_templates::Templates;
use crate::state::TaskState;
use crate::yaml::{Node, Pos};

/// How often a sensor is looked at unless it says (`every`).
pub const DEFAULT_SENSOR_EVERY: Duration = Duration::from_secs(60);
/// The least `every` a sensor may ask for.
pub const MIN_SENSOR_EVERY: Duration = Duration::from_secs(5);
/// How long a sensor waits unless it says (`timeout`): 7 days.
pub const DEFAULT_SENSOR_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// The keys of `wait_for:`.
pub const WAIT_FOR_KEYS: &[&str] = &[
    "every",
    "timeout",
    "soft_fail",
    "command",
    "file",
    "time",
    "dag",
    "task",
    "logical_date",
    "state",
];

/// What a sensor waits for, and how long.
#[derive(Clone, Debug, PartialEq)]
pub struct WaitFor {
    /// How often its condition is looked at.
    pub every: Duration,
    /// How long it waits before it fails (or, with `soft_fail`, is
    /// skipped); distinct from a try's `timeout`.
    pub timeout: Duration,
    /// Whether running out of time skips it rather than fails it.
    pub soft_fail: bool,
    /// The condition.
    pub condition: Condition,
}

/// A sensor's condition; its strings are templates.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// A short-lived process that exits 0 once the condition holds.
    Command(Vec<String>),
    /// A file that exists (a local path; on AWS an `s3://` URI).
    File(String),
    /// An instant that has passed: a time, optionally `+` or `-` a
    /// duration (`"{{ data_interval_end }} + 2h"`).
    Time(String),
    /// Another DAG's task of the run with a logical date, in a state
    /// (Airflow's ExternalTaskSensor).
    Task {
        /// The other DAG.
        dag: DagId,
        /// Its task; `None` for the whole run.
        task: Option<String>,
        /// The logical date of its run: a date (`{{ ds }}`) or an instant;
        /// `None` for this run's own logical date.
        logical_date: Option<String>,
        /// The state it must reach.
        state: TaskState,
    },
    /// A `kind: aws` task's `wait:` with no `call:` — its describe call
    /// answering what `success` holds over; its settings are the task's.
    Aws {
        /// The service, as the wait names it.
        service: String,
        /// The describe action.
        action: String,
        /// The expression over its response.
        success: String,
    },
}

impl Condition {
    /// What the sensor waits for, in a few words for people.
    pub fn describe(&self) -> String {
        match self {
            Condition::Command(argv) => format!("`{}` to exit 0", argv.join(" ")),
            Condition::File(path) => format!("{path} to exist"),
            Condition::Time(at) => format!("{at} to pass"),
            Condition::Task {
                dag, task, state, ..
            } => match task {
                Some(task) => format!("{dag}.{task} to be {state}"),
                None => format!("a run of {dag} to be {state}"),
            },
            Condition::Aws {
                service,
                action,
                success,
            } => format!("{service} {action} to answer `{success}`"),
        }
    }
}

/// Reads `wait_for:`; its templates go to `templates` for checking.
pub(crate) fn read_wait_for<'n>(
    reader: &mut Reader<'_>,
    node: &'n Node<'n>,
    templates: &mut Templates<'n>,
) -> Option<WaitFor> {
    let fields = reader.fields(node, "`wait_for`", WAIT_FOR_KEYS);
    let every = duration(reader, &fields, "every").unwrap_or(DEFAULT_SENSOR_EVERY);
    if every < MIN_SENSOR_EVERY
        && let Some(n) = fields.get("every")
    {
        reader.error(n.pos, "`every` of a sensor is at least 5s");
    }
    let timeout = duration(reader, &fields, "timeout").unwrap_or(DEFAULT_SENSOR_TIMEOUT);
    let soft_fail = fields
        .get("soft_fail")
        .and_then(|n| reader.boolean(n, "`soft_fail`"))
        .unwrap_or(false);
    let written: Vec<&str> = ["command", "file", "time", "dag"]
        .into_iter()
        .filter(|k| fields.get(k).is_some())
        .collect();
    if written.len() != 1 {
        reader.error(
            node.pos,
            "`wait_for` needs one condition: `command`, `file`, `time`, or `dag` (with `task`)",
        );
        return None;
    }
    let mut template = |text: String, pos: Pos| {
        templates.push((Cow::Owned(text.clone()), pos));
        text
    };
    let condition = match written[0] {
        "command" => {
            let args = reader.texts(fields.get("command")?, "`command`");
            Condition::Command(
                args.into_iter()
                    .map(|(a, p)| template(a.into_owned(), p))
                    .collect(),
            )
        }
        "file" => {
            let n = fields.get("file")?;
            Condition::File(template(reader.string(n, "`file`")?, n.pos))
        }
        "time" => {
            let n = fields.get("time")?;
            Condition::Time(template(reader.string(n, "`time`")?, n.pos))
        }
        _ => {
            let n = fields.get("dag")?;
            let dag = reader.string(n, "`dag`").and_then(|text| {
                DagId::parse(&text)
                    .map_err(|why| reader.error(n.pos, why))
                    .ok()
            })?;
            let task = fields.get("task").and_then(|n| reader.string(n, "`task`"));
            let logical_date = fields.get("logical_date").and_then(|n| {
                let text = reader.string(n, "`logical_date`")?;
                Some(template(text, n.pos))
            });
            let state = match fields.get("state") {
                None => TaskState::Succeeded,
                Some(n) => match reader.string(n, "`state`")?.as_str() {
                    "succeeded" => TaskState::Succeeded,
                    "failed" => TaskState::Failed,
                    "skipped" => TaskState::Skipped,
                    other => {
                        reader.error(
                            n.pos,
                            format!("`state: {other}`: expected succeeded, failed or skipped"),
                        );
                        return None;
                    }
                },
            };
            Condition::Task {
                dag,
                task,
                logical_date,
                state,
            }
        }
    };
    for key in ["task", "logical_date", "state"] {
        if let (Some(n), false) = (fields.get(key), matches!(condition, Condition::Task { .. })) {
            reader.error(n.pos, format!("`{key}` goes with `dag` in `wait_for`"));
        }
    }
    Some(WaitFor {
        every,
        timeout,
        soft_fail,
        condition,
    })
}

fn duration(reader: &mut Reader<'_>, fields: &Fields<'_>, key: &str) -> Option<Duration> {
    let node = fields.get(key)?;
    match reader.duration(node, &format!("`{key}`")) {
        Some(d) if d.is_zero() => {
            reader.error(node.pos, format!("`{key}` must be longer than 0s"));
            None
        }
        other => other,
    }
}

/// The instant a rendered `time:` condition names: a date or time (local
/// to `tz` unless it carries an offset), optionally `+` or `-` a duration
/// (`2026-12-01T00:00:00+00:00 + 2h`).
pub fn instant_of(text: &str, tz: chrono_tz::Tz) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let text = text.trim();
    let (base, shift) = match text.rsplit_once([' ']) {
        Some((left, dur)) if left.trim_end().ends_with(['+', '-']) => {
            let left = left.trim_end();
            let sign = if left.ends_with('-') { -1 } else { 1 };
            let d = crate::duration::parse_duration(dur.trim())
                .map_err(|why| format!("`{text}`: {why}"))?;
            let d = chrono::Duration::from_std(d).map_err(|_| format!("`{text}`: too long"))?;
            (left[..left.len() - 1].trim_end(), d * sign)
        }
        _ => (text, chrono::Duration::zero()),
    };
    let at = crate::schedule::LocalTime::parse(base, tz)?.first_instant(tz);
    Ok(at + shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_condition_is_an_instant_plus_or_minus_a_duration() {
        let utc = chrono_tz::UTC;
        let at = |t: &str| instant_of(t, utc).map(|t| t.to_rfc3339());
        assert_eq!(
            at("2026-12-01T00:00:00+00:00 + 2h"),
            Ok("2026-12-01T02:00:00+00:00".into())
        );
        assert_eq!(
            at("2026-12-01T00:00:00+09:00 - 30m"),
            Ok("2026-11-30T14:30:00+00:00".into())
        );
        assert_eq!(at("2026-12-01"), Ok("2026-12-01T00:00:00+00:00".into()));
        assert_eq!(
            instant_of("2026-12-01", chrono_tz::Asia::Tokyo).map(|t| t.to_rfc3339()),
            Ok("2026-11-30T15:00:00+00:00".into())
        );
        assert!(
            at("soon + 2h")
                .unwrap_err()
                .contains("`soon` is not a date or time")
        );
        assert!(at("2026-12-01 + 2 hours").is_err());
    }
}

/// The keys of `approval:`.
pub const APPROVAL_KEYS: &[&str] = &["prompt", "options", "timeout", "default"];

/// A person's decision a task waits for (`approval:`).
#[derive(Clone, Debug, PartialEq)]
pub struct Approval {
    /// What the person is asked.
    pub prompt: String,
    /// The choices, `approve` and `reject` unless it says.
    pub options: Vec<String>,
    /// How long it waits for an answer.
    pub timeout: Duration,
    /// The choice taken when no one answers in time (as if given by
    /// `timeout`); without one the task fails then.
    pub default: Option<String>,
}

/// The choice that also skips everything after an approval.
pub const REJECT: &str = "reject";

/// Reads `approval:`.
pub(crate) fn read_approval(reader: &mut Reader<'_>, node: &Node) -> Option<Approval> {
    let fields = reader.fields(node, "`approval`", APPROVAL_KEYS);
    let prompt = fields
        .get("prompt")
        .and_then(|n| reader.string(n, "`prompt`"))
        .unwrap_or_else(|| "Go on?".into());
    let options: Vec<String> = match fields.get("options") {
        Some(n) => {
            let options: Vec<String> = reader
                .texts(n, "`options`")
                .into_iter()
                .map(|(o, _)| o.into_owned())
                .collect();
            let mut distinct = options.clone();
            distinct.sort();
            distinct.dedup();
            if options.is_empty() || distinct.len() != options.len() {
                reader.error(n.pos, "`options` is a list of distinct choices");
            }
            options
        }
        None => vec!["approve".into(), REJECT.into()],
    };
    let timeout = duration(reader, &fields, "timeout").unwrap_or(DEFAULT_SENSOR_TIMEOUT);
    let default = fields.get("default").and_then(|n| {
        let choice = reader.string(n, "`default`")?;
        if !options.contains(&choice) {
            reader.error(
                n.pos,
                format!(
                    "`default: {choice}` is not one of the options: {}",
                    options.join(", ")
                ),
            );
        }
        Some(choice)
    });
    Some(Approval {
        prompt,
        options,
        timeout,
        default,
    })
}

impl Approval {
    /// What an approval task's try outputs once decided, so a branch after
    /// it can follow the choice.
    pub fn decision(choice: &str, by: &str, note: Option<&str>) -> serde_json::Value {
        serde_json::json!({"choice": choice, "by": by, "note": note})
    }

    /// Whether a decided approval's output rejects: it stops what follows.
    pub fn rejected(output: Option<&serde_json::Value>) -> bool {
        output
            .and_then(|o| o.get("choice"))
            .and_then(|c| c.as_str())
            == Some(REJECT)
    }
}

/// The keys of `trigger_dag:`.
pub const TRIGGER_DAG_KEYS: &[&str] = &["dag", "params", "wait"];

/// A run of another DAG that a task starts (`trigger_dag:`), and, with
/// `wait`, ends as (Airflow's TriggerDagRunOperator).
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerDag {
    /// The DAG to run.
    pub dag: DagId,
    /// Params over its defaults; string values are templates.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Whether the task ends as the run ends, rather than once it starts.
    pub wait: bool,
}

/// Reads `trigger_dag:`; its templates go to `templates` for checking.
pub(crate) fn read_trigger_dag<'n>(
    reader: &mut Reader<'_>,
    node: &'n Node<'n>,
    templates: &mut Templates<'n>,
) -> Option<TriggerDag> {
    let fields = reader.fields(node, "`trigger_dag`", TRIGGER_DAG_KEYS);
    let Some(n) = fields.get("dag") else {
        reader.error(node.pos, "`trigger_dag` needs the `dag` to run");
        return None;
    };
    let dag = reader.string(n, "`dag`").and_then(|text| {
        DagId::parse(&text)
            .map_err(|why| reader.error(n.pos, why))
            .ok()
    })?;
    let params = match fields.get("params") {
        None => serde_json::Map::new(),
        Some(n) => {
            let crate::yaml::Value::Map(entries) = &n.value else {
                reader.error(n.pos, "`params` of `trigger_dag` is a mapping");
                return None;
            };
            for entry in entries.iter() {
                if let crate::yaml::Value::Str(text) = &entry.value.value
                    && text.contains('{')
                {
                    templates.push((Cow::Borrowed(text), entry.value.pos));
                }
            }
            n.to_json().as_object().cloned().unwrap_or_default()
        }
    };
    let wait = fields
        .get("wait")
        .and_then(|n| reader.boolean(n, "`wait`"))
        .unwrap_or(false);
    Some(TriggerDag { dag, params, wait })
}
