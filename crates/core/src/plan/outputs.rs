//! Task outputs as templates see them: `outputs.<task>` is the task's
//! output object, or for a mapped task the list of its instances' outputs
//! in `map_index` order. An output may carry `"metrics"`: numbers a run
//! is compared by.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::spec::DagSpec;
use crate::state::{TaskInstance, TaskState};

/// The largest output a try may write, in bytes.
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;

/// The most metrics one task's output may carry.
pub const MAX_METRICS: usize = 100;

/// Checks what a try wrote as its output: a JSON object of at most 256 KiB
/// whose `metrics`, if any, pass [`output_metrics`]. Launchers read at most
/// one byte more than that, so a huge output costs no memory.
pub fn parse_output(text: &str) -> Result<Value, String> {
    if text.len() > MAX_OUTPUT_BYTES {
        return Err(format!(
            "output is larger than {MAX_OUTPUT_BYTES} bytes; at most {MAX_OUTPUT_BYTES} (256 KiB) are kept"
        ));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => output_metrics(&value).map(|_| value),
        Ok(_) => Err("output must be a JSON object, e.g. {\"rows\": 42}".into()),
        Err(e) => Err(format!("output is not valid JSON: {e}")),
    }
}

/// The `"metrics"` of an output: an object of at most [`MAX_METRICS`]
/// finite numbers, each named by a non-empty key of at most 100 characters.
pub fn output_metrics(output: &Value) -> Result<BTreeMap<String, f64>, String> {
    let metrics = match output.get("metrics") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(metrics)) => metrics,
        Some(other) => {
            return Err(format!(
                "output `metrics` must be an object of numbers, e.g. {{\"accuracy\": 0.93}}, not {other}"
            ));
        }
    };
    if metrics.len() > MAX_METRICS {
        return Err(format!(
            "output has {} metrics; at most {MAX_METRICS} per task",
            metrics.len()
        ));
    }
    let mut out = BTreeMap::new();
    for (name, value) in metrics {
        if name.trim().is_empty() || name.chars().count() > 100 {
            return Err(format!(
                "output metric name `{name}` must be 1 to 100 characters"
            ));
        }
        match value.as_f64().filter(|v| v.is_finite()) {
            Some(v) => out.insert(name.clone(), v),
            None => {
                return Err(format!(
                    "output metric `{name}` must be a finite number, not {value}"
                ));
            }
        };
    }
    Ok(out)
}

/// A run's metrics: each succeeded task's as `<task>.<name>`, each current
/// mapped instance's as `<task>[i].<name>`.
pub fn run_metrics(instances: &[TaskInstance]) -> BTreeMap<String, f64> {
    let counts: BTreeMap<&str, u32> = instances
        .iter()
        .filter(|i| i.key.map_index.is_none() && i.state == TaskState::Mapped)
        .map(|i| (i.key.task_id.as_str(), i.map_count.unwrap_or(0)))
        .collect();
    let mut out = BTreeMap::new();
    for instance in instances {
        let Some(output) = instance
            .output
            .as_ref()
            .filter(|_| instance.state == TaskState::Succeeded)
        else {
            continue;
        };
        let task = instance.key.task_id.as_str();
        let prefix = match instance.key.map_index {
            None => task.to_string(),
            Some(i) if counts.get(task).is_some_and(|count| i < *count) => format!("{task}[{i}]"),
            Some(_) => continue,
        };
        for (name, value) in output_metrics(output).unwrap_or_default() {
            out.insert(format!("{prefix}.{name}"), value);
        }
    }
    out
}

/// The outputs of a run's tasks, by task id.
pub fn outputs_of(spec: &DagSpec, instances: &[TaskInstance]) -> Map<String, Value> {
    let mut outputs = Map::new();
    for task in &spec.tasks {
        let mine = instances.iter().filter(|i| i.key.task_id == task.id);
        if task.map_over.is_none() {
            if let Some(output) = mine.filter_map(|i| i.output.clone()).next() {
                outputs.insert(task.id.to_string(), output);
            }
            continue;
        }
        let mine: Vec<&TaskInstance> = mine.collect();
        let expanded = mine
            .iter()
            .find(|i| i.key.map_index.is_none() && i.state == TaskState::Mapped);
        let Some(count) = expanded.and_then(|p| p.map_count) else {
            continue;
        };
        let mut list = vec![Value::Null; count as usize];
        for child in &mine {
            if let Some(index) = child.key.map_index.filter(|i| *i < count) {
                list[index as usize] = child.output.clone().unwrap_or(Value::Null);
            }
        }
        outputs.insert(task.id.to_string(), Value::Array(list));
    }
    outputs
}

/// The artifact URIs listed under `"artifacts"` in an output: each a URI,
/// or `{"uri": URI, "extra": {...}}`.
pub fn output_artifacts(output: &Value) -> Vec<String> {
    listed_artifacts(output)
        .filter_map(|a| a.as_str().or_else(|| a["uri"].as_str()))
        .map(str::to_string)
        .collect()
}

/// What an output says of the artifacts it lists as `{"uri", "extra"}`
/// (`extra` a JSON object), by URI: what the runs they trigger read as
/// `trigger.events[i].extra`.
pub fn artifact_extras(output: &Value) -> BTreeMap<String, Value> {
    listed_artifacts(output)
        .filter_map(|a| Some((a["uri"].as_str()?.to_string(), a.get("extra")?.clone())))
        .filter(|(_, extra)| extra.is_object())
        .collect()
}

fn listed_artifacts(output: &Value) -> impl Iterator<Item = &Value> {
    output
        .get("artifacts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TaskId;
    use crate::state::TaskKey;
    use serde_json::json;

    #[test]
    fn metrics_are_finite_numbers_at_most_a_hundred() {
        let ok = parse_output(r#"{"metrics": {"accuracy": 0.93, "loss": 1e-3, "rows": 42}}"#);
        assert_eq!(
            output_metrics(&ok.unwrap()).unwrap(),
            BTreeMap::from([
                ("accuracy".to_string(), 0.93),
                ("loss".to_string(), 0.001),
                ("rows".to_string(), 42.0)
            ])
        );
        assert!(output_metrics(&json!({"rows": 1})).unwrap().is_empty());
        let cases = [
            (
                r#"{"metrics": {"accuracy": "0.93"}}"#,
                "output metric `accuracy` must be a finite number, not \"0.93\"",
            ),
            (
                r#"{"metrics": {"accuracy": null}}"#,
                "output metric `accuracy` must be a finite number, not null",
            ),
            (
                r#"{"metrics": [0.93]}"#,
                "output `metrics` must be an object of numbers",
            ),
            (
                r#"{"metrics": {"": 1}}"#,
                "output metric name `` must be 1 to 100 characters",
            ),
            (r#"{"metrics": {"x": NaN}}"#, "output is not valid JSON"),
        ];
        for (text, expected) in cases {
            let err = parse_output(text).unwrap_err();
            assert!(err.starts_with(expected), "{text}: {err}");
        }
        let many: Map<String, Value> = (0..=MAX_METRICS)
            .map(|i| (format!("m{i}"), json!(i)))
            .collect();
        let err = parse_output(&json!({ "metrics": many }).to_string()).unwrap_err();
        assert_eq!(err, "output has 101 metrics; at most 100 per task");
    }

    fn instance(task: &str, index: Option<u32>, state: TaskState, output: Value) -> TaskInstance {
        let mut i = TaskInstance::pending(TaskKey {
            task_id: TaskId::parse(task).unwrap(),
            map_index: index,
        });
        i.state = state;
        i.output = Some(output);
        i
    }

    #[test]
    fn run_metrics_name_the_task_and_the_mapped_instance() {
        let mut mapped = instance("shard", None, TaskState::Mapped, json!({}));
        mapped.map_count = Some(2);
        let instances = [
            instance(
                "evaluate",
                None,
                TaskState::Succeeded,
                json!({"metrics": {"accuracy": 0.9}}),
            ),
            mapped,
            instance(
                "shard",
                Some(0),
                TaskState::Succeeded,
                json!({"metrics": {"rows": 3}}),
            ),
            instance(
                "shard",
                Some(1),
                TaskState::Succeeded,
                json!({"metrics": {"rows": 4}}),
            ),
            // Left over from an earlier, larger expansion: not current.
            instance(
                "shard",
                Some(2),
                TaskState::Succeeded,
                json!({"metrics": {"rows": 5}}),
            ),
            // Kept output of a try that is being rerun: not counted.
            instance(
                "train",
                None,
                TaskState::Running,
                json!({"metrics": {"loss": 0.1}}),
            ),
        ];
        assert_eq!(
            run_metrics(&instances),
            BTreeMap::from([
                ("evaluate.accuracy".to_string(), 0.9),
                ("shard[0].rows".to_string(), 3.0),
                ("shard[1].rows".to_string(), 4.0),
            ])
        );
    }
}
