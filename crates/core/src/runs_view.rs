//! Runs as experiments: which columns a runs table shows (`params.lr`,
//! `metrics.evaluate.accuracy`, `duration`, ...), which runs it keeps
//! (`metrics.evaluate.accuracy>=0.9`) and in what order (`-duration`).
//! Parsed once from what the user typed, then applied to any list of runs.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::state::Run;

/// A column of a runs table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    /// The DAG.
    Dag,
    /// The run id.
    RunId,
    /// The run's state.
    State,
    /// Its logical date.
    LogicalDate,
    /// When it was made.
    CreatedAt,
    /// From its start to its end, in seconds.
    Duration,
    /// Who made it.
    TriggeredBy,
    /// Its note.
    Note,
    /// Its labels.
    Labels,
    /// All its params.
    Params,
    /// One param, `params.<key>`.
    Param(String),
    /// One metric, `metrics.<task>.<name>`.
    Metric(String),
}

/// What a column holds for one run.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// The run has no such value.
    Empty,
    /// A number: a metric, a numeric param, a duration in seconds.
    Number(f64),
    /// Text.
    Text(String),
    /// An instant.
    Time(DateTime<Utc>),
}

const PLAIN: [(&str, Column); 10] = [
    ("dag", Column::Dag),
    ("run_id", Column::RunId),
    ("state", Column::State),
    ("logical_date", Column::LogicalDate),
    ("created_at", Column::CreatedAt),
    ("duration", Column::Duration),
    ("triggered_by", Column::TriggeredBy),
    ("note", Column::Note),
    ("labels", Column::Labels),
    ("params", Column::Params),
];

/// The columns `runs` shows when none are asked for.
pub const DEFAULT_COLUMNS: &str =
    "dag,run_id,state,logical_date,duration,triggered_by,labels,params,note";

impl Column {
    /// The column's name as typed.
    pub fn name(&self) -> String {
        match self {
            Column::Param(key) => format!("params.{key}"),
            Column::Metric(name) => format!("metrics.{name}"),
            plain => PLAIN
                .iter()
                .find(|(_, c)| c == plain)
                .map_or_else(String::new, |(name, _)| name.to_string()),
        }
    }

    /// The column's value for a run.
    pub fn cell(&self, run: &Run) -> Cell {
        let text = |s: &str| {
            if s.is_empty() {
                Cell::Empty
            } else {
                Cell::Text(s.to_string())
            }
        };
        match self {
            Column::Dag => text(run.dag.as_str()),
            Column::RunId => text(&run.run_id),
            Column::State => text(run.state.as_str()),
            Column::LogicalDate => Cell::Time(run.logical_date),
            Column::CreatedAt => Cell::Time(run.created_at),
            Column::Duration => match (run.started_at, run.ended_at) {
                (Some(start), Some(end)) => {
                    Cell::Number((end - start).num_milliseconds() as f64 / 1000.0)
                }
                _ => Cell::Empty,
            },
            Column::TriggeredBy => match &run.trigger {
                Some(trigger) => {
                    Cell::Text(format!("{}: {}", run.triggered_by, trigger.describe()))
                }
                None => text(&run.triggered_by),
            },
            Column::Note => text(run.note.as_deref().unwrap_or_default()),
            Column::Labels => text(&run.labels.join(",")),
            Column::Params if run.params.is_empty() => Cell::Empty,
            Column::Params => Cell::Text(Value::Object(run.params.clone()).to_string()),
            Column::Param(key) => match run.params.get(key) {
                None | Some(Value::Null) => Cell::Empty,
                Some(Value::Number(n)) => n.as_f64().map_or(Cell::Empty, Cell::Number),
                Some(Value::String(s)) => Cell::Text(s.clone()),
                Some(other) => Cell::Text(other.to_string()),
            },
            Column::Metric(name) => run
                .metrics
                .get(name)
                .map_or(Cell::Empty, |v| Cell::Number(*v)),
        }
    }
}

/// Every column name `runs` could show for these runs.
pub fn known_columns(runs: &[Run]) -> Vec<String> {
    let params: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
    let metrics: BTreeSet<&String> = runs.iter().flat_map(|r| r.metrics.keys()).collect();
    PLAIN
        .iter()
        .map(|(name, _)| name.to_string())
        .chain(params.into_iter().map(|k| format!("params.{k}")))
        .chain(metrics.into_iter().map(|m| format!("metrics.{m}")))
        .collect()
}

/// A column name, known among these runs.
fn column(text: &str, runs: &[Run]) -> Result<Column, String> {
    let text = text.trim();
    let known = known_columns(runs);
    if !known.iter().any(|k| k == text) {
        return Err(format!(
            "unknown column `{text}`; known: {}",
            known.join(", ")
        ));
    }
    if let Some((_, plain)) = PLAIN.iter().find(|(name, _)| *name == text) {
        return Ok(plain.clone());
    }
    Ok(match text.split_once('.') {
        Some(("params", key)) => Column::Param(key.to_string()),
        Some((_, name)) => Column::Metric(name.to_string()),
        None => unreachable!("every known name is plain, params.* or metrics.*"),
    })
}

/// How a filter compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// `--where COLUMN OP VALUE`.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    /// What is compared.
    pub column: Column,
    /// How.
    pub op: Op,
    /// With what: a number if it reads as one.
    pub value: Cell,
}

/// One sort key: a column, and whether largest first.
#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    /// The column.
    pub column: Column,
    /// `-column`: largest first.
    pub descending: bool,
}

/// Columns, filters and order of a runs table.
#[derive(Clone, Debug, PartialEq)]
pub struct RunsView {
    /// What to show, in order.
    pub columns: Vec<Column>,
    /// Which runs to keep: all filters hold.
    pub filters: Vec<Filter>,
    /// In what order; newest first after them.
    pub sort: Vec<SortKey>,
}

impl RunsView {
    /// Parses `--columns a,b`, each `--where` and `--sort a,-b` against the
    /// columns these runs have.
    pub fn parse(
        columns: Option<&str>,
        wheres: &[String],
        sort: Option<&str>,
        runs: &[Run],
    ) -> Result<RunsView, String> {
        let list = |text: &str| -> Vec<String> {
            text.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        };
        let columns = list(columns.unwrap_or(DEFAULT_COLUMNS))
            .iter()
            .map(|c| column(c, runs).map_err(|e| format!("--columns: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let filters = wheres
            .iter()
            .map(|w| filter(w, runs).map_err(|e| format!("--where `{w}`: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let sort = list(sort.unwrap_or_default())
            .iter()
            .map(|key| {
                let (descending, name) = match key.strip_prefix('-') {
                    Some(name) => (true, name),
                    None => (false, key.as_str()),
                };
                column(name, runs)
                    .map(|column| SortKey { column, descending })
                    .map_err(|e| format!("--sort: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RunsView {
            columns,
            filters,
            sort,
        })
    }

    /// The runs every filter keeps, in the view's order (a run without a
    /// value sorts last either way; ties keep their order).
    pub fn apply(&self, mut runs: Vec<Run>) -> Vec<Run> {
        runs.retain(|run| self.filters.iter().all(|f| f.keeps(run)));
        runs.sort_by(|a, b| {
            for key in &self.sort {
                let order = match (key.column.cell(a), key.column.cell(b)) {
                    (Cell::Empty, Cell::Empty) => Ordering::Equal,
                    (Cell::Empty, _) => Ordering::Greater,
                    (_, Cell::Empty) => Ordering::Less,
                    (x, y) if key.descending => compare(&y, &x),
                    (x, y) => compare(&x, &y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
            Ordering::Equal
        });
        runs
    }
}

fn filter(text: &str, runs: &[Run]) -> Result<Filter, String> {
    const OPS: [(&str, Op); 6] = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("!=", Op::Ne),
        ("=", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let found = text
        .char_indices()
        .find_map(|(at, _)| {
            OPS.iter()
                .find(|(sym, _)| text[at..].starts_with(sym))
                .map(|(sym, op)| (at, sym.len(), *op))
        })
        .ok_or("write COLUMN OP VALUE with OP one of = != < <= > >=, e.g. metrics.evaluate.accuracy>=0.9")?;
    let (at, len, op) = found;
    let value = text[at + len..].trim();
    let value = match value.parse::<f64>() {
        Ok(n) if n.is_finite() => Cell::Number(n),
        _ => Cell::Text(value.to_string()),
    };
    Ok(Filter {
        column: column(&text[..at], runs)?,
        op,
        value,
    })
}

impl Filter {
    /// Whether a run passes; a run without the value passes no filter.
    pub fn keeps(&self, run: &Run) -> bool {
        let cell = self.column.cell(run);
        let order = match (&cell, &self.value) {
            (Cell::Empty, _) => return false,
            (Cell::Number(_), Cell::Text(_)) | (Cell::Time(_), _) => {
                text_of(&cell).cmp(&text_of(&self.value))
            }
            (a, b) => compare(a, b),
        };
        match self.op {
            Op::Eq => order == Ordering::Equal,
            Op::Ne => order != Ordering::Equal,
            Op::Lt => order == Ordering::Less,
            Op::Le => order != Ordering::Greater,
            Op::Gt => order == Ordering::Greater,
            Op::Ge => order != Ordering::Less,
        }
    }
}

/// Numbers by value, anything else by its text.
fn compare(a: &Cell, b: &Cell) -> Ordering {
    match (a, b) {
        (Cell::Number(x), Cell::Number(y)) => x.total_cmp(y),
        (Cell::Time(x), Cell::Time(y)) => x.cmp(y),
        _ => text_of(a).cmp(&text_of(b)),
    }
}

fn text_of(cell: &Cell) -> String {
    match cell {
        Cell::Empty => String::new(),
        Cell::Number(n) => n.to_string(),
        Cell::Text(t) => t.clone(),
        Cell::Time(t) => t.to_rfc3339(),
    }
}

#[cfg(test)]
mod tests;
