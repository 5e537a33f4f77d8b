//! The planner's wake-up: one EventBridge Scheduler one-time schedule,
//! `at(...)`, that the stack makes to invoke the planner. Each tick moves
//! it to when the next tick must come; a run made while the planner sleeps
//! pulls it within the minute. Called through the stack's caller (no
//! Scheduler client crate); the template's hourly rule is the safety tick
//! that a lost wake-up costs at most.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};
use updraft_engine::ports::{PortError, PortResult, Waker};

use crate::call::Caller;

/// The schedule that wakes one stack's planner: the stack makes it (its
/// target, role and window); the waker only moves its time.
pub struct SchedulerWaker {
    caller: Caller,
    /// The schedule's name (in the default group).
    pub name: String,
}

/// How a one-time schedule's time is written: local time in its zone (UTC
/// here), to the second.
const AT: &str = "%Y-%m-%dT%H:%M:%S";

impl SchedulerWaker {
    /// A waker that moves the schedule `name`.
    pub fn new(caller: Caller, name: String) -> SchedulerWaker {
        SchedulerWaker { caller, name }
    }

    async fn schedule(&self) -> PortResult<Value> {
        let params = json!({ "Name": self.name });
        self.caller
            .call("scheduler", "GetSchedule", &params)
            .await
            .map_err(|e| PortError::new("EventBridge Scheduler GetSchedule", e))
    }

    /// When the schedule is set for; `None` if it is not a one-time one.
    pub async fn set_for(&self) -> PortResult<Option<DateTime<Utc>>> {
        Ok(self.schedule().await?["ScheduleExpression"]
            .as_str()
            .and_then(parse_at))
    }

    /// The schedule as it is, set for `at`: an update replaces every field.
    async fn update(&self, schedule: &Value, at: DateTime<Utc>) -> PortResult<()> {
        // Rounded up to the second: a wake-up is never early.
        let second = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
        let at = DateTime::from_timestamp(second, 0).unwrap_or(at);
        let mut params = json!({
            "Name": self.name,
            "ScheduleExpression": format!("at({})", at.format(AT)),
            "ScheduleExpressionTimezone": "UTC",
            "State": "ENABLED",
            "ActionAfterCompletion": "NONE",
        });
        for kept in ["GroupName", "Description", "FlexibleTimeWindow", "Target"] {
            if let Some(value) = schedule.get(kept).filter(|v| !v.is_null()) {
                params[kept] = value.clone();
            }
        }
        self.caller
            .call("scheduler", "UpdateSchedule", &params)
            .await
            .map(drop)
            .map_err(|e| PortError::new("EventBridge Scheduler UpdateSchedule", e))
    }
}

fn parse_at(expression: &str) -> Option<DateTime<Utc>> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    NaiveDateTime::parse_from_str(inner, AT)
        .ok()
        .map(|t| t.and_utc())
}

#[async_trait]
impl Waker for SchedulerWaker {
    async fn wake_at(&self, at: DateTime<Utc>) -> PortResult<()> {
        let schedule = self.schedule().await?;
        self.update(&schedule, at).await
    }

    async fn wake_by(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> PortResult<()> {
        let schedule = self.schedule().await?;
        let set = schedule["ScheduleExpression"].as_str().and_then(parse_at);
        match set {
            Some(set) if set > now && set <= at => Ok(()),
            _ => self.update(&schedule, at).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_time_expression_reads_back_as_its_instant() {
        let at = parse_at("at(2026-12-07T05:10:00)").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-07T05:10:00+00:00");
        assert_eq!(parse_at("rate(1 hour)"), None);
    }
}
