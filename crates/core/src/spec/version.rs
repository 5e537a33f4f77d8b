//! A spec's version: the SHA-256 of its canonical JSON form, so key order,
//! comments and YAML formatting never change it, and every run can be pinned
//! to exactly the graph it started with.

use sha2::{Digest, Sha256};

use crate::ids::hex;
use crate::yaml::{Node, Value};

/// Hex SHA-256 of the canonical JSON of a YAML document.
pub fn spec_version(document: &Node) -> String {
    let mut hasher = Sha256::new();
    let mut chunk = Vec::with_capacity(CHUNK * 2);
    write_into(document, &mut chunk, &mut Some(&mut hasher));
    hasher.update(&chunk);
    hex(&hasher.finalize())
}

/// The document as JSON with object keys sorted and no whitespace: the
/// same bytes as `serde_json` would print for [`Node::to_json`] with sorted
/// keys, written straight from the tree.
pub fn write_canonical(node: &Node, out: &mut Vec<u8>) {
    write_into(node, out, &mut None);
}

/// How much of the canonical form is hashed at a time: a large spec's is
/// megabytes, hashed while it is still in the cache rather than written
/// whole first.
const CHUNK: usize = 16 << 10;

/// [`write_canonical`], handing `out` to `hasher` whenever a chunk is full.
fn write_into(node: &Node, out: &mut Vec<u8>, hasher: &mut Option<&mut Sha256>) {
    match &node.value {
        Value::Map(entries) => {
            // Nearly every mapping is small: its order is sorted on the
            // stack.
            let mut small = [0u32; SMALL_MAP];
            let mut large = Vec::new();
            let order: &mut [u32] = if entries.len() <= SMALL_MAP {
                &mut small[..entries.len()]
            } else {
                large.resize(entries.len(), 0);
                &mut large
            };
            for (i, slot) in order.iter_mut().enumerate() {
                *slot = i as u32;
            }
            order.sort_unstable_by(|&a, &b| entries[a as usize].key.cmp(entries[b as usize].key));
            out.push(b'{');
            for (n, &i) in order.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                let entry = &entries[i as usize];
                write_string(entry.key, out);
                out.push(b':');
                write_into(&entry.value, out, hasher);
                flush(out, hasher);
            }
            out.push(b'}');
        }
        Value::Seq(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_into(item, out, hasher);
                flush(out, hasher);
            }
            out.push(b']');
        }
        Value::Str(s) => write_string(s, out),
        _ => write_json(&node.to_json(), out),
    }
}

/// Hands `out` to `hasher`, if there is one, once it holds a chunk.
fn flush(out: &mut Vec<u8>, hasher: &mut Option<&mut Sha256>) {
    if let Some(hasher) = hasher
        && out.len() >= CHUNK
    {
        hasher.update(&*out);
        out.clear();
    }
}

/// Mappings up to this many keys are ordered without an allocation.
const SMALL_MAP: usize = 16;

/// A JSON string as `serde_json` writes it: only quotes, backslashes and
/// control characters are escaped, so a string without them is copied.
fn write_string(text: &str, out: &mut Vec<u8>) {
    if text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        write_json(text, out);
    } else {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
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
        let arena = crate::yaml::Arena::new();
        let node = crate::yaml::parse("b: [1, 'x\"y', 2.5, null, true]\na: {d: 1, c: é}\n", &arena)
            .unwrap();
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

    #[test]
    fn strings_and_large_mappings_are_written_as_serde_json_writes_them() {
        let keys: Vec<String> = (0..40)
            .rev()
            .map(|i| format!("k{i:02}: \"\\t\\\\ \\\" é\""))
            .collect();
        let text = keys.join("\n");
        let arena = crate::yaml::Arena::new();
        let node = crate::yaml::parse(&text, &arena).unwrap();
        let mut out = Vec::new();
        write_canonical(&node, &mut out);
        let json = serde_json::to_string(&node.to_json()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), json);
        assert!(json.starts_with(r#"{"k00":"\t\\ \" é","k01""#), "{json}");
    }

    #[test]
    fn the_version_hashes_the_canonical_form_chunk_by_chunk_as_a_whole() {
        // Far more than one chunk, so the hash is handed many pieces.
        let items: Vec<String> = (0..5_000)
            .map(|i| format!("- {{ b: {i}, a: x{i} }}"))
            .collect();
        let text = items.join("\n");
        let arena = crate::yaml::Arena::new();
        let node = crate::yaml::parse(&text, &arena).unwrap();
        let mut whole = Vec::new();
        write_canonical(&node, &mut whole);
        assert!(whole.len() > 4 * CHUNK);
        assert_eq!(spec_version(&node), hex(&Sha256::digest(&whole)));
    }
}
