//! REST protocols: parameters into the path, query string, headers and
//! body an operation names; the answer's headers, status and body back
//! into one JSON object.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::Outgoing;
use super::http::Response;
use super::models::{Operation, Protocol};

/// What a path segment or query value keeps unescaped (RFC 3986's
/// unreserved characters).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A parameter as text: strings as they are, anything else as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Writes one REST request.
pub(crate) fn request(
    protocol: Protocol,
    op: &Operation,
    params: &Map<String, Value>,
) -> Result<Outgoing, String> {
    let (template, fixed_query) = op.uri.split_once('?').unwrap_or((&op.uri, ""));
    let mut path = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .ok_or("a path template is not closed")?
            + open;
        path.push_str(&rest[..open]);
        let label = &rest[open + 1..close];
        let (label, greedy) = match label.strip_suffix('+') {
            Some(name) => (name, true),
            None => (label, false),
        };
        let member = op
            .inputs
            .iter()
            .find(|(_, (loc, wire))| loc == "uri" && wire == label)
            .map_or(label, |(member, _)| member.as_str());
        let value = params
            .get(member)
            .map(text)
            .ok_or_else(|| format!("the action needs `{member}`"))?;
        if greedy {
            let parts: Vec<String> = value
                .split('/')
                .map(|p| utf8_percent_encode(p, UNRESERVED).to_string())
                .collect();
            path.push_str(&parts.join("/"));
        } else {
            path.push_str(&utf8_percent_encode(&value, UNRESERVED).to_string());
        }
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    let mut query: Vec<String> = fixed_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    let mut headers = Vec::new();
    let mut body_members = Map::new();
    for (member, value) in params {
        match op
            .inputs
            .get(member)
            .map(|(loc, wire)| (loc.as_str(), wire))
        {
            Some(("uri", _)) => {}
            Some(("querystring", wire)) => {
                let values = match value {
                    Value::Array(items) => items.iter().map(text).collect(),
                    Value::Object(map) => {
                        // A map in the query string: each key its own parameter.
                        for (k, v) in map {
                            query.push(format!(
                                "{}={}",
                                utf8_percent_encode(k, UNRESERVED),
                                utf8_percent_encode(&text(v), UNRESERVED)
                            ));
                        }
                        Vec::new()
                    }
                    other => vec![text(other)],
                };
                for v in values {
                    query.push(format!(
                        "{}={}",
                        utf8_percent_encode(wire, UNRESERVED),
                        utf8_percent_encode(&v, UNRESERVED)
                    ));
                }
            }
            Some(("header", wire)) => headers.push((wire.to_ascii_lowercase(), text(value))),
            Some(("headers", prefix)) => {
                for (k, v) in value.as_object().into_iter().flatten() {
                    headers.push((format!("{prefix}{k}").to_ascii_lowercase(), text(v)));
                }
            }
            _ => {
                body_members.insert(member.clone(), value.clone());
            }
        }
    }
    let body = match &op.payload {
        Some(member) => match body_members.remove(member) {
            None => Vec::new(),
            Some(Value::String(raw)) => raw.into_bytes(),
            // A mapping as a payload (a Lambda event, a JSON document).
            Some(structured) if protocol == Protocol::RestJson => {
                serde_json::to_vec(&structured).unwrap_or_default()
            }
            Some(_) => {
                return Err(format!(
                    "`{member}` goes in an XML body, which `kind: aws` does not write yet"
                ));
            }
        },
        None if body_members.is_empty() => match protocol {
            Protocol::RestJson if matches!(op.method.as_str(), "POST" | "PUT" | "PATCH") => {
                b"{}".to_vec()
            }
            _ => Vec::new(),
        },
        None if protocol == Protocol::RestJson => {
            serde_json::to_vec(&body_members).unwrap_or_default()
        }
        None => {
            let names: Vec<&String> = body_members.keys().collect();
            return Err(format!(
                "parameters {names:?} go in an XML body, which `kind: aws` does not write yet"
            ));
        }
    };
    if protocol == Protocol::RestJson && !body.is_empty() {
        headers.push(("content-type".into(), "application/json".into()));
    }
    let path_and_query = match query.is_empty() {
        true => path,
        false => format!("{path}?{}", query.join("&")),
    };
    Ok(Outgoing {
        method: op.method.clone(),
        path_and_query,
        headers,
        body,
    })
}

/// Reads one REST answer: the body's members (or the payload member),
/// then the members the operation takes from headers and the status.
pub(crate) fn response(
    protocol: Protocol,
    op: &Operation,
    response: &Response,
) -> Result<Value, String> {
    let body = &response.body;
    let parsed = || -> Value {
        if body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(body).unwrap_or_else(|_| match protocol {
            Protocol::RestXml => super::xml::to_json(body),
            _ => Value::String(String::from_utf8_lossy(body).into_owned()),
        })
    };
    let mut out = match &op.out_payload {
        Some(member) => {
            let mut map = Map::new();
            if !body.is_empty() {
                map.insert(member.clone(), parsed());
            }
            map
        }
        None => match parsed() {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                let mut map = Map::new();
                map.insert("Body".into(), other);
                map
            }
        },
    };
    for (member, (loc, wire)) in &op.outputs {
        match loc.as_str() {
            "header" => {
                if let Some(value) = response.header(&wire.to_ascii_lowercase()) {
                    out.insert(member.clone(), json!(value));
                }
            }
            "headers" => {
                let prefix = wire.to_ascii_lowercase();
                let found: Map<String, Value> = response
                    .headers
                    .iter()
                    .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.to_string(), json!(v))))
                    .collect();
                if !found.is_empty() {
                    out.insert(member.clone(), Value::Object(found));
                }
            }
            "statusCode" => {
                out.insert(member.clone(), json!(response.status));
            }
            _ => {}
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::models::service;

    #[test]
    fn a_lambda_invocation_puts_each_parameter_where_the_api_wants_it() {
        let op = &service("lambda").unwrap().ops["Invoke"];
        let params = json!({
            "FunctionName": "arn:aws:lambda:us-east-1:1:function:ingest",
            "Qualifier": "live",
            "ClientContext": "eyJ9",
            "Payload": {"day": "2026-12-01"}
        });
        let out = request(Protocol::RestJson, op, params.as_object().unwrap()).unwrap();
        assert_eq!(out.method, "POST");
        assert_eq!(
            out.path_and_query,
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Aingest/invocations?Qualifier=live"
        );
        assert!(
            out.headers
                .contains(&("x-amz-client-context".into(), "eyJ9".into()))
        );
        assert_eq!(out.body, br#"{"day":"2026-12-01"}"#);
    }

    #[test]
    fn an_s3_key_keeps_its_slashes_and_an_xml_body_is_refused() {
        let s3 = service("s3").unwrap();
        let head = request(
            Protocol::RestXml,
            &s3.ops["HeadObject"],
            json!({"Bucket": "lake", "Key": "raw/2026 12/_SUCCESS"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(head.method, "HEAD");
        assert_eq!(head.path_and_query, "/lake/raw/2026%2012/_SUCCESS");
        let tagging = json!({"Bucket": "b", "Tagging": {"TagSet": []}});
        let err = request(
            Protocol::RestXml,
            &s3.ops["PutBucketTagging"],
            tagging.as_object().unwrap(),
        )
        .err();
        assert_eq!(
            err.as_deref(),
            Some("`Tagging` goes in an XML body, which `kind: aws` does not write yet")
        );
        let missing = request(Protocol::RestXml, &s3.ops["HeadObject"], &Map::new());
        assert_eq!(missing.err().as_deref(), Some("the action needs `Bucket`"));
    }
}
