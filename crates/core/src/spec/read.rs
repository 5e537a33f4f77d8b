//! Typed reads from YAML nodes that record every problem with its position
//! and carry on, so one pass reports all of a file's errors.

use std::borrow::Cow;
use std::time::Duration;

use crate::duration::parse_duration;
use crate::spec::Diagnostic;
use crate::yaml::{Entry, Node, Pos, Value};

/// A text as written (borrowed from the YAML tree where it can be) and
/// where.
pub(crate) type Written<'n> = (Cow<'n, str>, Pos);

/// Collects diagnostics for one file while values are read from it.
pub(crate) struct Reader<'f> {
    file: &'f str,
    pub errors: Vec<Diagnostic>,
}

/// The entries of one mapping, after unknown keys were reported.
pub(crate) struct Fields<'n> {
    entries: &'n [Entry<'n>],
    /// The [`key_bit`] of every key written: a task is asked for dozens of
    /// keys and has a few, so most are answered without a scan.
    written: u64,
}

impl<'n> Fields<'n> {
    fn of(entries: &'n [Entry<'n>]) -> Self {
        let written = entries.iter().fold(0, |bits, e| bits | key_bit(e.key));
        Fields { entries, written }
    }

    pub fn get(&self, key: &str) -> Option<&'n Node<'n>> {
        if self.written & key_bit(key) == 0 {
            return None;
        }
        self.entries
            .iter()
            .find(|e| same_key(e.key, key))
            .map(|e| &e.value)
            .filter(|n| n.value != Value::Null)
    }
}

impl<'f> Reader<'f> {
    pub fn new(file: &'f str) -> Self {
        Reader {
            file,
            errors: Vec::new(),
        }
    }

    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            file: self.file.to_string(),
            pos,
            message: message.into(),
        });
    }

    /// The entries of a mapping; reports a non-mapping and every key not in
    /// `allowed`.
    pub fn fields<'n>(&mut self, node: &'n Node, what: &str, allowed: &[&str]) -> Fields<'n> {
        let Value::Map(entries) = &node.value else {
            self.error(
                node.pos,
                format!("{what} must be a mapping, not {}", node.kind()),
            );
            return Fields::of(&[]);
        };
        for entry in entries.iter() {
            if !allowed.iter().any(|k| same_key(k, entry.key)) {
                let hint = match closest(entry.key, allowed) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("expected one of: {}", allowed.join(", ")),
                };
                self.error(
                    entry.key_pos,
                    format!("unknown key `{}` in {what}; {hint}", entry.key),
                );
            }
        }
        Fields::of(entries)
    }

    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.to_string()),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a string, not {}", node.kind()),
                );
                None
            }
        }
    }

    /// A scalar as text: where a shell user writes `sleep 5`, the `5` is
    /// meant as the word "5".
    pub fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        self.text_of(node, what).map(Cow::into_owned)
    }

    /// [`Reader::text`], borrowed from the node where it is a string.
    pub fn text_of<'n>(&mut self, node: &'n Node<'_>, what: &str) -> Option<Cow<'n, str>> {
        match &node.value {
            Value::Str(s) => Some(Cow::Borrowed(s)),
            Value::Int(i) => Some(Cow::Owned(i.to_string())),
            Value::Float(f) => Some(Cow::Owned(f.to_string())),
            Value::Bool(b) => Some(Cow::Owned(b.to_string())),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a string, not {}", node.kind()),
                );
                None
            }
        }
    }

    pub fn count(&mut self, node: &Node, what: &str) -> Option<u32> {
        match node.value {
            Value::Int(i) if (0..=i64::from(u32::MAX)).contains(&i) => Some(i as u32),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a whole number of 0 or more"),
                );
                None
            }
        }
    }

    pub fn number(&mut self, node: &Node, what: &str) -> Option<f64> {
        match node.value {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) if f.is_finite() => Some(f),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a number, not {}", node.kind()),
                );
                None
            }
        }
    }

    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be true or false, not {}", node.kind()),
                );
                None
            }
        }
    }

    pub fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let text = self.text(node, what)?;
        parse_duration(&text)
            .map_err(|why| self.error(node.pos, format!("{what}: {why}")))
            .ok()
    }

    pub fn list<'n>(&mut self, node: &'n Node<'n>, what: &str) -> &'n [Node<'n>] {
        match &node.value {
            Value::Seq(items) => items,
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a list, not {}", node.kind()),
                );
                &[]
            }
        }
    }

    /// A list of scalars as text, each with its position.
    pub fn texts<'n>(&mut self, node: &'n Node<'n>, what: &str) -> Vec<Written<'n>> {
        self.list(node, what)
            .iter()
            .filter_map(|item| self.text_of(item, what).map(|t| (t, item.pos)))
            .collect()
    }
}

/// One of 64 bits for a key, from its length and last byte: two keys with
/// different bits differ.
fn key_bit(key: &str) -> u64 {
    let last = key.as_bytes().last().copied().unwrap_or(0) as usize;
    1 << ((key.len() * 7 + last) % 64)
}

/// Whether two keys are the same. A task's keys are looked up dozens of
/// times each: most differ from the key sought in length or first byte,
/// checked here before the bytes are compared by a call.
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

/// The allowed word nearest to a misspelt one, if it is near enough.
fn closest<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|candidate| (edit_distance(word, candidate), *candidate))
        .filter(|(d, candidate)| *d <= 2.max(candidate.len() / 4))
        .min()
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_only_near_words() {
        let allowed = ["retries", "retry_delay", "timeout"];
        assert_eq!(closest("retires", &allowed), Some("retries"));
        assert_eq!(closest("timeuot", &allowed), Some("timeout"));
        assert_eq!(closest("image_uri", &allowed), None);
    }

    #[test]
    fn fields_find_every_key_written_and_no_other_that_shares_its_bit() {
        let arena = crate::yaml::Arena::new();
        let node = crate::yaml::parse("id: a\nafter: [b]\nbranch: true\nempty:\n", &arena).unwrap();
        let mut reader = Reader::new("t.yaml");
        let fields = reader.fields(&node, "a task", &["id", "after", "branch", "empty"]);
        assert!(reader.errors.is_empty());
        for key in ["id", "after", "branch"] {
            assert!(fields.get(key).is_some(), "{key}");
        }
        // Same length and last byte as written keys: the bit matches, the
        // key does not.
        assert_eq!(key_bit("ad"), key_bit("id"));
        assert_eq!(key_bit("oranch"), key_bit("branch"));
        for key in ["ad", "oranch", "image", "", "empty"] {
            assert!(fields.get(key).is_none(), "{key}");
        }
    }
}
