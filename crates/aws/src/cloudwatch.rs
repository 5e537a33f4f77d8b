//! Reading a try's log from CloudWatch Logs. A location is
//! `cloudwatch:<group>:<stream>`, or `cloudwatch:<group>:<prefix>*` for
//! every stream under a prefix (a training job writes one per instance).

use crate::sdk_error::describe;
use aws_sdk_cloudwatchlogs::Client;
use updraft_engine::ports::{LogPage, LogWindow, PortError, PortResult};

/// The location of one stream.
pub fn stream(group: &str, stream: &str) -> String {
    format!("cloudwatch:{group}:{stream}")
}

/// The location of every stream whose name starts with `prefix`.
pub fn streams(group: &str, prefix: &str) -> String {
    format!("cloudwatch:{group}:{prefix}*")
}

/// The most events one page reads.
const PAGE_EVENTS: i32 = 500;

/// A page of a location's lines, stream after stream (by name). A cursor
/// is `<stream>\n<token>`: CloudWatch's own token within that stream, or
/// none for the stream's tail (paging back) or head (reading on).
pub async fn page(client: &Client, location: &str, window: &LogWindow) -> PortResult<LogPage> {
    let Some((group, stream)) = location
        .strip_prefix("cloudwatch:")
        .and_then(|l| l.split_once(':'))
    else {
        return Err(PortError::msg(format!(
            "`{location}` is not a CloudWatch log"
        )));
    };
    let names = match stream.strip_suffix('*') {
        None => vec![stream.to_string()],
        Some(prefix) => stream_names(client, group, prefix).await?,
    };
    if names.is_empty() {
        return Ok(LogPage::default());
    }
    let at = |cursor: &str| -> PortResult<(usize, Option<String>)> {
        let (name, token) = cursor.split_once('\n').unwrap_or((cursor, ""));
        let index = names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| PortError::msg(format!("`{name}` is not a stream of {location}")))?;
        Ok((index, Some(token.to_string()).filter(|t| !t.is_empty())))
    };
    let reader = Reader {
        client,
        group,
        names: &names,
    };
    match window {
        LogWindow::Tail => reader.back(names.len() - 1, None).await,
        LogWindow::Before(cursor) => {
            let (index, token) = at(cursor)?;
            reader.back(index, token).await
        }
        LogWindow::Head => reader.on(0, None).await,
        LogWindow::After(cursor) => {
            let (index, token) = at(cursor)?;
            reader.on(index, token).await
        }
    }
}

struct Reader<'a> {
    client: &'a Client,
    group: &'a str,
    names: &'a [String],
}

impl Reader<'_> {
    fn cursor(&self, index: usize, token: Option<&str>) -> String {
        format!("{}\n{}", self.names[index], token.unwrap_or_default())
    }

    /// The page of stream `index` that ends at `token` (its end if none).
    async fn back(&self, index: usize, token: Option<String>) -> PortResult<LogPage> {
        let (lines, backward, forward) = self.events(index, token, false).await?;
        let full = lines.len() == PAGE_EVENTS as usize;
        let earlier = match (full, backward) {
            (true, Some(backward)) => Some(self.cursor(index, Some(&backward))),
            // This stream's start: the page before is the previous stream's end.
            _ => index
                .checked_sub(1)
                .map(|previous| self.cursor(previous, None)),
        };
        Ok(LogPage {
            text: joined(&lines),
            earlier,
            later: forward.map(|f| self.cursor(index, Some(&f))),
        })
    }

    /// What stream `index` holds after `token` (from its start if none),
    /// or the next stream's start once this one holds nothing more.
    async fn on(&self, mut index: usize, mut token: Option<String>) -> PortResult<LogPage> {
        loop {
            let (lines, backward, forward) = self.events(index, token.clone(), true).await?;
            let last = index + 1 == self.names.len();
            if lines.is_empty() && !last {
                index += 1;
                token = None;
                continue;
            }
            return Ok(LogPage {
                text: joined(&lines),
                earlier: backward.map(|b| self.cursor(index, Some(&b))),
                later: Some(self.cursor(index, forward.or(token).as_deref())),
            });
        }
    }

    /// One GetLogEvents: lines, and the backward and forward tokens.
    async fn events(
        &self,
        index: usize,
        token: Option<String>,
        from_head: bool,
    ) -> PortResult<(Vec<String>, Option<String>, Option<String>)> {
        let stream = &self.names[index];
        let out = self
            .client
            .get_log_events()
            .log_group_name(self.group)
            .log_stream_name(stream)
            .start_from_head(from_head)
            .limit(PAGE_EVENTS)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                PortError::msg(format!(
                    "CloudWatch Logs GetLogEvents {} {stream}: {}",
                    self.group,
                    describe(&e)
                ))
            })?;
        let lines = out
            .events()
            .iter()
            .filter_map(|e| e.message().map(str::to_string))
            .collect();
        Ok((lines, out.next_backward_token, out.next_forward_token))
    }
}

fn joined(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

async fn stream_names(client: &Client, group: &str, prefix: &str) -> PortResult<Vec<String>> {
    let out = client
        .describe_log_streams()
        .log_group_name(group)
        .log_stream_name_prefix(prefix)
        .send()
        .await
        .map_err(|e| {
            PortError::msg(format!(
                "CloudWatch Logs DescribeLogStreams {group} {prefix}: {}",
                describe(&e)
            ))
        })?;
    Ok(out
        .log_streams()
        .iter()
        .filter_map(|s| s.log_stream_name().map(str::to_string))
        .collect())
}
