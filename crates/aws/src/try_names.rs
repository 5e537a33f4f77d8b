//! One try's names on AWS — its digest (a SageMaker job name, an ECS
//! client token) and its prefix in the bucket — the same for every launch
//! of it, so a relaunch finds what an earlier launch started.

use sha2::{Digest, Sha256};
use updraft_core::plan::MAX_OUTPUT_BYTES;
use updraft_engine::ports::{LaunchRequest, PortError, PortResult};

/// The hex SHA-256 of one try's identity (run, task, map index, try): the
/// same for every launch of it.
pub fn try_digest(request: &LaunchRequest) -> String {
    let key = format!(
        "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
        request.dag,
        request.run_id,
        request.key.task_id,
        request.key.map_index.map_or(-1, i64::from),
        request.try_number
    );
    updraft_core::ids::hex(&Sha256::digest(key.as_bytes()))
}

/// One try's digest within one deployment (a stack's bucket or cluster):
/// two stacks running the same DAG never share a job name or a token.
pub fn deployment_digest(request: &LaunchRequest, deployment: &str) -> String {
    try_digest(&LaunchRequest {
        dag: format!("{deployment}\u{0}{}", request.dag),
        ..request.clone()
    })
}

/// Where one try's files go in the bucket: `outputs/<dag>/<run>/<task>/<try>`
/// (`<task>[<i>]` for a mapped instance).
pub fn try_prefix(request: &LaunchRequest) -> String {
    let task = match request.key.map_index {
        Some(i) => format!("{}[{i}]", request.key.task_id),
        None => request.key.task_id.to_string(),
    };
    format!(
        "outputs/{}/{}/{task}/{}",
        request.dag, request.run_id, request.try_number
    )
}

/// The variables naming a try inside whatever runs it (`UPDRAFT_DAG`,
/// `UPDRAFT_RUN_ID`, `UPDRAFT_TASK_ID`, `UPDRAFT_TRY_NUMBER`, and
/// `UPDRAFT_MAP_INDEX` for a mapped instance).
pub fn try_variables(request: &LaunchRequest) -> Vec<(&'static str, String)> {
    let mut variables = vec![
        ("UPDRAFT_DAG", request.dag.clone()),
        ("UPDRAFT_RUN_ID", request.run_id.clone()),
        ("UPDRAFT_TASK_ID", request.key.task_id.to_string()),
        ("UPDRAFT_TRY_NUMBER", request.try_number.to_string()),
    ];
    if let Some(index) = request.key.map_index {
        variables.push(("UPDRAFT_MAP_INDEX", index.to_string()));
    }
    variables
}

/// What a try wrote to `UPDRAFT_OUTPUT` (an `s3://` URI), read at most one
/// byte past [`MAX_OUTPUT_BYTES`], enough to refuse it: a huge output is
/// never held in memory. `None` if it wrote nothing.
pub async fn read_try_output(s3: &aws_sdk_s3::Client, uri: &str) -> PortResult<Option<String>> {
    let Some((bucket, key)) = uri
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
    else {
        return Err(PortError::msg(format!("`{uri}` is not an S3 URI")));
    };
    let object = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(object) => object,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => {
            return Err(PortError::msg(format!(
                "S3 GetObject {uri}: {}",
                crate::sdk_error::describe(&e)
            )));
        }
    };
    let mut body = object.body;
    let mut bytes = Vec::new();
    while bytes.len() <= MAX_OUTPUT_BYTES {
        match body.try_next().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err(PortError::new("reading an output", e)),
        }
    }
    bytes.truncate(MAX_OUTPUT_BYTES + 1);
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}
