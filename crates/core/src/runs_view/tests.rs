//! Columns, filters and sort keys as typed, and what they do to runs.

use chrono::{Duration, TimeZone};
use serde_json::json;

use super::*;
use crate::ids::DagId;
use crate::state::{RunKind, RunState};

fn run(id: &str, lr: f64, accuracy: Option<f64>, seconds: i64) -> Run {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap();
    Run {
        dag: DagId::parse("ml").unwrap(),
        run_id: id.into(),
        kind: RunKind::Manual,
        state: RunState::Succeeded,
        spec_version: "v".into(),
        logical_date: t0,
        data_interval_start: t0,
        data_interval_end: t0,
        params: json!({"lr": lr, "data": "week-47"})
            .as_object()
            .unwrap()
            .clone(),
        labels: vec![],
        created_at: t0,
        started_at: Some(t0),
        ended_at: Some(t0 + Duration::seconds(seconds)),
        triggered_by: "ana@laptop".into(),
        note: None,
        reason: None,
        metrics: accuracy
            .map(|a| [("evaluate.accuracy".to_string(), a)].into())
            .unwrap_or_default(),
        deadline_missed_at: None,
        trigger: None,
        parent: None,
        revision: 0,
    }
}

fn runs() -> Vec<Run> {
    vec![
        run("a", 0.01, Some(0.91), 30),
        run("b", 0.02, Some(0.95), 10),
        run("c", 0.05, None, 20),
    ]
}

fn ids(runs: &[Run]) -> Vec<&str> {
    runs.iter().map(|r| r.run_id.as_str()).collect()
}

fn view(columns: Option<&str>, wheres: &[&str], sort: Option<&str>) -> Result<RunsView, String> {
    let wheres: Vec<String> = wheres.iter().map(|w| w.to_string()).collect();
    RunsView::parse(columns, &wheres, sort, &runs())
}

#[test]
fn columns_name_params_and_metrics() {
    let v = view(
        Some("params.lr, metrics.evaluate.accuracy,duration"),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(
        v.columns,
        [
            Column::Param("lr".into()),
            Column::Metric("evaluate.accuracy".into()),
            Column::Duration
        ]
    );
    let r = &runs()[1];
    let cells: Vec<Cell> = v.columns.iter().map(|c| c.cell(r)).collect();
    assert_eq!(
        cells,
        [Cell::Number(0.02), Cell::Number(0.95), Cell::Number(10.0)]
    );
    assert_eq!(
        Column::Metric("evaluate.accuracy".into()).cell(&runs()[2]),
        Cell::Empty
    );
    assert_eq!(view(None, &[], None).unwrap().columns.len(), 9);
}

#[test]
fn unknown_names_list_the_known_ones() {
    assert_eq!(
        view(Some("params.lr,metrics.evaluate.acc"), &[], None).unwrap_err(),
        "--columns: unknown column `metrics.evaluate.acc`; known: dag, run_id, state, logical_date, created_at, duration, triggered_by, note, labels, params, params.data, params.lr, metrics.evaluate.accuracy"
    );
    assert!(
        view(None, &[], Some("-speed"))
            .unwrap_err()
            .starts_with("--sort: unknown column `speed`")
    );
    assert!(
        view(None, &["lr>1"], None)
            .unwrap_err()
            .starts_with("--where `lr>1`: unknown column `lr`")
    );
    assert_eq!(
        view(None, &["metrics.evaluate.accuracy"], None).unwrap_err(),
        "--where `metrics.evaluate.accuracy`: write COLUMN OP VALUE with OP one of = != < <= > >=, e.g. metrics.evaluate.accuracy>=0.9"
    );
}

#[test]
fn filters_compare_numbers_by_value_and_text_by_text() {
    let keep = |w: &str| ids(&view(None, &[w], None).unwrap().apply(runs())).join(",");
    assert_eq!(keep("metrics.evaluate.accuracy>=0.95"), "b");
    assert_eq!(keep("metrics.evaluate.accuracy>0.9"), "a,b");
    assert_eq!(keep("metrics.evaluate.accuracy<0.95"), "a");
    assert_eq!(keep("metrics.evaluate.accuracy<=0.95"), "a,b");
    assert_eq!(
        keep("metrics.evaluate.accuracy!=0.91"),
        "b",
        "a run without the metric passes no filter"
    );
    assert_eq!(keep("params.lr=0.05"), "c");
    assert_eq!(keep("params.data=week-47"), "a,b,c");
    assert_eq!(keep("params.data!=week-47"), "");
    assert_eq!(keep("duration>15"), "a,c");
    assert_eq!(keep("state=succeeded"), "a,b,c");
    let both = view(None, &["duration>15", "params.lr<0.03"], None).unwrap();
    assert_eq!(ids(&both.apply(runs())), ["a"]);
}

#[test]
fn sort_orders_by_value_with_missing_values_last_either_way() {
    let order = |s: &str| ids(&view(None, &[], Some(s)).unwrap().apply(runs())).join(",");
    assert_eq!(order("metrics.evaluate.accuracy"), "a,b,c");
    assert_eq!(order("-metrics.evaluate.accuracy"), "b,a,c");
    assert_eq!(order("-duration"), "a,c,b");
    assert_eq!(order("duration"), "b,c,a");
    assert_eq!(order("triggered_by,-params.lr"), "c,b,a");
}
