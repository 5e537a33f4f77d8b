//! What the three functions do, per invocation, over an engine built once
//! at init. The `functions/*` mains only wire these to the Lambda runtime.
//!
//! - planner: an EventBridge schedule tick → [`Engine::tick`]; an S3 upload
//!   (`Object Created` through EventBridge, or a notification record) →
//!   [`sync_object`] for each spec file.
//! - dispatcher: an SQS batch → [`Engine::settle`] per message, reporting
//!   the messages that failed so only they are delivered again, after a
//!   doubling wait (their visibility is changed); a message on its last
//!   delivery also marks its try failed with the reason (SQS then moves it
//!   to the dead-letter queue).
//! - recorder: an ECS or SageMaker state-change event → the completion of
//!   its try, recorded, and its run planned at once.

use serde_json::{Value, json};
use updraft_engine::Engine;
use updraft_engine::events::Event;
use updraft_engine::ports::Delivery;
use updraft_engine::usecase::Settled;

use crate::events;
use crate::specs::{Synced, sync_object, sync_removed};
use crate::sqs::decode_message;

/// A failed invocation; the runtime reports it and the event is retried.
pub type FunctionError = Box<dyn std::error::Error + Send + Sync>;

/// The planner: a tick, or uploads of spec files (S3 `Object Created`
/// events through EventBridge, or S3 notification records).
pub async fn planner(
    engine: &Engine,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    event: &Value,
) -> Result<Value, FunctionError> {
    let changes = spec_objects(event);
    if changes.is_empty() {
        let report = engine.tick().await?;
        return Ok(
            json!({ "created": report.created.len(), "advanced": report.advanced, "import_errors": report.import_errors.len(), "failures": report.failures.len() }),
        );
    }
    let mut synced = Vec::new();
    for change in changes {
        let store = engine.ports().store.as_ref();
        let key = change.key;
        let outcome = if change.removed {
            sync_removed(s3, bucket, store, &key).await?
        } else {
            sync_object(s3, bucket, store, &key, change.version.as_deref()).await?
        };
        synced.push(match outcome {
            Synced::Current { dag, version } => json!({ "dag": dag, "version": version }),
            Synced::ImportError { dag, errors } => json!({ "dag": dag, "import_errors": errors }),
            Synced::Removed { dag } => json!({ "dag": dag, "removed": true }),
            Synced::Ignored => json!({ "ignored": key }),
        });
    }
    Ok(json!({ "synced": synced }))
}

/// The source and detail type of S3 uploads delivered by EventBridge.
pub const OBJECT_CREATED: (&str, &str) = ("aws.s3", "Object Created");
/// The source and detail type of S3 deletions delivered by EventBridge.
pub const OBJECT_DELETED: (&str, &str) = ("aws.s3", "Object Deleted");

/// An object an S3 event names: uploaded (a version of it) or deleted.
struct ObjectChange {
    key: String,
    version: Option<String>,
    removed: bool,
}

/// The objects an S3 event (EventBridge, or notification records) names
/// as uploaded or deleted; none for a schedule tick.
fn spec_objects(event: &Value) -> Vec<ObjectChange> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let kind = (
        event.get("source").and_then(Value::as_str),
        event.get("detail-type").and_then(Value::as_str),
    );
    for (expected, removed) in [(OBJECT_CREATED, false), (OBJECT_DELETED, true)] {
        if kind == (Some(expected.0), Some(expected.1)) {
            let detail = &event["detail"];
            return text(detail.pointer("/object/key"))
                .map(|key| ObjectChange {
                    key,
                    version: text(detail.pointer("/object/version-id")),
                    removed,
                })
                .into_iter()
                .collect();
        }
    }
    event
        .get("Records")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|record| ObjectChange {
            key: text(record.pointer("/s3/object/key"))
                .map(|k| decode_s3_key(&k))
                .unwrap_or_default(),
            version: text(record.pointer("/s3/object/versionId")),
            removed: text(record.get("eventName")).is_some_and(|e| e.starts_with("ObjectRemoved")),
        })
        .collect()
}

/// S3 notifications URL-encode object keys, with `+` for spaces.
fn decode_s3_key(key: &str) -> String {
    let bytes = key.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The dispatcher: one SQS batch. Returns the partial batch response.
pub async fn dispatcher(engine: &Engine, event: &Value) -> Result<Value, FunctionError> {
    let mut failures = Vec::new();
    for record in event
        .get("Records")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let (id, body) = (text(record, "/messageId"), text(record, "/body"));
        let deliveries: u32 = text(record, "/attributes/ApproximateReceiveCount")
            .parse()
            .unwrap_or(1);
        let Ok(message) = decode_message(body) else {
            // Not a task message: nothing to retry; let it go.
            engine.report(Event::Dropped {
                what: format!("SQS message {id} is not a task message"),
            });
            continue;
        };
        match engine.settle(&message, deliveries).await? {
            Settled::Done => continue,
            Settled::Again(after) => {
                let delivery = Delivery {
                    message,
                    receipt: text(record, "/receiptHandle").to_string(),
                    receive_count: deliveries,
                };
                // Without the change the queue's own visibility timeout
                // applies: a shorter or longer wait, never a lost message.
                if let Err(e) = engine.ports().queue.extend(&delivery, after).await {
                    engine.report(Event::Dropped {
                        what: format!("backoff of SQS message {id}: {e}"),
                    });
                }
            }
            // Still reported, so SQS moves it to the dead-letter queue for
            // a person to see.
            Settled::GaveUp(_) => {}
        }
        failures.push(json!({ "itemIdentifier": id }));
    }
    Ok(json!({ "batchItemFailures": failures }))
}

/// A string field of a JSON value, empty if it has none.
fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The recorder: one EventBridge event.
pub async fn recorder(engine: &Engine, event: &Value) -> Result<Value, FunctionError> {
    let change = events::parse(&event.to_string())?;
    let recorded = match change.completion {
        Some(completion) => engine.record_handle(&change.handle, completion).await?,
        None => false,
    };
    Ok(json!({ "handle": change.handle, "recorded": recorded }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (key, version, removed) of each object an event names.
    fn objects(event: &Value) -> Vec<(String, Option<String>, bool)> {
        spec_objects(event)
            .into_iter()
            .map(|c| (c.key, c.version, c.removed))
            .collect()
    }

    #[test]
    fn uploads_and_deletions_come_from_eventbridge_or_notification_records() {
        let eventbridge = json!({
            "source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "specs/etl.yaml", "version-id": "v2"}}
        });
        assert_eq!(
            objects(&eventbridge),
            [("specs/etl.yaml".to_string(), Some("v2".to_string()), false)]
        );
        let deleted = json!({
            "source": "aws.s3", "detail-type": "Object Deleted",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "specs/etl.yaml"}}
        });
        assert_eq!(
            objects(&deleted),
            [("specs/etl.yaml".to_string(), None, true)]
        );
        let records = json!({"Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "specs/my+etl.yaml"}}},
            {"eventName": "ObjectRemoved:Delete", "s3": {"object": {"key": "specs/old.yaml"}}}
        ]});
        assert_eq!(
            objects(&records),
            [
                ("specs/my etl.yaml".to_string(), None, false),
                ("specs/old.yaml".to_string(), None, true)
            ]
        );
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
