//! `updraft doctor` on AWS: whether a deployment works, one finding per
//! check — the stack's outputs, its rules enabled, the planner's heartbeat
//! held against the tick rule's schedule, the dead-letter queue empty, no
//! error in the functions' logs of the last day, and the state's own
//! health (import errors, tries past their timeout).

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{Duration, Utc};
use updraft_engine::Engine;
use updraft_engine::usecase::{Finding, ago};

use crate::sdk_error::describe;
use crate::settings::{STACK_OUTPUTS, Settings};
use crate::sqs::decode_message;
use crate::stack::StackView;

/// The logical id of the planner's tick rule in the template.
pub const TICK_RULE: &str = "PlannerFunctionTick";
/// The logical ids of the functions' log groups, by function.
pub const LOG_GROUPS: [(&str, &str); 3] = [
    ("planner", "PlannerLogGroup"),
    ("dispatcher", "DispatcherLogGroup"),
    ("recorder", "RecorderLogGroup"),
];

/// Whether every output the CLI reads is there.
pub fn outputs_finding(stack: &str, view: &StackView) -> Finding {
    let missing: Vec<&str> = STACK_OUTPUTS
        .iter()
        .map(|(output, _)| *output)
        .filter(|output| !view.outputs.contains_key(*output))
        .collect();
    if missing.is_empty() {
        Finding::ok(format!(
            "stack {stack}: the {} outputs updraft reads",
            STACK_OUTPUTS.len()
        ))
    } else {
        Finding::wrong(
            format!("stack {stack} lacks the outputs {}", missing.join(", ")),
            "deploy the stack from this version's infra/template.yaml (make deploy)",
        )
    }
}

/// How often a schedule expression fires: `rate(N unit)`; `None` for a
/// `cron(...)` or anything else.
pub fn rate(expression: &str) -> Option<Duration> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: i64 = n.parse().ok()?;
    match unit.trim_end_matches('s') {
        "minute" => Some(Duration::minutes(n)),
        "hour" => Some(Duration::hours(n)),
        "day" => Some(Duration::days(n)),
        _ => None,
    }
}

/// Every rule of the stack enabled; returns the findings and the tick
/// rule's schedule expression.
async fn rules(sdk: &SdkConfig, view: &StackView) -> (Vec<Finding>, Option<String>) {
    let client = aws_sdk_eventbridge::Client::new(sdk);
    let mut findings = Vec::new();
    let mut schedule = None;
    let mut enabled = 0;
    for (logical, (physical, kind)) in &view.resources {
        if kind != "AWS::Events::Rule" {
            continue;
        }
        // A rule on another bus than the default is `<bus>|<name>`.
        let (bus, name) = physical
            .split_once('|')
            .map_or((None, physical.as_str()), |(b, n)| (Some(b), n));
        match client
            .describe_rule()
            .name(name)
            .set_event_bus_name(bus.map(str::to_string))
            .send()
            .await
        {
            Ok(rule) if rule.state().map(|s| s.as_str()) == Some("ENABLED") => {
                enabled += 1;
                if logical == TICK_RULE {
                    schedule = rule.schedule_expression().map(str::to_string);
                }
            }
            Ok(_) => findings.push(Finding::wrong(
                format!("rule {logical} ({name}) is disabled"),
                format!("aws events enable-rule --name {name}"),
            )),
            Err(e) => findings.push(Finding::wrong(
                format!("rule {logical} ({name}) cannot be read: {}", describe(&e)),
                "deploy the stack again (make deploy)",
            )),
        }
    }
    if findings.is_empty() {
        findings.push(Finding::ok(format!(
            "the stack's {enabled} rules are enabled"
        )));
    }
    (findings, schedule)
}

/// The dead-letter queue of the task queue empty, or what it holds.
async fn dead_letters(sdk: &SdkConfig, settings: &Settings) -> Finding {
    let client = aws_sdk_sqs::Client::new(sdk);
    let fix = "check the credentials: doctor reads the queues with sqs:GetQueueAttributes and GetQueueUrl";
    let attributes = |url: String, names: Vec<QueueAttributeName>| {
        let client = client.clone();
        async move {
            client
                .get_queue_attributes()
                .queue_url(url)
                .set_attribute_names(Some(names))
                .send()
                .await
                .map(|out| out.attributes.unwrap_or_default())
                .map_err(|e| describe(&e))
        }
    };
    let redrive = match attributes(
        settings.queue_url.clone(),
        vec![QueueAttributeName::RedrivePolicy],
    )
    .await
    {
        Ok(a) => a.get(&QueueAttributeName::RedrivePolicy).cloned(),
        Err(e) => return Finding::wrong(format!("the task queue cannot be read: {e}"), fix),
    };
    let target = redrive
        .and_then(|r| serde_json::from_str::<serde_json::Value>(&r).ok())
        .and_then(|r| r["deadLetterTargetArn"].as_str().map(str::to_string));
    let Some(name) = target.as_deref().and_then(|arn| arn.rsplit(':').next()) else {
        return Finding::wrong(
            "the task queue has no dead-letter queue",
            "deploy the stack again (make deploy)",
        );
    };
    let url = match client.get_queue_url().queue_name(name).send().await {
        Ok(out) => out.queue_url.unwrap_or_default(),
        Err(e) => {
            return Finding::wrong(
                format!(
                    "the dead-letter queue {name} cannot be found: {}",
                    describe(&e)
                ),
                fix,
            );
        }
    };
    let count = match attributes(
        url.clone(),
        vec![
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ],
    )
    .await
    {
        Ok(a) => a
            .values()
            .filter_map(|n| n.parse::<u64>().ok())
            .sum::<u64>(),
        Err(e) => return Finding::wrong(format!("the dead-letter queue cannot be read: {e}"), fix),
    };
    if count == 0 {
        return Finding::ok("the dead-letter queue is empty");
    }
    // A look at (up to) ten, left visible at once for whoever handles them.
    let tries: Vec<String> = client
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .map(|out| out.messages.unwrap_or_default())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| decode_message(m.body()?).ok())
        .map(|m| format!("{} {} {} try {}", m.dag, m.run_id, m.key, m.try_number))
        .collect();
    Finding::wrong(
        format!(
            "{count} message(s) in the dead-letter queue{}{}",
            if tries.is_empty() { "" } else { ": " },
            tries.join(", ")
        ),
        format!(
            "each try was failed with its reason (updraft show); rerun what should run, then aws sqs purge-queue --queue-url {url}"
        ),
    )
}

/// The newest event matching `ERROR` in `group` since `since`: its time
/// (epoch milliseconds) and message.
async fn last_error(
    client: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    since: chrono::DateTime<Utc>,
) -> Result<Option<(i64, String)>, String> {
    let mut last = None;
    let mut token = None;
    // The newest error is on the last page; a day of errors is bounded.
    for _ in 0..20 {
        let page = client
            .filter_log_events()
            .log_group_name(group)
            .start_time(since.timestamp_millis())
            .filter_pattern("ERROR")
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        if let Some(event) = page.events().last() {
            let message = event.message.clone().unwrap_or_default();
            last = Some((event.timestamp.unwrap_or_default(), message));
        }
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    Ok(last)
}

/// The last error each function logged in the past day.
async fn function_errors(sdk: &SdkConfig, view: &StackView) -> Vec<Finding> {
    let client = aws_sdk_cloudwatchlogs::Client::new(sdk);
    let now = Utc::now();
    let mut findings = Vec::new();
    for (function, logical) in LOG_GROUPS {
        let Some((group, _)) = view.resources.get(logical) else {
            continue;
        };
        findings.push(
            match last_error(&client, group, now - Duration::days(1)).await {
                Ok(None) => Finding::ok(format!("the {function} logged no error in a day")),
                Ok(Some((at, message))) => {
                    let at = chrono::DateTime::from_timestamp_millis(at).unwrap_or(now);
                    let message: String = message.chars().take(300).collect();
                    Finding::wrong(
                        format!(
                            "the {function} logged an error {} ago: {}",
                            ago(now - at),
                            message.trim()
                        ),
                        format!("read its log group {group} around then"),
                    )
                }
                Err(e) => Finding::wrong(
                    format!("the {function}'s log {group} cannot be read: {e}"),
                    "attach the read-only policy, or check the log group exists",
                ),
            },
        );
    }
    findings
}

/// Every check of a deployment: with a stack, its outputs, rules and
/// functions' logs too; the heartbeat is held against the tick rule's
/// schedule (a minute when no stack says).
pub async fn check(
    sdk: &SdkConfig,
    stack: Option<(&str, &StackView)>,
    settings: &Settings,
    engine: &Engine,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    // Without the stack's rule to read: the template's own safety tick.
    let mut every = Some(updraft_core::schedule::SAFETY_TICK);
    if let Some((name, view)) = stack {
        findings.push(outputs_finding(name, view));
        let (rule_findings, schedule) = rules(sdk, view).await;
        findings.extend(rule_findings);
        every = schedule.as_deref().and_then(rate).or(every);
    }
    match engine.health(Duration::minutes(2)).await {
        Ok(health) => findings.extend(health.findings(Utc::now(), every)),
        Err(e) => findings.push(Finding::wrong(
            format!("the state table cannot be read: {e}"),
            "check the credentials and the read-only policy",
        )),
    }
    findings.push(dead_letters(sdk, settings).await);
    if let Some((_, view)) = stack {
        findings.extend(function_errors(sdk, view).await);
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_and_crons_are_not() {
        assert_eq!(rate("rate(1 minute)"), Some(Duration::minutes(1)));
        assert_eq!(rate("rate(5 minutes)"), Some(Duration::minutes(5)));
        assert_eq!(rate("rate(2 hours)"), Some(Duration::hours(2)));
        assert_eq!(rate("cron(0 * * * ? *)"), None);
        assert_eq!(rate("rate(x minutes)"), None);
    }
}
