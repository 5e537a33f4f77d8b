//! `kind: athena`: one query. Athena takes a token (derived from the try),
//! and the try's name also ends the query as a comment, so a repeated
//! launch finds the query among the workgroup's recent ones even where the
//! token is not honoured. Handle: `athena:QUERY_EXECUTION_ID`. The output
//! carries the query's id, results and scanned bytes, and up to 100 rows.

use serde_json::{Map, Value, json};
use updraft_core::spec::ServiceKind;
use updraft_engine::ports::{HandleStatus, LaunchError, LaunchRequest, PortResult};

use super::{
    ServiceLauncher, Started, ended, field, handle, launch_error, port_error, required, text,
};

/// The most rows an output carries.
pub const MAX_ROWS: usize = 100;

/// How many of a workgroup's recent queries a repeated launch looks at.
const QUERIES_LOOKED_AT: u32 = 50;

/// The comment ending a try's query, naming the try.
fn marker(digest: &str) -> String {
    format!("\n-- updraft-try: {digest}")
}

/// The query states that end a try.
pub fn end_of(state: &str, reason: &str) -> Option<Result<(), String>> {
    match state {
        "SUCCEEDED" => Some(Ok(())),
        "FAILED" | "CANCELLED" => Some(Err(match reason {
            "" => format!("the Athena query ended {state}"),
            why => format!("the Athena query ended {state}: {why}"),
        })),
        _ => None,
    }
}

async fn earlier(
    launcher: &ServiceLauncher,
    workgroup: Option<&str>,
    marker: &str,
) -> Result<Option<String>, LaunchError> {
    let mut list = json!({"MaxResults": QUERIES_LOOKED_AT});
    if let Some(workgroup) = workgroup {
        list["WorkGroup"] = json!(workgroup);
    }
    let listed = launcher
        .caller
        .call("athena", "ListQueryExecutions", &list)
        .await
        .map_err(launch_error)?;
    // One by one, newest first (the emulator has no batch get), stopping
    // at the first that is the try's: a relaunch is rare.
    for id in listed["QueryExecutionIds"].as_array().into_iter().flatten() {
        let id = id.as_str().unwrap_or_default();
        let found = execution(launcher, id).await.map_err(launch_error)?;
        if field(&found, "/QueryExecution/Query").ends_with(marker) {
            return Ok(Some(id.to_string()));
        }
    }
    Ok(None)
}

pub(crate) async fn start(
    launcher: &ServiceLauncher,
    request: &LaunchRequest,
    settings: &Map<String, Value>,
) -> Result<Started, LaunchError> {
    let digest = launcher.digest(request);
    let marker = marker(&digest);
    let workgroup = text(settings, "workgroup");
    if request.relaunch
        && let Some(id) = earlier(launcher, workgroup.as_deref(), &marker).await?
    {
        return Ok(Started {
            handle: handle(ServiceKind::Athena, &id),
            response: json!({"QueryExecutionId": id}),
            wait: None,
        });
    }
    let mut params = json!({
        "QueryString": format!("{}{marker}", required(settings, "query")?),
        "ClientRequestToken": digest,
    });
    if let Some(workgroup) = workgroup {
        params["WorkGroup"] = json!(workgroup);
    }
    if let Some(database) = text(settings, "database") {
        params["QueryExecutionContext"] = json!({"Database": database});
    }
    if let Some(location) = text(settings, "output_location") {
        params["ResultConfiguration"] = json!({"OutputLocation": location});
    }
    let response = launcher
        .caller
        .call("athena", "StartQueryExecution", &params)
        .await
        .map_err(launch_error)?;
    Ok(Started {
        handle: handle(ServiceKind::Athena, field(&response, "/QueryExecutionId")),
        response,
        wait: None,
    })
}

async fn execution(launcher: &ServiceLauncher, id: &str) -> Result<Value, crate::call::CallError> {
    launcher
        .caller
        .call(
            "athena",
            "GetQueryExecution",
            &json!({"QueryExecutionId": id}),
        )
        .await
}

pub(crate) async fn describe(launcher: &ServiceLauncher, id: &str) -> PortResult<HandleStatus> {
    let found = match execution(launcher, id).await {
        Ok(found) => found,
        Err(e) if e.is_not_found() || e.code == "InvalidRequestException" => {
            return Ok(HandleStatus::Lost);
        }
        Err(e) => return Err(port_error(e)),
    };
    let status = &found["QueryExecution"]["Status"];
    Ok(
        match end_of(field(status, "/State"), field(status, "/StateChangeReason")) {
            Some(end) => ended(end),
            None => HandleStatus::Running,
        },
    )
}

pub(crate) async fn stop(launcher: &ServiceLauncher, id: &str) -> PortResult<()> {
    launcher
        .caller
        .call(
            "athena",
            "StopQueryExecution",
            &json!({"QueryExecutionId": id}),
        )
        .await
        .map(|_| ())
        .map_err(port_error)
}

/// Rows of a result set as objects keyed by column name, the header row
/// (a row of the column names, as SELECT results begin) dropped.
pub fn rows(results: &Value) -> Vec<Value> {
    let columns: Vec<&str> = results
        .pointer("/ResultSet/ResultSetMetadata/ColumnInfo")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| field(c, "/Name"))
        .collect();
    let cells = |row: &Value| -> Vec<Value> {
        row["Data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| d.get("VarCharValue").cloned().unwrap_or(Value::Null))
            .collect()
    };
    let all = results
        .pointer("/ResultSet/Rows")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut rows = all.iter().map(cells).peekable();
    let header: Vec<Value> = columns.iter().map(|c| json!(c)).collect();
    if rows.peek() == Some(&header) {
        rows.next();
    }
    rows.map(|row| {
        Value::Object(
            columns
                .iter()
                .zip(row)
                .map(|(c, v)| (c.to_string(), v))
                .collect(),
        )
    })
    .collect()
}

pub(crate) async fn output(launcher: &ServiceLauncher, id: &str) -> PortResult<Value> {
    let found = execution(launcher, id).await.map_err(port_error)?;
    let query = &found["QueryExecution"];
    let mut out = json!({
        "query_execution_id": id,
        "output_location": query.pointer("/ResultConfiguration/OutputLocation"),
        "data_scanned_bytes": query.pointer("/Statistics/DataScannedInBytes"),
    });
    // One row more than kept, and the header: enough to tell "more".
    let results = launcher
        .caller
        .call(
            "athena",
            "GetQueryResults",
            &json!({"QueryExecutionId": id, "MaxResults": MAX_ROWS + 2}),
        )
        .await
        .map_err(port_error)?;
    let rows = rows(&results);
    if rows.len() <= MAX_ROWS && results.get("NextToken").is_none() {
        out["rows"] = Value::Array(rows);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_keyed_by_column_without_the_header() {
        let results = json!({"ResultSet": {
            "ResultSetMetadata": {"ColumnInfo": [{"Name": "day"}, {"Name": "n"}]},
            "Rows": [
                {"Data": [{"VarCharValue": "day"}, {"VarCharValue": "n"}]},
                {"Data": [{"VarCharValue": "2026-12-01"}, {"VarCharValue": "42"}]},
                {"Data": [{"VarCharValue": "2026-12-02"}, {}]}
            ]
        }});
        assert_eq!(
            rows(&results),
            [
                json!({"day": "2026-12-01", "n": "42"}),
                json!({"day": "2026-12-02", "n": null})
            ]
        );
    }
}
