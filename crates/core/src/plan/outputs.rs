//! Task outputs as templates see them: `outputs.<task>` is the task's
//! output object, or for a mapped task the list of its instances' outputs
//! in `map_index` order.

use serde_json::{Map, Value};

use crate::spec::DagSpec;
use crate::state::{TaskInstance, TaskState};

/// The largest output a try may write, in bytes.
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;

/// Checks what a try wrote as its output: a JSON object of at most 256 KiB.
pub fn parse_output(text: &str) -> Result<Value, String> {
    if text.len() > MAX_OUTPUT_BYTES {
        return Err(format!(
            "output is {} bytes; at most {MAX_OUTPUT_BYTES} (256 KiB) are kept",
            text.len()
        ));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err("output must be a JSON object, e.g. {\"rows\": 42}".into()),
        Err(e) => Err(format!("output is not valid JSON: {e}")),
    }
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

/// The artifact URIs listed under `"artifacts"` in an output.
pub fn output_artifacts(output: &Value) -> Vec<String> {
    output
        .get("artifacts")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
