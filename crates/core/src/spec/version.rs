//! A spec's version: the SHA-256 of its canonical JSON form, so key order,
//! comments and YAML formatting never change it, and every run can be pinned
//! to exactly the graph it started with.

use sha2::{Digest, Sha256};

use crate::yaml::{Node, Value};

/// Hex SHA-256 of the canonical JSON of a YAML document.
pub fn spec_version(document: &Node) -> String {
    let mut canonical = Vec::with_capacity(4096);
    write_canonical(document, &mut canonical);
    let digest = Sha256::digest(&canonical);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The document as JSON with object keys sorted and no whitespace: the
/// same bytes as `serde_json` would print for [`Node::to_json`] with sorted
/// keys, written straight from the tree.
pub fn write_canonical(node: &Node, out: &mut Vec<u8>) {
    match &node.value {
        Value::Map(entries) => {
            let mut sorted: Vec<_> = entries.iter().collect();
            sorted.sort_by(|a, b| a.key.cmp(&b.key));
            out.push(b'{');
            for (i, entry) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(&entry.key, out);
                out.push(b':');
                write_canonical(&entry.value, out);
            }
            out.push(b'}');
        }
        Value::Seq(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Str(s) => write_json(s, out),
        _ => write_json(&node.to_json(), out),
    }
}

fn write_json<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // Writing a string or scalar into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_sorts_keys_and_matches_serde_json() {
        let node =
            crate::yaml::parse("b: [1, 'x\"y', 2.5, null, true]\na: {d: 1, c: é}\n").unwrap();
        let mut out = Vec::new();
        write_canonical(&node, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"{"a":{"c":"é","d":1},"b":[1,"x\"y",2.5,null,true]}"#
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            node.to_json()
        );
    }
}
