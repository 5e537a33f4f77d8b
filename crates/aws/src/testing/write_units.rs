//! DynamoDB write capacity units of the requests the SDK sends, worked out
//! from each request's items by DynamoDB's published rules — moto answers
//! `ReturnConsumedCapacity` with a fixed figure, so the bench cannot ask
//! it. An item written costs one unit per started kilobyte of its size
//! (attribute names plus values); in `TransactWriteItems` every action
//! costs twice that. Where a request does not carry the whole item — an
//! update, a delete, a condition check — the item's size is not known
//! here and one kilobyte is counted: a floor, exact for items under 1 KB,
//! as updraft's updated and deleted items are.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use serde_json::Value;

/// Write units of the DynamoDB requests sent so far, by operation.
#[derive(Clone, Debug, Default)]
pub struct WriteUnits(Arc<Mutex<BTreeMap<String, f64>>>);

impl WriteUnits {
    /// The units so far by operation, and none from now on.
    pub fn take(&self) -> BTreeMap<String, f64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Intercept for WriteUnits {
    fn name(&self) -> &'static str {
        "WriteUnits"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        if metadata.service() != "DynamoDB" {
            return Ok(());
        }
        let body = context.request().body().bytes().unwrap_or_default();
        let request: Value = serde_json::from_slice(body).unwrap_or_default();
        let spent = units(metadata.name(), &request);
        if spent > 0.0 {
            *self
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(metadata.name().to_string())
                .or_default() += spent;
        }
        Ok(())
    }
}

/// The write units one request consumes.
pub fn units(operation: &str, request: &Value) -> f64 {
    let put = |item: &Value| kilobytes(item_size(item));
    match operation {
        "PutItem" => put(&request["Item"]),
        "UpdateItem" | "DeleteItem" => 1.0,
        "BatchWriteItem" => request["RequestItems"]
            .as_object()
            .into_iter()
            .flat_map(|tables| tables.values())
            .flat_map(|writes| writes.as_array().cloned().unwrap_or_default())
            .map(|write| match write.get("PutRequest") {
                Some(p) => put(&p["Item"]),
                None => 1.0,
            })
            .sum(),
        "TransactWriteItems" => request["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|action| {
                2.0 * match action.get("Put") {
                    Some(p) => put(&p["Item"]),
                    None => 1.0,
                }
            })
            .sum(),
        _ => 0.0,
    }
}

/// Started kilobytes, at least one.
fn kilobytes(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// An item's size as DynamoDB counts it: each attribute's name and value.
fn item_size(item: &Value) -> usize {
    item.as_object()
        .map(|attributes| {
            attributes
                .iter()
                .map(|(n, v)| n.len() + value_size(v))
                .sum()
        })
        .unwrap_or_default()
}

/// A typed attribute value's size (`{"S": ...}`, `{"M": {...}}`, ...).
fn value_size(value: &Value) -> usize {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let text = |v: &Value| v.as_str().map_or(0, str::len);
    let number = |v: &Value| text(v).div_ceil(2) + 1;
    let each = |v: &Value, size: &dyn Fn(&Value) -> usize| {
        v.as_array().map_or(0, |items| items.iter().map(size).sum())
    };
    match kind.as_str() {
        "S" => text(inner),
        "N" => number(inner),
        "B" => text(inner) * 3 / 4,
        "BOOL" | "NULL" => 1,
        "SS" => each(inner, &text),
        "NS" => each(inner, &number),
        "BS" => each(inner, &|v| text(v) * 3 / 4),
        "L" => 3 + each(inner, &|v| 1 + value_size(v)),
        "M" => {
            3 + inner.as_object().map_or(0, |m| {
                m.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum()
            })
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_item_costs_a_unit_per_started_kilobyte_and_twice_in_a_transaction() {
        let small =
            json!({ "PK": { "S": "RUN#d#r" }, "SK": { "S": "TASK#a" }, "n": { "N": "12" } });
        // 2 + 7 + 2 + 6 + 1 + (1 + 1): 20 bytes.
        assert_eq!(item_size(&small), 20);
        assert_eq!(units("PutItem", &json!({ "Item": small })), 1.0);
        let big = json!({ "PK": { "S": "x" }, "body": { "S": "y".repeat(2_100) } });
        assert_eq!(units("PutItem", &json!({ "Item": big })), 3.0);
        let transaction = json!({ "TransactItems": [
            { "Put": { "Item": big } },
            { "Update": { "Key": {} } },
            { "ConditionCheck": { "Key": {} } },
        ]});
        assert_eq!(
            units("TransactWriteItems", &transaction),
            2.0 * (3.0 + 1.0 + 1.0)
        );
        let batch = json!({ "RequestItems": { "t": [
            { "PutRequest": { "Item": small } },
            { "DeleteRequest": { "Key": {} } },
        ]}});
        assert_eq!(units("BatchWriteItem", &batch), 2.0);
        assert_eq!(units("GetItem", &json!({})), 0.0);
        let nested = json!({ "m": { "M": { "k": { "L": [ { "S": "ab" }, { "BOOL": true } ] } } } });
        // "m" + 3 + (1 + "k" + (3 + (1 + 2) + (1 + 1))).
        assert_eq!(item_size(&nested), 1 + 3 + 1 + 1 + 3 + 3 + 2);
    }
}
