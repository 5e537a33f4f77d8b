//! `updraft compare DAG RUN_ID RUN_ID...`: runs side by side, the first as
//! the baseline — params (differences marked `*`), metrics (with the
//! difference to the first run), tasks, artifacts, and the spec difference.

use std::process::ExitCode;

use serde_json::Value;
use updraft_engine::json::{ComparisonJson, metric_names, param_keys};
use updraft_engine::usecase::{ComparedRun, Comparison};

use super::versions::{diff_text, short};
use super::{Context, print_json};
use crate::error::CliResult;
use crate::render::{duration, or_dash, span, table};

pub async fn compare(ctx: &Context, dag: &str, run_ids: &[String]) -> CliResult<ExitCode> {
    let comparison = ctx.engine().await?.compare(dag, run_ids).await?;
    if ctx.json() {
        print_json(&ComparisonJson::new(&comparison))?;
    } else {
        println!("{}", comparison_text(&comparison));
    }
    Ok(ExitCode::SUCCESS)
}

/// Task instances in the first run's order, then any only later runs have;
/// the mapped instances of a fan-out wider than 10 are left to its task's
/// row.
fn task_keys(c: &Comparison) -> Vec<String> {
    let wide = |task: &str| {
        c.runs.iter().any(|r| {
            r.detail
                .instances
                .iter()
                .any(|i| i.key.task_id.as_str() == task && i.map_count.is_some_and(|n| n > 10))
        })
    };
    let mut keys: Vec<String> = Vec::new();
    for run in &c.runs {
        for instance in &run.detail.instances {
            let key = instance.key.to_string();
            if instance.key.map_index.is_some() && wide(instance.key.task_id.as_str()) {
                continue;
            }
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

fn task_cell(run: &ComparedRun, key: &str) -> Option<(String, String)> {
    let instance = run
        .detail
        .instances
        .iter()
        .find(|i| i.key.to_string() == key)?;
    let took = span(instance.started_at, instance.ended_at)
        .map(duration)
        .unwrap_or_default();
    Some((instance.state.to_string(), took))
}

fn delta(value: Option<f64>, base: Option<f64>) -> Option<f64> {
    Some(value? - base?)
}

fn comparison_text(c: &Comparison) -> String {
    let mut header = vec![String::new()];
    header.extend(c.runs.iter().map(|r| r.detail.run.run_id.clone()));
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |name: &str, cells: Vec<String>| {
        let mut line = vec![name.to_string()];
        line.extend(cells);
        rows.push(line);
    };
    let each = |f: &dyn Fn(&ComparedRun) -> String| c.runs.iter().map(f).collect::<Vec<_>>();
    row("state", each(&|r| r.detail.run.state.to_string()));
    row(
        "triggered_by",
        each(&|r| or_dash(&r.detail.run.triggered_by).to_string()),
    );
    row(
        "note",
        each(&|r| r.detail.run.note.clone().unwrap_or_default()),
    );
    row("labels", each(&|r| r.detail.run.labels.join(",")));
    row(
        "duration",
        each(&|r| {
            span(r.detail.run.started_at, r.detail.run.ended_at)
                .map(duration)
                .unwrap_or_default()
        }),
    );
    row(
        "spec",
        each(&|r| short(&r.detail.run.spec_version).to_string()),
    );
    for key in param_keys(c) {
        let values: Vec<Option<&Value>> = c
            .runs
            .iter()
            .map(|r| r.detail.run.params.get(&key))
            .collect();
        let cells = values
            .iter()
            .map(|v| {
                let text = v.map(Value::to_string).unwrap_or_default();
                if *v != values[0] {
                    format!("{text} *")
                } else {
                    text
                }
            })
            .collect();
        row(&format!("params.{key}"), cells);
    }
    for name in metric_names(c) {
        let base = c.runs[0].detail.run.metrics.get(&name).copied();
        let cells = c
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let value = r.detail.run.metrics.get(&name).copied();
                match (value, delta(value, base)) {
                    (Some(v), Some(d)) if i > 0 => format!("{v} ({d:+.4})"),
                    (Some(v), _) => v.to_string(),
                    (None, _) => String::new(),
                }
            })
            .collect();
        row(&format!("metrics.{name}"), cells);
    }
    for key in task_keys(c) {
        let cells = c
            .runs
            .iter()
            .map(|r| {
                task_cell(r, &key)
                    .map(|(state, took)| format!("{state} {took}").trim_end().to_string())
                    .unwrap_or_else(|| "(no such task)".into())
            })
            .collect();
        row(&format!("task {key}"), cells);
    }
    let produced: usize = c.runs.iter().map(|r| r.produced.len()).max().unwrap_or(0);
    for i in 0..produced {
        let cells = each(&|r| r.produced.get(i).cloned().unwrap_or_default());
        row(if i == 0 { "produced" } else { "" }, cells);
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut out = table(&header, &rows);
    out.push_str(&format!(
        "\n\nspec difference from {} ({}):",
        c.runs[0].detail.run.run_id,
        short(&c.runs[0].detail.run.spec_version)
    ));
    for (run, diff) in c.runs.iter().zip(&c.spec_diffs).skip(1) {
        out.push_str(&format!(
            "\n  {} ({}):\n{}",
            run.detail.run.run_id,
            short(&run.detail.run.spec_version),
            diff_text(diff, "    ")
        ));
    }
    out
}
