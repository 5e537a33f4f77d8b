//! Experiment plots, drawn by the server as the Gantt is: a metric against
//! a param over runs (scatter), and a metric over runs, oldest first
//! (line). Each point is its run: hover names it, a click opens it.

use std::fmt::Write;

use updraft_core::runs_view::{Cell, Column, known_columns};
use updraft_core::state::Run;

use crate::html::{escape, run_path};

const WIDTH: f64 = 520.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

/// A run's value in a numeric column, if it has one.
fn number(column: &Column, run: &Run) -> Option<f64> {
    match column.cell(run) {
        Cell::Number(n) if n.is_finite() => Some(n),
        Cell::Text(text) => text.parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

/// The columns of these runs a plot may use: params whose values are
/// numbers (x), and metrics (y), by name.
pub fn choices(runs: &[Run]) -> (Vec<String>, Vec<String>) {
    let mut params = Vec::new();
    let mut metrics = Vec::new();
    for name in known_columns(runs) {
        if let Some(key) = name.strip_prefix("params.") {
            let column = Column::Param(key.to_string());
            if runs.iter().any(|r| number(&column, r).is_some()) {
                params.push(name);
            }
        } else if name.starts_with("metrics.") {
            metrics.push(name);
        }
    }
    (params, metrics)
}

/// The column a plot's axis names (`params.lr`, `metrics.train.loss`).
fn column_of(name: &str) -> Option<Column> {
    if let Some(key) = name.strip_prefix("params.") {
        return Some(Column::Param(key.to_string()));
    }
    name.strip_prefix("metrics.")
        .map(|metric| Column::Metric(metric.to_string()))
}

/// Where a value falls on an axis from `low` to `high` drawn from `from`
/// to `to` (a flat range draws in the middle).
fn place(value: f64, (low, high): (f64, f64), (from, to): (f64, f64)) -> f64 {
    if high <= low {
        return (from + to) / 2.0;
    }
    from + (value - low) / (high - low) * (to - from)
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

/// A number short enough for an axis label.
fn short(n: f64) -> String {
    let text = format!("{n:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-" || text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// The frame: both axes with their names, the ends of the x axis as
/// `x_ends` say, and the low and high value of y.
fn frame(out: &mut String, x_name: &str, x_ends: (&str, &str), y: (&str, (f64, f64)), label: &str) {
    let (y_name, (y_lo, y_hi)) = y;
    let (bottom, right) = (HEIGHT - BOTTOM, WIDTH - RIGHT);
    let _ = write!(
        out,
        "<svg class=\"plot\" role=\"img\" aria-label=\"{label}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <line class=\"axis\" x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\"/>\
         <line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{bottom}\"/>\
         <text class=\"tick\" x=\"{LEFT}\" y=\"{below}\">{x_lo}</text>\
         <text class=\"tick\" x=\"{right}\" y=\"{below}\" text-anchor=\"end\">{x_hi}</text>\
         <text class=\"name\" x=\"{mid_x}\" y=\"{name_y}\" text-anchor=\"middle\">{x_name}</text>\
         <text class=\"tick\" x=\"{tick_x}\" y=\"{bottom}\" text-anchor=\"end\">{y_lo}</text>\
         <text class=\"tick\" x=\"{tick_x}\" y=\"{top_y}\" text-anchor=\"end\">{y_hi}</text>\
         <text class=\"name\" x=\"12\" y=\"{mid_y}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {mid_y})\">{y_name}</text>",
        label = escape(label),
        below = bottom + 14.0,
        mid_x = (LEFT + right) / 2.0,
        name_y = HEIGHT - 6.0,
        tick_x = LEFT - 4.0,
        top_y = TOP + 8.0,
        mid_y = (TOP + bottom) / 2.0,
        x_lo = escape(x_ends.0),
        x_hi = escape(x_ends.1),
        x_name = escape(x_name),
        y_lo = short(y_lo),
        y_hi = short(y_hi),
        y_name = escape(y_name),
    );
}

/// One point: a dot linked to its run, named on hover.
fn dot(out: &mut String, run: &Run, (cx, cy): (f64, f64), what: &str) {
    let _ = write!(
        out,
        "<a href=\"{href}\" data-run=\"{id}\"><circle class=\"point {state}\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"5\">\
         <title>{id} · {what}</title></circle></a>",
        href = escape(&run_path(run.dag.as_str(), &run.run_id)),
        id = escape(&run.run_id),
        state = run.state,
        what = escape(what),
    );
}

/// `y` against `x` (a param), one dot per run that has both; `None` when
/// no run has both.
pub fn scatter(runs: &[Run], x: &str, y: &str) -> Option<String> {
    let (x_column, y_column) = (column_of(x)?, column_of(y)?);
    let points: Vec<(&Run, f64, f64)> = runs
        .iter()
        .filter_map(|r| Some((r, number(&x_column, r)?, number(&y_column, r)?)))
        .collect();
    if points.is_empty() {
        return None;
    }
    let xs = range(points.iter().map(|p| p.1));
    let ys = range(points.iter().map(|p| p.2));
    let mut out = String::new();
    let ends = (short(xs.0), short(xs.1));
    frame(
        &mut out,
        x,
        (&ends.0, &ends.1),
        (y, ys),
        &format!("{y} against {x}"),
    );
    let (bottom, right) = (HEIGHT - BOTTOM, WIDTH - RIGHT);
    for (run, vx, vy) in &points {
        let at = (
            place(*vx, xs, (LEFT + 8.0, right - 8.0)),
            place(*vy, ys, (bottom - 8.0, TOP + 8.0)),
        );
        dot(
            &mut out,
            run,
            at,
            &format!("{x} {} · {y} {}", short(*vx), short(*vy)),
        );
    }
    out.push_str("</svg>");
    Some(out)
}

/// `y` over the runs, oldest first by logical date, joined by a line;
/// `None` when no run has it.
pub fn over_runs(runs: &[Run], y: &str) -> Option<String> {
    let y_column = column_of(y)?;
    let mut points: Vec<(&Run, f64)> = runs
        .iter()
        .filter_map(|r| Some((r, number(&y_column, r)?)))
        .collect();
    if points.is_empty() {
        return None;
    }
    points.sort_by_key(|(r, _)| (r.logical_date, r.run_id.clone()));
    let ys = range(points.iter().map(|p| p.1));
    let mut out = String::new();
    let last = (points.len() - 1) as f64;
    let label = format!("{y} over runs");
    frame(&mut out, "runs", ("oldest", "newest"), (y, ys), &label);
    let (bottom, right) = (HEIGHT - BOTTOM, WIDTH - RIGHT);
    let at: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            (
                place(i as f64, (0.0, last), (LEFT + 8.0, right - 8.0)),
                place(*v, ys, (bottom - 8.0, TOP + 8.0)),
            )
        })
        .collect();
    let line: Vec<String> = at.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = write!(
        out,
        "<polyline class=\"line\" points=\"{}\"/>",
        line.join(" ")
    );
    for ((run, v), xy) in points.iter().zip(at) {
        dot(&mut out, run, xy, &format!("{y} {}", short(*v)));
    }
    out.push_str("</svg>");
    Some(out)
}

/// The plot section of a set of runs: a form choosing the param (x) and
/// the metric (y), then both plots. `action` is where the form goes,
/// `hidden` the query it keeps; `x` and `y` what the reader chose (by
/// default the first metric, and the first param whose value differs
/// between the runs). Empty when the runs have no metric.
pub fn section(
    runs: &[Run],
    action: &str,
    hidden: &[(String, String)],
    x: Option<&str>,
    y: Option<&str>,
) -> String {
    let (params, metrics) = choices(runs);
    if metrics.is_empty() {
        return String::new();
    }
    let y = y
        .filter(|y| metrics.iter().any(|m| m == y))
        .unwrap_or(&metrics[0]);
    let varies = |name: &&String| {
        let column = column_of(name);
        let mut values = runs
            .iter()
            .filter_map(|r| column.as_ref().and_then(|c| number(c, r)));
        let first = values.next();
        values.any(|v| Some(v) != first)
    };
    let x = x.filter(|x| params.iter().any(|p| p == x)).or(params
        .iter()
        .find(varies)
        .or(params.first())
        .map(String::as_str));
    let options = |names: &[String], chosen: Option<&str>| -> String {
        names
            .iter()
            .map(|n| {
                let selected = if Some(n.as_str()) == chosen {
                    " selected"
                } else {
                    ""
                };
                format!("<option{selected}>{}</option>", escape(n))
            })
            .collect()
    };
    let mut out = format!(
        "<section class=\"plots\"><h2>Plots</h2><form class=\"plot\" method=\"get\" action=\"{}\">",
        escape(action)
    );
    for (name, value) in hidden {
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        );
    }
    let _ = write!(
        out,
        "<label>metric <select name=\"y\">{}</select></label>",
        options(&metrics, Some(y))
    );
    if !params.is_empty() {
        let _ = write!(
            out,
            "<label>against param <select name=\"x\">{}</select></label>",
            options(&params, x)
        );
    }
    out.push_str("<button>Plot</button></form><div class=\"plots\">");
    if let Some(drawn) = x.and_then(|x| scatter(runs, x, y)) {
        out.push_str(&drawn);
    }
    if let Some(drawn) = over_runs(runs, y) {
        out.push_str(&drawn);
    }
    out.push_str("</div></section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, lr: serde_json::Value, accuracy: Option<f64>) -> Run {
        let mut run = updraft_engine::testing::run("ml", id, 0, &[]);
        run.params.insert("lr".into(), lr);
        run.params.insert("name".into(), serde_json::json!("x"));
        if let Some(a) = accuracy {
            run.metrics.insert("evaluate.accuracy".into(), a);
        }
        run
    }

    #[test]
    fn only_numeric_params_and_metrics_are_offered_and_runs_without_both_are_left_out() {
        let runs = [
            run("a", serde_json::json!(0.01), Some(0.6)),
            run("b", serde_json::json!("0.05"), Some(0.9)),
            run("c", serde_json::json!(0.02), None),
        ];
        let (params, metrics) = choices(&runs);
        assert_eq!(params, ["params.lr"], "`name` is text");
        assert_eq!(metrics, ["metrics.evaluate.accuracy"]);
        let drawn = scatter(&runs, "params.lr", "metrics.evaluate.accuracy").unwrap();
        assert_eq!(drawn.matches("<circle").count(), 2, "c has no metric");
        assert!(
            drawn.contains("data-run=\"b\""),
            "a number written as text counts"
        );
        assert!(scatter(&runs, "params.lr", "metrics.other").is_none());
        let line = over_runs(&runs, "metrics.evaluate.accuracy").unwrap();
        assert_eq!(line.matches("<circle").count(), 2);
        assert!(line.contains("<polyline"));
    }

    #[test]
    fn values_fall_along_their_axis_and_a_flat_range_in_its_middle() {
        assert_eq!(place(5.0, (0.0, 10.0), (100.0, 200.0)), 150.0);
        assert_eq!(place(3.0, (3.0, 3.0), (100.0, 200.0)), 150.0);
        assert_eq!(short(0.93750), "0.9375");
        assert_eq!(short(2.0), "2");
        assert_eq!(short(-0.00001), "0");
    }
}
