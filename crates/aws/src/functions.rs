//! What the three functions do, per invocation, over an engine built once
//! at init. The `functions/*` mains only wire these to the Lambda runtime.
//!
//! - planner: an EventBridge schedule tick → [`Engine::tick`]; an S3 upload
//!   (`Object Created` through EventBridge, or a notification record) →
//!   [`Engine::sync_spec_file`] for each spec file; an object created in a watched
//!   bucket → [`Engine::artifact_appeared`].
//! - dispatcher: invoked by whoever queued a try (nothing polls the queue)
//!   → [`Engine::drain`]: every visible message settled; one that failed
//!   is hidden for a doubling wait, and on its last delivery its try is
//!   marked failed with the reason (SQS then moves it to the dead-letter
//!   queue).
//! - recorder: an ECS or SageMaker state-change event → the completion of
//!   its try, recorded, and its run planned at once.

use serde_json::{Value, json};
use updraft_engine::Engine;

use crate::events;
use crate::specs::Synced;

/// A failed invocation; the runtime reports it and the event is retried.
pub type FunctionError = Box<dyn std::error::Error + Send + Sync>;

/// The planner: a tick, or uploads of spec files (S3 `Object Created`
/// events through EventBridge, or S3 notification records).
pub async fn planner(engine: &Engine, bucket: &str, event: &Value) -> Result<Value, FunctionError> {
    if let Some(object) = watched_object(event, bucket) {
        let runs = engine
            .artifact_appeared(&object.uri, object.version, object.at)
            .await?;
        let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
        return Ok(json!({ "artifact": object.uri, "runs": ids }));
    }
    let changes = spec_objects(event);
    if changes.is_empty() {
        let report = engine.tick().await?;
        return Ok(
            json!({ "created": report.created.len(), "advanced": report.advanced, "deferred": report.deferred, "import_errors": report.import_errors.len(), "failures": report.failures.len(), "next_due": report.next_due.to_rfc3339() }),
        );
    }
    let mut synced = Vec::new();
    for key in &changes {
        // An event says only that the object changed: what it is now is
        // read from S3, so late and replayed events change nothing.
        let outcome = engine.sync_spec_file(key).await?;
        synced.push(match outcome {
            Synced::Current { dag, version } => json!({ "dag": dag, "version": version }),
            Synced::ImportError { dag, errors } => json!({ "dag": dag, "import_errors": errors }),
            Synced::Removed { dag } => json!({ "dag": dag, "removed": true }),
            Synced::Ignored => json!({ "ignored": key }),
        });
    }
    // A DAG deployed may be due before the planner's wake-up: a tick now
    // runs what is due and sets the wake-up for what comes next.
    let report = engine.tick().await?;
    Ok(json!({ "synced": synced, "next_due": report.next_due.to_rfc3339() }))
}

/// The source and detail type of S3 uploads delivered by EventBridge.
pub const OBJECT_CREATED: (&str, &str) = ("aws.s3", "Object Created");
/// The source and detail type of S3 deletions delivered by EventBridge.
pub const OBJECT_DELETED: (&str, &str) = ("aws.s3", "Object Deleted");

/// An object created in a watched bucket, as its EventBridge event tells.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchedObject {
    /// `s3://bucket/key`.
    pub uri: String,
    /// Its version id, in a versioned bucket.
    pub version: Option<String>,
    /// When it was created.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// The object an `Object Created` event names, unless it is a spec file
/// of the stack's own bucket (`spec_bucket`): what `artifact:` triggers
/// wait for.
pub fn watched_object(event: &Value, spec_bucket: &str) -> Option<WatchedObject> {
    let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
    if (text("/source")?, text("/detail-type")?) != OBJECT_CREATED {
        return None;
    }
    let (bucket, key) = (text("/detail/bucket/name")?, text("/detail/object/key")?);
    if bucket == spec_bucket && key.starts_with(crate::specs::SPEC_PREFIX) {
        return None;
    }
    let at = text("/time")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))?;
    Some(WatchedObject {
        uri: format!("s3://{bucket}/{key}"),
        version: text("/detail/object/version-id").map(str::to_string),
        at,
    })
}

/// The keys of the objects an S3 event (EventBridge, or notification
/// records) names as uploaded or deleted; none for a schedule tick.
pub fn spec_objects(event: &Value) -> Vec<String> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let kind = (
        event.get("source").and_then(Value::as_str),
        event.get("detail-type").and_then(Value::as_str),
    );
    if [OBJECT_CREATED, OBJECT_DELETED]
        .contains(&(kind.0.unwrap_or_default(), kind.1.unwrap_or_default()))
    {
        return text(event.pointer("/detail/object/key"))
            .into_iter()
            .collect();
    }
    event
        .get("Records")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|record| text(record.pointer("/s3/object/key")))
        .map(|key| decode_s3_key(&key))
        .collect()
}

/// S3 notifications URL-encode object keys, with `+` for spaces.
fn decode_s3_key(key: &str) -> String {
    updraft_core::links::decode(&key.replace('+', " "))
}

/// The dispatcher: whatever woke it (a ring, a test), it drains the task
/// queue; says how many messages it settled and whether its time ran out
/// (the queue then rang a fresh dispatcher for the rest).
pub async fn dispatcher(engine: &Engine, _event: &Value) -> Result<Value, FunctionError> {
    let drained = engine.drain().await?;
    Ok(json!({ "received": drained.received, "out_of_time": drained.out_of_time }))
}

/// The recorder: one EventBridge event.
pub async fn recorder(engine: &Engine, event: &Value) -> Result<Value, FunctionError> {
    let change = events::parse(&event.to_string())?;
    if change.named {
        let recorded = engine.look_at_launches_of(&change.handle).await?;
        return Ok(json!({ "handle": change.handle, "recorded": recorded > 0 }));
    }
    let recorded = match change.completion {
        Some(completion) => engine.record_handle(&change.handle, completion).await?,
        None => false,
    };
    Ok(json!({ "handle": change.handle, "recorded": recorded }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(event: &Value) -> Vec<String> {
        spec_objects(event)
    }

    #[test]
    fn uploads_and_deletions_come_from_eventbridge_or_notification_records() {
        let eventbridge = json!({
            "source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "specs/etl.yaml", "version-id": "v2"}}
        });
        assert_eq!(objects(&eventbridge), ["specs/etl.yaml"]);
        let deleted = json!({
            "source": "aws.s3", "detail-type": "Object Deleted",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "specs/etl.yaml"}}
        });
        assert_eq!(objects(&deleted), ["specs/etl.yaml"]);
        let records = json!({"Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "specs/my+etl.yaml"}}},
            {"eventName": "ObjectRemoved:Delete", "s3": {"object": {"key": "specs/old.yaml"}}}
        ]});
        assert_eq!(objects(&records), ["specs/my etl.yaml", "specs/old.yaml"]);
        let tick = json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"});
        assert!(objects(&tick).is_empty());
    }

    #[test]
    fn s3_keys_are_url_decoded() {
        assert_eq!(
            decode_s3_key("specs/my+dag%2Bv2.yaml"),
            "specs/my dag+v2.yaml"
        );
        assert_eq!(decode_s3_key("specs/etl.yaml"), "specs/etl.yaml");
        assert_eq!(decode_s3_key("bad%zz"), "bad%zz");
    }
}
