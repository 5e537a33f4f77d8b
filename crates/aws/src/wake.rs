//! The planner's wake-up: one EventBridge Scheduler one-time schedule,
//! `at(...)`, that invokes the planner when the next tick must come. Each
//! tick sets it for its successor; a run made while the planner sleeps
//! pulls it within the minute. Called through the stack's caller (no
//! Scheduler client crate); the template's hourly rule is the safety tick
//! that a lost wake-up costs at most.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};
use updraft_engine::ports::{PortError, PortResult, Waker};

use crate::call::Caller;

/// The schedule that wakes one stack's planner.
pub struct SchedulerWaker {
    caller: Caller,
    /// The schedule's name (in the default group).
    pub name: String,
    /// The planner function's ARN.
    pub planner: String,
    /// The role EventBridge Scheduler invokes the planner as.
    pub role: String,
}

/// How a one-time schedule's time is written: local time in its zone (UTC
/// here), to the second.
const AT: &str = "%Y-%m-%dT%H:%M:%S";

impl SchedulerWaker {
    /// A waker that sets `name` to invoke `planner` as `role`.
    pub fn new(caller: Caller, name: String, planner: String, role: String) -> SchedulerWaker {
        SchedulerWaker {
            caller,
            name,
            planner,
            role,
        }
    }

    /// When the schedule is set for; `None` if there is none yet.
    pub async fn set_for(&self) -> PortResult<Option<DateTime<Utc>>> {
        let params = json!({ "Name": self.name });
        match self.caller.call("scheduler", "GetSchedule", &params).await {
            Ok(schedule) => Ok(schedule["ScheduleExpression"].as_str().and_then(parse_at)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(PortError::new("EventBridge Scheduler GetSchedule", e)),
        }
    }

    fn schedule(&self, at: DateTime<Utc>) -> Value {
        // Rounded up to the second: a wake-up is never early.
        let second = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
        let at = DateTime::from_timestamp(second, 0).unwrap_or(at);
        json!({
            "Name": self.name,
            "ScheduleExpression": format!("at({})", at.format(AT)),
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": { "Mode": "OFF" },
            "ActionAfterCompletion": "NONE",
            "Target": {
                "Arn": self.planner,
                "RoleArn": self.role,
                "Input": json!({"source": "updraft.wake", "detail-type": "Scheduled Event"}).to_string(),
            },
        })
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
        let schedule = self.schedule(at);
        match self
            .caller
            .call("scheduler", "UpdateSchedule", &schedule)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => {
                let made = self
                    .caller
                    .call("scheduler", "CreateSchedule", &schedule)
                    .await;
                match made {
                    Ok(_) => Ok(()),
                    // Another process made it first: set it as asked.
                    Err(e) if e.code.contains("Conflict") => self
                        .caller
                        .call("scheduler", "UpdateSchedule", &schedule)
                        .await
                        .map(drop)
                        .map_err(|e| PortError::new("EventBridge Scheduler UpdateSchedule", e)),
                    Err(e) => Err(PortError::new("EventBridge Scheduler CreateSchedule", e)),
                }
            }
            Err(e) => Err(PortError::new("EventBridge Scheduler UpdateSchedule", e)),
        }
    }

    async fn wake_by(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> PortResult<()> {
        match self.set_for().await? {
            Some(set) if set > now && set <= at => Ok(()),
            _ => self.wake_at(at).await,
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
