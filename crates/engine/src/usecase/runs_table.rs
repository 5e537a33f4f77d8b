//! The runs table behind `updraft runs` and the dashboard's runs list: the
//! store's filters, then the view's columns, `where` filters and order.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use updraft_core::runs_view::RunsView;
use updraft_core::schedule::LocalTime;
use updraft_core::state::{Run, RunState};

use crate::ports::RunQuery;
use crate::{Engine, EngineError, EngineResult};

/// What a runs table was asked to show, as the user wrote it.
#[derive(Clone, Debug, Default)]
pub struct RunFilters {
    /// Only this DAG.
    pub dag: Option<String>,
    /// Only runs in these states.
    pub states: Vec<String>,
    /// Only runs with this label.
    pub label: Option<String>,
    /// Only runs created since (a date, date-time or RFC 3339; UTC).
    pub since: Option<String>,
    /// Only runs created until (a date covers that whole day).
    pub until: Option<String>,
    /// Only runs whose param has this value: `key=value`, the value JSON
    /// if it parses as JSON.
    pub params: Vec<String>,
    /// Only runs that produced this artifact URI.
    pub produced: Option<String>,
    /// Only runs made by this caller.
    pub triggered_by: Option<String>,
    /// Only runs whose note contains this text.
    pub note_contains: Option<String>,
    /// Columns, comma-separated (see [`RunsView::parse`]).
    pub columns: Option<String>,
    /// `COLUMN OP VALUE` filters.
    pub wheres: Vec<String>,
    /// Sort keys, comma-separated, `-column` for largest first.
    pub sort: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// The runs a table shows, each with its DAG's time zone, and how.
#[derive(Clone, Debug)]
pub struct RunsTable {
    /// Columns, filters, order.
    pub view: RunsView,
    /// The runs, in the view's order.
    pub runs: Vec<(Run, Tz)>,
}

/// `key=value`, the value JSON if it parses as JSON, else text.
pub fn param_pair(pair: &str) -> EngineResult<(String, Value)> {
    let Some((key, value)) = pair.split_once('=').filter(|(k, _)| !k.is_empty()) else {
        return Err(EngineError::invalid(
            "param",
            format!("`{pair}` is not key=value"),
        ));
    };
    Ok((key.to_string(), param_value(value)))
}

/// A param's value as typed: JSON if it parses as JSON, else the text.
pub fn param_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn bound(
    text: Option<&str>,
    name: &'static str,
    last: bool,
) -> EngineResult<Option<DateTime<Utc>>> {
    text.map(|s| {
        let t = LocalTime::parse(s, Tz::UTC).map_err(|why| EngineError::invalid(name, why))?;
        Ok(if last {
            t.last_instant(Tz::UTC)
        } else {
            t.first_instant(Tz::UTC)
        })
    })
    .transpose()
}

impl Engine {
    /// The runs matching `filters`, shown as they ask.
    pub async fn runs_table(&self, filters: &RunFilters) -> EngineResult<RunsTable> {
        let states = filters
            .states
            .iter()
            .map(|s| {
                s.parse::<RunState>()
                    .map_err(|why| EngineError::invalid("state", why))
            })
            .collect::<EngineResult<Vec<_>>>()?;
        // The view's filters and order come after the store's; so does the
        // limit then.
        let viewed = !filters.wheres.is_empty() || filters.sort.is_some();
        let query = RunQuery {
            dag: filters.dag.clone(),
            states,
            label: filters.label.clone(),
            since: bound(filters.since.as_deref(), "since", false)?,
            until: bound(filters.until.as_deref(), "until", true)?,
            params: filters
                .params
                .iter()
                .map(|p| param_pair(p))
                .collect::<EngineResult<_>>()?,
            triggered_by: filters.triggered_by.clone(),
            note_contains: filters.note_contains.clone(),
            limit: (!viewed).then_some(filters.limit),
        };
        let found = self.runs(&query, filters.produced.as_deref()).await?;
        let listed: Vec<Run> = found.iter().map(|(run, _)| run.clone()).collect();
        let view = RunsView::parse(
            filters.columns.as_deref(),
            &filters.wheres,
            filters.sort.as_deref(),
            &listed,
        )
        .map_err(EngineError::refused)?;
        let mut shown = view.apply(listed);
        shown.truncate(filters.limit);
        let runs = shown
            .into_iter()
            .map(|run| {
                let tz = found
                    .iter()
                    .find(|(r, _)| r.dag == run.dag && r.run_id == run.run_id)
                    .map_or(Tz::UTC, |(_, spec)| spec.schedule.tz());
                (run, tz)
            })
            .collect();
        Ok(RunsTable { view, runs })
    }
}
