//! Reading a try's log from CloudWatch Logs. A location is
//! `cloudwatch:<group>:<stream>`, or `cloudwatch:<group>:<prefix>*` for
//! every stream under a prefix (a training job writes one per instance).

use crate::sdk_error::describe;
use aws_sdk_cloudwatchlogs::Client;
use updraft_engine::ports::{PortError, PortResult};

/// The location of one stream.
pub fn stream(group: &str, stream: &str) -> String {
    format!("cloudwatch:{group}:{stream}")
}

/// The location of every stream whose name starts with `prefix`.
pub fn streams(group: &str, prefix: &str) -> String {
    format!("cloudwatch:{group}:{prefix}*")
}

/// The lines of a location, oldest first, stream after stream.
pub async fn read(client: &Client, location: &str) -> PortResult<String> {
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
    let mut text = String::new();
    for name in names {
        for line in read_stream(client, group, &name).await? {
            text.push_str(&line);
            text.push('\n');
        }
    }
    Ok(text)
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

async fn read_stream(client: &Client, group: &str, stream: &str) -> PortResult<Vec<String>> {
    let mut lines = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                PortError::msg(format!(
                    "CloudWatch Logs GetLogEvents {group} {stream}: {}",
                    describe(&e)
                ))
            })?;
        lines.extend(
            out.events()
                .iter()
                .filter_map(|e| e.message().map(str::to_string)),
        );
        // The stream is read to its end when the token stops changing.
        if out.events().is_empty()
            || out.next_forward_token.is_none()
            || out.next_forward_token == token
        {
            return Ok(lines);
        }
        token = out.next_forward_token;
    }
}
