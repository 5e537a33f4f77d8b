//! An XML answer (S3's) as JSON, without its model: each element's children
//! by name (a name met twice becomes a list), an element holding only text
//! its text, the root element left out — as the SDKs shape it, but for a
//! list of one, which stays an object.

use serde_json::{Map, Value};
use xmlparser::{ElementEnd, Token, Tokenizer};

/// The document as JSON; text that is not XML as a string.
pub(crate) fn to_json(body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    // A stack of (name, children, text) for each open element.
    let mut stack: Vec<(String, Map<String, Value>, String)> = Vec::new();
    let mut root = None;
    for token in Tokenizer::from(text.as_ref()) {
        let Ok(token) = token else {
            return Value::String(text.into_owned());
        };
        match token {
            Token::ElementStart { local, .. } => {
                stack.push((local.to_string(), Map::new(), String::new()));
            }
            Token::Text { text: t } | Token::Cdata { text: t, .. } => {
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&unescape(t.as_str()));
                }
            }
            Token::ElementEnd { end, .. } => {
                if matches!(end, ElementEnd::Open) {
                    continue;
                }
                let Some((name, children, text)) = stack.pop() else {
                    continue;
                };
                let value = match children.is_empty() {
                    true => Value::String(text.trim().to_string()),
                    false => Value::Object(children),
                };
                match stack.last_mut() {
                    Some(parent) => add(&mut parent.1, name, value),
                    None => root = Some(value),
                }
            }
            _ => {}
        }
    }
    match root {
        Some(Value::String(s)) if s.is_empty() => Value::Object(Map::new()),
        Some(value) => value,
        None => Value::String(text.into_owned()),
    }
}

fn add(map: &mut Map<String, Value>, name: String, value: Value) {
    match map.get_mut(&name) {
        Some(Value::Array(items)) => items.push(value),
        Some(first) => {
            let first = first.take();
            map.insert(name, Value::Array(vec![first, value]));
        }
        None => {
            map.insert(name, value);
        }
    }
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_listing_reads_as_the_sdks_shape_it() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>lake</Name><KeyCount>2</KeyCount>
<Contents><Key>raw/a &amp; b</Key><Size>3</Size></Contents><Contents><Key>raw/c</Key><Size>0</Size></Contents></ListBucketResult>"#;
        assert_eq!(
            to_json(xml),
            json!({"Name": "lake", "KeyCount": "2", "Contents": [
                {"Key": "raw/a & b", "Size": "3"}, {"Key": "raw/c", "Size": "0"}
            ]})
        );
        assert_eq!(to_json(b"not xml"), json!("not xml"));
    }
}
