//! `kind: glue_crawler`: a crawl of a Glue crawler that starts after the
//! try's launch and ends well. A crawler runs one crawl at a time: if it is
//! crawling already, the try waits for that crawl to end and then starts
//! its own. Handle: `glue-crawler:NAME@LAUNCH_MS`, so a poke knows which
//! crawls count: those that began at most a second before the launch
//! (clocks differ). AWS's crawler events carry no crawl id, so a crawl's
//! end is found by polling GetCrawler, every minute.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use updraft_core::spec::ServiceKind;
use updraft_engine::ports::{HandleStatus, LaunchError, PortError, PortResult};

use super::{ServiceLauncher, Started, ended, field, handle, launch_error, port_error, required};

fn split(id: &str) -> PortResult<(&str, DateTime<Utc>)> {
    let (name, ms) = id
        .rsplit_once('@')
        .ok_or_else(|| PortError::msg(format!("not a crawler handle: glue-crawler:{id}")))?;
    let at = ms
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(|| PortError::msg(format!("not a crawler handle: glue-crawler:{id}")))?;
    Ok((name, at))
}

/// How much earlier than the launch a crawl may start and still count.
const CLOCK_SLACK: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

/// A crawl's end, from `LastCrawl.Status` (the emulator says `COMPLETED`
/// and `STOPPED`, as ListCrawls does, where AWS says `SUCCEEDED` and
/// `CANCELLED`).
pub fn end_of(status: &str, message: &str) -> Option<Result<(), String>> {
    match status {
        "SUCCEEDED" | "COMPLETED" => Some(Ok(())),
        "FAILED" | "CANCELLED" | "STOPPED" => Some(Err(match message {
            "" => format!("the crawl ended {status}"),
            why => format!("the crawl ended {status}: {why}"),
        })),
        _ => None,
    }
}

/// Starts a crawl unless one is running; either way, the try waits.
async fn start_crawl(launcher: &ServiceLauncher, name: &str) -> Result<(), crate::call::CallError> {
    match launcher
        .caller
        .call("glue", "StartCrawler", &json!({"Name": name}))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code.contains("CrawlerRunning") => Ok(()),
        Err(e) => Err(e),
    }
}

pub(crate) async fn start(
    launcher: &ServiceLauncher,
    settings: &Map<String, Value>,
) -> Result<Started, LaunchError> {
    let name = required(settings, "crawler")?;
    let at = Utc::now();
    start_crawl(launcher, &name).await.map_err(launch_error)?;
    Ok(Started {
        handle: handle(
            ServiceKind::GlueCrawler,
            &format!("{name}@{}", at.timestamp_millis()),
        ),
        response: json!({"Crawler": name}),
        wait: None,
    })
}

fn started_at(crawler: &Value) -> Option<DateTime<Utc>> {
    match crawler.pointer("/Crawler/LastCrawl/StartTime")? {
        Value::Number(n) => DateTime::from_timestamp_millis((n.as_f64()? * 1000.0) as i64),
        Value::String(s) => DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc()),
        _ => None,
    }
}

pub(crate) async fn describe(launcher: &ServiceLauncher, id: &str) -> PortResult<HandleStatus> {
    let (name, launched) = split(id)?;
    let crawler = match launcher
        .caller
        .call("glue", "GetCrawler", &json!({"Name": name}))
        .await
    {
        Ok(crawler) => crawler,
        Err(e) if e.is_not_found() => return Ok(ended(Err(format!("no crawler `{name}`")))),
        Err(e) => return Err(port_error(e)),
    };
    if field(&crawler, "/Crawler/State") != "READY" {
        return Ok(HandleStatus::Running);
    }
    // AWS's clock and the launcher's differ a little: a crawl that began
    // up to a second before the launch counts as the try's.
    let ours = started_at(&crawler).is_some_and(|t| t >= launched - CLOCK_SLACK);
    if !ours {
        // The crawl running at launch ended: start this try's own.
        start_crawl(launcher, name).await.map_err(port_error)?;
        return Ok(HandleStatus::Running);
    }
    let status = field(&crawler, "/Crawler/LastCrawl/Status");
    Ok(
        match end_of(status, field(&crawler, "/Crawler/LastCrawl/ErrorMessage")) {
            Some(end) => ended(end),
            None => HandleStatus::Running,
        },
    )
}

pub(crate) async fn stop(launcher: &ServiceLauncher, id: &str) -> PortResult<()> {
    let (name, _) = split(id)?;
    match launcher
        .caller
        .call("glue", "StopCrawler", &json!({"Name": name}))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code.contains("NotRunning") || e.code.contains("CrawlerStopping") => Ok(()),
        Err(e) => Err(port_error(e)),
    }
}

pub(crate) async fn output(launcher: &ServiceLauncher, id: &str) -> PortResult<Value> {
    let (name, _) = split(id)?;
    let crawler = launcher
        .caller
        .call("glue", "GetCrawler", &json!({"Name": name}))
        .await
        .map_err(port_error)?;
    Ok(json!({"crawler": name, "last_crawl": crawler.pointer("/Crawler/LastCrawl")}))
}
