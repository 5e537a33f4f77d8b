//! The bodies of the fuzz targets of the AWS event parsers in `fuzz/`
//! (run by `make fuzz`), kept here so that `make test` runs the same code
//! on every seed of the corpus: whatever the bytes, these return, never
//! panic.

use serde_json::Value;

/// An ECS or SageMaker state-change event, as the recorder parses it.
pub fn state_change(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::events::parse(text);
    }
}

/// An S3 upload or deletion event (EventBridge or notification records),
/// as the planner reads the spec keys from it.
pub fn s3_event(data: &[u8]) {
    if let Ok(event) = serde_json::from_slice::<Value>(data) {
        let _ = crate::functions::spec_objects(&event);
    }
}

/// An SQS message body, as the dispatcher decodes it.
pub fn sqs_body(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::sqs::decode_message(text);
    }
}
